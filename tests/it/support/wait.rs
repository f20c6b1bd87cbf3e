//! Waiting on conditions with a bounded deadline instead of fixed sleeps.

use std::future::Future;
use std::time::Duration;

/// Poll `condition` every 20 ms until it returns `Some`, or panic after
/// `deadline` with `what` in the message.
pub async fn wait_until<T, F, Fut>(what: &str, deadline: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = tokio::time::Instant::now();
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        if start.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

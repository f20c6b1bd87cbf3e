//! Delivery policy and the HTTP send, apart from the actors that schedule
//! them (`actors::delivery`, `actors::endpoint_leases`).
//!
//! - [`verdict`]: the state machine's decision after each attempt.
//! - [`retry`]: backoff with jitter, `Retry-After`, when to give up.
//! - [`destination`]: where herald may send (scheme, address policy, resolver).
//! - [`http`]: one POST with timeouts and a capped response read;
//!   [`direct`]: one direct message through an IM app's API, with the
//!   apps' tokens cached in [`app_tokens`].
//! - [`ownership`]: an endpoint's ownership states (Acquiring → Active →
//!   Draining → Released) and how the lease and one attempt fit together.
//! - [`recorder`]: group commit of attempt records across endpoints;
//!   [`silence_book`]: the replica's copy of the silences the gate reads.
//! - [`attempt`]: one attempt, rendered and sent within the request timeout;
//!   [`lease_clock`]: the lease's clock and the watchdog's progress mark;
//!   [`endpoint_table`]: the endpoints a replica delivers.
//! - [`pace`]: an endpoint's rate limit, a token bucket per delivery actor.
//! - [`project_webhook`]: a `project_webhook` row as an [`Endpoint`](crate::endpoint::Endpoint).

pub mod app_tokens;
pub mod attempt;
pub mod destination;
pub mod direct;
pub mod endpoint_table;
pub mod http;
pub mod lease_clock;
pub mod ownership;
pub mod pace;
pub mod project_webhook;
pub mod recorder;
pub mod retry;
pub mod silence_book;
pub mod verdict;

use std::time::Duration;

pub use retry::{RetryOverride, RetryPolicy};

/// Every delivery setting, with production defaults.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub retry: RetryPolicy,
    /// How long a replica owns an endpoint without renewing; renewed every third.
    pub lease_ttl: Duration,
    /// Safety-net scan of the outbox (NOTIFY wakes actors sooner).
    pub sweep_interval: Duration,
    pub connect_timeout: Duration,
    /// Whole attempt, including reading the (capped) response; a direct
    /// message's API calls share it.
    pub request_timeout: Duration,
    /// Bytes of a response kept for the attempt log; the rest is not read.
    pub response_body_limit: usize,
    /// Disable an endpoint after this many consecutive failed deliveries (0: never).
    pub disable_after: u32,
    /// Deliveries fetched per outbox read.
    pub batch_size: i64,
    /// Pending deliveries of an endpoint no config knows (removed, invalid)
    /// are failed after sitting this long.
    pub orphan_grace: Duration,
    /// Address ranges herald may send to besides public ones
    /// (`--allow-private-networks`).
    pub network: destination::NetworkPolicy,
    /// Certificate authorities trusted besides the public ones
    /// (`--ca-bundle`): a local or company receiver's own CA.
    pub extra_roots: Vec<reqwest::Certificate>,
    /// Added to herald's wall clock where it uses one (signature
    /// timestamps, attempt start times); lets tests show that due times
    /// never depend on it. Zero in production.
    pub clock_skew: chrono::Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retry: RetryPolicy::default(),
            lease_ttl: Duration::from_secs(20),
            sweep_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            response_body_limit: 64 * 1024,
            disable_after: 20,
            batch_size: 200,
            orphan_grace: Duration::from_secs(3600),
            network: destination::NetworkPolicy::default(),
            extra_roots: Vec::new(),
            clock_skew: chrono::Duration::zero(),
        }
    }
}

impl DeliveryConfig {
    /// How long this replica's config endpoints stay subscribed in the
    /// database without being renewed (every outbox sweep renews them).
    /// How the lease, its renewal and one attempt fit together.
    pub fn lease_timing(&self) -> ownership::LeaseTiming {
        ownership::LeaseTiming::new(self.lease_ttl, self.request_timeout)
    }

    /// How long a graceful stop waits for the attempts in flight to end and
    /// be recorded: the request timeout plus its margin, plus a second for
    /// the records.
    pub fn drain_timeout(&self) -> Duration {
        self.lease_timing().attempt_room() + Duration::from_secs(1)
    }

    pub fn config_ttl(&self) -> Duration {
        (self.sweep_interval * 6).max(Duration::from_secs(30))
    }
}

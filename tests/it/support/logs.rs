//! Capturing herald's `tracing` events in a test, to assert on the decision
//! log lines (`event = "..."` plus ids).
//!
//! One process-wide subscriber (installed on first use) forwards herald's
//! events to the capture of the thread that logs them. An
//! `#[actix_rt::test]` runs the test, its actors and sqlx on one thread, so
//! a test sees every line its own herald logs and none of other tests'.
//!
//! Why not `tracing::subscriber::set_default` per test: with a single scoped
//! subscriber alive, tracing computes a callsite's interest from the
//! registering thread's default, so a callsite first hit by another test's
//! thread is cached as "never" and the capture silently misses it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, Once};

use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One logged event: its fields as text (`event`, ids, ...) and `level`.
pub type Line = BTreeMap<String, String>;

/// The lines logged on this thread since [`LogCapture::install`].
#[derive(Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<Line>>>,
}

thread_local! {
    /// The capture of the test running on this thread, if it asked for one.
    static CURRENT: RefCell<Option<LogCapture>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

struct Fields<'a>(&'a mut Line);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Forwards each event to the logging thread's capture.
struct ForwardLayer;

impl<S: tracing::Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        CURRENT.with(|current| {
            if let Some(capture) = current.borrow().as_ref() {
                let mut line = Line::new();
                line.insert("level".into(), event.metadata().level().to_string());
                event.record(&mut Fields(&mut line));
                capture.lines.lock().expect("log lock").push(line);
            }
        });
    }
}

/// Stops this thread's capture when dropped.
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.borrow_mut().take());
    }
}

#[allow(dead_code)] // each test module uses its own subset
impl LogCapture {
    /// Capture herald's events at DEBUG and above on this thread until the
    /// guard is dropped.
    pub fn install() -> (LogCapture, CaptureGuard) {
        INSTALL.call_once(|| {
            let subscriber = tracing_subscriber::registry()
                .with(Targets::new().with_target("herald", Level::DEBUG))
                .with(ForwardLayer);
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global tracing subscriber in the test binary");
        });
        let capture = LogCapture::default();
        CURRENT.with(|current| *current.borrow_mut() = Some(capture.clone()));
        (capture, CaptureGuard(()))
    }

    /// Lines whose `event` is `name` and whose fields include every `(key, value)`.
    pub fn find(&self, name: &str, with: &[(&str, &str)]) -> Vec<Line> {
        self.lines
            .lock()
            .expect("log lock")
            .iter()
            .filter(|line| line.get("event").map(String::as_str) == Some(name))
            .filter(|line| {
                with.iter()
                    .all(|(k, v)| line.get(*k).map(String::as_str) == Some(*v))
            })
            .cloned()
            .collect()
    }

    /// Every line captured so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().expect("log lock").clone()
    }

    pub fn count(&self, name: &str, with: &[(&str, &str)]) -> usize {
        self.find(name, with).len()
    }
}

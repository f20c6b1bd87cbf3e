//! Capturing herald's `tracing` events in a test, to assert on the decision
//! log lines (`event = "..."` plus ids).
//!
//! The capture is installed as the thread's default subscriber. An
//! `#[actix_rt::test]` runs the test, its actors and sqlx on that one thread,
//! so every line herald logs during the test is seen, and other tests
//! (on other threads) are not.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// One logged event: its fields as text (`event`, ids, ...).
pub type Line = BTreeMap<String, String>;

/// The lines logged since [`LogCapture::install`].
#[derive(Clone, Default)]
pub struct LogCapture {
    lines: Arc<Mutex<Vec<Line>>>,
}

struct Fields<'a>(&'a mut Line);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

struct CaptureLayer(LogCapture);

impl<S: tracing::Subscriber> Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::new();
        line.insert("level".into(), event.metadata().level().to_string());
        event.record(&mut Fields(&mut line));
        self.0.lines.lock().expect("log lock").push(line);
    }
}

#[allow(dead_code)] // each test module uses its own subset
impl LogCapture {
    /// Capture every event at DEBUG and above on this thread until the guard
    /// is dropped.
    pub fn install() -> (LogCapture, DefaultGuard) {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::registry()
            .with(CaptureLayer(capture.clone()))
            .with(tracing_subscriber::filter::LevelFilter::DEBUG);
        let guard = tracing::subscriber::set_default(subscriber);
        (capture, guard)
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

    pub fn count(&self, name: &str, with: &[(&str, &str)]) -> usize {
        self.find(name, with).len()
    }
}

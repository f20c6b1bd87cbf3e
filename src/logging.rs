//! Logging setup: `tracing` to stderr, human text or JSON, filtered by
//! `RUST_LOG` (default `info`). Every decision is logged with a stable
//! `event` field; `docs/operations.md` lists them.

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::decision_log::DecisionLayer;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event (for log shippers).
    Json,
}

/// Install the global subscriber. Call once, at the start of `main`.
/// `default_filter` applies when `RUST_LOG` is not set. Decisions also go
/// to the in-memory [`crate::decision_log`] (the console's live view).
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(DecisionLayer);
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => registry.with(lines.with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(lines.json().flatten_event(true).with_current_span(false))
            .try_init(),
    };
}

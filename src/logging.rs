//! Logging setup: `tracing` to stderr, human text or JSON, filtered by
//! `RUST_LOG` (default `info`); colour only on a terminal and never with
//! `NO_COLOR`. Every decision is logged with a stable `event` field;
//! `docs/operations.md` lists them. The decision log (the console's live
//! view) has its own filter — herald's decisions at INFO and above — so
//! `RUST_LOG=warn` quiets stderr without emptying the console.

use std::io::IsTerminal as _;

use clap::ValueEnum;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer as _};

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
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines
            .with_target(false)
            .with_ansi(colour(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR"),
            ))
            .boxed(),
        LogFormat::Json => lines
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .boxed(),
    };
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(DecisionLayer.with_filter(Targets::new().with_target("herald", Level::INFO)))
        .with(lines.with_filter(filter))
        .try_init();
}

/// Colour codes only for a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (no-color.org).
fn colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.map_or(true, |v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour(true, None));
        assert!(colour(true, Some("".into())));
        assert!(!colour(true, Some("1".into())));
        assert!(!colour(false, None));
    }
}

//! The last decisions herald logged, kept in memory for the console's live
//! view (`GET /v1/decisions`): every log record at INFO or above that has
//! a stable `event` field (`docs/operations.md`), with its other fields.
//! Bounded ([`CAPACITY`] records; the oldest go first). Logs never hold
//! secrets or URL tokens, so neither does this.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Records kept.
pub const CAPACITY: usize = 500;

/// One logged decision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Decision {
    /// Increasing; pass the last one seen as `after` to get only newer ones.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// `INFO`, `WARN` or `ERROR`.
    pub level: String,
    /// The stable event name, e.g. `delivery.failed`.
    pub event: String,
    pub message: String,
    /// The record's other fields (ids, reasons), as text.
    pub fields: BTreeMap<String, String>,
}

#[derive(Default)]
struct Records {
    next: u64,
    kept: VecDeque<Decision>,
}

/// The process's decision log.
#[derive(Default)]
pub struct DecisionLog {
    records: Mutex<Records>,
}

impl DecisionLog {
    /// The one log of this process (what [`DecisionLayer`] writes).
    pub fn global() -> &'static DecisionLog {
        static LOG: OnceLock<DecisionLog> = OnceLock::new();
        LOG.get_or_init(DecisionLog::default)
    }

    fn push(&self, mut decision: Decision) {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        records.next += 1;
        decision.seq = records.next;
        if records.kept.len() == CAPACITY {
            records.kept.pop_front();
        }
        records.kept.push_back(decision);
    }

    /// Records after `after` (all kept ones for 0), oldest first.
    pub fn since(&self, after: u64) -> Vec<Decision> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kept
            .iter()
            .filter(|d| d.seq > after)
            .cloned()
            .collect()
    }

    /// The newest `seq` given out (0: none yet). A client whose `after`
    /// is larger is talking to a restarted herald.
    pub fn latest(&self) -> u64 {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next
    }
}

/// A `tracing` layer that copies decisions into [`DecisionLog::global`].
pub struct DecisionLayer;

#[derive(Default)]
struct Fields {
    event: Option<String>,
    message: String,
    other: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "event" => self.event = Some(value),
            "message" => self.message = value,
            name => {
                self.other.insert(name.to_owned(), value);
            }
        }
    }
}

impl<S: Subscriber> Layer<S> for DecisionLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::INFO {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(name) = fields.event else {
            return;
        };
        DecisionLog::global().push(Decision {
            seq: 0,
            at: Utc::now(),
            level: level.to_string(),
            event: name,
            message: fields.message,
            fields: fields.other,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn decisions_are_kept_with_their_fields_and_debug_records_are_not() {
        let log = DecisionLog::global();
        let before = log.since(0).last().map_or(0, |d| d.seq);
        let subscriber = tracing_subscriber::registry().with(DecisionLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                event = "delivery.failed",
                endpoint_id = "ops",
                attempt = 3,
                "gave up"
            );
            tracing::debug!(event = "lease.over_share", endpoint_id = "ops");
            tracing::info!("no event field");
        });
        let new = log.since(before);
        let mine: Vec<_> = new
            .iter()
            .filter(|d| d.fields.get("endpoint_id").map(String::as_str) == Some("ops"))
            .collect();
        assert_eq!(mine.len(), 1, "{new:?}");
        assert_eq!(mine[0].event, "delivery.failed");
        assert_eq!(mine[0].message, "gave up");
        assert_eq!(mine[0].fields.get("attempt").map(String::as_str), Some("3"));
    }

    #[test]
    fn the_log_is_bounded() {
        let log = DecisionLog::default();
        for n in 0..CAPACITY + 10 {
            log.push(Decision {
                seq: 0,
                at: Utc::now(),
                level: "INFO".into(),
                event: format!("e{n}"),
                message: String::new(),
                fields: BTreeMap::new(),
            });
        }
        let kept = log.since(0);
        assert_eq!(kept.len(), CAPACITY);
        assert_eq!(kept[0].event, "e10");
        assert_eq!(log.since(kept[CAPACITY - 2].seq).len(), 1);
    }
}

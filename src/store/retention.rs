//! History retention: finished deliveries (their attempts go with them) and
//! events nothing refers to any more, deleted in batches once older than
//! the retention. Pending deliveries and events behind a claim are never
//! deleted.

use std::time::Duration;

use super::{Store, StoreError};

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: u64,
    pub events: u64,
}

impl Store {
    /// Delete up to `batch` finished deliveries completed more than
    /// `retain` ago, then up to `batch` events older than that with no
    /// delivery and no outcome claim left.
    pub async fn prune_history(&self, retain: Duration, batch: i64) -> Result<Pruned, StoreError> {
        let retain_ms = retain.as_millis().min(i64::MAX as u128) as i64;
        let deliveries = sqlx::query(
            "DELETE FROM herald_delivery
              WHERE id IN (SELECT id FROM herald_delivery
                            WHERE state <> 'pending'
                              AND completed_at < now() - $1::bigint * interval '1 millisecond'
                            ORDER BY completed_at
                            LIMIT $2)",
        )
        .bind(retain_ms)
        .bind(batch)
        .execute(self.pool())
        .await?
        .rows_affected();
        let events = sqlx::query(
            "DELETE FROM herald_event
              WHERE id IN (SELECT e.id FROM herald_event e
                            WHERE e.created_at < now() - $1::bigint * interval '1 millisecond'
                              AND NOT EXISTS (SELECT 1 FROM herald_delivery d WHERE d.event_id = e.id)
                              AND NOT EXISTS (SELECT 1 FROM herald_plan_outcome o WHERE o.event_id = e.id)
                            ORDER BY e.created_at
                            LIMIT $2)",
        )
        .bind(retain_ms)
        .bind(batch)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(Pruned { deliveries, events })
    }
}

//! History retention, one bounded batch per call (the retention actor
//! loops): finished deliveries (their attempts go with them), events
//! nothing refers to any more, outcome claims superseded by a later
//! generation, and handled issue transitions. Pending deliveries, the
//! latest claim of a plan (it holds the generation boundary), unhandled
//! transitions and events behind a delivery or a claim are never deleted.

use std::time::Duration;

use super::{Store, StoreError};

/// What can be pruned, each with its own age limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prunable {
    /// Finished deliveries, by completion time (`--retain`).
    Deliveries,
    /// Events with no delivery and no claim left, by creation time
    /// (`--retain`).
    Events,
    /// Claims of a plan's earlier generations, by claim time
    /// (`--retain-decisions`).
    Claims,
    /// Handled issue transitions, by handling time (`--retain-decisions`).
    Transitions,
}

impl Prunable {
    pub const ALL: [Prunable; 4] = [
        Prunable::Deliveries,
        Prunable::Claims,
        Prunable::Transitions,
        // Last: what the others let go of.
        Prunable::Events,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Prunable::Deliveries => "deliveries",
            Prunable::Events => "events",
            Prunable::Claims => "claims",
            Prunable::Transitions => "transitions",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Prunable::Deliveries => {
                "DELETE FROM herald_delivery
                  WHERE id IN (SELECT id FROM herald_delivery
                                WHERE state <> 'pending'
                                  AND completed_at < now() - $1::bigint * interval '1 millisecond'
                                ORDER BY completed_at
                                LIMIT $2)"
            }
            Prunable::Events => {
                "DELETE FROM herald_event
                  WHERE id IN (SELECT e.id FROM herald_event e
                                WHERE e.created_at < now() - $1::bigint * interval '1 millisecond'
                                  AND NOT EXISTS (SELECT 1 FROM herald_delivery d WHERE d.event_id = e.id)
                                  AND NOT EXISTS (SELECT 1 FROM herald_plan_outcome o WHERE o.event_id = e.id)
                                ORDER BY e.created_at
                                LIMIT $2)"
            }
            Prunable::Claims => {
                "DELETE FROM herald_plan_outcome
                  WHERE (plan_id, generation) IN (
                        SELECT o.plan_id, o.generation FROM herald_plan_outcome o
                         WHERE o.claimed_at < now() - $1::bigint * interval '1 millisecond'
                           AND EXISTS (SELECT 1 FROM herald_plan_outcome n
                                        WHERE n.plan_id = o.plan_id AND n.generation > o.generation)
                         ORDER BY o.claimed_at
                         LIMIT $2)"
            }
            Prunable::Transitions => {
                "DELETE FROM herald_issue_transition
                  WHERE id IN (SELECT id FROM herald_issue_transition
                                WHERE handled_at < now() - $1::bigint * interval '1 millisecond'
                                ORDER BY handled_at
                                LIMIT $2)"
            }
        }
    }
}

impl Store {
    /// Delete up to `batch` rows of `what` older than `retain`; returns how
    /// many were deleted.
    pub async fn prune(
        &self,
        what: Prunable,
        retain: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let retain_ms = retain.as_millis().min(i64::MAX as u128) as i64;
        Ok(sqlx::query(what.sql())
            .bind(retain_ms)
            .bind(batch)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}

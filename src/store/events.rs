//! The event log and fan-out into the outbox.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::events::{Event, NewEvent};

/// Emit `event` inside the caller's transaction: one `herald_event` row and
/// one outbox row per subscribed endpoint (the `herald_emit` SQL function).
/// Returns the number of outbox rows written.
pub async fn emit(conn: &mut PgConnection, event: &NewEvent) -> Result<u64, StoreError> {
    let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt {
        table: "herald_event",
        column: "payload",
        detail: e.to_string(),
    })?;
    let deliveries: i64 =
        sqlx::query_scalar("SELECT herald_emit_counted($1, $2, $3, $4, $5, $6, $7)")
            .bind(&event.event_type)
            .bind(&payload)
            .bind(
                event
                    .project
                    .as_ref()
                    .map(|p| p.id)
                    .or(event.related.project),
            )
            .bind(event.issue.as_ref().map(|i| i.id).or(event.related.issue))
            .bind(event.plan.as_ref().map(|p| p.id).or(event.related.plan))
            .bind(
                event
                    .rollout
                    .as_ref()
                    .map(|r| r.id)
                    .or(event.related.rollout),
            )
            .bind(event.id)
            .fetch_one(&mut *conn)
            .await?;
    Ok(deliveries.max(0) as u64)
}

/// The type of the test event an operator sends to one endpoint.
pub const TEST_EVENT: &str = "herald.test";

impl Store {
    /// Send `event` (a test event) to `endpoint_id` alone, whatever it
    /// subscribes to: the event and one outbox row, then the endpoint's
    /// queue is woken. The delivery's id.
    pub async fn emit_to_endpoint(
        &self,
        endpoint_id: &str,
        event: &NewEvent,
    ) -> Result<i64, StoreError> {
        let payload = serde_json::to_value(event).map_err(|e| StoreError::Corrupt {
            table: "herald_event",
            column: "payload",
            detail: e.to_string(),
        })?;
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "WITH e AS (INSERT INTO herald_event (id, type, payload) VALUES ($1, $2, $3) RETURNING id)
             INSERT INTO herald_delivery (event_id, endpoint_id) SELECT id, $4 FROM e RETURNING id",
        )
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&payload)
        .bind(endpoint_id)
        .fetch_one(&mut *tx)
        .await?;
        super::outbox::notify_outbox(&mut tx, endpoint_id).await?;
        tx.commit().await?;
        Ok(id)
    }
}

pub(super) fn event_from_row(row: &PgRow) -> Result<Event, StoreError> {
    let payload: serde_json::Value = row.try_get("payload")?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        table: "herald_event",
        column: "payload",
        detail: e.to_string(),
    };
    let part = |name: &str| {
        payload
            .get(name)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    Ok(Event {
        id: row.try_get("id")?,
        event_type: row.try_get("type")?,
        timestamp: row.try_get("created_at")?,
        project: serde_json::from_value(part("project")).map_err(corrupt)?,
        issue: serde_json::from_value(part("issue")).map_err(corrupt)?,
        plan: serde_json::from_value(part("plan")).map_err(corrupt)?,
        rollout: serde_json::from_value(part("rollout")).map_err(corrupt)?,
        data: part("data"),
    })
}

impl Store {
    /// Emit `event` in a transaction of its own (custom events from Rust).
    pub async fn emit(&self, event: &NewEvent) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let deliveries = emit(&mut tx, event).await?;
        tx.commit().await?;
        Ok(deliveries)
    }

    /// Read one event from the log.
    pub async fn event(&self, id: Uuid) -> Result<Option<Event>, StoreError> {
        let row =
            sqlx::query("SELECT id, type, created_at, payload FROM herald_event WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(event_from_row).transpose()
    }
}

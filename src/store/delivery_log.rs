//! Reading the delivery log: deliveries with filters and a cursor, one
//! delivery with its event, attempts (each with the request as sent) and
//! replays.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{Store, StoreError};

/// Filters for listing deliveries; all optional. Newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub endpoint_id: Option<String>,
    /// One event's deliveries (by its id, or its `webhook-id`'s).
    pub event_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub state: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only deliveries with an id below this (the previous page's cursor).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliverySummary {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub endpoint_id: String,
    /// A direct message's recipient (user id); absent otherwise.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recipient: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_http_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Why a pending delivery is not being sent (its endpoint is invalid,
    /// disabled or unknown); absent when it is on its way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// What the gate decided, for a `filtered`, `muted` or `held` delivery:
    /// the matcher that did not hold, or `silence:<id>` / `window:<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gated_by: Option<String>,
    /// A `held` delivery is queued again then (its mute's end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptRow {
    /// Numbered across replays: a replay's first attempt continues after
    /// the last one before it.
    pub attempt: i32,
    /// `scheduled` (herald's own try), or the `replay` / `recover` that
    /// started it.
    pub trigger: String,
    /// Who asked for the replay this attempt started.
    pub requested_by: Option<String>,
    pub status: String,
    pub url: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    /// The request's headers as sent, `[name, value]` pairs, credentials
    /// masked (null for attempts that sent nothing).
    #[schema(value_type = Option<Vec<Vec<String>>>)]
    pub request_headers: Option<serde_json::Value>,
    /// The request's body as sent (at most 64 KiB).
    pub request_body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// The event a delivery carries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: Uuid,
    /// The `webhook-id` header every delivery of it carries.
    pub webhook_id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// As stored, byte for byte: a host may write numbers no float holds.
    #[schema(value_type = Object)]
    pub payload: Box<serde_json::value::RawValue>,
    pub created_at: DateTime<Utc>,
}

/// A stored payload as raw JSON (PostgreSQL's text of a jsonb value is
/// valid JSON; should it ever not be, it is shown as a string).
fn raw_payload(text: String) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(text).unwrap_or_else(|error| {
        serde_json::value::to_raw_value(&format!("(unreadable payload: {error})"))
            .unwrap_or_default()
    })
}

/// One replay of a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ReplayRow {
    /// `replay` (one delivery) or `recover` (an endpoint's failures since a time).
    pub kind: String,
    pub requested_by: String,
    /// What it was when replayed (`failed`, `delivered`, `muted`, …).
    pub from_state: String,
    /// The number of the replay's first attempt.
    pub first_attempt: i32,
    pub requested_at: DateTime<Utc>,
}

/// A delivery with everything the log holds about it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub summary: DeliverySummary,
    pub event: EventView,
    pub attempts: Vec<AttemptRow>,
    pub replays: Vec<ReplayRow>,
}

const SUMMARY_COLUMNS: &str =
    "d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.recipient, d.state,
     d.attempt_offset + d.attempts AS attempts,
     d.next_attempt_at, d.last_http_status, d.last_error, d.created_at, d.completed_at,
     d.gated_by, d.held_until";

fn summary_from_row(row: &PgRow) -> Result<DeliverySummary, StoreError> {
    Ok(DeliverySummary {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        endpoint_id: row.try_get("endpoint_id")?,
        recipient: row.try_get("recipient")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_http_status: row.try_get("last_http_status")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        completed_at: row.try_get("completed_at")?,
        waiting: None,
        gated_by: row.try_get("gated_by")?,
        held_until: row.try_get("held_until")?,
    })
}

impl Store {
    /// One page of deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliverySummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}
               FROM herald_delivery d JOIN herald_event e ON e.id = d.event_id
              WHERE ($1::text IS NULL OR d.endpoint_id = $1)
                AND ($2::text IS NULL OR e.type = $2)
                AND ($3::text IS NULL OR d.state = $3)
                AND ($4::timestamptz IS NULL OR d.created_at >= $4)
                AND ($5::bigint IS NULL OR d.id < $5)
                AND ($7::uuid IS NULL OR d.event_id = $7)
              ORDER BY d.id DESC
              LIMIT $6"
        );
        let rows = sqlx::query(&sql)
            .bind(&filter.endpoint_id)
            .bind(&filter.event_type)
            .bind(&filter.state)
            .bind(filter.since)
            .bind(filter.before_id)
            .bind(filter.limit)
            .bind(filter.event_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// One event as the log shows it.
    pub async fn event_view(&self, id: Uuid) -> Result<Option<EventView>, StoreError> {
        let row: Option<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT type, payload::text, created_at FROM herald_event WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(event_type, payload, created_at)| EventView {
            id,
            webhook_id: format!("msg_{}", id.simple()),
            event_type,
            payload: raw_payload(payload),
            created_at,
        }))
    }

    /// One delivery with its event, attempts (oldest first) and replays.
    pub async fn delivery(&self, id: i64) -> Result<Option<DeliveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, e.payload::text AS payload, e.created_at AS event_created_at
               FROM herald_delivery d JOIN herald_event e ON e.id = d.event_id
              WHERE d.id = $1"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let summary = summary_from_row(&row)?;
        let event = EventView {
            id: summary.event_id,
            webhook_id: format!("msg_{}", summary.event_id.simple()),
            event_type: summary.event_type.clone(),
            payload: raw_payload(row.try_get("payload")?),
            created_at: row.try_get("event_created_at")?,
        };
        let attempts = sqlx::query(
            "SELECT a.attempt, coalesce(r.kind, 'scheduled') AS trigger, r.requested_by,
                    a.status, a.url, a.http_status, a.error, a.latency_ms, a.response_excerpt,
                    a.request_headers, a.request_body, a.created_at, a.completed_at
               FROM herald_delivery_attempt a
               LEFT JOIN herald_delivery_replay r
                 ON r.id = (SELECT max(x.id) FROM herald_delivery_replay x
                             WHERE x.delivery_id = a.delivery_id AND x.first_attempt = a.attempt)
              WHERE a.delivery_id = $1 ORDER BY a.id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(AttemptRow {
                attempt: row.try_get("attempt")?,
                trigger: row.try_get("trigger")?,
                requested_by: row.try_get("requested_by")?,
                status: row.try_get("status")?,
                url: row.try_get("url")?,
                http_status: row.try_get("http_status")?,
                error: row.try_get("error")?,
                latency_ms: row.try_get("latency_ms")?,
                response_excerpt: row.try_get("response_excerpt")?,
                request_headers: row.try_get("request_headers")?,
                request_body: row.try_get("request_body")?,
                created_at: row.try_get("created_at")?,
                completed_at: row.try_get("completed_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let replays = sqlx::query_as(
            "SELECT kind, requested_by, from_state, first_attempt, requested_at
               FROM herald_delivery_replay WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some(DeliveryRecord {
            summary,
            event,
            attempts,
            replays,
        }))
    }
}

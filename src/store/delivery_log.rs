//! Reading the delivery log: deliveries with filters and a cursor, one
//! delivery with its attempts.

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
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptRow {
    pub attempt: i32,
    pub status: String,
    pub url: String,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    pub latency_ms: i32,
    pub response_excerpt: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

const SUMMARY_COLUMNS: &str =
    "d.id, d.event_id, e.type AS event_type, d.endpoint_id, d.recipient, d.state, d.attempts,
     d.next_attempt_at, d.last_http_status, d.last_error, d.created_at, d.completed_at";

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
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(summary_from_row).collect()
    }

    /// One delivery and its attempts, oldest attempt first.
    pub async fn delivery(
        &self,
        id: i64,
    ) -> Result<Option<(DeliverySummary, Vec<AttemptRow>)>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}
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
        let attempts = sqlx::query(
            "SELECT attempt, status, url, http_status, error, latency_ms, response_excerpt,
                    created_at, completed_at
               FROM herald_delivery_attempt WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(AttemptRow {
                attempt: row.try_get("attempt")?,
                status: row.try_get("status")?,
                url: row.try_get("url")?,
                http_status: row.try_get("http_status")?,
                error: row.try_get("error")?,
                latency_ms: row.try_get("latency_ms")?,
                response_excerpt: row.try_get("response_excerpt")?,
                created_at: row.try_get("created_at")?,
                completed_at: row.try_get("completed_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((summary, attempts)))
    }
}

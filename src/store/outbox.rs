//! The outbox (`herald_delivery`), its attempt log, and endpoint health:
//! what a delivery actor reads and records, and what operators list and
//! replay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::text::RecordText;
use super::{Store, StoreError};
use crate::events::Event;

/// A pending delivery with its event, ready to send. Times are read off
/// the database clock, as durations, so herald's own clock never decides
/// when a delivery is due.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    /// The person a direct message goes to (their user id); empty for
    /// every other delivery.
    pub recipient: String,
    /// Attempts made so far.
    pub attempts: i32,
    /// Of those, throttled ones (they spend no attempt budget).
    pub throttled_attempts: i32,
    /// Since it was queued (or last replayed): the age limit counts this.
    pub age: Duration,
    /// Until it is due, when it was read (zero: due now).
    pub due_in: Duration,
    /// Whether the gate (filters, mutes) decides before it is sent: not
    /// yet attempted, and not replayed by an operator.
    pub gated: bool,
    /// The event's stored attributes (`herald_event.attributes`).
    pub attributes: serde_json::Value,
    /// The database's clock when the row was read: mutes are judged by it.
    pub read_at: DateTime<Utc>,
    /// The silences' generation when the row was read.
    pub silence_generation: i64,
    /// The event, or why its row cannot be decoded (the delivery is then
    /// failed with that reason rather than blocking the queue).
    /// Shared, so an attempt hands it to the HTTP runtime without a copy.
    pub event: Result<std::sync::Arc<Event>, String>,
}

/// The result of one HTTP attempt, as recorded in the attempt log.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub endpoint_id: String,
    pub url: String,
    /// 1-based.
    pub attempt: i32,
    pub succeeded: bool,
    /// The receiver asked herald to slow down: not counted against the budget.
    pub throttled: bool,
    pub http_status: Option<u16>,
    pub error: Option<RecordText>,
    pub latency_ms: i32,
    pub response_excerpt: Option<RecordText>,
    pub started_at: DateTime<Utc>,
    /// The request's headers as a JSON array of `[name, value]` pairs
    /// (credentials already masked), and its body.
    pub request_headers: Option<String>,
    pub request_body: Option<RecordText>,
}

/// A delivery actor's work list: `$1` endpoint, `$2` limit, `$3` due only.
/// Like every hot-path query it can only be served by the partial index on
/// pending rows (migration 0060): its plan cannot flip with statistics.
pub const PENDING_ROWS_SQL: &str =
    "SELECT d.id AS delivery_id, d.recipient, d.attempts, d.throttled_attempts,
            (extract(epoch FROM now() - d.queued_at) * 1000)::bigint AS age_ms,
            (extract(epoch FROM d.next_attempt_at - now()) * 1000)::bigint AS due_in_ms,
            d.ungated, now() AS db_now,
            (SELECT generation FROM herald_silence_generation) AS silence_generation,
            e.id, e.type, e.created_at, e.payload, e.attributes
       FROM herald_delivery d
       JOIN herald_event e ON e.id = d.event_id
      WHERE d.endpoint_id = ANY (ARRAY[$1]::text[]) AND d.state = 'pending'
        AND (NOT $3 OR d.next_attempt_at <= now())
      ORDER BY d.endpoint_id, d.id
      LIMIT $2";

/// When the head of an endpoint's queue is due (`$1` endpoint).
pub const HEAD_DUE_SQL: &str = "SELECT (extract(epoch FROM next_attempt_at - now()) * 1000)::bigint
       FROM herald_delivery WHERE endpoint_id = ANY (ARRAY[$1]::text[]) AND state = 'pending'
      ORDER BY endpoint_id, id LIMIT 1";

/// When an endpoint's next pending delivery is due (`$1` endpoint).
pub const NEXT_DUE_SQL: &str =
    "SELECT (extract(epoch FROM min(next_attempt_at) - now()) * 1000)::bigint
       FROM herald_delivery WHERE endpoint_id = $1 AND state = 'pending'";

/// The `disabled_reason` of an endpoint an operator disabled (any other
/// reason is herald's own).
pub const OPERATOR_DISABLED: &str = "disabled by an operator";

/// What becomes of the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextStep {
    Delivered,
    /// Pending again, due this long after the record (database clock).
    RetryIn(Duration),
    Failed,
}

/// What recording an attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The attempt and the delivery's next step are written.
    Yes,
    /// This replica no longer holds the endpoint's lease: nothing written.
    LeaseLost,
    /// The delivery is no longer pending (another replica recorded it
    /// first): nothing written.
    NotPending,
}

/// Endpoint health after recording a final outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointHealth {
    pub consecutive_failures: i32,
    pub disabled: bool,
}

fn millis(row: &PgRow, column: &str) -> Result<Duration, StoreError> {
    let ms: i64 = row.try_get(column)?;
    Ok(Duration::from_millis(ms.max(0).unsigned_abs()))
}

fn pending_from_row(row: &PgRow) -> Result<PendingDelivery, StoreError> {
    Ok(PendingDelivery {
        id: row.try_get("delivery_id")?,
        event_id: row.try_get("id")?,
        event_type: row.try_get("type")?,
        recipient: row.try_get("recipient")?,
        attempts: row.try_get("attempts")?,
        throttled_attempts: row.try_get("throttled_attempts")?,
        age: millis(row, "age_ms")?,
        due_in: millis(row, "due_in_ms")?,
        gated: row.try_get::<i32, _>("attempts")? == 0 && !row.try_get::<bool, _>("ungated")?,
        attributes: row.try_get("attributes")?,
        read_at: row.try_get("db_now")?,
        silence_generation: row.try_get("silence_generation")?,
        event: super::events::event_from_row(row)
            .map(std::sync::Arc::new)
            .map_err(|e| e.to_string()),
    })
}

/// One endpoint of the sweep's work list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEndpoint {
    pub endpoint_id: String,
    /// Its pending deliveries.
    pub pending: i64,
    /// Its earliest pending delivery is due now.
    pub due: bool,
    /// How long it has had pending work and no live lease (None: a replica
    /// holds its lease).
    pub unowned_for: Option<Duration>,
    /// Age of its oldest pending delivery, since queued or replayed.
    pub oldest_age: Duration,
}

impl Store {
    /// The oldest pending deliveries of `endpoint_id`, in outbox order.
    pub async fn pending_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.pending_rows(endpoint_id, limit, false).await
    }

    /// Up to `limit` pending deliveries of `endpoint_id` that are due now
    /// (database clock), oldest first: the work list of an unordered
    /// endpoint, where a delivery waiting for its retry holds up no other.
    pub async fn due_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.pending_rows(endpoint_id, limit, true).await
    }

    async fn pending_rows(
        &self,
        endpoint_id: &str,
        limit: i64,
        due_only: bool,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(PENDING_ROWS_SQL)
            .bind(endpoint_id)
            .bind(limit)
            .bind(due_only)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(pending_from_row).collect()
    }

    /// How long until the head of `endpoint_id`'s queue (its oldest pending
    /// delivery) is due, if it has one: one index entry, no payload.
    pub async fn head_due_in(&self, endpoint_id: &str) -> Result<Option<Duration>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar(HEAD_DUE_SQL)
            .bind(endpoint_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(ms.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs())))
    }

    /// How long until the next pending delivery of `endpoint_id` is due, if
    /// it has any.
    pub async fn next_due_in(&self, endpoint_id: &str) -> Result<Option<Duration>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar(NEXT_DUE_SQL)
            .bind(endpoint_id)
            .fetch_one(self.pool())
            .await?;
        Ok(ms.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs())))
    }

    /// Record one attempt (see [`Store::record_attempts`], of which this
    /// is a batch of one).
    pub async fn record_attempt(
        &self,
        owner: &str,
        epoch: i64,
        attempt: &AttemptRecord,
        next: NextStep,
    ) -> Result<Recorded, StoreError> {
        let batch = [super::records::FencedRecord {
            owner: owner.to_owned(),
            epoch,
            record: attempt.clone(),
            next,
        }];
        let mut recorded = self.record_attempts(&batch).await?;
        recorded
            .pop()
            .ok_or_else(|| StoreError::Setup("the record statement answered no row".into()))
    }

    /// After a delivery's final outcome: reset (success) or count (failure)
    /// the endpoint's consecutive failures, disabling it at `disable_after`
    /// (0: never). `disable_now` disables at once (HTTP 410 Gone).
    pub async fn update_endpoint_health(
        &self,
        endpoint_id: &str,
        delivered: bool,
        disable_after: u32,
        disable_now: Option<&RecordText>,
    ) -> Result<EndpointHealth, StoreError> {
        let row = sqlx::query(
            "INSERT INTO herald_endpoint_health AS h (endpoint_id, consecutive_failures, failing_since)
             VALUES ($1, CASE WHEN $2 THEN 0 ELSE 1 END, CASE WHEN $2 THEN NULL ELSE now() END)
             ON CONFLICT (endpoint_id) DO UPDATE
                SET consecutive_failures = CASE WHEN $2 THEN 0 ELSE h.consecutive_failures + 1 END,
                    failing_since = CASE WHEN $2 THEN NULL ELSE COALESCE(h.failing_since, now()) END,
                    updated_at = now()
             RETURNING consecutive_failures",
        )
        .bind(endpoint_id)
        .bind(delivered)
        .fetch_one(self.pool())
        .await?;
        let failures: i32 = row.try_get("consecutive_failures")?;
        let threshold_hit = disable_after > 0 && failures >= disable_after as i32;
        let reason = match (disable_now, threshold_hit) {
            (Some(reason), _) => Some(reason.as_str().to_owned()),
            (None, true) => Some(format!("{failures} consecutive failed deliveries")),
            (None, false) => None,
        };
        if let Some(reason) = reason {
            sqlx::query(
                "UPDATE herald_endpoint_health SET disabled_at = COALESCE(disabled_at, now()),
                        disabled_reason = COALESCE(disabled_reason, $2), updated_at = now()
                  WHERE endpoint_id = $1",
            )
            .bind(endpoint_id)
            .bind(reason)
            .execute(self.pool())
            .await?;
            return Ok(EndpointHealth {
                consecutive_failures: failures,
                disabled: true,
            });
        }
        Ok(EndpointHealth {
            consecutive_failures: failures,
            disabled: false,
        })
    }

    /// Whether herald disabled the endpoint (and why).
    pub async fn endpoint_disabled(&self, endpoint_id: &str) -> Result<Option<String>, StoreError> {
        let reason: Option<Option<String>> = sqlx::query_scalar(
            "SELECT disabled_reason FROM herald_endpoint_health
              WHERE endpoint_id = $1 AND disabled_at IS NOT NULL",
        )
        .bind(endpoint_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(reason.map(|r| r.unwrap_or_else(|| "disabled".into())))
    }

    /// Enable or disable an endpoint by hand (disabled with the reason
    /// [`OPERATOR_DISABLED`]). Enabling clears the failure
    /// count and wakes its deliveries.
    pub async fn set_endpoint_enabled(
        &self,
        endpoint_id: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        if enabled {
            sqlx::query(
                "UPDATE herald_endpoint_health
                    SET disabled_at = NULL, disabled_reason = NULL, consecutive_failures = 0,
                        failing_since = NULL, updated_at = now()
                  WHERE endpoint_id = $1",
            )
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?;
            notify_outbox(&mut tx, endpoint_id).await?;
        } else {
            sqlx::query(
                "INSERT INTO herald_endpoint_health (endpoint_id, disabled_at, disabled_reason)
                 VALUES ($1, now(), $2)
                 ON CONFLICT (endpoint_id) DO UPDATE
                    SET disabled_at = now(), disabled_reason = $2,
                        updated_at = now()",
            )
            .bind(endpoint_id)
            .bind(OPERATOR_DISABLED)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Put a finished (failed, delivered, muted, filtered) or held delivery
    /// back in its endpoint's queue, to be sent whatever its filters and
    /// mutes say, with a fresh retry budget (same event, same `webhook-id`); its attempt
    /// numbers keep increasing and the replay is recorded with who asked.
    /// The endpoint, or `None` when it is not there or still pending.
    pub async fn replay_delivery(
        &self,
        delivery_id: i64,
        requested_by: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let endpoint: Option<String> = sqlx::query_scalar(&replay_sql(
            "SELECT id FROM herald_delivery
              WHERE id = $1 AND state IN ('failed', 'delivered', 'muted', 'filtered', 'held')",
        ))
        .bind(delivery_id)
        .bind(requested_by)
        .bind("replay")
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(endpoint) = &endpoint {
            notify_outbox(&mut tx, endpoint).await?;
        }
        tx.commit().await?;
        Ok(endpoint)
    }

    /// Replay every failed delivery of `endpoint_id` created since `since`
    /// (Svix's "recover"), oldest first; how many.
    pub async fn recover_endpoint(
        &self,
        endpoint_id: &str,
        since: DateTime<Utc>,
        requested_by: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool().begin().await?;
        let replayed: Vec<String> = sqlx::query_scalar(&replay_sql(
            "SELECT id FROM herald_delivery
              WHERE endpoint_id = $1 AND state = 'failed' AND created_at >= $4
              ORDER BY id",
        ))
        .bind(endpoint_id)
        .bind(requested_by)
        .bind("recover")
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        if !replayed.is_empty() {
            notify_outbox(&mut tx, endpoint_id).await?;
        }
        tx.commit().await?;
        Ok(replayed.len() as u64)
    }

    /// Endpoints with pending deliveries (the sweep's work list, one pass
    /// over the pending rows): for each, whether its earliest pending
    /// delivery is due now, and how long it has had pending work and no
    /// live lease (`None`: a replica holds its lease) — since its lease
    /// ended or its oldest pending delivery was queued, whichever is later.
    pub async fn endpoints_with_pending(&self) -> Result<Vec<PendingEndpoint>, StoreError> {
        let rows: Vec<(String, i64, bool, Option<i64>, i64)> = sqlx::query_as(
            "WITH pending AS (
                 SELECT endpoint_id, count(*) AS pending, min(updated_at) AS oldest,
                        min(next_attempt_at) <= now() AS due, min(queued_at) AS first_queued
                   FROM herald_delivery WHERE state = 'pending' GROUP BY endpoint_id
             )
             SELECT p.endpoint_id, p.pending, p.due,
                    CASE WHEN l.expires_at > now() THEN NULL
                         ELSE (extract(epoch FROM now() - GREATEST(p.oldest, l.expires_at)) * 1000)::bigint
                    END,
                    (extract(epoch FROM now() - p.first_queued) * 1000)::bigint
               FROM pending p LEFT JOIN herald_endpoint_lease l USING (endpoint_id)",
        )
        .fetch_all(self.pool())
        .await?;
        let duration = |ms: i64| Duration::from_millis(ms.max(0).unsigned_abs());
        Ok(rows
            .into_iter()
            .map(|(endpoint_id, pending, due, ms, oldest)| PendingEndpoint {
                endpoint_id,
                pending,
                due,
                unowned_for: ms.map(duration),
                oldest_age: duration(oldest),
            })
            .collect())
    }

    /// Fail the pending deliveries of endpoints that are neither in `known`
    /// nor subscribed by any live replica's config (`herald_subscription`),
    /// and have not moved for `grace`. Returns the count per endpoint.
    pub async fn fail_orphaned_deliveries(
        &self,
        known: &[String],
        grace: Duration,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "WITH failed AS (
                 UPDATE herald_delivery d
                    SET state = 'failed', completed_at = now(), updated_at = now(),
                        last_error = 'endpoint ' || d.endpoint_id || ' is not configured (removed, '
                                     || 'or an invalid project webhook)'
                  WHERE d.state = 'pending'
                    AND d.endpoint_id <> ALL($1)
                    AND d.updated_at < now() - $2::bigint * interval '1 millisecond'
                    -- Another live replica's config endpoint is not an orphan;
                    -- a project webhook is judged by `known` alone (an invalid
                    -- one is in the subscription view, but nobody can send it).
                    AND NOT EXISTS (SELECT 1 FROM herald_subscription s
                                     WHERE s.endpoint_id = d.endpoint_id
                                       AND s.endpoint_id NOT LIKE 'project-webhook-%')
                  RETURNING d.endpoint_id
             )
             SELECT endpoint_id, count(*) FROM failed GROUP BY endpoint_id ORDER BY endpoint_id",
        )
        .bind(known)
        .bind(grace.as_millis().min(i64::MAX as u128) as i64)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Wake whoever delivers `endpoint_id` (same payload as the insert trigger).
pub(super) async fn notify_outbox(
    conn: &mut sqlx::PgConnection,
    endpoint_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_notify('herald', json_build_object('table', 'herald_delivery', 'op', 'UPDATE',
                                                      'endpoint_id', $1::text)::text)",
    )
    .bind(endpoint_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The replay statement over the deliveries `chosen` selects (by `id`,
/// from `$1`; binds `$2` requested_by and `$3` kind): each is pending again with a
/// fresh budget, its offset past every attempt so far, and a replay row.
/// Returns each replayed delivery's endpoint.
fn replay_sql(chosen: &str) -> String {
    format!(
        "WITH chosen AS ({chosen} FOR UPDATE),
              replayed AS (
             UPDATE herald_delivery d
                SET attempt_offset = d.attempt_offset + d.attempts,
                    state = 'pending', attempts = 0, throttled_attempts = 0, queued_at = now(),
                    next_attempt_at = now(), completed_at = NULL, updated_at = now(),
                    held_until = NULL, ungated = TRUE
               FROM chosen c, herald_delivery old
              WHERE d.id = c.id AND old.id = c.id
          RETURNING d.id, d.endpoint_id, old.state AS from_state, d.attempt_offset + 1 AS first_attempt),
              logged AS (
             INSERT INTO herald_delivery_replay (delivery_id, requested_by, kind, from_state, first_attempt)
             SELECT id, $2, $3, from_state, first_attempt FROM replayed)
         SELECT endpoint_id FROM replayed"
    )
}

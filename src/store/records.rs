//! Recording attempts in batches: one statement (and one commit, one WAL
//! flush) for the records of many delivery actors, each fenced by its own
//! lease epoch and answered on its own. What the group-commit recorder
//! (`delivery::recorder`) runs.

use super::outbox::{AttemptRecord, NextStep, Recorded};
use super::text::RecordText;
use super::{Store, StoreError};

/// One attempt to record, with the lease it was made under.
#[derive(Debug, Clone)]
pub struct FencedRecord {
    pub owner: String,
    pub epoch: i64,
    pub record: AttemptRecord,
    pub next: NextStep,
}

/// The statement: every input row is checked against its lease (read `FOR
/// SHARE`, so a takeover waits for this commit or is seen by it), the
/// deliveries still pending under a held lease are updated, and an attempt
/// row is written for exactly those. One answer row per input row, in order.
pub const RECORD_SQL: &str = "
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::uuid[], $5::text[],
                         $6::text[], $7::text[], $8::int[], $9::bool[], $10::bool[],
                         $11::int[], $12::text[], $13::int[], $14::text[], $15::timestamptz[],
                         $16::text[], $17::bigint[], $18::text[], $19::text[])
        WITH ORDINALITY AS t(owner, epoch, delivery_id, event_id, event_type,
                             endpoint_id, url, attempt, succeeded, throttled,
                             http_status, error, latency_ms, excerpt, started_at,
                             state, retry_ms, request_headers, request_body, ord)
), leased AS (
    SELECT i.ord
      FROM input i
      JOIN herald_endpoint_lease l
        ON l.endpoint_id = i.endpoint_id AND l.owner = i.owner AND l.epoch = i.epoch
       AND l.expires_at > now()
       FOR SHARE OF l
), updated AS (
    UPDATE herald_delivery d
       SET state = i.state, attempts = i.attempt,
           throttled_attempts = d.throttled_attempts + CASE WHEN i.throttled THEN 1 ELSE 0 END,
           next_attempt_at = CASE WHEN i.retry_ms IS NULL THEN d.next_attempt_at
                                  ELSE now() + i.retry_ms * interval '1 millisecond' END,
           last_http_status = i.http_status, last_error = i.error, updated_at = now(),
           completed_at = CASE WHEN i.state = 'pending' THEN NULL ELSE now() END
      FROM input i
     -- By primary key only: `state = 'pending'` written as a constant would
     -- let the planner scan the whole partial pending index instead, which
     -- it does after an ANALYZE taken while nothing was pending (issue 27).
     WHERE d.id = i.delivery_id AND d.state = (SELECT 'pending'::text)
       AND i.ord IN (SELECT ord FROM leased)
    RETURNING i.ord, d.attempt_offset
), attempt AS (
    -- Numbered after the attempts before the latest replay.
    INSERT INTO herald_delivery_attempt
        (delivery_id, event_id, event_type, endpoint_id, url, attempt, status,
         http_status, error, latency_ms, response_excerpt, created_at,
         request_headers, request_body)
    SELECT i.delivery_id, i.event_id, i.event_type, i.endpoint_id, i.url,
           u.attempt_offset + i.attempt,
           CASE WHEN i.succeeded THEN 'succeeded' ELSE 'failed' END,
           i.http_status, i.error, i.latency_ms, i.excerpt, i.started_at,
           i.request_headers::jsonb, i.request_body
      FROM input i JOIN updated u ON u.ord = i.ord
)
SELECT i.ord,
       EXISTS (SELECT 1 FROM updated u WHERE u.ord = i.ord) AS updated,
       EXISTS (SELECT 1 FROM leased l WHERE l.ord = i.ord) AS leased
  FROM input i
 ORDER BY i.ord";

impl Store {
    /// Record a batch of attempts in one statement; the answer for each, in
    /// order: [`Recorded::Yes`], or why nothing was written for it.
    pub async fn record_attempts(
        &self,
        batch: &[FencedRecord],
    ) -> Result<Vec<Recorded>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let column = |f: &dyn Fn(&FencedRecord) -> String| batch.iter().map(f).collect::<Vec<_>>();
        let (states, retry_ms): (Vec<&str>, Vec<Option<i64>>) = batch
            .iter()
            .map(|r| match r.next {
                NextStep::Delivered => ("delivered", None),
                NextStep::RetryIn(delay) => (
                    "pending",
                    Some(delay.as_millis().min(i64::MAX as u128) as i64),
                ),
                NextStep::Failed => ("failed", None),
            })
            .unzip();
        let rows: Vec<(i64, bool, bool)> = sqlx::query_as(RECORD_SQL)
            .bind(column(&|r| r.owner.clone()))
            .bind(batch.iter().map(|r| r.epoch).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.delivery_id)
                    .collect::<Vec<_>>(),
            )
            .bind(batch.iter().map(|r| r.record.event_id).collect::<Vec<_>>())
            .bind(column(&|r| r.record.event_type.clone()))
            .bind(column(&|r| r.record.endpoint_id.clone()))
            .bind(column(&|r| r.record.url.clone()))
            .bind(batch.iter().map(|r| r.record.attempt).collect::<Vec<_>>())
            .bind(batch.iter().map(|r| r.record.succeeded).collect::<Vec<_>>())
            .bind(batch.iter().map(|r| r.record.throttled).collect::<Vec<_>>())
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.http_status.map(i32::from))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.error.as_ref().map(RecordText::as_str))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.latency_ms)
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.response_excerpt.as_ref().map(RecordText::as_str))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.started_at)
                    .collect::<Vec<_>>(),
            )
            .bind(states)
            .bind(retry_ms)
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.request_headers.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|r| r.record.request_body.as_ref().map(RecordText::as_str))
                    .collect::<Vec<_>>(),
            )
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(_, updated, leased)| match (updated, leased) {
                (true, _) => Recorded::Yes,
                (false, false) => Recorded::LeaseLost,
                (false, true) => Recorded::NotPending,
            })
            .collect())
    }
}

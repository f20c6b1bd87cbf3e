//! Silences (`herald_silence`) and the gate's records: a delivery the gate
//! filtered, muted or held, written under the endpoint's lease; held
//! deliveries released when their mute ends.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::outbox::{notify_outbox, Recorded};
use super::{Store, StoreError};
use crate::routing::{Gate, Matchers, MuteAction, Silence};

/// A silence as stored and listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SilenceRow {
    pub id: Uuid,
    /// Alertmanager-syntax matchers; all must hold.
    pub matchers: Vec<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `drop` or `hold`.
    pub action: String,
    pub comment: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set when it was expired before its end.
    pub expired_at: Option<DateTime<Utc>>,
    /// `pending` (not started), `active` or `expired`.
    pub state: String,
    /// Deliveries it holds now.
    pub held: i64,
}

/// A new silence.
#[derive(Debug, Clone)]
pub struct NewSilence {
    pub matchers: Matchers,
    /// None: now (the database's clock).
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: DateTime<Utc>,
    pub action: MuteAction,
    pub comment: String,
    pub created_by: String,
}

const SILENCE_COLUMNS: &str = "s.id, s.matchers, s.starts_at, s.ends_at, s.action, s.comment,
       s.created_by, s.created_at, s.expired_at,
       CASE WHEN s.ends_at <= now() THEN 'expired'
            WHEN s.starts_at > now() THEN 'pending' ELSE 'active' END AS state,
       (SELECT count(*) FROM herald_delivery d
         WHERE d.state = 'held' AND d.gated_by = 'silence:' || s.id::text) AS held";

type SilenceTuple = (
    Uuid,
    Vec<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    i64,
);

fn silence_row(t: SilenceTuple) -> SilenceRow {
    SilenceRow {
        id: t.0,
        matchers: t.1,
        starts_at: t.2,
        ends_at: t.3,
        action: t.4,
        comment: t.5,
        created_by: t.6,
        created_at: t.7,
        expired_at: t.8,
        state: t.9,
        held: t.10,
    }
}

/// What the sweep released: endpoints whose held deliveries are pending
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    pub endpoint_id: String,
    pub deliveries: i64,
}

impl Store {
    /// Store a silence; it holds on every replica from the next batch each
    /// reads.
    pub async fn create_silence(&self, silence: &NewSilence) -> Result<SilenceRow, StoreError> {
        let row: SilenceTuple = sqlx::query_as(&format!(
            "WITH s AS (
                 INSERT INTO herald_silence (matchers, starts_at, ends_at, action, comment, created_by)
                 VALUES ($1, coalesce($2, now()), $3, $4, $5, $6)
                 RETURNING *)
             SELECT {SILENCE_COLUMNS} FROM s"
        ))
        .bind(silence.matchers.texts())
        .bind(silence.starts_at)
        .bind(silence.ends_at)
        .bind(silence.action.as_str())
        .bind(&silence.comment)
        .bind(&silence.created_by)
        .fetch_one(self.pool())
        .await?;
        Ok(silence_row(row))
    }

    /// Silences, newest first; with `all` false, only those not ended.
    pub async fn silences(&self, all: bool, limit: i64) -> Result<Vec<SilenceRow>, StoreError> {
        let rows: Vec<SilenceTuple> = sqlx::query_as(&format!(
            "SELECT {SILENCE_COLUMNS} FROM herald_silence s
              WHERE $1 OR s.ends_at > now()
              ORDER BY s.created_at DESC, s.id DESC LIMIT $2"
        ))
        .bind(all)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(silence_row).collect())
    }

    pub async fn silence(&self, id: Uuid) -> Result<Option<SilenceRow>, StoreError> {
        let row: Option<SilenceTuple> = sqlx::query_as(&format!(
            "SELECT {SILENCE_COLUMNS} FROM herald_silence s WHERE s.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(silence_row))
    }

    /// End a silence now: the deliveries it holds are pending again at once
    /// (each is judged again by the gate: another mute may still hold it).
    /// None when there is no such silence; an ended one is left as it is.
    pub async fn expire_silence(&self, id: Uuid) -> Result<Option<SilenceRow>, StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE herald_silence
                SET starts_at = least(starts_at, now() - interval '1 microsecond'),
                    ends_at = now(), expired_at = now()
              WHERE id = $1 AND ends_at > now()",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // What it holds, a first batch at once (the sweep releases the
        // rest: their silence has ended).
        let endpoints: Vec<String> = sqlx::query_scalar(
            "WITH held AS (
                 SELECT id FROM herald_delivery
                  WHERE state = 'held' AND gated_by = 'silence:' || $1::text
                  ORDER BY id LIMIT 10000
                    FOR UPDATE SKIP LOCKED
             ), released AS (
                 UPDATE herald_delivery d
                    SET state = 'pending', held_until = NULL, next_attempt_at = now(),
                        queued_at = now(), updated_at = now()
                   FROM held WHERE d.id = held.id
                 RETURNING d.endpoint_id)
             SELECT DISTINCT endpoint_id FROM released ORDER BY 1",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for endpoint in &endpoints {
            notify_outbox(&mut tx, endpoint).await?;
        }
        tx.commit().await?;
        self.silence(id).await
    }

    /// Silences that have not ended (the gate's list), and their
    /// generation.
    pub async fn live_silences(&self) -> Result<(i64, Vec<Silence>), StoreError> {
        let mut tx = self.pool().begin().await?;
        let generation: i64 =
            sqlx::query_scalar("SELECT generation FROM herald_silence_generation")
                .fetch_one(&mut *tx)
                .await?;
        type Row = (Uuid, Vec<String>, DateTime<Utc>, DateTime<Utc>, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, matchers, starts_at, ends_at, action FROM herald_silence
              WHERE ends_at > now() ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut silences = Vec::with_capacity(rows.len());
        for (id, matchers, starts_at, ends_at, action) in rows {
            // Written through the API, which parsed them; a row edited by
            // hand into nonsense mutes nothing, and says so.
            let parsed = Matchers::parse_all(matchers.iter().map(String::as_str));
            match (parsed, MuteAction::parse(&action)) {
                (Ok(matchers), Some(action)) => silences.push(Silence {
                    id,
                    matchers,
                    starts_at,
                    ends_at,
                    action,
                }),
                (Err(error), _) => {
                    tracing::warn!(event = "silence.unreadable", silence_id = %id, error = %error, "this silence mutes nothing")
                }
                (_, None) => {
                    tracing::warn!(event = "silence.unreadable", silence_id = %id, error = %action, "this silence mutes nothing")
                }
            }
        }
        Ok((generation, silences))
    }

    /// Record the gate's answer for a pending delivery (anything but
    /// [`Gate::Send`]), fenced by the endpoint's lease like an attempt.
    pub async fn record_gate(
        &self,
        delivery_id: i64,
        endpoint_id: &str,
        owner: &str,
        epoch: i64,
        gate: &Gate,
    ) -> Result<Recorded, StoreError> {
        let (state, by, until): (&str, &str, Option<DateTime<Utc>>) = match gate {
            Gate::Send => return Ok(Recorded::NotPending),
            Gate::Filtered { matcher } => ("filtered", matcher, None),
            Gate::Muted { by } => ("muted", by, None),
            Gate::Held { by, until } => ("held", by, Some(*until)),
        };
        let (updated, leased): (bool, bool) = sqlx::query_as(
            "WITH leased AS (
                 SELECT 1 FROM herald_endpoint_lease
                  WHERE endpoint_id = $2 AND owner = $3 AND epoch = $4 AND expires_at > now()
                    FOR SHARE),
             updated AS (
                 UPDATE herald_delivery
                    SET state = $5, gated_by = $6, held_until = $7, updated_at = now(),
                        completed_at = CASE WHEN $5 = 'held' THEN NULL ELSE now() END
                  WHERE id = $1 AND endpoint_id = $2 AND state = (SELECT 'pending'::text)
                    AND EXISTS (SELECT 1 FROM leased)
                 RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM updated), EXISTS (SELECT 1 FROM leased)",
        )
        .bind(delivery_id)
        .bind(endpoint_id)
        .bind(owner)
        .bind(epoch)
        .bind(state)
        .bind(by)
        .bind(until)
        .fetch_one(self.pool())
        .await?;
        Ok(match (updated, leased) {
            (true, _) => Recorded::Yes,
            (false, false) => Recorded::LeaseLost,
            (false, true) => Recorded::NotPending,
        })
    }

    /// Held deliveries whose mute has ended — their `held_until` passed, or
    /// the silence holding them ended (expired while the row was being
    /// held) — are pending again (each is judged again before it is sent);
    /// per endpoint, how many. At most `batch` rows per call, oldest hold
    /// first, rows another replica is releasing skipped: call again while
    /// it returns a full batch. Any replica may release: only the lease
    /// holder sends.
    pub async fn release_held(&self, batch: i64) -> Result<Vec<Released>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "WITH due AS (
                 SELECT d.id FROM herald_delivery d
                  WHERE d.state = 'held'
                    AND (d.held_until <= now()
                         OR (d.gated_by LIKE 'silence:%'
                             AND EXISTS (SELECT 1 FROM herald_silence s
                                          WHERE s.id::text = substring(d.gated_by FROM 9)
                                            AND s.ends_at <= now())))
                  ORDER BY d.held_until, d.id
                  LIMIT $1
                    FOR UPDATE SKIP LOCKED
             ), released AS (
                 UPDATE herald_delivery d
                    SET state = 'pending', held_until = NULL, next_attempt_at = now(),
                        queued_at = now(), updated_at = now()
                   FROM due WHERE d.id = due.id AND d.state = 'held'
                 RETURNING d.endpoint_id)
             SELECT endpoint_id, count(*) FROM released GROUP BY endpoint_id ORDER BY 1",
        )
        .bind(batch)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(endpoint_id, deliveries)| Released {
                endpoint_id,
                deliveries,
            })
            .collect())
    }
}

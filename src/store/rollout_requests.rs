//! Rollout requests (`migrations/0057_rollout_requests.sql`): the rollouts
//! herald asks a source's API to create when the source has not made them
//! itself within a grace period.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// A request taken for an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRequest {
    pub plan_id: i64,
    pub attempts: i32,
    /// The plan's key in the source: (project resource id, source id).
    pub source: Option<(String, i64)>,
}

/// A request as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct RequestState {
    /// herald's plan id.
    pub plan_id: i64,
    /// The plan as the source names it (`projects/shop/plans/101`); null
    /// for a plan the source no longer maps.
    pub source_plan: Option<String>,
    /// `pending`, `created` (by herald), `exists` (the source made it) or
    /// `dropped` (its conditions no longer hold).
    pub state: String,
    /// API calls made so far.
    pub attempts: i32,
    /// The last failed call's error (cleared once done).
    pub last_error: Option<String>,
    /// The replica that last tried.
    pub claimed_by: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// When a pending request is next tried.
    pub due_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Ask for plan `plan_id`'s rollout, due after `grace` (once per plan:
    /// a request already made stays as it is).
    pub async fn request_rollout(&self, plan_id: i64, grace: Duration) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO herald_rollout_request (plan_id, due_at)
             VALUES ($1, now() + $2::bigint * interval '1 millisecond')
             ON CONFLICT (plan_id) DO NOTHING",
        )
        .bind(plan_id)
        .bind(millis(grace))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Take up to `limit` due requests for `node`, each for `lease` (another
    /// replica takes it only once the lease has passed).
    pub async fn claim_rollout_requests(
        &self,
        node: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<RolloutRequest>, StoreError> {
        let rows: Vec<(i64, i32, Option<String>, Option<i64>)> = sqlx::query_as(
            "WITH due AS (
                 SELECT plan_id FROM herald_rollout_request
                  WHERE state = 'pending' AND due_at <= now()
                  ORDER BY due_at LIMIT $3
                  FOR UPDATE SKIP LOCKED)
             UPDATE herald_rollout_request r
                SET due_at = now() + $2::bigint * interval '1 millisecond', claimed_by = $1,
                    attempts = r.attempts + 1
               FROM due
              WHERE r.plan_id = due.plan_id
          RETURNING r.plan_id, r.attempts,
                    (SELECT s.project FROM herald_source_row s WHERE s.kind = 'plan' AND s.local_id = r.plan_id),
                    (SELECT s.source_id FROM herald_source_row s WHERE s.kind = 'plan' AND s.local_id = r.plan_id)",
        )
        .bind(node)
        .bind(millis(lease))
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(plan_id, attempts, project, id)| RolloutRequest {
                plan_id,
                attempts,
                source: project.zip(id),
            })
            .collect())
    }

    /// The request is done: `created` (by herald) or `exists` (the source made it).
    pub async fn finish_rollout_request(
        &self,
        plan_id: i64,
        state: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE herald_rollout_request SET state = $2, finished_at = now(), last_error = NULL
              WHERE plan_id = $1 AND state = 'pending'",
        )
        .bind(plan_id)
        .bind(state)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The attempt failed: try again after `delay`.
    pub async fn retry_rollout_request(
        &self,
        plan_id: i64,
        delay: Duration,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE herald_rollout_request
                SET due_at = now() + $2::bigint * interval '1 millisecond', last_error = $3
              WHERE plan_id = $1 AND state = 'pending'",
        )
        .bind(plan_id)
        .bind(millis(delay))
        .bind(super::text::RecordText::error(error).as_str())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Up to `limit` requests, newest first, pending ones only if asked.
    pub async fn rollout_requests(
        &self,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<RequestState>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT r.plan_id,
                    (SELECT 'projects/' || s.project || '/plans/' || s.source_id
                       FROM herald_source_row s WHERE s.kind = 'plan' AND s.local_id = r.plan_id)
                        AS source_plan,
                    r.state, r.attempts, r.last_error, r.claimed_by, r.requested_at, r.due_at,
                    r.finished_at
               FROM herald_rollout_request r
              WHERE NOT $1 OR r.state = 'pending'
              ORDER BY r.requested_at DESC, r.plan_id DESC LIMIT $2",
        )
        .bind(pending_only)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Does plan `plan_id` have a rollout recorded?
    pub async fn has_rollout(&self, plan_id: i64) -> Result<bool, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rollout WHERE plan_id = $1)")
                .bind(plan_id)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

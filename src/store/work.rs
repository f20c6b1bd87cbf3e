//! Work rows (`migrations/0051_work_rows.sql`): what needs looking at,
//! written by the host's own transactions — per plan, its outcome
//! (`herald_plan_work`: run sequence, due time; `herald_plan_change`: one
//! row per status change) and its rollout (`herald_rollout_change`). The
//! change tables are insert-only, so a host's status update waits on
//! nobody. Reconciliation pages through plans with work; whoever decides
//! deletes the changes its read saw and settles the work row at the version
//! it read, so a change that came after the read leaves the plan due.
//! Nothing here reads history: every statement is O(work pending).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

fn duration_ms(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

impl Store {
    /// Outcome reconciliation, one page: plans with ids above `after` whose
    /// work row is due now (taken with `FOR UPDATE SKIP LOCKED` and pushed
    /// `lease` ahead, so replicas share them and a decision that never came
    /// is due again), and plans with unread status changes; up to `limit`
    /// of each, in plan order. Page on the greatest id returned until a
    /// page is empty.
    pub async fn take_due_plans(
        &self,
        after: i64,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "WITH taken AS (
                 UPDATE herald_plan_work
                    SET due_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
                  WHERE plan_id IN (SELECT plan_id FROM herald_plan_work
                                     WHERE due_at <= clock_timestamp() AND plan_id > $2
                                     ORDER BY plan_id
                                     LIMIT $1
                                     FOR UPDATE SKIP LOCKED)
                 RETURNING plan_id
             ), changed AS (
                 SELECT DISTINCT plan_id FROM herald_plan_change
                  WHERE plan_id > $2 ORDER BY plan_id LIMIT $1
             )
             SELECT plan_id FROM taken UNION SELECT plan_id FROM changed ORDER BY 1",
        )
        .bind(limit)
        .bind(after)
        .bind(duration_ms(lease))
        .fetch_all(self.pool())
        .await?)
    }

    /// Rollout reconciliation, one page: up to `limit` plans with ids above
    /// `after` whose rollout conditions changed since they were last
    /// decided, in plan order.
    pub async fn rollouts_with_changes(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT plan_id FROM herald_rollout_change
              WHERE plan_id > $2 ORDER BY plan_id LIMIT $1",
        )
        .bind(limit)
        .bind(after)
        .fetch_all(self.pool())
        .await?)
    }

    /// After a read of the plan that claimed nothing: the status changes it
    /// saw (up to `change_id`) are read; its outcome is next due at `due`
    /// (an open window's deadline), or settled (None) until the next change
    /// — if its work row is still at the `version` the read saw and no
    /// newer change is waiting (then it is due now). A row a host
    /// transaction holds (a new run) is about to change anyway: it is left.
    pub async fn settle_plan_work(&self, settle: &Settle) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        settle_plan_work(&mut tx, settle).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest change to plan `plan_id`'s rollout conditions (None: no
    /// work).
    pub async fn rollout_change_mark(&self, plan_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT max(id) FROM herald_rollout_change WHERE plan_id = $1")
                .bind(plan_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The plan's rollout was decided on a read made after change `mark`:
    /// the changes up to it are done with (newer ones stay).
    pub async fn finish_rollout_work(&self, plan_id: i64, mark: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM herald_rollout_change WHERE plan_id = $1 AND id <= $2")
            .bind(plan_id)
            .bind(mark)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// What a read of a plan saw, and when the plan must be looked at next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    pub plan_id: i64,
    /// `herald_plan_work.version` at the read (None: no row).
    pub version: Option<i64>,
    /// The newest `herald_plan_change` the read saw (None: none).
    pub change_id: Option<i64>,
    /// When to look again (None: at the next change).
    pub due: Option<DateTime<Utc>>,
}

/// [`Store::settle_plan_work`] on `conn` (inside the caller's transaction).
pub async fn settle_plan_work(
    conn: &mut sqlx::PgConnection,
    settle: &Settle,
) -> Result<(), StoreError> {
    if let Some(change_id) = settle.change_id {
        sqlx::query("DELETE FROM herald_plan_change WHERE plan_id = $1 AND id <= $2")
            .bind(settle.plan_id)
            .bind(change_id)
            .execute(&mut *conn)
            .await?;
    }
    let due = "CASE WHEN EXISTS (SELECT 1 FROM herald_plan_change WHERE plan_id = $1)
                    THEN clock_timestamp() ELSE $3 END";
    match settle.version {
        Some(version) => {
            sqlx::query(&format!(
                "UPDATE herald_plan_work SET due_at = {due}
                  WHERE plan_id = (SELECT plan_id FROM herald_plan_work
                                    WHERE plan_id = $1 AND version = $2
                                    FOR UPDATE SKIP LOCKED)"
            ))
            .bind(settle.plan_id)
            .bind(version)
            .bind(settle.due)
            .execute(&mut *conn)
            .await?;
        }
        // Runs from before work rows only: a row is needed only to hold a
        // window's deadline.
        None if settle.due.is_some() => {
            sqlx::query(&format!(
                "INSERT INTO herald_plan_work (plan_id, due_at)
                 SELECT id, {due} FROM plan WHERE id = $1 AND $2::bigint IS NULL
                 ON CONFLICT (plan_id) DO NOTHING"
            ))
            .bind(settle.plan_id)
            .bind(settle.version)
            .bind(settle.due)
            .execute(&mut *conn)
            .await?;
        }
        None => {}
    }
    Ok(())
}

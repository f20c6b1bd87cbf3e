//! Work rows (`migrations/0051_work_rows.sql`): what needs looking at,
//! written by the host's own transactions — per plan, its outcome
//! (`herald_plan_work`) and its rollout (`herald_rollout_work`).
//! Reconciliation takes due rows (`FOR UPDATE SKIP LOCKED`, so replicas
//! share them and never wait on a host transaction) and pushes them a lease
//! ahead; whoever decides settles the row, but only at the version it read,
//! so a change that came after the read leaves it due. Nothing here reads
//! history: every statement is O(rows due).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Store, StoreError};

/// The two kinds of work row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// A plan's outcome (`herald_plan_work`).
    Outcome,
    /// A plan's rollout (`herald_rollout_work`).
    Rollout,
}

impl WorkKind {
    fn table(self) -> &'static str {
        match self {
            WorkKind::Outcome => "herald_plan_work",
            WorkKind::Rollout => "herald_rollout_work",
        }
    }
}

fn duration_ms(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

impl Store {
    /// Reconciliation: take up to `limit` plans whose `kind` work row is
    /// due, oldest first, skipping rows a host transaction holds, and push
    /// their due time `lease` ahead (replicas share the work; a plan whose
    /// decision never came — a replica that died, a failed read — is due
    /// again after `lease`).
    pub async fn take_due_work(
        &self,
        kind: WorkKind,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let table = kind.table();
        Ok(sqlx::query_scalar(&format!(
            "UPDATE {table}
                SET due_at = clock_timestamp() + $2::bigint * interval '1 millisecond'
              WHERE plan_id IN (SELECT plan_id FROM {table}
                                 WHERE due_at <= clock_timestamp()
                                 ORDER BY due_at
                                 LIMIT $1
                                 FOR UPDATE SKIP LOCKED)
             RETURNING plan_id"
        ))
        .bind(limit)
        .bind(duration_ms(lease))
        .fetch_all(self.pool())
        .await?)
    }

    /// After a read of the plan that claimed nothing: its outcome is next
    /// due at `due` (an open window's deadline), or settled (None) until the
    /// next change — if its work row is still at the `version` the read saw.
    /// A row a host transaction holds is about to change anyway: nothing is
    /// written then. True: written.
    pub async fn settle_plan_work(
        &self,
        plan_id: i64,
        version: i64,
        due: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let settled = sqlx::query(
            "UPDATE herald_plan_work SET due_at = $3
              WHERE plan_id = (SELECT plan_id FROM herald_plan_work
                                WHERE plan_id = $1 AND version = $2
                                FOR UPDATE SKIP LOCKED)",
        )
        .bind(plan_id)
        .bind(version)
        .bind(due)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(settled == 1)
    }

    /// The version of plan `plan_id`'s rollout work row (None: no work).
    pub async fn rollout_work_version(&self, plan_id: i64) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT version FROM herald_rollout_work WHERE plan_id = $1")
                .bind(plan_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The plan's rollout was decided on a read made after `version`: its
    /// work row is done with, unless something changed since (or a host
    /// transaction holds it, about to change it): then it stays.
    pub async fn finish_rollout_work(&self, plan_id: i64, version: i64) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM herald_rollout_work
              WHERE plan_id = (SELECT plan_id FROM herald_rollout_work
                                WHERE plan_id = $1 AND version = $2
                                FOR UPDATE SKIP LOCKED)",
        )
        .bind(plan_id)
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

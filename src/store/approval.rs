//! Rollout creation: what a plan's rollout waits on, and creating it at most
//! once.
//!
//! `rollout.plan_id` is UNIQUE: the `INSERT ... ON CONFLICT DO NOTHING` here is
//! the exactly-once decision across triggers, replicas and the host app.

use sqlx::{PgConnection, Row};

use super::{Store, StoreError};
use crate::pipeline::{ApprovalStatus, PlanCheckStatus};
use crate::rollout::{PlanCheckState, RolloutDecision, RolloutReadiness};

/// What [`Store::create_rollout`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutCreation {
    Created(i64),
    /// A rollout exists (another trigger, replica or the host app).
    Exists,
    /// The conditions no longer hold (approval revoked, a new check run
    /// started …): nothing created; this is the decision now.
    Changed(RolloutDecision),
}

/// The plan's newest issue and its latest check run (with "has an ERROR
/// result"), as `LATERAL` joins on `plan p`.
const LATEST_ISSUE_AND_CHECK: &str = "
    LEFT JOIN LATERAL (
        SELECT i.id, i.approval_status FROM issue i
         WHERE i.plan_id = p.id ORDER BY i.id DESC LIMIT 1
    ) iss ON TRUE
    LEFT JOIN LATERAL (
        SELECT c.id, c.status,
               EXISTS (SELECT 1
                         FROM jsonb_array_elements(
                                  CASE WHEN jsonb_typeof(c.results) = 'array'
                                       THEN c.results ELSE '[]'::jsonb END) AS r(entry)
                        WHERE r.entry ->> 'status' = 'ERROR') AS has_error
          FROM plan_check_run c
         WHERE c.plan_id = p.id ORDER BY c.id DESC LIMIT 1
    ) chk ON TRUE";

/// An issue's plan, as rollout creation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuePlan {
    pub issue_id: i64,
    pub plan_id: Option<i64>,
}

fn corrupt(column: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "plan_check_run",
        column,
        detail: detail.to_string(),
    }
}

impl Store {
    /// The plan of issue `issue_id`; `None` if the issue does not exist.
    pub async fn issue_plan(&self, issue_id: i64) -> Result<Option<IssuePlan>, StoreError> {
        let plan_id: Option<Option<i64>> =
            sqlx::query_scalar("SELECT plan_id FROM issue WHERE id = $1")
                .bind(issue_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(plan_id.map(|plan_id| IssuePlan { issue_id, plan_id }))
    }

    /// What the rollout rules need to know about plan `plan_id`; `None` if
    /// the plan does not exist.
    pub async fn rollout_readiness(
        &self,
        plan_id: i64,
    ) -> Result<Option<RolloutReadiness>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        read_readiness(&mut conn, plan_id).await
    }

    /// Create the plan's rollout if its conditions hold *now*: in one
    /// transaction that locks the plan (no new plan check run or issue can
    /// be inserted for it), its newest issue and its latest check run (no
    /// approval or status change can commit in between), re-reads the
    /// readiness and decides again. The creation emits `rollout.created`
    /// in the same transaction.
    pub async fn create_rollout(
        &self,
        plan_id: i64,
        created_by: &str,
    ) -> Result<RolloutCreation, StoreError> {
        let mut tx = self.pool().begin().await?;
        let plan: Option<i64> = sqlx::query_scalar("SELECT id FROM plan WHERE id = $1 FOR UPDATE")
            .bind(plan_id)
            .fetch_optional(&mut *tx)
            .await?;
        if plan.is_none() {
            return Ok(RolloutCreation::Changed(RolloutDecision::NoIssue));
        }
        sqlx::query(
            "SELECT 1 FROM issue WHERE id = (SELECT max(id) FROM issue WHERE plan_id = $1) FOR SHARE",
        )
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "SELECT 1 FROM plan_check_run
              WHERE id = (SELECT max(id) FROM plan_check_run WHERE plan_id = $1) FOR SHARE",
        )
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
        let Some(readiness) = read_readiness(&mut tx, plan_id).await? else {
            return Ok(RolloutCreation::Changed(RolloutDecision::NoIssue));
        };
        match readiness.decide() {
            RolloutDecision::Create => {}
            RolloutDecision::Exists { .. } => return Ok(RolloutCreation::Exists),
            other => return Ok(RolloutCreation::Changed(other)),
        }
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rollout (plan_id, created_by) VALUES ($1, $2)
             ON CONFLICT (plan_id) DO NOTHING RETURNING id",
        )
        .bind(plan_id)
        .bind(created_by)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(rollout_id) = id else {
            return Ok(RolloutCreation::Exists);
        };
        // Tell subscribers in the same transaction: the informational event
        // `rollout.created` (subscribe to it, or to `*`); herald_emit fills
        // project, issue, plan and rollout from their ids.
        sqlx::query(
            "SELECT herald_emit('rollout.created',
                    jsonb_build_object('data', jsonb_build_object('created_by', $3::text)),
                    p.project_id, (SELECT max(i.id) FROM issue i WHERE i.plan_id = p.id),
                    p.id, $2::bigint)
               FROM plan p WHERE p.id = $1",
        )
        .bind(plan_id)
        .bind(rollout_id)
        .bind(created_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RolloutCreation::Created(rollout_id))
    }
}

/// [`Store::rollout_readiness`] on `conn` (inside a transaction, after its locks).
async fn read_readiness(
    conn: &mut PgConnection,
    plan_id: i64,
) -> Result<Option<RolloutReadiness>, StoreError> {
    let sql = format!(
        "SELECT p.id AS plan_id, p.project_id,
                    pr.require_issue_approval, pr.require_plan_check_no_error,
                    iss.id AS issue_id, iss.approval_status,
                    chk.id AS check_run_id, chk.status AS check_status,
                    COALESCE(chk.has_error, FALSE) AS check_has_error,
                    ro.id AS rollout_id
               FROM plan p
               JOIN project pr ON pr.id = p.project_id
               {LATEST_ISSUE_AND_CHECK}
               LEFT JOIN rollout ro ON ro.plan_id = p.id
              WHERE p.id = $1"
    );
    let Some(row) = sqlx::query(&sql)
        .bind(plan_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let issue_id: Option<i64> = row.try_get("issue_id")?;
    let approval: Option<String> = row.try_get("approval_status")?;
    let issue = match (issue_id, approval) {
        (Some(id), Some(status)) => {
            let status: ApprovalStatus = status.parse().map_err(|e| StoreError::Corrupt {
                table: "issue",
                column: "approval_status",
                detail: format!("{e}"),
            })?;
            Some((id, status))
        }
        _ => None,
    };
    let check_status: Option<String> = row.try_get("check_status")?;
    let check = match check_status {
        None => PlanCheckState::None,
        Some(text) => match text
            .parse::<PlanCheckStatus>()
            .map_err(|e| corrupt("status", e))?
        {
            PlanCheckStatus::Running => PlanCheckState::Running,
            PlanCheckStatus::Failed => PlanCheckState::Failed,
            PlanCheckStatus::Done => PlanCheckState::Done {
                has_error: row.try_get("check_has_error")?,
            },
        },
    };
    Ok(Some(RolloutReadiness {
        plan_id: row.try_get("plan_id")?,
        project_id: row.try_get("project_id")?,
        require_issue_approval: row.try_get("require_issue_approval")?,
        require_plan_check_no_error: row.try_get("require_plan_check_no_error")?,
        issue,
        check_run_id: row.try_get("check_run_id")?,
        check,
        rollout_id: row.try_get("rollout_id")?,
    }))
}

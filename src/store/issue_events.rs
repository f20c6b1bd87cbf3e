//! Issue transitions (`herald_issue_transition`, written by the issue trigger)
//! and the issue / project / people snapshots their events carry.
//!
//! A transition is claimed with a conditional `UPDATE ... WHERE handled_at IS
//! NULL` in the caller's transaction, which also emits the event: a replica
//! that races for the same row blocks on its lock, then finds it handled and
//! claims nothing; if the winner rolls back, the row is claimable again.

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::events::{IssueRef, PlanRef, ProjectRef, UserRef};

/// What happened to an issue (`herald_issue_transition.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionKind {
    Created,
    ApprovalRequested,
    SentBack,
    /// Recorded by the trigger; no event of its own (rollout creation reads
    /// the issue itself).
    Approved,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Created => "CREATED",
            TransitionKind::ApprovalRequested => "APPROVAL_REQUESTED",
            TransitionKind::SentBack => "SENT_BACK",
            TransitionKind::Approved => "APPROVED",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "CREATED" => Ok(TransitionKind::Created),
            "APPROVAL_REQUESTED" => Ok(TransitionKind::ApprovalRequested),
            "SENT_BACK" => Ok(TransitionKind::SentBack),
            "APPROVED" => Ok(TransitionKind::Approved),
            other => Err(StoreError::Corrupt {
                table: "herald_issue_transition",
                column: "kind",
                detail: format!("unknown kind `{other}`"),
            }),
        }
    }
}

/// A claimed transition with the snapshot the trigger took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueTransition {
    pub id: i64,
    pub issue_id: i64,
    pub kind: TransitionKind,
    pub approval_step_role: Option<String>,
    pub approval_required_count: Option<i32>,
    pub rejected_by: Option<i64>,
    pub reject_reason: Option<String>,
}

/// An issue with its project, plan and creator, for event payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueSnapshot {
    pub project: ProjectRef,
    pub issue: IssueRef,
    pub plan: Option<PlanRef>,
    /// Current values, used when a transition's snapshot lacks them.
    pub approval_step_role: Option<String>,
    pub approval_required_count: Option<i32>,
    pub rejected_by: Option<i64>,
    pub reject_reason: Option<String>,
}

fn user_from_row(row: &PgRow, prefix: &str) -> Result<UserRef, StoreError> {
    Ok(UserRef {
        id: row.try_get(format!("{prefix}id").as_str())?,
        name: row.try_get(format!("{prefix}name").as_str())?,
        email: row.try_get(format!("{prefix}email").as_str())?,
        phone: row.try_get(format!("{prefix}phone").as_str())?,
        handles: row
            .try_get::<sqlx::types::Json<std::collections::BTreeMap<String, String>>, _>(
                format!("{prefix}handles").as_str(),
            )?
            .0,
    })
}

/// Claim transition `id` for `node` and record the `event_id` it produces.
/// `None`: already handled (by another replica, or earlier), or gone with its
/// issue. Blocks while another transaction holds the claim.
pub async fn claim_transition(
    conn: &mut PgConnection,
    id: i64,
    node: &str,
    event_id: Option<Uuid>,
) -> Result<Option<IssueTransition>, StoreError> {
    let row = sqlx::query(
        "UPDATE herald_issue_transition
            SET handled_at = now(), handled_by = $2,
                event_id = $3
          WHERE id = $1 AND handled_at IS NULL
      RETURNING id, issue_id, kind, approval_step_role, approval_required_count,
                rejected_by, reject_reason",
    )
    .bind(id)
    .bind(node)
    .bind(event_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let kind: String = row.try_get("kind")?;
    Ok(Some(IssueTransition {
        id: row.try_get("id")?,
        issue_id: row.try_get("issue_id")?,
        kind: TransitionKind::parse(&kind)?,
        approval_step_role: row.try_get("approval_step_role")?,
        approval_required_count: row.try_get("approval_required_count")?,
        rejected_by: row.try_get("rejected_by")?,
        reject_reason: row.try_get("reject_reason")?,
    }))
}

/// The issue with its project, plan and creator; `None` if it does not exist.
pub async fn issue_snapshot(
    conn: &mut PgConnection,
    issue_id: i64,
) -> Result<Option<IssueSnapshot>, StoreError> {
    let row = sqlx::query(
        "SELECT i.id, i.title, i.approval_step_role, i.approval_required_count,
                i.rejected_by, i.reject_reason,
                pr.id AS project_id, pr.resource_id, pr.title AS project_title,
                pl.id AS plan_id, pl.title AS plan_title,
                u.id AS creator_id, u.name AS creator_name, u.email AS creator_email,
                u.phone AS creator_phone, herald_user_handles(u.id) AS creator_handles
           FROM issue i
           JOIN project pr ON pr.id = i.project_id
           JOIN app_user u ON u.id = i.creator_id
           LEFT JOIN plan pl ON pl.id = i.plan_id
          WHERE i.id = $1",
    )
    .bind(issue_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let plan_id: Option<i64> = row.try_get("plan_id")?;
    let plan = match plan_id {
        Some(id) => Some(PlanRef {
            id,
            title: row.try_get("plan_title")?,
        }),
        None => None,
    };
    Ok(Some(IssueSnapshot {
        project: ProjectRef {
            id: row.try_get("project_id")?,
            resource_id: row.try_get("resource_id")?,
            title: row.try_get("project_title")?,
        },
        issue: IssueRef {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            creator: user_from_row(&row, "creator_")?,
        },
        plan,
        approval_step_role: row.try_get("approval_step_role")?,
        approval_required_count: row.try_get("approval_required_count")?,
        rejected_by: row.try_get("rejected_by")?,
        reject_reason: row.try_get("reject_reason")?,
    }))
}

/// Project members holding `role`, deleted users skipped, by user id.
pub async fn approvers(
    conn: &mut PgConnection,
    project_id: i64,
    role: &str,
) -> Result<Vec<UserRef>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.email, u.phone, herald_user_handles(u.id) AS handles
           FROM project_member m
           JOIN app_user u ON u.id = m.user_id
          WHERE m.project_id = $1 AND m.role = $2 AND NOT u.deleted
          ORDER BY u.id",
    )
    .bind(project_id)
    .bind(role)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| user_from_row(row, "")).collect()
}

/// One user (deleted or not: an approver who acted stays named).
pub async fn user(conn: &mut PgConnection, id: i64) -> Result<Option<UserRef>, StoreError> {
    let row = sqlx::query("SELECT id, name, email, phone, herald_user_handles(id) AS handles FROM app_user WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(|row| user_from_row(row, "")).transpose()
}

impl Store {
    /// Up to `limit` unhandled transitions (id, issue id) with id greater
    /// than `after`, in id order — of one issue, or of all issues when
    /// `issue_id` is `None`.
    pub async fn unhandled_transitions(
        &self,
        issue_id: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let ids = sqlx::query_as(
            "SELECT id, issue_id FROM herald_issue_transition
              WHERE handled_at IS NULL AND id > $2 AND ($1::bigint IS NULL OR issue_id = $1)
              ORDER BY id
              LIMIT $3",
        )
        .bind(issue_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(ids)
    }

    /// Does issue `issue_id` exist?
    pub async fn issue_exists(&self, issue_id: i64) -> Result<bool, StoreError> {
        let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM issue WHERE id = $1)")
            .bind(issue_id)
            .fetch_one(self.pool())
            .await?;
        Ok(exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_kinds_round_trip_and_reject_unknown() {
        for kind in [
            TransitionKind::Created,
            TransitionKind::ApprovalRequested,
            TransitionKind::SentBack,
            TransitionKind::Approved,
        ] {
            assert_eq!(TransitionKind::parse(kind.as_str()).ok(), Some(kind));
        }
        assert!(TransitionKind::parse("created").is_err());
    }
}

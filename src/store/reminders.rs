//! Approval reminders (`herald_approval_reminder`): which pending approvals
//! are due for another announcement, and the claim that makes each
//! reminder happen once across replicas.

use std::time::Duration;

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::issue_events::{IssueTransition, TransitionKind};
use super::{Store, StoreError};

/// A pending approval due for reminder `number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueReminder {
    /// The APPROVAL_REQUESTED transition that announced the step.
    pub transition_id: i64,
    pub issue_id: i64,
    pub number: i32,
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// An issue still waiting on the step its latest transition announced:
/// open, pending, on that step's role, and the request was announced.
/// `$1` transition; the issue is `i`, the transition `t`.
const STILL_WAITING: &str = "
    i.status = 'OPEN' AND i.approval_status = 'PENDING'
    AND i.approval_step_role IS NOT DISTINCT FROM t.approval_step_role
    AND t.kind = 'APPROVAL_REQUESTED' AND t.handled_at IS NOT NULL
    AND t.id = (SELECT max(l.id) FROM herald_issue_transition l WHERE l.issue_id = i.id)";

impl Store {
    /// Pending approvals whose next reminder is due (`interval` after the
    /// request was announced, then after the last reminder), at most
    /// `max` reminders each; oldest request first. Reads the pending
    /// approvals only (a partial index), never the issues' history.
    pub async fn due_reminders(
        &self,
        interval: Duration,
        max: i32,
        limit: i64,
    ) -> Result<Vec<DueReminder>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT t.id AS transition_id, i.id AS issue_id,
                    (SELECT coalesce(max(r.number), 0) FROM herald_approval_reminder r
                      WHERE r.transition_id = t.id) + 1 AS number
               FROM issue i
               JOIN LATERAL (SELECT * FROM herald_issue_transition l
                              WHERE l.issue_id = i.id ORDER BY l.id DESC LIMIT 1) t ON true
              WHERE i.approval_status = 'PENDING' AND i.approval_step_role IS NOT NULL
                AND {STILL_WAITING}
                AND coalesce((SELECT max(r.sent_at) FROM herald_approval_reminder r
                               WHERE r.transition_id = t.id), t.handled_at)
                    + $1::bigint * interval '1 millisecond' <= now()
                AND (SELECT coalesce(max(r.number), 0) FROM herald_approval_reminder r
                      WHERE r.transition_id = t.id) < $2
              ORDER BY t.id
              LIMIT $3"
        ))
        .bind(millis(interval))
        .bind(max)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DueReminder {
                    transition_id: row.try_get("transition_id")?,
                    issue_id: row.try_get("issue_id")?,
                    number: row.try_get("number")?,
                })
            })
            .collect()
    }
}

/// Claim reminder `due.number` in `conn`'s transaction: re-checked under the
/// transition's lock (the approval still waits on that step, the reminder
/// is due and the previous one was sent), then recorded with `event_id`.
/// `None`: another replica sent it, or the approval moved on — emit nothing.
pub async fn claim_reminder(
    conn: &mut PgConnection,
    due: DueReminder,
    interval: Duration,
    node: &str,
    event_id: Uuid,
) -> Result<Option<IssueTransition>, StoreError> {
    let row = sqlx::query(&format!(
        "WITH t AS (
             SELECT * FROM herald_issue_transition WHERE id = $1 FOR UPDATE
         ), ok AS (
             SELECT t.* FROM t JOIN issue i ON i.id = t.issue_id
              WHERE {STILL_WAITING}
                AND (SELECT coalesce(max(r.number), 0) FROM herald_approval_reminder r
                      WHERE r.transition_id = t.id) = $2 - 1
                -- An interval after the last announcement (not a slot on a
                -- fixed grid: after an outage, no burst of catch-up reminders).
                AND coalesce((SELECT max(r.sent_at) FROM herald_approval_reminder r
                               WHERE r.transition_id = t.id), t.handled_at)
                    + $3::bigint * interval '1 millisecond' <= now()
         ), claimed AS (
             INSERT INTO herald_approval_reminder (transition_id, number, issue_id, event_id, node_id)
             SELECT id, $2, issue_id, $4, $5 FROM ok
             ON CONFLICT DO NOTHING
             RETURNING transition_id
         )
         SELECT ok.id, ok.issue_id, ok.approval_step_role, ok.approval_required_count
           FROM ok JOIN claimed ON claimed.transition_id = ok.id"
    ))
    .bind(due.transition_id)
    .bind(due.number)
    .bind(millis(interval))
    .bind(event_id)
    .bind(node)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(IssueTransition {
        id: row.try_get("id")?,
        issue_id: row.try_get("issue_id")?,
        kind: TransitionKind::ApprovalRequested,
        approval_step_role: row.try_get("approval_step_role")?,
        approval_required_count: row.try_get("approval_required_count")?,
        rejected_by: None,
        reject_reason: None,
    }))
}

//! Typed database change notifications.
//!
//! The triggers in `migrations/0003_notify_triggers.sql` send a small JSON
//! object on the `herald` channel: `{"table": ..., "op": ..., ids...}`.
//! [`DbChange::parse`] turns that text into one of the messages below; anything
//! else is a [`MalformedNotification`] that the listener logs and skips.

use actix::Message;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::pipeline::{ApprovalStatus, PlanCheckStatus, TaskRunStatus};

/// The channel every herald trigger notifies on.
pub const CHANNEL: &str = "herald";

/// The SQL operation that fired the trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeOp {
    Insert,
    Update,
}

/// A task run was created or changed status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Message)]
#[rtype(result = "()")]
pub struct TaskRunChanged {
    pub op: ChangeOp,
    /// The task run's id.
    #[serde(rename = "id")]
    pub task_run_id: i64,
    /// The run's sequence in its plan (absent from notifications of
    /// triggers older than migration 0051, where it was the run's id).
    #[serde(default)]
    pub seq: Option<i64>,
    pub task_id: i64,
    pub plan_id: i64,
    pub status: TaskRunStatus,
    /// The run's `updated_at` after the change (absent from notifications
    /// of triggers older than migration 0048).
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// An issue was created or its approval state changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Message)]
#[rtype(result = "()")]
pub struct IssueChanged {
    pub op: ChangeOp,
    #[serde(rename = "id")]
    pub issue_id: i64,
    pub project_id: i64,
    pub plan_id: Option<i64>,
    pub approval_status: ApprovalStatus,
}

/// A plan check run was created or changed status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Message)]
#[rtype(result = "()")]
pub struct PlanCheckRunChanged {
    pub op: ChangeOp,
    #[serde(rename = "id")]
    pub plan_check_run_id: i64,
    pub plan_id: i64,
    pub status: PlanCheckStatus,
}

/// Outbox rows were written for an endpoint: its delivery actor has work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Message)]
#[rtype(result = "()")]
pub struct OutboxChanged {
    pub op: ChangeOp,
    pub endpoint_id: String,
}

/// One notification from the `herald` channel, typed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Message)]
#[rtype(result = "()")]
#[serde(tag = "table")]
pub enum DbChange {
    #[serde(rename = "task_run")]
    TaskRun(TaskRunChanged),
    #[serde(rename = "issue")]
    Issue(IssueChanged),
    #[serde(rename = "plan_check_run")]
    PlanCheckRun(PlanCheckRunChanged),
    #[serde(rename = "herald_delivery")]
    Outbox(OutboxChanged),
}

/// A notification payload that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("malformed notification: {reason}")]
pub struct MalformedNotification {
    pub reason: String,
}

impl DbChange {
    /// Parse a notification payload sent by one of herald's triggers.
    pub fn parse(payload: &str) -> Result<Self, MalformedNotification> {
        serde_json::from_str(payload).map_err(|e| MalformedNotification {
            reason: e.to_string(),
        })
    }

    /// The table the change happened in, for logs and metrics.
    pub fn table(&self) -> &'static str {
        match self {
            DbChange::TaskRun(_) => "task_run",
            DbChange::Issue(_) => "issue",
            DbChange::PlanCheckRun(_) => "plan_check_run",
            DbChange::Outbox(_) => "herald_delivery",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_task_run_notification() {
        let change = DbChange::parse(
            r#"{"table":"task_run","op":"UPDATE","id":7,"task_id":3,"plan_id":1,"status":"FAILED"}"#,
        )
        .expect("valid payload");
        assert_eq!(
            change,
            DbChange::TaskRun(TaskRunChanged {
                op: ChangeOp::Update,
                task_run_id: 7,
                seq: None,
                task_id: 3,
                plan_id: 1,
                status: TaskRunStatus::Failed,
                updated_at: None,
            })
        );
    }

    #[test]
    fn a_task_run_notification_carries_its_status_time() {
        let change = DbChange::parse(
            r#"{"table":"task_run","op":"UPDATE","id":7,"task_id":3,"plan_id":1,"status":"FAILED","updated_at":"2026-11-23T10:15:30.123456+01:00"}"#,
        )
        .expect("valid payload");
        let DbChange::TaskRun(run) = change else {
            panic!("not a task run: {change:?}");
        };
        let expected: DateTime<Utc> = "2026-11-23T09:15:30.123456Z".parse().expect("a time");
        assert_eq!(run.updated_at, Some(expected));
    }

    #[test]
    fn parses_an_issue_without_plan() {
        let change = DbChange::parse(
            r#"{"table":"issue","op":"INSERT","id":2,"project_id":1,"plan_id":null,"approval_status":"PENDING"}"#,
        )
        .expect("valid payload");
        assert!(matches!(
            change,
            DbChange::Issue(IssueChanged { plan_id: None, .. })
        ));
    }

    #[test]
    fn rejects_what_is_not_ours() {
        for payload in [
            "not json",
            r#"{"table":"users","op":"INSERT","id":1}"#,
            r#"{"table":"task_run","op":"UPDATE","id":7}"#,
            r#"{"table":"task_run","op":"TRUNCATE","id":7,"task_id":3,"plan_id":1,"status":"DONE"}"#,
            r#"{"table":"task_run","op":"UPDATE","id":7,"task_id":3,"plan_id":1,"status":"EXPLODED"}"#,
        ] {
            assert!(DbChange::parse(payload).is_err(), "accepted {payload}");
        }
    }
}

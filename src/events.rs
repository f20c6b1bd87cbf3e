//! The event model: what herald emits and delivers.
//!
//! An event has a stable id (the Standard Webhooks `webhook-id` and the
//! receiver's dedup key), a type, a timestamp, snapshots of the related
//! project / issue / plan / rollout taken when it was emitted, and `data`
//! specific to its type. Five types are herald's own ([`EventType`]); any
//! other dotted type is a custom event from a host application.
//!
//! The generic webhook body is [`Event`] serialized as JSON; platform formats
//! render the same value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// herald's own event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    IssueCreated,
    IssueApprovalRequested,
    IssueSentBack,
    IssueApproved,
    PipelineFailed,
    PipelineCompleted,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::IssueCreated,
        EventType::IssueApprovalRequested,
        EventType::IssueSentBack,
        EventType::IssueApproved,
        EventType::PipelineFailed,
        EventType::PipelineCompleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::IssueCreated => "ISSUE_CREATED",
            EventType::IssueApprovalRequested => "ISSUE_APPROVAL_REQUESTED",
            EventType::IssueSentBack => "ISSUE_SENT_BACK",
            EventType::IssueApproved => "ISSUE_APPROVED",
            EventType::PipelineFailed => "PIPELINE_FAILED",
            EventType::PipelineCompleted => "PIPELINE_COMPLETED",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// `rollout.created`, the informational event of automatic rollouts.
pub const ROLLOUT_CREATED: &str = "rollout.created";

/// An event type as a metric label: one of the six, `rollout.created`, or
/// `custom` — host-chosen types never become labels of their own (each
/// would be a time series, forever).
pub fn metric_label(event_type: &str) -> &'static str {
    match EventType::parse(event_type) {
        Some(known) => known.as_str(),
        None if event_type == ROLLOUT_CREATED => ROLLOUT_CREATED,
        None => "custom",
    }
}

/// Longest event type name.
pub const MAX_TYPE_LEN: usize = 128;

/// Is `text` a valid event type name (dot-delimited words, at most
/// [`MAX_TYPE_LEN`] characters)? The same rule as the `herald_emit` SQL
/// function.
pub fn is_valid_type_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TYPE_LEN
        && text.split('.').all(|word| {
            !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A person, as far as notifications need one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub id: i64,
    pub name: String,
    pub email: String,
    /// Known for platforms that mention by phone (DingTalk, WeCom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Chat handles from the people directory (`app_user_handle`), by
    /// platform: `slack`, `discord`, `google_chat`, `wecom`, `dingtalk`,
    /// `feishu`, `lark`. Used for real mentions; absent when none is known.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub handles: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectRef {
    pub id: i64,
    pub resource_id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    pub id: i64,
    pub title: String,
    pub creator: UserRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRef {
    pub id: i64,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutRef {
    pub id: i64,
}

/// `data` of `ISSUE_CREATED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCreatedData {
    pub creator: UserRef,
}

/// `data` of `ISSUE_APPROVAL_REQUESTED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequestedData {
    pub role: String,
    pub required_count: i32,
    /// Project members holding the role (deleted users skipped); mentioned.
    pub approvers: Vec<UserRef>,
    /// Set on a reminder (`--approval-reminder-interval`): its number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<u32>,
}

/// `data` of `ISSUE_SENT_BACK`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentBackData {
    pub approver: Option<UserRef>,
    pub reason: Option<String>,
    /// The issue's creator; mentioned.
    pub creator: UserRef,
}

/// `data` of `ISSUE_APPROVED`: the issue's last approval step passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedData {
    /// The role of the step that completed the approval, if the host names it.
    pub role: Option<String>,
    /// The issue's creator; mentioned (the one to roll out).
    pub creator: UserRef,
}

/// One failed task in `PIPELINE_FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedTask {
    pub task_id: i64,
    pub name: String,
    pub instance: String,
    pub database: String,
    pub error: Option<String>,
    pub failed_at: DateTime<Utc>,
}

/// `data` of `PIPELINE_FAILED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineFailedData {
    pub generation: i32,
    pub failed_tasks: Vec<FailedTask>,
    pub first_failure_at: DateTime<Utc>,
}

/// `data` of `PIPELINE_COMPLETED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineCompletedData {
    pub generation: i32,
    pub total_tasks: i64,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub duration_seconds: i64,
}

/// An event about to be emitted (see `store::events::emit`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    #[serde(skip)]
    pub id: Uuid,
    #[serde(skip)]
    pub event_type: String,
    pub project: Option<ProjectRef>,
    pub issue: Option<IssueRef>,
    pub plan: Option<PlanRef>,
    pub rollout: Option<RolloutRef>,
    pub data: serde_json::Value,
    /// Related rows by id, for snapshots not given above: `herald_emit`
    /// fills them from the tables (and routes by the project id).
    #[serde(skip)]
    pub related: RelatedIds,
}

/// Ids of the rows an event is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelatedIds {
    pub project: Option<i64>,
    pub issue: Option<i64>,
    pub plan: Option<i64>,
    pub rollout: Option<i64>,
}

impl NewEvent {
    /// A new event of `event_type` with a fresh id (UUIDv7: sortable by time).
    pub fn new(event_type: impl Into<String>, data: serde_json::Value) -> Self {
        NewEvent {
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            project: None,
            issue: None,
            plan: None,
            rollout: None,
            data,
            related: RelatedIds::default(),
        }
    }

    /// One of herald's own events with typed data.
    pub fn typed<D: Serialize>(event_type: EventType, data: &D) -> Result<Self, serde_json::Error> {
        Ok(Self::new(event_type.as_str(), serde_json::to_value(data)?))
    }
}

/// An emitted event as read back from the event log: the generic webhook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub timestamp: DateTime<Utc>,
    pub project: Option<ProjectRef>,
    pub issue: Option<IssueRef>,
    pub plan: Option<PlanRef>,
    pub rollout: Option<RolloutRef>,
    pub data: serde_json::Value,
}

impl Event {
    /// herald's own type, if it is one.
    pub fn known_type(&self) -> Option<EventType> {
        EventType::parse(&self.event_type)
    }

    /// The `webhook-id` header value: `msg_` + the id without dashes.
    pub fn webhook_id(&self) -> String {
        format!("msg_{}", self.id.simple())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_chosen_types_share_one_metric_label() {
        assert_eq!(metric_label("PIPELINE_FAILED"), "PIPELINE_FAILED");
        assert_eq!(metric_label(ROLLOUT_CREATED), ROLLOUT_CREATED);
        for custom in ["deploy.started", "x.y.z", "pipeline_failed", ""] {
            assert_eq!(metric_label(custom), "custom", "{custom}");
        }
    }

    #[test]
    fn type_names() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert!(is_valid_type_name(t.as_str()));
        }
        assert!(is_valid_type_name("user.created"));
        for bad in [
            "",
            "user.",
            ".user",
            "user..created",
            "user created",
            "user-created",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_type_name(bad), "{bad:?}");
        }
    }
}

//! Fixed sample events, one per herald event type plus a custom one: the
//! golden-file tests render them, and `herald sink` / demos can use them.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::events::{
    ApprovalRequestedData, ApprovedData, Event, EventType, FailedTask, IssueCreatedData, IssueRef,
    PipelineCompletedData, PipelineFailedData, PlanRef, ProjectRef, RolloutRef, SentBackData,
    UserRef,
};

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, h, m, s)
        .single()
        .unwrap_or_default()
}

fn alice() -> UserRef {
    UserRef {
        id: 101,
        name: "Alice Chen".into(),
        email: "alice@example.com".into(),
        phone: Some("13800000001".into()),
        // In the people directory on every platform: mentioned for real.
        handles: [
            ("slack", "U024BE7LH"),
            ("discord", "80351110224678912"),
            ("google_chat", "113926538452356018476"),
            ("wecom", "alice.chen"),
            ("dingtalk", "manager4220"),
            ("feishu", "ou_7d8a6e6df7621556ce0d21922b676706cc"),
            ("lark", "ou_84aad35d084aa403a838cf73ee18467"),
        ]
        .into_iter()
        .map(|(platform, handle)| (platform.to_owned(), handle.to_owned()))
        .collect(),
    }
}

fn bob() -> UserRef {
    UserRef {
        id: 102,
        name: "Bob Li".into(),
        email: "bob@example.com".into(),
        phone: Some("13800000002".into()),
        handles: Default::default(),
    }
}

fn carol() -> UserRef {
    UserRef {
        id: 103,
        name: "Carol Wang".into(),
        email: "carol@example.com".into(),
        phone: None,
        handles: Default::default(),
    }
}

fn event(n: u128, event_type: &str, data: serde_json::Value) -> Event {
    Event {
        id: Uuid::from_u128(0x0195_9a3c_0000_7000_8000_0000_0000_0000 + n),
        event_type: event_type.into(),
        timestamp: at(10, 0, n as u32),
        project: Some(ProjectRef {
            id: 42,
            resource_id: "payments".into(),
            title: "Payments".into(),
        }),
        issue: Some(IssueRef {
            id: 7,
            title: "Add index on orders.created_at".into(),
            creator: alice(),
        }),
        plan: Some(PlanRef {
            id: 9,
            title: "Add index on orders.created_at".into(),
        }),
        rollout: None,
        data,
    }
}

fn typed<D: serde::Serialize>(n: u128, t: EventType, data: D) -> Event {
    event(
        n,
        t.as_str(),
        serde_json::to_value(data).unwrap_or_default(),
    )
}

/// A sample of `event_type` (herald's own types; anything else is a custom
/// `user.created`-style event with that type).
pub fn sample(event_type: &str) -> Event {
    match EventType::parse(event_type) {
        Some(EventType::IssueCreated) => typed(
            1,
            EventType::IssueCreated,
            IssueCreatedData { creator: alice() },
        ),
        Some(EventType::IssueApprovalRequested) => typed(
            2,
            EventType::IssueApprovalRequested,
            ApprovalRequestedData {
                role: "DBA".into(),
                required_count: 2,
                approvers: vec![bob(), carol()],
                reminder: None,
            },
        ),
        Some(EventType::IssueSentBack) => typed(
            3,
            EventType::IssueSentBack,
            SentBackData {
                approver: Some(bob()),
                reason: Some("Run it outside business hours".into()),
                creator: alice(),
            },
        ),
        Some(EventType::IssueApproved) => typed(
            7,
            EventType::IssueApproved,
            ApprovedData {
                role: Some("DBA".into()),
                creator: alice(),
            },
        ),
        Some(EventType::PipelineFailed) => {
            let mut e = typed(
                4,
                EventType::PipelineFailed,
                PipelineFailedData {
                    generation: 1,
                    failed_tasks: vec![
                        FailedTask {
                            task_id: 31,
                            name: "Add index".into(),
                            instance: "prod-eu".into(),
                            database: "orders".into(),
                            error: Some("lock timeout on table orders".into()),
                            failed_at: at(9, 58, 0),
                        },
                        FailedTask {
                            task_id: 32,
                            name: "Add index".into(),
                            instance: "prod-us".into(),
                            database: "orders".into(),
                            error: None,
                            failed_at: at(9, 59, 30),
                        },
                    ],
                    first_failure_at: at(9, 58, 0),
                },
            );
            e.rollout = Some(RolloutRef { id: 5 });
            e
        }
        Some(EventType::PipelineCompleted) => {
            let mut e = typed(
                5,
                EventType::PipelineCompleted,
                PipelineCompletedData {
                    generation: 1,
                    total_tasks: 4,
                    started_at: at(9, 0, 0),
                    completed_at: at(9, 42, 17),
                    duration_seconds: 2537,
                },
            );
            e.rollout = Some(RolloutRef { id: 5 });
            e
        }
        None => {
            let mut e = event(
                6,
                event_type,
                json!({"user": {"id": 5, "email": "dave@example.com"}, "source": "signup"}),
            );
            e.issue = None;
            e.plan = None;
            e
        }
    }
}

/// The sample of each of herald's five event types.
pub fn all() -> Vec<Event> {
    EventType::ALL.iter().map(|t| sample(t.as_str())).collect()
}

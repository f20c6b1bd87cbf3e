//! The neutral message every platform format is rendered from: a title, a
//! severity (colour), labelled fields, an optional list (failed tasks), the
//! people to mention and a footer. Built once per event from its typed
//! data; each platform module only decides layout and mention syntax.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::DeserializeOwned;

use crate::events::{
    ApprovalRequestedData, Event, EventType, IssueCreatedData, PipelineCompletedData,
    PipelineFailedData, SentBackData, UserRef,
};

/// Longest compact JSON of a custom event's data shown in a message.
const MAX_DATA_CHARS: usize = 1000;

/// How the message should look: decides colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Success,
    Warning,
    Failure,
}

impl Severity {
    /// `#rrggbb`.
    pub fn hex(self) -> &'static str {
        match self {
            Severity::Info => "#1D9BD1",
            Severity::Success => "#2EB67D",
            Severity::Warning => "#ECB22E",
            Severity::Failure => "#E01E5A",
        }
    }

    /// The colour as an integer (Discord).
    pub fn rgb(self) -> u32 {
        u32::from_str_radix(self.hex().trim_start_matches('#'), 16).unwrap_or(0)
    }
}

/// A field's value: text, or people (rendered with the platform's mentions).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Users(Vec<UserRef>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub label: &'static str,
    pub value: Value,
}

/// The platform-neutral message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub event_type: String,
    pub title: String,
    pub severity: Severity,
    /// Project / issue / plan first, then the event's own details.
    pub fields: Vec<Field>,
    /// A heading and one line per entry (failed tasks), if any.
    pub list: Option<(String, Vec<String>)>,
    /// People to notify (approvers, the issue creator), deduplicated.
    pub mentions: Vec<UserRef>,
    /// `herald · <type> · <event id> · <timestamp>`.
    pub footer: String,
    pub timestamp: DateTime<Utc>,
}

/// How one platform writes bold text and mentions a person.
pub struct Markup {
    pub bold: fn(&str) -> String,
    pub mention: fn(&UserRef) -> String,
}

/// `**text**` (Markdown: DingTalk, WeCom, Feishu, Discord, Teams).
pub fn markdown_bold(text: &str) -> String {
    format!("**{text}**")
}

/// A person by name only.
pub fn plain_name(user: &UserRef) -> String {
    user.name.clone()
}

impl Value {
    pub fn render(&self, mention: fn(&UserRef) -> String) -> String {
        match self {
            Value::Text(text) => text.clone(),
            Value::Users(users) if users.is_empty() => "none".into(),
            Value::Users(users) => users.iter().map(mention).collect::<Vec<_>>().join(", "),
        }
    }
}

impl Message {
    /// `<bold label>: value` per field.
    pub fn field_lines(&self, markup: &Markup) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    (markup.bold)(&format!("{}:", f.label)),
                    f.value.render(markup.mention)
                )
            })
            .collect()
    }

    /// The list as `<bold heading>` then `- item` lines (empty if none).
    pub fn list_lines(&self, markup: &Markup) -> Vec<String> {
        match &self.list {
            Some((heading, items)) => std::iter::once((markup.bold)(heading))
                .chain(items.iter().map(|item| format!("- {item}")))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Title, fields and list as one Markdown-ish text, lines joined by `sep`.
    pub fn text(&self, markup: &Markup, sep: &str) -> String {
        let mut lines = self.field_lines(markup);
        let list = self.list_lines(markup);
        if !list.is_empty() {
            lines.push(String::new());
            lines.extend(list);
        }
        lines.join(sep)
    }
}

fn typed<D: DeserializeOwned>(event: &Event) -> Option<D> {
    serde_json::from_value(event.data.clone()).ok()
}

fn text(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label,
        value: Value::Text(value.into()),
    }
}

fn users(label: &'static str, users: Vec<UserRef>) -> Field {
    Field {
        label,
        value: Value::Users(users),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Seconds as `1h 2m 3s` (humantime).
fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(
        seconds.max(0).unsigned_abs(),
    ))
    .to_string()
}

fn compact_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_DATA_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_DATA_CHARS).collect();
    format!("{cut}…")
}

/// Build the neutral message for `event`. herald's own types whose data
/// does not parse are shown like custom events (type + JSON data).
pub fn summarize(event: &Event) -> Message {
    let subject = event
        .issue
        .as_ref()
        .map(|i| i.title.clone())
        .or_else(|| event.plan.as_ref().map(|p| p.title.clone()))
        .unwrap_or_default();
    let mut fields = Vec::new();
    if let Some(project) = &event.project {
        fields.push(text(
            "Project",
            format!("{} ({})", project.title, project.resource_id),
        ));
    }
    if let Some(issue) = &event.issue {
        fields.push(text("Issue", format!("#{} {}", issue.id, issue.title)));
    }
    if let Some(plan) = &event.plan {
        fields.push(text("Plan", format!("#{} {}", plan.id, plan.title)));
    }
    let mut list = None;
    let mut mentions: Vec<UserRef> = Vec::new();
    let details = match event.known_type() {
        Some(EventType::IssueCreated) => typed::<IssueCreatedData>(event).map(|d| {
            mentions.push(d.creator.clone());
            (
                format!("Issue created: {subject}"),
                Severity::Info,
                vec![users("Creator", vec![d.creator])],
            )
        }),
        Some(EventType::IssueApprovalRequested) => typed::<ApprovalRequestedData>(event).map(|d| {
            mentions.extend(d.approvers.iter().cloned());
            (
                format!("Approval requested: {subject}"),
                Severity::Warning,
                vec![
                    text("Role", d.role),
                    text("Approvals required", d.required_count.to_string()),
                    users("Approvers", d.approvers),
                ],
            )
        }),
        Some(EventType::IssueSentBack) => typed::<SentBackData>(event).map(|d| {
            mentions.push(d.creator.clone());
            // The approver is named, not mentioned: the creator is the one to act.
            let approver = text(
                "Sent back by",
                d.approver.map_or_else(|| "unknown".into(), |u| u.name),
            );
            (
                format!("Issue sent back: {subject}"),
                Severity::Warning,
                vec![
                    approver,
                    text("Reason", d.reason.unwrap_or_else(|| "none given".into())),
                    users("Creator", vec![d.creator]),
                ],
            )
        }),
        Some(EventType::PipelineFailed) => typed::<PipelineFailedData>(event).map(|d| {
            let items = d
                .failed_tasks
                .iter()
                .map(|t| {
                    format!(
                        "{} on {} / {}: {}",
                        t.name,
                        t.instance,
                        t.database,
                        t.error.as_deref().unwrap_or("no error message")
                    )
                })
                .collect();
            list = Some(("Failed tasks".to_string(), items));
            (
                format!("Pipeline failed: {subject}"),
                Severity::Failure,
                vec![
                    text("Failed tasks", d.failed_tasks.len().to_string()),
                    text("First failure", time(d.first_failure_at)),
                ],
            )
        }),
        Some(EventType::PipelineCompleted) => typed::<PipelineCompletedData>(event).map(|d| {
            (
                format!("Pipeline completed: {subject}"),
                Severity::Success,
                vec![
                    text("Tasks", d.total_tasks.to_string()),
                    text("Duration", duration(d.duration_seconds)),
                    text("Started", time(d.started_at)),
                    text("Completed", time(d.completed_at)),
                ],
            )
        }),
        None => None,
    };
    let (title, severity, details) = details.unwrap_or_else(|| {
        (
            format!("Event {}", event.event_type),
            Severity::Info,
            vec![
                text("Type", event.event_type.clone()),
                text("Data", compact_json(&event.data)),
            ],
        )
    });
    fields.extend(details);
    let mut seen = std::collections::HashSet::new();
    mentions.retain(|u| seen.insert(u.id));
    Message {
        event_type: event.event_type.clone(),
        title,
        severity,
        fields,
        list,
        mentions,
        footer: format!(
            "herald · {} · {} · {}",
            event.event_type,
            event.id,
            time(event.timestamp)
        ),
        timestamp: event.timestamp,
    }
}

//! The neutral message every platform format is rendered from: a title, a
//! severity (colour), labelled fields, an optional list (failed tasks), the
//! people to mention and a footer. Built once per event from its typed
//! data; each platform module only decides layout and mention syntax.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::catalogue::Catalogue;
use super::limits::Budget;
use super::template::fragments::{Fragment, Rendered};
use super::text::{cut_chars, strip_controls};
use crate::events::{
    ApprovalRequestedData, ApprovedData, Event, EventType, IssueCreatedData, PipelineCompletedData,
    PipelineFailedData, SentBackData, UserRef,
};
use crate::presentation::{Links, Locale};

/// List entries and entry length the neutral message keeps: at least what
/// the largest starting budget shows (`limits::starting_budget`).
const MAX_LIST_ITEMS: usize = 100;
const MAX_ITEM_CHARS: usize = 2_000;

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
    /// A template's output: text with herald's own markup in it
    /// (`template::fragments`).
    Template(Rendered),
    /// People shown, and how many more were left out by [`Message::fit`].
    Users {
        users: Vec<UserRef>,
        more: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub label: Label,
    pub value: Value,
}

/// A field's label: herald's own words, or one written in a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Label {
    Own(&'static str),
    /// From the config: escaped like any text when laid out.
    Config(std::sync::Arc<str>),
}

impl Label {
    /// As shown on a platform: herald's words as they are, a template's
    /// label through the platform's escape.
    pub fn shown(&self, markup: &Markup) -> String {
        match self {
            Label::Own(words) => (*words).to_owned(),
            Label::Config(text) => (markup.escape)(text),
        }
    }

    /// Whether it is herald's own `words`.
    pub fn is(&self, words: &str) -> bool {
        matches!(self, Label::Own(own) if *own == words)
    }
}

/// A heading and one line per entry (failed tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct List {
    pub heading: String,
    pub items: Vec<String>,
    /// Entries left out by [`Message::fit`].
    pub more: usize,
}

/// The platform-neutral message. Every string in it is raw: user text is
/// escaped by the platform module that lays it out.
#[derive(Clone)]
pub struct Message {
    pub event_type: String,
    pub title: String,
    pub severity: Severity,
    /// Project / issue / plan first, then the event's own details.
    pub fields: Vec<Field>,
    pub list: Option<List>,
    /// People to notify (approvers, the issue creator), deduplicated.
    pub mentions: Vec<UserRef>,
    /// `herald · <type> · <event id> · <timestamp>`.
    pub footer: String,
    pub timestamp: DateTime<Utc>,
    /// Links back to the host application (empty without `links:`).
    pub links: Links,
    /// A template's text, in place of the list.
    pub text: Option<Rendered>,
    /// The words of the endpoint's language.
    pub words: &'static Catalogue,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("title", &self.title)
            .field("fields", &self.fields)
            .field("list", &self.list)
            .field("links", &self.links)
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

/// How one platform writes herald's own markup and makes user text inert.
pub struct Markup {
    /// Bold for herald's labels (already safe text).
    pub bold: fn(&str) -> String,
    /// Makes user-provided text inert (no mention, link, image, tag).
    pub escape: fn(&str) -> String,
    /// A person, as the platform mentions or names them; escapes the
    /// user-provided parts itself.
    pub mention: fn(&UserRef) -> String,
}

/// `**text**` (Markdown: DingTalk, WeCom, Feishu, Discord, Teams).
pub fn markdown_bold(text: &str) -> String {
    format!("**{text}**")
}

/// Longest footer shown (custom event types are host-provided).
const FOOTER_CHARS: usize = 200;

impl Value {
    pub fn render(&self, markup: &Markup, words: &Catalogue) -> String {
        match self {
            Value::Text(text) => (markup.escape)(text),
            Value::Template(rendered) => rendered.render(markup),
            Value::Users { users, more: 0 } if users.is_empty() => words.nobody.into(),
            Value::Users { users, more } => {
                let shown: Vec<String> = users.iter().map(markup.mention).collect();
                let shown = shown.join(words.list_separator);
                match (*more, shown.is_empty()) {
                    (0, _) => shown,
                    (more, true) => (words.more_people)(more),
                    (more, false) => {
                        format!(
                            "{shown}{}{}",
                            words.more_people_separator,
                            (words.more_people)(more)
                        )
                    }
                }
            }
        }
    }
}

impl List {
    /// Entries as `- entry` (escaped), then the "… and K more" line.
    pub fn lines(&self, markup: &Markup, words: &Catalogue) -> Vec<String> {
        let mut lines: Vec<String> = self
            .items
            .iter()
            .map(|item| format!("- {}", (markup.escape)(item)))
            .collect();
        if self.more > 0 {
            lines.push((words.more_entries)(self.more));
        }
        lines
    }
}

impl Message {
    /// `<bold label>: value` per field.
    pub fn field_lines(&self, markup: &Markup) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| self.field_line(f, markup))
            .collect()
    }

    /// `<bold label>: value` (the colon and spacing of the message's
    /// language).
    pub fn field_line(&self, field: &Field, markup: &Markup) -> String {
        format!(
            "{}{}",
            (self.words.label)(markup.bold, &field.label.shown(markup)),
            field.value.render(markup, self.words)
        )
    }

    /// The links to show as actions: label (in the message's language)
    /// and URL.
    pub fn actions(&self) -> Vec<(&'static str, &url::Url)> {
        self.links
            .actions()
            .into_iter()
            .map(|(kind, url)| ((self.words.view)(kind), url))
            .collect()
    }

    /// The actions as Markdown links `[label](url)` joined by `sep`
    /// (DingTalk, WeCom). Parentheses in a URL are percent-encoded so
    /// they cannot end the link early.
    pub fn markdown_links(&self, sep: &str) -> String {
        self.actions()
            .into_iter()
            .map(|(label, url)| {
                let url = url.as_str().replace('(', "%28").replace(')', "%29");
                format!("[{label}]({url})")
            })
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// A field's value with the platform's mentions.
    pub fn value(&self, field: &Field, markup: &Markup) -> String {
        field.value.render(markup, self.words)
    }

    /// The list as `<bold heading>` then its lines, or a template's text
    /// (empty if neither).
    pub fn list_lines(&self, markup: &Markup) -> Vec<String> {
        if let Some(text) = &self.text {
            return vec![text.render(markup)];
        }
        match &self.list {
            Some(list) => std::iter::once((markup.bold)(&(markup.escape)(&list.heading)))
                .chain(list.lines(markup, self.words))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Fields and list as one Markdown-ish text, lines joined by `sep`.
    pub fn text(&self, markup: &Markup, sep: &str) -> String {
        let mut lines = self.field_lines(markup);
        let list = self.list_lines(markup);
        if !list.is_empty() {
            lines.push(String::new());
            lines.extend(list);
        }
        lines.join(sep)
    }

    /// The message cut to `budget`: long texts end in `…`, long lists keep
    /// their first entries plus a count of the rest. Title, project and
    /// counts always survive. Control characters are removed; empty values
    /// become `—` (some platforms reject empty fields).
    pub fn fit(&self, budget: &Budget) -> Message {
        let clean = |text: &str, max: usize| {
            let text = strip_controls(text);
            let text = text.trim();
            if text.is_empty() {
                "—".to_string()
            } else {
                cut_chars(text, max)
            }
        };
        let person = |user: &UserRef| UserRef {
            name: if user.name.trim().is_empty() {
                format!("user {}", user.id)
            } else {
                clean(&user.name, budget.name_chars)
            },
            email: cut_chars(&strip_controls(&user.email), 254),
            phone: user
                .phone
                .as_deref()
                .map(|p| cut_chars(&strip_controls(p), 32)),
            // Handles are checked against each platform's syntax where used.
            handles: user.handles.clone(),
            id: user.id,
        };
        // A template's people and bold words, cut like herald's own names.
        let fitted_fragments = |rendered: &Rendered| -> std::sync::Arc<[Fragment]> {
            rendered
                .fragments
                .iter()
                .map(|fragment| match fragment {
                    Fragment::Mention(user) => Fragment::Mention(person(user)),
                    Fragment::Bold(text) => Fragment::Bold(clean(text, budget.name_chars)),
                })
                .collect()
        };
        let fields = self
            .fields
            .iter()
            .map(|field| Field {
                label: field.label.clone(),
                value: match &field.value {
                    Value::Text(text) => Value::Text(clean(text, budget.field_chars)),
                    Value::Template(rendered) => Value::Template(Rendered {
                        text: clean(&rendered.text, budget.field_chars),
                        fragments: fitted_fragments(rendered),
                    }),
                    Value::Users { users, more } => Value::Users {
                        users: users.iter().take(budget.users_shown).map(person).collect(),
                        more: more + users.len().saturating_sub(budget.users_shown),
                    },
                },
            })
            .collect();
        let list = self.list.as_ref().map(|list| {
            let mut items = Vec::new();
            let mut used = 0;
            for item in list.items.iter().take(budget.list_entries) {
                let item = clean(item, budget.item_chars);
                used += item.chars().count();
                if used > budget.list_chars {
                    break;
                }
                items.push(item);
            }
            List {
                heading: list.heading.clone(),
                more: list.more + list.items.len() - items.len(),
                items,
            }
        });
        Message {
            event_type: self.event_type.clone(),
            title: clean(&self.title, budget.title_chars),
            severity: self.severity,
            fields,
            list,
            mentions: self
                .mentions
                .iter()
                .take(budget.users_shown)
                .map(person)
                .collect(),
            footer: clean(&self.footer, FOOTER_CHARS),
            timestamp: self.timestamp,
            links: self.links.within(budget.link_chars),
            text: self.text.as_ref().map(|rendered| Rendered {
                text: clean(&rendered.text, budget.list_chars.max(budget.item_chars)),
                fragments: fitted_fragments(rendered),
            }),
            words: self.words,
        }
    }
}

fn typed<D: DeserializeOwned>(event: &Event) -> Option<D> {
    serde_json::from_value(event.data.clone()).ok()
}

fn text(label: &'static str, value: impl Into<String>) -> Field {
    Field {
        label: Label::Own(label),
        value: Value::Text(value.into()),
    }
}

fn users(label: &'static str, users: Vec<UserRef>) -> Field {
    Field {
        label: Label::Own(label),
        value: Value::Users { users, more: 0 },
    }
}

fn compact_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_DATA_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_DATA_CHARS).collect();
    format!("{cut}…")
}

/// Build the neutral message for `event` in `locale` (no links: the
/// caller adds the endpoint's). herald's own types whose data does not
/// parse are shown like custom events (type + JSON data).
pub fn summarize(event: &Event, locale: Locale) -> Message {
    let words = Catalogue::of(locale);
    let subject = event
        .issue
        .as_ref()
        .map(|i| i.title.clone())
        .or_else(|| event.plan.as_ref().map(|p| p.title.clone()))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| words.untitled.into());
    let mut fields = Vec::new();
    if let Some(project) = &event.project {
        fields.push(text(
            words.project,
            format!("{} ({})", project.title, project.resource_id),
        ));
    }
    if let Some(issue) = &event.issue {
        fields.push(text(words.issue, format!("#{} {}", issue.id, issue.title)));
    }
    if let Some(plan) = &event.plan {
        fields.push(text(words.plan, format!("#{} {}", plan.id, plan.title)));
    }
    let mut list = None;
    let mut mentions: Vec<UserRef> = Vec::new();
    let mut reminder = None;
    let known = event.known_type();
    let details = match known {
        Some(EventType::IssueCreated) => typed::<IssueCreatedData>(event).map(|d| {
            mentions.push(d.creator.clone());
            (Severity::Info, vec![users(words.creator, vec![d.creator])])
        }),
        Some(EventType::IssueApprovalRequested) => typed::<ApprovalRequestedData>(event).map(|d| {
            mentions.extend(d.approvers.iter().cloned());
            reminder = d.reminder;
            let mut fields = vec![
                text(words.role, d.role),
                text(words.approvals_required, d.required_count.to_string()),
                users(words.approvers, d.approvers),
            ];
            if let Some(n) = d.reminder {
                fields.push(text(words.reminder, n.to_string()));
            }
            (Severity::Warning, fields)
        }),
        Some(EventType::IssueSentBack) => typed::<SentBackData>(event).map(|d| {
            mentions.push(d.creator.clone());
            // The approver is named, not mentioned: the creator is the one to act.
            let approver = text(
                words.sent_back_by,
                d.approver
                    .map_or_else(|| words.unknown_person.into(), |u| u.name),
            );
            (
                Severity::Warning,
                vec![
                    approver,
                    text(
                        words.reason,
                        d.reason
                            .filter(|r| !r.trim().is_empty())
                            .unwrap_or_else(|| words.no_reason.into()),
                    ),
                    users(words.creator, vec![d.creator]),
                ],
            )
        }),
        Some(EventType::IssueApproved) => typed::<ApprovedData>(event).map(|d| {
            mentions.push(d.creator.clone());
            let mut fields = Vec::new();
            if let Some(role) = d.role.filter(|r| !r.trim().is_empty()) {
                fields.push(text(words.role, role));
            }
            fields.push(users(words.creator, vec![d.creator]));
            (Severity::Success, fields)
        }),
        Some(EventType::PipelineFailed) => typed::<PipelineFailedData>(event).map(|d| {
            // No budget shows more than this: the rest is only counted, so a
            // plan with thousands of long failures is not formatted in full.
            let items: Vec<String> = d
                .failed_tasks
                .iter()
                .take(MAX_LIST_ITEMS)
                .map(|t| {
                    let item = (words.failed_task)(
                        &t.name,
                        &t.instance,
                        &t.database,
                        t.error.as_deref().unwrap_or(words.no_error_message),
                    );
                    cut_chars(&item, MAX_ITEM_CHARS)
                })
                .collect();
            list = Some(List {
                heading: words.failed_tasks_heading.to_string(),
                more: d.failed_tasks.len() - items.len(),
                items,
            });
            (
                Severity::Failure,
                vec![
                    text(words.failed_task_count, d.failed_tasks.len().to_string()),
                    text(words.first_failure, (words.time)(d.first_failure_at)),
                ],
            )
        }),
        Some(EventType::PipelineCompleted) => typed::<PipelineCompletedData>(event).map(|d| {
            (
                Severity::Success,
                vec![
                    text(words.tasks, d.total_tasks.to_string()),
                    text(words.duration, (words.duration_text)(d.duration_seconds)),
                    text(words.started, (words.time)(d.started_at)),
                    text(words.completed, (words.time)(d.completed_at)),
                ],
            )
        }),
        None => None,
    };
    let (title, severity, details) = match (known, details) {
        (Some(_), Some((severity, details))) if reminder.is_some() => (
            format!("{}{}{subject}", words.approval_reminder, words.title_colon),
            severity,
            details,
        ),
        (Some(known), Some((severity, details))) => {
            (words.title(known, &subject), severity, details)
        }
        _ => (
            format!("{}{}", words.custom_event, event.event_type),
            Severity::Info,
            vec![
                text(words.event_type, event.event_type.clone()),
                text(words.data, compact_json(&event.data)),
            ],
        ),
    };
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
            // RFC 3339 in every language: the footer is for machines too.
            (super::catalogue::EN.time)(event.timestamp)
        ),
        timestamp: event.timestamp,
        links: Links::default(),
        text: None,
        words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// People cut to a budget end in "… and K more"; in Chinese without
    /// an enumeration comma before the count (`甲、乙 及其他 3 人`).
    #[test]
    fn more_people_in_each_language() {
        let user = |id: i64| UserRef {
            id,
            name: format!("P{id}"),
            email: String::new(),
            phone: None,
            handles: Default::default(),
        };
        let value = Value::Users {
            users: vec![user(1), user(2)],
            more: 3,
        };
        let markup = Markup {
            bold: markdown_bold,
            escape: str::to_owned,
            mention: |u| u.name.clone(),
        };
        use crate::formats::catalogue::{EN, ZH_CN};
        assert_eq!(value.render(&markup, &EN), "P1, P2, … and 3 more");
        assert_eq!(value.render(&markup, &ZH_CN), "P1、P2 及其他 3 人");
        let nobody = Value::Users {
            users: vec![],
            more: 2,
        };
        assert_eq!(nobody.render(&markup, &ZH_CN), "及其他 2 人");
    }

    /// The neutral message keeps at least what any platform's starting
    /// budget can show.
    #[test]
    fn the_kept_list_covers_every_starting_budget() {
        for platform in crate::endpoint::Platform::ALL {
            let budget = super::super::limits::starting_budget(platform);
            assert!(budget.list_entries <= MAX_LIST_ITEMS, "{platform}");
            assert!(budget.item_chars <= MAX_ITEM_CHARS, "{platform}");
        }
    }

    /// A reminder says so in its title and fields, in both locales; the
    /// request itself does not.
    #[test]
    fn a_reminder_is_titled_as_one() {
        let mut event = crate::formats::samples::sample("ISSUE_APPROVAL_REQUESTED");
        let request = summarize(&event, Locale::En);
        assert!(
            request.title.starts_with("Approval requested"),
            "{}",
            request.title
        );
        event.data["reminder"] = 2.into();
        let en = summarize(&event, Locale::En);
        assert!(
            en.title.starts_with("Approval still pending: "),
            "{}",
            en.title
        );
        assert!(en.fields.iter().any(|f| f.label.is("Reminder")));
        let zh = summarize(&event, Locale::ZhCn);
        assert!(zh.title.starts_with("审批仍待处理"), "{}", zh.title);
    }
}

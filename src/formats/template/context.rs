//! What a template sees: the event as the generic webhook sends it (`id`,
//! `type`, `timestamp`, `project`, `issue`, `plan`, `rollout`, `data`,
//! `links`), plus `locale`, herald's own `title` and the `severity`; and
//! the filters that speak the endpoint's language (`time`, `duration`).

use chrono::{DateTime, Utc};
use minijinja::{Error, ErrorKind, State, Value};
use serde_json::Value as Json;

use super::fragments::without_tokens;
use crate::events::Event;
use crate::formats::catalogue::Catalogue;
use crate::formats::summary::{Message, Severity};
use crate::formats::text::cut_chars;
use crate::presentation::{Links, Locale};

/// Longest string a chat template sees: a 10 KB error message is cut
/// (with `…`) before the template runs, so output stays near what any
/// platform can show; the message is fitted after as well.
pub const MAX_VALUE_CHARS: usize = 2_000;

/// A copy of `value` with every string cut to `max` characters (if
/// given) and without herald's token characters; long strings are never
/// copied whole.
fn cleaned(value: &Json, max: Option<usize>) -> Json {
    match value {
        Json::String(text) => {
            let text = match max {
                Some(max) if text.len() > max => cut_chars(text, max),
                _ => text.clone(),
            };
            Json::String(without_tokens(&text).into_owned())
        }
        Json::Array(items) => Json::Array(items.iter().map(|item| cleaned(item, max)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), cleaned(item, max)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "info",
        Severity::Success => "success",
        Severity::Warning => "warning",
        Severity::Failure => "failure",
    }
}

/// The event as the generic webhook sends it, cleaned, with `extra`.
fn base(event: &Event, links: &Links, max: Option<usize>, extra: [(&str, Json); 3]) -> Value {
    let data = cleaned(&event.data, max);
    let envelope = Event {
        id: event.id,
        event_type: event.event_type.clone(),
        timestamp: event.timestamp,
        project: event.project.clone(),
        issue: event.issue.clone(),
        plan: event.plan.clone(),
        rollout: event.rollout.clone(),
        data: Json::Null,
    };
    let mut json = serde_json::to_value(envelope)
        .map(|json| cleaned(&json, max))
        .unwrap_or(Json::Null);
    if let Some(map) = json.as_object_mut() {
        map.insert("data".into(), data);
        map.insert("links".into(), links.to_json());
        for (key, value) in extra {
            map.insert(key.into(), value);
        }
    }
    Value::from_serialize(&json)
}

/// The context of a chat template: `message` is herald's own message for
/// the event (its title, severity, language and links).
pub fn chat(event: &Event, message: &Message) -> Value {
    base(
        event,
        &message.links,
        Some(MAX_VALUE_CHARS),
        [
            (
                "title",
                cleaned(&message.title.clone().into(), Some(MAX_VALUE_CHARS)),
            ),
            ("severity", severity_name(message.severity).into()),
            ("locale", message.words.locale.as_str().into()),
        ],
    )
}

/// The context of a generic body in `locale`: nothing cut (a receiver
/// takes any size).
pub fn generic(event: &Event, links: &Links, locale: Locale) -> Value {
    let summary = crate::formats::summary::summarize(event, locale);
    base(
        event,
        links,
        None,
        [
            ("title", cleaned(&summary.title.into(), None)),
            ("severity", severity_name(summary.severity).into()),
            ("locale", locale.as_str().into()),
        ],
    )
}

fn words(state: &State) -> &'static Catalogue {
    let locale = state
        .lookup("locale")
        .and_then(|v| v.as_str().and_then(Locale::parse))
        .unwrap_or(Locale::En);
    Catalogue::of(locale)
}

/// `{{ data.first_failure_at | time }}`: a timestamp as herald writes
/// times in the endpoint's language.
pub fn time_filter(state: &State, value: Value) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    let text = value.as_str().unwrap_or_default();
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "time: `{}` is not an RFC 3339 timestamp",
                    cut_chars(text, 40)
                ),
            )
        })?;
    Ok((words(state).time)(at))
}

/// `{{ data.duration_seconds | duration }}`: seconds in words.
pub fn duration_filter(state: &State, value: Value) -> Result<String, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(String::new());
    }
    let seconds = i64::try_from(value.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "duration: takes a whole number of seconds",
        )
    })?;
    Ok((words(state).duration_text)(seconds))
}

/// `length` (and `count`): 0 for a field the event does not have.
pub fn length_filter(value: &Value) -> Result<usize, Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(0);
    }
    minijinja::filters::length(value)
}

/// A template value as JSON (a fragment as its plain text).
pub fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

//! The config file's YAML shape and its validation into [`Endpoint`]s.
//! Validation collects every problem instead of stopping at the first.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use url::Url;

use super::secrets::{self, SecretOrigin};
use super::time_intervals::FileTimeInterval;
use super::Problem;
use std::sync::Arc;

use crate::endpoint::{Endpoint, EndpointSource, Ordering, Platform};
use crate::events;
use crate::presentation::{LinkKind, LinkTemplates, Locale, Presentation, Template};
use crate::routing::{Matchers, MuteAction, MuteWindow, Route, TimeInterval};

/// An endpoint's project filter: a project id or a resource id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum ProjectRef {
    Id(i64),
    Resource(String),
}

/// The project-webhook id prefix (`Endpoint::project_webhook_id`); config
/// ids must not use it.
pub const RESERVED_PREFIX: &str = "project-webhook-";

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// URL templates of links back to the host application.
    #[serde(default, skip_serializing_if = "FileLinks::is_empty")]
    pub links: FileLinks,
    /// Named recurring periods endpoints can be muted during
    /// (Alertmanager's `time_intervals`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<FileTimeInterval>,
    /// A default message template per platform (`slack:`, `generic:`…),
    /// for its endpoints without one of their own.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub templates: std::collections::BTreeMap<String, crate::formats::template::TemplateSource>,
    #[serde(default)]
    pub endpoints: Vec<FileEndpoint>,
}

/// An endpoint's filter: one matcher text or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileFilter {
    One(String),
    Many(Vec<String>),
}

impl FileFilter {
    fn texts(&self) -> Vec<&str> {
        match self {
            FileFilter::One(text) => vec![text.as_str()],
            FileFilter::Many(texts) => texts.iter().map(String::as_str).collect(),
        }
    }
}

/// One entry of an endpoint's `mute_time_intervals:`: a name (muted
/// messages dropped) or `{name, action: drop|hold}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileMute {
    Name(String),
    Rule {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<String>,
    },
}

/// `links:`, as written: one URL template per kind, e.g.
/// `issue: https://bb.example.com/projects/{project}/issues/{issue_id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLinks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl FileLinks {
    pub fn is_empty(&self) -> bool {
        *self == FileLinks::default()
    }

    fn get(&self, kind: LinkKind) -> Option<&String> {
        match kind {
            LinkKind::Issue => self.issue.as_ref(),
            LinkKind::Plan => self.plan.as_ref(),
            LinkKind::Rollout => self.rollout.as_ref(),
            LinkKind::Project => self.project.as_ref(),
        }
    }

    /// The section as it would be written for `templates`.
    pub fn from_templates(templates: &LinkTemplates) -> FileLinks {
        let source = |kind| {
            templates
                .get(kind)
                .map(|t: &Template| t.source().to_string())
        };
        FileLinks {
            issue: source(LinkKind::Issue),
            plan: source(LinkKind::Plan),
            rollout: source(LinkKind::Rollout),
            project: source(LinkKind::Project),
        }
    }

    /// Every template parsed, or a problem per bad one.
    fn validate(&self, path: &Path, problems: &mut Vec<Problem>) -> LinkTemplates {
        let mut templates = Vec::new();
        for kind in LinkKind::ALL {
            let Some(source) = self.get(kind) else {
                continue;
            };
            match Template::parse(kind, source) {
                Ok(template) => templates.push((kind, template)),
                Err(message) => problems.push(Problem {
                    file: path.to_path_buf(),
                    position: None,
                    endpoint: String::new(),
                    index: None,
                    field: format!("links.{}", kind.as_str()),
                    message: format!("`{source}` {message}"),
                }),
            }
        }
        LinkTemplates::new(templates)
    }
}

/// One entry of `endpoints:`, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoint {
    pub id: String,
    #[serde(rename = "type")]
    pub platform: String,
    pub url: String,
    /// The NAME of a secret (a file under the secrets directory or an
    /// environment variable), never the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Only events of this project: its id (`7`) or resource id (`shop`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectRef>,
    /// Allow plain `http://` to a non-loopback host.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_insecure_http: bool,
    /// `strict` (default: one at a time, in event order) or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
    /// With `ordering: none`: sends in flight at once (default 8, 1–256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u16>,
    /// The language of its messages: `en` (default) or `zh-CN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Send approval requests to each approver and sent-back issues to
    /// their creator through the platform's app API (Slack, Feishu, Lark,
    /// WeCom, DingTalk).
    #[serde(default, skip_serializing_if = "is_false")]
    pub direct_messages: bool,
    /// Only events whose attributes these matchers hold for
    /// (`environment=~"prod|staging"`; docs/routing.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<FileFilter>,
    /// Quiet during these `time_intervals` (by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<FileMute>,
    /// This endpoint's own retry settings (each replaces the global one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<FileRetry>,
    /// A secret being rotated out, signed with too until `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<FilePreviousSecret>,
    /// Headers added to every request: a value, or `{secret: NAME}`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, FileHeaderValue>,
    /// `{per_second: 5, burst: 10}`: at most so many requests a second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<FileRateLimit>,
    /// Its message template (docs/templates.md): `title`, `fields`,
    /// `text` (chat platforms) or `body` (generic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::formats::template::TemplateSource>,
}

/// `rate_limit:` of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRateLimit {
    pub per_second: f64,
    /// Requests at once after a quiet time (default: the rate, at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
}

impl FileRateLimit {
    fn validate(&self) -> Result<crate::delivery::pace::RateLimit, String> {
        // At least one request an hour (1/3600 = 0.000278).
        if !(self.per_second.is_finite()
            && self.per_second >= 1.0 / 3600.0
            && self.per_second <= 10_000.0)
        {
            return Err(format!(
                "per_second {} is not within 1/3600–10000 (0.5 is one request every two seconds)",
                self.per_second
            ));
        }
        let burst = self
            .burst
            .unwrap_or_else(|| self.per_second.ceil().max(1.0) as u32);
        if !(1..=10_000).contains(&burst) {
            return Err(format!("burst {burst} is not within 1–10000"));
        }
        Ok(crate::delivery::pace::RateLimit {
            per_second: self.per_second,
            burst,
        })
    }
}

/// A custom header's value as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FileHeaderValue {
    Text(String),
    Secret { secret: String },
}

/// At most this many custom headers, each value at most this long.
const MAX_HEADERS: usize = 20;
const MAX_HEADER_VALUE: usize = 1024;

/// The custom headers, or each problem as a message.
fn custom_headers(
    raw: &std::collections::BTreeMap<String, FileHeaderValue>,
    secrets_dir: &Path,
    label: &str,
) -> Result<Vec<crate::endpoint::CustomHeader>, Vec<String>> {
    let mut problems = Vec::new();
    let mut headers = Vec::new();
    if raw.len() > MAX_HEADERS {
        problems.push(format!("at most {MAX_HEADERS} headers"));
    }
    let mut seen = HashSet::new();
    for (name, value) in raw {
        let lower = name.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            problems.push(format!(
                "`{name}` is given twice (header names ignore case)"
            ));
            continue;
        }
        if reqwest::header::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            problems.push(format!("`{name}` is not a header name"));
            continue;
        }
        if crate::endpoint::RESERVED_HEADERS.contains(&lower.as_str())
            || lower.starts_with("webhook-")
        {
            problems.push(format!(
                "`{name}` is set by herald itself and cannot be replaced"
            ));
            continue;
        }
        let (text, secret) = match value {
            FileHeaderValue::Text(text) => (text.clone(), false),
            FileHeaderValue::Secret { secret } => {
                match secrets::resolve(secret, secrets_dir, label) {
                    Ok((value, _)) => (value.expose().trim().to_owned(), true),
                    Err(error) => {
                        problems.push(format!("`{name}`: {error}"));
                        continue;
                    }
                }
            }
        };
        if text.len() > MAX_HEADER_VALUE || reqwest::header::HeaderValue::from_str(&text).is_err() {
            problems.push(format!(
                "`{name}`: the value must be at most {MAX_HEADER_VALUE} bytes of visible text (no line breaks)"
            ));
            continue;
        }
        headers.push(crate::endpoint::CustomHeader {
            name: lower,
            value: crate::endpoint::Secret::new(text),
            secret,
        });
    }
    if problems.is_empty() {
        Ok(headers)
    } else {
        Err(problems)
    }
}

/// `previous_secret: {name: NAME, until: RFC 3339 time}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePreviousSecret {
    /// The NAME of the old secret (as `secret:`), never its value.
    pub name: String,
    /// When the grace ends: from then on only `secret` signs.
    pub until: String,
}

/// `retry:` of an endpoint: a schedule of delays (`[5s, 5m, 30m]`: four
/// attempts), or exponential settings; `max_age` either way.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

/// The most delays a schedule may list (Svix allows a few dozen).
const MAX_SCHEDULE: usize = 50;

impl FileRetry {
    /// As an override, or each problem as (field, message).
    fn validate(&self) -> Result<crate::delivery::RetryOverride, Vec<(String, String)>> {
        let mut problems = Vec::new();
        const LONGEST_DELAY: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);
        const LONGEST_AGE: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);
        let mut duration = |field: String, text: &str| match humantime::parse_duration(text) {
            Ok(d)
                if d > if field == "retry.max_age" {
                    LONGEST_AGE
                } else {
                    LONGEST_DELAY
                } =>
            {
                problems.push((
                    field,
                    format!(
                        "`{text}` is longer than herald allows (a delay 30 days, max_age 366 days)"
                    ),
                ));
                None
            }
            Ok(d) if !d.is_zero() => Some(d),
            Ok(_) => {
                problems.push((field, format!("`{text}` must be longer than zero")));
                None
            }
            Err(e) => {
                problems.push((
                    field,
                    format!("`{text}` is not a duration such as 30s or 5m: {e}"),
                ));
                None
            }
        };
        let schedule = self.schedule.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .filter_map(|(i, text)| duration(format!("retry.schedule[{i}]"), text))
                .collect::<Vec<_>>()
        });
        let base = self
            .base
            .as_deref()
            .and_then(|t| duration("retry.base".into(), t));
        let cap = self
            .cap
            .as_deref()
            .and_then(|t| duration("retry.cap".into(), t));
        let max_age = self
            .max_age
            .as_deref()
            .and_then(|t| duration("retry.max_age".into(), t));
        if let Some(list) = &self.schedule {
            if list.is_empty() || list.len() > MAX_SCHEDULE {
                problems.push((
                    "retry.schedule".into(),
                    format!("lists 1–{MAX_SCHEDULE} delays"),
                ));
            }
            if self.base.is_some() || self.cap.is_some() || self.attempts.is_some() {
                problems.push((
                    "retry.schedule".into(),
                    "a schedule says every delay and the number of attempts: drop base, cap and attempts".into(),
                ));
            }
        }
        if self.attempts == Some(0) {
            problems.push(("retry.attempts".into(), "must be at least 1".into()));
        }
        if let (Some(schedule), Some(age)) = (&schedule, max_age) {
            let total: std::time::Duration = schedule.iter().sum();
            if total > age {
                problems.push((
                    "retry.max_age".into(),
                    format!(
                        "{} is shorter than the schedule ({}): its last attempts would never be made",
                        humantime::format_duration(age),
                        humantime::format_duration(total)
                    ),
                ));
            }
        }
        if let (Some(base), Some(cap)) = (base, cap) {
            if base > cap {
                problems.push(("retry.base".into(), "is longer than retry.cap".into()));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(crate::delivery::RetryOverride {
            schedule,
            base,
            cap,
            max_attempts: self.attempts,
            max_age,
        })
    }

    /// The section as it would be written for `retry`.
    pub fn from_override(retry: &crate::delivery::RetryOverride) -> Option<FileRetry> {
        let text = |d: std::time::Duration| humantime::format_duration(d).to_string();
        (!retry.is_empty()).then(|| FileRetry {
            schedule: retry
                .schedule
                .as_ref()
                .map(|s| s.iter().copied().map(text).collect()),
            base: retry.base.map(text),
            cap: retry.cap.map(text),
            attempts: retry.max_attempts,
            max_age: retry.max_age.map(text),
        })
    }
}

fn yes() -> bool {
    true
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// What validation keeps besides the endpoint (for `check-config`).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointNotes {
    pub secret_name: Option<String>,
    pub secret_origin: Option<SecretOrigin>,
    pub allow_insecure_http: bool,
    /// The rotation as written (the old secret's name and the grace's end).
    pub previous_secret: Option<FilePreviousSecret>,
    /// The custom headers as written (secrets by name).
    pub headers: std::collections::BTreeMap<String, FileHeaderValue>,
    /// Its own template as written (a platform default is not its own).
    pub template: Option<crate::formats::template::TemplateSource>,
}

fn known_types() -> String {
    Platform::ALL
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A loopback address written as an IP: host *names* (`localhost`
/// included) are checked when they are resolved (`delivery::destination`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(_)) => false,
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// What an endpoint may subscribe to: `*`, one of herald's own types, or a
/// custom type, which is dotted (`user.created`). An undotted name that is
/// not herald's is a typo that would subscribe to nothing.
fn subscribable(event: &str) -> Result<(), String> {
    if event == "*" || events::EventType::parse(event).is_some() {
        return Ok(());
    }
    if event.contains('.') && events::is_valid_type_name(event) {
        return Ok(());
    }
    let known: Vec<&str> = events::EventType::ALL.iter().map(|t| t.as_str()).collect();
    let hint = super::shape::closest(event, &known)
        .map(|best| format!(" (did you mean `{best}`?)"))
        .unwrap_or_default();
    Err(format!(
        "`{event}` is not one of herald's event types{hint}; custom types are dotted (`user.created`), `*` is every type"
    ))
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The event types sent as direct messages (`herald_recipients` in SQL).
pub const DIRECT_MESSAGE_TYPES: [&str; 2] = ["ISSUE_APPROVAL_REQUESTED", "ISSUE_SENT_BACK"];

/// `direct_messages: true` needs an app platform, the app's credentials in
/// that platform's shape, and event types that have recipients.
fn check_direct_messages(
    raw: &FileEndpoint,
    platform: Option<Platform>,
    secret: Option<&crate::endpoint::Secret>,
    problem: &mut impl FnMut(&'static str, String),
) {
    match platform {
        Some(
            Platform::Slack
            | Platform::Feishu
            | Platform::Lark
            | Platform::Wecom
            | Platform::Dingtalk
            | Platform::Teams,
        )
        | None => {}
        Some(other) => problem(
            "direct_messages",
            format!(
                "type `{other}` has no direct messages; use slack, feishu, lark, wecom or dingtalk"
            ),
        ),
    }
    match (platform, secret.map(|s| s.expose())) {
        (_, None) => problem(
            "secret",
            "direct messages need the app's credentials as a secret (Slack: the bot token xoxb-…; Feishu/Lark: app_id:app_secret; WeCom: corpid:corpsecret:agentid; DingTalk: appkey:appsecret:agentid; Teams: tenant:client_id:client_secret:refresh_token)".into(),
        ),
        (Some(Platform::Teams), Some(credentials)) => {
            if let Err(message) = crate::formats::direct::teams::credentials(credentials) {
                problem("secret", message);
            }
        }
        (Some(Platform::Wecom), Some(credentials)) => {
            if let Err(message) = crate::formats::direct::wecom::credentials(credentials) {
                problem("secret", message);
            }
        }
        (Some(Platform::Dingtalk), Some(credentials)) => {
            if let Err(message) = crate::formats::direct::dingtalk::credentials(credentials) {
                problem("secret", message);
            }
        }
        (Some(Platform::Slack), Some(token)) if !token.starts_with("xoxb-") => problem(
            "secret",
            "a Slack app's bot token starts with `xoxb-`".into(),
        ),
        (Some(Platform::Feishu | Platform::Lark), Some(credentials))
            if !credentials
                .split_once(':')
                .is_some_and(|(id, secret)| !id.is_empty() && !secret.is_empty()) =>
        {
            problem(
                "secret",
                "Feishu/Lark app credentials are written `app_id:app_secret`".into(),
            )
        }
        _ => {}
    }
    for event in &raw.events {
        if event != "*" && !DIRECT_MESSAGE_TYPES.contains(&event.as_str()) {
            problem(
                "events",
                format!(
                    "`{event}` has no recipients; direct messages are sent for {} (or `*`)",
                    DIRECT_MESSAGE_TYPES.join(", ")
                ),
            );
        }
    }
}

/// An endpoint's `filter` and `mute_time_intervals` as its [`Route`].
fn endpoint_route(
    raw: &FileEndpoint,
    intervals: &std::collections::HashMap<String, Arc<TimeInterval>>,
    defined: &HashSet<&str>,
    problem: &mut impl FnMut(&'static str, String),
) -> Route {
    let mut route = Route::default();
    if let Some(filter) = &raw.filter {
        match Matchers::parse_all(filter.texts()) {
            Ok(matchers) => route.filter = matchers,
            Err(message) => problem("filter", message),
        }
    }
    for mute in &raw.mute_time_intervals {
        let (name, action) = match mute {
            FileMute::Name(name) => (name, None),
            FileMute::Rule { name, action } => (name, action.as_deref()),
        };
        let action = match action.map(|a| (a, MuteAction::parse(a))) {
            None => MuteAction::Drop,
            Some((_, Some(action))) => action,
            Some((text, None)) => {
                problem(
                    "mute_time_intervals",
                    format!("action `{text}` is neither `drop` nor `hold`"),
                );
                continue;
            }
        };
        match intervals.get(name.as_str()) {
            Some(interval) => route.mute_windows.push(MuteWindow {
                interval: interval.clone(),
                action,
            }),
            // A defined but invalid interval is reported where it is.
            None if defined.contains(name.as_str()) => {}
            None => {
                let known: Vec<&str> = defined.iter().copied().collect();
                let hint = super::shape::closest(name, &known)
                    .map(|best| format!(" (did you mean `{best}`?)"))
                    .unwrap_or_default();
                problem("mute_time_intervals", format!("no time interval is named `{name}`{hint}; define it under `time_intervals:`"));
            }
        }
    }
    route
}

/// A valid file: its endpoints (with notes) and link templates.
pub struct Validated {
    pub endpoints: Vec<(Endpoint, EndpointNotes)>,
    pub links: Arc<LinkTemplates>,
}

/// An endpoint's template problems as config problems.
fn template_problems<'a>(
    found: Vec<(String, String)>,
    path: &'a Path,
    label: &'a str,
    index: usize,
) -> impl Iterator<Item = Problem> + 'a {
    found.into_iter().map(move |(field, message)| Problem {
        file: path.to_path_buf(),
        position: None,
        endpoint: label.to_owned(),
        index: Some(index),
        field,
        message,
    })
}

/// Validate every entry; returns the endpoints (with notes) or every problem.
pub fn validate(
    file: &FileConfig,
    path: &Path,
    secrets_dir: &Path,
) -> Result<Validated, Vec<Problem>> {
    let mut problems = Vec::new();
    let links = Arc::new(file.links.validate(path, &mut problems));
    let intervals = super::time_intervals::validate(&file.time_intervals, path, &mut problems);
    let defined: HashSet<&str> = file
        .time_intervals
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let defaults = super::templates::defaults(&file.templates, path, &mut problems);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (index, raw) in file.endpoints.iter().enumerate() {
        let label = if raw.id.is_empty() {
            format!("#{}", index + 1)
        } else {
            raw.id.clone()
        };
        let mut problem = |field: &'static str, message: String| {
            problems.push(Problem {
                file: path.to_path_buf(),
                position: None,
                endpoint: label.clone(),
                index: Some(index),
                field: field.to_owned(),
                message,
            })
        };
        if !valid_id(&raw.id) {
            problem(
                "id",
                "must be non-empty and use only letters, digits, `.`, `_`, `-`".into(),
            );
        } else if raw.id.starts_with(RESERVED_PREFIX) {
            problem(
                "id",
                format!("must not start with `{RESERVED_PREFIX}` (reserved for project webhooks)"),
            );
        } else if !seen.insert(raw.id.clone()) {
            problem(
                "id",
                "is used by another endpoint; ids must be unique".into(),
            );
        }
        let platform = Platform::parse(&raw.platform);
        if platform.is_none() {
            problem(
                "type",
                format!(
                    "unknown type `{}`; known types: {}",
                    raw.platform,
                    known_types()
                ),
            );
        }
        let url = match Url::parse(&raw.url) {
            Ok(url) => match url.scheme() {
                "https" => Some(url),
                "http" if is_loopback(&url) || raw.allow_insecure_http => Some(url),
                "http" => {
                    problem(
                        "url",
                        if url
                            .host_str()
                            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
                        {
                            "plain http is only allowed to a loopback address written as an IP: write 127.0.0.1 or [::1] instead of localhost (a name is resolved, and the destination policy refuses what it resolves to), or use https".into()
                        } else {
                            "plain http is only allowed to a loopback address written as an IP (127.0.0.1, [::1]); use https or set `allow_insecure_http: true`".into()
                        },
                    );
                    None
                }
                other => {
                    problem("url", format!("scheme `{other}` is not http(s)"));
                    None
                }
            },
            Err(error) => {
                problem("url", format!("`{}` is not a URL: {error}", raw.url));
                None
            }
        };
        if raw.events.is_empty() {
            problem(
                "events",
                "needs at least one event type (or `*` for every type)".into(),
            );
        }
        for event in &raw.events {
            if let Err(message) = subscribable(event) {
                problem("events", message);
            }
        }
        let mut resolved = None;
        match &raw.secret {
            Some(name) => match secrets::resolve(name, secrets_dir, &label) {
                Ok(found) => {
                    if platform == Some(Platform::Generic) {
                        if let Err(error) = crate::signing::check_standard_secret(&found.0) {
                            problem("secret", format!("secret `{name}`: {error}"));
                        }
                    }
                    resolved = Some(found);
                }
                Err(error) => problem("secret", error.to_string()),
            },
            None => {
                if platform.is_some_and(Platform::requires_secret) {
                    problem(
                        "secret",
                        format!(
                            "type `{}` signs every request and needs a secret",
                            raw.platform
                        ),
                    );
                }
            }
        }
        let previous_secret = match &raw.previous_secret {
            None => None,
            Some(rotation) => {
                let until = chrono::DateTime::parse_from_rfc3339(&rotation.until)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| {
                        problem(
                            "previous_secret",
                            format!("until `{}` is not an RFC 3339 time: {e}", rotation.until),
                        )
                    })
                    .ok();
                if platform.is_some_and(|p| p != Platform::Generic) {
                    problem(
                        "previous_secret",
                        "only `generic` endpoints sign with Standard Webhooks secrets".into(),
                    );
                }
                let previous = match secrets::resolve(&rotation.name, secrets_dir, &label) {
                    Ok((secret, _)) => match crate::signing::check_standard_secret(&secret) {
                        Ok(()) => Some(secret),
                        Err(error) => {
                            problem(
                                "previous_secret",
                                format!("secret `{}`: {error}", rotation.name),
                            );
                            None
                        }
                    },
                    Err(error) => {
                        problem("previous_secret", error.to_string());
                        None
                    }
                };
                match (previous, until) {
                    (Some(previous), Some(until)) => {
                        Some(crate::endpoint::SecretRotation { previous, until })
                    }
                    _ => None,
                }
            }
        };
        if raw.direct_messages && !raw.headers.is_empty() {
            problem(
                "headers",
                "direct messages go through the platform's API, which takes no custom headers"
                    .into(),
            );
        }
        let headers = match custom_headers(&raw.headers, secrets_dir, &label) {
            Ok(headers) => headers,
            Err(found) => {
                for message in found {
                    problem("headers", message);
                }
                Vec::new()
            }
        };
        let rate_limit = match raw.rate_limit.as_ref().map(FileRateLimit::validate) {
            None => None,
            Some(Ok(limit)) => Some(limit),
            Some(Err(message)) => {
                problem("rate_limit", message);
                None
            }
        };
        let ordering = match (raw.ordering.as_deref(), raw.concurrency) {
            (None | Some("strict"), None | Some(1)) => Some(Ordering::Strict),
            (None | Some("strict"), Some(_)) => {
                problem(
                    "concurrency",
                    "only an endpoint with `ordering: none` sends concurrently".into(),
                );
                None
            }
            (Some("none"), None) => Some(Ordering::Unordered { concurrency: 8 }),
            (Some("none"), Some(n @ 1..=256)) => Some(Ordering::Unordered { concurrency: n }),
            (Some("none"), Some(n)) => {
                problem("concurrency", format!("{n} is outside 1–256"));
                None
            }
            (Some(other), _) => {
                problem(
                    "ordering",
                    format!("`{other}` is neither `strict` nor `none`"),
                );
                None
            }
        };
        if raw.direct_messages {
            check_direct_messages(
                raw,
                platform,
                resolved.as_ref().map(|(s, _)| s),
                &mut problem,
            );
        }
        let route = endpoint_route(raw, &intervals, &defined, &mut problem);
        let (retry, retry_problems) = match raw.retry.as_ref().map(FileRetry::validate) {
            None => (Default::default(), Vec::new()),
            Some(Ok(valid)) => (valid, Vec::new()),
            Some(Err(found)) => (Default::default(), found),
        };
        let locale = match raw.locale.as_deref() {
            None => Some(Locale::En),
            Some(text) => Locale::parse(text).or_else(|| {
                let known: Vec<_> = Locale::ALL.iter().map(|l| l.as_str()).collect();
                problem(
                    "locale",
                    format!("`{text}` is not one of {}", known.join(", ")),
                );
                None
            }),
        };
        let template = match (platform, locale) {
            (Some(platform), Some(locale)) => super::templates::EndpointTemplate {
                written: raw.template.as_ref(),
                platform,
                event_types: &raw.events,
                locale,
                direct_messages: raw.direct_messages,
            }
            .resolve(&defaults),
            _ => Ok(None),
        };
        let template = match template {
            Ok(template) => Some(template),
            Err(found) => {
                problems.extend(template_problems(found, path, &label, index));
                None
            }
        };
        let retry_valid = retry_problems.is_empty();
        for (field, message) in retry_problems {
            problems.push(Problem {
                file: path.to_path_buf(),
                position: None,
                endpoint: label.clone(),
                index: Some(index),
                field,
                message,
            });
        }
        if let (Some(platform), Some(url), Some(ordering), Some(locale), true, Some(template)) =
            (platform, url, ordering, locale, retry_valid, template)
        {
            let (secret, secret_origin) = match resolved {
                Some((secret, origin)) => (Some(secret), Some(origin)),
                None => (None, None),
            };
            out.push((
                Endpoint {
                    id: raw.id.clone(),
                    source: EndpointSource::Config,
                    platform,
                    url,
                    secret,
                    event_types: raw.events.clone(),
                    project_id: match &raw.project {
                        Some(ProjectRef::Id(id)) => Some(*id),
                        _ => None,
                    },
                    project_resource: match &raw.project {
                        Some(ProjectRef::Resource(resource)) => Some(resource.clone()),
                        _ => None,
                    },
                    enabled: raw.enabled,
                    description: raw.description.clone(),
                    ordering,
                    presentation: Presentation {
                        locale,
                        links: links.clone(),
                    },
                    direct_messages: raw.direct_messages,
                    route,
                    retry,
                    previous_secret,
                    headers,
                    rate_limit,
                    template,
                },
                EndpointNotes {
                    secret_name: raw.secret.clone(),
                    secret_origin,
                    allow_insecure_http: raw.allow_insecure_http,
                    previous_secret: raw.previous_secret.clone(),
                    headers: raw.headers.clone(),
                    template: raw.template.clone(),
                },
            ));
        }
    }
    if problems.is_empty() {
        Ok(Validated {
            endpoints: out,
            links,
        })
    } else {
        Err(problems)
    }
}

//! What herald delivers to: an endpoint's identity, platform, address and
//! secret, whichever source (config file or project webhook) it came from.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// The receiving platform: decides the body format, signing and how a
/// response is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Generic,
    Slack,
    Discord,
    /// Teams Workflows (Adaptive Card).
    Teams,
    /// The retired Office 365 connector (`MessageCard`).
    TeamsConnector,
    Feishu,
    Lark,
    Dingtalk,
    Wecom,
    GoogleChat,
}

impl Platform {
    pub const ALL: [Platform; 10] = [
        Platform::Generic,
        Platform::Slack,
        Platform::Discord,
        Platform::Teams,
        Platform::TeamsConnector,
        Platform::Feishu,
        Platform::Lark,
        Platform::Dingtalk,
        Platform::Wecom,
        Platform::GoogleChat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Generic => "generic",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Teams => "teams",
            Platform::TeamsConnector => "teams_connector",
            Platform::Feishu => "feishu",
            Platform::Lark => "lark",
            Platform::Dingtalk => "dingtalk",
            Platform::Wecom => "wecom",
            Platform::GoogleChat => "google_chat",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// Whether every request to this platform is signed, so an endpoint of
    /// this type must have a secret.
    pub fn requires_secret(self) -> bool {
        matches!(self, Platform::Generic)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing secret. Never printed: `Debug` and `Display` mask it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text itself — only for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Whether an endpoint's deliveries go out in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ordering {
    /// One at a time, in event order (the default).
    #[default]
    Strict,
    /// Up to `concurrency` at once, in no particular order (receivers that
    /// deduplicate and do not need order); a crash may resend up to
    /// `concurrency` messages.
    Unordered { concurrency: u16 },
}

impl Ordering {
    /// Sends in flight at once.
    pub fn concurrency(self) -> usize {
        match self {
            Ordering::Strict => 1,
            Ordering::Unordered { concurrency } => usize::from(concurrency.max(1)),
        }
    }
}

/// Where an endpoint was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointSource {
    /// The YAML config file (`--config`).
    Config,
    /// A row of `project_webhook` (id `project-webhook-<row id>`).
    ProjectWebhook,
}

/// An endpoint URL as herald shows it (logs, the attempt log, the API):
/// scheme, host, port and the first characters of the path only, never
/// user info or the query. Incoming-webhook URLs (Slack, Discord, Teams,
/// Feishu, WeCom …) are bearer secrets in themselves, their token in the
/// path or the query.
pub fn redacted_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = url.path();
    let shown: String = path.chars().take(12).collect();
    let more = if path.chars().count() > 12 || url.query().is_some() {
        "…"
    } else {
        ""
    };
    format!("{}://{host}{port}{shown}{more}", url.scheme())
}

/// One delivery target, as the delivery actors see it. `Debug` shows the
/// URL redacted and the secret masked.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    /// Unique across both sources; the outbox's `endpoint_id`.
    pub id: String,
    pub source: EndpointSource,
    pub platform: Platform,
    pub url: Url,
    pub secret: Option<Secret>,
    /// Subscribed event types; `*` is every type.
    pub event_types: Vec<String>,
    /// Only events of this project (None: every project).
    pub project_id: Option<i64>,
    /// Only events of the project with this resource id (`shop`; the
    /// Bytebase source's projects are known by it).
    pub project_resource: Option<String>,
    pub enabled: bool,
    pub description: Option<String>,
    /// In order (default) or up to N at once.
    pub ordering: Ordering,
    /// Language and links of its messages.
    pub presentation: crate::presentation::Presentation,
    /// Send each event to the people it concerns through the platform's
    /// app API (`url` is then the API's base, the secret the app's
    /// credentials), one outbox row per recipient.
    pub direct_messages: bool,
    /// Which of its events it wants (attribute filter) and when it is
    /// quiet (mute windows); config endpoints only.
    pub route: crate::routing::Route,
    /// Its own retry settings, in place of the global ones (config
    /// endpoints only).
    pub retry: crate::delivery::RetryOverride,
    /// A Standard Webhooks secret being rotated out: until `until`, every
    /// request carries a signature with it too (config endpoints only).
    pub previous_secret: Option<SecretRotation>,
    /// Headers added to every webhook request (config endpoints only);
    /// never one herald sets itself (`webhook-*`, `content-type`, …).
    pub headers: Vec<CustomHeader>,
    /// At most this many requests a second, with this burst (config
    /// endpoints only).
    pub rate_limit: Option<crate::delivery::pace::RateLimit>,
    /// Its message template (its own, or its platform's default from the
    /// config); `None`: herald's own body (config endpoints only).
    pub template: Option<std::sync::Arc<crate::formats::template::MessageTemplate>>,
}

/// One custom outbound header.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomHeader {
    /// Lower-case.
    pub name: String,
    pub value: Secret,
    /// Its value came from a secret: masked in the attempt log and the API
    /// whatever the header is called.
    pub secret: bool,
}

impl fmt::Debug for CustomHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret || crate::delivery::http::credential_header(&self.name) {
            write!(f, "{}: ***", self.name)
        } else {
            write!(f, "{}: {}", self.name, self.value.expose())
        }
    }
}

/// Headers herald sets itself, which a custom header may never replace:
/// the Standard Webhooks headers and what HTTP framing owns.
pub const RESERVED_HEADERS: [&str; 13] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "user-agent",
    "content-encoding",
    "accept-encoding",
    "expect",
    "te",
];

/// The previous secret of a rotation and when its grace ends.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretRotation {
    pub previous: Secret,
    pub until: chrono::DateTime<chrono::Utc>,
}

impl SecretRotation {
    /// The previous secret, while its grace lasts at `now`.
    pub fn active_at(&self, now: chrono::DateTime<chrono::Utc>) -> Option<&Secret> {
        (now < self.until).then_some(&self.previous)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("source", &self.source)
            .field("platform", &self.platform)
            .field("url", &redacted_url(&self.url))
            .field("secret", &self.secret)
            .field("event_types", &self.event_types)
            .field("project_id", &self.project_id)
            .field("project_resource", &self.project_resource)
            .field("enabled", &self.enabled)
            .field("description", &self.description)
            .field("ordering", &self.ordering)
            .field("locale", &self.presentation.locale)
            .field("direct_messages", &self.direct_messages)
            .field("filter", &self.route.filter.to_string())
            .field("retry", &self.retry)
            .field("previous_secret", &self.previous_secret)
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl Endpoint {
    /// The outbox id of a project webhook row.
    pub fn project_webhook_id(row_id: i64) -> String {
        format!("project-webhook-{row_id}")
    }

    pub fn subscribes_to(&self, event_type: &str) -> bool {
        self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

//! Turning an [`Event`] into the request one platform expects, and judging
//! that platform's response. One module per platform.
//!
//! - Owns: body shapes, mentions, signing headers, platform error bodies.
//! - Every platform body is built from one neutral [`summary::Message`]
//!   (title, severity, fields, list, mentions, footer); the platform
//!   modules only decide layout and mention syntax. Feishu and Lark share
//!   `feishu.rs` (same bot API, two hosts).
//! - Does not: send anything (that is `actors::delivery`).

pub mod catalogue;
mod dingtalk;
pub mod direct;
mod discord;
mod feishu;
mod generic;
mod google_chat;
pub mod handles;
pub mod limits;
mod reply;
pub mod samples;
mod slack;
pub mod summary;
mod teams;
mod teams_connector;
pub mod template;
pub mod text;
mod wecom;

use chrono::{DateTime, Utc};
use url::Url;

pub use reply::{check_response, Reply};

use crate::endpoint::{Endpoint, Platform, Secret};
use crate::events::Event;
use limits::Budget;
use summary::Message;

/// A request ready to POST: body and the headers that go with it
/// (content type, signatures).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRequest {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// POST here instead of the endpoint's URL when set (DingTalk with a
    /// secret: the signature travels as `timestamp` / `sign` query
    /// parameters).
    pub url: Option<Url>,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("endpoint {endpoint}: {platform} requests must be signed but it has no secret")]
    MissingSecret {
        endpoint: String,
        platform: Platform,
    },
    #[error("endpoint {endpoint}: secret is not usable: {detail}")]
    BadSecret { endpoint: String, detail: String },
    #[error("cannot serialize {platform} body: {source}")]
    Serialize {
        platform: Platform,
        source: serde_json::Error,
    },
    /// Even the smallest form of the message breaks a documented limit.
    #[error("the {platform} message cannot fit the platform's limits: {violation}")]
    TooLarge {
        platform: Platform,
        violation: String,
    },
}

/// `Ok` when `bytes` is at most `max`.
fn within_bytes(bytes: usize, max: usize) -> Result<(), String> {
    if bytes > max {
        Err(format!("{bytes} bytes > {max}"))
    } else {
        Ok(())
    }
}

/// A fitted message laid out for `platform`.
fn layout(
    platform: Platform,
    message: &Message,
    secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> serde_json::Value {
    match platform {
        Platform::Slack => slack::body(message),
        Platform::Discord => discord::body(message),
        Platform::Teams => teams::body(message),
        Platform::TeamsConnector => teams_connector::body(message),
        Platform::Feishu => feishu::body(message, feishu::FEISHU, secret, now),
        Platform::Lark => feishu::body(message, feishu::LARK, secret, now),
        Platform::Dingtalk => dingtalk::body(message),
        Platform::Wecom => wecom::body(message),
        Platform::GoogleChat => google_chat::body(message),
        Platform::Generic => serde_json::Value::Null,
    }
}

/// A body against every documented limit of `platform` ([`limits`]).
pub fn check_limits(
    platform: Platform,
    body: &serde_json::Value,
    bytes: usize,
) -> Result<(), String> {
    match platform {
        Platform::Slack => slack::check(body),
        Platform::Discord => discord::check(body),
        Platform::Teams => teams::check(body, bytes),
        Platform::TeamsConnector => teams_connector::check(body, bytes),
        Platform::Feishu | Platform::Lark => feishu::check(body, bytes),
        Platform::Dingtalk => dingtalk::check(body, bytes),
        Platform::Wecom => wecom::check(body, bytes),
        Platform::GoogleChat => google_chat::check(body, bytes),
        Platform::Generic => Ok(()),
    }
}

/// The body of `message` on `platform`, fitted: starting from the
/// platform's budget, halved until the body passes [`check_limits`].
fn fitted_body(
    platform: Platform,
    message: &Message,
    secret: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, FormatError> {
    let mut budget = limits::starting_budget(platform);
    loop {
        let body = layout(platform, &message.fit(&budget), secret, now);
        let bytes = serde_json::to_vec(&body)
            .map_err(|source| FormatError::Serialize { platform, source })?;
        match check_limits(platform, &body, bytes.len()) {
            Ok(()) => return Ok(bytes),
            Err(violation) if budget == Budget::FLOOR => {
                return Err(FormatError::TooLarge {
                    platform,
                    violation,
                })
            }
            Err(_) => budget = budget.shrink(),
        }
    }
}

/// Render `event` for `endpoint`; `now` is the attempt's time (signatures).
/// An endpoint's template that fails or cannot fit is logged
/// (`template.fallback`) and herald's own body is sent instead.
pub fn render(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    let (request, fallback) = render_explained(endpoint, event, now)?;
    if let Some(reason) = fallback {
        tracing::warn!(
            event = "template.fallback",
            endpoint = %endpoint.id,
            event_id = %event.id,
            reason = %reason,
            "the endpoint's template was not used; herald's own body was sent"
        );
    }
    Ok(request)
}

/// [`render`], saying why the endpoint's template was not used (if it has
/// one and it was not).
pub fn render_explained(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<(RenderedRequest, Option<String>), FormatError> {
    if let Some(template) = &endpoint.template {
        match templated(endpoint, template, event, now) {
            Ok(request) => return Ok((request, None)),
            Err(Fallback::Because(reason)) => {
                return built_in(endpoint, event, now).map(|r| (r, Some(reason)))
            }
            Err(Fallback::Format(error)) => return Err(error),
        }
    }
    built_in(endpoint, event, now).map(|r| (r, None))
}

/// Why a templated body was not sent.
enum Fallback {
    /// The template failed or its message cannot fit: send herald's own.
    Because(String),
    /// Nothing can be sent (no secret…): herald's own would fail the same way.
    Format(FormatError),
}

fn templated(
    endpoint: &Endpoint,
    template: &template::MessageTemplate,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, Fallback> {
    let platform = endpoint.platform;
    let links = endpoint.presentation.links.expand(event);
    if platform == Platform::Generic {
        let body = template
            .body(event, &links, endpoint.presentation.locale)
            .map_err(|e| Fallback::Because(e.to_string()))?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|source| Fallback::Format(FormatError::Serialize { platform, source }))?;
        return generic::signed(endpoint, event, bytes, now).map_err(Fallback::Format);
    }
    let mut base = summary::summarize(event, endpoint.presentation.locale);
    base.links = links;
    let message = template
        .message(event, base)
        .map_err(|e| Fallback::Because(e.to_string()))?;
    chat_request(endpoint, &message, now).map_err(|error| match error {
        FormatError::TooLarge { violation, .. } => Fallback::Because(format!(
            "its message cannot fit the platform's limits: {violation}"
        )),
        other => Fallback::Format(other),
    })
}

/// herald's own body for `event`.
fn built_in(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    if endpoint.platform == Platform::Generic {
        return generic::render(endpoint, event, now);
    }
    let mut message = summary::summarize(event, endpoint.presentation.locale);
    message.links = endpoint.presentation.links.expand(event);
    chat_request(endpoint, &message, now)
}

/// The request carrying `message` to a chat platform, fitted.
fn chat_request(
    endpoint: &Endpoint,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    let platform = endpoint.platform;
    let secret = endpoint.secret.as_ref();
    let url = match (platform, secret) {
        (Platform::Dingtalk, Some(secret)) => {
            Some(dingtalk::signed_url(&endpoint.url, secret, now))
        }
        _ => None,
    };
    Ok(RenderedRequest {
        body: fitted_body(platform, message, secret, now)?,
        headers: vec![("content-type".into(), "application/json".into())],
        url,
    })
}

#[cfg(test)]
mod fidelity;
#[cfg(test)]
mod fidelity_templates;
#[cfg(test)]
mod tests;

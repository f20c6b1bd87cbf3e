//! Turning an [`Event`] into the request one platform expects, and judging
//! that platform's response. One module per platform.
//!
//! - Owns: body shapes, mentions, signing headers, platform error bodies.
//! - Every platform body is built from one neutral [`summary::Message`]
//!   (title, severity, fields, list, mentions, footer); the platform
//!   modules only decide layout and mention syntax. Feishu and Lark share
//!   `feishu.rs` (same bot API, two hosts).
//! - Does not: send anything (that is `actors::delivery`).

mod dingtalk;
mod discord;
mod feishu;
mod generic;
mod google_chat;
pub mod samples;
mod slack;
pub mod summary;
mod teams;
mod wecom;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use url::Url;

use crate::endpoint::{Endpoint, Platform};
use crate::events::Event;

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
}

/// Render `event` for `endpoint`; `now` is the attempt's time (signatures).
pub fn render(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    let platform = endpoint.platform;
    if platform == Platform::Generic {
        return generic::render(endpoint, event, now);
    }
    let message = summary::summarize(event);
    let secret = endpoint.secret.as_ref();
    let mut url = None;
    let body = match platform {
        Platform::Generic => unreachable!("handled above"),
        Platform::Slack => slack::body(&message),
        Platform::Discord => discord::body(&message),
        Platform::Teams => teams::body(&message),
        Platform::Feishu | Platform::Lark => feishu::body(&message, secret, now),
        Platform::Dingtalk => {
            url = secret.map(|s| dingtalk::signed_url(&endpoint.url, s, now));
            dingtalk::body(&message)
        }
        Platform::Wecom => wecom::body(&message),
        Platform::GoogleChat => google_chat::body(&message),
    };
    let body =
        serde_json::to_vec(&body).map_err(|source| FormatError::Serialize { platform, source })?;
    Ok(RenderedRequest {
        body,
        headers: vec![("content-type".into(), "application/json".into())],
        url,
    })
}

/// The error fields some platforms put in a 2xx body.
#[derive(Debug, Default, Deserialize)]
struct PlatformReply {
    /// Feishu / Lark (older bots: `StatusCode` / `StatusMessage`).
    #[serde(alias = "StatusCode")]
    code: Option<i64>,
    #[serde(alias = "StatusMessage")]
    msg: Option<String>,
    /// DingTalk / WeCom.
    errcode: Option<i64>,
    errmsg: Option<String>,
}

const EXCERPT_CHARS: usize = 200;

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.chars().count() <= EXCERPT_CHARS {
        text.to_string()
    } else {
        let cut: String = text.chars().take(EXCERPT_CHARS).collect();
        format!("{cut}…")
    }
}

/// Judge a response: `Ok` when the platform accepted the message, otherwise
/// the reason (some platforms report errors inside an HTTP 200).
pub fn check_response(platform: Platform, status: u16, body: &[u8]) -> Result<(), String> {
    if !(200..300).contains(&status) {
        let detail = excerpt(body);
        return Err(if detail.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {detail}")
        });
    }
    let reply = || serde_json::from_slice::<PlatformReply>(body).unwrap_or_default();
    match platform {
        Platform::Feishu | Platform::Lark => match reply() {
            PlatformReply {
                code: Some(code),
                msg,
                ..
            } if code != 0 => Err(format!(
                "{platform} code {code}: {}",
                msg.unwrap_or_default()
            )),
            _ => Ok(()),
        },
        Platform::Dingtalk | Platform::Wecom => match reply() {
            PlatformReply {
                errcode: Some(code),
                errmsg,
                ..
            } if code != 0 => Err(format!(
                "{platform} errcode {code}: {}",
                errmsg.unwrap_or_default()
            )),
            _ => Ok(()),
        },
        Platform::Teams => {
            // Office 365 connectors answer some failures with HTTP 200 and text.
            let text = excerpt(body);
            if text.starts_with("Webhook message delivery failed") {
                Err(format!("teams: {text}"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;

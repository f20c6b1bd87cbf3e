//! `generic`: the event as JSON, signed with Standard Webhooks.

use chrono::{DateTime, Utc};

use super::{FormatError, RenderedRequest};
use crate::endpoint::{Endpoint, Platform};
use crate::events::Event;
use crate::presentation::Links;
use crate::signing::{self, SigningKey};

/// The event as JSON, with a `links` object when the config has link
/// templates the event can fill.
fn body(event: &Event, links: &Links) -> Result<Vec<u8>, FormatError> {
    let serialize = |e| FormatError::Serialize {
        platform: Platform::Generic,
        source: e,
    };
    if links.is_empty() {
        return serde_json::to_vec(event).map_err(serialize);
    }
    let mut value = serde_json::to_value(event).map_err(serialize)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("links".into(), links.to_json());
    }
    serde_json::to_vec(&value).map_err(serialize)
}

pub fn render(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    let body = body(event, &endpoint.presentation.links.expand(event))?;
    signed(endpoint, event, body, now)
}

/// `body` as the request for `event`, signed with the endpoint's secret
/// (and, during a rotation's grace, the previous one).
pub fn signed(
    endpoint: &Endpoint,
    event: &Event,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<RenderedRequest, FormatError> {
    let secret = endpoint
        .secret
        .as_ref()
        .ok_or_else(|| FormatError::MissingSecret {
            endpoint: endpoint.id.clone(),
            platform: Platform::Generic,
        })?;
    let key = SigningKey::from_secret(secret).map_err(|e| FormatError::BadSecret {
        endpoint: endpoint.id.clone(),
        detail: e.to_string(),
    })?;
    let id = event.webhook_id();
    let timestamp = now.timestamp();
    let mut signature = key.sign(&id, timestamp, &body);
    // During a rotation's grace both signatures go, space-separated, as the
    // standard allows, so a receiver verifies with either secret.
    if let Some(previous) = endpoint
        .previous_secret
        .as_ref()
        .and_then(|r| r.active_at(now))
    {
        let old = SigningKey::from_secret(previous).map_err(|e| FormatError::BadSecret {
            endpoint: endpoint.id.clone(),
            detail: format!("previous secret: {e}"),
        })?;
        signature.push(' ');
        signature.push_str(&old.sign(&id, timestamp, &body));
    }
    Ok(RenderedRequest {
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (signing::HEADER_ID.into(), id),
            (signing::HEADER_TIMESTAMP.into(), timestamp.to_string()),
            (signing::HEADER_SIGNATURE.into(), signature),
        ],
        body,
        url: None,
    })
}

//! Turning an [`Event`] into the request one platform expects, and judging
//! that platform's response. One module per platform.
//!
//! - Owns: body shapes, mentions, signing headers, platform error bodies.
//! - Does not: send anything (that is `actors::delivery`).

mod generic;

use chrono::{DateTime, Utc};

use crate::endpoint::{Endpoint, Platform};
use crate::events::Event;

/// A request ready to POST: body and the headers that go with it
/// (content type, signatures).
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedRequest {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Overrides the endpoint's URL (platforms that sign in the query string).
    pub url: Option<url::Url>,
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
    match endpoint.platform {
        Platform::Generic => generic::render(endpoint, event, now),
        // Each platform gets its own module; until then, the generic body.
        _ => generic::render_unsigned(endpoint, event),
    }
}

/// Judge a response: `Ok` when the platform accepted the message, otherwise
/// the reason (some platforms report errors inside an HTTP 200).
pub fn check_response(platform: Platform, status: u16, body: &[u8]) -> Result<(), String> {
    let _ = (platform, body);
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

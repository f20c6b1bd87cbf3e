//! What several routes read from a request: an optional JSON body, who
//! asks, an event id in either form, a time or an age.

use chrono::{DateTime, Utc};

use crate::admin::error::refuse_nul;
use crate::admin::ApiError;

/// An optional JSON body: empty is the default.
pub fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("bad JSON body: {e}")))
}

/// Who asked: `given` (checked), or `admin-api`.
pub fn requester(given: Option<String>) -> Result<String, ApiError> {
    let Some(given) = given else {
        return Ok("admin-api".into());
    };
    refuse_nul("requested_by", &given)?;
    let given = given.trim();
    if given.is_empty() || given.len() > 200 {
        return Err(ApiError::BadRequest(
            "requested_by must be 1–200 bytes".into(),
        ));
    }
    Ok(given.to_owned())
}

/// An event id given as a UUID or as a `webhook-id` (`msg_` + 32 hex).
pub fn parse_event_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    let bare = text.strip_prefix("msg_").unwrap_or(text);
    uuid::Uuid::try_parse(bare).map_err(|_| {
        ApiError::BadRequest(format!(
            "{text:?} is neither an event id (UUID) nor a webhook-id (msg_…)"
        ))
    })
}

/// A time given as RFC 3339 or as an age (`30m`: that long ago).
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        ApiError::BadRequest(format!(
            "since={text:?} is neither an RFC 3339 time nor an age like 30m"
        ))
    })?;
    let age = chrono::Duration::from_std(age)
        .map_err(|_| ApiError::BadRequest(format!("since={text:?} is too long ago")))?;
    Ok(Utc::now() - age)
}

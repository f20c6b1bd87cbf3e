//! One attempt, as the delivery actor makes it: render and send (a webhook,
//! or a direct message's API conversation) on the HTTP runtime, bounded as
//! a whole by the request timeout, and what the answer means for
//! [`verdict::decide`](super::verdict::decide).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::direct::{self, DirectAttempt};
use super::http::{self, HttpOutcome, HttpSender};
use super::retry::parse_retry_after;
use super::verdict::AttemptResult;
use crate::endpoint::Endpoint;
use crate::events::Event;
use crate::formats::{self, Reply};

/// What one attempt came to: the HTTP outcome (if a request was made), why
/// nothing could be sent, and an app API's verdict (direct messages).
pub type Answered = (Option<HttpOutcome>, Option<String>, Option<Reply>);

/// How long one request and one attempt may take, and how much of a
/// response is read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request: Duration,
    /// [`LeaseTiming::attempt_bound`](super::ownership::LeaseTiming::attempt_bound).
    pub attempt: Duration,
    pub body: usize,
}

/// Render and send `event` through `endpoint` (to `recipient`, for a
/// direct message) on the sender's runtime, within `limits`.
pub async fn send(
    sender: &HttpSender,
    endpoint: Arc<Endpoint>,
    event: Arc<Event>,
    recipient: String,
    started_at: DateTime<Utc>,
    limits: Limits,
) -> Answered {
    let Limits {
        request: timeout,
        attempt: bound,
        body: limit,
    } = limits;
    let client = sender.client().clone();
    let tokens = sender.tokens().clone();
    let work = {
        let conversation = async move {
            if endpoint.direct_messages {
                let call = direct::Call {
                    client: &client,
                    tokens: &tokens,
                    timeout,
                    limit,
                };
                return match direct::send(&call, &endpoint, &event, &recipient, started_at).await {
                    DirectAttempt::NotSendable(reason) => (None, Some(reason), None),
                    DirectAttempt::Answered { outcome, reply } => (Some(*outcome), None, reply),
                };
            }
            match formats::render(&endpoint, &event, started_at) {
                Ok(mut request) => {
                    with_custom_headers(&mut request, &endpoint.headers);
                    let url = request.url.as_ref().unwrap_or(&endpoint.url);
                    let mut outcome = http::post(&client, url, &request, timeout, limit).await;
                    mask_secret_headers(&mut outcome, &endpoint.headers);
                    (Some(outcome), None, None)
                }
                Err(error) => (None, Some(error.to_string()), None),
            }
        };
        // The attempt as a whole (a direct message's calls together) ends
        // within the lease's attempt bound: the request timeout plus an
        // eighth, so that one request's own timeout (a body read until
        // its deadline) always answers first; the lease was checked to
        // have room for that and the record.
        async move {
            let began = Instant::now();
            match tokio::time::timeout(bound, conversation).await {
                Ok(answered) => answered,
                Err(_) => (
                    Some(HttpOutcome::transport_error(
                        format!(
                            "timed out after {} (the attempt as a whole)",
                            humantime::format_duration(bound)
                        ),
                        began.elapsed(),
                    )),
                    None,
                    None,
                ),
            }
        }
    };
    sender.run(work).await.unwrap_or_else(|error| {
        (
            None,
            Some(format!("rendering or sending failed: {error}")),
            None,
        )
    })
}

/// What an attempt came to: `judged` is an app API's verdict (direct
/// messages), otherwise the response is judged by the platform's rules.
pub fn result<'a>(
    outcome: Option<&'a HttpOutcome>,
    render_error: Option<&'a str>,
    judged: Option<&'a Reply>,
    now: chrono::DateTime<Utc>,
) -> AttemptResult<'a> {
    let Some(outcome) = outcome else {
        return AttemptResult::NotRendered(render_error.unwrap_or("cannot render"));
    };
    let retry_after = || {
        outcome
            .retry_after
            .as_deref()
            .and_then(|value| parse_retry_after(value, now))
    };
    match (&outcome.error, outcome.status, judged) {
        (Some(error), _, _) if outcome.refused => AttemptResult::Refused(error),
        (Some(error), _, _) => AttemptResult::Transport(error),
        (None, Some(_), Some(reply)) => AttemptResult::Judged {
            reply,
            retry_after: retry_after(),
        },
        (None, Some(status), None) => AttemptResult::Response {
            status,
            retry_after: retry_after(),
            body: &outcome.body,
        },
        (None, None, _) => AttemptResult::Transport("no response"),
    }
}

/// Add an endpoint's custom headers; one that names a header herald set
/// (validation refuses those; a project webhook has none) is skipped.
fn with_custom_headers(
    request: &mut formats::RenderedRequest,
    headers: &[crate::endpoint::CustomHeader],
) {
    for header in headers {
        let taken = request
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(&header.name));
        if !taken && !crate::endpoint::RESERVED_HEADERS.contains(&header.name.as_str()) {
            request
                .headers
                .push((header.name.clone(), header.value.expose().to_owned()));
        }
    }
}

/// The attempt log never keeps a header value that came from a secret:
/// not in the request as sent, nor echoed back in the answer.
fn mask_secret_headers(outcome: &mut HttpOutcome, headers: &[crate::endpoint::CustomHeader]) {
    for header in headers
        .iter()
        .filter(|h| h.secret && !h.value.expose().is_empty())
    {
        if let Some(excerpt) = &outcome.body_excerpt {
            if excerpt.as_str().contains(header.value.expose()) {
                let masked = excerpt.as_str().replace(header.value.expose(), "****");
                outcome.body_excerpt =
                    Some(crate::store::text::RecordText::excerpt(masked.as_bytes()));
            }
        }
    }
    let Some(sent) = outcome.request.as_mut() else {
        return;
    };
    for (name, value) in sent.headers.iter_mut() {
        if headers
            .iter()
            .any(|h| h.secret && h.name.eq_ignore_ascii_case(name))
        {
            *value = "****".into();
        }
    }
}

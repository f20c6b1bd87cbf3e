//! One direct-message attempt: the app API conversation for one recipient
//! (`formats::direct` decides what is said and how answers are judged).
//! Every request goes through [`http::post`], so it has the same
//! timeouts, response cap and destination policy as a webhook.
//!
//! The attempt log keeps the last request's answer. A Feishu token answer
//! is never kept when it succeeded (it holds the token); the credentials
//! and tokens travel only in request bodies and `Authorization` headers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::http::{self, HttpOutcome};
use crate::endpoint::{Endpoint, Platform};
use crate::events::Event;
use crate::formats::direct::{self as api, Address, SlackAddress};
use crate::formats::{RenderedRequest, Reply};

/// What one direct-message attempt came to.
pub enum DirectAttempt {
    /// Nothing could be sent (no such recipient, no way to reach them, a
    /// message that cannot fit): failed for good with this reason.
    NotSendable(String),
    /// The last request made and the API's verdict on it.
    Answered {
        outcome: Box<HttpOutcome>,
        reply: Option<Reply>,
    },
}

/// Request settings shared by every call of one attempt.
pub struct Call<'a> {
    pub client: &'a reqwest::Client,
    pub timeout: Duration,
    pub limit: usize,
}

impl Call<'_> {
    async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        content_type: &str,
        bearer: Option<&str>,
    ) -> HttpOutcome {
        let mut headers = vec![("content-type".to_owned(), content_type.to_owned())];
        if let Some(token) = bearer {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let request = RenderedRequest {
            body,
            headers,
            url: None,
        };
        http::post(self.client, url, &request, self.timeout, self.limit).await
    }

    async fn post_json(
        &self,
        url: &Url,
        body: &serde_json::Value,
        bearer: Option<&str>,
    ) -> HttpOutcome {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.post(url, bytes, "application/json; charset=utf-8", bearer)
            .await
    }
}

/// `base` + `/` + `path` (the endpoint's URL is the API's base).
fn method(base: &Url, path: &str) -> Result<Url, String> {
    Url::parse(&format!("{}/{path}", base.as_str().trim_end_matches('/')))
        .map_err(|e| format!("API URL: {e}"))
}

/// The verdict on `outcome`, `None` when no answer came (transport error).
fn judge(platform: Platform, outcome: &HttpOutcome) -> Option<Reply> {
    let status = outcome.status?;
    Some(api::check_api_response(
        platform,
        status,
        outcome.retry_after.is_some(),
        &outcome.body,
    ))
}

/// Send `event` to `recipient` (a user id) through `endpoint`'s app.
pub async fn send(
    call: &Call<'_>,
    endpoint: &Endpoint,
    event: &Event,
    recipient: &str,
    now: DateTime<Utc>,
) -> DirectAttempt {
    match attempt(call, endpoint, event, recipient, now).await {
        Ok(answered) | Err(answered) => answered,
    }
}

/// `Err` ends the conversation early with that attempt.
async fn attempt(
    call: &Call<'_>,
    endpoint: &Endpoint,
    event: &Event,
    recipient: &str,
    now: DateTime<Utc>,
) -> Result<DirectAttempt, DirectAttempt> {
    let not_sendable = DirectAttempt::NotSendable;
    let platform = endpoint.platform;
    let person = api::recipient(event, recipient).ok_or_else(|| {
        not_sendable(format!(
            "recipient {recipient:?} is not among the people of this {} event",
            event.event_type
        ))
    })?;
    let address = api::address(platform, &person).map_err(not_sendable)?;
    let message = api::message(endpoint, event, now).map_err(|e| not_sendable(e.to_string()))?;
    let secret = endpoint
        .secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .ok_or_else(|| not_sendable("no app credentials (secret)".into()))?;
    let base = &endpoint.url;
    // Ends the conversation unless the answer is accepted.
    let accepted = |outcome: HttpOutcome| -> Result<HttpOutcome, DirectAttempt> {
        match judge(platform, &outcome) {
            Some(Reply::Accepted) => Ok(outcome),
            reply => Err(DirectAttempt::Answered {
                outcome: Box::new(outcome),
                reply,
            }),
        }
    };
    let last = match address {
        Address::Slack(slack) => {
            let member = match slack {
                SlackAddress::Member(member) => member,
                SlackAddress::Email(email) => {
                    let form = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("email", &email)
                        .finish();
                    let url = method(base, "users.lookupByEmail").map_err(not_sendable)?;
                    let outcome = accepted(
                        call.post(
                            &url,
                            form.into_bytes(),
                            "application/x-www-form-urlencoded",
                            Some(&secret),
                        )
                        .await,
                    )?;
                    api::slack_member(&outcome.body).ok_or_else(|| DirectAttempt::Answered {
                        reply: Some(Reply::Failed(
                            "Slack: users.lookupByEmail answered without a member id".into(),
                        )),
                        // The answer is a user's profile: not kept in the log.
                        outcome: Box::new(HttpOutcome {
                            body: Vec::new(),
                            body_excerpt: None,
                            ..outcome
                        }),
                    })?
                }
            };
            let url = method(base, "chat.postMessage").map_err(not_sendable)?;
            call.post_json(&url, &api::slack_post(message, &member), Some(&secret))
                .await
        }
        Address::Feishu { id_type, id } => {
            let (app_id, app_secret) = secret
                .split_once(':')
                .ok_or_else(|| not_sendable("app credentials are not app_id:app_secret".into()))?;
            let url = method(base, "auth/v3/tenant_access_token/internal").map_err(not_sendable)?;
            let credentials = serde_json::json!({"app_id": app_id, "app_secret": app_secret});
            // The token call's body is the app secret: never kept.
            let outcome = accepted(
                call.post_json(&url, &credentials, None)
                    .await
                    .without_request(),
            )?;
            let token =
                api::feishu_token(&outcome.body).ok_or_else(|| DirectAttempt::Answered {
                    reply: Some(Reply::Failed(format!(
                        "{platform}: the token answer has no tenant_access_token"
                    ))),
                    outcome: Box::new(HttpOutcome {
                        body: Vec::new(),
                        body_excerpt: None,
                        ..outcome
                    }),
                })?;
            let mut url = method(base, "im/v1/messages").map_err(not_sendable)?;
            url.query_pairs_mut()
                .append_pair("receive_id_type", id_type);
            call.post_json(&url, &api::feishu_post(&message, &id), Some(&token))
                .await
        }
    };
    let reply = judge(platform, &last);
    Ok(DirectAttempt::Answered {
        outcome: Box::new(last),
        reply,
    })
}

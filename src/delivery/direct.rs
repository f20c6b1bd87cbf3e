//! One direct-message attempt: the app API conversation for one recipient
//! (`formats::direct` decides what is said and how answers are judged).
//! Every request goes through [`http::post`], so it has the same
//! timeouts, response cap and destination policy as a webhook.
//!
//! The attempt log keeps the last request's answer. A token call is never
//! kept (its request holds the app's secret, its answer the token); tokens
//! are cached per app (`app_tokens`) and travel only in `Authorization`
//! headers or, where the platform wants it (WeCom, DingTalk), the
//! `access_token` query parameter, which herald never records or logs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use url::Url;

use super::app_tokens::{self, AppTokens};
use super::http::{self, HttpOutcome};
use crate::endpoint::{Endpoint, Platform};
use crate::events::Event;
use crate::formats::direct::{self as api, Address, SlackAddress, WorkAddress};
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
    /// The replica's app tokens.
    pub tokens: &'a AppTokens,
    pub timeout: Duration,
    pub limit: usize,
}

impl Call<'_> {
    async fn send(
        &self,
        method: reqwest::Method,
        url: &Url,
        body: Vec<u8>,
        content_type: Option<&str>,
        bearer: Option<&str>,
    ) -> HttpOutcome {
        let mut headers = Vec::new();
        if let Some(content_type) = content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        if let Some(token) = bearer {
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let request = RenderedRequest {
            body,
            headers,
            url: None,
        };
        http::send(self.client, method, url, &request, self.timeout, self.limit).await
    }

    async fn post(
        &self,
        url: &Url,
        body: Vec<u8>,
        content_type: &str,
        bearer: Option<&str>,
    ) -> HttpOutcome {
        self.send(reqwest::Method::POST, url, body, Some(content_type), bearer)
            .await
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

    async fn get(&self, url: &Url, bearer: Option<&str>) -> HttpOutcome {
        self.send(reqwest::Method::GET, url, Vec::new(), None, bearer)
            .await
    }
}

/// `base` + `/` + `path` (the endpoint's URL is the API's base).
fn method(base: &Url, path: &str) -> Result<Url, String> {
    Url::parse(&format!("{}/{path}", base.as_str().trim_end_matches('/')))
        .map_err(|e| format!("API URL: {e}"))
}

/// `method(base, path)` with `query` appended.
fn method_with(base: &Url, path: &str, query: &[(&str, &str)]) -> Result<Url, String> {
    let mut url = method(base, path)?;
    url.query_pairs_mut().extend_pairs(query);
    Ok(url)
}

/// The verdict on `outcome` (`None` when no answer came: a transport
/// error), and whether the app's token must be forgotten.
fn judge(platform: Platform, outcome: &HttpOutcome) -> (Option<Reply>, bool) {
    match outcome.status {
        Some(status) => {
            let (reply, forget) = api::api_verdict(
                platform,
                status,
                outcome.retry_after.is_some(),
                &outcome.body,
            );
            (Some(reply), forget)
        }
        None => (None, false),
    }
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

/// An answer that was not kept (it held a token or a person's profile).
fn unkept(outcome: HttpOutcome, reason: String) -> DirectAttempt {
    DirectAttempt::Answered {
        reply: Some(Reply::Failed(reason)),
        outcome: Box::new(HttpOutcome {
            body: Vec::new(),
            body_excerpt: None,
            ..outcome
        }),
    }
}

/// One conversation with an app API: each answer judged, the app's token
/// forgotten when the platform refuses it.
struct Conversation<'a> {
    call: &'a Call<'a>,
    platform: Platform,
    /// The app's token cache key.
    key: [u8; 32],
}

impl Conversation<'_> {
    /// `outcome` if the API accepted it; else the attempt ends with it.
    fn accepted(&self, outcome: HttpOutcome) -> Result<HttpOutcome, DirectAttempt> {
        match judge(self.platform, &outcome) {
            (Some(Reply::Accepted), _) => Ok(outcome),
            (reply, forget) => {
                if forget {
                    self.call.tokens.forget(&self.key);
                }
                Err(DirectAttempt::Answered {
                    outcome: Box::new(outcome),
                    reply,
                })
            }
        }
    }

    /// The app's token: cached, or fetched by `fetch` and read by `read`.
    /// The token call is never kept (its request holds the app's secret,
    /// its answer the token).
    async fn token(
        &self,
        fetch: impl std::future::Future<Output = HttpOutcome>,
        read: impl Fn(&[u8]) -> Option<(String, Duration)>,
    ) -> Result<String, DirectAttempt> {
        if let Some(token) = self.call.tokens.get(&self.key) {
            return Ok(token);
        }
        let _one = self.call.tokens.fetching(&self.key).await;
        // Another sender may have fetched it while this one waited.
        if let Some(token) = self.call.tokens.get(&self.key) {
            return Ok(token);
        }
        let outcome = match self.accepted(fetch.await.without_request()) {
            Ok(outcome) => outcome,
            Err(failed) => {
                // A rotated refresh token the sign-in refused: the next
                // attempt signs in with the configured one. (Not on a
                // timeout or a 5xx: the rotated one may be the only valid.)
                if matches!(
                    &failed,
                    DirectAttempt::Answered {
                        reply: Some(Reply::Rejected(_)),
                        ..
                    }
                ) {
                    self.call.tokens.forget_refresh_token(&self.key);
                }
                return Err(failed);
            }
        };
        let platform = self.platform;
        match read(&outcome.body) {
            Some((token, lives)) => {
                self.call.tokens.put(self.key, token.clone(), lives);
                Ok(token)
            }
            None => Err(unkept(
                outcome,
                format!("{platform}: the token answer has no token"),
            )),
        }
    }

    /// The last call's outcome, judged (forgetting the token if refused).
    fn last(&self, outcome: HttpOutcome) -> DirectAttempt {
        let (reply, forget) = judge(self.platform, &outcome);
        if forget {
            self.call.tokens.forget(&self.key);
        }
        DirectAttempt::Answered {
            outcome: Box::new(outcome),
            reply,
        }
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
    let talk = Conversation {
        call,
        platform,
        key: app_tokens::key(base, &secret),
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
                    let outcome = talk.accepted(
                        call.post(
                            &url,
                            form.into_bytes(),
                            "application/x-www-form-urlencoded",
                            Some(&secret),
                        )
                        .await,
                    )?;
                    // The answer is a user's profile: not kept in the log.
                    api::slack_member(&outcome.body).ok_or_else(|| {
                        unkept(
                            outcome,
                            "Slack: users.lookupByEmail answered without a member id".into(),
                        )
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
            let token = talk
                .token(call.post_json(&url, &credentials, None), api::feishu_token)
                .await?;
            let url = method_with(base, "im/v1/messages", &[("receive_id_type", id_type)])
                .map_err(not_sendable)?;
            call.post_json(&url, &api::feishu_post(&message, &id), Some(&token))
                .await
        }
        Address::Wecom(person) | Address::Dingtalk(person) => {
            let work = api::work_api(platform)
                .ok_or_else(|| not_sendable(format!("{platform} has no work app API")))?;
            let app = (work.credentials)(&secret).map_err(not_sendable)?;
            let query = (work.token_query)(&app);
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let url = method_with(base, work.token_path, &query).map_err(not_sendable)?;
            let token = talk
                .token(call.get(&url, None), |body| {
                    api::Answer::parse(body).token()
                })
                .await?;
            let auth = [("access_token", token.as_str())];
            let userid = match person {
                WorkAddress::UserId(id) => id,
                WorkAddress::Lookup(by) => {
                    let url = method_with(base, work.lookup_path, &auth).map_err(not_sendable)?;
                    let outcome =
                        talk.accepted(call.post_json(&url, &(work.lookup_body)(&by), None).await)?;
                    // The answer is about a person: not kept in the log.
                    api::Answer::parse(&outcome.body).user_id().ok_or_else(|| {
                        unkept(
                            outcome,
                            format!("{platform}: the lookup answered without a user id"),
                        )
                    })?
                }
            };
            let url = method_with(base, work.send_path, &auth).map_err(not_sendable)?;
            call.post_json(&url, &(work.send_body)(message, &userid, app.agent), None)
                .await
        }
        Address::Teams(person) => {
            let app = api::teams::credentials(&secret).map_err(not_sendable)?;
            let login = api::teams::login_base(base);
            let token_url = Url::parse(&format!("{login}/{}/oauth2/v2.0/token", app.tenant))
                .map_err(|e| not_sendable(format!("sign-in URL: {e}")))?;
            let refresh = call
                .tokens
                .refresh_token(&talk.key)
                .unwrap_or_else(|| app.refresh_token.clone());
            let form = api::teams::token_form(&app, &refresh);
            let token = talk
                .token(
                    call.post(
                        &token_url,
                        form.into_bytes(),
                        "application/x-www-form-urlencoded",
                        None,
                    ),
                    |body| {
                        let (token, lives, rotated) = api::teams::token_answer(body)?;
                        if let Some(rotated) = rotated {
                            call.tokens.put_refresh_token(talk.key, rotated);
                        }
                        Some((token, lives))
                    },
                )
                .await?;
            let bearer = Some(token.as_str());
            let id_of = |outcome: HttpOutcome, what: &str| {
                api::teams::object_id(&outcome.body).ok_or_else(|| {
                    unkept(
                        outcome,
                        format!("Teams: {what} answered without an object id"),
                    )
                })
            };
            let url = method(base, "me").map_err(not_sendable)?;
            let me = id_of(talk.accepted(call.get(&url, bearer).await)?, "/me")?;
            let person = match person {
                WorkAddress::UserId(id) => id,
                WorkAddress::Lookup(email) => {
                    let path: String =
                        url::form_urlencoded::byte_serialize(email.as_bytes()).collect();
                    let url = method(base, &format!("users/{path}")).map_err(not_sendable)?;
                    // The answer is a person's profile: not kept in the log.
                    id_of(talk.accepted(call.get(&url, bearer).await)?, "/users")?
                }
            };
            let url = method(base, "chats").map_err(not_sendable)?;
            let outcome = talk.accepted(
                call.post_json(&url, &api::teams::chat_body(base, &me, &person), bearer)
                    .await,
            )?;
            let chat = api::teams::chat_id(&outcome.body).ok_or_else(|| {
                unkept(outcome, "Teams: /chats answered without a chat id".into())
            })?;
            let path: String = url::form_urlencoded::byte_serialize(chat.as_bytes()).collect();
            let url = method(base, &format!("chats/{path}/messages")).map_err(not_sendable)?;
            call.post_json(&url, &api::teams::message_body(&message), bearer)
                .await
        }
    };
    Ok(talk.last(last))
}

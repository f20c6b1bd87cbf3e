//! Direct messages through an IM app's API (an endpoint with
//! `direct_messages: true`): who an event goes to, how that person is
//! addressed, the API request bodies and how the API's answers are judged.
//! Pure; `delivery::direct` makes the requests.
//!
//! - Slack: `users.lookupByEmail` (skipped when the people directory has
//!   the member id), then `chat.postMessage` with the member id as
//!   `channel` — https://api.slack.com/methods/users.lookupByEmail,
//!   https://api.slack.com/methods/chat.postMessage
//! - Feishu / Lark: a tenant access token from the app's credentials, then
//!   `im/v1/messages` with `receive_id_type=open_id` (directory) or `email`
//!   — https://open.feishu.cn/document/server-docs/im-v1/message/create
//! - WeCom: an application message ([`wecom`]); DingTalk: a work
//!   notification ([`dingtalk`]). Both with an access token cached per app
//!   (`delivery::app_tokens`), the person by directory handle or looked up
//!   by e-mail (WeCom) / mobile number (DingTalk).

pub mod dingtalk;
pub mod teams;
pub mod wecom;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::handles::handle;
use super::reply::{check_response, excerpt, Reply};
use super::{fitted_body, summary, FormatError};
use crate::endpoint::{Endpoint, Platform};
use crate::events::{ApprovalRequestedData, Event, EventType, SentBackData, UserRef};

/// The person `recipient` (a user id, as the outbox row has it) in
/// `event`: an approver of an approval request, the creator of a
/// sent-back issue (`herald_recipients` in SQL chooses the same).
pub fn recipient(event: &Event, recipient: &str) -> Option<UserRef> {
    let id: i64 = recipient.parse().ok()?;
    let people = match event.known_type()? {
        EventType::IssueApprovalRequested => {
            serde_json::from_value::<ApprovalRequestedData>(event.data.clone())
                .ok()?
                .approvers
        }
        EventType::IssueSentBack => {
            vec![
                serde_json::from_value::<SentBackData>(event.data.clone())
                    .ok()?
                    .creator,
            ]
        }
        _ => return None,
    };
    people.into_iter().find(|u| u.id == id)
}

/// How a person is reached on the app's platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Slack(SlackAddress),
    /// Feishu/Lark `receive_id_type` (`open_id` or `email`) and the id.
    Feishu {
        id_type: &'static str,
        id: String,
    },
    Wecom(WorkAddress),
    Dingtalk(WorkAddress),
    /// An Entra object id from the directory, or the e-mail (UPN) to look
    /// it up by.
    Teams(WorkAddress),
}

/// A WeCom or DingTalk person: a user id from the people directory, or
/// what to look it up by (WeCom: the e-mail; DingTalk: the mobile number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkAddress {
    UserId(String),
    Lookup(String),
}

/// A work app's API (WeCom, DingTalk): the same conversation — a cached
/// access token, a user id looked up when the directory has none, the
/// message as the app's agent — with each platform's paths and bodies.
pub struct WorkApi {
    /// `GET`, with [`WorkApi::token_query`].
    pub token_path: &'static str,
    /// `POST ?access_token=…` with [`WorkApi::lookup_body`].
    pub lookup_path: &'static str,
    /// `POST ?access_token=…` with [`WorkApi::send_body`].
    pub send_path: &'static str,
    pub credentials: fn(&str) -> Result<AppCredentials, String>,
    pub token_query: fn(&AppCredentials) -> [(&'static str, String); 2],
    pub lookup_body: fn(&str) -> Json,
    pub send_body: fn(Json, &str, i64) -> Json,
}

/// The work app API of `platform`, if it is one.
pub fn work_api(platform: Platform) -> Option<&'static WorkApi> {
    match platform {
        Platform::Wecom => Some(&wecom::API),
        Platform::Dingtalk => Some(&dingtalk::API),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackAddress {
    /// A member id from the people directory: no lookup needed.
    Member(String),
    /// Looked up with `users.lookupByEmail`.
    Email(String),
}

/// A plausible e-mail address (one `@`, a dot in the domain, no spaces
/// or controls): what herald is willing to ask an API about.
fn email(user: &UserRef) -> Option<&str> {
    let email = user.email.trim();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control()))
    .then_some(email)
}

/// How to reach `user` on `platform`, or why they cannot be reached.
pub fn address(platform: Platform, user: &UserRef) -> Result<Address, String> {
    let nobody = || {
        format!(
            "user {} has no {platform} handle in the people directory and no usable e-mail",
            user.id
        )
    };
    match platform {
        Platform::Slack => handle(user, "slack")
            .map(|id| SlackAddress::Member(id.to_owned()))
            .or_else(|| email(user).map(|e| SlackAddress::Email(e.to_owned())))
            .map(Address::Slack)
            .ok_or_else(nobody),
        Platform::Feishu | Platform::Lark => handle(user, platform.as_str())
            .map(|id| Address::Feishu {
                id_type: "open_id",
                id: id.to_owned(),
            })
            .or_else(|| {
                email(user).map(|e| Address::Feishu {
                    id_type: "email",
                    id: e.to_owned(),
                })
            })
            .ok_or_else(nobody),
        Platform::Wecom => handle(user, "wecom")
            .map(|id| WorkAddress::UserId(id.to_owned()))
            .or_else(|| email(user).map(|e| WorkAddress::Lookup(e.to_owned())))
            .map(Address::Wecom)
            .ok_or_else(nobody),
        Platform::Dingtalk => handle(user, "dingtalk")
            .map(|id| WorkAddress::UserId(id.to_owned()))
            .or_else(|| {
                crate::formats::dingtalk::mobile(user).map(|m| WorkAddress::Lookup(m.to_owned()))
            })
            .map(Address::Dingtalk)
            .ok_or_else(|| {
                format!(
                    "user {} has no dingtalk handle in the people directory and no usable mobile number",
                    user.id
                )
            }),
        Platform::Teams => handle(user, "teams")
            .map(|id| WorkAddress::UserId(id.to_owned()))
            .or_else(|| email(user).map(|e| WorkAddress::Lookup(e.to_owned())))
            .map(Address::Teams)
            .ok_or_else(nobody),
        other => Err(format!("{other} has no direct messages")),
    }
}

/// A WeCom or DingTalk app's credentials: `id:secret:agentid`.
#[derive(Clone, PartialEq, Eq)]
pub struct AppCredentials {
    /// WeCom corpid / DingTalk appkey.
    pub id: String,
    pub secret: String,
    /// The application's agent id.
    pub agent: i64,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppCredentials({}:***:{})", self.id, self.agent)
    }
}

impl AppCredentials {
    fn parse(secret: &str, shape: &str) -> Result<AppCredentials, String> {
        let secret = secret.trim();
        let (rest, agent) = secret.rsplit_once(':').ok_or_else(|| shape.to_owned())?;
        let (id, key) = rest.split_once(':').ok_or_else(|| shape.to_owned())?;
        let agent: i64 = agent
            .parse()
            .ok()
            .filter(|a| *a > 0)
            .ok_or_else(|| format!("{shape}: the agent id is a positive number"))?;
        if id.is_empty() || key.is_empty() {
            return Err(shape.to_owned());
        }
        Ok(AppCredentials {
            id: id.to_owned(),
            secret: key.to_owned(),
            agent,
        })
    }
}

/// What WeCom's and DingTalk's APIs answer (`errcode` style), the fields
/// herald reads.
#[derive(Debug, Default, Deserialize)]
pub struct Answer {
    pub errcode: Option<i64>,
    errmsg: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
    userid: Option<String>,
    result: Option<AnswerResult>,
    #[serde(default)]
    invaliduser: String,
}

#[derive(Debug, Default, Deserialize)]
struct AnswerResult {
    userid: Option<String>,
}

impl Answer {
    pub fn parse(body: &[u8]) -> Answer {
        serde_json::from_slice(body).unwrap_or_default()
    }

    fn errmsg_excerpt(&self) -> String {
        excerpt(self.errmsg.as_deref().unwrap_or_default().as_bytes())
    }

    fn invaliduser_excerpt(&self) -> String {
        excerpt(self.invaliduser.as_bytes())
    }

    /// The access token and how long it lives.
    pub fn token(&self) -> Option<(String, Duration)> {
        let token = self.access_token.clone().filter(|t| {
            !t.is_empty() && t.len() <= 1024 && t.chars().all(|c| c.is_ascii_graphic())
        })?;
        Some((
            token,
            Duration::from_secs(self.expires_in.unwrap_or(7200).min(86_400)),
        ))
    }

    /// The user id a lookup found (WeCom `userid`, DingTalk `result.userid`),
    /// if it has a user id's shape.
    pub fn user_id(&self) -> Option<String> {
        let id = self
            .userid
            .clone()
            .or_else(|| self.result.as_ref().and_then(|r| r.userid.clone()))?;
        (!id.is_empty()
            && id.len() <= 64
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-@.".contains(c)))
        .then_some(id)
    }
}

/// The message for `endpoint`'s platform (fitted, in its language, with
/// its links), as the platform's webhook body.
pub fn message(
    endpoint: &Endpoint,
    event: &Event,
    now: DateTime<Utc>,
) -> Result<Json, FormatError> {
    let platform = endpoint.platform;
    let mut message = summary::summarize(event, endpoint.presentation.locale);
    message.links = endpoint.presentation.links.expand(event);
    let bytes = fitted_body(platform, &message, None, now)?;
    serde_json::from_slice(&bytes).map_err(|source| FormatError::Serialize { platform, source })
}

/// `chat.postMessage`'s body: the webhook body plus the member as channel.
pub fn slack_post(mut message: Json, member: &str) -> Json {
    message["channel"] = json!(member);
    message
}

/// `im/v1/messages`' body: the card as a JSON string in `content`.
pub fn feishu_post(message: &Json, receive_id: &str) -> Json {
    json!({
        "receive_id": receive_id,
        "msg_type": "interactive",
        "content": message["card"].to_string(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct SlackAnswer {
    ok: Option<bool>,
    error: Option<String>,
    user: Option<SlackUser>,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    id: String,
}

/// The member id in a `users.lookupByEmail` answer.
pub fn slack_member(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<SlackAnswer>(body)
        .ok()?
        .user
        .map(|u| u.id)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[derive(Debug, Default, Deserialize)]
struct FeishuAnswer {
    code: Option<i64>,
    msg: Option<String>,
    tenant_access_token: Option<String>,
    /// Seconds the token lives (at most 7200).
    expire: Option<u64>,
}

/// The token in a `tenant_access_token/internal` answer, and how long it
/// lives.
pub fn feishu_token(body: &[u8]) -> Option<(String, Duration)> {
    let answer = serde_json::from_slice::<FeishuAnswer>(body).ok()?;
    let token = answer
        .tenant_access_token
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))?;
    Some((
        token,
        Duration::from_secs(answer.expire.unwrap_or(7200).min(7200)),
    ))
}

/// Feishu/Lark refused the tenant token: 99991663 invalid, 99991664
/// expired, 99991668 invalid authorization — fetch a new one —
/// https://open.feishu.cn/document/server-docs/api-call-guide/generic-error-code
const FEISHU_TOKEN_REFUSED: &[i64] = &[99991663, 99991664, 99991668];

/// Slack Web API errors that no retry can fix: the person, the token or
/// the message is wrong. From the "Errors" tables of
/// https://api.slack.com/methods/users.lookupByEmail and
/// https://api.slack.com/methods/chat.postMessage
const SLACK_PERMANENT: &[&str] = &[
    "users_not_found",
    "user_not_found",
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "cannot_dm_bot",
    "msg_too_long",
    "no_text",
    "invalid_blocks",
    "invalid_arguments",
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "missing_scope",
    "not_allowed_token_type",
    "no_permission",
    "ekm_access_denied",
    "team_access_not_granted",
];

/// Judge an app API's answer to one request (`status`, whether a
/// `Retry-After` came, the body). HTTP first (429 is Slack's
/// `ratelimited` and Feishu's 99991400), then the body's own verdict.
pub fn check_api_response(
    platform: Platform,
    status: u16,
    retry_after: bool,
    body: &[u8],
) -> Reply {
    api_verdict(platform, status, retry_after, body).0
}

/// [`check_api_response`], and whether the app's cached token must be
/// forgotten (the platform refused it, or the credentials behind it).
pub fn api_verdict(
    platform: Platform,
    status: u16,
    retry_after: bool,
    body: &[u8],
) -> (Reply, bool) {
    if platform == Platform::Teams {
        return teams::judge(status, retry_after, body);
    }
    if !(200..300).contains(&status) {
        // A token refused over HTTP (Feishu answers 400 with 99991663 too).
        let refused = matches!(platform, Platform::Feishu | Platform::Lark)
            && serde_json::from_slice::<FeishuAnswer>(body)
                .ok()
                .and_then(|a| a.code)
                .is_some_and(|c| FEISHU_TOKEN_REFUSED.contains(&c));
        return (
            check_response(Platform::Generic, status, retry_after, body),
            refused || status == 401,
        );
    }
    let reply = match platform {
        Platform::Wecom => return wecom::judge(&Answer::parse(body)),
        Platform::Dingtalk => return dingtalk::judge(&Answer::parse(body)),
        Platform::Slack => {
            let answer = serde_json::from_slice::<SlackAnswer>(body).unwrap_or_default();
            match (answer.ok, answer.error) {
                (Some(true), _) => Reply::Accepted,
                (_, Some(error)) if error == "ratelimited" => {
                    Reply::Throttled("Slack: ratelimited".into())
                }
                (_, Some(error)) if SLACK_PERMANENT.contains(&error.as_str()) => {
                    Reply::Rejected(format!("Slack: {error}"))
                }
                (_, Some(error)) => Reply::Failed(format!("Slack: {}", excerpt(error.as_bytes()))),
                (_, None) => Reply::Failed(format!("Slack: unexpected answer {}", excerpt(body))),
            }
        }
        Platform::Feishu | Platform::Lark => {
            let answer = serde_json::from_slice::<FeishuAnswer>(body).unwrap_or_default();
            let message = || {
                format!(
                    "{platform} code {}: {}",
                    answer.code.unwrap_or_default(),
                    excerpt(answer.msg.as_deref().unwrap_or_default().as_bytes())
                )
            };
            match answer.code {
                Some(0) => Reply::Accepted,
                // "request trigger frequency limit"
                // — https://open.feishu.cn/document/server-docs/api-call-guide/frequency-control
                Some(99991400) => Reply::Throttled(message()),
                // 230xxx: the message or its receiver is wrong (230001
                // invalid receive_id, 230013 the bot cannot reach the user)
                // — https://open.feishu.cn/document/server-docs/im-v1/message/create
                // (error codes), https://open.larkoffice.com/document/uAjLw4CM/ugTN1YjL4UTN24CO1UjN/trouble-shooting/how-to-resolve-error-230001
                Some(230_000..=230_999) => Reply::Rejected(message()),
                Some(code) if FEISHU_TOKEN_REFUSED.contains(&code) => {
                    return (Reply::Failed(message()), true)
                }
                Some(_) => Reply::Failed(message()),
                None => Reply::Failed(format!("{platform}: unexpected answer {}", excerpt(body))),
            }
        }
        other => Reply::Rejected(format!("{other} has no direct messages")),
    };
    (reply, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::samples;

    #[test]
    fn recipients_are_the_approvers_or_the_creator() {
        let approval = samples::sample("ISSUE_APPROVAL_REQUESTED");
        let first = approval.data["approvers"][0]["id"].to_string();
        assert_eq!(
            recipient(&approval, &first).map(|u| u.id.to_string()),
            Some(first)
        );
        assert!(recipient(&approval, "999999").is_none());
        assert!(recipient(&approval, "not a number").is_none());
        let sent_back = samples::sample("ISSUE_SENT_BACK");
        let creator = sent_back.data["creator"]["id"].to_string();
        assert!(recipient(&sent_back, &creator).is_some());
        assert!(recipient(&samples::sample("PIPELINE_FAILED"), &creator).is_none());
    }

    #[test]
    fn the_directory_comes_before_the_email_and_bad_emails_are_refused() {
        let mut user = UserRef {
            id: 7,
            name: "Ada".into(),
            email: "ada@example.com".into(),
            phone: None,
            handles: [("slack".to_owned(), "U024BE7LH".to_owned())].into(),
        };
        assert_eq!(
            address(Platform::Slack, &user),
            Ok(Address::Slack(SlackAddress::Member("U024BE7LH".into())))
        );
        assert_eq!(
            address(Platform::Lark, &user),
            Ok(Address::Feishu {
                id_type: "email",
                id: "ada@example.com".into()
            })
        );
        user.handles.clear();
        assert_eq!(
            address(Platform::Slack, &user),
            Ok(Address::Slack(SlackAddress::Email(
                "ada@example.com".into()
            )))
        );
        for bad in ["", "ada", "ada@localhost", "a b@example.com", "a@b@c.com"] {
            user.email = bad.into();
            let error = address(Platform::Feishu, &user).expect_err(bad);
            assert!(error.contains("no feishu handle"), "{error}");
        }
    }

    #[test]
    fn api_answers() {
        let slack = |status, body: &str| {
            check_api_response(Platform::Slack, status, false, body.as_bytes())
        };
        assert_eq!(slack(200, r#"{"ok":true,"channel":"D1"}"#), Reply::Accepted);
        assert_eq!(
            slack(200, r#"{"ok":false,"error":"users_not_found"}"#),
            Reply::Rejected("Slack: users_not_found".into())
        );
        assert!(matches!(
            slack(200, r#"{"ok":false,"error":"token_revoked"}"#),
            Reply::Rejected(_)
        ));
        assert!(matches!(
            slack(429, r#"{"ok":false,"error":"ratelimited"}"#),
            Reply::Throttled(_)
        ));
        assert!(matches!(
            slack(200, r#"{"ok":false,"error":"fatal_error"}"#),
            Reply::Failed(_)
        ));
        assert!(matches!(slack(200, "<html>"), Reply::Failed(_)));
        assert!(matches!(slack(503, ""), Reply::Failed(_)));
        let feishu = |status, body: &str| {
            check_api_response(Platform::Feishu, status, false, body.as_bytes())
        };
        assert_eq!(
            feishu(200, r#"{"code":0,"msg":"success"}"#),
            Reply::Accepted
        );
        assert!(matches!(
            feishu(400, r#"{"code":230001,"msg":"invalid receive_id"}"#),
            Reply::Rejected(_)
        ));
        assert!(matches!(
            feishu(200, r#"{"code":230013,"msg":"no availability"}"#),
            Reply::Rejected(_)
        ));
        assert!(matches!(
            feishu(429, r#"{"code":99991400}"#),
            Reply::Throttled(_)
        ));
        assert!(matches!(
            feishu(200, r#"{"code":99991663,"msg":"invalid token"}"#),
            Reply::Failed(_)
        ));
        assert_eq!(
            slack_member(br#"{"ok":true,"user":{"id":"U1"}}"#),
            Some("U1".into())
        );
        assert_eq!(
            slack_member(br#"{"ok":true,"user":{"id":"<!channel>"}}"#),
            None
        );
        assert_eq!(
            feishu_token(br#"{"code":0,"tenant_access_token":"t-1","expire":7140}"#),
            Some(("t-1".into(), Duration::from_secs(7140)))
        );
    }

    #[test]
    fn wecom_and_dingtalk_credentials_and_answers() {
        let app = wecom::credentials("ww1:s3cr3t:1000002").expect("valid");
        assert_eq!((app.id.as_str(), app.agent), ("ww1", 1000002));
        assert!(!format!("{app:?}").contains("s3cr3t"), "never printed");
        for bad in [
            "ww1:secret",
            "ww1:secret:x",
            ":secret:1",
            "ww1::1",
            "ww1:secret:0",
        ] {
            assert!(wecom::credentials(bad).is_err(), "{bad}");
        }
        assert!(dingtalk::credentials("key:secret:2468").is_ok());
        let wecom = |body: &str| api_verdict(Platform::Wecom, 200, false, body.as_bytes());
        assert_eq!(
            wecom(r#"{"errcode":0,"errmsg":"ok","invaliduser":""}"#).0,
            Reply::Accepted
        );
        assert!(matches!(
            wecom(r#"{"errcode":0,"invaliduser":"bob"}"#).0,
            Reply::Rejected(_)
        ));
        assert!(matches!(
            wecom(r#"{"errcode":46004,"errmsg":"user no exist"}"#),
            (Reply::Rejected(_), false)
        ));
        assert!(matches!(
            wecom(r#"{"errcode":45009}"#).0,
            Reply::Throttled(_)
        ));
        assert!(matches!(
            wecom(r#"{"errcode":42001}"#),
            (Reply::Failed(_), true)
        ));
        assert!(matches!(
            wecom(r#"{"errcode":40001}"#),
            (Reply::Rejected(_), true)
        ));
        assert!(matches!(
            wecom(r#"{"errcode":-1,"errmsg":"system busy"}"#),
            (Reply::Failed(_), false)
        ));
        assert!(matches!(wecom("<html>").0, Reply::Failed(_)));
        let ding = |body: &str| api_verdict(Platform::Dingtalk, 200, false, body.as_bytes());
        assert_eq!(ding(r#"{"errcode":0,"task_id":1}"#).0, Reply::Accepted);
        assert!(matches!(ding(r#"{"errcode":60121}"#).0, Reply::Rejected(_)));
        assert!(matches!(
            ding(r#"{"errcode":90002}"#).0,
            Reply::Throttled(_)
        ));
        assert!(matches!(
            ding(r#"{"errcode":40014}"#),
            (Reply::Failed(_), true)
        ));
        assert!(matches!(
            ding(r#"{"errcode":143106}"#).0,
            Reply::Rejected(_)
        ));
        let feishu = api_verdict(Platform::Feishu, 400, false, br#"{"code":99991663}"#);
        assert!(feishu.1, "a refused Feishu token is forgotten");
        let answer = Answer::parse(br#"{"errcode":0,"access_token":"tok","expires_in":7200}"#);
        assert_eq!(
            answer.token(),
            Some(("tok".into(), Duration::from_secs(7200)))
        );
        assert_eq!(
            Answer::parse(br#"{"errcode":0,"result":{"userid":"manager4220"}}"#).user_id(),
            Some("manager4220".into())
        );
        assert_eq!(
            Answer::parse(br#"{"errcode":0,"userid":"<@all>"}"#).user_id(),
            None
        );
    }
}

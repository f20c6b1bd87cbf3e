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
        other => Err(format!("{other} has no direct messages")),
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
}

/// The token in a `tenant_access_token/internal` answer.
pub fn feishu_token(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<FeishuAnswer>(body)
        .ok()?
        .tenant_access_token
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
}

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
    if !(200..300).contains(&status) {
        return check_response(Platform::Generic, status, retry_after, body);
    }
    match platform {
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
                Some(_) => Reply::Failed(message()),
                None => Reply::Failed(format!("{platform}: unexpected answer {}", excerpt(body))),
            }
        }
        other => Reply::Rejected(format!("{other} has no direct messages")),
    }
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
            feishu_token(br#"{"code":0,"tenant_access_token":"t-1"}"#),
            Some("t-1".into())
        );
    }
}

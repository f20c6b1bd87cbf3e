//! Microsoft Teams chat messages to one person through Microsoft Graph:
//! pure request bodies and verdicts; `delivery::direct` makes the calls.
//!
//! Graph sends chat messages only with **delegated** permission
//! (`ChatMessage.Send`; the only application permission is for
//! migrations) — https://learn.microsoft.com/graph/api/chat-post-messages
//! — so herald signs in as a service account: the app's credentials and
//! the account's refresh token (`tenant:client_id:client_secret:refresh_token`,
//! scopes `Chat.Create ChatMessage.Send User.ReadBasic.All offline_access`).
//!
//! - token: `POST {login}/{tenant}/oauth2/v2.0/token`, form
//!   `grant_type=refresh_token` → `access_token`, `expires_in`, a new
//!   `refresh_token` (used from then on) —
//!   https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
//! - the account: `GET /me` → `id`; the person: the directory's `teams`
//!   handle (an Entra object id) or `GET /users/{email}` → `id` (404 when
//!   unknown) — https://learn.microsoft.com/graph/api/user-get
//! - the 1:1 chat: `POST /chats` `{"chatType": "oneOnOne", "members": […]}`
//!   (an existing chat is returned) — https://learn.microsoft.com/graph/api/chat-post
//! - the message: `POST /chats/{id}/messages` with the Workflows body's
//!   Adaptive Card as an attachment —
//!   https://learn.microsoft.com/graph/api/chatmessage-post
//! - errors: `{"error": {"code", "message"}}`; 401 an expired or bad token,
//!   403 a missing permission, 404 no such user, 429 with `Retry-After` —
//!   https://learn.microsoft.com/graph/errors

use serde::Deserialize;
use serde_json::{json, Value as Json};

use crate::formats::reply::{excerpt, Reply};

/// The service account's sign-in: `tenant:client_id:client_secret:refresh_token`.
#[derive(Clone, PartialEq, Eq)]
pub struct GraphCredentials {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for GraphCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GraphCredentials({}:{}:***:***)",
            self.tenant, self.client_id
        )
    }
}

const SHAPE: &str =
    "Teams direct messages take `tenant:client_id:client_secret:refresh_token` (a service account's refresh token)";

pub fn credentials(secret: &str) -> Result<GraphCredentials, String> {
    let mut parts = secret.trim().splitn(4, ':');
    let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
    match (next(), next(), next(), next()) {
        (Some(tenant), Some(client_id), Some(client_secret), Some(refresh_token))
            if tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) =>
        {
            Ok(GraphCredentials {
                tenant,
                client_id,
                client_secret,
                refresh_token,
            })
        }
        _ => Err(SHAPE.to_owned()),
    }
}

/// The sign-in authority for a Graph base: each national cloud has its
/// own — https://learn.microsoft.com/graph/deployments#microsoft-graph-and-graph-explorer-service-root-endpoints
/// — and any other base (a test server) signs in on its own origin.
pub fn login_base(graph: &url::Url) -> String {
    match graph.host_str().unwrap_or_default() {
        "graph.microsoft.com" => "https://login.microsoftonline.com".into(),
        "graph.microsoft.us" | "dod-graph.microsoft.us" => {
            "https://login.microsoftonline.us".into()
        }
        "microsoftgraph.chinacloudapi.cn" => "https://login.chinacloudapi.cn".into(),
        _ => graph.origin().ascii_serialization(),
    }
}

/// The refresh form (`application/x-www-form-urlencoded`).
pub fn token_form(credentials: &GraphCredentials, refresh_token: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &credentials.client_id)
        .append_pair("client_secret", &credentials.client_secret)
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair(
            "scope",
            "https://graph.microsoft.com/Chat.Create https://graph.microsoft.com/ChatMessage.Send https://graph.microsoft.com/User.ReadBasic.All offline_access",
        )
        .finish()
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

/// The access token, its lifetime and the new refresh token (if one came).
pub fn token_answer(body: &[u8]) -> Option<(String, std::time::Duration, Option<String>)> {
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    let clean =
        |t: Option<String>| t.filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()));
    Some((
        clean(answer.access_token)?,
        std::time::Duration::from_secs(answer.expires_in.unwrap_or(3600).min(86_400)),
        clean(answer.refresh_token),
    ))
}

/// An Entra object id (a GUID), as `/me`, `/users/{…}` and `/chats` answer.
pub fn object_id(body: &[u8]) -> Option<String> {
    let value: Json = serde_json::from_slice(body).ok()?;
    value["id"]
        .as_str()
        .filter(|id| valid_id(id))
        .map(str::to_owned)
}

/// A chat id (`19:…@unq.gbl.spaces`): letters, digits and `:@._-`.
pub fn chat_id(body: &[u8]) -> Option<String> {
    let value: Json = serde_json::from_slice(body).ok()?;
    value["id"]
        .as_str()
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 256
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":@._-".contains(c))
        })
        .map(str::to_owned)
}

/// A GUID, or a UPN-like e-mail for `/users/{…}`.
pub fn valid_id(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// `POST /chats`' body: a one-on-one chat of the account and the person.
pub fn chat_body(graph: &url::Url, me: &str, person: &str) -> Json {
    let base = graph.as_str().trim_end_matches('/');
    let member = |id: &str| {
        json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": ["owner"],
            "user@odata.bind": format!("{base}/users('{id}')"),
        })
    };
    json!({"chatType": "oneOnOne", "members": [member(me), member(person)]})
}

/// `POST /chats/{id}/messages`' body: the Workflows body's Adaptive Card as
/// the message's attachment (the card's JSON as a string, as Graph wants).
pub fn message_body(workflows: &Json) -> Json {
    let card = &workflows["attachments"][0]["content"];
    json!({
        "body": {"contentType": "html", "content": "<attachment id=\"card\"></attachment>"},
        "attachments": [{
            "id": "card",
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card.to_string(),
        }]
    })
}

#[derive(Debug, Default, Deserialize)]
struct GraphError {
    error: Option<GraphErrorBody>,
}

#[derive(Debug, Default, Deserialize)]
struct GraphErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
    /// The token endpoint's OAuth error (`invalid_grant`, …).
    #[serde(default)]
    error_description: Option<String>,
}

/// Judge an answer of one Graph or sign-in call, and whether the access
/// token must be forgotten.
pub fn judge(status: u16, retry_after: bool, body: &[u8]) -> (Reply, bool) {
    let parsed: GraphError = serde_json::from_slice(body).unwrap_or_default();
    let oauth: Json = serde_json::from_slice(body).unwrap_or_default();
    let what = match (&parsed.error, oauth["error"].as_str()) {
        (Some(error), _) => format!(
            "{}: {}",
            error
                .code
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            excerpt(
                error
                    .message
                    .as_deref()
                    .or(error.error_description.as_deref())
                    .unwrap_or_default()
                    .as_bytes()
            )
        ),
        (None, Some(code)) => format!(
            "{code}: {}",
            excerpt(
                oauth["error_description"]
                    .as_str()
                    .unwrap_or_default()
                    .as_bytes()
            )
        ),
        (None, None) => excerpt(body),
    };
    let message = format!("Teams (Graph) HTTP {status} {what}");
    match status {
        200..=299 => (Reply::Accepted, false),
        // The refresh token was revoked or expired, or the app's secret is
        // wrong: nothing retries its way out of that.
        400 | 401
            if oauth["error"]
                .as_str()
                .is_some_and(|e| e == "invalid_grant" || e == "invalid_client") =>
        {
            (
                Reply::Rejected(format!(
                    "{message} (the service account's sign-in is refused)"
                )),
                true,
            )
        }
        401 => (Reply::Failed(message), true),
        403 => (
            Reply::Rejected(format!("{message} (a permission is missing)")),
            false,
        ),
        404 => (Reply::Rejected(message), false),
        429 => (Reply::Throttled(message), false),
        503 | 504 if retry_after => (Reply::Throttled(message), false),
        400..=499 => (Reply::Rejected(message), false),
        _ => (Reply::Failed(message), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_clouds_and_answers() {
        let app =
            credentials("contoso.onmicrosoft.com:app:s3cret:0.AX:with:colons").expect("valid");
        assert_eq!(app.refresh_token, "0.AX:with:colons");
        assert!(!format!("{app:?}").contains("s3cret"));
        assert!(credentials("tenant:app:secret").is_err());
        assert!(credentials("ten/ant:app:secret:rt").is_err());
        let base = |u: &str| login_base(&u.parse().unwrap());
        assert_eq!(
            base("https://graph.microsoft.com/v1.0"),
            "https://login.microsoftonline.com"
        );
        assert_eq!(
            base("https://microsoftgraph.chinacloudapi.cn/v1.0"),
            "https://login.chinacloudapi.cn"
        );
        assert_eq!(base("http://127.0.0.1:9/v1.0"), "http://127.0.0.1:9");
        assert_eq!(judge(201, false, b"{}"), (Reply::Accepted, false));
        assert!(matches!(
            judge(
                400,
                false,
                br#"{"error":"invalid_grant","error_description":"AADSTS70008"}"#
            ),
            (Reply::Rejected(_), true)
        ));
        assert!(matches!(
            judge(
                401,
                false,
                br#"{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}"#
            ),
            (Reply::Failed(_), true)
        ));
        assert!(matches!(
            judge(
                404,
                false,
                br#"{"error":{"code":"Request_ResourceNotFound"}}"#
            )
            .0,
            Reply::Rejected(_)
        ));
        assert!(matches!(judge(429, true, b"").0, Reply::Throttled(_)));
        assert!(matches!(judge(503, false, b"").0, Reply::Failed(_)));
        assert!(valid_id("aaaaaaaa-0000-4000-8000-000000000001"));
        assert!(!valid_id("<at>all</at>"));
        let body = message_body(&json!({"attachments": [{"content": {"type": "AdaptiveCard"}}]}));
        assert_eq!(
            body["attachments"][0]["content"],
            r#"{"type":"AdaptiveCard"}"#
        );
    }
}

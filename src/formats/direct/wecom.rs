//! WeCom (企业微信) application messages to one person: pure request bodies
//! and verdicts; `delivery::direct` makes the calls.
//!
//! - token: `GET gettoken?corpid=…&corpsecret=…` → `access_token`,
//!   `expires_in` (7200 s; cache it) —
//!   https://developer.work.weixin.qq.com/document/path/91039
//! - user id by e-mail (when the people directory has no `wecom` handle):
//!   `POST user/get_userid_by_email?access_token=…` `{"email", "email_type": 1}`
//!   → `userid` — https://developer.work.weixin.qq.com/document/path/95892
//! - send: `POST message/send?access_token=…` `{"touser", "agentid",
//!   "msgtype": "text", "text": {"content"}}` — the group robot's body herald
//!   already fits (content ≤ 2048 bytes, the same limit), less the robot's
//!   `mentioned_list` / `mentioned_mobile_list` → `errcode`,
//!   `invaliduser` (a person who cannot receive is listed there with
//!   errcode 0) — https://developer.work.weixin.qq.com/document/path/90236
//! - error codes — https://developer.work.weixin.qq.com/document/path/90313

use serde_json::{json, Value as Json};

use super::{Answer, AppCredentials, WorkApi};
use crate::formats::reply::Reply;

/// `corpid:corpsecret:agentid`, the agent id a number.
pub fn credentials(secret: &str) -> Result<AppCredentials, String> {
    AppCredentials::parse(
        secret,
        "WeCom app credentials are written `corpid:corpsecret:agentid`",
    )
}

/// The token call's query.
fn token_query(credentials: &AppCredentials) -> [(&'static str, String); 2] {
    [
        ("corpid", credentials.id.clone()),
        ("corpsecret", credentials.secret.clone()),
    ]
}

/// The calls, as [`WorkApi`] describes them.
pub const API: WorkApi = WorkApi {
    token_path: "gettoken",
    lookup_path: "user/get_userid_by_email",
    send_path: "message/send",
    credentials,
    token_query,
    lookup_body,
    send_body,
};

/// `user/get_userid_by_email`'s body (a company mailbox: `email_type` 1).
pub fn lookup_body(email: &str) -> Json {
    json!({"email": email, "email_type": 1})
}

/// `message/send`'s body: the robot's body (without its group mentions)
/// to `userid` as `agentid`.
pub fn send_body(mut message: Json, userid: &str, agent: i64) -> Json {
    for kind in ["text", "markdown"] {
        if let Some(part) = message.get_mut(kind).and_then(Json::as_object_mut) {
            part.remove("mentioned_list");
            part.remove("mentioned_mobile_list");
        }
    }
    message["touser"] = json!(userid);
    message["agentid"] = json!(agent);
    message
}

/// The access token was refused: 40014 invalid, 42001 expired (fetch a new one).
const TOKEN_REFUSED: &[i64] = &[40014, 42001];
/// The app's credentials are wrong: 40001 invalid secret, 40013 invalid
/// corpid, 40091 secret invalid (no retry helps until an operator fixes them).
const CREDENTIALS_REFUSED: &[i64] = &[40001, 40013, 40091];
/// The person cannot be found or reached: 46004 no such user, 60111 no such
/// userid, 60011 outside the app's visible range, 81013 every recipient invalid.
const NO_SUCH_PERSON: &[i64] = &[46004, 60111, 60011, 81013];
/// Slow down: 45009 API frequency limit, 45033 too many concurrent calls.
const THROTTLED: &[i64] = &[45009, 45033];

/// Judge an answer (HTTP 2xx) of one WeCom call.
pub fn judge(answer: &Answer) -> (Reply, bool) {
    let code = answer.errcode.unwrap_or(-1);
    let message = || format!("WeCom errcode {code}: {}", answer.errmsg_excerpt());
    match code {
        0 if !answer.invaliduser.trim().is_empty() => (
            Reply::Rejected(format!(
                "WeCom: the person cannot receive app messages (invaliduser {})",
                answer.invaliduser_excerpt()
            )),
            false,
        ),
        0 => (Reply::Accepted, false),
        c if TOKEN_REFUSED.contains(&c) => (Reply::Failed(message()), true),
        c if CREDENTIALS_REFUSED.contains(&c) => (
            Reply::Rejected(format!("{} (the app's credentials are refused)", message())),
            true,
        ),
        c if NO_SUCH_PERSON.contains(&c) => (Reply::Rejected(message()), false),
        c if THROTTLED.contains(&c) => (Reply::Throttled(message()), false),
        _ => (Reply::Failed(message()), false),
    }
}

//! DingTalk (钉钉) work notifications (工作通知) to one person: pure request
//! bodies and verdicts; `delivery::direct` makes the calls.
//!
//! - token: `GET gettoken?appkey=…&appsecret=…` → `access_token`,
//!   `expires_in` (7200 s; cache it) —
//!   https://open.dingtalk.com/document/orgapp/obtain-orgapp-token
//! - user id by mobile (when the people directory has no `dingtalk`
//!   handle): `POST topapi/v2/user/getbymobile?access_token=…`
//!   `{"mobile"}` → `result.userid` —
//!   https://open.dingtalk.com/document/orgapp/query-users-by-phone-number
//! - send: `POST topapi/message/corpconversation/asyncsend_v2?access_token=…`
//!   `{"agent_id", "userid_list", "msg": {"msgtype": "markdown", "markdown":
//!   {"title", "text"}}}` → `task_id` —
//!   https://open.dingtalk.com/document/orgapp/asynchronous-sending-of-enterprise-session-messages
//!   (the same content reaches a person once a day, at most 500 a day;
//!   beyond that DingTalk answers success and delivers nothing).

use serde_json::{json, Value as Json};

use super::{Answer, AppCredentials, WorkApi};
use crate::formats::reply::Reply;

/// `appkey:appsecret:agentid`, the agent id a number.
pub fn credentials(secret: &str) -> Result<AppCredentials, String> {
    AppCredentials::parse(
        secret,
        "DingTalk app credentials are written `appkey:appsecret:agentid`",
    )
}

/// The token call's query.
fn token_query(credentials: &AppCredentials) -> [(&'static str, String); 2] {
    [
        ("appkey", credentials.id.clone()),
        ("appsecret", credentials.secret.clone()),
    ]
}

/// The calls, as [`WorkApi`] describes them.
pub const API: WorkApi = WorkApi {
    token_path: "gettoken",
    lookup_path: "topapi/v2/user/getbymobile",
    send_path: "topapi/message/corpconversation/asyncsend_v2",
    credentials,
    token_query,
    lookup_body,
    send_body,
};

/// `getbymobile`'s body.
pub fn lookup_body(mobile: &str) -> Json {
    json!({"mobile": mobile})
}

/// `asyncsend_v2`'s body: the robot's markdown message (without its group
/// `at` block) to `userid` from `agent`.
pub fn send_body(mut message: Json, userid: &str, agent: i64) -> Json {
    if let Some(body) = message.as_object_mut() {
        body.remove("at");
    }
    json!({"agent_id": agent, "userid_list": userid, "msg": message})
}

/// The token was refused (40014 invalid, 42001 expired): fetch a new one.
const TOKEN_REFUSED: &[i64] = &[40014, 42001];
/// The app's key or secret is wrong (40089 invalid appkey or appsecret;
/// 40001 invalid credential), or the app lacks the permission (88 with a
/// `sub_code` of 60011) — https://open.dingtalk.com/document/orgapp/server-api-error-codes-1
const CREDENTIALS_REFUSED: &[i64] = &[40089, 40001, 88];
/// No such person: 60121 user not found, 40104 invalid mobile.
const NO_SUCH_PERSON: &[i64] = &[60121, 40104];
/// Slow down: 90002 API frequency limit; 143103/143104 per-minute sending
/// limits; 143105 the person's daily limit —
/// https://open.dingtalk.com/document/orgapp/call-frequency-limit
const THROTTLED: &[i64] = &[90002, 143103, 143104, 143105];
/// 143106: the same content was sent to this person today (DingTalk
/// refuses repeats; retrying cannot help).
const DUPLICATE: i64 = 143106;

/// Judge an answer (HTTP 2xx) of one DingTalk call.
pub fn judge(answer: &Answer) -> (Reply, bool) {
    let code = answer.errcode.unwrap_or(-1);
    let message = || format!("DingTalk errcode {code}: {}", answer.errmsg_excerpt());
    match code {
        0 => (Reply::Accepted, false),
        c if TOKEN_REFUSED.contains(&c) => (Reply::Failed(message()), true),
        c if CREDENTIALS_REFUSED.contains(&c) => (
            Reply::Rejected(format!("{} (the app's credentials are refused)", message())),
            true,
        ),
        c if NO_SUCH_PERSON.contains(&c) || c == DUPLICATE => (Reply::Rejected(message()), false),
        c if THROTTLED.contains(&c) => (Reply::Throttled(message()), false),
        _ => (Reply::Failed(message()), false),
    }
}

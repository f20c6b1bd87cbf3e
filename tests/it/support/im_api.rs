//! Loopback servers that answer like the IM apps' APIs herald sends direct
//! messages through, as their documentation describes them:
//!
//! - Slack Web API (`/api/users.lookupByEmail`, `/api/chat.postMessage`):
//!   HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": "…"}`;
//!   `users_not_found` for an unknown e-mail, `invalid_auth` /
//!   `token_revoked` for a bad token, HTTP 429 + `Retry-After` with
//!   `ratelimited` — https://api.slack.com/methods/users.lookupByEmail,
//!   https://api.slack.com/methods/chat.postMessage,
//!   https://api.slack.com/apis/rate-limits
//! - Feishu Open API (`/open-apis/auth/v3/tenant_access_token/internal`,
//!   `/open-apis/im/v1/messages?receive_id_type=…`): `{"code": 0, …}`;
//!   HTTP 400 with code 230001 "invalid receive_id" for an unknown
//!   receiver; 99991663 for a bad token.
//! - WeCom (`/cgi-bin/gettoken`, `/cgi-bin/user/get_userid_by_email`,
//!   `/cgi-bin/message/send`, each after `?access_token=`): HTTP 200 with
//!   `errcode`/`errmsg` — 40001 bad secret at `gettoken`, 42001 an expired
//!   token, 46004 an unknown e-mail, 81013 a user that cannot receive,
//!   45009 the frequency limit —
//!   https://developer.work.weixin.qq.com/document/path/90236,
//!   https://developer.work.weixin.qq.com/document/path/90313
//! - DingTalk (`/gettoken`, `/topapi/v2/user/getbymobile`,
//!   `/topapi/message/corpconversation/asyncsend_v2`): HTTP 200 with
//!   `errcode` — 40089 bad app key or secret, 40014 a bad token, 60121 an
//!   unknown mobile, 90002 the frequency limit, `task_id` on success —
//!   https://open.dingtalk.com/document/orgapp/asynchronous-sending-of-enterprise-session-messages
//! - Microsoft sign-in and Graph (`/{tenant}/oauth2/v2.0/token`,
//!   `/v1.0/me`, `/v1.0/users/{upn}`, `/v1.0/chats`,
//!   `/v1.0/chats/{id}/messages`): a refresh grant answers a new refresh
//!   token, `invalid_grant` (400) once revoked; Graph errors are
//!   `{"error": {"code", "message"}}` — 401 `InvalidAuthenticationToken`,
//!   404 `Request_ResourceNotFound`, 429 with `Retry-After` —
//!   https://learn.microsoft.com/graph/errors,
//!   https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

pub const SLACK_TOKEN: &str = "xoxb-test-token";
pub const FEISHU_APP: &str = "cli_test";
pub const FEISHU_SECRET: &str = "feishu-app-secret";
const FEISHU_TOKEN: &str = "t-test-tenant-token";
/// `corpid:corpsecret:agentid` of the WeCom test app.
pub const WECOM_APP: &str = "ww-test-corp:wecom-corp-secret:1000002";
/// `appkey:appsecret:agentid` of the DingTalk test app.
pub const DINGTALK_APP: &str = "ding-test-key:dingtalk-app-secret:2468";
const WECOM_TOKEN: &str = "wecom-access-token";
/// `tenant:client_id:client_secret:refresh_token` of the Teams service account.
pub const TEAMS_APP: &str = "contoso.onmicrosoft.com:app-id:app-secret:rt-1";
/// The service account's object id.
pub const TEAMS_ME: &str = "11111111-1111-1111-1111-111111111111";
const GRAPH_TOKEN: &str = "graph-access-token";
const DINGTALK_TOKEN: &str = "dingtalk-access-token";

/// One call the server answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// `users.lookupByEmail`, `chat.postMessage`, `token`, `messages`.
    pub method: String,
    /// The e-mail looked up, the channel or receive id posted to.
    pub target: String,
    pub body: Value,
    pub status: u16,
    /// The platform accepted it (HTTP 200 alone says nothing for WeCom and
    /// DingTalk, whose verdict is `errcode`).
    pub ok: bool,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    /// E-mail → Slack member id / Feishu user.
    people: HashMap<String, String>,
    calls: Vec<Call>,
    /// Answer the next this-many message posts with 429.
    throttle_posts: usize,
    revoked: bool,
    /// Refresh tokens the sign-in accepts (each grant adds a new one).
    refresh_tokens: Vec<String>,
}

pub struct ImApi {
    state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl ImApi {
    /// Start with a directory of `people` (e-mail → member id).
    pub fn start(people: &[(&str, &str)]) -> ImApi {
        let state = Arc::new(Mutex::new(State {
            people: people
                .iter()
                .map(|(email, id)| (email.to_string(), id.to_string()))
                .collect(),
            ..State::default()
        }));
        let (addr, handle) = serve(state.clone(), handle);
        ImApi {
            state,
            addr,
            handle,
        }
    }

    /// The Slack Web API base (`url:` of a Slack direct-message endpoint).
    pub fn slack_base(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The Feishu Open API base.
    pub fn feishu_base(&self) -> String {
        format!("http://{}/open-apis", self.addr)
    }

    /// Answer the next `n` message posts with 429, `Retry-After: 1`.
    pub fn throttle_posts(&self, n: usize) {
        self.state.lock().expect("lock").throttle_posts = n;
    }

    /// From now on every token is revoked.
    pub fn revoke(&self) {
        self.state.lock().expect("lock").revoked = true;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// The WeCom API base (`url:` of a WeCom direct-message endpoint).
    pub fn wecom_base(&self) -> String {
        format!("http://{}/cgi-bin", self.addr)
    }

    /// The Microsoft Graph base (its sign-in is on the same origin).
    pub fn graph_base(&self) -> String {
        format!("http://{}/v1.0", self.addr)
    }

    /// The DingTalk API base.
    pub fn dingtalk_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The messages that were accepted: (target, body).
    pub fn delivered(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| {
                matches!(c.method.as_str(), "chat.postMessage" | "messages" | "send")
                    && (200..300).contains(&c.status)
                    && c.ok
            })
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// Serve `handler` for every path on a loopback port, with `state` as its
/// `web::Data`; the server's address and handle.
pub fn serve<S, F, Args>(state: Arc<S>, handler: F) -> (SocketAddr, ServerHandle)
where
    S: Send + Sync + 'static,
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(handler.clone()))
    })
    .workers(2)
    .disable_signals()
    .shutdown_timeout(0)
    .bind("127.0.0.1:0")
    .expect("api binds");
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (addr, handle)
}

fn answer(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).json(body)
}

fn bearer(request: &HttpRequest) -> String {
    request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

async fn handle(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
) -> HttpResponse {
    let path = request.path().to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = path.as_str();
    let mut state = state.lock().expect("lock");
    let (method, target, status, reply) = match path {
        "/api/users.lookupByEmail" => {
            let email = url::form_urlencoded::parse(&body)
                .find(|(k, _)| k == "email")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            let reply = if state.revoked {
                json!({"ok": false, "error": "token_revoked"})
            } else if bearer(&request) != SLACK_TOKEN {
                json!({"ok": false, "error": "invalid_auth"})
            } else {
                match state.people.get(&email) {
                    Some(id) => json!({"ok": true, "user": {"id": id, "name": email}}),
                    None => json!({"ok": false, "error": "users_not_found"}),
                }
            };
            ("users.lookupByEmail", email, 200, reply)
        }
        "/api/chat.postMessage" => {
            let channel = json["channel"].as_str().unwrap_or_default().to_owned();
            if state.throttle_posts > 0 {
                let reply = json!({"ok": false, "error": "ratelimited"});
                return throttled(&mut state, "chat.postMessage", channel, json, reply);
            }
            let reply = if state.revoked {
                json!({"ok": false, "error": "token_revoked"})
            } else if bearer(&request) != SLACK_TOKEN {
                json!({"ok": false, "error": "invalid_auth"})
            } else if !channel.starts_with('U') {
                json!({"ok": false, "error": "channel_not_found"})
            } else {
                json!({"ok": true, "channel": format!("D{channel}"), "ts": "1700000000.000100"})
            };
            ("chat.postMessage", channel, 200, reply)
        }
        "/open-apis/auth/v3/tenant_access_token/internal" => {
            let good = json["app_id"] == FEISHU_APP && json["app_secret"] == FEISHU_SECRET;
            let reply = if good && !state.revoked {
                json!({"code": 0, "msg": "ok", "tenant_access_token": FEISHU_TOKEN, "expire": 7200})
            } else {
                json!({"code": 10014, "msg": "app secret invalid"})
            };
            (
                "token",
                json["app_id"].as_str().unwrap_or_default().to_owned(),
                200,
                reply,
            )
        }
        "/open-apis/im/v1/messages" => {
            let id_type = request
                .query_string()
                .split('&')
                .find_map(|p| p.strip_prefix("receive_id_type="))
                .unwrap_or_default()
                .to_owned();
            let receiver = json["receive_id"].as_str().unwrap_or_default().to_owned();
            let known = match id_type.as_str() {
                "email" => state.people.contains_key(&receiver),
                "open_id" => state.people.values().any(|id| *id == receiver),
                _ => false,
            };
            let (status, reply) = if state.throttle_posts > 0 {
                state.throttle_posts -= 1;
                (
                    429,
                    json!({"code": 99991400, "msg": "request trigger frequency limit"}),
                )
            } else if bearer(&request) != FEISHU_TOKEN {
                (
                    400,
                    json!({"code": 99991663, "msg": "Invalid access token for authorization."}),
                )
            } else if !known {
                (
                    400,
                    json!({"code": 230001, "msg": "Your request contains an invalid request parameter, ext=invalid receive_id."}),
                )
            } else {
                (
                    200,
                    json!({"code": 0, "msg": "success", "data": {"message_id": "om_1"}}),
                )
            };
            ("messages", format!("{id_type}:{receiver}"), status, reply)
        }
        "/contoso.onmicrosoft.com/oauth2/v2.0/token" => {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let given = form.get("refresh_token").cloned().unwrap_or_default();
            let valid = given == "rt-1" || state.refresh_tokens.contains(&given);
            let good = valid
                && form.get("client_secret").map(String::as_str) == Some("app-secret")
                && form.get("grant_type").map(String::as_str) == Some("refresh_token")
                && !state.revoked;
            let (status, reply) = if good {
                let next = format!("rt-{}", state.refresh_tokens.len() + 2);
                state.refresh_tokens.push(next.clone());
                (
                    200,
                    json!({"token_type": "Bearer", "access_token": GRAPH_TOKEN, "expires_in": 3599, "refresh_token": next}),
                )
            } else {
                (
                    400,
                    json!({"error": "invalid_grant", "error_description": "AADSTS70008: The provided refresh token has expired due to inactivity."}),
                )
            };
            return record(
                &mut state,
                "token",
                given,
                json!(null),
                status,
                status == 200,
                reply,
            );
        }
        p if p.starts_with("/v1.0/") => {
            let graph_error = |status: u16, code: &str, message: &str| {
                (
                    status,
                    json!({"error": {"code": code, "message": message, "innerError": {"request-id": "r"}}}),
                )
            };
            let rest = &p["/v1.0/".len()..];
            let (method, target, (status, reply)) = if bearer(&request) != GRAPH_TOKEN
                || state.revoked
            {
                (
                    "graph",
                    rest.to_owned(),
                    graph_error(
                        401,
                        "InvalidAuthenticationToken",
                        "Lifetime validation failed, the token is expired.",
                    ),
                )
            } else if rest == "me" {
                (
                    "me",
                    String::new(),
                    (200, json!({"id": TEAMS_ME, "displayName": "herald"})),
                )
            } else if let Some(upn) = rest.strip_prefix("users/") {
                let upn = url::form_urlencoded::parse(format!("u={upn}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                match state.people.get(&upn) {
                    Some(id) => ("lookup", upn.clone(), (200, json!({"id": id, "userPrincipalName": upn}))),
                    None => ("lookup", upn.clone(), graph_error(404, "Request_ResourceNotFound", &format!("Resource '{upn}' does not exist or one of its queried reference-property objects are not present."))),
                }
            } else if rest == "chats" {
                let members: Vec<String> = json["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["user@odata.bind"].as_str())
                    .filter_map(|b| b.split("users('").nth(1))
                    .map(|b| b.trim_end_matches("')").to_owned())
                    .collect();
                let ok =
                    json["chatType"] == "oneOnOne" && members.len() == 2 && members[0] == TEAMS_ME;
                if ok {
                    (
                        "chat",
                        members[1].clone(),
                        (
                            201,
                            json!({"id": format!("19:{}_{}@unq.gbl.spaces", members[0], members[1]), "chatType": "oneOnOne"}),
                        ),
                    )
                } else {
                    (
                        "chat",
                        String::new(),
                        graph_error(400, "BadRequest", "Invalid members"),
                    )
                }
            } else if let Some(chat) = rest
                .strip_prefix("chats/")
                .and_then(|r| r.strip_suffix("/messages"))
            {
                let chat = url::form_urlencoded::parse(format!("c={chat}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let person = chat
                    .trim_end_matches("@unq.gbl.spaces")
                    .rsplit('_')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if state.throttle_posts > 0 {
                    let reply = json!({"error": {"code": "TooManyRequests", "message": "Too many requests"}});
                    return throttled(&mut state, "send", person, json, reply);
                }
                (
                    "send",
                    person,
                    (201, json!({"id": "1616990032035", "chatId": chat})),
                )
            } else {
                (
                    "graph",
                    rest.to_owned(),
                    graph_error(404, "UnknownError", "no such resource"),
                )
            };
            let ok = (200..300).contains(&status);
            return record(&mut state, method, target, json, status, ok, reply);
        }
        "/cgi-bin/gettoken" | "/gettoken" => {
            let wecom = path.starts_with("/cgi-bin");
            let (keys, app, token) = if wecom {
                (["corpid", "corpsecret"], WECOM_APP, WECOM_TOKEN)
            } else {
                (["appkey", "appsecret"], DINGTALK_APP, DINGTALK_TOKEN)
            };
            let given: Vec<String> = keys.iter().map(|k| query(&request, k)).collect();
            let good = format!("{}:{}", given[0], given[1]) == app.rsplit_once(':').expect("app").0;
            let reply = if good && !state.revoked {
                json!({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
            } else if wecom {
                json!({"errcode": 40001, "errmsg": "invalid credential"})
            } else {
                json!({"errcode": 40089, "errmsg": "invalid appkey or appsecret"})
            };
            let ok = reply["errcode"] == 0;
            return record(
                &mut state,
                "token",
                given[0].clone(),
                json!(null),
                200,
                ok,
                reply,
            );
        }
        "/cgi-bin/user/get_userid_by_email" | "/topapi/v2/user/getbymobile" => {
            let wecom = path.starts_with("/cgi-bin");
            let key = if wecom { "email" } else { "mobile" };
            let who = json[key].as_str().unwrap_or_default().to_owned();
            let token = if wecom { WECOM_TOKEN } else { DINGTALK_TOKEN };
            let reply = if query(&request, "access_token") != token || state.revoked {
                json!({"errcode": 42001, "errmsg": "access_token expired"})
            } else {
                match (state.people.get(&who), wecom) {
                    (Some(id), true) => json!({"errcode": 0, "errmsg": "ok", "userid": id}),
                    (Some(id), false) => {
                        json!({"errcode": 0, "errmsg": "ok", "result": {"userid": id}})
                    }
                    (None, true) => json!({"errcode": 46004, "errmsg": "user no exist"}),
                    (None, false) => json!({"errcode": 60121, "errmsg": "找不到该用户"}),
                }
            };
            let ok = reply["errcode"] == 0;
            return record(&mut state, "lookup", who, json, 200, ok, reply);
        }
        "/cgi-bin/message/send" | "/topapi/message/corpconversation/asyncsend_v2" => {
            let wecom = path.starts_with("/cgi-bin");
            let target = if wecom {
                json["touser"].as_str()
            } else {
                json["userid_list"].as_str()
            }
            .unwrap_or_default()
            .to_owned();
            let token = if wecom { WECOM_TOKEN } else { DINGTALK_TOKEN };
            let known = state.people.values().any(|id| *id == target);
            let reply = if state.throttle_posts > 0 {
                state.throttle_posts -= 1;
                if wecom {
                    json!({"errcode": 45009, "errmsg": "api freq out of limit"})
                } else {
                    json!({"errcode": 90002, "errmsg": "api frequency limit"})
                }
            } else if query(&request, "access_token") != token || state.revoked {
                json!({"errcode": 42001, "errmsg": "access_token expired"})
            } else if !known && wecom {
                json!({"errcode": 81013, "errmsg": "user & party & tag all invalid"})
            } else if !known {
                json!({"errcode": 60121, "errmsg": "找不到该用户"})
            } else if wecom {
                json!({"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": "msg-1"})
            } else {
                json!({"errcode": 0, "errmsg": "ok", "task_id": 256271667526_i64, "request_id": "r1"})
            };
            let ok = reply["errcode"] == 0;
            return record(&mut state, "send", target, json, 200, ok, reply);
        }
        _ => (
            "unknown",
            path.to_owned(),
            404,
            json!({"error": "no such method"}),
        ),
    };
    let ok = (200..300).contains(&status);
    record(&mut state, method, target, json, status, ok, reply)
}

/// Keep the call and answer it.
fn record(
    state: &mut State,
    method: &str,
    target: String,
    body: Value,
    status: u16,
    ok: bool,
    reply: Value,
) -> HttpResponse {
    state.calls.push(Call {
        method: method.into(),
        target,
        body,
        status,
        ok,
        at: Instant::now(),
    });
    answer(status, reply)
}

/// One throttled post: kept, answered 429 with `Retry-After: 1`.
fn throttled(
    state: &mut State,
    method: &str,
    target: String,
    body: Value,
    reply: Value,
) -> HttpResponse {
    state.throttle_posts -= 1;
    state.calls.push(Call {
        method: method.into(),
        target,
        body,
        status: 429,
        ok: false,
        at: Instant::now(),
    });
    HttpResponse::TooManyRequests()
        .insert_header(("Retry-After", "1"))
        .json(reply)
}

/// A query parameter's value (empty when absent).
fn query(request: &HttpRequest, key: &str) -> String {
    url::form_urlencoded::parse(request.query_string().as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

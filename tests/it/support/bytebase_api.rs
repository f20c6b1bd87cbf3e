//! A loopback server answering like Bytebase's API for the calls herald
//! makes (proto/v1/v1/auth_service.proto, rollout_service.proto):
//!
//! - `POST /v1/auth/login` `{"email", "password", "web": false}` → 200
//!   `{"token": …}`, 401 for a wrong password;
//! - `POST /v1/projects/{project}/plans/{plan}/rollout` with `Authorization:
//!   Bearer` → 200 with the rollout, and — as Bytebase does — the plan's
//!   `config.hasRollout` set in its database; 409 `already_exists` when the
//!   plan has a rollout; 401 without a valid token.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use sqlx::PgPool;

pub const EMAIL: &str = "herald@service.bytebase.com";
pub const PASSWORD: &str = "bbs_service_key";
const TOKEN: &str = "bb-access-token";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `login` or `create`.
    pub method: String,
    /// `projects/{p}/plans/{n}` for creates.
    pub target: String,
    pub status: u16,
}

struct State {
    calls: Mutex<Vec<Call>>,
    /// Targets answered "already exists" whatever the plan says (a rollout
    /// Bytebase made but herald has not seen).
    exists: Mutex<Vec<String>>,
    /// Bytebase's database (the server writes hasRollout as Bytebase does).
    pool: PgPool,
}

pub struct BytebaseApi {
    state: Arc<State>,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl BytebaseApi {
    pub fn start(pool: PgPool) -> BytebaseApi {
        let state = Arc::new(State {
            calls: Mutex::new(Vec::new()),
            exists: Mutex::new(Vec::new()),
            pool,
        });
        let (addr, handle) = super::im_api::serve(state.clone(), handle);
        BytebaseApi {
            state,
            addr,
            handle,
        }
    }

    pub fn base(&self) -> url::Url {
        url::Url::parse(&format!("http://{}", self.addr)).expect("url")
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().expect("lock").clone()
    }

    /// Answer creates of `target` with "already exists".
    pub fn already_exists(&self, target: &str) {
        self.state
            .exists
            .lock()
            .expect("lock")
            .push(target.to_owned());
    }

    /// The create calls for `target`.
    pub fn creates(&self, target: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == "create" && c.target == target)
            .collect()
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

fn answer(status: u16, body: Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status")).json(body)
}

async fn handle(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let path = request.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let record = |method: &str, target: &str, status: u16| {
        state.calls.lock().expect("lock").push(Call {
            method: method.into(),
            target: target.into(),
            status,
        });
    };
    if path == "/v1/auth/login" {
        if body["email"] == EMAIL && body["password"] == PASSWORD && body["web"] == false {
            record("login", "", 200);
            return answer(200, json!({"token": TOKEN, "user": {"email": EMAIL}}));
        }
        record("login", "", 401);
        return answer(
            401,
            json!({"code": "unauthenticated", "message": "invalid email or password"}),
        );
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["v1", "projects", project, "plans", plan, "rollout"] = parts.as_slice() else {
        return answer(404, json!({"code": "not_found", "message": path}));
    };
    let target = format!("projects/{project}/plans/{plan}");
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"));
    if !authorized {
        record("create", &target, 401);
        return answer(
            401,
            json!({"code": "unauthenticated", "message": "not signed in"}),
        );
    }
    if body["parent"] != target.as_str() {
        record("create", &target, 400);
        return answer(
            400,
            json!({"code": "invalid_argument", "message": "parent"}),
        );
    }
    if state.exists.lock().expect("lock").contains(&target) {
        record("create", &target, 409);
        return answer(
            409,
            json!({"code": "already_exists", "message": "rollout already exists for plan"}),
        );
    }
    let plan: i64 = plan.parse().unwrap_or(0);
    let created = sqlx::query(
        "UPDATE plan SET config = jsonb_set(config, '{hasRollout}', 'true'), updated_at = now()
          WHERE project = $1 AND id = $2 AND coalesce((config->>'hasRollout')::boolean, false) = false",
    )
    .bind(project)
    .bind(plan)
    .execute(&state.pool)
    .await
    .map(|done| done.rows_affected() > 0)
    .unwrap_or(false);
    if created {
        record("create", &target, 200);
        answer(
            200,
            json!({"name": format!("{target}/rollout"), "plan": target}),
        )
    } else {
        record("create", &target, 409);
        answer(
            409,
            json!({"code": "already_exists", "message": "rollout already exists for plan"}),
        )
    }
}

//! The operator console at `/` (a page, its script and its style, built
//! into the binary: no build step, no CDN) and the two routes only it
//! needs: `GET /v1/windows` (open failure windows) and `GET /v1/decisions`
//! (herald's recent decisions). The page holds nothing secret: every call
//! it makes carries the admin token the operator types, kept in the tab's
//! session storage.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::error::ErrorBody;
use crate::admin::{AdminState, ApiError};
use crate::decision_log::{Decision, DecisionLog};
use crate::messages::GetOpenWindows;

const PAGE: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

/// Only herald's own files, no inline code, never framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; \
                      base-uri 'none'; form-action 'none'";

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(page)
        .service(script)
        .service(style)
        .service(windows)
        .service(decisions);
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

#[get("/")]
pub async fn page() -> HttpResponse {
    asset("text/html; charset=utf-8", PAGE)
}

#[get("/console.js")]
pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

#[get("/console.css")]
pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// A plan whose failure window is open on this replica.
#[derive(Debug, Serialize, ToSchema)]
pub struct OpenWindow {
    plan_id: i64,
    generation: Option<i32>,
    /// When the window closes and PIPELINE_FAILED is sent.
    deadline: DateTime<Utc>,
    failed: usize,
    tasks: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OpenWindows {
    windows: Vec<OpenWindow>,
}

/// Failure windows open on this replica, soonest deadline first.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = OpenWindows),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 503, body = ErrorBody, description = "plans are not supervised here"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/windows")]
pub async fn windows(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let plans = state
        .plans
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("plans are not supervised here".into()))?;
    let open = plans
        .send(GetOpenWindows)
        .await
        .map_err(|e| ApiError::Unavailable(format!("plans are not running: {e}")))?;
    let windows = open
        .into_iter()
        .filter_map(|status| {
            Some(OpenWindow {
                deadline: status.window_deadline?,
                plan_id: status.plan_id,
                generation: status.generation,
                failed: status.failed,
                tasks: status.tasks,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(OpenWindows { windows }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionsQuery {
    /// Only decisions with a larger `seq` (0 or absent: every kept one).
    #[param(minimum = 0)]
    after: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Decisions {
    /// Oldest first; at most the last 500 are kept.
    decisions: Vec<Decision>,
    /// The newest `seq` given out: smaller than a client's `after` when
    /// herald restarted (start again from 0).
    latest: u64,
}

/// herald's recent decisions (log records with an `event` field).
#[utoipa::path(
    tag = "operations",
    params(DecisionsQuery),
    responses(
        (status = 200, body = Decisions),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/decisions")]
pub async fn decisions(query: web::Query<DecisionsQuery>) -> HttpResponse {
    let after = query.after.unwrap_or(0);
    let log = DecisionLog::global();
    HttpResponse::Ok().json(Decisions {
        decisions: log.since(after),
        latest: log.latest(),
    })
}

//! `GET /v1/rollout-requests`: the rollouts herald asked (or will ask) a
//! source's API to create — rollout repair for the Bytebase source
//! (docs/hosts.md) — with their attempts and last error.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::error::ErrorBody;
use crate::admin::{AdminState, ApiError};
use crate::store::rollout_requests::RequestState;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(list);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only requests still pending (being retried or within their grace).
    #[serde(default)]
    pending: bool,
    /// 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Rollout requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolloutRequestList {
    requests: Vec<RequestState>,
}

/// Rollout requests, newest first: pending ones with their attempts, last
/// error and next try; finished ones with how they ended.
#[utoipa::path(
    tag = "operations",
    operation_id = "list_rollout_requests",
    params(ListQuery),
    responses(
        (status = 200, body = RolloutRequestList),
        (status = 400, body = ErrorBody, description = "a bad query parameter"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/rollout-requests")]
pub async fn list(
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit={limit} is not within 1..=1000"
        )));
    }
    let requests = state
        .db(state.store.rollout_requests(query.pending, limit))
        .await?;
    Ok(HttpResponse::Ok().json(RolloutRequestList { requests }))
}

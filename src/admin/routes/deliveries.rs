//! `GET /v1/deliveries` (filters, cursor), `GET /v1/deliveries/{id}`,
//! `POST /v1/deliveries/{id}/replay`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::admin::error::{refuse_nul, ErrorBody};
use crate::admin::{AdminState, ApiError};
use crate::store::delivery_log::{AttemptRow, DeliveryFilter, DeliverySummary};

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(list).service(show).service(replay);
}

const STATES: [&str; 3] = ["pending", "delivered", "failed"];

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this endpoint's deliveries.
    endpoint: Option<String>,
    /// Only this event type.
    event_type: Option<String>,
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// RFC 3339 time, or a humantime age such as `1h`.
    since: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<i64>,
    /// 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// One page of the delivery log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    deliveries: Vec<DeliverySummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<i64>,
}

/// A delivery and its attempts, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    delivery: DeliverySummary,
    attempts: Vec<AttemptRow>,
}

/// A replay was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    id: i64,
    /// Always `pending`.
    state: String,
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(text).map_err(|_| {
        ApiError::BadRequest(format!(
            "since={text:?} is neither an RFC 3339 time nor an age like 30m"
        ))
    })?;
    let age = chrono::Duration::from_std(age)
        .map_err(|_| ApiError::BadRequest(format!("since={text:?} is too long ago")))?;
    Ok(Utc::now() - age)
}

/// The delivery log, filtered, newest first.
#[utoipa::path(
    tag = "deliveries",
    params(ListQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = ErrorBody, description = "a filter is not valid"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/deliveries")]
pub async fn list(
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    for (field, value) in [
        ("endpoint", &query.endpoint),
        ("event_type", &query.event_type),
    ] {
        if let Some(value) = value {
            refuse_nul(field, value)?;
        }
    }
    if let Some(status) = &query.status {
        if !STATES.contains(&status.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "status={status:?} is not one of {}",
                STATES.join(", ")
            )));
        }
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit={limit} is not within 1..=1000"
        )));
    }
    let filter = DeliveryFilter {
        endpoint_id: query.endpoint,
        event_type: query.event_type,
        state: query.status,
        since: query.since.as_deref().map(parse_since).transpose()?,
        before_id: query.cursor,
        limit,
    };
    let deliveries = state.store.list_deliveries(&filter).await?;
    let next_cursor = (deliveries.len() as i64 == limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryPage {
        deliveries,
        next_cursor,
    }))
}

/// One delivery with its attempts (status, latency, response excerpt).
#[utoipa::path(
    tag = "deliveries",
    params(("id" = i64, Path, description = "the delivery's id")),
    responses(
        (status = 200, body = DeliveryDetail),
        (status = 400, body = ErrorBody, description = "the id is not a number"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/v1/deliveries/{id}")]
pub async fn show(
    state: web::Data<AdminState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (delivery, attempts) = state
        .store
        .delivery(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))?;
    Ok(HttpResponse::Ok().json(DeliveryDetail { delivery, attempts }))
}

/// Queue a failed delivery again (same event, same `webhook-id`).
#[utoipa::path(
    request_body(content = Object, description = "send `{}`: a change must be `Content-Type: application/json` (CSRF)"),
    tag = "deliveries",
    params(("id" = i64, Path, description = "the delivery's id")),
    responses(
        (status = 202, body = Replayed),
        (status = 400, body = ErrorBody, description = "the id is not a number"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the delivery is not failed"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/deliveries/{id}/replay")]
pub async fn replay(
    state: web::Data<AdminState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state.store.replay_delivery(id).await? {
        Some(endpoint_id) => {
            tracing::info!(event = "delivery.replayed", delivery_id = id, endpoint_id = %endpoint_id);
            Ok(HttpResponse::Accepted().json(Replayed {
                id,
                state: "pending".into(),
            }))
        }
        None => match state.store.delivery(id).await? {
            None => Err(ApiError::NotFound(format!("no delivery {id}"))),
            Some((delivery, _)) => Err(ApiError::Conflict(format!(
                "delivery {id} is {}; only failed deliveries can be replayed",
                delivery.state
            ))),
        },
    }
}

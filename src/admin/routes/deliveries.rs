//! `GET /v1/deliveries` (filters, cursor), `GET /v1/deliveries/{id}`,
//! `POST /v1/deliveries/{id}/replay`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{AdminState, ApiError};
use crate::store::delivery_log::DeliveryFilter;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(list).service(show).service(replay);
}

const STATES: [&str; 3] = ["pending", "delivered", "failed"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    endpoint: Option<String>,
    event_type: Option<String>,
    status: Option<String>,
    /// RFC 3339 time, or a humantime age such as `1h`.
    since: Option<String>,
    cursor: Option<i64>,
    limit: Option<i64>,
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

#[get("/v1/deliveries")]
async fn list(
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
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
    Ok(HttpResponse::Ok().json(json!({ "deliveries": deliveries, "next_cursor": next_cursor })))
}

#[get("/v1/deliveries/{id}")]
async fn show(state: web::Data<AdminState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let (delivery, attempts) = state
        .store
        .delivery(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "delivery": delivery, "attempts": attempts })))
}

#[post("/v1/deliveries/{id}/replay")]
async fn replay(
    state: web::Data<AdminState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state.store.replay_delivery(id).await? {
        Some(endpoint_id) => {
            tracing::info!(event = "delivery.replayed", delivery_id = id, endpoint_id = %endpoint_id);
            Ok(HttpResponse::Accepted().json(json!({ "id": id, "state": "pending" })))
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

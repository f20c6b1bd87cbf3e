//! `GET /v1/endpoints`, `POST /v1/endpoints/{id}/enable|disable`.

use std::collections::HashMap;

use actix_web::{get, post, web, HttpResponse};
use serde::Serialize;
use serde_json::json;

use crate::admin::{AdminState, ApiError};
use crate::endpoint::{redacted_url, Endpoint, EndpointSource, Platform};
use crate::messages::delivery::{GetEndpoints, GetInvalidEndpoints};

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(list).service(enable).service(disable);
}

/// An endpoint as listed: never its secret.
#[derive(Debug, Serialize)]
struct EndpointView {
    id: String,
    source: EndpointSource,
    #[serde(rename = "type")]
    platform: Platform,
    url: String,
    signed: bool,
    events: Vec<String>,
    project_id: Option<i64>,
    enabled: bool,
    description: Option<String>,
    disabled_by_herald: Option<String>,
    consecutive_failures: i32,
}

async fn known_endpoints(state: &AdminState) -> Result<Vec<Endpoint>, ApiError> {
    state
        .delivery
        .send(GetEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))
}

#[get("/v1/endpoints")]
async fn list(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let endpoints = known_endpoints(&state).await?;
    let health: HashMap<String, _> = state
        .store
        .endpoint_health()
        .await?
        .into_iter()
        .map(|h| (h.endpoint_id.clone(), h))
        .collect();
    let views: Vec<EndpointView> = endpoints
        .into_iter()
        .map(|e| {
            let h = health.get(&e.id);
            EndpointView {
                url: redacted_url(&e.url),
                signed: e.secret.is_some(),
                disabled_by_herald: h
                    .filter(|h| h.disabled_at.is_some())
                    .map(|h| h.disabled_reason.clone().unwrap_or_default()),
                consecutive_failures: h.map(|h| h.consecutive_failures).unwrap_or(0),
                id: e.id,
                source: e.source,
                platform: e.platform,
                events: e.event_types,
                project_id: e.project_id,
                enabled: e.enabled,
                description: e.description,
            }
        })
        .collect();
    let invalid: Vec<_> = state
        .delivery
        .send(GetInvalidEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))?
        .into_iter()
        .map(|(id, reason)| json!({"id": id, "reason": reason}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "endpoints": views, "invalid": invalid })))
}

async fn set_enabled(
    state: &AdminState,
    id: &str,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let known = known_endpoints(state).await?;
    if !known.iter().any(|e| e.id == id) {
        return Err(ApiError::NotFound(format!("no endpoint {id:?}")));
    }
    state.store.set_endpoint_enabled(id, enabled).await?;
    tracing::info!(event = if enabled { "endpoint.enabled" } else { "endpoint.disabled_by_operator" }, endpoint_id = %id);
    Ok(HttpResponse::Ok().json(json!({ "id": id, "enabled": enabled })))
}

#[post("/v1/endpoints/{id}/enable")]
async fn enable(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, true).await
}

#[post("/v1/endpoints/{id}/disable")]
async fn disable(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, false).await
}

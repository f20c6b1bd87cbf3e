//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use actix_web::{get, web, HttpResponse};
use prometheus::{Encoder, TextEncoder};
use serde_json::json;

use crate::admin::{AdminState, ApiError};

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(healthz).service(readyz).service(metrics);
}

/// The process is up and serving HTTP.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to do work: the database answers and the listener is connected.
#[get("/readyz")]
async fn readyz(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database unreachable: {e}")))?;
    if state.metrics.listener_connected.get() != 1 {
        return Err(ApiError::Unavailable(
            "the notification listener is not connected".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// Prometheus text exposition of every herald metric.
#[get("/metrics")]
async fn metrics(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    for (event_type, count) in state.store.event_counts().await? {
        state
            .metrics
            .events
            .with_label_values(&[event_type.as_str()])
            .set(count);
    }
    let mut buffer = Vec::new();
    let families = state.metrics.registry.gather();
    if let Err(e) = TextEncoder::new().encode(&families, &mut buffer) {
        return Err(ApiError::Unavailable(format!("cannot encode metrics: {e}")));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(buffer))
}

//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::time::Duration;

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

/// How long `/readyz` and `/metrics` wait for the database.
const DATABASE_WAIT: Duration = Duration::from_millis(800);

/// Ready to do work: the database answers (within a second) and the
/// listener is connected.
#[get("/readyz")]
async fn readyz(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(DATABASE_WAIT, state.store.ping()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(ApiError::Unavailable(format!("database unreachable: {e}"))),
        Err(_) => {
            return Err(ApiError::Unavailable(format!(
                "database did not answer within {DATABASE_WAIT:?}"
            )))
        }
    }
    if state.metrics.listener_connected.get() != 1 {
        return Err(ApiError::Unavailable(
            "the notification listener is not connected".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(json!({ "status": "ready" })))
}

/// Prometheus text exposition of every herald metric. The event counts
/// come from the database; while it is down they keep their last values
/// and herald's own metrics are served anyway.
#[get("/metrics")]
async fn metrics(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    match tokio::time::timeout(DATABASE_WAIT, state.store.event_counts()).await {
        Ok(Ok(counts)) => {
            for (event_type, count) in counts {
                state
                    .metrics
                    .events
                    .with_label_values(&[event_type.as_str()])
                    .set(count);
            }
        }
        Ok(Err(error)) => {
            tracing::debug!(event = "metrics.events_unavailable", error = %error);
        }
        Err(_) => tracing::debug!(event = "metrics.events_unavailable", error = "timeout"),
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

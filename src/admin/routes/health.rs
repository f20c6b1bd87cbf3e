//! `GET /healthz`, `GET /readyz`, `GET /metrics`.

use std::time::Duration;

use actix_web::{get, web, HttpResponse};
use prometheus::{Encoder, TextEncoder};
use serde::Serialize;
use utoipa::ToSchema;

use crate::admin::error::ErrorBody;
use crate::admin::{AdminState, ApiError};

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(healthz).service(readyz).service(metrics);
}

/// The process is up and serving HTTP.
/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    status: String,
}

/// Alive (no token needed).
#[utoipa::path(tag = "operations", responses((status = 200, body = Status)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok".into(),
    })
}

/// How long `/readyz` and `/metrics` wait for the database.
const DATABASE_WAIT: Duration = Duration::from_millis(800);

/// Ready to do work: the database answers (within a second), the
/// listener is connected and the source (Bytebase) can be followed.
/// Ready: the database answers, the listener is connected and the source is followed (no token).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = Status),
        (status = 503, body = ErrorBody, description = "not ready, and why"),
    )
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
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
    if let Some(problem) = state.metrics.source_problem() {
        return Err(ApiError::Unavailable(problem));
    }
    Ok(HttpResponse::Ok().json(Status {
        status: "ready".into(),
    }))
}

/// Prometheus text exposition of every herald metric. The event counts
/// come from the database; while it is down they keep their last values
/// and herald's own metrics are served anyway.
/// Prometheus metrics (text exposition format).
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, body = String, content_type = "text/plain"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    render_metrics(&state).await
}

/// The metrics as Prometheus text, endpoint states refreshed first (kept
/// as they were while the database does not answer).
pub async fn render_metrics(state: &AdminState) -> Result<HttpResponse, ApiError> {
    if let Ok(states) = super::endpoints::states(state).await {
        let gauge = &state.metrics.endpoint_state;
        gauge.reset();
        for (id, endpoint_state) in states {
            gauge
                .with_label_values(&[&id, endpoint_state.as_str()])
                .set(1);
        }
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

//! `POST /v1/events`: emit a custom event (fans out like any other);
//! `GET /v1/events/{id}`: one event (by id or `webhook-id`) and its
//! deliveries; `POST /v1/reload`: reload the config file.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::parse_event_id;
use crate::admin::error::{refuse_nul, refuse_nul_in_json, ErrorBody};
use crate::admin::{AdminState, ApiError};
use crate::events::{is_valid_type_name, NewEvent, ProjectRef, RelatedIds};
use crate::store::delivery_log::{DeliveryFilter, DeliverySummary, EventView};

/// A custom event to emit (docs/events.md).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitRequest {
    /// A dotted name such as `user.created`.
    #[serde(rename = "type")]
    event_type: String,
    /// Any JSON value.
    #[serde(default)]
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// Restricts fan-out to endpoints of this project (and global ones).
    project: Option<ProjectRef>,
    /// The project, issue, plan and rollout by id: herald fills in their
    /// snapshots (and routes by the project) when not given above.
    project_id: Option<i64>,
    issue_id: Option<i64>,
    plan_id: Option<i64>,
    rollout_id: Option<i64>,
}

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(emit).service(show).service(reload);
}

/// Reload the config file; a bad file keeps the old config (400 says why).
/// The config file was read again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    reloaded: bool,
    /// Global endpoints now configured.
    endpoints: usize,
}

/// The event was written with its outbox rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Emitted {
    id: uuid::Uuid,
    /// Outbox rows written (one per subscribed endpoint and recipient).
    deliveries: u64,
}

/// Read the config file again (like SIGHUP); a bad file changes nothing.
#[utoipa::path(
    operation_id = "reload_config",
    request_body(content = Object, description = "send `{}`: a change must be `Content-Type: application/json` (CSRF)"),
    tag = "operations",
    responses(
        (status = 200, body = Reloaded),
        (status = 400, body = ErrorBody, description = "the file is not valid, or there is none"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/v1/reload")]
pub async fn reload(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let source = state.config_source.as_ref().ok_or_else(|| {
        ApiError::BadRequest("this herald was started without a config file source".into())
    })?;
    match crate::reload::reload(source, &state.delivery, &state.metrics, "admin").await {
        Ok(endpoints) => Ok(HttpResponse::Ok().json(Reloaded {
            reloaded: true,
            endpoints,
        })),
        Err(crate::reload::ReloadError::Invalid(e)) => Err(ApiError::BadRequest(format!(
            "config not reloaded, the previous one stays in effect: {e}"
        ))),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// Emit a custom event (fanned out like herald's own).
#[utoipa::path(
    operation_id = "emit_event",
    tag = "events",
    request_body = EmitRequest,
    responses(
        (status = 202, body = Emitted),
        (status = 400, body = ErrorBody, description = "not a valid event"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/events")]
pub async fn emit(
    state: web::Data<AdminState>,
    request: web::Json<EmitRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = request.into_inner();
    if !is_valid_type_name(&request.event_type) {
        return Err(ApiError::BadRequest(format!(
            "event type {:?} is not a dotted name like user.created",
            request.event_type
        )));
    }
    refuse_nul_in_json("data", &request.data)?;
    if let Some(project) = &request.project {
        refuse_nul("project.resource_id", &project.resource_id)?;
        refuse_nul("project.title", &project.title)?;
    }
    let mut event = NewEvent::new(request.event_type, request.data);
    event.project = request.project;
    event.related = RelatedIds {
        project: request.project_id,
        issue: request.issue_id,
        plan: request.plan_id,
        rollout: request.rollout_id,
    };
    // herald_emit refuses a malformed snapshot (invalid_parameter_value,
    // 22023): the caller's mistake, a 400 saying what, not a 500.
    let deliveries = match state.db(state.store.emit(&event)).await {
        Err(ApiError::Store(crate::store::StoreError::Database(sqlx::Error::Database(e))))
            if e.code().as_deref() == Some("22023") =>
        {
            return Err(ApiError::BadRequest(e.message().to_owned()));
        }
        other => other?,
    };
    tracing::info!(event = "admin.event_emitted", event_id = %event.id, event_type = %event.event_type, deliveries);
    Ok(HttpResponse::Accepted().json(Emitted {
        id: event.id,
        deliveries,
    }))
}

/// An event and every delivery of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetail {
    event: EventView,
    deliveries: Vec<DeliverySummary>,
}

/// One event, by its id or by the `webhook-id` its requests carry, with
/// its payload and every delivery of it (one per endpoint and recipient).
#[utoipa::path(
    tag = "events",
    operation_id = "show_event",
    params(("id" = String, Path, description = "the event's id (UUID) or its `webhook-id` (`msg_…`)")),
    responses(
        (status = 200, body = EventDetail),
        (status = 400, body = ErrorBody, description = "neither a UUID nor a webhook-id"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/events/{id}")]
pub async fn show(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let event_id = parse_event_id(&id)?;
    let event = state
        .db(state.store.event_view(event_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id}")))?;
    let deliveries = state
        .db(state.store.list_deliveries(&DeliveryFilter {
            event_id: Some(event_id),
            limit: 1000,
            ..DeliveryFilter::default()
        }))
        .await?;
    Ok(HttpResponse::Ok().json(EventDetail { event, deliveries }))
}

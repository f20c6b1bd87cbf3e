//! `POST /v1/events`: emit a custom event (fans out like any other);
//! `POST /v1/reload`: reload the config file.

use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::admin::{AdminState, ApiError};
use crate::events::{is_valid_type_name, NewEvent, ProjectRef, RelatedIds};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitRequest {
    /// A dotted name such as `user.created`.
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
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
    config.service(emit).service(reload);
}

/// Reload the config file; a bad file keeps the old config (400 says why).
#[post("/v1/reload")]
async fn reload(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let source = state.config_source.as_ref().ok_or_else(|| {
        ApiError::BadRequest("this herald was started without a config file source".into())
    })?;
    match crate::reload::reload(source, &state.delivery, "admin").await {
        Ok(endpoints) => {
            Ok(HttpResponse::Ok().json(json!({ "reloaded": true, "endpoints": endpoints })))
        }
        Err(crate::reload::ReloadError::Invalid(e)) => Err(ApiError::BadRequest(format!(
            "config not reloaded, the previous one stays in effect: {e}"
        ))),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}

#[post("/v1/events")]
async fn emit(
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
    let mut event = NewEvent::new(request.event_type, request.data);
    event.project = request.project;
    event.related = RelatedIds {
        project: request.project_id,
        issue: request.issue_id,
        plan: request.plan_id,
        rollout: request.rollout_id,
    };
    let deliveries = state.store.emit(&event).await?;
    tracing::info!(event = "admin.event_emitted", event_id = %event.id, event_type = %event.event_type, deliveries);
    Ok(HttpResponse::Accepted().json(json!({ "id": event.id, "deliveries": deliveries })))
}

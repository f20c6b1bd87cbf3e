//! `GET /v1/endpoints`, `POST /v1/endpoints/{id}/enable|disable`,
//! `POST /v1/endpoints/{id}/recover` (replay its failures since a time).

use std::collections::HashMap;

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::{optional_body, parse_since, requester};
use crate::admin::error::ErrorBody;
use crate::admin::{AdminState, ApiError};
use crate::endpoint::{redacted_url, Endpoint, EndpointSource, Platform};
use crate::messages::delivery::{GetEndpoints, GetInvalidEndpoints};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(list)
        .service(enable)
        .service(disable)
        .service(recover)
        .service(send_test);
}

/// Whether an endpoint is delivered to, and if not, who stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    Enabled,
    /// `enabled: false` in the config file.
    DisabledInConfig,
    /// `POST /v1/endpoints/{id}/disable` (or `herald endpoints disable`).
    DisabledByOperator,
    /// Too many failures, 410 Gone, a refused destination (`disabled_reason`).
    DisabledByHerald,
    /// herald cannot use it (`reason`); its deliveries wait.
    Invalid,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Enabled => "enabled",
            EndpointState::DisabledInConfig => "disabled_in_config",
            EndpointState::DisabledByOperator => "disabled_by_operator",
            EndpointState::DisabledByHerald => "disabled_by_herald",
            EndpointState::Invalid => "invalid",
        }
    }
}

/// Every endpoint's state (for the `herald_endpoint_state` metric).
pub async fn states(state: &AdminState) -> Result<Vec<(String, EndpointState)>, ApiError> {
    let endpoints = known_endpoints(state).await?;
    let invalid = state
        .delivery
        .send(GetInvalidEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))?;
    let health: HashMap<String, _> = state
        .db(state.store.endpoint_health())
        .await?
        .into_iter()
        .map(|h| (h.endpoint_id.clone(), h))
        .collect();
    let unusable: HashMap<&str, &str> = invalid
        .iter()
        .map(|(id, reason)| (id.as_str(), reason.as_str()))
        .collect();
    let mut out: Vec<(String, EndpointState)> = endpoints
        .into_iter()
        .filter(|e| !unusable.contains_key(e.id.as_str()))
        .map(|e| {
            let (endpoint_state, _) = endpoint_state(e.enabled, None, health.get(&e.id));
            (e.id, endpoint_state)
        })
        .collect();
    out.extend(
        unusable
            .keys()
            .map(|id| ((*id).to_owned(), EndpointState::Invalid)),
    );
    Ok(out)
}

/// An endpoint's state and why: invalid (with why), else from its config
/// flag and its health row. The one place the state is decided.
pub fn endpoint_state(
    configured: bool,
    invalid: Option<&str>,
    health: Option<&crate::store::endpoints::EndpointHealthRow>,
) -> (EndpointState, Option<String>) {
    if let Some(reason) = invalid {
        return (EndpointState::Invalid, Some(reason.to_owned()));
    }
    let disabled_reason = health
        .filter(|h| h.disabled_at.is_some())
        .map(|h| h.disabled_reason.as_deref().unwrap_or("disabled"));
    match disabled_reason {
        _ if !configured => (EndpointState::DisabledInConfig, None),
        Some(reason) if reason == crate::store::outbox::OPERATOR_DISABLED => {
            (EndpointState::DisabledByOperator, Some(reason.to_owned()))
        }
        Some(reason) => (EndpointState::DisabledByHerald, Some(reason.to_owned())),
        None => (EndpointState::Enabled, None),
    }
}

/// An endpoint as listed: never its secret; its URL with tokens redacted.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    id: String,
    /// The one field that says whether it is delivered to.
    state: EndpointState,
    /// Why it is not (with `disabled_by_*` and `invalid`).
    disabled_reason: Option<String>,
    source: EndpointSource,
    #[serde(rename = "type")]
    platform: Platform,
    url: String,
    signed: bool,
    events: Vec<String>,
    project_id: Option<i64>,
    description: Option<String>,
    consecutive_failures: i32,
    /// Sends each event to its recipients through the platform's app API.
    direct_messages: bool,
    /// A secret rotation in its grace: requests carry a signature with the
    /// previous secret too until then (null: none).
    #[schema(value_type = Option<String>, format = DateTime)]
    previous_secret_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The names of its custom headers (values are never shown).
    custom_headers: Vec<String>,
    /// The replica delivering it now and its lease epoch (null: nobody).
    lease_holder: Option<String>,
    lease_epoch: Option<i64>,
    /// Deliveries waiting in its queue.
    pending: i64,
}

/// An endpoint herald cannot use, with why.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvalidEndpoint {
    id: String,
    /// Always `invalid`.
    state: EndpointState,
    reason: String,
}

/// Every endpoint herald knows.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    endpoints: Vec<EndpointView>,
    invalid: Vec<InvalidEndpoint>,
}

/// An endpoint's new state.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnabledState {
    id: String,
    enabled: bool,
}

async fn known_endpoints(state: &AdminState) -> Result<Vec<Endpoint>, ApiError> {
    state
        .delivery
        .send(GetEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))
}

/// Every endpoint (config file and project webhooks) with its health.
#[utoipa::path(
    operation_id = "list_endpoints",
    tag = "endpoints",
    responses(
        (status = 200, body = EndpointList),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 503, body = ErrorBody, description = "delivery is not running"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/endpoints")]
pub async fn list(state: web::Data<AdminState>) -> Result<HttpResponse, ApiError> {
    let endpoints = known_endpoints(&state).await?;
    let health: HashMap<String, _> = state
        .db(state.store.endpoint_health())
        .await?
        .into_iter()
        .map(|h| (h.endpoint_id.clone(), h))
        .collect();
    let activity = state.db(state.store.endpoint_activity()).await?;
    let invalid_list = state
        .delivery
        .send(GetInvalidEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))?;
    let unusable: HashMap<&str, &str> = invalid_list
        .iter()
        .map(|(id, reason)| (id.as_str(), reason.as_str()))
        .collect();
    let views: Vec<EndpointView> = endpoints
        .into_iter()
        .map(|e| {
            let h = health.get(&e.id);
            let now = activity.get(&e.id).cloned().unwrap_or_default();
            let (state, disabled_reason) =
                endpoint_state(e.enabled, unusable.get(e.id.as_str()).copied(), h);
            EndpointView {
                state,
                disabled_reason,
                direct_messages: e.direct_messages,
                previous_secret_until: e
                    .previous_secret
                    .as_ref()
                    .filter(|r| r.active_at(chrono::Utc::now()).is_some())
                    .map(|r| r.until),
                custom_headers: e.headers.iter().map(|h| h.name.clone()).collect(),
                lease_holder: now.lease_holder,
                lease_epoch: now.lease_epoch,
                pending: now.pending,
                url: redacted_url(&e.url),
                signed: e.secret.is_some(),
                consecutive_failures: h.map(|h| h.consecutive_failures).unwrap_or(0),
                id: e.id,
                source: e.source,
                platform: e.platform,
                events: e.event_types,
                project_id: e.project_id,
                description: e.description,
            }
        })
        .collect();
    let invalid: Vec<_> = invalid_list
        .into_iter()
        .map(|(id, reason)| InvalidEndpoint {
            id,
            state: EndpointState::Invalid,
            reason,
        })
        .collect();
    Ok(HttpResponse::Ok().json(EndpointList {
        endpoints: views,
        invalid,
    }))
}

/// `Err(NotFound)` unless herald knows endpoint `id` (usable or invalid).
async fn require_known(state: &AdminState, id: &str) -> Result<(), ApiError> {
    if known_endpoints(state).await?.iter().any(|e| e.id == id) {
        return Ok(());
    }
    let invalid = state
        .delivery
        .send(GetInvalidEndpoints)
        .await
        .map_err(|e| ApiError::Unavailable(format!("delivery is not running: {e}")))?;
    if invalid.iter().any(|(known, _)| known == id) {
        return Ok(());
    }
    Err(ApiError::NotFound(format!("no endpoint {id:?}")))
}

async fn set_enabled(
    state: &AdminState,
    id: &str,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    require_known(state, id).await?;
    state
        .db(state.store.set_endpoint_enabled(id, enabled))
        .await?;
    tracing::info!(event = if enabled { "endpoint.enabled" } else { "endpoint.disabled_by_operator" }, endpoint_id = %id);
    Ok(HttpResponse::Ok().json(EnabledState {
        id: id.to_owned(),
        enabled,
    }))
}

/// Enable an endpoint (its pending deliveries resume).
#[utoipa::path(
    operation_id = "enable_endpoint",
    request_body(content = Object, description = "send `{}`: a change must be `Content-Type: application/json` (CSRF)"),
    tag = "endpoints",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 200, body = EnabledState),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "delivery is not running"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/endpoints/{id}/enable")]
pub async fn enable(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, true).await
}

/// Disable an endpoint (its deliveries wait until it is enabled).
#[utoipa::path(
    operation_id = "disable_endpoint",
    request_body(content = Object, description = "send `{}`: a change must be `Content-Type: application/json` (CSRF)"),
    tag = "endpoints",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 200, body = EnabledState),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "delivery is not running"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/endpoints/{id}/disable")]
pub async fn disable(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &id, false).await
}

/// Which failures to send again.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Failed deliveries created since: an RFC 3339 time or an age (`2h`).
    since: String,
    /// Recorded with each replay (default `admin-api`).
    requested_by: Option<String>,
}

/// How many failures were queued again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Recovered {
    id: String,
    replayed: u64,
}

/// Send every failed delivery of an endpoint since a time again, oldest
/// first (as Svix's recover): each a replay with who asked.
#[utoipa::path(
    request_body(content = RecoverRequest, description = "`Content-Type: application/json` (CSRF)"),
    tag = "endpoints",
    operation_id = "recover_endpoint",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 202, body = Recovered),
        (status = 400, body = ErrorBody, description = "no valid `since`"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "delivery is not running"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/endpoints/{id}/recover")]
pub async fn recover(
    state: web::Data<AdminState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: Option<RecoverRequest> = optional_body::<Option<RecoverRequest>>(&body)?;
    let request = request.ok_or_else(|| {
        ApiError::BadRequest("send {\"since\": \"2h\"} (or an RFC 3339 time)".into())
    })?;
    let since = parse_since(&request.since)?;
    let requested_by = requester(request.requested_by)?;
    require_known(&state, &id).await?;
    let replayed = state
        .db(state.store.recover_endpoint(&id, since, &requested_by))
        .await?;
    tracing::info!(event = "endpoint.recovered", endpoint_id = %id, since = %since.to_rfc3339(), replayed, requested_by = %requested_by);
    Ok(HttpResponse::Accepted().json(Recovered {
        id: id.into_inner(),
        replayed,
    }))
}

/// Who sends a test event (optional body).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Recorded in the event (default `admin-api`).
    requested_by: Option<String>,
}

/// The test event was queued for the endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSent {
    /// The delivery to follow (`GET /v1/deliveries/{id}`).
    delivery_id: i64,
    event_id: uuid::Uuid,
}

/// Send a `herald.test` event to this endpoint alone (whatever it
/// subscribes to), delivered like any other: signed, retried, logged.
#[utoipa::path(
    request_body(content = Option<TestRequest>, description = "optional; with a body, `Content-Type: application/json` (CSRF)"),
    tag = "endpoints",
    operation_id = "send_test_event",
    params(("id" = String, Path, description = "the endpoint's id")),
    responses(
        (status = 202, body = TestSent),
        (status = 400, body = ErrorBody, description = "a bad body"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/endpoints/{id}/test")]
pub async fn send_test(
    state: web::Data<AdminState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: TestRequest = optional_body(&body)?;
    let requested_by = requester(request.requested_by)?;
    require_known(&state, &id).await?;
    let event = crate::events::NewEvent::new(
        crate::store::events::TEST_EVENT.to_owned(),
        serde_json::json!({
            "message": "A test event from herald: this endpoint is reachable.",
            "requested_by": requested_by,
        }),
    );
    let delivery_id = state.db(state.store.emit_to_endpoint(&id, &event)).await?;
    tracing::info!(event = "endpoint.test_sent", endpoint_id = %id, delivery_id, event_id = %event.id, requested_by = %requested_by);
    Ok(HttpResponse::Accepted().json(TestSent {
        delivery_id,
        event_id: event.id,
    }))
}

//! `GET /v1/deliveries` (filters, cursor; by event id or `webhook-id`),
//! `GET /v1/deliveries/{id}` (the event, each attempt's request and
//! response, replays), `POST /v1/deliveries/{id}/replay`.

use actix_web::{get, post, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::{optional_body, parse_event_id, parse_since, requester};
use crate::admin::error::{refuse_nul, ErrorBody};
use crate::admin::{AdminState, ApiError};
use crate::messages::delivery::{GetEndpoints, GetInvalidEndpoints};
use crate::store::delivery_log::{
    AttemptRow, DeliveryFilter, DeliveryRecord, DeliverySummary, EventView, ReplayRow,
};
use std::collections::HashMap;

pub fn configure(config: &mut web::ServiceConfig) {
    config.service(list).service(show).service(replay);
}

/// A delivery's state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    /// The endpoint's filter did not want it (never sent).
    Filtered,
    /// Dropped by a silence or mute window (replayable).
    Muted,
    /// Set aside by a silence or mute window; sent when it ends.
    Held,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Filtered => "filtered",
            DeliveryState::Muted => "muted",
            DeliveryState::Held => "held",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this endpoint's deliveries.
    endpoint: Option<String>,
    /// Only this event's deliveries: its id (a UUID), or the `webhook-id`
    /// its requests carry (`msg_…`).
    event_id: Option<String>,
    /// Only the event whose requests carry this `webhook-id` (`msg_…`).
    webhook_id: Option<String>,
    /// Only this event type.
    event_type: Option<String>,
    status: Option<DeliveryState>,
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

/// A delivery, its event (the payload), its attempts oldest first (each
/// with the request as sent and the answer) and its replays.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDetail {
    delivery: DeliverySummary,
    event: EventView,
    attempts: Vec<AttemptRow>,
    replays: Vec<ReplayRow>,
}

/// A replay was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    id: i64,
    /// Always `pending`.
    state: String,
}

/// Who asks for a replay (optional; the body itself may be left out).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Recorded with the replay (default `admin-api`; the CLI sends
    /// `cli:$USER`, the console `console`).
    requested_by: Option<String>,
}

/// Say why pending deliveries wait when their endpoint is the reason:
/// invalid, disabled, or not configured at all.
pub async fn explain_waits(
    state: &AdminState,
    deliveries: &mut [DeliverySummary],
) -> Result<(), ApiError> {
    if deliveries.iter().all(|d| d.state != "pending") {
        return Ok(());
    }
    let unavailable =
        |e: actix::MailboxError| ApiError::Unavailable(format!("delivery is not running: {e}"));
    let known: HashMap<String, bool> = state
        .delivery
        .send(GetEndpoints)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|e| (e.id, e.enabled))
        .collect();
    let invalid: HashMap<String, String> = state
        .delivery
        .send(GetInvalidEndpoints)
        .await
        .map_err(unavailable)?
        .into_iter()
        .collect();
    let disabled: HashMap<String, String> = state
        .db(state.store.endpoint_health())
        .await?
        .into_iter()
        .filter(|h| h.disabled_at.is_some())
        .map(|h| {
            (
                h.endpoint_id,
                h.disabled_reason.unwrap_or_else(|| "disabled".into()),
            )
        })
        .collect();
    for delivery in deliveries.iter_mut().filter(|d| d.state == "pending") {
        let id = &delivery.endpoint_id;
        delivery.waiting = if let Some(reason) = invalid.get(id) {
            Some(format!("not sent: the endpoint is invalid: {reason}"))
        } else if let Some(reason) = disabled.get(id) {
            Some(format!(
                "not sent: the endpoint is {reason}; enable it to resume"
            ))
        } else if known.get(id) == Some(&false) {
            Some("not sent: the endpoint is disabled in the config file".into())
        } else if !known.contains_key(id) {
            Some("not sent: no such endpoint is configured (it fails after --orphan-grace unless it comes back)".into())
        } else {
            None
        };
    }
    Ok(())
}

/// The delivery log, filtered, newest first.
#[utoipa::path(
    operation_id = "list_deliveries",
    tag = "deliveries",
    params(ListQuery),
    responses(
        (status = 200, body = DeliveryPage),
        (status = 400, body = ErrorBody, description = "a filter is not valid"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
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
    let event_id = match (&query.event_id, &query.webhook_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give event_id or webhook_id, not both".into(),
            ))
        }
        (Some(id), None) => Some(parse_event_id(id)?),
        (None, Some(id)) if id.starts_with("msg_") => Some(parse_event_id(id)?),
        (None, Some(id)) => {
            return Err(ApiError::BadRequest(format!(
                "webhook_id={id:?} is not a webhook-id (msg_…)"
            )))
        }
        (None, None) => None,
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit={limit} is not within 1..=1000"
        )));
    }
    let filter = DeliveryFilter {
        endpoint_id: query.endpoint,
        event_id,
        event_type: query.event_type,
        state: query.status.map(|s| s.as_str().to_owned()),
        since: query.since.as_deref().map(parse_since).transpose()?,
        before_id: query.cursor,
        limit,
    };
    let mut deliveries = state.db(state.store.list_deliveries(&filter)).await?;
    explain_waits(&state, &mut deliveries).await?;
    let next_cursor = (deliveries.len() as i64 == limit)
        .then(|| deliveries.last().map(|d| d.id))
        .flatten();
    Ok(HttpResponse::Ok().json(DeliveryPage {
        deliveries,
        next_cursor,
    }))
}

/// One delivery: its event's payload, every attempt with the request as
/// sent (headers, credentials masked, and body) and the answer (status,
/// latency, response excerpt), and its replays.
#[utoipa::path(
    operation_id = "show_delivery",
    tag = "deliveries",
    params(("id" = i64, Path, description = "the delivery's id")),
    responses(
        (status = 200, body = DeliveryDetail),
        (status = 400, body = ErrorBody, description = "the id is not a number"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/deliveries/{id}")]
pub async fn show(
    state: web::Data<AdminState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let DeliveryRecord {
        summary,
        event,
        attempts,
        replays,
    } = state
        .db(state.store.delivery(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery {id}")))?;
    let mut summary = [summary];
    explain_waits(&state, &mut summary).await?;
    let [summary] = summary;
    Ok(HttpResponse::Ok().json(DeliveryDetail {
        delivery: summary,
        event,
        attempts,
        replays,
    }))
}

/// Send a failed or delivered delivery again (same event, same
/// `webhook-id`, a fresh retry budget; attempt numbers continue and the
/// replay is recorded with who asked).
#[utoipa::path(
    operation_id = "replay_delivery",
    request_body(content = Option<ReplayRequest>, description = "optional; with a body, `Content-Type: application/json` (CSRF)"),
    tag = "deliveries",
    params(("id" = i64, Path, description = "the delivery's id")),
    responses(
        (status = 202, body = Replayed),
        (status = 400, body = ErrorBody, description = "the id is not a number"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "the delivery is still pending"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/deliveries/{id}/replay")]
pub async fn replay(
    state: web::Data<AdminState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let request: ReplayRequest = optional_body(&body)?;
    let requested_by = requester(request.requested_by)?;
    match state
        .db(state.store.replay_delivery(id, &requested_by))
        .await?
    {
        Some(endpoint_id) => {
            tracing::info!(event = "delivery.replayed", delivery_id = id, endpoint_id = %endpoint_id, requested_by = %requested_by);
            Ok(HttpResponse::Accepted().json(Replayed {
                id,
                state: "pending".into(),
            }))
        }
        None => match state.db(state.store.delivery(id)).await? {
            None => Err(ApiError::NotFound(format!("no delivery {id}"))),
            Some(_) => Err(ApiError::Conflict(format!(
                "delivery {id} is pending: it is being sent already"
            ))),
        },
    }
}

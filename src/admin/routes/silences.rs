//! `GET /v1/silences`, `POST /v1/silences`, `GET /v1/silences/{id}`,
//! `POST /v1/silences/{id}/expire`: ad-hoc, time-bounded mutes stored in
//! the database, so they hold on every replica and survive restarts
//! (docs/routing.md).

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::input::requester;
use crate::admin::error::{refuse_nul, ErrorBody};
use crate::admin::{AdminState, ApiError};
use crate::routing::{Matchers, MuteAction};
use crate::store::silences::{NewSilence, SilenceRow};

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(list)
        .service(create)
        .service(show)
        .service(expire);
}

/// The longest a silence may last (Alertmanager has no limit; a year
/// catches a unit typo such as `2000h`).
const MAX_LENGTH: chrono::Duration = chrono::Duration::days(366);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Include ended (expired) silences too.
    #[serde(default)]
    all: bool,
    /// 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Silences, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SilenceList {
    silences: Vec<SilenceRow>,
}

/// A new silence.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    /// Matchers in Alertmanager's syntax, all of which must hold:
    /// `["environment=\"prod\"", "type=~\"PIPELINE_.*\""]`; `endpoint="x"`
    /// silences one endpoint.
    matchers: Vec<String>,
    /// RFC 3339; default now.
    starts_at: Option<DateTime<Utc>>,
    /// RFC 3339 end; or give `duration`.
    ends_at: Option<DateTime<Utc>>,
    /// How long from its start (`2h`, `30m`), instead of `ends_at`.
    duration: Option<String>,
    /// `drop` (default: not sent, recorded `muted`, replayable) or `hold`
    /// (sent when the silence ends, in order).
    action: Option<String>,
    /// Why (required).
    comment: String,
    /// Who (default `admin-api`).
    created_by: Option<String>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

impl SilenceRequest {
    fn into_new(self) -> Result<NewSilence, ApiError> {
        for text in &self.matchers {
            refuse_nul("matchers", text)?;
        }
        refuse_nul("comment", &self.comment)?;
        if self.matchers.is_empty() {
            return Err(bad("matchers: give at least one (a silence of everything is a disable: use POST /v1/endpoints/{id}/disable)"));
        }
        let matchers = Matchers::parse_all(self.matchers.iter().map(String::as_str))
            .map_err(|e| bad(format!("matchers: {e}")))?;
        let comment = self.comment.trim().to_owned();
        if comment.is_empty() || comment.len() > 1000 {
            return Err(bad("comment: say why, in 1–1000 bytes"));
        }
        let action = match self.action.as_deref() {
            None => MuteAction::Drop,
            Some(text) => MuteAction::parse(text)
                .ok_or_else(|| bad(format!("action: `{text}` is neither `drop` nor `hold`")))?,
        };
        let start = self.starts_at.unwrap_or_else(Utc::now);
        let ends_at = match (self.ends_at, self.duration.as_deref()) {
            (Some(end), None) => end,
            (None, Some(text)) => {
                let length = humantime::parse_duration(text)
                    .ok()
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .ok_or_else(|| bad(format!("duration: `{text}` is not a length like 2h")))?;
                if length > MAX_LENGTH {
                    return Err(bad("a silence lasts at most 366 days"));
                }
                start
                    .checked_add_signed(length)
                    .ok_or_else(|| bad("the silence would end past the calendar's end"))?
            }
            _ => return Err(bad("give either ends_at or duration")),
        };
        if ends_at <= start {
            return Err(bad("the silence ends before it starts"));
        }
        if ends_at - start > MAX_LENGTH {
            return Err(bad("a silence lasts at most 366 days"));
        }
        if ends_at <= Utc::now() {
            return Err(bad("the silence has already ended"));
        }
        Ok(NewSilence {
            matchers,
            starts_at: self.starts_at,
            ends_at,
            action,
            comment,
            created_by: requester(self.created_by)?,
        })
    }
}

fn parse_id(text: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::try_parse(text).map_err(|_| bad(format!("{text:?} is not a silence id (UUID)")))
}

/// Silences not yet ended (or all, with `all=true`), newest first, with
/// how many deliveries each holds.
#[utoipa::path(
    tag = "silences",
    operation_id = "list_silences",
    params(ListQuery),
    responses(
        (status = 200, body = SilenceList),
        (status = 400, body = ErrorBody, description = "a bad query parameter"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/silences")]
pub async fn list(
    state: web::Data<AdminState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(format!("limit={limit} is not within 1..=1000")));
    }
    let silences = state.db(state.store.silences(query.all, limit)).await?;
    Ok(HttpResponse::Ok().json(SilenceList { silences }))
}

/// Create a silence: from its start until its end, deliveries whose event
/// matches are not sent (`drop`: recorded `muted`) or set aside and sent
/// when it ends (`hold`) — on every replica, from each one's next read of
/// its queue.
#[utoipa::path(
    request_body(content = SilenceRequest, description = "`Content-Type: application/json` (CSRF)"),
    tag = "silences",
    operation_id = "create_silence",
    responses(
        (status = 201, body = SilenceRow),
        (status = 400, body = ErrorBody, description = "bad matchers, times or comment"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/silences")]
pub async fn create(
    state: web::Data<AdminState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: SilenceRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("bad JSON body: {e}")))?;
    let silence = request.into_new()?;
    let row = state.db(state.store.create_silence(&silence)).await?;
    tracing::info!(event = "silence.created", silence_id = %row.id, matchers = %silence.matchers, starts_at = %row.starts_at.to_rfc3339(), ends_at = %row.ends_at.to_rfc3339(), action = %row.action, created_by = %row.created_by);
    Ok(HttpResponse::Created().json(row))
}

/// One silence.
#[utoipa::path(
    tag = "silences",
    operation_id = "show_silence",
    params(("id" = String, Path, description = "the silence's id")),
    responses(
        (status = 200, body = SilenceRow),
        (status = 400, body = ErrorBody, description = "not a UUID"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[get("/v1/silences/{id}")]
pub async fn show(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    match state.db(state.store.silence(id)).await? {
        Some(row) => Ok(HttpResponse::Ok().json(row)),
        None => Err(ApiError::NotFound(format!("no silence {id}"))),
    }
}

/// End a silence now; the deliveries it holds are queued again at once
/// (and sent unless another mute still holds them). An ended silence is
/// answered as it is.
#[utoipa::path(
    request_body(content = Object, description = "send `{}`: a change must be `Content-Type: application/json` (CSRF)"),
    tag = "silences",
    operation_id = "expire_silence",
    params(("id" = String, Path, description = "the silence's id")),
    responses(
        (status = 200, body = SilenceRow),
        (status = 400, body = ErrorBody, description = "not a UUID"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "a foreign Host or Origin"),
        (status = 404, body = ErrorBody),
        (status = 415, body = ErrorBody, description = "not `Content-Type: application/json`"),
        (status = 500, body = ErrorBody, description = "the database failed"),
        (status = 503, body = ErrorBody, description = "the database is unavailable (it did not answer within 3 s)"),
    ),
    security(("bearer" = []))
)]
#[post("/v1/silences/{id}/expire")]
pub async fn expire(
    state: web::Data<AdminState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    match state.db(state.store.expire_silence(id)).await? {
        Some(row) => {
            tracing::info!(event = "silence.expired", silence_id = %row.id, held = row.held);
            Ok(HttpResponse::Ok().json(row))
        }
        None => Err(ApiError::NotFound(format!("no silence {id}"))),
    }
}

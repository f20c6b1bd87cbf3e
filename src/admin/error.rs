//! JSON errors for the admin API: `{"error": "<message>"}` with the right
//! status code.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::store::StoreError;

/// Every error answer: `{"error": "<message>"}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or wrong bearer token")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("database error: {0}")]
    Store(#[from] StoreError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("www-authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            error: self.to_string(),
        })
    }
}

/// `Err` when `text` holds a NUL character, which PostgreSQL text and
/// jsonb cannot store: a client error, not a database failure.
pub fn refuse_nul(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "{field} contains a NUL character (\\u0000), which cannot be stored"
        )));
    }
    Ok(())
}

/// [`refuse_nul`] for every key and string in a JSON value.
pub fn refuse_nul_in_json(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    match value {
        serde_json::Value::String(text) => refuse_nul(field, text),
        serde_json::Value::Array(items) => {
            items.iter().try_for_each(|v| refuse_nul_in_json(field, v))
        }
        serde_json::Value::Object(map) => map.iter().try_for_each(|(key, v)| {
            refuse_nul(field, key)?;
            refuse_nul_in_json(field, v)
        }),
        _ => Ok(()),
    }
}

pub async fn not_found(request: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route {} {}", request.method(), request.path())).error_response()
}

pub fn json_error(error: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match error {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes")).into()
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "the body must be `Content-Type: application/json`".into(),
        )
        .into(),
        error => ApiError::BadRequest(format!("bad JSON body: {error}")).into(),
    }
}

pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _: &HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("bad query: {error}")).into()
}

pub fn path_error(error: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("bad path: {error}")).into()
}

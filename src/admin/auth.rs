//! Bearer-token authentication for the admin API.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::endpoint::Secret;

/// The configured token, if any.
pub struct Token(pub Option<Secret>);

/// Every route but `/healthz` needs the token when one is configured.
pub async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let expected = request
        .app_data::<web::Data<Token>>()
        .and_then(|token| token.0.clone());
    let open = request.path() == "/healthz";
    if let (Some(expected), false) = (expected, open) {
        let given = request
            .headers()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        // Comparing digests keeps the comparison's time independent of
        // where the token and the guess first differ.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.expose().as_bytes()) {
            let response = ApiError::Unauthorized.error_response();
            return Ok(request.into_response(response));
        }
    }
    Ok(next.call(request).await?.map_into_boxed_body())
}

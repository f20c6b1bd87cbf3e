//! The admin API's request checks, in one middleware:
//! - a bearer token on every route but `/healthz`, `/readyz`, `/openapi.json`
//!   and the console's page, script and style (the
//!   scheme is case-insensitive, RFC 7235; compared in constant time);
//! - `Host` must name the admin API itself (its bind address, `localhost`
//!   on its port, or a configured name), so a browser tricked by DNS
//!   rebinding cannot talk to it;
//! - a mutating request (anything but GET/HEAD) must be
//!   `application/json` (a cross-origin form or `text/plain` POST cannot
//!   be) or have no body at all, and, when a browser sends `Origin`, come
//!   from the API's own origin.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};
use sha2::{Digest, Sha256};

use super::ApiError;
use crate::endpoint::Secret;

/// The configured token, if any.
pub struct Token(pub Option<Secret>);

/// The `Host` values the admin API answers to (`host:port`, lower case),
/// set once the server is bound (its port may be chosen then). Empty: any
/// (bound to an unspecified address without configured names).
pub struct AllowedHosts(pub std::sync::Arc<std::sync::OnceLock<Vec<String>>>);

fn header<'a>(request: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `Bearer <token>` with the scheme in any case.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn refuse(request: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    request.into_response(error.error_response())
}

pub async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let allowed = request
        .app_data::<web::Data<AllowedHosts>>()
        .and_then(|hosts| hosts.0.get().cloned());
    if let Some(allowed) = allowed {
        let host = header(&request, "host").unwrap_or("").to_ascii_lowercase();
        if !allowed.is_empty() && !allowed.contains(&host) {
            return Ok(refuse(
                request,
                ApiError::Forbidden(format!("Host {host:?} is not this admin API")),
            ));
        }
    }
    let expected = request
        .app_data::<web::Data<Token>>()
        .and_then(|token| token.0.clone());
    let open = matches!(
        request.path(),
        "/healthz" | "/readyz" | "/openapi.json" | "/" | "/console.js" | "/console.css"
    );
    if let (Some(expected), false) = (expected, open) {
        let given = header(&request, "authorization")
            .and_then(bearer)
            .unwrap_or("");
        // Comparing digests keeps the comparison's time independent of
        // where the token and the guess first differ.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.expose().as_bytes()) {
            return Ok(refuse(request, ApiError::Unauthorized));
        }
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let json = header(&request, "content-type").is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
        });
        // A POST with no body at all (`curl -X POST …/v1/reload`) carries
        // nothing a cross-site form could forge: forms always send a type.
        let bodiless = header(&request, "content-type").is_none()
            && header(&request, "transfer-encoding").is_none()
            && header(&request, "content-length").map_or(true, |n| n.trim() == "0");
        if !json && !bodiless {
            return Ok(refuse(
                request,
                ApiError::UnsupportedMediaType(
                    "a request that changes something must be `Content-Type: application/json`"
                        .into(),
                ),
            ));
        }
        let foreign = header(&request, "origin").and_then(|origin| {
            let host = header(&request, "host").unwrap_or("");
            let own = origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
            (!own).then(|| origin.to_owned())
        });
        if let Some(origin) = foreign {
            return Ok(refuse(
                request,
                ApiError::Forbidden(format!("cross-origin request from {origin} refused")),
            ));
        }
    }
    Ok(next.call(request).await?.map_into_boxed_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }
}

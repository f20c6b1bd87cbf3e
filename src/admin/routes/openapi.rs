//! `GET /openapi.json`: the admin API's OpenAPI 3.1 document, generated
//! from the routes' own annotations and types (utoipa), so it cannot drift
//! from what the handlers accept and answer. Served without a token: it
//! describes the API, it holds nothing of an installation.

use actix_web::{get, HttpResponse};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{console, deliveries, endpoints, events, health, rollout_requests, silences};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "herald admin API",
        description = "Health, endpoints, the delivery log, replays, silences, reloads and custom events. \
                       Every route but /healthz, /readyz, /openapi.json and the console needs \
                       `Authorization: Bearer <admin token>`. Errors are `{\"error\": \"…\"}`."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        endpoints::list,
        endpoints::enable,
        endpoints::disable,
        endpoints::recover,
        endpoints::send_test,
        deliveries::list,
        deliveries::show,
        deliveries::replay,
        events::emit,
        events::show,
        events::reload,
        rollout_requests::list,
        silences::list,
        silences::create,
        silences::show,
        silences::expire,
        console::windows,
        console::decisions,
    ),
    components(schemas(deliveries::DeliveryState)),
    modifiers(&BearerToken),
    tags(
        (name = "endpoints", description = "where herald delivers, and their health"),
        (name = "deliveries", description = "the delivery log and replays"),
        (name = "events", description = "emitting custom events"),
        (name = "silences", description = "ad-hoc mutes, stored in the database"),
        (name = "operations", description = "health, readiness, metrics, reload"),
    )
)]
pub struct ApiDoc;

/// The `bearer` security scheme the routes name.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON.
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

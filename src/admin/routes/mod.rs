//! The admin API's routes, one file per resource.

mod console;
mod deliveries;
mod endpoints;
mod events;
pub(crate) mod health;
mod input;
pub mod openapi;
mod rollout_requests;
mod silences;

use actix_web::web;

pub fn configure(config: &mut web::ServiceConfig) {
    health::configure(config);
    console::configure(config);
    events::configure(config);
    endpoints::configure(config);
    deliveries::configure(config);
    rollout_requests::configure(config);
    silences::configure(config);
    config.service(openapi::document);
}

//! One module per CLI command: each turns parsed arguments into work.

mod admin_client;
mod admin_token;
pub mod check_config;
pub mod deliveries;
pub mod demo;
pub mod endpoints;
pub mod man;
pub mod migrate;
pub mod routes;
pub mod run;
pub mod silences;
pub mod sink;
mod table;
pub mod template;

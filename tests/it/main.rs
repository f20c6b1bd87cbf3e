//! herald's integration tests: one binary, one module per area. Every test
//! runs against a real PostgreSQL (see `support::db`).

mod support;

mod admin;
mod api_contract;
mod approval;
mod bytebase;
mod bytebase_webhooks;
mod ca_bundle;
mod check_config;
mod cli_admin;
mod console;
mod delivery;
mod demo;
mod direct_messages;
mod docs_match;
mod embedded;
mod emit;
mod exactly_once;
mod faults;
mod idle_churn;
mod inspect;
mod issue_events;
mod listener;
mod plan_daemon;
mod plan_progress;
mod plan_supervisor;
mod platform_models;
mod platforms;
mod query_plans;
mod reminders;
mod rotation;
mod routing;
mod schemas;
mod security;
mod sink;
mod templates;

//! herald's integration tests: one binary, one module per area. Every test
//! runs against a real PostgreSQL (see `support::db`).

mod support;

mod embedded;
mod emit;
mod listener;
mod plan_daemon;
mod plan_supervisor;

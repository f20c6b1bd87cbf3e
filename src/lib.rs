//! herald turns the raw activity of a database-change pipeline into a few
//! focused notifications and actions, and delivers them as signed webhooks —
//! exactly right even with several replicas running and any of them crashing.
//!
//! # Layout
//!
//! - [`actors`]: one actix actor per file — the listener, the router, and
//!   the actors that own plans, approvals and deliveries.
//! - [`messages`]: the typed messages those actors exchange.
//! - [`store`]: the only module that speaks SQL; the database is the truth.
//! - [`pipeline`]: the pipeline's statuses as closed enums.
//! - [`rollout`]: when a plan's rollout may be created (the rules, pure).
//! - [`outcome`]: a plan's outcome and run generations, decided from its state;
//!   [`plan_progress`]: the counters it is decided on between reads.
//! - [`events`]: the event model — what herald emits and delivers.
//! - [`routing`]: who hears what, and when — attribute filters, mute
//!   windows and silences, decided before a delivery's first attempt (pure).
//! - [`daemon`]: wires the store and actors together and takes them down.
//! - [`database`] / [`embedded_postgres`]: which PostgreSQL to use; the
//!   embedded default that herald manages itself.
//! - [`cli`] / [`commands`]: the command line and what each command does.
//! - [`admin`]: the admin HTTP API.
//! - [`config`]: global endpoints from the YAML config file; [`formats`]:
//!   platform message formats; [`presentation`]: their language and links
//!   back to the host app; [`signing`]: Standard Webhooks sign/verify.
//! - [`metrics`], [`logging`] (and its in-memory [`decision_log`]),
//!   [`shutdown`], [`node`]: operating concerns.
//!
//! See `ARCHITECTURE.md` for the picture and the invariants.

/// The commit herald was built from (`build.rs`; `unknown` outside git).
pub const COMMIT: &str = env!("HERALD_COMMIT");

/// `herald --version`: the version and the commit.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HERALD_COMMIT"), ")");

pub mod actors;
pub mod admin;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod database;
pub mod decision_log;
pub mod delivery;
pub mod embedded_postgres;
pub mod endpoint;
pub mod events;
pub mod formats;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod node;
pub mod outcome;
pub mod pipeline;
pub mod plan_progress;
pub mod presentation;
pub mod reload;
pub mod rollout;
pub mod routing;
pub mod shutdown;
pub mod signing;
pub mod sources;
pub mod spelling;
pub mod store;

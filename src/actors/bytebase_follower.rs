//! The `BytebaseFollower` actor: keeps herald's native tables in step with
//! a Bytebase metadata database it may only read.
//!
//! - Owns: the read-only connection pool to Bytebase and the
//!   [`Follower`]'s memory (which rows were logged as bad, when approvers
//!   were last read).
//! - Takes: nothing but its own timer: a follow pass every
//!   [`FollowerConfig::poll`]; after a failure, passes back off (doubling up
//!   to [`FollowerConfig::backoff_max`]).
//! - Emits: native rows (the host triggers notify the core from there);
//!   logs `source.attached`, `source.row_skipped`, `source.unavailable` (once
//!   per outage, with the error) and `source.recovered`; `/readyz` answers
//!   503 with the reason while the source cannot be followed.
//! - Across replicas: every replica runs one; a pass holds an advisory lock,
//!   so one replica mirrors at a time and a kill -9 mid-pass loses nothing
//!   (its transaction rolls back, the next pass redoes it).
//! - On restart: all state is in herald's database (cursors, key map); the
//!   next pass resumes where the last committed one stopped.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{debug, info, warn};

use crate::messages::StopActor;
use crate::metrics::Metrics;
use crate::sources::bytebase::follow::{FollowConfig, Follower};

/// Settings of the follower actor.
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    /// Time between passes.
    pub poll: Duration,
    /// Longest wait between passes after failures.
    pub backoff_max: Duration,
    pub follow: FollowConfig,
}

impl Default for FollowerConfig {
    fn default() -> Self {
        FollowerConfig {
            poll: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            follow: FollowConfig::default(),
        }
    }
}

/// Runs follow passes, one at a time.
pub struct BytebaseFollower {
    follower: Option<Follower>,
    config: FollowerConfig,
    metrics: Arc<Metrics>,
    failures: u32,
    stopping: bool,
}

impl BytebaseFollower {
    pub fn new(follower: Follower, config: FollowerConfig, metrics: Arc<Metrics>) -> Self {
        BytebaseFollower {
            follower: Some(follower),
            config,
            metrics,
            failures: 0,
            stopping: false,
        }
    }

    fn next_delay(&self) -> Duration {
        if self.failures == 0 {
            return self.config.poll;
        }
        let doubled = self
            .config
            .poll
            .saturating_mul(2u32.saturating_pow(self.failures.min(16)));
        doubled.min(self.config.backoff_max)
    }

    fn schedule(&self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        ctx.run_later(self.next_delay(), |actor, ctx| actor.run_pass(ctx));
    }

    fn run_pass(&mut self, ctx: &mut Context<Self>) {
        let Some(mut follower) = self.follower.take() else {
            return;
        };
        let pass = async move {
            let started = std::time::Instant::now();
            let result = follower.pass().await;
            (follower, result, started.elapsed())
        };
        ctx.spawn(
            pass.into_actor(self)
                .map(|(follower, result, took), actor, ctx| {
                    actor.follower = Some(follower);
                    match result {
                        Ok(report) => {
                            let label = if report.skipped { "skipped" } else { "ok" };
                            if !report.skipped {
                                actor.metrics.source_pass_seconds.observe(took.as_secs_f64());
                            }
                            actor.metrics.source_passes.with_label_values(&[label]).inc();
                            actor.metrics.source_rows_skipped.inc_by(report.bad as u64);
                            if actor.failures > 0 {
                                info!(event = "source.recovered", source = "bytebase", after_failures = actor.failures);
                            }
                            actor.failures = 0;
                            actor.metrics.set_source_problem(None);
                            debug!(event = "source.pass", source = "bytebase", read = report.read, skipped = report.skipped);
                        }
                        Err(error) => {
                            actor.metrics.source_passes.with_label_values(&["failed"]).inc();
                            if actor.failures == 0 {
                                warn!(event = "source.unavailable", source = "bytebase", error = %error, "retrying with backoff");
                            }
                            actor.failures += 1;
                            actor
                                .metrics
                                .set_source_problem(Some(format!("the Bytebase source cannot be followed: {error}")));
                        }
                    }
                    actor.schedule(ctx);
                }),
        );
    }
}

impl Actor for BytebaseFollower {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.run_pass(ctx);
    }
}

impl Handler<StopActor> for BytebaseFollower {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        self.stopping = true;
        ctx.stop();
    }
}

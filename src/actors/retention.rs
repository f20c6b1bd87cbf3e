//! The `Retention` actor: keeps history bounded whatever the delivery rate.
//!
//! - Owns: the pruning schedule and the pass in flight (at most one).
//! - Takes: nothing but its own timer (every [`RetentionConfig::interval`])
//!   and [`StopActor`].
//! - Each pass deletes, in batches of [`RetentionConfig::batch`], finished
//!   deliveries and unreferenced events past `--retain`, superseded claims
//!   and handled issue transitions past `--retain-decisions`
//!   ([`Prunable`]), until a batch comes back short (caught up) or the pass
//!   has used its time budget; a pass that ran out of budget starts the
//!   next one at once instead of waiting for the interval, so deletion keeps
//!   up with any rate herald can deliver at (one batch of 5,000 takes tens
//!   of milliseconds). Every replica prunes; batches are disjoint enough
//!   that two replicas only help each other.
//! - Emits: `history.pruned` once per pass that deleted something, with
//!   the counts and whether it caught up.
//! - Restart: keeps no state.

use std::time::{Duration, Instant};

use actix::prelude::*;
use tracing::{info, warn};

use crate::messages::StopActor;
use crate::store::retention::Prunable;
use crate::store::{Store, StoreError};

/// Age limits and pacing of retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Finished deliveries and unreferenced events (`--retain`; None: kept).
    pub deliveries: Option<Duration>,
    /// Superseded claims and handled transitions (`--retain-decisions`;
    /// None: kept).
    pub decisions: Option<Duration>,
    /// Time between passes that caught up.
    pub interval: Duration,
    /// Rows per DELETE.
    pub batch: i64,
    /// A pass stops starting batches after this long.
    pub budget: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            deliveries: Some(Duration::from_secs(30 * 24 * 3600)),
            decisions: Some(Duration::from_secs(90 * 24 * 3600)),
            interval: Duration::from_secs(60),
            batch: 5_000,
            budget: Duration::from_secs(10),
        }
    }
}

impl RetentionConfig {
    /// The age limit of `what` (None: kept forever).
    pub fn limit(&self, what: Prunable) -> Option<Duration> {
        match what {
            Prunable::Deliveries | Prunable::Events => self.deliveries,
            Prunable::Claims | Prunable::Transitions => self.decisions,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    /// Rows deleted, per [`Prunable::ALL`] entry.
    pub deleted: [u64; 4],
    /// Every kind came back with a short batch.
    pub caught_up: bool,
}

/// One pass: batches of each kind until each is caught up or the budget is
/// spent.
pub async fn prune_pass(store: &Store, config: &RetentionConfig) -> Result<PassReport, StoreError> {
    let started = Instant::now();
    let mut report = PassReport {
        caught_up: true,
        ..PassReport::default()
    };
    for (index, what) in Prunable::ALL.into_iter().enumerate() {
        let Some(retain) = config.limit(what) else {
            continue;
        };
        loop {
            let deleted = store.prune(what, retain, config.batch).await?;
            report.deleted[index] += deleted;
            if (deleted as i64) < config.batch {
                break;
            }
            if started.elapsed() >= config.budget {
                report.caught_up = false;
                return Ok(report);
            }
        }
    }
    Ok(report)
}

/// Prunes history on a timer.
pub struct Retention {
    store: Store,
    config: RetentionConfig,
}

impl Retention {
    pub fn new(store: Store, config: RetentionConfig) -> Self {
        Retention { store, config }
    }

    fn pass(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let config = self.config.clone();
        let work = async move { prune_pass(&store, &config).await };
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            let next = match result {
                Ok(report) => {
                    if report.deleted.iter().any(|&n| n > 0) {
                        let [deliveries, claims, transitions, events] = report.deleted;
                        info!(
                            event = "history.pruned",
                            deliveries,
                            claims,
                            transitions,
                            events,
                            caught_up = report.caught_up
                        );
                    }
                    if report.caught_up {
                        act.config.interval
                    } else {
                        Duration::ZERO
                    }
                }
                Err(error) => {
                    warn!(event = "history.prune_failed", error = %error);
                    act.config.interval
                }
            };
            ctx.run_later(next, |act, ctx| act.pass(ctx));
        }));
    }
}

impl Actor for Retention {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.config.deliveries.is_none() && self.config.decisions.is_none() {
            return;
        }
        let first = self.config.interval;
        ctx.run_later(first, |act, ctx| act.pass(ctx));
    }
}

impl Handler<StopActor> for Retention {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

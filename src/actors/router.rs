//! The `Router` actor: the single entry point for typed database changes.
//!
//! - Owns: the routing table ([`RouterTargets`]).
//! - Takes: [`DbChange`] from the listener (or a test), and [`Reconcile`].
//! - Emits: each change to the actor that owns it — task runs to the plan
//!   supervisors, issues and plan check runs to the approval / issue-event
//!   actors, outbox changes to delivery — and every [`Reconcile`] to each
//!   reconcile target, so NOTIFY's losses are repaired.
//! - Every `reconcile_every` it sends a [`Reconcile`] (`periodic`) too: the
//!   safety net for notifications lost without a reconnect and for handling
//!   that failed on a transient error.
//! - Never queues without bound: a change whose target's mailbox is full is
//!   dropped and counted (`herald_notifications_dropped_total`); what it
//!   announced is in a work row, an unhandled transition or the outbox, so
//!   one [`Reconcile`] (`overflow`), at most one per [`OVERFLOW_RECONCILE`]
//!   whatever was dropped meanwhile, repairs it. Notifications are hints.
//! - A change with no target is logged at debug (`notification.unrouted`).
//! - Keeps no state that needs rebuilding after a restart.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::messages::StopActor;
use crate::metrics::Metrics;
use tracing::{debug, info, warn};

use crate::messages::{
    DbChange, IssueChanged, OutboxChanged, PlanCheckRunChanged, Reconcile, ReconcileReason,
    TaskRunChanged,
};

/// Where each kind of change goes. Empty targets drop the change (debug log).
#[derive(Default, Clone)]
pub struct RouterTargets {
    pub task_runs: Vec<Recipient<TaskRunChanged>>,
    pub issues: Vec<Recipient<IssueChanged>>,
    pub plan_check_runs: Vec<Recipient<PlanCheckRunChanged>>,
    pub outbox: Vec<Recipient<OutboxChanged>>,
    pub reconcile: Vec<Recipient<Reconcile>>,
}

/// The mailbox capacity of the actors the router feeds: a burst up to this
/// size is queued; past it, changes are dropped and reconciled.
pub const TARGET_MAILBOX: usize = 16_384;

/// After the first dropped change, the reconciliation that repairs it (and
/// every change dropped meanwhile) is sent this much later.
pub const OVERFLOW_RECONCILE: Duration = Duration::from_secs(1);

/// Routes typed changes to the actors that own them.
pub struct Router {
    targets: RouterTargets,
    /// The periodic reconcile's interval (None: only on request).
    reconcile_every: Option<Duration>,
    metrics: Arc<Metrics>,
    /// Changes dropped since the last overflow reconcile was scheduled.
    dropped: u64,
    /// An overflow reconcile is scheduled.
    overflow_pending: bool,
}

impl Router {
    pub fn new(targets: RouterTargets) -> Self {
        Router {
            targets,
            reconcile_every: None,
            metrics: Arc::new(Metrics::new()),
            dropped: 0,
            overflow_pending: false,
        }
    }

    /// Count dropped changes in `metrics` (the daemon's).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Send `message` to every target of its kind; a target whose mailbox
    /// is full misses it, and a reconcile is scheduled.
    fn route<M>(
        &mut self,
        targets: &[Recipient<M>],
        message: M,
        table: &'static str,
        ctx: &mut Context<Self>,
    ) where
        M: Message<Result = ()> + Send + Clone + 'static,
    {
        if targets.is_empty() {
            debug!(event = "notification.unrouted", table);
            return;
        }
        let mut dropped = 0;
        for target in targets {
            match target.try_send(message.clone()) {
                Ok(()) => {}
                Err(SendError::Full(_)) => dropped += 1,
                Err(SendError::Closed(_)) => warn!(event = "notification.target_closed", table),
            }
        }
        if dropped > 0 {
            self.metrics
                .notifications_dropped
                .with_label_values(&[table])
                .inc_by(dropped);
            self.overflowed(ctx);
        }
    }

    fn overflowed(&mut self, ctx: &mut Context<Self>) {
        if self.dropped == 0 {
            warn!(
                event = "notification.overflow",
                "an actor is behind: notifications are dropped until it catches up, then reconciled"
            );
        }
        self.dropped += 1;
        if self.overflow_pending {
            return;
        }
        self.overflow_pending = true;
        ctx.run_later(OVERFLOW_RECONCILE, |router, _ctx| {
            router.overflow_pending = false;
            info!(
                event = "notification.overflow_reconcile",
                dropped = router.dropped
            );
            router.dropped = 0;
            router
                .metrics
                .reconciles
                .with_label_values(&[ReconcileReason::Overflow.as_str()])
                .inc();
            forward(
                &router.targets.reconcile,
                Reconcile {
                    reason: ReconcileReason::Overflow,
                },
                "reconcile",
            );
        });
    }

    /// Send a periodic [`Reconcile`] to every reconcile target.
    pub fn reconcile_every(mut self, every: Duration) -> Self {
        self.reconcile_every = Some(every).filter(|d| !d.is_zero());
        self
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // The listener never waits on us: a larger mailbox smooths bursts.
        ctx.set_mailbox_capacity(TARGET_MAILBOX);
        if let Some(every) = self.reconcile_every {
            ctx.run_interval(every, |router, _| {
                debug!(
                    event = "reconcile.periodic",
                    targets = router.targets.reconcile.len()
                );
                forward(
                    &router.targets.reconcile,
                    Reconcile {
                        reason: ReconcileReason::Periodic,
                    },
                    "reconcile",
                );
            });
        }
    }
}

/// Send a reconciliation request to every recipient. `do_send` queues past
/// the mailbox capacity: requests are rare (a timer, a reconnect, an
/// overflow at most once a second) and every target coalesces them.
fn forward<M>(targets: &[Recipient<M>], message: M, table: &'static str)
where
    M: Message<Result = ()> + Send + Clone + 'static,
{
    if targets.is_empty() {
        debug!(event = "notification.unrouted", table);
        return;
    }
    for target in targets {
        if target.connected() {
            target.do_send(message.clone());
        } else {
            warn!(event = "notification.target_closed", table);
        }
    }
}

impl Handler<DbChange> for Router {
    type Result = ();

    fn handle(&mut self, change: DbChange, ctx: &mut Self::Context) {
        let table = change.table();
        let targets = std::mem::take(&mut self.targets);
        match change {
            DbChange::TaskRun(m) => self.route(&targets.task_runs, m, table, ctx),
            DbChange::Issue(m) => self.route(&targets.issues, m, table, ctx),
            DbChange::PlanCheckRun(m) => self.route(&targets.plan_check_runs, m, table, ctx),
            DbChange::Outbox(m) => self.route(&targets.outbox, m, table, ctx),
        }
        self.targets = targets;
    }
}

impl Handler<Reconcile> for Router {
    type Result = ();

    fn handle(&mut self, request: Reconcile, _ctx: &mut Self::Context) {
        info!(
            event = "reconcile.requested",
            reason = request.reason.as_str(),
            targets = self.targets.reconcile.len()
        );
        forward(&self.targets.reconcile, request, "reconcile");
    }
}

impl Handler<StopActor> for Router {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

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
//! - A change with no target is logged at debug (`notification.unrouted`).
//! - Keeps no state that needs rebuilding after a restart.

use std::time::Duration;

use actix::prelude::*;

use crate::messages::StopActor;
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

/// Routes typed changes to the actors that own them.
pub struct Router {
    targets: RouterTargets,
    /// The periodic reconcile's interval (None: only on request).
    reconcile_every: Option<Duration>,
}

impl Router {
    pub fn new(targets: RouterTargets) -> Self {
        Router {
            targets,
            reconcile_every: None,
        }
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
        // The listener waits on us: a larger mailbox smooths bursts.
        ctx.set_mailbox_capacity(1024);
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

/// Send `message` to every recipient. `do_send` queues past the mailbox
/// capacity: targets are herald's own actors, which never block for long, and
/// the listener's `send` to the router is where back-pressure is applied.
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

    fn handle(&mut self, change: DbChange, _ctx: &mut Self::Context) {
        let table = change.table();
        match change {
            DbChange::TaskRun(m) => forward(&self.targets.task_runs, m, table),
            DbChange::Issue(m) => forward(&self.targets.issues, m, table),
            DbChange::PlanCheckRun(m) => forward(&self.targets.plan_check_runs, m, table),
            DbChange::Outbox(m) => forward(&self.targets.outbox, m, table),
        }
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

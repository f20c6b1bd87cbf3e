//! The `PlanRegistry` actor: one [`PlanSupervisor`] per active plan.
//!
//! - Owns: the map plan id → live supervisor (address and the number of
//!   messages forwarded to it), and what the supervisors share
//!   ([`PlanShared`]).
//! - Takes: [`TaskRunChanged`] from the router (starts the plan's supervisor
//!   on the first one), [`Reconcile`] (scans the database for plans with an
//!   outcome due or a failure window open and feeds each to its supervisor as
//!   [`EvaluatePlan`]), [`EvaluatePlan`], [`PlanIdle`] (evicts a supervisor
//!   that has seen every message forwarded to it), [`GetPlanStatus`],
//!   [`GetOpenWindows`], [`StopActor`].
//! - Every few seconds, and whenever it forwards, it replaces supervisors
//!   that died (a panic that escaped their own guard) with fresh ones, which
//!   rebuild from the database.
//! - Keeps nothing that needs rebuilding: after a restart the next
//!   reconciliation and notifications bring the supervisors back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

pub use super::plan_shared::{Origin, PlanConfig, PlanShared, MAX_CONCURRENT_READS};
use super::plan_supervisor::PlanSupervisor;
use crate::messages::StopActor;
use crate::messages::{
    EvaluatePlan, GetOpenWindows, GetPlanStatus, InjectPanic, PlanIdle, PlanStatus, Reconcile,
    ReconcileReason, ShutdownPlan, TaskRunChanged,
};
use crate::metrics::Metrics;
use crate::store::Store;

/// How often dead supervisors are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Plans taken per reconciliation batch.
const RECONCILE_BATCH: i64 = 1_000;
/// A plan taken by a reconciliation is due again after this long unless its
/// supervisor settles it first (a replica that died mid-pass, a failed
/// read).
pub const RECONCILE_LEASE: Duration = Duration::from_secs(30);

struct Entry {
    addr: Addr<PlanSupervisor>,
    /// Messages forwarded to this supervisor.
    forwarded: u64,
}

/// Starts, feeds and evicts plan supervisors.
pub struct PlanRegistry {
    shared: Arc<PlanShared>,
    plans: HashMap<i64, Entry>,
    /// A reconciliation pass is running.
    reconciling: bool,
    /// Asked for while a pass ran: one more pass, for this reason.
    reconcile_again: Option<ReconcileReason>,
}

impl PlanRegistry {
    /// Start the registry. `node_id` names this replica in claims.
    pub fn start(
        store: Store,
        config: PlanConfig,
        node_id: String,
        metrics: Arc<Metrics>,
    ) -> Addr<PlanRegistry> {
        PlanRegistry::create(move |ctx| PlanRegistry {
            shared: Arc::new(PlanShared {
                store,
                config,
                node_id,
                metrics,
                registry: ctx.address().recipient(),
                reads: Semaphore::new(MAX_CONCURRENT_READS),
            }),
            plans: HashMap::new(),
            reconciling: false,
            reconcile_again: None,
        })
    }

    /// The live supervisor of `plan_id`, started (or replaced, if it died).
    fn supervisor(&mut self, plan_id: i64, origin: Origin) -> &mut Entry {
        let shared = self.shared.clone();
        if !self.plans.contains_key(&plan_id) {
            shared
                .metrics
                .plan_supervisors
                .set(self.plans.len() as i64 + 1);
        }
        let entry = self.plans.entry(plan_id).or_insert_with(|| Entry {
            addr: PlanSupervisor::start_supervised(plan_id, shared.clone(), origin),
            forwarded: 0,
        });
        if !entry.addr.connected() {
            warn!(event = "plan.replaced", plan_id, reason = "supervisor died");
            *entry = Entry {
                addr: PlanSupervisor::start_supervised(plan_id, shared, Origin::Restart),
                forwarded: 0,
            };
        }
        entry
    }

    fn forward_evaluate(&mut self, plan_id: i64, origin: Origin) {
        let entry = self.supervisor(plan_id, origin);
        entry.forwarded += 1;
        entry.addr.do_send(EvaluatePlan { plan_id });
    }

    fn sweep(&mut self) {
        let dead: Vec<i64> = self
            .plans
            .iter()
            .filter(|(_, e)| !e.addr.connected())
            .map(|(id, _)| *id)
            .collect();
        for plan_id in dead {
            // Replaces it; the new one reads the plan and re-arms its window.
            self.supervisor(plan_id, Origin::Restart);
        }
    }
}

impl Actor for PlanRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(super::router::TARGET_MAILBOX);
        ctx.run_interval(SWEEP_INTERVAL, |act, _| act.sweep());
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        for (_, entry) in self.plans.drain() {
            entry.addr.do_send(ShutdownPlan);
        }
        self.shared.metrics.plan_supervisors.set(0);
        info!(event = "plans.stopped");
    }
}

impl Handler<TaskRunChanged> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, change: TaskRunChanged, _ctx: &mut Self::Context) {
        // `do_send`: supervisors only queue work and coalesce reads, and the
        // router's inflow is bounded by the listener's `send`.
        let entry = self.supervisor(change.plan_id, Origin::Message);
        entry.forwarded += 1;
        entry.addr.do_send(change);
    }
}

impl Handler<EvaluatePlan> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, request: EvaluatePlan, _ctx: &mut Self::Context) {
        self.forward_evaluate(request.plan_id, Origin::Reconcile);
    }
}

impl PlanRegistry {
    /// One reconciliation pass: take due plans in batches until none is
    /// left, feeding each to its supervisor.
    fn reconcile(&mut self, reason: ReconcileReason, ctx: &mut Context<Self>) {
        if self.reconciling {
            self.reconcile_again = Some(reason);
            return;
        }
        self.reconciling = true;
        let store = self.shared.store.clone();
        let pass = async move {
            let mut taken: Vec<i64> = Vec::new();
            loop {
                let after = taken.last().copied().unwrap_or(0);
                let batch = match store
                    .take_due_plans(after, RECONCILE_BATCH, RECONCILE_LEASE)
                    .await
                {
                    Ok(batch) => batch,
                    Err(error) => return (taken, Some(error)),
                };
                if batch.is_empty() {
                    return (taken, None);
                }
                taken.extend(batch);
            }
        };
        ctx.spawn(
            pass
            .into_actor(self)
            .map(move |(taken, error), act, ctx| {
                act.reconciling = false;
                let due = taken.len();
                for plan_id in taken {
                    act.forward_evaluate(plan_id, Origin::Reconcile);
                }
                match error {
                    // Once per pass; at debug when there was nothing to do.
                    None if due == 0 => debug!(event = "plans.reconciled", reason = reason.as_str(), due, live = act.plans.len()),
                    None => info!(event = "plans.reconciled", reason = reason.as_str(), due, live = act.plans.len()),
                    Some(error) => {
                        warn!(event = "plans.reconcile_failed", reason = reason.as_str(), due, error = %error);
                    }
                }
                if let Some(again) = act.reconcile_again.take() {
                    act.reconcile(again, ctx);
                }
            }),
        );
    }
}

impl Handler<Reconcile> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, request: Reconcile, ctx: &mut Self::Context) {
        self.reconcile(request.reason, ctx);
    }
}

impl Handler<PlanIdle> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, idle: PlanIdle, _ctx: &mut Self::Context) {
        let current = self
            .plans
            .get(&idle.plan_id)
            .is_some_and(|e| e.forwarded == idle.handled);
        if !current {
            // A message is on its way to it: it stays.
            return;
        }
        // Dropping the last address stops it (it has no timers left).
        self.plans.remove(&idle.plan_id);
        let live = self.plans.len();
        self.shared.metrics.plan_supervisors.set(live as i64);
        info!(
            event = "plan.evicted",
            plan_id = idle.plan_id,
            generation = idle.generation,
            reason = if idle.unknown { "unknown_plan" } else { "idle" },
            live,
        );
    }
}

impl Handler<GetPlanStatus> for PlanRegistry {
    type Result = ResponseFuture<Option<PlanStatus>>;

    fn handle(&mut self, request: GetPlanStatus, _ctx: &mut Self::Context) -> Self::Result {
        let addr = self.plans.get(&request.plan_id).map(|e| e.addr.clone());
        Box::pin(async move {
            match addr {
                Some(addr) => addr.send(request).await.ok().flatten(),
                None => None,
            }
        })
    }
}

impl Handler<GetOpenWindows> for PlanRegistry {
    type Result = ResponseFuture<Vec<PlanStatus>>;

    fn handle(&mut self, _: GetOpenWindows, _ctx: &mut Self::Context) -> Self::Result {
        let asks: Vec<_> = self
            .plans
            .iter()
            .map(|(plan_id, entry)| entry.addr.send(GetPlanStatus { plan_id: *plan_id }))
            .collect();
        Box::pin(async move {
            let mut open: Vec<PlanStatus> = futures_util::future::join_all(asks)
                .await
                .into_iter()
                .filter_map(|answer| answer.ok().flatten())
                .filter(|status| status.window_deadline.is_some())
                .collect();
            open.sort_by_key(|status| status.window_deadline);
            open
        })
    }
}

impl Handler<InjectPanic> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, request: InjectPanic, _ctx: &mut Self::Context) {
        if let Some(entry) = self.plans.get(&request.plan_id) {
            entry.addr.do_send(request);
        }
    }
}

impl Handler<StopActor> for PlanRegistry {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

//! The `PlanSupervisor` actor: one per active plan, owns that plan's outcome.
//!
//! - Owns: a cache of the plan's tasks and their latest run status, the open
//!   failure window's timer and the idle timer. The database is the truth:
//!   every decision is made on a fresh read ([`Store::plan_state`]), and
//!   claims re-read and re-decide under a lock
//!   ([`Store::claim_plan_outcome`]); the rules are in [`crate::outcome`].
//! - Takes: [`TaskRunChanged`] and [`EvaluatePlan`] (from the
//!   [`PlanRegistry`](super::PlanRegistry)), [`GetPlanStatus`],
//!   [`ShutdownPlan`]. Messages arriving while a read is in flight are
//!   coalesced into one more read.
//! - Emits: `PIPELINE_COMPLETED` / `PIPELINE_FAILED` through the claim (event
//!   and outbox rows in the claim's transaction); [`PlanIdle`] to the registry
//!   after `idle` without messages and without an open window.
//! - Restart: started anywhere (first message, reconciliation, another
//!   replica, after eviction) it reads the plan and re-arms an open window at
//!   `first_failure + window`. A panic inside a handler or a read is caught,
//!   logged (`plan.panicked`) and turned into `ctx.stop()`: the actix
//!   [`Supervisor`](actix::Supervisor) restarts it (`restarting()` clears the
//!   cache) and `started()` reads the plan again.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use futures_util::FutureExt as _;
use tracing::{error, info, warn};

pub use super::plan_shared::{Origin, PlanConfig, PlanShared};
use crate::messages::{
    EvaluatePlan, GetPlanStatus, InjectPanic, PlanIdle, PlanStatus, ShutdownPlan, TaskRunChanged,
};
use crate::outcome::Decision;
use crate::pipeline::TaskRunStatus;
use crate::store::plans::{ClaimResult, ClaimedOutcome, PlanState};
use crate::store::StoreError;

/// Retry delay when the plan's rows are locked by a claim or an insert.
const BUSY_RETRY: Duration = Duration::from_millis(50);
const ERROR_RETRY_INITIAL: Duration = Duration::from_millis(500);
const ERROR_RETRY_MAX: Duration = Duration::from_secs(30);
/// Unknown task ids remembered for checking against the next read.
const MAX_UNVERIFIED: usize = 32;

/// The result of one read (and possibly a claim).
enum Evaluation {
    Unknown,
    Read(PlanState),
    Claimed(ClaimedOutcome),
    Lost { generation: i32 },
    Busy,
    Failed(StoreError),
    Panicked,
}

/// One plan's supervisor.
pub struct PlanSupervisor {
    plan_id: i64,
    shared: Arc<PlanShared>,
    origin: Origin,
    /// Messages handled (compared by the registry before evicting).
    handled: u64,
    generation: Option<i32>,
    claimed_generation: i32,
    /// (task id, latest run id, latest status) per task, by task id.
    tasks: Vec<(i64, i64, Option<TaskRunStatus>)>,
    /// (task id, run id) from messages naming tasks not (yet) known.
    unverified: Vec<(i64, i64)>,
    window: Option<DateTime<Utc>>,
    window_timer: Option<SpawnHandle>,
    idle_timer: Option<SpawnHandle>,
    retry_timer: Option<SpawnHandle>,
    evaluating: bool,
    again: bool,
    recovering: bool,
    errors: u32,
    evaluations: u64,
    restarts: u32,
}

impl PlanSupervisor {
    pub fn new(plan_id: i64, shared: Arc<PlanShared>, origin: Origin) -> Self {
        PlanSupervisor {
            plan_id,
            shared,
            origin,
            handled: 0,
            generation: None,
            claimed_generation: 0,
            tasks: Vec::new(),
            unverified: Vec::new(),
            window: None,
            window_timer: None,
            idle_timer: None,
            retry_timer: None,
            evaluating: false,
            again: false,
            recovering: false,
            errors: 0,
            evaluations: 0,
            restarts: 0,
        }
    }

    /// Start a supervised supervisor.
    pub fn start_supervised(plan_id: i64, shared: Arc<PlanShared>, origin: Origin) -> Addr<Self> {
        actix::Supervisor::start(move |_| PlanSupervisor::new(plan_id, shared, origin))
    }

    fn status(&self) -> PlanStatus {
        let latest = || self.tasks.iter().filter_map(|t| t.2);
        PlanStatus {
            plan_id: self.plan_id,
            generation: self.generation,
            claimed_generation: self.claimed_generation,
            window_deadline: self.window,
            tasks: self.tasks.len(),
            terminal: latest().filter(|s| s.is_terminal()).count(),
            failed: latest().filter(|s| *s == TaskRunStatus::Failed).count(),
            busy: self.evaluating || self.again || self.retry_timer.is_some(),
            evaluations: self.evaluations,
            restarts: self.restarts,
        }
    }

    /// Run `f`; a panic in it is logged and stops the actor, which the actix
    /// supervisor then restarts from the database.
    fn guarded(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self, &mut Context<Self>)) {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(self, ctx)));
        if outcome.is_err() {
            error!(event = "plan.panicked", plan_id = self.plan_id, generation = ?self.generation);
            ctx.stop();
        }
    }

    /// Read the plan (coalesced: one read in flight, at most one queued).
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle_timer.take() {
            ctx.cancel_future(handle);
        }
        if self.evaluating {
            self.again = true;
            return;
        }
        if let Some(handle) = self.retry_timer.take() {
            ctx.cancel_future(handle);
        }
        self.evaluating = true;
        let shared = self.shared.clone();
        let plan_id = self.plan_id;
        let read = AssertUnwindSafe(evaluate(shared, plan_id)).catch_unwind();
        ctx.spawn(read.into_actor(self).map(|result, act, ctx| {
            let result = result.unwrap_or(Evaluation::Panicked);
            act.guarded(ctx, |act, ctx| act.apply(result, ctx));
        }));
    }

    fn apply(&mut self, result: Evaluation, ctx: &mut Context<Self>) {
        self.evaluating = false;
        self.evaluations += 1;
        match result {
            Evaluation::Unknown => {
                warn!(
                    event = "plan.unknown",
                    plan_id = self.plan_id,
                    skipped = self.handled
                );
                self.again = false;
                self.shared.registry.do_send(PlanIdle {
                    plan_id: self.plan_id,
                    handled: self.handled,
                    generation: None,
                    unknown: true,
                });
                return;
            }
            Evaluation::Read(state) => {
                self.errors = 0;
                let decision = state.decide(self.shared.config.failure_window);
                self.absorb(&state);
                self.follow(decision, state.db_now, ctx);
            }
            Evaluation::Claimed(claimed) => {
                self.errors = 0;
                self.shared
                    .metrics
                    .plan_outcomes
                    .with_label_values(&["claimed"])
                    .inc();
                info!(
                    event = "outcome.claimed",
                    plan_id = self.plan_id,
                    generation = claimed.generation,
                    outcome = claimed.kind.as_str(),
                    reason = claimed.reason.as_str(),
                    event_id = %claimed.event_id,
                    total_tasks = claimed.total_tasks,
                    failed_tasks = claimed.failed_tasks,
                    deliveries = claimed.deliveries,
                );
                self.claimed_generation = claimed.generation;
                self.close_window(ctx, claimed.reason.as_str(), claimed.failed_tasks);
                // Read again: the cache follows the state the claim saw.
                self.again = true;
            }
            Evaluation::Lost { generation } => {
                self.shared
                    .metrics
                    .plan_outcomes
                    .with_label_values(&["lost"])
                    .inc();
                info!(event = "outcome.lost_claim", plan_id = self.plan_id, generation, node_id = %self.shared.node_id);
                self.close_window(ctx, "lost_claim", 0);
                self.again = true;
            }
            Evaluation::Busy => self.retry_later(ctx, BUSY_RETRY),
            Evaluation::Failed(error) => {
                let delay = ERROR_RETRY_INITIAL
                    .saturating_mul(2u32.saturating_pow(self.errors.min(16)))
                    .min(ERROR_RETRY_MAX);
                self.errors = self.errors.saturating_add(1);
                warn!(event = "plan.read_failed", plan_id = self.plan_id, error = %error, retry_in_ms = delay.as_millis() as u64);
                self.retry_later(ctx, delay);
            }
            Evaluation::Panicked => {
                error!(event = "plan.panicked", plan_id = self.plan_id, generation = ?self.generation);
                ctx.stop();
                return;
            }
        }
        if self.again {
            self.again = false;
            self.evaluate(ctx);
        } else {
            self.arm_idle(ctx);
        }
    }

    /// Take in a fresh read: the task cache, the generation, unknown tasks.
    fn absorb(&mut self, state: &PlanState) {
        let generation = state.generation();
        let active = state.max_run_id.is_some();
        let reset = match self.generation {
            Some(previous) => generation > previous && active,
            None => self.origin == Origin::Message && state.claimed_generation > 0 && active,
        };
        if reset {
            info!(
                event = "generation.reset",
                plan_id = self.plan_id,
                generation,
                previous = state.claimed_generation,
                tasks = state.tasks.len(),
            );
        }
        self.generation = Some(generation);
        self.claimed_generation = state.claimed_generation;
        self.tasks = state
            .tasks
            .iter()
            .map(|t| {
                (
                    t.task_id,
                    t.latest.as_ref().map_or(0, |r| r.run_id),
                    t.latest.as_ref().map(|r| r.status),
                )
            })
            .collect();
        for (task_id, run_id) in std::mem::take(&mut self.unverified) {
            if self.tasks.binary_search_by_key(&task_id, |t| t.0).is_err() {
                warn!(
                    event = "plan.unknown_task",
                    plan_id = self.plan_id,
                    task_id,
                    task_run_id = run_id
                );
            }
        }
        if self.recovering {
            self.recovering = false;
            let facts = state.facts();
            info!(
                event = "plan.recovered",
                plan_id = self.plan_id,
                generation,
                origin = ?self.origin,
                tasks = facts.tasks,
                terminal = facts.terminal,
                failed = facts.failed,
                first_failure_at = ?state.first_failure_at,
            );
        }
    }

    /// Act on a decision that is not a claim.
    fn follow(&mut self, decision: Decision, now: DateTime<Utc>, ctx: &mut Context<Self>) {
        match decision {
            Decision::WindowOpen { deadline } => {
                // Also re-arm when the timer fired a little before the
                // database clock reached the deadline.
                if self.window != Some(deadline) || self.window_timer.is_none() {
                    if self.window.is_none() {
                        self.shared.metrics.plan_windows_open.inc();
                        info!(
                            event = "window.opened",
                            plan_id = self.plan_id,
                            generation = ?self.generation,
                            deadline = %deadline,
                            failed = self.status().failed,
                            origin = ?self.origin,
                        );
                    }
                    if let Some(handle) = self.window_timer.take() {
                        ctx.cancel_future(handle);
                    }
                    self.window = Some(deadline);
                    let wait = (deadline - now).to_std().unwrap_or(Duration::ZERO)
                        + Duration::from_millis(1);
                    self.window_timer = Some(ctx.run_later(wait, |act, ctx| {
                        act.window_timer = None;
                        act.evaluate(ctx);
                    }));
                }
            }
            Decision::Waiting => self.close_window(ctx, "nothing_to_report", 0),
            Decision::Settled => self.close_window(ctx, "settled", 0),
            // Decided on the same read that the claim re-decided: only if
            // the clock moved in between. Read again.
            Decision::Claim(..) => self.again = true,
        }
    }

    fn close_window(&mut self, ctx: &mut Context<Self>, reason: &str, failed: usize) {
        if let Some(handle) = self.window_timer.take() {
            ctx.cancel_future(handle);
        }
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
            info!(event = "window.closed", plan_id = self.plan_id, generation = ?self.generation, reason, failed);
        }
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, delay: Duration) {
        if let Some(handle) = self.retry_timer.take() {
            ctx.cancel_future(handle);
        }
        self.retry_timer = Some(ctx.run_later(delay, |act, ctx| {
            act.retry_timer = None;
            act.evaluate(ctx);
        }));
    }

    fn arm_idle(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle_timer.take() {
            ctx.cancel_future(handle);
        }
        if self.window.is_some() || self.evaluating || self.retry_timer.is_some() {
            return;
        }
        self.idle_timer = Some(ctx.run_later(self.shared.config.idle, |act, _ctx| {
            act.idle_timer = None;
            act.shared.registry.do_send(PlanIdle {
                plan_id: act.plan_id,
                handled: act.handled,
                generation: act.generation,
                unknown: false,
            });
        }));
    }

    fn on_task_run(&mut self, change: TaskRunChanged, ctx: &mut Context<Self>) {
        if change.plan_id != self.plan_id {
            warn!(
                event = "plan.misrouted",
                plan_id = self.plan_id,
                message_plan_id = change.plan_id,
                task_id = change.task_id
            );
            return;
        }
        match self.tasks.binary_search_by_key(&change.task_id, |t| t.0) {
            Ok(index) => {
                let task = &mut self.tasks[index];
                if change.task_run_id >= task.1 {
                    task.1 = change.task_run_id;
                    task.2 = Some(change.status);
                }
            }
            Err(_) if self.unverified.len() < MAX_UNVERIFIED => {
                self.unverified.push((change.task_id, change.task_run_id));
            }
            Err(_) => {}
        }
        self.evaluate(ctx);
    }
}

/// Read the plan; claim its outcome if one is due.
async fn evaluate(shared: Arc<PlanShared>, plan_id: i64) -> Evaluation {
    let Ok(_permit) = shared.reads.acquire().await else {
        return Evaluation::Busy;
    };
    let state = match shared.store.plan_state(plan_id).await {
        Ok(Some(state)) => state,
        Ok(None) => return Evaluation::Unknown,
        Err(error) => return Evaluation::Failed(error),
    };
    let window = shared.config.failure_window;
    if !matches!(state.decide(window), Decision::Claim(..)) {
        return Evaluation::Read(state);
    }
    match shared
        .store
        .claim_plan_outcome(plan_id, state.generation(), window, &shared.node_id)
        .await
    {
        Ok(ClaimResult::Claimed(claimed)) => Evaluation::Claimed(claimed),
        Ok(ClaimResult::Lost { generation }) => Evaluation::Lost { generation },
        Ok(ClaimResult::NotDue(state)) => Evaluation::Read(state),
        Ok(ClaimResult::Busy) => Evaluation::Busy,
        Ok(ClaimResult::UnknownPlan) => Evaluation::Unknown,
        Err(error) => Evaluation::Failed(error),
    }
}

impl Actor for PlanSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.recovering = self.origin != Origin::Message;
        // The registry starts a supervisor to hand it a message, which reads
        // the plan; after a restart nobody will, so read now.
        if self.origin == Origin::Restart {
            self.evaluate(ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
        }
    }
}

impl Supervised for PlanSupervisor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The context dropped the timers and the read in flight; forget what
        // they stood for. `started()` reads the plan again.
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
        }
        self.window_timer = None;
        self.idle_timer = None;
        self.retry_timer = None;
        self.evaluating = false;
        self.again = false;
        self.tasks.clear();
        self.generation = None;
        self.origin = Origin::Restart;
        self.restarts = self.restarts.saturating_add(1);
        warn!(
            event = "plan.restarted",
            plan_id = self.plan_id,
            restarts = self.restarts
        );
    }
}

impl Handler<TaskRunChanged> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, change: TaskRunChanged, ctx: &mut Self::Context) {
        self.handled += 1;
        self.guarded(ctx, |act, ctx| act.on_task_run(change, ctx));
    }
}

impl Handler<EvaluatePlan> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: EvaluatePlan, ctx: &mut Self::Context) {
        self.handled += 1;
        self.guarded(ctx, |act, ctx| act.evaluate(ctx));
    }
}

impl Handler<GetPlanStatus> for PlanSupervisor {
    type Result = Option<PlanStatus>;

    fn handle(&mut self, _: GetPlanStatus, _ctx: &mut Self::Context) -> Option<PlanStatus> {
        Some(self.status())
    }
}

impl Handler<ShutdownPlan> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: ShutdownPlan, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<InjectPanic> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, _| {
            panic!("injected panic in plan {}", act.plan_id)
        });
    }
}

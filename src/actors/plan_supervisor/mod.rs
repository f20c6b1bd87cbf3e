//! The `PlanSupervisor` actor: one per active plan, owns that plan's outcome.
//!
//! - Owns: the plan's counters ([`PlanProgress`]: every task's latest run,
//!   how many are terminal / succeeded / failed, the generation's first
//!   failure), the open failure window's timer and the idle timer. The
//!   counters are built from a full read ([`Store::plan_state`]) when the
//!   supervisor starts or restarts, after every claim and on reconciliation;
//!   between reads each task-run notification updates them in memory, so a
//!   change costs no database read whatever the plan's size. Claims never
//!   trust them: [`Store::claim_plan_outcome`] re-reads and re-decides under
//!   a lock. The rules are in [`crate::outcome`].
//! - Takes: [`TaskRunChanged`] and [`EvaluatePlan`] (a full read) from the
//!   [`PlanRegistry`](super::PlanRegistry), [`GetPlanStatus`],
//!   [`ShutdownPlan`]. Changes arriving while a read or a claim is in flight
//!   are queued and applied, in order, on top of its result.
//! - Emits: `PIPELINE_COMPLETED` / `PIPELINE_FAILED` through the claim (event
//!   and outbox rows in the claim's transaction); [`PlanIdle`] to the registry
//!   after `idle` without messages and without an open window.
//! - Restart: started anywhere (first message, reconciliation, another
//!   replica, after eviction) it reads the plan and re-arms an open window at
//!   `first_failure + window`. A panic inside a handler or a read is caught,
//!   logged (`plan.panicked`) and turned into `ctx.stop()`: the actix
//!   [`Supervisor`](actix::Supervisor) restarts it (`restarting()` clears the
//!   counters) and `started()` reads the plan again.
//!
//! [`Store::plan_state`]: crate::store::Store::plan_state
//! [`Store::claim_plan_outcome`]: crate::store::Store::claim_plan_outcome

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt as _;
use tracing::{debug, error, info, warn};

pub use super::plan_shared::{Origin, PlanConfig, PlanShared};
use crate::messages::{PlanIdle, PlanStatus, TaskRunChanged};
use crate::outcome::Decision;
use crate::plan_progress::{Applied, PlanProgress, ReadReason, RunChange};
use crate::store::plans::PlanState;

mod handlers;
mod jobs;
use jobs::{evaluate, Evaluation, Job};

/// First retry delay when the plan's work row is held by a host
/// transaction or another claim; doubled per retry up to [`BUSY_RETRY_MAX`].
const BUSY_RETRY: Duration = Duration::from_millis(50);
const BUSY_RETRY_MAX: Duration = Duration::from_secs(2);
const ERROR_RETRY_INITIAL: Duration = Duration::from_millis(500);
const ERROR_RETRY_MAX: Duration = Duration::from_secs(30);
/// Unknown task ids remembered for checking against the next read.
const MAX_UNVERIFIED: usize = 32;
/// Changes queued behind a read or claim in flight; past this many, they
/// are dropped and the plan is read again instead.
const MAX_QUEUED: usize = 100_000;

/// One plan's supervisor.
pub struct PlanSupervisor {
    plan_id: i64,
    shared: Arc<PlanShared>,
    origin: Origin,
    /// Messages handled (compared by the registry before evicting).
    handled: u64,
    generation: Option<i32>,
    claimed_generation: i32,
    /// The counters (None until the first read).
    progress: Option<PlanProgress>,
    /// The database clock minus ours, as of the last read.
    clock_offset: TimeDelta,
    /// Changes that arrived while a job was in flight, in arrival order.
    queued: Vec<RunChange>,
    /// (task id, run id) from messages naming tasks not (yet) known.
    unverified: Vec<(i64, i64)>,
    window: Option<DateTime<Utc>>,
    window_timer: Option<SpawnHandle>,
    idle_timer: Option<SpawnHandle>,
    retry_timer: Option<SpawnHandle>,
    /// A job is in flight.
    evaluating: bool,
    /// The job in flight has reached the database (holds a read permit).
    job_begun: Arc<AtomicBool>,
    /// Read the plan once the job in flight is done.
    again: bool,
    recovering: bool,
    errors: u32,
    /// Claims in a row that found the work row held.
    busy: u32,
    evaluations: u64,
    /// Full reads of the plan (reads and claims), for the status view.
    reads: u64,
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
            progress: None,
            clock_offset: TimeDelta::zero(),
            queued: Vec::new(),
            unverified: Vec::new(),
            window: None,
            window_timer: None,
            idle_timer: None,
            retry_timer: None,
            evaluating: false,
            job_begun: Arc::new(AtomicBool::new(false)),
            again: false,
            recovering: false,
            errors: 0,
            busy: 0,
            evaluations: 0,
            reads: 0,
            restarts: 0,
        }
    }

    /// Start a supervised supervisor.
    pub fn start_supervised(plan_id: i64, shared: Arc<PlanShared>, origin: Origin) -> Addr<Self> {
        actix::Supervisor::start(move |_| PlanSupervisor::new(plan_id, shared, origin))
    }

    fn status(&self) -> PlanStatus {
        let facts = self.progress.as_ref().map(PlanProgress::facts);
        PlanStatus {
            plan_id: self.plan_id,
            generation: self.generation,
            claimed_generation: self.claimed_generation,
            window_deadline: self.window,
            tasks: facts.as_ref().map_or(0, |f| f.tasks),
            terminal: facts.as_ref().map_or(0, |f| f.terminal),
            failed: facts.as_ref().map_or(0, |f| f.failed),
            busy: self.evaluating || self.again || self.retry_timer.is_some(),
            evaluations: self.evaluations,
            reads: self.reads,
            restarts: self.restarts,
        }
    }

    /// Run `f`; a panic in it is logged and stops the actor, which the actix
    /// supervisor then restarts from the database.
    fn guarded(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self, &mut Context<Self>)) {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| f(self, ctx)));
        if outcome.is_err() {
            error!(
                event = "plan.panicked",
                plan_id = self.plan_id,
                generation = self.generation
            );
            ctx.stop();
        }
    }

    /// Read the plan (coalesced: one job in flight, at most one read queued).
    fn evaluate(&mut self, ctx: &mut Context<Self>) {
        self.run(Job::Read, ctx);
    }

    fn run(&mut self, job: Job, ctx: &mut Context<Self>) {
        if let Some(handle) = self.idle_timer.take() {
            ctx.cancel_future(handle);
        }
        if self.evaluating {
            // A job still waiting for its turn at the database will read
            // everything this read would: no second read after it (a
            // backlog reconciled twice is not read twice).
            if job != Job::Read || self.job_begun.load(Ordering::Acquire) {
                self.again = true;
            }
            return;
        }
        if let Some(handle) = self.retry_timer.take() {
            ctx.cancel_future(handle);
        }
        self.evaluating = true;
        let shared = self.shared.clone();
        let plan_id = self.plan_id;
        self.job_begun = Arc::new(AtomicBool::new(false));
        let begun = self.job_begun.clone();
        let work = AssertUnwindSafe(evaluate(shared, plan_id, job, begun)).catch_unwind();
        ctx.spawn(work.into_actor(self).map(|result, act, ctx| {
            let result = result.unwrap_or(Evaluation::Panicked);
            act.guarded(ctx, |act, ctx| act.apply(result, ctx));
        }));
    }

    /// The database's time now, as estimated from the last read.
    fn db_now(&self) -> DateTime<Utc> {
        Utc::now()
            .checked_add_signed(self.clock_offset)
            .unwrap_or_else(Utc::now)
    }

    fn apply(&mut self, result: Evaluation, ctx: &mut Context<Self>) {
        self.evaluating = false;
        self.evaluations += 1;
        if !matches!(result, Evaluation::Busy(_)) {
            self.busy = 0;
        }
        match result {
            Evaluation::Unknown => {
                warn!(
                    event = "plan.unknown",
                    plan_id = self.plan_id,
                    skipped = self.handled
                );
                self.again = false;
                self.queued.clear();
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
                self.reads += 1;
                self.absorb(&state);
                // The read may have claimed nothing because changes it did
                // not see are queued: decide on the counters with them.
                self.apply_queued();
                if !self.again {
                    self.act(ctx);
                }
            }
            Evaluation::Claimed(claimed) => {
                self.errors = 0;
                self.reads += 1;
                self.shared
                    .metrics
                    .plan_outcomes
                    .with_label_values(&["claimed"])
                    .inc();
                self.shared.metrics.emitted(claimed.kind.as_str());
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
                // A new generation starts: read again for its boundary.
                self.progress = None;
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
                self.progress = None;
                self.again = true;
            }
            Evaluation::Busy(generation) => {
                let delay = BUSY_RETRY
                    .saturating_mul(2u32.saturating_pow(self.busy.min(16)))
                    .min(BUSY_RETRY_MAX);
                self.busy = self.busy.saturating_add(1);
                // Retry the claim itself: it reads the plan only once it
                // holds the lock.
                let job = generation.map_or(Job::Read, |generation| Job::Claim { generation });
                self.retry_later(ctx, delay, job);
            }
            Evaluation::Failed(error) => {
                let delay = ERROR_RETRY_INITIAL
                    .saturating_mul(2u32.saturating_pow(self.errors.min(16)))
                    .min(ERROR_RETRY_MAX);
                self.errors = self.errors.saturating_add(1);
                warn!(event = "plan.read_failed", plan_id = self.plan_id, error = %error, retry_in_ms = delay.as_millis() as u64);
                self.retry_later(ctx, delay, Job::Read);
            }
            Evaluation::Panicked => {
                error!(
                    event = "plan.panicked",
                    plan_id = self.plan_id,
                    generation = self.generation
                );
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

    /// Take in a fresh read: the counters, the generation, unknown tasks.
    fn absorb(&mut self, state: &PlanState) {
        let generation = state.generation();
        let active = state.max_run_seq.is_some();
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
        self.clock_offset = state.db_now - Utc::now();
        self.progress = Some(PlanProgress::from_state(state));
        for (task_id, run_id) in std::mem::take(&mut self.unverified) {
            if state
                .tasks
                .binary_search_by_key(&task_id, |t| t.task_id)
                .is_err()
            {
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
                origin = self.origin.as_str(),
                tasks = facts.tasks,
                terminal = facts.terminal,
                failed = facts.failed,
                first_failure_at = state
                    .first_failure_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            );
        }
    }

    /// Apply the changes queued behind the job that just ended; one the
    /// counters cannot follow asks for another read.
    fn apply_queued(&mut self) {
        for change in std::mem::take(&mut self.queued) {
            if !self.count(change) {
                self.again = true;
                return;
            }
        }
    }

    /// Apply one change to the counters; false: read the plan instead.
    fn count(&mut self, change: RunChange) -> bool {
        let Some(progress) = self.progress.as_mut() else {
            return false;
        };

        match progress.apply(change) {
            Applied::Counted => true,
            Applied::ReadNeeded(reason) => {
                if reason == ReadReason::UnknownTask && self.unverified.len() < MAX_UNVERIFIED {
                    self.unverified.push((change.task_id, change.run_id));
                }
                debug!(
                    event = "plan.read_needed",
                    plan_id = self.plan_id,
                    task_id = change.task_id,
                    task_run_id = change.run_id,
                    reason = reason.as_str()
                );
                false
            }
        }
    }

    /// Decide on the counters and act: claim, or follow the decision.
    fn act(&mut self, ctx: &mut Context<Self>) {
        let Some(progress) = self.progress.as_ref() else {
            return self.evaluate(ctx);
        };
        let now = self.db_now();
        match progress.decide(self.shared.config.failure_window, now) {
            Decision::Claim(..) => {
                let generation = progress.facts().generation;
                self.run(Job::Claim { generation }, ctx);
            }
            decision => self.follow(decision, now, ctx),
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
                            generation = self.generation,
                            deadline = %deadline.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            failed = self.status().failed,
                            origin = self.origin.as_str(),
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
                        act.guarded(ctx, |act, ctx| {
                            if act.evaluating {
                                act.again = true;
                            } else {
                                act.act(ctx);
                                act.arm_idle(ctx);
                            }
                        });
                    }));
                }
            }
            Decision::Waiting => self.close_window(ctx, "nothing_to_report", 0),
            Decision::Settled => self.close_window(ctx, "settled", 0),
            Decision::Claim(..) => self.run(Job::Read, ctx),
        }
    }

    fn close_window(&mut self, ctx: &mut Context<Self>, reason: &str, failed: usize) {
        if let Some(handle) = self.window_timer.take() {
            ctx.cancel_future(handle);
        }
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
            info!(
                event = "window.closed",
                plan_id = self.plan_id,
                generation = self.generation,
                reason,
                failed
            );
        }
    }

    fn retry_later(&mut self, ctx: &mut Context<Self>, delay: Duration, job: Job) {
        if let Some(handle) = self.retry_timer.take() {
            ctx.cancel_future(handle);
        }
        self.retry_timer = Some(ctx.run_later(delay, move |act, ctx| {
            act.retry_timer = None;
            act.run(job, ctx);
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
        let run = RunChange {
            task_id: change.task_id,
            run_id: change.task_run_id,
            seq: change.seq.unwrap_or(change.task_run_id),
            status: change.status,
            updated_at: change.updated_at,
        };
        if self.evaluating || self.retry_timer.is_some() || self.progress.is_none() {
            if self.queued.len() < MAX_QUEUED {
                self.queued.push(run);
            } else {
                self.queued.clear();
                self.progress = None;
                self.again = true;
            }
            if !self.evaluating && self.retry_timer.is_none() {
                self.evaluate(ctx);
            }
            return;
        }
        if self.count(run) {
            self.act(ctx);
        } else {
            self.evaluate(ctx);
        }
        if !self.evaluating {
            self.arm_idle(ctx);
        }
    }
}

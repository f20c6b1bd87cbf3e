//! The `ApprovalActor`: event-driven, idempotent rollout creation (SPEC §5).
//!
//! - Owns: nothing but a bound on its concurrent database work. Whether a
//!   plan has a rollout is the `rollout` table's business (`plan_id` UNIQUE).
//! - Takes: [`IssueChanged`] (an issue's approval changed) and
//!   [`PlanCheckRunChanged`] from the router, [`Reconcile`] (take the plans
//!   whose rollout work row is due — written by the host's own transaction
//!   when an issue, a plan check or a project's requirements change — and
//!   decide each), and
//!   [`TryCreateRollout`] (a direct request that answers with the outcome).
//! - Decides with [`RolloutReadiness::decide`](crate::rollout::RolloutReadiness::decide),
//!   then creates the rollout with `INSERT ... ON CONFLICT DO NOTHING`:
//!   concurrent triggers and replicas create exactly one; the losers log
//!   `rollout.exists` at debug. A rollout the host app created is respected.
//! - Emits: `rollout` rows; logs `rollout.created` / `rollout.waiting` /
//!   `rollout.exists`.
//! - Restart: keeps no state; a missed notification is repaired by the next
//!   reconcile, from the work row it left due.
//!
//! Handlers answer when their work is done, so `send(...).await` on any of
//! them waits for the attempt; work runs concurrently up to
//! [`ApprovalConfig::concurrency`].

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::messages::StopActor;
use crate::messages::{
    IssueChanged, PlanCheckRunChanged, Reconcile, ReconcileGate, RolloutOutcome, RolloutTrigger,
    TryCreateRollout,
};
use crate::rollout::{missing_list, RolloutDecision};
use crate::store::approval::RolloutCreation;
use crate::store::{Store, StoreError};

/// `rollout.created_by` for rollouts herald creates.
pub const ROLLOUT_CREATOR: &str = "herald";

/// Settings of the approval actor.
#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    /// Where emitted events are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// This replica's name, in logs.
    pub node_id: String,
    /// At most this many attempts use the database at once.
    pub concurrency: usize,
    /// Plans read per page by the reconciliation scan.
    pub reconcile_batch: i64,
    /// Create rollouts (the native source). With the Bytebase source the
    /// rollout is Bytebase's: herald records the one Bytebase made.
    pub create_rollouts: bool,
    /// With `create_rollouts` off: ask for the rollout through the
    /// source's API if the source has not made it this long after the
    /// conditions hold (None: leave it to the source).
    pub request_grace: Option<std::time::Duration>,
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        ApprovalConfig {
            metrics: Default::default(),
            node_id: crate::node::default_node_id(),
            concurrency: 4,
            reconcile_batch: 500,
            create_rollouts: true,
            request_grace: None,
        }
    }
}

/// Creates plans' rollouts when their conditions hold.
pub struct ApprovalActor {
    store: Store,
    config: Arc<ApprovalConfig>,
    /// Bounds concurrent attempts, so a burst of notifications cannot take
    /// every pooled connection.
    permits: Arc<Semaphore>,
    /// One reconciliation pass at a time.
    reconciling: ReconcileGate,
}

impl ApprovalActor {
    pub fn new(store: Store, config: ApprovalConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        ApprovalActor {
            store,
            config: Arc::new(config),
            permits,
            reconciling: ReconcileGate::default(),
        }
    }

    /// What a handler's future needs, detached from the actor.
    fn worker(&self) -> Worker {
        Worker {
            store: self.store.clone(),
            config: self.config.clone(),
            permits: self.permits.clone(),
            reconciling: self.reconciling.clone(),
        }
    }
}

impl Actor for ApprovalActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Bounds what the router may queue here; past it, changes are
        // dropped and reconciled (see `router.rs`).
        ctx.set_mailbox_capacity(crate::actors::router::TARGET_MAILBOX);
    }
}

/// The actor's state as its futures use it.
#[derive(Clone)]
struct Worker {
    store: Store,
    config: Arc<ApprovalConfig>,
    permits: Arc<Semaphore>,
    reconciling: ReconcileGate,
}

impl Worker {
    /// Run `work` holding a permit; `None` if the actor is shutting down.
    async fn with_permit<T>(&self, work: impl std::future::Future<Output = T>) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        Some(work.await)
    }

    /// Try once to create plan `plan_id`'s rollout. Once decided (whatever
    /// the decision), the changes to its conditions seen before the read
    /// are done with; a change after it stays for the next reconcile.
    async fn try_create(
        &self,
        plan_id: i64,
        trigger: RolloutTrigger,
    ) -> Result<RolloutOutcome, StoreError> {
        let mark = self.store.rollout_change_mark(plan_id).await?;
        let outcome = self.decide(plan_id, trigger).await?;
        if let Some(mark) = mark {
            self.store.finish_rollout_work(plan_id, mark).await?;
        }
        Ok(outcome)
    }

    /// Decide plan `plan_id`'s rollout, and create it if it is due.
    async fn decide(
        &self,
        plan_id: i64,
        trigger: RolloutTrigger,
    ) -> Result<RolloutOutcome, StoreError> {
        let node_id = self.config.node_id.as_str();
        let trigger_name = trigger.as_str();
        let Some(readiness) = self.store.rollout_readiness(plan_id).await? else {
            info!(
                event = "rollout.plan_not_found",
                plan_id,
                trigger = trigger_name,
                node_id
            );
            return Ok(RolloutOutcome::PlanNotFound);
        };
        let issue_id = readiness.issue.map(|(id, _)| id);
        match readiness.decide() {
            RolloutDecision::Exists { rollout_id } => {
                debug!(
                    event = "rollout.exists",
                    plan_id,
                    issue_id,
                    rollout_id,
                    trigger = trigger_name,
                    node_id
                );
                Ok(RolloutOutcome::Exists {
                    rollout_id: Some(rollout_id),
                })
            }
            RolloutDecision::NoIssue => {
                debug!(
                    event = "rollout.no_issue",
                    plan_id,
                    trigger = trigger_name,
                    node_id
                );
                Ok(RolloutOutcome::NoIssue)
            }
            RolloutDecision::Wait(missing) => {
                info!(
                    event = "rollout.waiting",
                    plan_id,
                    issue_id,
                    missing = missing_list(&missing),
                    check_run_id = readiness.check_run_id,
                    trigger = trigger_name,
                    node_id
                );
                Ok(RolloutOutcome::Waiting(missing))
            }
            RolloutDecision::Create if !self.config.create_rollouts => {
                if let Some(grace) = self.config.request_grace {
                    if self.store.request_rollout(plan_id, grace).await? {
                        info!(
                            event = "rollout.requested",
                            plan_id,
                            issue_id,
                            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                            trigger = trigger_name,
                            node_id
                        );
                    }
                }
                debug!(
                    event = "rollout.left_to_source",
                    plan_id,
                    issue_id,
                    trigger = trigger_name,
                    node_id
                );
                Ok(RolloutOutcome::LeftToSource)
            }
            RolloutDecision::Create => {
                match self.store.create_rollout(plan_id, ROLLOUT_CREATOR).await? {
                    RolloutCreation::Created(rollout_id) => {
                        self.config.metrics.emitted(crate::events::ROLLOUT_CREATED);
                        info!(
                            event = "rollout.created",
                            plan_id,
                            issue_id,
                            rollout_id,
                            trigger = trigger_name,
                            node_id
                        );
                        Ok(RolloutOutcome::Created { rollout_id })
                    }
                    RolloutCreation::Exists => {
                        debug!(
                            event = "rollout.exists",
                            plan_id,
                            issue_id,
                            lost_race = true,
                            trigger = trigger_name,
                            node_id
                        );
                        Ok(RolloutOutcome::Exists { rollout_id: None })
                    }
                    RolloutCreation::Changed(decision) => {
                        info!(
                            event = "rollout.conditions_changed",
                            plan_id,
                            issue_id,
                            now = ?decision,
                            trigger = trigger_name,
                            node_id,
                            "the conditions changed between the decision and the creation; nothing created"
                        );
                        Ok(match decision {
                            RolloutDecision::Wait(missing) => RolloutOutcome::Waiting(missing),
                            _ => RolloutOutcome::NoIssue,
                        })
                    }
                }
            }
        }
    }

    /// [`Self::try_create`] for fire-and-forget triggers: errors are logged.
    async fn attempt(&self, plan_id: i64, trigger: RolloutTrigger) {
        if let Err(error) = self.try_create(plan_id, trigger).await {
            warn!(
                event = "rollout.failed",
                plan_id,
                trigger = trigger.as_str(),
                node_id = %self.config.node_id,
                error = %error
            );
        }
    }

    /// An issue changed: try its plan.
    async fn on_issue(&self, issue_id: i64) {
        match self.store.issue_plan(issue_id).await {
            Ok(None) => info!(
                event = "rollout.issue_not_found",
                issue_id,
                node_id = %self.config.node_id
            ),
            Ok(Some(issue)) => match issue.plan_id {
                Some(plan_id) => self.attempt(plan_id, RolloutTrigger::Issue).await,
                None => debug!(event = "rollout.no_plan", issue_id),
            },
            Err(error) => warn!(
                event = "rollout.failed",
                issue_id,
                trigger = RolloutTrigger::Issue.as_str(),
                node_id = %self.config.node_id,
                error = %error
            ),
        }
    }

    /// Try every plan whose rollout work row is due, in batches.
    async fn reconcile(&self) -> Result<(), StoreError> {
        let (mut due, mut created) = (0u64, 0u64);
        let mut after = 0;
        loop {
            let plans = self
                .store
                .rollouts_with_changes(after, self.config.reconcile_batch)
                .await?;
            for &plan_id in &plans {
                due += 1;
                match self.try_create(plan_id, RolloutTrigger::Reconcile).await {
                    Ok(RolloutOutcome::Created { .. }) => created += 1,
                    Ok(_) => {}
                    Err(error) => warn!(
                        event = "rollout.failed",
                        plan_id,
                        trigger = RolloutTrigger::Reconcile.as_str(),
                        node_id = %self.config.node_id,
                        error = %error
                    ),
                }
            }
            match plans.last() {
                Some(&last) => after = last,
                None => break,
            }
        }
        if due == 0 {
            debug!(event = "rollout.reconciled", due, created, node_id = %self.config.node_id);
        } else {
            info!(event = "rollout.reconciled", due, created, node_id = %self.config.node_id);
        }
        Ok(())
    }
}

impl Handler<IssueChanged> for ApprovalActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, change: IssueChanged, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            worker
                .with_permit(worker.on_issue(change.issue_id))
                .await
                .unwrap_or(())
        })
    }
}

impl Handler<PlanCheckRunChanged> for ApprovalActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, change: PlanCheckRunChanged, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            worker
                .with_permit(worker.attempt(change.plan_id, RolloutTrigger::PlanCheckRun))
                .await
                .unwrap_or(())
        })
    }
}

impl Handler<Reconcile> for ApprovalActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, request: Reconcile, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            if !worker.reconciling.enter(request.reason) {
                return;
            }
            let mut reason = request.reason;
            loop {
                let result = worker.with_permit(worker.reconcile()).await;
                if let Some(Err(error)) = result {
                    warn!(
                        event = "rollout.reconcile_failed",
                        reason = reason.as_str(),
                        node_id = %worker.config.node_id,
                        error = %error
                    );
                }
                match worker.reconciling.leave() {
                    Some(again) => reason = again,
                    None => break,
                }
            }
        })
    }
}

impl Handler<TryCreateRollout> for ApprovalActor {
    type Result = ResponseFuture<Result<RolloutOutcome, StoreError>>;

    fn handle(&mut self, request: TryCreateRollout, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            let _permit = worker.permits.acquire().await.ok();
            worker
                .try_create(request.plan_id, RolloutTrigger::Request)
                .await
        })
    }
}

impl Handler<StopActor> for ApprovalActor {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

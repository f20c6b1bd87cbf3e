//! The `RolloutRepair` actor: creates, through Bytebase's API, the rollouts
//! Bytebase's own creator has not made within a grace period.
//!
//! - Owns: the API client (and its login token).
//! - Takes: its own timer: every [`RepairConfig::interval`] it claims the
//!   due `herald_rollout_request` rows (pushing `due_at` a lease ahead,
//!   `SKIP LOCKED`: one replica per request at a time).
//! - For each: re-reads the plan and its issue in Bytebase (the conditions
//!   only Bytebase knows: issue open and not a draft, plan not deleted, a
//!   database-change plan, no rollout yet); then `POST
//!   /v1/projects/{project}/plans/{plan}/rollout`. Created or "already
//!   exists" → the rollout is recorded (`created_by = herald`,
//!   `rollout.created` emitted) and the request ends `created`; a failure
//!   is retried with backoff (`rollout.repair_failed`).
//! - Emits: `rollout.repair_*` log lines, rollout rows and events.
//! - On restart: nothing in memory matters; a claim whose replica died is
//!   taken again after its lease. A crash between Bytebase's answer and the
//!   record repeats the call, which Bytebase answers "already exists".

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tracing::{info, warn};

use crate::messages::StopActor;
use crate::sources::bytebase::api::{BytebaseApi, Created};
use crate::sources::bytebase::model;
use crate::store::bytebase::{BbPlan, BytebaseDb, Table};
use crate::store::rollout_requests::RolloutRequest;
use crate::store::Store;

/// Settings of rollout repair.
#[derive(Debug, Clone)]
pub struct RepairConfig {
    /// How long Bytebase's own creator has before herald steps in.
    pub grace: Duration,
    /// Time between looks at due requests.
    pub interval: Duration,
    /// How long a claimed request is this replica's.
    pub lease: Duration,
    /// Backoff after a failure: base × 2^(attempts-1), capped.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub node_id: String,
}

impl Default for RepairConfig {
    fn default() -> Self {
        RepairConfig {
            grace: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(600),
            node_id: crate::node::default_node_id(),
        }
    }
}

pub struct RolloutRepair {
    worker: Option<Worker>,
    config: RepairConfig,
}

struct Worker {
    store: Store,
    bytebase: BytebaseDb,
    api: Arc<BytebaseApi>,
    config: RepairConfig,
}

impl RolloutRepair {
    pub fn new(store: Store, bytebase: BytebaseDb, api: BytebaseApi, config: RepairConfig) -> Self {
        RolloutRepair {
            worker: Some(Worker {
                store,
                bytebase,
                api: Arc::new(api),
                config: config.clone(),
            }),
            config,
        }
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        ctx.spawn(
            async move {
                worker.round().await;
                worker
            }
            .into_actor(self)
            .map(|worker, actor, ctx| {
                actor.worker = Some(worker);
                ctx.run_later(actor.config.interval, |actor, ctx| actor.tick(ctx));
            }),
        );
    }
}

/// What Bytebase says about a requested plan.
enum Verdict {
    Create { project: String, plan: i64 },
    Exists,
    Dropped(&'static str),
}

impl Worker {
    async fn round(&self) {
        let node = self.config.node_id.as_str();
        let requests = match self
            .store
            .claim_rollout_requests(node, self.config.lease, 20)
            .await
        {
            Ok(requests) => requests,
            Err(error) => {
                warn!(event = "rollout.repair_failed", node_id = node, error = %error);
                return;
            }
        };
        for request in requests {
            self.attempt(&request).await;
        }
    }

    async fn verdict(&self, request: &RolloutRequest) -> Result<Verdict, String> {
        let Some((project, plan)) = request.source.clone() else {
            return Ok(Verdict::Dropped(
                "the plan is not one herald mirrors from Bytebase",
            ));
        };
        let plans: Vec<BbPlan> = self
            .bytebase
            .by_keys(Table::Plan, &[(project.clone(), plan)])
            .await
            .map_err(|e| e.to_string())?;
        let Some(row) = plans.first() else {
            return Ok(Verdict::Dropped("the plan is gone"));
        };
        let config: model::PlanConfig = model::parse(&row.config).map_err(|e| e.to_string())?;
        if config.has_rollout {
            return Ok(Verdict::Exists);
        }
        if row.deleted {
            return Ok(Verdict::Dropped("the plan is deleted"));
        }
        if !config.is_database_change() {
            return Ok(Verdict::Dropped("not a database-change plan"));
        }
        let issue = self
            .bytebase
            .issue_of_plan(&project, plan)
            .await
            .map_err(|e| e.to_string())?;
        let Some(issue) = issue else {
            return Ok(Verdict::Dropped("the plan has no issue"));
        };
        if issue.status != "OPEN" {
            return Ok(Verdict::Dropped("the issue is done or canceled"));
        }
        let payload: model::IssuePayload =
            model::parse(&issue.payload).map_err(|e| e.to_string())?;
        if payload.draft {
            return Ok(Verdict::Dropped("the issue is a draft"));
        }
        Ok(Verdict::Create { project, plan })
    }

    async fn attempt(&self, request: &RolloutRequest) {
        let node = self.config.node_id.as_str();
        let plan_id = request.plan_id;
        let outcome = match self.verdict(request).await {
            Ok(Verdict::Exists) => Ok("exists"),
            Ok(Verdict::Dropped(why)) => {
                info!(
                    event = "rollout.repair_dropped",
                    plan_id,
                    reason = why,
                    node_id = node
                );
                Ok("dropped")
            }
            Ok(Verdict::Create { project, plan }) => {
                match self.api.create_rollout(&project, plan).await {
                    Ok(answer) => {
                        // Recorded under herald's name, re-decided on what
                        // herald mirrors; `rollout.created` is emitted.
                        match self
                            .store
                            .create_rollout(plan_id, crate::actors::approval::ROLLOUT_CREATOR)
                            .await
                        {
                            Ok(_) => {
                                info!(
                                    event = "rollout.repair_created",
                                    plan_id,
                                    project = %project,
                                    source_plan = plan,
                                    already_existed = answer == Created::AlreadyExists,
                                    attempts = request.attempts,
                                    node_id = node
                                );
                                Ok("created")
                            }
                            Err(error) => Err(error.to_string()),
                        }
                    }
                    Err(error) => Err(error.to_string()),
                }
            }
            Err(error) => Err(error),
        };
        let result = match outcome {
            Ok(state) => self.store.finish_rollout_request(plan_id, state).await,
            Err(error) => {
                let exponent = u32::try_from(request.attempts.max(1) - 1)
                    .unwrap_or(0)
                    .min(16);
                let delay = self
                    .config
                    .backoff_base
                    .saturating_mul(2u32.saturating_pow(exponent))
                    .min(self.config.backoff_cap);
                warn!(
                    event = "rollout.repair_failed",
                    plan_id,
                    attempts = request.attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    node_id = node
                );
                self.store
                    .retry_rollout_request(plan_id, delay, &error)
                    .await
            }
        };
        if let Err(error) = result {
            warn!(event = "rollout.repair_failed", plan_id, error = %error, node_id = node);
        }
    }
}

impl Actor for RolloutRepair {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.tick(ctx);
    }
}

impl Handler<StopActor> for RolloutRepair {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

//! The `IssueEvents` actor: `ISSUE_CREATED`, `ISSUE_APPROVAL_REQUESTED`,
//! `ISSUE_SENT_BACK` and `ISSUE_APPROVED`, each emitted exactly once per
//! issue transition.
//!
//! - Owns: nothing but a bound on its concurrent database work. The issue
//!   trigger records every transition in `herald_issue_transition`; a row is
//!   the unit of exactly-once.
//! - Takes: [`IssueChanged`] from the router (handle that issue's unhandled
//!   transitions, oldest first) and [`Reconcile`] (handle every unhandled
//!   transition: NOTIFY may have been lost).
//! - For each transition, in ONE transaction: claim the row
//!   (`UPDATE ... SET handled_at, handled_by WHERE handled_at IS NULL`), read
//!   the issue, project, plan and people, and `herald_emit` the event (event
//!   log + outbox rows). Replicas racing for a row serialize on its lock; the
//!   loser finds it handled and emits nothing. A crash before commit leaves
//!   the row unhandled for the next trigger or reconcile.
//! - A notification for an issue that no longer exists is logged
//!   (`issue_event.issue_not_found`) and skipped.
//! - Restart: keeps no state.
//!
//! Handlers answer when their work is done (`send(...).await` waits).

use std::collections::HashSet;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::events::{
    ApprovalRequestedData, ApprovedData, EventType, IssueCreatedData, NewEvent, SentBackData,
};
use crate::messages::StopActor;
use crate::messages::{IssueChanged, Reconcile, ReconcileGate};
use crate::store::issue_events::{
    approvers, claim_transition, issue_snapshot, user, IssueSnapshot, IssueTransition,
    TransitionKind,
};
use crate::store::{events, Store, StoreError};

/// Settings of the issue-events actor.
#[derive(Debug, Clone)]
pub struct IssueEventsConfig {
    /// Where emitted events are counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// This replica's name: `handled_by` of the transitions it claims.
    pub node_id: String,
    /// At most this many issues are worked on at once.
    pub concurrency: usize,
    /// Transitions read per page.
    pub batch: i64,
}

impl Default for IssueEventsConfig {
    fn default() -> Self {
        IssueEventsConfig {
            metrics: Default::default(),
            node_id: crate::node::default_node_id(),
            concurrency: 4,
            batch: 500,
        }
    }
}

/// How handling one transition ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// This call claimed it and emitted `event_id` to `deliveries` endpoints.
    Emitted { event_id: Uuid, deliveries: u64 },
    /// Someone (another replica, an earlier call) handled it already.
    AlreadyHandled,
}

/// Emits issue events once per transition.
pub struct IssueEvents {
    store: Store,
    config: Arc<IssueEventsConfig>,
    /// Bounds concurrent work so a burst cannot take every pooled connection.
    permits: Arc<Semaphore>,
    /// One reconciliation pass at a time.
    reconciling: ReconcileGate,
}

impl IssueEvents {
    pub fn new(store: Store, config: IssueEventsConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        IssueEvents {
            store,
            config: Arc::new(config),
            permits,
            reconciling: ReconcileGate::default(),
        }
    }

    fn worker(&self) -> Worker {
        Worker {
            store: self.store.clone(),
            config: self.config.clone(),
            permits: self.permits.clone(),
            reconciling: self.reconciling.clone(),
        }
    }
}

impl Actor for IssueEvents {
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
    config: Arc<IssueEventsConfig>,
    permits: Arc<Semaphore>,
    reconciling: ReconcileGate,
}

fn payload_error(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        table: "herald_event",
        column: "payload",
        detail: error.to_string(),
    }
}

/// The event for `transition` of the issue in `snapshot`, with the id the
/// claim recorded.
pub(crate) async fn build_event(
    conn: &mut sqlx::PgConnection,
    transition: &IssueTransition,
    snapshot: IssueSnapshot,
    event_id: Uuid,
) -> Result<NewEvent, StoreError> {
    let mut event = match transition.kind {
        TransitionKind::Approved => NewEvent::typed(
            EventType::IssueApproved,
            &ApprovedData {
                role: transition
                    .approval_step_role
                    .clone()
                    .or(snapshot.approval_step_role),
                creator: snapshot.issue.creator.clone(),
            },
        ),
        TransitionKind::Created => NewEvent::typed(
            EventType::IssueCreated,
            &IssueCreatedData {
                creator: snapshot.issue.creator.clone(),
            },
        ),
        TransitionKind::ApprovalRequested => {
            let role = transition
                .approval_step_role
                .clone()
                .or(snapshot.approval_step_role)
                .unwrap_or_default();
            let approvers = approvers(conn, snapshot.project.id, &role).await?;
            NewEvent::typed(
                EventType::IssueApprovalRequested,
                &ApprovalRequestedData {
                    role,
                    required_count: transition
                        .approval_required_count
                        .or(snapshot.approval_required_count)
                        .unwrap_or(1),
                    approvers,
                    reminder: None,
                },
            )
        }
        TransitionKind::SentBack => {
            let approver = match transition.rejected_by.or(snapshot.rejected_by) {
                Some(id) => user(conn, id).await?,
                None => None,
            };
            NewEvent::typed(
                EventType::IssueSentBack,
                &SentBackData {
                    approver,
                    reason: transition.reject_reason.clone().or(snapshot.reject_reason),
                    creator: snapshot.issue.creator.clone(),
                },
            )
        }
    }
    .map_err(payload_error)?;
    event.id = event_id;
    event.project = Some(snapshot.project);
    event.issue = Some(snapshot.issue);
    event.plan = snapshot.plan;
    Ok(event)
}

impl Worker {
    /// Claim transition `id` and emit its event, in one transaction.
    async fn handle_transition(&self, id: i64) -> Result<TransitionOutcome, StoreError> {
        let node_id = self.config.node_id.as_str();
        let mut tx = self.store.pool().begin().await?;
        let event_id = Uuid::now_v7();
        let Some(transition) = claim_transition(&mut tx, id, node_id, Some(event_id)).await? else {
            tx.rollback().await?;
            debug!(
                event = "issue_event.already_handled",
                transition_id = id,
                node_id
            );
            return Ok(TransitionOutcome::AlreadyHandled);
        };
        let issue_id = transition.issue_id;
        let kind = transition.kind.as_str();
        let Some(snapshot) = issue_snapshot(&mut tx, issue_id).await? else {
            // Unreachable while the claim holds the row (deleting the issue
            // cascades to it), but never emit without an issue.
            tx.rollback().await?;
            info!(
                event = "issue_event.issue_not_found",
                issue_id,
                transition_id = id,
                node_id
            );
            return Ok(TransitionOutcome::AlreadyHandled);
        };
        let event = build_event(&mut tx, &transition, snapshot, event_id).await?;
        let deliveries = events::emit(&mut tx, &event).await?;
        tx.commit().await?;
        self.config.metrics.emitted(event.event_type.as_str());
        info!(
            event = "issue_event.emitted",
            event_id = %event_id,
            event_type = %event.event_type,
            issue_id,
            transition_id = id,
            kind,
            deliveries,
            node_id
        );
        Ok(TransitionOutcome::Emitted {
            event_id,
            deliveries,
        })
    }

    /// Handle every unhandled transition (of `issue_id`, or of all issues),
    /// oldest first. Returns how many this call claimed. A transition that
    /// fails is logged (`issue_event.failed`) and its issue's later
    /// transitions are left for the next trigger or reconcile, so they never
    /// overtake it; other issues go on.
    async fn handle_unhandled(&self, issue_id: Option<i64>) -> Result<u64, StoreError> {
        let node_id = self.config.node_id.as_str();
        let mut after = 0;
        let mut claimed = 0;
        let mut failed_issues = HashSet::new();
        loop {
            let page = self
                .store
                .unhandled_transitions(issue_id, after, self.config.batch)
                .await?;
            for &(id, issue) in &page {
                if failed_issues.contains(&issue) {
                    continue;
                }
                match self.handle_transition(id).await {
                    Ok(TransitionOutcome::AlreadyHandled) => {}
                    Ok(_) => claimed += 1,
                    Err(error) => {
                        warn!(
                            event = "issue_event.failed",
                            issue_id = issue,
                            transition_id = id,
                            node_id,
                            error = %error
                        );
                        failed_issues.insert(issue);
                    }
                }
            }
            match page.last() {
                Some(&(last, _)) if page.len() as i64 >= self.config.batch => after = last,
                _ => return Ok(claimed),
            }
        }
    }

    async fn on_issue(&self, issue_id: i64) {
        let node_id = self.config.node_id.as_str();
        let result = match self.store.issue_exists(issue_id).await {
            Ok(false) => {
                info!(event = "issue_event.issue_not_found", issue_id, node_id);
                return;
            }
            Ok(true) => self.handle_unhandled(Some(issue_id)).await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            warn!(event = "issue_event.failed", issue_id, node_id, error = %error);
        }
    }

    async fn reconcile(&self, reason: &'static str) {
        let node_id = self.config.node_id.as_str();
        match self.handle_unhandled(None).await {
            // At debug when there was nothing to do (the periodic pass).
            Ok(0) => debug!(
                event = "issue_event.reconciled",
                claimed = 0,
                reason,
                node_id
            ),
            Ok(claimed) => info!(event = "issue_event.reconciled", claimed, reason, node_id),
            Err(error) => warn!(event = "issue_event.failed", reason, node_id, error = %error),
        }
    }
}

impl Handler<IssueChanged> for IssueEvents {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, change: IssueChanged, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            let Ok(_permit) = worker.permits.acquire().await else {
                return;
            };
            worker.on_issue(change.issue_id).await;
        })
    }
}

impl Handler<Reconcile> for IssueEvents {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, request: Reconcile, _ctx: &mut Self::Context) -> Self::Result {
        let worker = self.worker();
        Box::pin(async move {
            if !worker.reconciling.enter(request.reason) {
                return;
            }
            let mut reason = request.reason;
            loop {
                if let Ok(_permit) = worker.permits.acquire().await {
                    worker.reconcile(reason.as_str()).await;
                }
                match worker.reconciling.leave() {
                    Some(again) => reason = again,
                    None => break,
                }
            }
        })
    }
}

impl Handler<StopActor> for IssueEvents {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

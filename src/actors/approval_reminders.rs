//! The `ApprovalReminders` actor: an approval still pending after
//! `--approval-reminder-interval` is announced again (an
//! `ISSUE_APPROVAL_REQUESTED` with `data.reminder` = its number), every
//! interval, at most `--approval-reminder-max` times, exactly once per
//! interval across replicas.
//!
//! - Owns: its timer (a quarter of the interval, at most a minute) and the
//!   pass in flight (at most one).
//! - Takes: nothing but its timer and [`StopActor`].
//! - Each pass reads the pending approvals whose next reminder is due
//!   (`Store::due_reminders`: the pending approvals only), and for each, in
//!   ONE transaction, claims the reminder (`herald_approval_reminder`,
//!   keyed by the announcing transition and the reminder's number, after
//!   re-checking under the transition's lock that the issue still waits on
//!   that step) and emits its event. The replica that loses the claim emits
//!   nothing. Approved, rejected, re-requested for another step, done or
//!   canceled: the check fails and reminders stop.
//! - Reminders pass the delivery gate like every event: a mute window or a
//!   silence holds or drops them (`docs/routing.md`).
//! - Emits: `reminder.sent` per reminder claimed; `reminder.failed` when a
//!   pass fails (retried at the next tick).
//! - Restart: keeps no state.

use std::time::Duration;

use actix::prelude::*;
use tracing::{info, warn};
use uuid::Uuid;

use crate::actors::issue_events::build_event;
use crate::messages::StopActor;
use crate::store::issue_events::issue_snapshot;
use crate::store::reminders::{claim_reminder, DueReminder};
use crate::store::{events, Store, StoreError};

/// When and how often approvals are reminded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderConfig {
    /// After the request, and between reminders.
    pub interval: Duration,
    /// Reminders per approval step at most.
    pub max: u32,
    /// This replica's name, recorded with the reminders it sends.
    pub node_id: String,
}

impl ReminderConfig {
    /// How often a pass looks for due reminders.
    pub fn tick(&self) -> Duration {
        (self.interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(60))
    }
}

pub struct ApprovalReminders {
    store: Store,
    config: ReminderConfig,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    running: bool,
}

impl ApprovalReminders {
    pub fn new(
        store: Store,
        config: ReminderConfig,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Self {
        ApprovalReminders {
            store,
            config,
            metrics,
            running: false,
        }
    }
}

/// Claim and emit one reminder; `Some(event id)` when this call sent it.
async fn remind(
    store: &Store,
    config: &ReminderConfig,
    due: DueReminder,
) -> Result<Option<Uuid>, StoreError> {
    let mut tx = store.pool().begin().await?;
    let event_id = Uuid::now_v7();
    let Some(transition) =
        claim_reminder(&mut tx, due, config.interval, &config.node_id, event_id).await?
    else {
        tx.rollback().await?;
        return Ok(None);
    };
    let Some(snapshot) = issue_snapshot(&mut tx, due.issue_id).await? else {
        tx.rollback().await?;
        return Ok(None);
    };
    let mut event = build_event(&mut tx, &transition, snapshot, event_id).await?;
    if let serde_json::Value::Object(data) = &mut event.data {
        data.insert("reminder".into(), due.number.into());
    }
    events::emit(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Some(event_id))
}

async fn pass(
    store: Store,
    config: ReminderConfig,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) -> Result<(), StoreError> {
    let max = i32::try_from(config.max).unwrap_or(i32::MAX);
    let due = store
        .bounded(
            "reading due approval reminders",
            store.due_reminders(config.interval, max, 500),
        )
        .await?;
    for reminder in due {
        let sent = store
            .bounded(
                "claiming an approval reminder",
                remind(&store, &config, reminder),
            )
            .await?;
        if let Some(event_id) = sent {
            metrics.emitted(crate::events::EventType::IssueApprovalRequested.as_str());
            info!(event = "reminder.sent", issue_id = reminder.issue_id, transition_id = reminder.transition_id, reminder = reminder.number, event_id = %event_id, node_id = %config.node_id);
        }
    }
    Ok(())
}

impl Actor for ApprovalReminders {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.config.tick(), |actor, ctx| {
            if actor.running {
                return;
            }
            actor.running = true;
            let work = pass(
                actor.store.clone(),
                actor.config.clone(),
                actor.metrics.clone(),
            );
            ctx.spawn(work.into_actor(actor).map(|result, actor, _| {
                actor.running = false;
                if let Err(error) = result {
                    warn!(event = "reminder.failed", error = %error, "retrying at the next tick");
                }
            }));
        });
    }
}

impl Handler<StopActor> for ApprovalReminders {
    type Result = ();

    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

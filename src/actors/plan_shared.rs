//! What the plan registry and its supervisors share: their settings, the
//! shared handles, and how a supervisor came to start. Apart from both
//! actors so that neither imports the other's file for it.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::Semaphore;

use crate::messages::PlanIdle;
use crate::metrics::Metrics;
use crate::store::Store;

/// Settings of the plan supervisors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanConfig {
    /// The failure debounce window: failures within it go out as one event.
    pub failure_window: Duration,
    /// A supervisor without an open window and without messages for this
    /// long stops.
    pub idle: Duration,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            failure_window: Duration::from_secs(5 * 60),
            idle: Duration::from_secs(10 * 60),
        }
    }
}

/// Plan reads in flight at once, across all supervisors: reconciling many
/// plans must queue here, not time out waiting for pool connections.
pub const MAX_CONCURRENT_READS: usize = 8;
/// What every supervisor shares (one allocation for all of them).
pub struct PlanShared {
    pub store: Store,
    pub config: PlanConfig,
    pub node_id: String,
    pub metrics: Arc<Metrics>,
    /// The registry, told when a supervisor is idle.
    pub registry: Recipient<PlanIdle>,
    pub reads: Semaphore,
}

/// How a supervisor came to be started (for `plan.recovered`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A task-run notification for a plan without a live supervisor.
    Message,
    /// Reconciliation found the plan with work pending.
    Reconcile,
    /// The previous supervisor of the plan died.
    Restart,
}

impl Origin {
    /// The name logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Message => "message",
            Origin::Reconcile => "reconcile",
            Origin::Restart => "restart",
        }
    }
}

//! What a plan supervisor runs against the database, one job at a time: a
//! read of the plan (which claims, if the read says an outcome is due, and
//! otherwise records the decision in the plan's work row), or a claim.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tracing::warn;

use super::PlanShared;
use crate::outcome::Decision;
use crate::store::plans::{ClaimResult, ClaimedOutcome, PlanState};
use crate::store::StoreError;

/// What runs against the database, one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Job {
    /// Read the plan (and claim, if the read says an outcome is due).
    Read,
    /// The counters say an outcome of this generation is due: claim it (the
    /// claim reads and decides again under the plan's lock).
    Claim { generation: i32 },
}

/// The result of one job.
pub(super) enum Evaluation {
    Unknown,
    Read(PlanState),
    Claimed(ClaimedOutcome),
    Lost {
        generation: i32,
    },
    /// The claim of this generation found the plan's work row held (None:
    /// the read could not start).
    Busy(Option<i32>),
    Failed(StoreError),
    Panicked,
}

/// Run a job: read the plan and claim its outcome if one is due, or claim.
pub(super) async fn evaluate(
    shared: Arc<PlanShared>,
    plan_id: i64,
    job: Job,
    begun: Arc<AtomicBool>,
) -> Evaluation {
    let Ok(_permit) = shared.reads.acquire().await else {
        return Evaluation::Busy(None);
    };
    begun.store(true, Ordering::Release);
    let window = shared.config.failure_window;
    let generation = match job {
        Job::Claim { generation } => generation,
        Job::Read => {
            let state = match shared.store.plan_state(plan_id).await {
                Ok(Some(state)) => state,
                Ok(None) => return Evaluation::Unknown,
                Err(error) => return Evaluation::Failed(error),
            };
            let decision = state.decide(window);
            if !matches!(decision, Decision::Claim(..)) {
                settle(&shared, &state, decision).await;
                return Evaluation::Read(state);
            }
            state.generation()
        }
    };
    match shared
        .store
        .claim_plan_outcome(plan_id, generation, window, &shared.node_id)
        .await
    {
        Ok(ClaimResult::Claimed(claimed)) => Evaluation::Claimed(claimed),
        Ok(ClaimResult::Lost { generation }) => Evaluation::Lost { generation },
        Ok(ClaimResult::NotDue(state)) => Evaluation::Read(state),
        Ok(ClaimResult::Busy) => Evaluation::Busy(Some(generation)),
        Ok(ClaimResult::UnknownPlan) => Evaluation::Unknown,
        Err(error) => Evaluation::Failed(error),
    }
}

/// After a read that claimed nothing, record in the plan's work row when it
/// must be looked at again (an open window's deadline, or at its next
/// change). A row that changed since the read stays due; a failure here
/// only leaves it due for the next reconciliation.
async fn settle(shared: &PlanShared, state: &PlanState, decision: Decision) {
    if let Err(error) = shared.store.settle_plan_work(&state.settle(decision)).await {
        warn!(event = "plan.settle_failed", plan_id = state.plan.id, error = %error);
    }
}

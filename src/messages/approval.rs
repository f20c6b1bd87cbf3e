//! Requests to the `ApprovalActor` beyond the change notifications it gets
//! from the router: "try to create this plan's rollout now, and tell me what
//! happened" — used by tests, and by anything that wants an answer.

use actix::Message;

use crate::rollout::MissingCondition;
use crate::store::StoreError;

/// What prompted an attempt to create a rollout (logged as `trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutTrigger {
    /// An issue's approval changed (`IssueChanged`).
    Issue,
    /// A plan check run changed status (`PlanCheckRunChanged`).
    PlanCheckRun,
    /// The reconciliation scan found the plan.
    Reconcile,
    /// A direct [`TryCreateRollout`] request.
    Request,
}

impl RolloutTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutTrigger::Issue => "issue",
            RolloutTrigger::PlanCheckRun => "plan_check_run",
            RolloutTrigger::Reconcile => "reconcile",
            RolloutTrigger::Request => "request",
        }
    }
}

/// How an attempt to create a plan's rollout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutOutcome {
    /// This attempt created the rollout.
    Created { rollout_id: i64 },
    /// The plan had a rollout already (`None`: lost the insert race, the
    /// winner's id was not read).
    Exists { rollout_id: Option<i64> },
    /// Conditions are missing; a later trigger will try again.
    Waiting(Vec<MissingCondition>),
    /// The plan has no issue: nothing to do.
    NoIssue,
    /// The plan does not exist (any more).
    PlanNotFound,
    /// Conditions hold, but rollouts are the source's to create (the
    /// Bytebase source: its own creator, or herald's repair through its
    /// API).
    LeftToSource,
}

/// Try to create plan `plan_id`'s rollout now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "Result<RolloutOutcome, StoreError>")]
pub struct TryCreateRollout {
    pub plan_id: i64,
}

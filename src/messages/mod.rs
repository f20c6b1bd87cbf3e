//! The messages actors exchange. Plain typed structs: any actor can be driven
//! in tests by sending it these directly, without the listener.
//!
//! - [`change`]: a row of the pipeline (or the outbox) changed, as told by a
//!   database notification.
//! - [`delivery`]: between the delivery manager and the per-endpoint actors.
//! - [`approval`]: direct requests to the approval actor (create a rollout now).
//! - [`plan`]: the plan registry and its plan supervisors.
//! - [`reconcile`]: "NOTIFY may have lost something: re-scan the tables".
//! - [`stop`]: the one stop message every actor handles.

pub mod approval;
pub mod change;
pub mod delivery;
pub mod plan;
pub mod reconcile;
pub mod stop;

pub use approval::{RolloutOutcome, RolloutTrigger, TryCreateRollout};
pub use change::{
    ChangeOp, DbChange, IssueChanged, MalformedNotification, OutboxChanged, PlanCheckRunChanged,
    TaskRunChanged,
};
pub use plan::{
    EvaluatePlan, GetOpenWindows, GetPlanStatus, InjectPanic, PlanIdle, PlanStatus, ShutdownPlan,
};
pub use reconcile::{Reconcile, ReconcileGate, ReconcileReason};
pub use stop::StopActor;

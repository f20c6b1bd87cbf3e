//! Messages of the plan registry and its plan supervisors (besides
//! [`TaskRunChanged`](super::TaskRunChanged), which both take).

use actix::Message;
use chrono::{DateTime, Utc};

/// Re-read a plan from the database and act on it (reconciliation feeds
/// these for plans with an outcome due or a failure window open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct EvaluatePlan {
    pub plan_id: i64,
}

/// From a supervisor to the registry: "nothing to do since `handled`
/// messages": evicted if the registry has forwarded no more than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct PlanIdle {
    pub plan_id: i64,
    /// Messages (task runs and evaluations) the supervisor has handled.
    pub handled: u64,
    /// The generation it last read (for the log).
    pub generation: Option<i32>,
    /// The plan does not exist.
    pub unknown: bool,
}

/// Ask for a plan supervisor's view (None from the registry: no live
/// supervisor for that plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "Option<PlanStatus>")]
pub struct GetPlanStatus {
    pub plan_id: i64,
}

/// Every live supervisor's view whose failure window is open, on this
/// replica, soonest deadline first (the console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "Vec<PlanStatus>")]
pub struct GetOpenWindows;

/// A plan supervisor's view of its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStatus {
    pub plan_id: i64,
    /// The current generation as last read (None: not read yet).
    pub generation: Option<i32>,
    /// The highest claimed generation as last read.
    pub claimed_generation: i32,
    /// When the open failure window closes (None: no window open).
    pub window_deadline: Option<DateTime<Utc>>,
    pub tasks: usize,
    /// Tasks whose latest run is terminal / FAILED, as last known.
    pub terminal: usize,
    pub failed: usize,
    /// An evaluation is in flight or queued: the view may be about to change.
    pub busy: bool,
    /// Evaluations completed since the supervisor was created.
    pub evaluations: u64,
    /// Of those, full reads of the plan (reads and claims): task-run changes
    /// are counted in memory and read nothing.
    pub reads: u64,
    /// Times the supervisor was restarted after a panic.
    pub restarts: u32,
}

/// Stop a plan supervisor for good (daemon shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct ShutdownPlan;

/// Make a plan's supervisor panic inside a handler (tests of supervision).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct InjectPanic {
    pub plan_id: i64,
}

//! A plan's outcome, decided from its state in the database: the pure rule
//! behind the plan supervisor (no I/O, no clock of its own; unit-tested).
//!
//! # Run generations
//!
//! A plan's task runs are split into generations by the outcome claims in
//! `herald_plan_outcome`, from the database alone:
//!
//! - every new run is stamped with its plan's next sequence
//!   (`task_run.herald_seq`) under the plan's work-row lock, held until the
//!   inserting transaction commits: sequence order is commit order;
//! - generation 1 holds every run of the plan until the first claim;
//! - a claim for generation `g` records `last_run_seq`, the highest
//!   sequence when it was made; runs with a greater one belong to
//!   generation `g + 1`;
//! - the *current* generation is `last claimed + 1` (1 without claims). It is
//!   *active* once it has at least one run — a plan whose last generation is
//!   claimed and that has no newer runs is settled. A run of a claimed
//!   generation that fails later reports nothing: its generation has had
//!   its outcome.
//!
//! The claim transaction locks the plan's work row (`FOR UPDATE NOWAIT`),
//! the row a new run's stamp must lock too, so no run is being inserted
//! while `last_run_seq` is read.
//!
//! # Decision
//!
//! Over the latest run of every task of the plan (whatever its generation):
//!
//! 1. every latest run DONE or SKIPPED → claim `PIPELINE_COMPLETED`;
//! 2. every task terminal and some latest run FAILED → claim `PIPELINE_FAILED`
//!    at once;
//! 3. every task terminal otherwise (cancellations) → nothing, ever;
//! 4. a FAILED run in the current generation opens the failure window at the
//!    earliest such run's `updated_at`; it closes at `first_failure + window`,
//!    when `PIPELINE_FAILED` is claimed if some task's latest run is FAILED
//!    (failures retried meanwhile leave nothing to report: wait for the end).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::events::EventType;

/// The two outcomes a plan generation can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    Failed,
    Completed,
}

impl OutcomeKind {
    pub fn event_type(self) -> EventType {
        match self {
            OutcomeKind::Failed => EventType::PipelineFailed,
            OutcomeKind::Completed => EventType::PipelineCompleted,
        }
    }

    /// The spelling in `herald_plan_outcome.outcome`.
    pub fn as_str(self) -> &'static str {
        self.event_type().as_str()
    }
}

/// What the decision needs to know about a plan, as read from the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanFacts {
    /// The current (not yet claimed) generation.
    pub generation: i32,
    /// The current generation has at least one task run.
    pub active: bool,
    /// Tasks of the plan.
    pub tasks: usize,
    /// Tasks whose latest run is terminal (DONE, FAILED, CANCELED, SKIPPED).
    pub terminal: usize,
    /// Tasks whose latest run is DONE or SKIPPED.
    pub succeeded: usize,
    /// Tasks whose latest run is FAILED.
    pub failed: usize,
    /// `updated_at` of the earliest FAILED run of the current generation.
    pub first_failure_at: Option<DateTime<Utc>>,
}

/// Why an outcome is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimReason {
    /// Every task's latest run is DONE or SKIPPED.
    AllSucceeded,
    /// Every task is terminal and some failed: no need to wait for the window.
    AllTerminal,
    /// The failure window's time is up.
    WindowClosed,
}

impl ClaimReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimReason::AllSucceeded => "all_succeeded",
            ClaimReason::AllTerminal => "all_terminal",
            ClaimReason::WindowClosed => "window_closed",
        }
    }
}

/// What to do about a plan now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do until a new task run: the generation is claimed, has no
    /// runs, or ended with cancellations only.
    Settled,
    /// Tasks are still running, no failure window is open.
    Waiting,
    /// A failure window is open until `deadline`.
    WindowOpen { deadline: DateTime<Utc> },
    /// Claim this outcome now.
    Claim(OutcomeKind, ClaimReason),
}

/// `first_failure + window`, saturating.
pub fn window_deadline(first_failure: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let window = TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX);
    first_failure
        .checked_add_signed(window)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Decide what to do about a plan with `facts` at database time `now`.
pub fn decide(facts: &PlanFacts, window: Duration, now: DateTime<Utc>) -> Decision {
    if !facts.active || facts.tasks == 0 {
        return Decision::Settled;
    }
    if facts.succeeded == facts.tasks {
        return Decision::Claim(OutcomeKind::Completed, ClaimReason::AllSucceeded);
    }
    let all_terminal = facts.terminal == facts.tasks;
    if all_terminal {
        return if facts.failed > 0 {
            Decision::Claim(OutcomeKind::Failed, ClaimReason::AllTerminal)
        } else {
            Decision::Settled
        };
    }
    match facts.first_failure_at {
        Some(first) => {
            let deadline = window_deadline(first, window);
            if now < deadline {
                Decision::WindowOpen { deadline }
            } else if facts.failed > 0 {
                Decision::Claim(OutcomeKind::Failed, ClaimReason::WindowClosed)
            } else {
                Decision::Waiting
            }
        }
        None => Decision::Waiting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(tasks: usize, terminal: usize, succeeded: usize, failed: usize) -> PlanFacts {
        PlanFacts {
            generation: 1,
            active: true,
            tasks,
            terminal,
            succeeded,
            failed,
            first_failure_at: None,
        }
    }

    const WINDOW: Duration = Duration::from_secs(300);

    #[test]
    fn completion_needs_every_task_done_or_skipped() {
        let now = Utc::now();
        assert_eq!(
            decide(&facts(3, 3, 3, 0), WINDOW, now),
            Decision::Claim(OutcomeKind::Completed, ClaimReason::AllSucceeded)
        );
        assert_eq!(decide(&facts(3, 2, 2, 0), WINDOW, now), Decision::Waiting);
        assert_eq!(decide(&facts(0, 0, 0, 0), WINDOW, now), Decision::Settled);
    }

    #[test]
    fn cancellations_without_failure_settle_silently() {
        assert_eq!(
            decide(&facts(3, 3, 1, 0), WINDOW, Utc::now()),
            Decision::Settled
        );
    }

    #[test]
    fn a_failure_opens_a_window_that_closes_at_first_failure_plus_window() {
        let first = Utc::now();
        let mut f = facts(10, 4, 3, 1);
        f.first_failure_at = Some(first);
        let deadline = window_deadline(first, WINDOW);
        assert_eq!(decide(&f, WINDOW, first), Decision::WindowOpen { deadline });
        assert_eq!(
            decide(&f, WINDOW, deadline),
            Decision::Claim(OutcomeKind::Failed, ClaimReason::WindowClosed)
        );
        // Every task terminal: no need to wait.
        let mut all = facts(10, 10, 7, 3);
        all.first_failure_at = Some(first);
        assert_eq!(
            decide(&all, WINDOW, first),
            Decision::Claim(OutcomeKind::Failed, ClaimReason::AllTerminal)
        );
    }

    #[test]
    fn retried_failures_leave_nothing_to_report_when_the_window_closes() {
        let first = Utc::now();
        let mut f = facts(4, 2, 2, 0);
        f.first_failure_at = Some(first);
        assert_eq!(
            decide(&f, WINDOW, window_deadline(first, WINDOW)),
            Decision::Waiting
        );
    }

    #[test]
    fn a_claimed_generation_without_new_runs_is_settled() {
        let mut f = facts(3, 3, 0, 3);
        f.active = false;
        assert_eq!(decide(&f, WINDOW, Utc::now()), Decision::Settled);
    }

    #[test]
    fn huge_windows_saturate() {
        let first = Utc::now();
        assert_eq!(
            window_deadline(first, Duration::MAX),
            DateTime::<Utc>::MAX_UTC
        );
    }
}

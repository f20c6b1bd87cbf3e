//! A plan's progress, kept up to date from task-run notifications: the
//! counters behind [`outcome::decide`](crate::outcome::decide), so that a
//! task-run change costs O(log tasks) in memory and no database read (pure;
//! unit-tested here, and against full re-reads of a real database in
//! `tests/it/plan_progress.rs`).
//!
//! Built from a full read ([`PlanProgress::from_state`]) when a supervisor
//! starts, restarts, after every claim and on reconciliation; between those,
//! each [`RunChange`] (a task-run notification, in commit order) updates it.
//! A change it cannot account for exactly asks for a full read instead
//! ([`Applied::ReadNeeded`]), so the counters always equal what a full read
//! would give once every notification has been applied. Claims never trust
//! the counters: they read the plan again under its lock and decide again.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::outcome::{decide, Decision, PlanFacts};
use crate::pipeline::TaskRunStatus;
use crate::store::plans::PlanState;

/// One task-run change, as notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunChange {
    pub task_id: i64,
    pub run_id: i64,
    /// The run's sequence in its plan (`task_run.herald_seq`): it places the
    /// run in its generation.
    pub seq: i64,
    pub status: TaskRunStatus,
    /// The run's `updated_at` after the change (None: an old trigger that
    /// does not send it).
    pub updated_at: Option<DateTime<Utc>>,
}

/// Why a change needs a full read rather than a counter update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReason {
    /// A task this plan did not have when it was read.
    UnknownTask,
    /// A failure without its time: the window cannot be placed.
    NoFailureTime,
    /// A run of the current generation left FAILED (or an older run changed):
    /// the earliest failure may have moved later.
    FailureWithdrawn,
}

impl ReadReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReadReason::UnknownTask => "unknown_task",
            ReadReason::NoFailureTime => "no_failure_time",
            ReadReason::FailureWithdrawn => "failure_withdrawn",
        }
    }
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The counters follow the change.
    Counted,
    /// The counters cannot follow it exactly: read the plan.
    ReadNeeded(ReadReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TaskProgress {
    task_id: i64,
    /// The latest run's id (0: never run).
    run_id: i64,
    status: Option<TaskRunStatus>,
}

/// A plan's counters (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProgress {
    claimed_generation: i32,
    /// Runs with a greater sequence belong to the current generation.
    boundary: i64,
    /// By task id.
    tasks: Vec<TaskProgress>,
    terminal: usize,
    succeeded: usize,
    failed: usize,
    /// The current generation's highest run sequence.
    max_run_seq: Option<i64>,
    /// `updated_at` of the current generation's earliest FAILED run.
    first_failure_at: Option<DateTime<Utc>>,
}

impl PlanProgress {
    /// The counters of a full read.
    pub fn from_state(state: &PlanState) -> PlanProgress {
        let mut tasks: Vec<TaskProgress> = state
            .tasks
            .iter()
            .map(|t| TaskProgress {
                task_id: t.task_id,
                run_id: t.latest.as_ref().map_or(0, |r| r.run_id),
                status: t.latest.as_ref().map(|r| r.status),
            })
            .collect();
        tasks.sort_by_key(|t| t.task_id);
        let mut progress = PlanProgress {
            claimed_generation: state.claimed_generation,
            boundary: state.boundary,
            tasks: Vec::new(),
            terminal: 0,
            succeeded: 0,
            failed: 0,
            max_run_seq: state.max_run_seq,
            first_failure_at: state.first_failure_at,
        };
        for task in &tasks {
            progress.count(task.status, 1);
        }
        progress.tasks = tasks;
        progress
    }

    /// Add (`sign` 1) or remove (`sign` -1) a latest status from the counters.
    fn count(&mut self, status: Option<TaskRunStatus>, sign: isize) {
        let Some(status) = status else { return };
        let add = |n: &mut usize| *n = n.saturating_add_signed(sign);
        if status.is_terminal() {
            add(&mut self.terminal);
        }
        if status.is_success() {
            add(&mut self.succeeded);
        }
        if status == TaskRunStatus::Failed {
            add(&mut self.failed);
        }
    }

    /// Follow one change (changes must come in commit order).
    pub fn apply(&mut self, change: RunChange) -> Applied {
        let Ok(index) = self
            .tasks
            .binary_search_by_key(&change.task_id, |t| t.task_id)
        else {
            return Applied::ReadNeeded(ReadReason::UnknownTask);
        };
        let current_generation = change.seq > self.boundary;
        let task = self.tasks[index];
        if current_generation {
            // A run of the current generation that was FAILED may have set
            // the window's start; only a read can tell the next earliest.
            let was_failed =
                change.run_id == task.run_id && task.status == Some(TaskRunStatus::Failed);
            let older_run = change.run_id < task.run_id;
            if change.status != TaskRunStatus::Failed && (was_failed || older_run) {
                return Applied::ReadNeeded(ReadReason::FailureWithdrawn);
            }
            if change.status == TaskRunStatus::Failed {
                let Some(at) = change.updated_at else {
                    return Applied::ReadNeeded(ReadReason::NoFailureTime);
                };
                self.first_failure_at = Some(self.first_failure_at.map_or(at, |f| f.min(at)));
            }
            self.max_run_seq = Some(self.max_run_seq.map_or(change.seq, |m| m.max(change.seq)));
        }
        if change.run_id >= task.run_id {
            self.count(task.status, -1);
            self.count(Some(change.status), 1);
            self.tasks[index].run_id = change.run_id;
            self.tasks[index].status = Some(change.status);
        }
        Applied::Counted
    }

    /// The facts [`decide`] takes, as a full read would give them.
    pub fn facts(&self) -> PlanFacts {
        PlanFacts {
            generation: self.claimed_generation + 1,
            active: self.max_run_seq.is_some(),
            tasks: self.tasks.len(),
            terminal: self.terminal,
            succeeded: self.succeeded,
            failed: self.failed,
            first_failure_at: self.first_failure_at,
        }
    }

    /// The current generation's highest run sequence.
    pub fn max_run_seq(&self) -> Option<i64> {
        self.max_run_seq
    }

    /// What to do now, at database time `now`.
    pub fn decide(&self, window: Duration, now: DateTime<Utc>) -> Decision {
        decide(&self.facts(), window, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{PlanRef, ProjectRef};
    use crate::outcome::{ClaimReason, OutcomeKind};
    use crate::store::plans::{LatestRun, TaskState};
    use TaskRunStatus::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
    }

    fn state(
        claimed_generation: i32,
        boundary: i64,
        runs: &[(i64, i64, TaskRunStatus)],
    ) -> PlanState {
        let tasks = (1..=3)
            .map(|task_id| TaskState {
                task_id,
                name: format!("t{task_id}"),
                instance: "i".into(),
                database: "d".into(),
                latest: runs
                    .iter()
                    .filter(|r| r.0 == task_id)
                    .max_by_key(|r| r.1)
                    .map(|r| LatestRun {
                        run_id: r.1,
                        status: r.2,
                        error: None,
                        updated_at: at(r.1),
                    }),
            })
            .collect();
        let current: Vec<_> = runs.iter().filter(|r| r.1 > boundary).collect();
        PlanState {
            plan: PlanRef {
                id: 1,
                title: "p".into(),
            },
            project: ProjectRef {
                id: 1,
                resource_id: "p".into(),
                title: "p".into(),
            },
            claimed_generation,
            boundary,
            max_run_seq: current.iter().map(|r| r.1).max(),
            started_at: None,
            first_failure_at: current
                .iter()
                .filter(|r| r.2 == Failed)
                .map(|r| at(r.1))
                .min(),
            tasks,
            db_now: at(0),
            work_version: Some(1),
            change_id: None,
        }
    }

    fn change(task_id: i64, run_id: i64, status: TaskRunStatus) -> RunChange {
        RunChange {
            task_id,
            run_id,
            seq: run_id,
            status,
            updated_at: Some(at(run_id)),
        }
    }

    #[test]
    fn counters_follow_changes_as_a_read_would() {
        let mut progress = PlanProgress::from_state(&state(0, 0, &[]));
        assert!(!progress.facts().active);
        let mut runs = Vec::new();
        for (task, run, status) in [
            (1, 1, Running),
            (2, 2, Running),
            (1, 1, Done),
            (3, 3, Failed),
            (2, 2, Skipped),
        ] {
            runs.retain(|r: &(i64, i64, TaskRunStatus)| r.1 != run);
            runs.push((task, run, status));
            assert_eq!(progress.apply(change(task, run, status)), Applied::Counted);
            assert_eq!(
                progress.facts(),
                PlanProgress::from_state(&state(0, 0, &runs)).facts()
            );
        }
        assert_eq!(
            progress.decide(Duration::from_secs(60), at(0)),
            Decision::Claim(OutcomeKind::Failed, ClaimReason::AllTerminal)
        );
        // A retry of task 3 replaces its latest run; the failure stays the
        // generation's first.
        assert_eq!(progress.apply(change(3, 4, Running)), Applied::Counted);
        let facts = progress.facts();
        assert_eq!(
            (facts.terminal, facts.failed, facts.first_failure_at),
            (2, 0, Some(at(3)))
        );
    }

    #[test]
    fn runs_of_claimed_generations_count_for_latest_status_only() {
        let mut progress =
            PlanProgress::from_state(&state(1, 3, &[(1, 1, Done), (2, 2, Done), (3, 3, Failed)]));
        assert!(!progress.facts().active);
        // A late status change of an old run is its task's latest status,
        // but does not start a generation.
        assert_eq!(progress.apply(change(3, 3, Failed)), Applied::Counted);
        assert_eq!(progress.max_run_seq(), None);
        assert_eq!(progress.apply(change(3, 4, Failed)), Applied::Counted);
        let facts = progress.facts();
        assert_eq!(
            (facts.generation, facts.active, facts.first_failure_at),
            (2, true, Some(at(4)))
        );
    }

    #[test]
    fn what_the_counters_cannot_follow_asks_for_a_read() {
        let mut progress =
            PlanProgress::from_state(&state(0, 0, &[(1, 1, Failed), (2, 2, Running)]));
        assert_eq!(
            progress.apply(change(9, 5, Running)),
            Applied::ReadNeeded(ReadReason::UnknownTask)
        );
        assert_eq!(
            progress.apply(RunChange {
                updated_at: None,
                ..change(2, 2, Failed)
            }),
            Applied::ReadNeeded(ReadReason::NoFailureTime)
        );
        assert_eq!(
            progress.apply(change(1, 1, Done)),
            Applied::ReadNeeded(ReadReason::FailureWithdrawn)
        );
        // A newer run of task 1 exists: its older run changing is unknown ground.
        assert_eq!(progress.apply(change(1, 6, Running)), Applied::Counted);
        assert_eq!(
            progress.apply(change(1, 1, Canceled)),
            Applied::ReadNeeded(ReadReason::FailureWithdrawn)
        );
    }
}

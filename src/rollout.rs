//! When a plan's rollout may be created: the rules of SPEC §5 as a pure
//! function of what the database says about the plan ([`RolloutReadiness`]).
//!
//! - If the project requires approval, the plan's issue must be APPROVED.
//! - If the project requires plan checks without error, the plan's latest
//!   check run must be DONE with no ERROR result; no check run at all passes;
//!   a RUNNING one waits (its finishing notification triggers again).
//! - An existing rollout (herald's or the host app's) is never duplicated.
//!
//! The store reads the readiness ([`crate::store::approval`]); the
//! `ApprovalActor` acts on the [`RolloutDecision`].

use std::fmt;

use crate::pipeline::ApprovalStatus;

/// The state of a plan's latest plan check run, as far as rollouts care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanCheckState {
    /// The plan has no check run: counts as passing.
    None,
    /// The latest check run is still running: wait for it.
    Running,
    /// The latest check run finished; `has_error`: some result is ERROR.
    Done { has_error: bool },
    /// The latest check run itself failed.
    Failed,
}

/// Everything the rules look at, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutReadiness {
    pub plan_id: i64,
    pub project_id: i64,
    /// Project setting `require_issue_approval`.
    pub require_issue_approval: bool,
    /// Project setting `require_plan_check_no_error`.
    pub require_plan_check_no_error: bool,
    /// The plan's issue (the newest one, if several name the plan).
    pub issue: Option<(i64, ApprovalStatus)>,
    /// The latest plan check run's id, if any.
    pub check_run_id: Option<i64>,
    pub check: PlanCheckState,
    /// The plan's rollout, if one exists already.
    pub rollout_id: Option<i64>,
}

/// A condition that keeps a rollout from being created yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingCondition {
    /// The project requires approval and the issue is not APPROVED.
    IssueApproval,
    /// The project requires clean plan checks and the latest one still runs.
    PlanCheckRunning,
    /// The project requires clean plan checks and the latest one reported an
    /// ERROR result.
    PlanCheckErrors,
    /// The project requires clean plan checks and the latest one failed.
    PlanCheckFailed,
}

impl MissingCondition {
    /// The name in logs (`rollout.waiting`'s `missing` field).
    pub fn as_str(self) -> &'static str {
        match self {
            MissingCondition::IssueApproval => "issue_approval",
            MissingCondition::PlanCheckRunning => "plan_check_running",
            MissingCondition::PlanCheckErrors => "plan_check_errors",
            MissingCondition::PlanCheckFailed => "plan_check_failed",
        }
    }
}

impl fmt::Display for MissingCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do about a plan's rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutDecision {
    /// Every required condition holds: create it.
    Create,
    /// Not yet: these conditions are missing (never empty).
    Wait(Vec<MissingCondition>),
    /// The plan has a rollout already.
    Exists { rollout_id: i64 },
    /// The plan has no issue: herald creates rollouts for issues' plans only.
    NoIssue,
}

impl RolloutReadiness {
    /// Apply the rules.
    pub fn decide(&self) -> RolloutDecision {
        if let Some(rollout_id) = self.rollout_id {
            return RolloutDecision::Exists { rollout_id };
        }
        let Some((_, approval)) = self.issue else {
            return RolloutDecision::NoIssue;
        };
        let mut missing = Vec::new();
        if self.require_issue_approval && approval != ApprovalStatus::Approved {
            missing.push(MissingCondition::IssueApproval);
        }
        if self.require_plan_check_no_error {
            match self.check {
                PlanCheckState::None | PlanCheckState::Done { has_error: false } => {}
                PlanCheckState::Running => missing.push(MissingCondition::PlanCheckRunning),
                PlanCheckState::Done { has_error: true } => {
                    missing.push(MissingCondition::PlanCheckErrors)
                }
                PlanCheckState::Failed => missing.push(MissingCondition::PlanCheckFailed),
            }
        }
        if missing.is_empty() {
            RolloutDecision::Create
        } else {
            RolloutDecision::Wait(missing)
        }
    }
}

/// `missing` as one log field: `issue_approval,plan_check_running`.
pub fn missing_list(missing: &[MissingCondition]) -> String {
    missing
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readiness(
        require_issue_approval: bool,
        require_plan_check_no_error: bool,
        approval: ApprovalStatus,
        check: PlanCheckState,
    ) -> RolloutReadiness {
        RolloutReadiness {
            plan_id: 1,
            project_id: 1,
            require_issue_approval,
            require_plan_check_no_error,
            issue: Some((1, approval)),
            check_run_id: None,
            check,
            rollout_id: None,
        }
    }

    #[test]
    fn nothing_required_creates_whatever_the_state() {
        for approval in [
            ApprovalStatus::Pending,
            ApprovalStatus::Approved,
            ApprovalStatus::Rejected,
        ] {
            for check in [
                PlanCheckState::None,
                PlanCheckState::Running,
                PlanCheckState::Done { has_error: true },
                PlanCheckState::Failed,
            ] {
                assert_eq!(
                    readiness(false, false, approval, check).decide(),
                    RolloutDecision::Create
                );
            }
        }
    }

    #[test]
    fn approval_required_waits_for_approved() {
        let r = readiness(true, false, ApprovalStatus::Pending, PlanCheckState::None);
        assert_eq!(
            r.decide(),
            RolloutDecision::Wait(vec![MissingCondition::IssueApproval])
        );
        let r = readiness(true, false, ApprovalStatus::Approved, PlanCheckState::None);
        assert_eq!(r.decide(), RolloutDecision::Create);
    }

    #[test]
    fn clean_checks_required() {
        use PlanCheckState::*;
        let cases = [
            (None, vec![]),
            (Done { has_error: false }, vec![]),
            (Running, vec![MissingCondition::PlanCheckRunning]),
            (
                Done { has_error: true },
                vec![MissingCondition::PlanCheckErrors],
            ),
            (Failed, vec![MissingCondition::PlanCheckFailed]),
        ];
        for (check, missing) in cases {
            let expected = if missing.is_empty() {
                RolloutDecision::Create
            } else {
                RolloutDecision::Wait(missing)
            };
            assert_eq!(
                readiness(false, true, ApprovalStatus::Pending, check).decide(),
                expected,
                "{check:?}"
            );
        }
    }

    #[test]
    fn both_missing_are_both_named() {
        let r = readiness(
            true,
            true,
            ApprovalStatus::Rejected,
            PlanCheckState::Running,
        );
        let RolloutDecision::Wait(missing) = r.decide() else {
            panic!("expected to wait");
        };
        assert_eq!(missing_list(&missing), "issue_approval,plan_check_running");
    }

    #[test]
    fn existing_rollout_and_missing_issue() {
        let mut r = readiness(false, false, ApprovalStatus::Approved, PlanCheckState::None);
        r.rollout_id = Some(9);
        assert_eq!(r.decide(), RolloutDecision::Exists { rollout_id: 9 });
        r.rollout_id = None;
        r.issue = None;
        assert_eq!(r.decide(), RolloutDecision::NoIssue);
    }
}

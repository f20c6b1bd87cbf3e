//! Bytebase's rows and payloads, and what they mean in herald's model.
//!
//! Pure: no SQL, no clock. The payloads are protojson (camelCase keys, enum
//! names, int64 as strings, zero values omitted) as described by
//! `proto/store/store/*.proto` in bytebase/bytebase; every field is optional
//! here because protojson omits defaults. A payload that does not parse is a
//! [`PayloadError`] naming the field.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A payload that cannot be mapped: the JSON path of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct PayloadError {
    pub field: String,
    pub detail: String,
}

/// Parse `value` as `T`, naming the field that does not fit.
pub fn parse<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(value).map_err(|error| PayloadError {
        field: match error.path().to_string() {
            path if path == "." => "(payload)".to_owned(),
            path => path,
        },
        detail: error.into_inner().to_string(),
    })
}

/// protojson writes int64 as a string (and accepts numbers).
fn int64<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(i64),
        Text(String),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

/// `project.setting` (Project in project.proto): the two requirements
/// herald's rollout rule reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProjectSetting {
    pub require_issue_approval: bool,
    pub require_plan_check_no_error: bool,
}

/// `plan.config` (PlanConfig in plan.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanConfig {
    pub has_rollout: bool,
    #[serde(deserialize_with = "int64")]
    pub approval_input_version: i64,
    pub specs: Vec<serde_json::Value>,
}

impl PlanConfig {
    /// A database-change plan: every spec is a `changeDatabaseConfig` or
    /// `createDatabaseConfig` without a `release` (Bytebase's own review
    /// classification); exports and GitOps releases are not.
    pub fn is_database_change(&self) -> bool {
        !self.specs.is_empty()
            && self.specs.iter().all(|spec| {
                spec.get("createDatabaseConfig").is_some()
                    || spec.get("changeDatabaseConfig").is_some_and(|change| {
                        change
                            .get("release")
                            .and_then(|r| r.as_str())
                            .map_or(true, str::is_empty)
                    })
            })
    }
}

/// `task.payload` (Task in task.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskPayload {
    pub skipped: bool,
    pub skipped_reason: String,
}

/// `task_run.result` (TaskRunResult in task_run.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskRunResult {
    pub detail: String,
}

/// `plan_check_run.result` (PlanCheckRunResult in plan_check_run.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanCheckRunResult {
    pub results: Vec<CheckResult>,
    pub error: String,
    #[serde(deserialize_with = "int64")]
    pub approval_input_version: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckResult {
    /// Advice.Status: SUCCESS | WARNING | ERROR.
    pub status: String,
    pub title: String,
    pub content: String,
}

/// `issue.payload` (Issue in issue.proto), the parts herald reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IssuePayload {
    pub approval: Approval,
    pub draft: bool,
    pub labels: Vec<String>,
    pub risk_level: String,
}

/// IssuePayloadApproval (approval.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Approval {
    pub approval_template: Option<ApprovalTemplate>,
    pub approvers: Vec<Approver>,
    pub approval_finding_done: bool,
    #[serde(deserialize_with = "int64")]
    pub approval_input_version: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalTemplate {
    pub flow: ApprovalFlow,
    pub title: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ApprovalFlow {
    /// One step per role, in order ("roles/projectOwner").
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Approver {
    /// PENDING | APPROVED | REJECTED.
    pub status: String,
    /// "users/{email}".
    pub principal: String,
}

/// `issue_comment.payload` (IssueCommentPayload): the reason of a
/// rejection is `comment` next to `approval.status = REJECTED`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommentPayload {
    pub comment: String,
    pub approval: Option<CommentApproval>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommentApproval {
    pub status: String,
}

/// `policy.payload` of an IAM policy (IamPolicy in policy.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IamPolicy {
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Binding {
    pub role: String,
    /// "users/{email}", "groups/{email}", "allUsers", …
    pub members: Vec<String>,
}

/// `user_group.payload` (GroupPayload in group.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupPayload {
    pub members: Vec<GroupMember>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GroupMember {
    /// "users/{email}".
    pub member: String,
}

/// The e-mail of a `users/{email}` reference.
pub fn user_email(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("users/")
        .filter(|email| !email.is_empty())
}

/// An issue's approval in herald's terms (the native `issue` columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeApproval {
    /// PENDING | APPROVED | REJECTED.
    pub status: &'static str,
    /// The step the issue waits on (PENDING), the step that completed it
    /// (APPROVED) or the step rejected (REJECTED); `None` while Bytebase is
    /// still finding the approval flow.
    pub step_role: Option<String>,
    /// The e-mail of the approver who rejected it.
    pub rejected_by: Option<String>,
}

/// Bytebase's approval status (backend/store/issue_approval_status.go):
/// still finding → pending without a step; no template (or no roles) →
/// approved; any rejection → rejected; one approved approver per role →
/// approved; otherwise pending at the first role without one. An approval
/// found for an older approval input version than the plan's is stale:
/// pending without a step until Bytebase finds it again.
pub fn approval(payload: &IssuePayload, plan_approval_version: i64) -> NativeApproval {
    let approval = &payload.approval;
    let pending = |step_role| NativeApproval {
        status: "PENDING",
        step_role,
        rejected_by: None,
    };
    if !approval.approval_finding_done || approval.approval_input_version < plan_approval_version {
        return pending(None);
    }
    let roles = approval
        .approval_template
        .as_ref()
        .map(|t| t.flow.roles.as_slice())
        .unwrap_or_default();
    if roles.is_empty() {
        return NativeApproval {
            status: "APPROVED",
            step_role: None,
            rejected_by: None,
        };
    }
    if let Some((index, rejecter)) = approval
        .approvers
        .iter()
        .enumerate()
        .find(|(_, a)| a.status == "REJECTED")
    {
        return NativeApproval {
            status: "REJECTED",
            step_role: roles.get(index.min(roles.len() - 1)).cloned(),
            rejected_by: user_email(&rejecter.principal).map(str::to_owned),
        };
    }
    let approved = approval
        .approvers
        .iter()
        .take_while(|a| a.status == "APPROVED")
        .count();
    if approved >= roles.len() {
        NativeApproval {
            status: "APPROVED",
            step_role: roles.last().cloned(),
            rejected_by: None,
        }
    } else {
        pending(Some(roles[approved].clone()))
    }
}

/// A Bytebase task-run status in herald's terms (AVAILABLE is queued).
pub fn task_run_status(status: &str) -> Option<&'static str> {
    Some(match status {
        "PENDING" | "AVAILABLE" => "PENDING",
        "RUNNING" => "RUNNING",
        "DONE" => "DONE",
        "FAILED" => "FAILED",
        "CANCELED" => "CANCELED",
        _ => return None,
    })
}

/// Is a Bytebase task-run status final?
pub fn is_terminal_run(status: &str) -> bool {
    matches!(status, "DONE" | "FAILED" | "CANCELED")
}

/// A plan check run in herald's terms: status RUNNING | DONE | FAILED and
/// the results (`[{status, title, content}]`). A result for an older
/// approval input version than the plan's is still running.
pub fn check_run(
    status: &str,
    result: &PlanCheckRunResult,
    plan_approval_version: i64,
) -> Option<(&'static str, serde_json::Value)> {
    let status = match status {
        "AVAILABLE" | "RUNNING" => "RUNNING",
        "DONE" if result.approval_input_version < plan_approval_version => "RUNNING",
        "DONE" => "DONE",
        "FAILED" | "CANCELED" => "FAILED",
        _ => return None,
    };
    let mut results: Vec<serde_json::Value> = result
        .results
        .iter()
        .map(|r| {
            serde_json::json!({
                "status": match r.status.as_str() {
                    "ERROR" => "ERROR",
                    "WARNING" => "WARNING",
                    _ => "SUCCESS",
                },
                "title": r.title,
                "content": r.content,
            })
        })
        .collect();
    if !result.error.is_empty() {
        results.push(serde_json::json!({
            "status": "ERROR",
            "title": "plan check error",
            "content": result.error,
        }));
    }
    Some((status, serde_json::Value::Array(results)))
}

/// A task's name in messages: its database, else its instance.
pub fn task_name(instance: &str, db_name: Option<&str>) -> String {
    match db_name.filter(|d| !d.is_empty()) {
        Some(db) => db.to_owned(),
        None => instance.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issue(payload: serde_json::Value) -> IssuePayload {
        parse(&payload).expect("parses")
    }

    fn two_steps(approvers: serde_json::Value) -> IssuePayload {
        issue(json!({"approval": {
            "approvalFindingDone": true,
            "approvalInputVersion": "2",
            "approvalTemplate": {"flow": {"roles": ["roles/projectOwner", "roles/dba"]}},
            "approvers": approvers,
        }}))
    }

    #[test]
    fn approval_follows_bytebase_steps() {
        let at = |p: &IssuePayload| approval(p, 2);
        assert_eq!(
            at(&issue(json!({}))),
            NativeApproval {
                status: "PENDING",
                step_role: None,
                rejected_by: None
            }
        );
        assert_eq!(
            at(&two_steps(json!([]))).step_role.as_deref(),
            Some("roles/projectOwner")
        );
        let one = two_steps(json!([{"status": "APPROVED", "principal": "users/a@x.io"}]));
        assert_eq!(
            (at(&one).status, at(&one).step_role.as_deref()),
            ("PENDING", Some("roles/dba"))
        );
        let both = two_steps(json!([
            {"status": "APPROVED", "principal": "users/a@x.io"},
            {"status": "APPROVED", "principal": "users/b@x.io"}
        ]));
        assert_eq!(
            (at(&both).status, at(&both).step_role.as_deref()),
            ("APPROVED", Some("roles/dba"))
        );
        let rejected = two_steps(json!([
            {"status": "APPROVED", "principal": "users/a@x.io"},
            {"status": "REJECTED", "principal": "users/b@x.io"}
        ]));
        assert_eq!(
            at(&rejected),
            NativeApproval {
                status: "REJECTED",
                step_role: Some("roles/dba".into()),
                rejected_by: Some("b@x.io".into())
            }
        );
        // Approved for version 2; the plan moved to 3: stale.
        assert_eq!(approval(&both, 3).status, "PENDING");
        assert_eq!(approval(&both, 3).step_role, None);
        // No flow: nothing to approve.
        let none = issue(json!({"approval": {"approvalFindingDone": true}}));
        assert_eq!(approval(&none, 0).status, "APPROVED");
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let error = parse::<IssuePayload>(&json!({"approval": {"approvers": [{"status": 3}]}}))
            .expect_err("a number status");
        assert_eq!(error.field, "approval.approvers[0].status");
        let error = parse::<PlanConfig>(&json!({"approvalInputVersion": "x"})).expect_err("x");
        assert_eq!(error.field, "approvalInputVersion");
        assert_eq!(
            parse::<PlanConfig>(&json!({"approvalInputVersion": 4}))
                .map(|c| c.approval_input_version),
            Ok(4)
        );
    }

    #[test]
    fn runs_checks_and_plans_map() {
        assert_eq!(task_run_status("AVAILABLE"), Some("PENDING"));
        assert_eq!(task_run_status("SKIPPED"), None);
        let result: PlanCheckRunResult = parse(&json!({
            "approvalInputVersion": "1",
            "results": [{"status": "ERROR", "title": "t", "content": "c", "code": 201}]
        }))
        .expect("parses");
        assert_eq!(check_run("DONE", &result, 1).map(|c| c.0), Some("DONE"));
        assert_eq!(check_run("DONE", &result, 2).map(|c| c.0), Some("RUNNING"));
        assert_eq!(
            check_run("DONE", &result, 1).map(|c| c.1),
            Some(json!([{"status": "ERROR", "title": "t", "content": "c"}]))
        );
        let change: PlanConfig =
            parse(&json!({"specs": [{"id": "s", "changeDatabaseConfig": {"targets": []}}]}))
                .expect("parses");
        assert!(change.is_database_change());
        let release: PlanConfig = parse(
            &json!({"specs": [{"changeDatabaseConfig": {"release": "projects/p/releases/r"}}]}),
        )
        .expect("parses");
        assert!(!release.is_database_change());
        assert_eq!(task_name("prod", Some("shop")), "shop");
        assert_eq!(task_name("prod", None), "prod");
    }
}

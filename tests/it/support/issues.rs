//! Seeding the pipeline tables the way a host application writes them —
//! projects, people, plans, issues, plan check runs — and reading back what
//! herald wrote for them (events, outbox rows, rollouts, transitions).

use herald::events::{Event, UserRef};
use sqlx::PgPool;
use uuid::Uuid;

/// Writes pipeline rows through plain SQL on `pool`.
#[derive(Clone)]
pub struct Seed {
    pub pool: PgPool,
}

/// A plan check run's state as the tests vary it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    Running,
    DoneClean,
    DoneWithError,
    Failed,
}

impl Check {
    pub const ALL: [Check; 5] = [
        Check::None,
        Check::Running,
        Check::DoneClean,
        Check::DoneWithError,
        Check::Failed,
    ];
}

#[allow(dead_code)] // each test module uses its own subset
impl Seed {
    pub fn new(pool: &PgPool) -> Seed {
        Seed { pool: pool.clone() }
    }

    /// A project with the two rollout settings.
    pub async fn project(&self, require_approval: bool, require_checks: bool) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO project (resource_id, title, require_issue_approval, require_plan_check_no_error)
             VALUES ('p-' || gen_random_uuid(), 'Project', $1, $2) RETURNING id",
        )
        .bind(require_approval)
        .bind(require_checks)
        .fetch_one(&self.pool)
        .await
        .expect("insert project")
    }

    /// A user; the email is made unique from `name`.
    pub async fn user(&self, name: &str, phone: Option<&str>) -> UserRef {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            Uuid::new_v4().simple()
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO app_user (name, email, phone) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(&email)
        .bind(phone)
        .fetch_one(&self.pool)
        .await
        .expect("insert user");
        UserRef {
            id,
            name: name.to_owned(),
            email,
            phone: phone.map(str::to_owned),
            handles: Default::default(),
        }
    }

    /// Put `user`'s handle on `platform` in the people directory.
    pub async fn handle(&self, user: i64, platform: &str, handle: &str) {
        sqlx::query("INSERT INTO app_user_handle (user_id, platform, handle) VALUES ($1, $2, $3)")
            .bind(user)
            .bind(platform)
            .bind(handle)
            .execute(&self.pool)
            .await
            .expect("insert handle");
    }

    pub async fn delete_user(&self, user: i64) {
        sqlx::query("UPDATE app_user SET deleted = TRUE WHERE id = $1")
            .bind(user)
            .execute(&self.pool)
            .await
            .expect("soft-delete user");
    }

    pub async fn member(&self, project: i64, user: i64, role: &str) {
        sqlx::query("INSERT INTO project_member (project_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(project)
            .bind(user)
            .bind(role)
            .execute(&self.pool)
            .await
            .expect("insert member");
    }

    pub async fn plan(&self, project: i64) -> i64 {
        sqlx::query_scalar("INSERT INTO plan (project_id, title) VALUES ($1, 'Plan') RETURNING id")
            .bind(project)
            .fetch_one(&self.pool)
            .await
            .expect("insert plan")
    }

    /// An issue in `status`, waiting on `step` = (role, required count) if given.
    pub async fn issue(
        &self,
        project: i64,
        plan: Option<i64>,
        creator: i64,
        status: &str,
        step: Option<(&str, i32)>,
    ) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO issue (project_id, plan_id, title, creator_id, approval_status,
                                approval_step_role, approval_required_count)
             VALUES ($1, $2, 'Add index', $3, $4, $5, $6) RETURNING id",
        )
        .bind(project)
        .bind(plan)
        .bind(creator)
        .bind(status)
        .bind(step.map(|s| s.0))
        .bind(step.map(|s| s.1))
        .fetch_one(&self.pool)
        .await
        .expect("insert issue")
    }

    pub async fn approve(&self, issue: i64) {
        sqlx::query(
            "UPDATE issue SET approval_status = 'APPROVED', updated_at = now() WHERE id = $1",
        )
        .bind(issue)
        .execute(&self.pool)
        .await
        .expect("approve issue");
    }

    pub async fn reject(&self, issue: i64, by: i64, reason: &str) {
        sqlx::query(
            "UPDATE issue SET approval_status = 'REJECTED', rejected_by = $2, reject_reason = $3,
                              updated_at = now()
             WHERE id = $1",
        )
        .bind(issue)
        .bind(by)
        .bind(reason)
        .execute(&self.pool)
        .await
        .expect("reject issue");
    }

    /// Back to PENDING on approval step (role, count).
    pub async fn resubmit(&self, issue: i64, role: &str, count: i32) {
        sqlx::query(
            "UPDATE issue SET approval_status = 'PENDING', approval_step_role = $2,
                              approval_required_count = $3, updated_at = now()
             WHERE id = $1",
        )
        .bind(issue)
        .bind(role)
        .bind(count)
        .execute(&self.pool)
        .await
        .expect("resubmit issue");
    }

    /// A plan check run in `check`'s state; `None` for [`Check::None`].
    pub async fn check_run(&self, plan: i64, check: Check) -> Option<i64> {
        let (status, results) = match check {
            Check::None => return None,
            Check::Running => ("RUNNING", "[]"),
            Check::DoneClean => (
                "DONE",
                r#"[{"status":"SUCCESS","title":"Syntax","content":"ok"},
                    {"status":"WARNING","title":"Naming","content":"meh"}]"#,
            ),
            Check::DoneWithError => (
                "DONE",
                r#"[{"status":"SUCCESS","title":"Syntax","content":"ok"},
                    {"status":"ERROR","title":"Drop table","content":"no"}]"#,
            ),
            Check::Failed => ("FAILED", "[]"),
        };
        let id = sqlx::query_scalar(
            "INSERT INTO plan_check_run (plan_id, status, results) VALUES ($1, $2, $3::jsonb)
             RETURNING id",
        )
        .bind(plan)
        .bind(status)
        .bind(results)
        .fetch_one(&self.pool)
        .await
        .expect("insert plan check run");
        Some(id)
    }

    /// Finish a running check run cleanly.
    pub async fn finish_check_clean(&self, check_run: i64) {
        sqlx::query(
            "UPDATE plan_check_run
                SET status = 'DONE', results = '[{\"status\":\"SUCCESS\",\"title\":\"t\",\"content\":\"c\"}]',
                    updated_at = now()
              WHERE id = $1",
        )
        .bind(check_run)
        .execute(&self.pool)
        .await
        .expect("finish check run");
    }

    /// A config endpoint subscribed to everything, so emits write outbox rows.
    pub async fn subscribe_all(&self, endpoint: &str) {
        sqlx::query("INSERT INTO herald_endpoint (id, event_types) VALUES ($1, '{*}')")
            .bind(endpoint)
            .execute(&self.pool)
            .await
            .expect("insert endpoint");
    }

    /// A project webhook subscribed to the four issue events.
    pub async fn project_webhook(&self, project: i64) -> String {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO project_webhook (project_id, type, url, event_types)
             VALUES ($1, 'slack', 'http://127.0.0.1:9/hook',
                     '{ISSUE_CREATED,ISSUE_APPROVAL_REQUESTED,ISSUE_SENT_BACK,ISSUE_APPROVED}')
             RETURNING id",
        )
        .bind(project)
        .fetch_one(&self.pool)
        .await
        .expect("insert project webhook");
        format!("project-webhook-{id}")
    }

    /// The plan's rollouts: (id, created_by).
    pub async fn rollouts(&self, plan: i64) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT id, created_by FROM rollout WHERE plan_id = $1 ORDER BY id")
            .bind(plan)
            .fetch_all(&self.pool)
            .await
            .expect("read rollouts")
    }

    /// Ids of the events about `issue`, in emission order, with their types.
    /// The issue's own events (`ISSUE_*`; `rollout.created` also names the
    /// issue but is the approval actor's).
    pub async fn events_of(&self, issue: i64) -> Vec<(Uuid, String)> {
        sqlx::query_as(
            "SELECT id, type FROM herald_event WHERE issue_id = $1 AND type LIKE 'ISSUE\\_%' ORDER BY seq",
        )
            .bind(issue)
            .fetch_all(&self.pool)
            .await
            .expect("read events")
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM herald_event")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
    }

    /// The endpoints `event` has outbox rows for, sorted.
    pub async fn deliveries_of(&self, event: Uuid) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT endpoint_id FROM herald_delivery WHERE event_id = $1 ORDER BY endpoint_id",
        )
        .bind(event)
        .fetch_all(&self.pool)
        .await
        .expect("read deliveries")
    }

    /// Transitions of `issue`: (kind, handled_by, event_id), in order.
    pub async fn transitions_of(&self, issue: i64) -> Vec<(String, Option<String>, Option<Uuid>)> {
        sqlx::query_as(
            "SELECT kind, handled_by, event_id FROM herald_issue_transition
              WHERE issue_id = $1 ORDER BY id",
        )
        .bind(issue)
        .fetch_all(&self.pool)
        .await
        .expect("read transitions")
    }

    pub async fn unhandled_transitions(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM herald_issue_transition WHERE handled_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .expect("count transitions")
    }
}

/// An event's `data` as `T`.
pub fn data<T: serde::de::DeserializeOwned>(event: &Event) -> T {
    serde_json::from_value(event.data.clone()).expect("event data has the expected shape")
}

//! The writes a host application makes to the pipeline tables — as
//! `herald demo` plays them. herald itself never calls these; they exist so
//! the demo drives herald through SQL only, exactly as a real host app would.

use sqlx::Row;

use super::{Store, StoreError};

/// One task of a plan: (name, instance, database).
pub type TaskSpec<'a> = (&'a str, &'a str, &'a str);

/// What [`Store::seed_pipeline`] created.
#[derive(Debug, Clone)]
pub struct SeededPipeline {
    pub project_id: i64,
    pub plan_id: i64,
    pub creator_id: i64,
    pub approver_ids: Vec<i64>,
    pub task_ids: Vec<i64>,
}

impl Store {
    /// A project that requires approval and clean plan checks, its people
    /// (a creator and two approvers holding `approver_role`), and a plan
    /// with `tasks`.
    pub async fn seed_pipeline(
        &self,
        project: &str,
        approver_role: &str,
        plan_title: &str,
        tasks: &[TaskSpec<'_>],
    ) -> Result<SeededPipeline, StoreError> {
        let mut tx = self.pool().begin().await?;
        let project_id: i64 = sqlx::query_scalar(
            "INSERT INTO project (resource_id, title, require_issue_approval, require_plan_check_no_error)
             VALUES ($1, initcap($1), TRUE, TRUE) RETURNING id",
        )
        .bind(project)
        .fetch_one(&mut *tx)
        .await?;
        let mut people = Vec::new();
        for (name, phone) in [
            ("Ada", "+15550100"),
            ("Grace", "+15550101"),
            ("Linus", "+15550102"),
        ] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO app_user (name, email, phone) VALUES ($1, lower($1) || '@' || $2 || '.example', $3)
                 RETURNING id",
            )
            .bind(name)
            .bind(project)
            .bind(phone)
            .fetch_one(&mut *tx)
            .await?;
            people.push(id);
        }
        // The people directory: Grace's Slack member id, so messages can
        // mention her for real.
        sqlx::query("INSERT INTO app_user_handle (user_id, platform, handle) VALUES ($1, 'slack', 'U0GRACE01')")
            .bind(people[1])
            .execute(&mut *tx)
            .await?;
        for approver in &people[1..] {
            sqlx::query(
                "INSERT INTO project_member (project_id, user_id, role) VALUES ($1, $2, $3)",
            )
            .bind(project_id)
            .bind(approver)
            .bind(approver_role)
            .execute(&mut *tx)
            .await?;
        }
        let plan_id: i64 =
            sqlx::query_scalar("INSERT INTO plan (project_id, title) VALUES ($1, $2) RETURNING id")
                .bind(project_id)
                .bind(plan_title)
                .fetch_one(&mut *tx)
                .await?;
        let mut task_ids = Vec::with_capacity(tasks.len());
        for (name, instance, database) in tasks {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO task (plan_id, name, instance, database_name) VALUES ($1, $2, $3, $4)
                 RETURNING id",
            )
            .bind(plan_id)
            .bind(name)
            .bind(instance)
            .bind(database)
            .fetch_one(&mut *tx)
            .await?;
            task_ids.push(id);
        }
        tx.commit().await?;
        Ok(SeededPipeline {
            project_id,
            plan_id,
            creator_id: people[0],
            approver_ids: people[1..].to_vec(),
            task_ids,
        })
    }

    /// Open an issue for the plan, waiting on an approval step.
    pub async fn create_issue(
        &self,
        pipeline: &SeededPipeline,
        title: &str,
        approval_role: &str,
    ) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO issue (project_id, plan_id, title, creator_id, approval_step_role, approval_required_count)
             VALUES ($1, $2, $3, $4, $5, 1) RETURNING id",
        )
        .bind(pipeline.project_id)
        .bind(pipeline.plan_id)
        .bind(title)
        .bind(pipeline.creator_id)
        .bind(approval_role)
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Record a finished plan check run with only successful results.
    pub async fn finish_clean_plan_check(&self, plan_id: i64) -> Result<i64, StoreError> {
        let id = sqlx::query_scalar(
            "INSERT INTO plan_check_run (plan_id, status, results)
             VALUES ($1, 'DONE', '[{\"status\": \"SUCCESS\", \"title\": \"Syntax\", \"content\": \"OK\"}]')
             RETURNING id",
        )
        .bind(plan_id)
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Approve the issue and, in the same transaction, emit the host app's
    /// own custom event `issue.approved` — custom events ride the host's
    /// transaction through `herald_emit`.
    pub async fn approve_issue(&self, issue_id: i64, approver_id: i64) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query(
            "UPDATE issue SET approval_status = 'APPROVED', updated_at = now() WHERE id = $1
             RETURNING project_id, plan_id",
        )
        .bind(issue_id)
        .fetch_one(&mut *tx)
        .await?;
        let project_id: i64 = row.try_get("project_id")?;
        let plan_id: Option<i64> = row.try_get("plan_id")?;
        sqlx::query(
            "SELECT herald_emit('issue.approved',
                    jsonb_build_object('data', jsonb_build_object('issue_id', $1::bigint, 'approved_by',
                        (SELECT jsonb_build_object('id', id, 'name', name, 'email', email) FROM app_user WHERE id = $2))),
                    $3, $1, $4)",
        )
        .bind(issue_id)
        .bind(approver_id)
        .bind(project_id)
        .bind(plan_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Start a run of each task; returns the run ids in task order.
    pub async fn start_task_runs(&self, task_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
        let mut runs = Vec::with_capacity(task_ids.len());
        for task in task_ids {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO task_run (task_id, status, started_at) VALUES ($1, 'RUNNING', now()) RETURNING id",
            )
            .bind(task)
            .fetch_one(self.pool())
            .await?;
            runs.push(id);
        }
        Ok(runs)
    }

    /// Finish a task run with `status` (`DONE`, `FAILED`, ...) and an error text.
    pub async fn finish_task_run(
        &self,
        run_id: i64,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE task_run SET status = $2, error_message = $3, updated_at = now() WHERE id = $1",
        )
        .bind(run_id)
        .bind(status)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The plan's rollout, if one exists.
    pub async fn rollout_of(&self, plan_id: i64) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query("SELECT id, created_by FROM rollout WHERE plan_id = $1")
            .bind(plan_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|row| Ok((row.try_get("id")?, row.try_get("created_by")?)))
            .transpose()
    }

    /// Every delivery's event type, state and attempts, in outbox order.
    pub async fn demo_delivery_states(&self) -> Result<Vec<(String, String, i32)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT e.type, d.state, d.attempts FROM herald_delivery d
               JOIN herald_event e ON e.id = d.event_id ORDER BY d.id",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

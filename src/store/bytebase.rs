//! Reads from a Bytebase metadata database (SELECT only; herald writes and
//! installs nothing there). Every query here is shaped for an index
//! Bytebase ships, so a read costs what is live, not what is history:
//!
//! - new rows of a project: `(project, id) > cursor` on each table's primary
//!   key `(project, id)`, one range per project (`LATERAL`);
//! - rows herald still follows: primary-key lookups by `(project, id)`;
//! - a plan's tasks: `idx_task_plan_id_environment (project, plan_id, …)`;
//!   a task's latest run: `uk_task_run_task_id_attempt (project, task_id,
//!   attempt)`; a plan's check run: `idx_plan_check_run_unique_plan_id`;
//! - active task runs at attach: `idx_task_run_active_status_id` (partial);
//! - rejection comments: `idx_issue_comment_issue_id (project, issue_id)`.
//!
//! Only attaching for the first time reads `issue` by status (no index):
//! once, to find the open issues.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;

/// The tables and columns herald reads; checked at start
/// ([`missing_columns`]).
pub const REQUIRED_COLUMNS: &[(&str, &[&str])] = &[
    ("project", &["resource_id", "deleted", "name", "setting"]),
    ("principal", &["id", "deleted", "name", "email", "phone"]),
    ("user_group", &["email", "payload"]),
    ("policy", &["resource_type", "resource", "type", "payload"]),
    (
        "plan",
        &["project", "id", "deleted", "creator", "name", "config"],
    ),
    (
        "task",
        &[
            "project",
            "id",
            "plan_id",
            "instance",
            "db_name",
            "environment",
            "payload",
        ],
    ),
    (
        "task_run",
        &[
            "project",
            "id",
            "task_id",
            "attempt",
            "status",
            "started_at",
            "created_at",
            "updated_at",
            "result",
        ],
    ),
    (
        "plan_check_run",
        &["project", "id", "plan_id", "status", "result"],
    ),
    (
        "issue",
        &[
            "project", "id", "plan_id", "creator", "name", "status", "type", "payload",
        ],
    ),
    (
        "issue_comment",
        &["project", "issue_id", "created_at", "payload"],
    ),
    ("instance_change_history", &["id", "version"]),
];

/// What importing project webhooks reads too (`--bytebase-import-webhooks`:
/// the role needs SELECT on it only then).
pub const WEBHOOK_COLUMNS: (&str, &[&str]) = ("project_webhook", &["id", "project", "payload"]);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbProject {
    pub resource_id: String,
    pub name: String,
    pub deleted: bool,
    pub setting: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbPlan {
    pub project: String,
    pub id: i64,
    pub name: String,
    pub deleted: bool,
    pub creator: String,
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbTask {
    pub project: String,
    pub id: i64,
    pub plan_id: i64,
    pub instance: String,
    pub db_name: Option<String>,
    /// The environment's resource id (`prod`), where Bytebase recorded one.
    pub environment: Option<String>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbTaskRun {
    pub project: String,
    pub id: i64,
    pub task_id: i64,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub result: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbIssue {
    pub project: String,
    pub id: i64,
    pub plan_id: Option<i64>,
    pub name: String,
    pub status: String,
    pub creator: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbCheckRun {
    pub project: String,
    pub id: i64,
    pub plan_id: i64,
    pub status: String,
    pub result: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbWebhook {
    pub id: i64,
    pub project: String,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BbPrincipal {
    pub email: String,
    pub name: String,
    pub phone: String,
    pub deleted: bool,
}

/// `(project, id)` keys as the two arrays the queries unnest.
fn split(keys: &[(String, i64)]) -> (Vec<String>, Vec<i64>) {
    keys.iter().cloned().unzip()
}

/// The Bytebase tables whose rows have per-project ids herald follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Plan,
    Task,
    TaskRun,
    Issue,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Plan, Table::Issue, Table::Task, Table::TaskRun];

    pub fn name(self) -> &'static str {
        match self {
            Table::Plan => "plan",
            Table::Task => "task",
            Table::TaskRun => "task_run",
            Table::Issue => "issue",
        }
    }

    fn columns(self) -> &'static str {
        match self {
            Table::Plan => "t.project, t.id::bigint AS id, t.name, t.deleted, t.creator, t.config",
            Table::Task => "t.project, t.id::bigint AS id, t.plan_id::bigint AS plan_id, t.instance, t.db_name, t.environment, t.payload",
            Table::TaskRun => {
                "t.project, t.id::bigint AS id, t.task_id::bigint AS task_id, t.status, t.started_at,
                 t.created_at, t.updated_at, t.result"
            }
            Table::Issue => {
                "t.project, t.id::bigint AS id, t.plan_id::bigint AS plan_id, t.name, t.status, t.creator, t.payload"
            }
        }
    }
}

/// The Bytebase database, through herald's read-only role.
#[derive(Debug, Clone)]
pub struct BytebaseDb {
    pool: PgPool,
}

impl BytebaseDb {
    pub fn new(pool: PgPool) -> Self {
        BytebaseDb { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `table.column` pairs herald needs that this database lacks (or the
    /// role cannot read); with `webhooks`, [`WEBHOOK_COLUMNS`] too.
    pub async fn missing_columns(&self, webhooks: bool) -> Result<Vec<String>, StoreError> {
        let present: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema()",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut missing = Vec::new();
        let webhook_columns = webhooks.then_some(&WEBHOOK_COLUMNS);
        for (table, columns) in REQUIRED_COLUMNS.iter().chain(webhook_columns) {
            for column in *columns {
                if !present.iter().any(|(t, c)| t == table && c == column) {
                    missing.push(format!("{table}.{column}"));
                }
            }
        }
        Ok(missing)
    }

    /// Bytebase's schema version (the newest `instance_change_history` row).
    pub async fn schema_version(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM instance_change_history ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn projects(&self) -> Result<Vec<BbProject>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT resource_id, name, deleted, setting FROM project ORDER BY resource_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every project webhook (a small table, read whole).
    pub async fn project_webhooks(&self) -> Result<Vec<BbWebhook>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id::bigint AS id, project, payload FROM project_webhook ORDER BY project, id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// The highest id of `table` in each of `projects` (0 for none).
    pub async fn max_ids(
        &self,
        table: Table,
        projects: &[String],
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = format!(
            "SELECT c.project, coalesce((SELECT max(t.id) FROM {} t WHERE t.project = c.project), 0)::bigint
               FROM unnest($1::text[]) AS c(project)",
            table.name()
        );
        Ok(sqlx::query_as(&sql)
            .bind(projects)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Rows of `table` with `id > after` in each cursor's project, oldest
    /// first, at most `limit` per project.
    pub async fn new_rows<T>(
        &self,
        table: Table,
        cursors: &[(String, i64)],
        limit: i64,
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let (projects, after) = split(cursors);
        let sql = format!(
            "SELECT r.* FROM unnest($1::text[], $2::bigint[]) AS c(project, after)
             CROSS JOIN LATERAL (
                 SELECT {} FROM {} t
                  WHERE t.project = c.project AND t.id > c.after
                  ORDER BY t.id LIMIT $3) r",
            table.columns(),
            table.name()
        );
        Ok(sqlx::query_as(&sql)
            .bind(projects)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Rows of `table` by `(project, id)`.
    pub async fn by_keys<T>(
        &self,
        table: Table,
        keys: &[(String, i64)],
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let (projects, ids) = split(keys);
        let sql = format!(
            "SELECT {} FROM unnest($1::text[], $2::bigint[]) AS k(project, id)
               JOIN {} t ON t.project = k.project AND t.id = k.id",
            table.columns(),
            table.name()
        );
        Ok(sqlx::query_as(&sql)
            .bind(projects)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The tasks of the plans `(project, plan_id)`.
    pub async fn tasks_of(&self, plans: &[(String, i64)]) -> Result<Vec<BbTask>, StoreError> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let (projects, ids) = split(plans);
        let sql = format!(
            "SELECT {} FROM unnest($1::text[], $2::bigint[]) AS k(project, plan_id)
               JOIN task t ON t.project = k.project AND t.plan_id = k.plan_id
              ORDER BY t.project, t.id",
            Table::Task.columns()
        );
        Ok(sqlx::query_as(&sql)
            .bind(projects)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The latest run (highest attempt) of each task `(project, task_id)`.
    pub async fn latest_runs(&self, tasks: &[(String, i64)]) -> Result<Vec<BbTaskRun>, StoreError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let (projects, ids) = split(tasks);
        let sql = format!(
            "SELECT r.* FROM unnest($1::text[], $2::bigint[]) AS k(project, task_id)
             CROSS JOIN LATERAL (
                 SELECT {} FROM task_run t
                  WHERE t.project = k.project AND t.task_id = k.task_id
                  ORDER BY t.attempt DESC LIMIT 1) r",
            Table::TaskRun.columns()
        );
        Ok(sqlx::query_as(&sql)
            .bind(projects)
            .bind(ids)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The check run of each plan `(project, plan_id)` (one per plan).
    pub async fn check_runs_of(
        &self,
        plans: &[(String, i64)],
    ) -> Result<Vec<BbCheckRun>, StoreError> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let (projects, ids) = split(plans);
        Ok(sqlx::query_as(
            "SELECT c.project, c.id::bigint AS id, c.plan_id::bigint AS plan_id, c.status, c.result
               FROM unnest($1::text[], $2::bigint[]) AS k(project, plan_id)
               JOIN plan_check_run c ON c.project = k.project AND c.plan_id = k.plan_id",
        )
        .bind(projects)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The newest rejection comment's payload of each issue `(project, id)`.
    pub async fn rejection_comments(
        &self,
        issues: &[(String, i64)],
    ) -> Result<Vec<(String, i64, serde_json::Value)>, StoreError> {
        if issues.is_empty() {
            return Ok(Vec::new());
        }
        let (projects, ids) = split(issues);
        Ok(sqlx::query_as(
            "SELECT DISTINCT ON (c.project, c.issue_id) c.project, c.issue_id::bigint, c.payload
               FROM unnest($1::text[], $2::bigint[]) AS k(project, issue_id)
               JOIN issue_comment c ON c.project = k.project AND c.issue_id = k.issue_id
              WHERE c.payload->'approval'->>'status' = 'REJECTED'
              ORDER BY c.project, c.issue_id, c.created_at DESC",
        )
        .bind(projects)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Open issues (attach only: `issue.status` has no index).
    pub async fn open_issues(&self) -> Result<Vec<BbIssue>, StoreError> {
        let sql = format!(
            "SELECT {} FROM issue t WHERE t.status = 'OPEN' ORDER BY t.project, t.id",
            Table::Issue.columns()
        );
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    /// Active task runs (attach: `idx_task_run_active_status_id`).
    pub async fn active_runs(&self) -> Result<Vec<BbTaskRun>, StoreError> {
        let sql = format!(
            "SELECT {} FROM task_run t WHERE t.status IN ('PENDING', 'AVAILABLE', 'RUNNING')
              ORDER BY t.project, t.id",
            Table::TaskRun.columns()
        );
        Ok(sqlx::query_as(&sql).fetch_all(&self.pool).await?)
    }

    /// IAM policies of the workspace and the projects: (resource_type,
    /// resource, payload).
    pub async fn iam_policies(
        &self,
    ) -> Result<Vec<(String, String, serde_json::Value)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT resource_type, resource, payload FROM policy
              WHERE type = 'IAM' AND resource_type IN ('WORKSPACE', 'PROJECT')",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Groups by e-mail: (email, payload).
    pub async fn groups(
        &self,
        emails: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        Ok(
            sqlx::query_as("SELECT email, payload FROM user_group WHERE email = ANY ($1)")
                .bind(emails)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Principals by e-mail.
    pub async fn principals(&self, emails: &[String]) -> Result<Vec<BbPrincipal>, StoreError> {
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_as(
            "SELECT email, name, phone, deleted FROM principal WHERE email = ANY ($1)",
        )
        .bind(emails)
        .fetch_all(&self.pool)
        .await?)
    }
}

impl BytebaseDb {
    /// The issue of plan `(project, plan)` (`idx_issue_unique_plan_id`).
    pub async fn issue_of_plan(
        &self,
        project: &str,
        plan: i64,
    ) -> Result<Option<BbIssue>, StoreError> {
        let sql = format!(
            "SELECT {} FROM issue t WHERE t.project = $1 AND t.plan_id = $2",
            Table::Issue.columns()
        );
        Ok(sqlx::query_as(&sql)
            .bind(project)
            .bind(plan)
            .fetch_optional(&self.pool)
            .await?)
    }
}

//! A Bytebase-shaped metadata database per test (herald's fixture schema:
//! the tables and columns herald reads, as Bytebase 3.17+ lays them out),
//! written the way Bytebase writes it — per-project ids under the project
//! row's lock, protojson payloads — and a SELECT-only role for herald.

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use super::db::admin_options;

pub struct BytebaseDb {
    pub name: String,
    /// Bytebase's own connection (the owner: writes as Bytebase does).
    pub pool: PgPool,
    /// herald's connection: a role that may only SELECT.
    pub reader: PgConnectOptions,
    /// The same, as a URL (for child processes).
    pub reader_url: String,
    role: String,
}

impl BytebaseDb {
    pub async fn new() -> BytebaseDb {
        let admin = admin_options();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("bytebase_test_{suffix}");
        let role = format!("herald_reader_{suffix}");
        let mut connection = admin.connect().await.expect("admin connection");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("create bytebase database");
        sqlx::query(&format!("CREATE ROLE {role} LOGIN"))
            .execute(&mut connection)
            .await
            .expect("create reader role");
        let _ = connection.close().await;
        let options = admin.clone().database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("connect bytebase database");
        sqlx::raw_sql(herald::sources::bytebase::FIXTURE_SCHEMA)
            .execute(&pool)
            .await
            .expect("bytebase schema");
        for grant in [
            format!("GRANT CONNECT ON DATABASE {name} TO {role}"),
            format!("GRANT USAGE ON SCHEMA public TO {role}"),
            format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"),
        ] {
            sqlx::query(&grant).execute(&pool).await.expect("grant");
        }
        let reader = admin.clone().database(&name).username(&role);
        let reader_url = format!(
            "postgres://{role}@{}:{}/{name}",
            admin.get_host(),
            admin.get_port()
        );
        BytebaseDb {
            reader_url,
            name,
            pool,
            reader,
            role,
        }
    }

    /// A project with its approval requirements.
    pub async fn project(&self, id: &str, require_approval: bool, require_checks: bool) {
        let mut setting = serde_json::Map::new();
        if require_approval {
            setting.insert("requireIssueApproval".into(), json!(true));
        }
        if require_checks {
            setting.insert("requirePlanCheckNoError".into(), json!(true));
        }
        sqlx::query(
            "INSERT INTO project (resource_id, name, setting) VALUES ($1, initcap($1), $2)",
        )
        .bind(id)
        .bind(Value::Object(setting))
        .execute(&self.pool)
        .await
        .expect("project");
    }

    pub async fn principal(&self, email: &str, name: &str, phone: &str) {
        sqlx::query("INSERT INTO principal (email, name, phone) VALUES ($1, $2, $3)")
            .bind(email)
            .bind(name)
            .bind(phone)
            .execute(&self.pool)
            .await
            .expect("principal");
    }

    pub async fn group(&self, email: &str, members: &[&str]) {
        let members: Vec<Value> = members
            .iter()
            .map(|m| json!({"member": format!("users/{m}"), "role": "MEMBER"}))
            .collect();
        sqlx::query("INSERT INTO user_group (email, name, payload) VALUES ($1, $1, $2)")
            .bind(email)
            .bind(json!({ "members": members }))
            .execute(&self.pool)
            .await
            .expect("group");
    }

    /// The project's IAM policy: (role, members).
    pub async fn iam(&self, project: &str, bindings: &[(&str, &[&str])]) {
        let bindings: Vec<Value> = bindings
            .iter()
            .map(|(role, members)| json!({"role": role, "members": members}))
            .collect();
        sqlx::query(
            "INSERT INTO policy (resource_type, resource, type, payload)
             VALUES ('PROJECT', 'projects/' || $1, 'IAM', $2)
             ON CONFLICT (resource_type, resource, type) DO UPDATE SET payload = EXCLUDED.payload",
        )
        .bind(project)
        .bind(json!({ "bindings": bindings }))
        .execute(&self.pool)
        .await
        .expect("iam");
    }

    /// A Bytebase project webhook with this ProjectWebhook payload; its id.
    pub async fn webhook(&self, project: &str, payload: Value) -> i32 {
        sqlx::query_scalar(
            "INSERT INTO project_webhook (project, payload) VALUES ($1, $2) RETURNING id",
        )
        .bind(project)
        .bind(payload)
        .fetch_one(&self.pool)
        .await
        .expect("webhook")
    }

    pub async fn set_webhook(&self, id: i32, payload: Value) {
        sqlx::query("UPDATE project_webhook SET payload = $2 WHERE id = $1")
            .bind(id)
            .bind(payload)
            .execute(&self.pool)
            .await
            .expect("update webhook");
    }

    pub async fn delete_webhook(&self, id: i32) {
        sqlx::query("DELETE FROM project_webhook WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .expect("delete webhook");
    }

    /// Run `sql` in a transaction holding the project row's lock, with
    /// `$1` the project and `$2` the next id of `table` in that project
    /// (Bytebase's nextProjectID: MAX(id)+1, at least 101).
    async fn insert_with_id(&self, table: &str, project: &str, sql: &str, binds: &[Value]) -> i64 {
        let mut tx = self.pool.begin().await.expect("begin");
        sqlx::query("SELECT 1 FROM project WHERE resource_id = $1 FOR UPDATE")
            .bind(project)
            .execute(&mut *tx)
            .await
            .expect("lock project");
        let id: i64 = sqlx::query_scalar(&format!(
            "SELECT GREATEST(coalesce(max(id), 100) + 1, 101)::bigint FROM {table} WHERE project = $1"
        ))
        .bind(project)
        .fetch_one(&mut *tx)
        .await
        .expect("next id");
        let mut query = sqlx::query(sql).bind(project).bind(id);
        for value in binds {
            query = query.bind(value.clone());
        }
        query.execute(&mut *tx).await.expect("insert");
        tx.commit().await.expect("commit");
        id
    }

    pub async fn plan(&self, project: &str, name: &str) -> i64 {
        self.insert_with_id(
            "plan",
            project,
            "INSERT INTO plan (project, id, creator, name, config) VALUES ($1, $2, 'ada@shop.io', $3 #>> '{}', $4)",
            &[
                json!(name),
                json!({"specs": [{"id": "spec-1", "changeDatabaseConfig": {"targets": ["instances/prod/databases/shop"], "sheetSha256": "ab"}}], "approvalInputVersion": "1"}),
            ],
        )
        .await
    }

    /// An issue of `plan` with an approval flow of `roles` (none: no
    /// approval needed), found for approval input version 1.
    pub async fn issue(
        &self,
        project: &str,
        plan: i64,
        name: &str,
        roles: &[&str],
        draft: bool,
    ) -> i64 {
        let mut payload = json!({"approval": {
            "approvalFindingDone": true,
            "approvalInputVersion": "1",
            "approvalTemplate": {"flow": {"roles": roles}, "title": "Review"},
        }});
        if draft {
            payload["draft"] = json!(true);
        }
        self.issue_raw(project, plan, name, payload).await
    }

    /// An issue with exactly this payload.
    pub async fn issue_raw(&self, project: &str, plan: i64, name: &str, payload: Value) -> i64 {
        self.insert_with_id(
            "issue",
            project,
            "INSERT INTO issue (project, id, creator, plan_id, name, status, type, payload)
             VALUES ($1, $2, 'ada@shop.io', ($3 #>> '{}')::bigint, $4 #>> '{}', 'OPEN', 'DATABASE_CHANGE', $5)",
            &[json!(plan), json!(name), payload],
        )
        .await
    }

    /// Rewrite an issue's payload (as Bytebase's approval actions do).
    pub async fn set_issue_payload(&self, project: &str, issue: i64, edit: &str, args: &[Value]) {
        let sql = format!(
            "UPDATE issue SET payload = {edit}, updated_at = now() WHERE project = $1 AND id = $2"
        );
        let mut query = sqlx::query(&sql).bind(project).bind(issue);
        for arg in args {
            query = query.bind(arg.clone());
        }
        query.execute(&self.pool).await.expect("issue payload");
    }

    pub async fn approve(&self, project: &str, issue: i64, email: &str) {
        self.set_issue_payload(
            project,
            issue,
            "jsonb_set(payload, '{approval,approvers}', coalesce(payload #> '{approval,approvers}', '[]') || $3)",
            &[json!([{"status": "APPROVED", "principal": format!("users/{email}")}])],
        )
        .await;
    }

    /// Reject with a reason: the approver entry and the comment, in one
    /// transaction as Bytebase writes them.
    pub async fn reject(&self, project: &str, issue: i64, email: &str, reason: &str) {
        let mut tx = self.pool.begin().await.expect("begin");
        sqlx::query(
            "UPDATE issue SET payload = jsonb_set(payload, '{approval,approvers}',
                     coalesce(payload #> '{approval,approvers}', '[]') || $3), updated_at = now()
              WHERE project = $1 AND id = $2",
        )
        .bind(project)
        .bind(issue)
        .bind(json!([{"status": "REJECTED", "principal": format!("users/{email}")}]))
        .execute(&mut *tx)
        .await
        .expect("reject");
        sqlx::query("INSERT INTO issue_comment (creator, project, issue_id, payload) VALUES ($1, $2, $3, $4)")
            .bind(email)
            .bind(project)
            .bind(issue)
            .bind(json!({"comment": reason, "approval": {"status": "REJECTED"}}))
            .execute(&mut *tx)
            .await
            .expect("comment");
        tx.commit().await.expect("commit");
    }

    /// "Re-request review": the approvers are cleared.
    pub async fn request_again(&self, project: &str, issue: i64) {
        self.set_issue_payload(
            project,
            issue,
            "jsonb_set(payload, '{approval,approvers}', '[]')",
            &[],
        )
        .await;
    }

    pub async fn task(&self, project: &str, plan: i64, database: &str) -> i64 {
        self.insert_with_id(
            "task",
            project,
            "INSERT INTO task (project, id, plan_id, instance, environment, db_name, type, payload)
             VALUES ($1, $2, ($3 #>> '{}')::bigint, 'prod', 'prod', $4 #>> '{}', 'DATABASE_MIGRATE', '{\"specId\": \"spec-1\"}')",
            &[json!(plan), json!(database)],
        )
        .await
    }

    pub async fn skip_task(&self, project: &str, task: i64) {
        sqlx::query(
            "UPDATE task SET payload = payload || '{\"skipped\": true, \"skippedReason\": \"not needed\"}'
              WHERE project = $1 AND id = $2",
        )
        .bind(project)
        .bind(task)
        .execute(&self.pool)
        .await
        .expect("skip");
    }

    /// Bytebase's rollout creation marks the plan.
    pub async fn mark_rollout(&self, project: &str, plan: i64) {
        sqlx::query(
            "UPDATE plan SET config = jsonb_set(config, '{hasRollout}', 'true'), updated_at = now()
              WHERE project = $1 AND id = $2",
        )
        .bind(project)
        .bind(plan)
        .execute(&self.pool)
        .await
        .expect("has rollout");
    }

    /// A new attempt of `task`, RUNNING.
    pub async fn start_run(&self, project: &str, task: i64) -> i64 {
        self.insert_with_id(
            "task_run",
            project,
            "INSERT INTO task_run (project, id, task_id, attempt, status, started_at)
             VALUES ($1, $2, ($3 #>> '{}')::bigint,
                     (SELECT coalesce(max(attempt) + 1, 0) FROM task_run WHERE project = $1 AND task_id = ($3 #>> '{}')::bigint),
                     'RUNNING', now())",
            &[json!(task)],
        )
        .await
    }

    pub async fn finish_run(&self, project: &str, run: i64, status: &str, detail: Option<&str>) {
        let result = detail.map_or(json!({}), |d| json!({ "detail": d }));
        sqlx::query(
            "UPDATE task_run SET status = $3, result = $4, updated_at = now() WHERE project = $1 AND id = $2",
        )
        .bind(project)
        .bind(run)
        .bind(status)
        .bind(result)
        .execute(&self.pool)
        .await
        .expect("finish run");
    }

    pub async fn check_run(&self, project: &str, plan: i64, status: &str, results: Value) {
        sqlx::query(
            "INSERT INTO plan_check_run (project, plan_id, status, result) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project, plan_id) DO UPDATE SET status = EXCLUDED.status, result = EXCLUDED.result, updated_at = now()",
        )
        .bind(project)
        .bind(plan)
        .bind(status)
        .bind(json!({"results": results, "approvalInputVersion": "1"}))
        .execute(&self.pool)
        .await
        .expect("check run");
    }
}

impl Drop for BytebaseDb {
    fn drop(&mut self) {
        super::db::admin_blocking(
            &admin_options(),
            vec![
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                format!("DROP ROLE IF EXISTS {}", self.role),
            ],
        );
    }
}

//! Seeding pipeline rows with plain SQL (as the host application would write
//! them) and reading back what herald wrote: events, outbox rows, claims.

use serde_json::Value;
use sqlx::PgPool;

/// A seeded plan: its project, its id and its tasks' ids (ascending).
#[derive(Debug, Clone)]
pub struct SeededPlan {
    pub project_id: i64,
    pub plan_id: i64,
    pub tasks: Vec<i64>,
}

/// An endpoint subscribed to every event type, so emits write outbox rows.
pub async fn subscribe_all(pool: &PgPool, endpoint_id: &str) {
    sqlx::query(
        "INSERT INTO herald_endpoint (id, event_types) VALUES ($1, '{*}') ON CONFLICT DO NOTHING",
    )
    .bind(endpoint_id)
    .execute(pool)
    .await
    .expect("insert endpoint");
}

/// A project, a plan and `tasks` tasks named `task-<n>` (no runs yet).
pub async fn seed_plan(pool: &PgPool, tasks: usize) -> SeededPlan {
    let project_id: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('proj-' || gen_random_uuid(), 'Project') RETURNING id",
    )
    .fetch_one(pool)
    .await
    .expect("project");
    let plan_id: i64 = sqlx::query_scalar(
        "INSERT INTO plan (project_id, title) VALUES ($1, 'Rollout plan') RETURNING id",
    )
    .bind(project_id)
    .fetch_one(pool)
    .await
    .expect("plan");
    let tasks: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO task (plan_id, name, instance, database_name)
         SELECT $1, 'task-' || n, 'instance-' || n, 'db_' || n FROM generate_series(1, $2) n
         RETURNING id",
    )
    .bind(plan_id)
    .bind(tasks as i32)
    .fetch_all(pool)
    .await
    .expect("tasks");
    let mut tasks = tasks;
    tasks.sort_unstable();
    SeededPlan {
        project_id,
        plan_id,
        tasks,
    }
}

/// Insert one run per task with `status`; returns the run ids in task order.
pub async fn start_runs(pool: &PgPool, tasks: &[i64], status: &str) -> Vec<i64> {
    let mut runs = Vec::with_capacity(tasks.len());
    for task in tasks {
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO task_run (task_id, status, started_at) VALUES ($1, $2, now()) RETURNING id",
        )
        .bind(task)
        .bind(status)
        .fetch_one(pool)
        .await
        .expect("insert task run");
        runs.push(run);
    }
    runs
}

/// Set a run's status (and error message), as a task runner would.
pub async fn set_status(pool: &PgPool, run: i64, status: &str, error: Option<&str>) {
    sqlx::query(
        "UPDATE task_run SET status = $2, error_message = $3, updated_at = clock_timestamp() WHERE id = $1",
    )
    .bind(run)
    .bind(status)
    .bind(error)
    .execute(pool)
    .await
    .expect("update task run");
}

/// (type, payload) of every event about `plan_id`, in emission order.
pub async fn plan_events(pool: &PgPool, plan_id: i64) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT type, payload FROM herald_event WHERE plan_id = $1 ORDER BY seq")
        .bind(plan_id)
        .fetch_all(pool)
        .await
        .expect("events")
}

/// (generation, outcome, claimed_by) of every claim of `plan_id`.
pub async fn plan_outcomes(pool: &PgPool, plan_id: i64) -> Vec<(i32, String, String)> {
    sqlx::query_as(
        "SELECT generation, outcome, claimed_by FROM herald_plan_outcome WHERE plan_id = $1 ORDER BY generation",
    )
    .bind(plan_id)
    .fetch_all(pool)
    .await
    .expect("outcomes")
}

/// Outbox rows for events about `plan_id`.
pub async fn plan_deliveries(pool: &PgPool, plan_id: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM herald_delivery d JOIN herald_event e ON e.id = d.event_id WHERE e.plan_id = $1",
    )
    .bind(plan_id)
    .fetch_one(pool)
    .await
    .expect("deliveries")
}

/// The names of the failed tasks listed by a `PIPELINE_FAILED` payload.
pub fn failed_task_names(payload: &Value) -> Vec<String> {
    let mut names: Vec<String> = payload["data"]["failed_tasks"]
        .as_array()
        .expect("failed_tasks array")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

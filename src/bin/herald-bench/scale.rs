//! Large plans: one plan of N tasks, each with a RUNNING run, finishing one
//! task at a time (one committed UPDATE each) through a real herald (the
//! listener, the router, the plan supervisor, the claim). Prints the rows
//! PostgreSQL read per task-run change (from `pg_stat_user_tables`, the
//! plan's tables, herald's statements and the host's triggers alike) and the time
//! from the last task's commit to `PIPELINE_COMPLETED` being claimed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use herald::daemon::{Daemon, DaemonConfig};
use herald::delivery::DeliveryConfig;

use crate::bench_db::BenchDb;

const DEADLINE: Duration = Duration::from_secs(600);

pub async fn scale(tasks: u32) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let result = scale_in(&db, tasks).await;
    let dropped = db.drop_database().await;
    result?;
    dropped.context("drop the benchmark database")
}

/// Rows of the plan's tables read so far: sequential scans' tuples plus
/// index fetches of `task_run`, `task`, `plan`, `project`,
/// `herald_plan_outcome` and `herald_plan_work`, by anyone (herald's statements and the host's
/// triggers alike). The outbox sweep and lease heartbeats read other tables
/// on a timer, not per change; the periodic reconcile is pushed out of the
/// run (`reconcile_interval`).
async fn rows_read(db: &BenchDb) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (COALESCE(sum(seq_tup_read), 0) + COALESCE(sum(idx_tup_fetch), 0))::bigint
           FROM pg_stat_user_tables
          WHERE relname IN ('task_run', 'task', 'plan', 'project', 'herald_plan_outcome',
                            'herald_plan_work')",
    )
    .fetch_one(db.store.pool())
    .await?)
}

async fn settled_rows_read(db: &BenchDb) -> anyhow::Result<i64> {
    crate::bench_db::settled_reading(|| rows_read(db)).await
}

/// Seed one plan of `tasks` tasks, each with a RUNNING run; triggers off
/// (`session_replication_role`), so nothing is notified.
async fn seed(db: &BenchDb, tasks: u32) -> anyhow::Result<(i64, Vec<i64>)> {
    let mut tx = db.store.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('bench', 'Bench') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    let plan: i64 = sqlx::query_scalar(
        "INSERT INTO plan (project_id, title) VALUES ($1, 'big plan') RETURNING id",
    )
    .bind(project)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO task (plan_id, name, instance, database_name)
         SELECT $1, 'task-' || k, 'instance', 'db' FROM generate_series(1, $2) k",
    )
    .bind(plan)
    .bind(i64::from(tasks))
    .execute(&mut *tx)
    .await?;
    let runs: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO task_run (task_id, status, started_at)
         SELECT id, 'RUNNING', now() FROM task WHERE plan_id = $1 ORDER BY id
         RETURNING id",
    )
    .bind(plan)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(db.store.pool()).await?;
    Ok((plan, runs))
}

async fn finish(db: &BenchDb, run: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE task_run SET status = 'DONE' WHERE id = $1")
        .bind(run)
        .execute(db.store.pool())
        .await
        .context("finish a task")?;
    Ok(())
}

async fn scale_in(db: &BenchDb, tasks: u32) -> anyhow::Result<()> {
    if tasks < 2 {
        bail!("--tasks must be at least 2");
    }
    let (plan, runs) = seed(db, tasks).await?;
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "bench".into(),
            migrate: false,
            delivery: DeliveryConfig::default(),
            reconcile_interval: Duration::from_secs(3600),
            ..DaemonConfig::default()
        },
    )
    .await?;
    crate::bench_db::wait_listening(&daemon).await?;
    // The first change starts the plan's supervisor, which reads the plan.
    let (first, rest) = runs.split_first().context("a plan without tasks")?;
    let reading = settled_rows_read(db).await?;
    finish(db, *first).await?;
    let before = settled_rows_read(db).await?;
    let first_read = before - reading;
    let (last, others) = rest.split_last().context("a plan of one task")?;
    let started = Instant::now();
    for run in others {
        finish(db, *run).await?;
    }
    let updating = started.elapsed();
    // Every change but the last: what a task-run change costs by itself.
    let before_last = settled_rows_read(db).await?;
    let changes = before_last - before;
    finish(db, *last).await?;
    let last_commit = Instant::now();
    loop {
        let claimed: Option<String> = sqlx::query_scalar(
            "SELECT outcome FROM herald_plan_outcome WHERE plan_id = $1 AND generation = 1",
        )
        .bind(plan)
        .fetch_optional(db.store.pool())
        .await?;
        match claimed.as_deref() {
            Some("PIPELINE_COMPLETED") => break,
            Some(other) => bail!("plan claimed {other}, expected PIPELINE_COMPLETED"),
            None if last_commit.elapsed() > DEADLINE => {
                bail!("no outcome {DEADLINE:?} after the last task finished")
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let outcome_after = last_commit.elapsed();
    let claim = settled_rows_read(db).await? - before_last;
    daemon.stop().await;
    let count = others.len().max(1) as f64;
    println!(
        "scale       {tasks} tasks finished one per transaction ({:.0} changes/s)",
        count / updating.as_secs_f64()
    );
    println!(
        "            PIPELINE_COMPLETED claimed {:.1} ms after the last task's commit",
        outcome_after.as_secs_f64() * 1000.0
    );
    println!(
        "            rows read by PostgreSQL: {:.1} per task-run change ({changes} for {} changes); \
         the supervisor's first read: {first_read}; the last change and its claim: {claim}",
        changes as f64 / count,
        others.len()
    );
    Ok(())
}

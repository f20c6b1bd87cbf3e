//! `herald-bench bytebase`: the Bytebase source over a long history.
//!
//! A Bytebase-shaped database (herald's fixture schema) is filled with
//! `runs` finished task runs (plans of 10 tasks, one DONE run each, their
//! issues DONE) across 10 projects, plus `changes` one-task plans whose run
//! is RUNNING. herald attaches (in process, the real follower, default poll
//! 250 ms), then each RUNNING run is finished in turn and the time from
//! the Bytebase commit to herald's `PIPELINE_COMPLETED` is measured: the
//! follow lag including the decision. Cost: rows the Bytebase database
//! returned per pass while idle (`pg_stat_database`), and pass time.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use herald::actors::FollowerConfig;
use herald::daemon::{BytebaseSourceConfig, Daemon, DaemonConfig, SourceConfig};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::bench_db::BenchDb;

const PROJECTS: u32 = 10;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

/// Fill Bytebase's tables with `runs` finished runs and `live` running ones.
async fn fill(pool: &PgPool, runs: u32, live: u32) -> anyhow::Result<()> {
    let plans = runs / 10;
    let per_project = plans / PROJECTS;
    let statements = [
        format!("INSERT INTO project (resource_id, name) SELECT 'p' || n, 'P' || n FROM generate_series(1, {PROJECTS}) n"),
        "INSERT INTO principal (email, name) VALUES ('ada@bench.io', 'Ada')".to_owned(),
        format!(
            "INSERT INTO plan (project, id, creator, name, config)
             SELECT 'p' || pr, 100 + n, 'ada@bench.io', 'plan ' || n, '{{\"hasRollout\": true}}'
               FROM generate_series(1, {PROJECTS}) pr, generate_series(1, {per_project}) n"
        ),
        format!(
            "INSERT INTO issue (project, id, creator, plan_id, name, status, type, payload)
             SELECT 'p' || pr, 100 + n, 'ada@bench.io', 100 + n, 'issue ' || n, 'DONE', 'DATABASE_CHANGE',
                    '{{\"approval\": {{\"approvalFindingDone\": true}}}}'
               FROM generate_series(1, {PROJECTS}) pr, generate_series(1, {per_project}) n"
        ),
        format!(
            "INSERT INTO task (project, id, plan_id, instance, db_name, type)
             SELECT 'p' || pr, 100 + (n - 1) * 10 + t, 100 + n, 'prod', 'db' || t, 'DATABASE_MIGRATE'
               FROM generate_series(1, {PROJECTS}) pr, generate_series(1, {per_project}) n, generate_series(1, 10) t"
        ),
        "INSERT INTO task_run (project, id, task_id, attempt, status, started_at)
         SELECT project, id, id, 0, 'DONE', now() - interval '1 day' FROM task".to_owned(),
        "ANALYZE".to_owned(),
    ];
    for sql in statements {
        sqlx::query(&sql)
            .execute(pool)
            .await
            .with_context(|| sql.clone())?;
    }
    // The live plans: one task each, its run RUNNING, in project p1.
    for _ in 0..live {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT 1 FROM project WHERE resource_id = 'p1' FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "WITH plan_id AS (SELECT max(id) + 1 AS id FROM plan WHERE project = 'p1'),
                  task_id AS (SELECT max(id) + 1 AS id FROM task WHERE project = 'p1'),
                  run_id AS (SELECT max(id) + 1 AS id FROM task_run WHERE project = 'p1'),
                  p AS (INSERT INTO plan (project, id, creator, name, config)
                        SELECT 'p1', id, 'ada@bench.io', 'live', '{\"hasRollout\": true}' FROM plan_id RETURNING id),
                  t AS (INSERT INTO task (project, id, plan_id, instance, db_name, type)
                        SELECT 'p1', task_id.id, p.id, 'prod', 'db', 'DATABASE_MIGRATE' FROM task_id, p RETURNING id)
             INSERT INTO task_run (project, id, task_id, attempt, status, started_at)
             SELECT 'p1', run_id.id, t.id, 0, 'RUNNING', now() FROM run_id, t",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Rows the database returned or fetched so far (all sessions).
async fn rows_read(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (tup_returned + tup_fetched)::bigint FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

pub async fn bytebase(runs: u32, changes: u32, idle: Duration) -> anyhow::Result<()> {
    let herald_db = BenchDb::create().await?;
    let url = std::env::var("HERALD_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = PgConnectOptions::from_str(&url)?;
    let name = format!("bytebase_bench_{}", uuid::Uuid::new_v4().simple());
    let mut connection = admin.connect().await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await?;
    let bytebase_options = admin.clone().database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(bytebase_options.clone())
        .await?;
    sqlx::raw_sql(herald::sources::bytebase::FIXTURE_SCHEMA)
        .execute(&pool)
        .await?;
    let filled = Instant::now();
    fill(&pool, runs, changes).await?;
    println!(
        "bytebase: {runs} finished task runs in {PROJECTS} projects, {changes} running ({:.1} s to fill)",
        filled.elapsed().as_secs_f64()
    );
    let result = measure(&herald_db, &pool, bytebase_options, changes, idle).await;
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut connection)
        .await?;
    let _ = connection.close().await;
    herald_db.drop_database().await?;
    result
}

async fn measure(
    herald_db: &BenchDb,
    pool: &PgPool,
    options: PgConnectOptions,
    changes: u32,
    idle: Duration,
) -> anyhow::Result<()> {
    let attach_started = Instant::now();
    let daemon = Daemon::start(
        herald_db.options.clone(),
        DaemonConfig {
            node_id: "bench".into(),
            migrate: false,
            source: SourceConfig::Bytebase(Box::new(BytebaseSourceConfig {
                options,
                follower: FollowerConfig::default(),
                api: None,
                repair: Default::default(),
            })),
            ..DaemonConfig::default()
        },
    )
    .await?;
    let herald_pool = herald_db.store.pool().clone();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let followed: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM herald_source_row WHERE kind = 'task_run' AND local_id IS NOT NULL",
        )
        .fetch_one(&herald_pool)
        .await?;
        if followed >= i64::from(changes) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "herald did not attach within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  attach: {:.2} s (cursors, open issues, {changes} active runs)",
        attach_started.elapsed().as_secs_f64()
    );
    // Idle cost.
    let passes_before = daemon
        .metrics
        .source_passes
        .with_label_values(&["ok"])
        .get();
    let rows_before = rows_read(pool).await?;
    let time_before = (
        daemon.metrics.source_pass_seconds.get_sample_sum(),
        daemon.metrics.source_pass_seconds.get_sample_count(),
    );
    tokio::time::sleep(idle).await;
    let passes = daemon
        .metrics
        .source_passes
        .with_label_values(&["ok"])
        .get()
        - passes_before;
    let rows = rows_read(pool).await? - rows_before;
    let (sum, count) = (
        daemon.metrics.source_pass_seconds.get_sample_sum() - time_before.0,
        daemon.metrics.source_pass_seconds.get_sample_count() - time_before.1,
    );
    println!(
        "  idle {:.0} s: {passes} passes, {:.0} Bytebase rows read per pass ({changes} followed runs), mean pass {:.2} ms",
        idle.as_secs_f64(),
        rows as f64 / passes.max(1) as f64,
        sum * 1000.0 / count.max(1) as f64
    );
    // Lag: finish each live run, wait for its plan's PIPELINE_COMPLETED.
    let live: Vec<i64> =
        sqlx::query_scalar("SELECT id::bigint FROM task_run WHERE status = 'RUNNING' ORDER BY id")
            .fetch_all(pool)
            .await?;
    let mut lags = Vec::new();
    for run in live {
        let before: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM herald_event WHERE type = 'PIPELINE_COMPLETED'",
        )
        .fetch_one(&herald_pool)
        .await?;
        let committed = Instant::now();
        sqlx::query("UPDATE task_run SET status = 'DONE', updated_at = now() WHERE project = 'p1' AND id = $1")
            .bind(run)
            .execute(pool)
            .await?;
        let deadline = committed + Duration::from_secs(30);
        loop {
            let now: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM herald_event WHERE type = 'PIPELINE_COMPLETED'",
            )
            .fetch_one(&herald_pool)
            .await?;
            if now > before {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "no PIPELINE_COMPLETED for run {run}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lags.push(committed.elapsed().as_secs_f64() * 1000.0);
    }
    lags.sort_by(f64::total_cmp);
    println!(
        "  follow lag, Bytebase commit → PIPELINE_COMPLETED ({} changes, poll 250 ms): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(f64::NAN)
    );
    daemon.stop().await;
    Ok(())
}

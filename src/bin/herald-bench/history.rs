//! An idle herald over a long history: N finished plans of `tasks` tasks
//! (one DONE run per task, each plan's `PIPELINE_COMPLETED` claimed, its
//! event delivered and its attempt recorded), nothing left to do. Prints,
//! for each N:
//!
//! - the rows PostgreSQL read per second while a real herald (`Daemon`, no
//!   endpoints, `--reconcile-interval` short) sat idle — every table, every
//!   statement: reconciliation, the outbox sweep, heartbeats, retention;
//! - the time of one reconciliation pass: the statements a pass runs
//!   (plan work, rollout work, issue transitions, the outbox sweep), and,
//!   for comparison, the history scans herald ran before work rows (the
//!   pending-plans query and the rollout scan, kept here verbatim);
//! - the time to settle a backlog: the same history with every plan's
//!   outcome unclaimed and its work row due, as the host's triggers leave
//!   it, until a freshly started herald has claimed them all.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use herald::daemon::{Daemon, DaemonConfig};

use crate::bench_db::BenchDb;

/// The pending-plans query of herald before work rows (a history scan).
const PENDING_BEFORE: &str = "
WITH claim AS (
    SELECT DISTINCT ON (plan_id) plan_id, last_run_seq
      FROM herald_plan_outcome ORDER BY plan_id, generation DESC
), gen AS (
    SELECT t.plan_id, bool_or(r.status = 'FAILED') AS has_failure
      FROM task_run r
      JOIN task t ON t.id = r.task_id
      LEFT JOIN claim c ON c.plan_id = t.plan_id
     WHERE r.id > COALESCE(c.last_run_seq, 0)
     GROUP BY t.plan_id
), latest AS (
    SELECT DISTINCT ON (r.task_id) r.task_id, r.status
      FROM task_run r
      JOIN task t ON t.id = r.task_id
     WHERE t.plan_id IN (SELECT plan_id FROM gen)
     ORDER BY r.task_id, r.id DESC
), per_plan AS (
    SELECT t.plan_id,
           bool_and(COALESCE(l.status IN ('DONE', 'FAILED', 'CANCELED', 'SKIPPED'), FALSE)) AS all_terminal,
           bool_and(COALESCE(l.status IN ('DONE', 'SKIPPED'), FALSE)) AS all_succeeded,
           bool_or(COALESCE(l.status = 'FAILED', FALSE)) AS latest_failed
      FROM task t
      LEFT JOIN latest l ON l.task_id = t.id
     WHERE t.plan_id IN (SELECT plan_id FROM gen)
     GROUP BY t.plan_id
)
SELECT p.plan_id
  FROM per_plan p JOIN gen g USING (plan_id)
 WHERE p.all_succeeded
    OR (p.all_terminal AND p.latest_failed)
    OR (NOT p.all_terminal AND g.has_failure)
 ORDER BY p.plan_id";

/// The rollout scan of herald before work rows (first page).
const ROLLOUTS_BEFORE: &str = "
SELECT p.id
  FROM plan p
  JOIN project pr ON pr.id = p.project_id
  LEFT JOIN LATERAL (
        SELECT i.id, i.approval_status FROM issue i
         WHERE i.plan_id = p.id ORDER BY i.id DESC LIMIT 1) iss ON TRUE
  LEFT JOIN LATERAL (
        SELECT c.id, c.status FROM plan_check_run c
         WHERE c.plan_id = p.id ORDER BY c.id DESC LIMIT 1) chk ON TRUE
 WHERE p.id > 0
   AND iss.id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM rollout ro WHERE ro.plan_id = p.id)
   AND (NOT pr.require_issue_approval OR iss.approval_status = 'APPROVED')
 ORDER BY p.id
 LIMIT 500";

pub struct HistoryArgs {
    pub plans: Vec<u32>,
    pub tasks: u32,
    pub idle: Duration,
    pub reconcile_interval: Duration,
}

pub async fn history(args: &HistoryArgs) -> anyhow::Result<()> {
    println!(
        "history     idle herald, reconcile every {}, {} idle per size; one pass = the statements a reconciliation runs",
        humantime::format_duration(args.reconcile_interval),
        humantime::format_duration(args.idle)
    );
    for &plans in &args.plans {
        let db = BenchDb::create().await?;
        let result = idle(&db, plans, args).await;
        let dropped = db.drop_database().await;
        result?;
        dropped.context("drop the benchmark database")?;
    }
    for &plans in &args.plans {
        let db = BenchDb::create().await?;
        let result = backlog(&db, plans, args.tasks).await;
        let dropped = db.drop_database().await;
        result?;
        dropped.context("drop the benchmark database")?;
    }
    Ok(())
}

/// `plans` finished plans of `tasks` tasks, written with triggers off (no
/// notifications, no work rows: what a herald that settled them leaves).
/// `claimed`: each plan's outcome claimed, its event delivered.
async fn seed(db: &BenchDb, plans: u32, tasks: u32, claimed: bool) -> anyhow::Result<()> {
    let mut tx = db.store.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    let statements = [
        "INSERT INTO project (resource_id, title) VALUES ('bench', 'Bench')",
        "INSERT INTO app_user (name, email) VALUES ('Ada', 'ada@example.com')",
        "INSERT INTO plan (project_id, title)
         SELECT (SELECT id FROM project), 'plan ' || k FROM generate_series(1, $1) k",
        "INSERT INTO issue (project_id, plan_id, title, creator_id, approval_status)
         SELECT p.project_id, p.id, p.title, (SELECT id FROM app_user), 'APPROVED' FROM plan p",
        "INSERT INTO rollout (plan_id, created_by) SELECT id, 'herald' FROM plan",
        "INSERT INTO task (plan_id, name, instance, database_name)
         SELECT p.id, 'task-' || k, 'instance', 'db' FROM plan p, generate_series(1, $2) k",
        "INSERT INTO task_run (task_id, status, started_at)
         SELECT id, 'DONE', now() FROM task ORDER BY id",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(plans as i64)
            .bind(tasks as i64)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("seed: {sql}"))?;
    }
    if claimed {
        for sql in [
            "INSERT INTO herald_event (id, type, project_id, plan_id, payload)
             SELECT gen_random_uuid(), 'PIPELINE_COMPLETED', p.project_id, p.id, '{}' FROM plan p",
            "INSERT INTO herald_plan_outcome
                    (plan_id, generation, outcome, event_id, last_run_seq, claimed_by)
             SELECT e.plan_id, 1, 'PIPELINE_COMPLETED', e.id, m.last_run, 'bench'
               FROM herald_event e
               JOIN (SELECT t.plan_id, max(r.id) AS last_run
                       FROM task_run r JOIN task t ON t.id = r.task_id
                      GROUP BY t.plan_id) m ON m.plan_id = e.plan_id",
            "INSERT INTO herald_delivery (event_id, endpoint_id, state, attempts, completed_at)
             SELECT id, 'history', 'delivered', 1, now() FROM herald_event",
            "INSERT INTO herald_delivery_attempt
                    (delivery_id, event_id, event_type, endpoint_id, url, attempt, status,
                     http_status, latency_ms, created_at)
             SELECT d.id, d.event_id, 'PIPELINE_COMPLETED', d.endpoint_id, 'https://example.com/',
                    1, 'succeeded', 200, 5, now()
               FROM herald_delivery d",
        ] {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("seed: {sql}"))?;
        }
    } else {
        // Unclaimed: every plan due, as the host's triggers leave it.
        sqlx::query(
            "INSERT INTO herald_plan_work (plan_id, run_seq, due_at)
             SELECT t.plan_id, max(r.id), now() FROM task_run r JOIN task t ON t.id = r.task_id
              GROUP BY t.plan_id",
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    sqlx::query("VACUUM ANALYZE")
        .execute(db.store.pool())
        .await?;
    Ok(())
}

/// Rows read so far in this database, every user table: sequential scans'
/// tuples plus index fetches.
async fn rows_read(db: &BenchDb) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (COALESCE(sum(seq_tup_read), 0) + COALESCE(sum(idx_tup_fetch), 0))::bigint
           FROM pg_stat_user_tables",
    )
    .fetch_one(db.store.pool())
    .await?)
}

async fn idle(db: &BenchDb, plans: u32, args: &HistoryArgs) -> anyhow::Result<()> {
    let seeding = Instant::now();
    seed(db, plans, args.tasks, true).await?;
    let seeded = seeding.elapsed();
    let runs = u64::from(plans) * u64::from(args.tasks);

    // One pass, statement by statement, as the reconcilers run them.
    let (pass, pass_rows) = median_pass(db, |store| async move {
        store
            .take_due_plans(0, 1_000, Duration::from_secs(30))
            .await?;
        store.rollouts_with_changes(0, 500).await?;
        store.unhandled_transitions(None, 0, 500).await?;
        store.endpoints_with_pending().await?;
        Ok(())
    })
    .await?;
    let (before, before_rows) = median_pass(db, |store| async move {
        sqlx::query(PENDING_BEFORE).fetch_all(store.pool()).await?;
        sqlx::query(ROLLOUTS_BEFORE).fetch_all(store.pool()).await?;
        Ok(())
    })
    .await?;

    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "bench".into(),
            migrate: false,
            reconcile_interval: args.reconcile_interval,
            ..DaemonConfig::default()
        },
    )
    .await?;
    crate::bench_db::wait_listening(&daemon).await?;
    // Past the start-up work (first reconcile, config sync), then idle.
    tokio::time::sleep(args.reconcile_interval.min(Duration::from_secs(5))).await;
    let start = settled(db).await?;
    let started = Instant::now();
    tokio::time::sleep(args.idle).await;
    let end = settled(db).await?;
    let elapsed = started.elapsed();
    daemon.stop().await;
    let per_second = (end - start) as f64 / elapsed.as_secs_f64();
    println!(
        "history     {plans} plans x {} tasks ({runs} runs, seeded in {:.0} s): idle herald reads {per_second:.0} rows/s; \
         one pass {:.2} ms, {pass_rows} rows (history scans it replaces: {:.1} ms, {before_rows} rows)",
        args.tasks,
        seeded.as_secs_f64(),
        pass.as_secs_f64() * 1000.0,
        before.as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// The median time of 9 runs of `pass`, and the rows it read (PostgreSQL
/// publishes a backend's counters when it goes idle: read at the end).
async fn median_pass<F, Fut>(db: &BenchDb, pass: F) -> anyhow::Result<(Duration, i64)>
where
    F: Fn(herald::store::Store) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let before = settled(db).await?;
    let mut times = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        pass(db.store.clone()).await?;
        times.push(started.elapsed());
    }
    let rows = (settled(db).await? - before) / 9;
    times.sort();
    Ok((times[times.len() / 2], rows))
}

async fn settled(db: &BenchDb) -> anyhow::Result<i64> {
    crate::bench_db::settled_reading(|| rows_read(db)).await
}

async fn backlog(db: &BenchDb, plans: u32, tasks: u32) -> anyhow::Result<()> {
    seed(db, plans, tasks, false).await?;
    let started = Instant::now();
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "bench".into(),
            migrate: false,
            ..DaemonConfig::default()
        },
    )
    .await?;
    let deadline = Duration::from_secs(1800);
    loop {
        let claimed: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_plan_outcome")
            .fetch_one(db.store.pool())
            .await?;
        if claimed >= i64::from(plans) {
            break;
        }
        if started.elapsed() > deadline {
            bail!("{claimed} of {plans} plans claimed after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let settled_in = started.elapsed();
    daemon.stop().await;
    println!(
        "history     backlog of {plans} unclaimed finished plans x {tasks} tasks settled {:.1} s after start ({:.0} plans/s)",
        settled_in.as_secs_f64(),
        f64::from(plans) / settled_in.as_secs_f64()
    );
    Ok(())
}

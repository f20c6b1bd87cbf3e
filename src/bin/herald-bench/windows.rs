//! Memory with many open failure windows: N plans each with one failed
//! task (an open window) and the rest running, recovered by one reconcile
//! into N plan supervisors; prints resident memory (VmRSS) before and after.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use herald::actors::{PlanConfig, PlanRegistry};
use herald::daemon::StopActor;
use herald::messages::{Reconcile, ReconcileReason};
use herald::metrics::Metrics;
use herald::store::Store;

use crate::bench_db::BenchDb;

pub struct WindowsArgs {
    pub plans: u32,
    pub tasks: u32,
    pub timeout: Duration,
}

pub async fn windows(args: WindowsArgs) -> anyhow::Result<()> {
    if args.tasks < 2 {
        bail!("--tasks must be at least 2 (one failed, one running)");
    }
    let db = BenchDb::create().await?;
    let result = windows_in(&db, &args).await;
    let dropped = db.drop_database().await;
    result?;
    dropped.context("drop the benchmark database")
}

/// Resident memory of this process in bytes (VmRSS).
fn resident_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed VmRSS line")?
        .parse()
        .context("malformed VmRSS value")?;
    Ok(kib * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Seed `plans` plans of `tasks` tasks: task 1 FAILED now, the others RUNNING.
/// Triggers are skipped (`session_replication_role`): nobody listens here.
async fn seed_open_windows(store: &Store, plans: u32, tasks: u32) -> anyhow::Result<()> {
    let mut tx = store.pool().begin().await?;
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await?;
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('bench', 'Bench') RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO plan (project_id, title) SELECT $1, 'plan ' || n FROM generate_series(1, $2) n",
    )
    .bind(project)
    .bind(plans as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO task (plan_id, name, instance, database_name)
         SELECT p.id, 'task-' || k, 'instance', 'db' FROM plan p, generate_series(1, $1) k",
    )
    .bind(tasks as i64)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO task_run (task_id, status, error_message, started_at)
         SELECT id, CASE WHEN name = 'task-1' THEN 'FAILED' ELSE 'RUNNING' END,
                CASE WHEN name = 'task-1' THEN 'boom' END, now()
           FROM task",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(store.pool()).await?;
    Ok(())
}

async fn windows_in(db: &BenchDb, args: &WindowsArgs) -> anyhow::Result<()> {
    let store = db.store.clone();
    let seeding = Instant::now();
    seed_open_windows(&store, args.plans, args.tasks).await?;
    println!(
        "seeded {} plans x {} tasks in {:.1}s",
        args.plans,
        args.tasks,
        seeding.elapsed().as_secs_f64()
    );

    let metrics = Arc::new(Metrics::new());
    let before = resident_bytes()?;
    let registry = PlanRegistry::start(
        store.clone(),
        PlanConfig {
            failure_window: Duration::from_secs(24 * 3600),
            idle: Duration::from_secs(24 * 3600),
        },
        "bench".into(),
        metrics.clone(),
    );
    let started = Instant::now();
    registry.do_send(Reconcile {
        reason: ReconcileReason::Startup,
    });
    let want = i64::from(args.plans);
    while metrics.plan_windows_open.get() < want {
        if started.elapsed() > args.timeout {
            bail!(
                "only {} of {want} windows open after {:?}",
                metrics.plan_windows_open.get(),
                args.timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_in = started.elapsed();
    let after = resident_bytes()?;
    let grown = after.saturating_sub(before);
    println!(
        "windows     {} supervisors with open windows (recovered from the database in {:.1}s)",
        metrics.plan_supervisors.get(),
        recovered_in.as_secs_f64()
    );
    println!("VmRSS before: {:.1} MiB", mib(before));
    println!("VmRSS after:  {:.1} MiB", mib(after));
    println!(
        "per plan:     {:.0} bytes ({:.1} MiB per 100,000 plans)",
        grown as f64 / f64::from(args.plans),
        mib(grown) * 100_000.0 / f64::from(args.plans)
    );
    let _ = registry.send(StopActor).await;
    let stopping = Instant::now();
    while metrics.plan_windows_open.get() > 0 && stopping.elapsed() < args.timeout {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

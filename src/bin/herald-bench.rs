//! `herald-bench`: herald's benchmarks, one subcommand each; every one prints
//! its figures. Run with `cargo run --release --bin herald-bench -- <bench>`.
//!
//! - `windows --plans N`: N plan supervisors holding open failure windows,
//!   recovered from a throwaway database by reconciliation; prints resident
//!   memory (VmRSS) before and after, and per plan.
//!
//! Benchmarks that need PostgreSQL create a throwaway database on the server
//! given by `--database-url` (default: local, user postgres) and drop it.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};
use herald::actors::{PlanConfig, PlanRegistry};
use herald::daemon::StopActor;
use herald::messages::{Reconcile, ReconcileReason};
use herald::metrics::Metrics;
use herald::store::{PoolConfig, Store};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, Parser)]
#[command(name = "herald-bench", about = "herald's benchmarks")]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// Memory of N plan supervisors with open failure windows.
    Windows(WindowsArgs),
}

/// A PostgreSQL server where a throwaway database may be created.
#[derive(Debug, Clone, Args)]
struct ServerArgs {
    /// Admin URL of the server (the benchmark creates and drops its own database).
    #[arg(
        long,
        env = "HERALD_BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
}

#[derive(Debug, Clone, Args)]
struct WindowsArgs {
    /// Plans, each with one failed task (an open window) and the rest running.
    #[arg(long, default_value_t = 100_000)]
    plans: u32,
    /// Tasks per plan (at least 2, so the plan is not terminal).
    #[arg(long, default_value_t = 2)]
    tasks: u32,
    /// Give up waiting for the windows after this long.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = actix::System::new().block_on(async move {
        match cli.bench {
            Bench::Windows(args) => windows(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
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

/// A database that exists for one benchmark run.
struct ThrowawayDb {
    admin: PgConnectOptions,
    name: String,
    options: PgConnectOptions,
}

impl ThrowawayDb {
    async fn create(server: &ServerArgs) -> anyhow::Result<ThrowawayDb> {
        let admin = PgConnectOptions::from_str(&server.database_url)
            .context("--database-url is not a PostgreSQL URL")?;
        let name = format!("herald_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin.connect().await.context("connect to the server")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .context("create the benchmark database")?;
        let _ = conn.close().await;
        let options = admin.clone().database(&name);
        Ok(ThrowawayDb {
            admin,
            name,
            options,
        })
    }

    async fn drop_db(self) -> anyhow::Result<()> {
        let mut conn = self.admin.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
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

async fn windows(args: WindowsArgs) -> anyhow::Result<()> {
    if args.tasks < 2 {
        bail!("--tasks must be at least 2 (one failed, one running)");
    }
    let db = ThrowawayDb::create(&args.server).await?;
    let result = windows_in(&db, &args).await;
    let dropped = db.drop_db().await;
    result?;
    dropped.context("drop the benchmark database")
}

async fn windows_in(db: &ThrowawayDb, args: &WindowsArgs) -> anyhow::Result<()> {
    let store = Store::connect(db.options.clone(), &PoolConfig::default()).await?;
    store.migrate(|_, _, _| {}).await?;
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
        "windows: {} supervisors with open windows (recovered from the database in {:.1}s)",
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
    store.pool().close().await;
    Ok(())
}

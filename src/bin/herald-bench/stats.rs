//! Issue 27's measurements: throughput before and after `VACUUM (ANALYZE)`
//! taken while nothing is pending (what autovacuum does at a quiet moment;
//! it once made the planner read every endpoint's pending rows per claim),
//! and the rows an idle herald rewrites: an hour of sweeps (720 at 5 s),
//! run at 50 ms, then PostgreSQL's own counters for the config tables.

use std::time::{Duration, Instant};

use herald::daemon::{Daemon, DaemonConfig};
use herald::delivery::DeliveryConfig;

use crate::bench_db::BenchDb;
use crate::receiver::Receiver;
use crate::throughput::{emit_ticks, endpoint, start_herald_with};

/// A herald with `endpoints` endpoints on `receiver`, subscribed to
/// everything, sweeping every `sweep`.
async fn herald_with(
    db: &BenchDb,
    receiver: &Receiver,
    endpoints: usize,
    sweep: Duration,
) -> anyhow::Result<Daemon> {
    let list = (0..endpoints)
        .map(|i| {
            endpoint(
                format!("e{i}"),
                receiver.url(&format!("/e{i}")),
                vec!["*".into()],
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    start_herald_with(
        db,
        DaemonConfig {
            endpoints: list,
            delivery: DeliveryConfig {
                sweep_interval: sweep,
                ..DeliveryConfig::default()
            },
            ..DaemonConfig::default()
        },
    )
    .await
}

/// Emit `events` to every endpoint and wait until `total` more are
/// delivered; deliveries per second.
async fn round(db: &BenchDb, events: i64, total: i64) -> anyhow::Result<f64> {
    let before = db.count_delivered().await?;
    let started = Instant::now();
    emit_ticks(db, events).await?;
    loop {
        if db.count_delivered().await? - before >= total {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "not delivered within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

pub async fn analyze_stability(endpoints: usize, deliveries: usize) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    // HERALD_BENCH_LOG_SLOW: PostgreSQL logs statements over 20 ms (its
    // server log says which query a slowdown comes from).
    if std::env::var("HERALD_BENCH_LOG_SLOW").is_ok() {
        sqlx::query(&format!(
            "ALTER DATABASE {} SET log_min_duration_statement = 20",
            db.name
        ))
        .execute(db.store.pool())
        .await?;
    }
    let receiver = Receiver::start()?;
    let events = (deliveries / endpoints).max(1) as i64;
    let total = events * endpoints as i64;
    let sweep = DeliveryConfig::default().sweep_interval;
    let daemon = herald_with(&db, &receiver, endpoints, sweep).await?;
    let before = round(&db, events, total).await?;
    // Nothing pending now: the statistics a quiet moment gives.
    sqlx::query("VACUUM (ANALYZE) herald_delivery")
        .execute(db.store.pool())
        .await?;
    let after = round(&db, events, total).await?;
    println!(
        "analyze     endpoints={endpoints:<4} deliveries={total:<6} {before:>8.0}/s before, {after:>8.0}/s after VACUUM (ANALYZE) at an idle moment ({:+.1} %)",
        (after / before - 1.0) * 100.0
    );
    daemon.stop().await;
    receiver.stop().await;
    db.drop_database().await
}

pub async fn idle_churn(endpoints: usize, sweeps: u32) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let receiver = Receiver::start()?;
    let sweep = Duration::from_millis(50);
    let daemon = herald_with(&db, &receiver, endpoints, sweep).await?;
    tokio::time::sleep(sweep * sweeps).await;
    daemon.stop().await;
    // The daemon's sessions have ended: their counters are flushed.
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(db.store.pool())
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_tup_upd, n_dead_tup, n_live_tup FROM pg_stat_user_tables
          WHERE relname IN ('herald_endpoint', 'herald_config_node', 'herald_replica') ORDER BY relname",
    )
    .fetch_all(db.store.pool())
    .await?;
    for (table, updates, dead, live) in rows {
        println!(
            "idle        endpoints={endpoints:<4} sweeps={sweeps} ({} at 5 s): {table:<20} {updates:>6} updates, {dead:>6} dead rows, {live} live",
            humantime::format_duration(Duration::from_secs(5) * sweeps)
        );
    }
    receiver.stop().await;
    db.drop_database().await
}

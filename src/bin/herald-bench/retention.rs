//! Retention under sustained load: events at `rate`/s over 10 endpoints
//! (batches of 100 per transaction) for `seconds`, through a real herald
//! with a short `--retain`; prints the outbox's size (all deliveries, and
//! attempts) every 10 s. Bounded means it levels off near rate x (retain +
//! the retention interval) instead of growing with the run.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use herald::actors::RetentionConfig;
use herald::daemon::DaemonConfig;

use crate::bench_db::BenchDb;
use crate::receiver::Receiver;
use crate::throughput::{start_herald_with, typed_endpoints};

pub async fn retention(rate: u32, seconds: u32, retain: Duration) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let result = run(&db, rate, seconds, retain).await;
    let dropped = db.drop_database().await;
    result?;
    dropped.context("drop the benchmark database")
}

async fn sizes(db: &BenchDb) -> anyhow::Result<(i64, i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM herald_delivery),
                (SELECT count(*) FROM herald_delivery WHERE state = 'pending'),
                (SELECT count(*) FROM herald_delivery_attempt)",
    )
    .fetch_one(db.store.pool())
    .await?)
}

async fn run(db: &BenchDb, rate: u32, seconds: u32, retain: Duration) -> anyhow::Result<()> {
    let receiver = Receiver::start()?;
    let endpoints = typed_endpoints(&receiver, 10)?;
    let retention = RetentionConfig {
        deliveries: Some(retain),
        ..RetentionConfig::default()
    };
    let daemon = start_herald_with(
        db,
        DaemonConfig {
            endpoints,
            retention: retention.clone(),
            ..DaemonConfig::default()
        },
    )
    .await?;
    println!(
        "retention   {rate} deliveries/s for {seconds} s, --retain {}, pass every {}, batches of {}",
        humantime::format_duration(retain),
        humantime::format_duration(retention.interval),
        retention.batch
    );
    let batch = 100u32;
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(f64::from(batch) / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut next_report = Duration::from_secs(10);
    let mut emitted = 0u64;
    let mut peak = 0i64;
    while started.elapsed() < Duration::from_secs(u64::from(seconds)) {
        ticker.tick().await;
        sqlx::query(
            "SELECT herald_emit('bench.e' || (g % 10), jsonb_build_object('data', jsonb_build_object('n', g)))
               FROM generate_series(1, $1::bigint) g",
        )
        .bind(i64::from(batch))
        .execute(db.store.pool())
        .await
        .context("emit")?;
        emitted += u64::from(batch);
        if started.elapsed() >= next_report {
            let (all, pending, attempts) = sizes(db).await?;
            peak = peak.max(all);
            println!(
                "retention   t={:>4.0}s emitted {emitted:>7}: outbox {all:>7} rows ({pending} pending), {attempts:>7} attempts",
                started.elapsed().as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
    }
    let offered = emitted as f64 / started.elapsed().as_secs_f64();
    let (all, _, _) = sizes(db).await?;
    println!(
        "retention   offered {offered:.0}/s, {emitted} deliveries in all; outbox peak {peak} rows, {all} at the end \
         (without retention: {emitted})"
    );
    daemon.stop().await;
    receiver.stop().await;
    Ok(())
}

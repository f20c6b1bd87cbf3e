//! Chaos, database side: three herald replicas on a private PostgreSQL
//! cluster, a steady event stream, and the cluster crashed mid-stream
//! (`pg_ctl stop -m immediate`: no checkpoint, WAL recovery on restart),
//! restarted on the same port after a pause. Then: every event whose emit
//! committed must arrive (0 lost), and resends may only be the message in
//! flight per endpoint (duplicates ≤ endpoints). Bounded; stops by itself.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use herald::embedded_postgres::{EmbeddedConfig, EmbeddedPostgres};
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::chaos::{spawn_replicas, wait_ready, ENDPOINTS};
use crate::receiver::Receiver;

const DEADLINE: Duration = Duration::from_secs(240);

pub async fn pg_crash(events: u64, rate: u32, down_for: Duration) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("herald-pg-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Reachable by the `postgres` user when this runs as root.
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let mut cluster = EmbeddedPostgres::start(&EmbeddedConfig {
        data_dir: dir.join("pgdata"),
        bin_dir: None,
    })
    .await
    .context("starting a private PostgreSQL cluster")?;
    let url = cluster.url();
    let result = run(&mut cluster, &url, &dir, events, rate, down_for).await;
    let _ = cluster.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(
    cluster: &mut EmbeddedPostgres,
    url: &str,
    dir: &std::path::Path,
    events: u64,
    rate: u32,
    down_for: Duration,
) -> anyhow::Result<()> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_with(herald::store::Schemas::default().apply(cluster.connect_options()))
        .await?;
    herald::store::Store::from_pool(pool.clone())
        .migrate(|_, _, _| {})
        .await?;
    let receiver = Receiver::start()?;
    crate::chaos::write_config(dir, &receiver)?;
    let replicas = spawn_replicas(dir, url, Duration::from_secs(3))?;
    wait_ready(&pool, dir).await?;

    // Each event has its id chosen here, so an emit whose commit answer was
    // lost in the crash can be looked up afterwards.
    let mut acknowledged: HashSet<Uuid> = HashSet::new();
    let mut unsure: Vec<Uuid> = Vec::new();
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let crash_at = events / 3;
    let mut crashed_after = None;
    for n in 1..=events {
        let id = Uuid::now_v7();
        let emitted = sqlx::query(
            "SELECT herald_emit('chaos.tick', jsonb_build_object('data', jsonb_build_object('n', $1::bigint)),
                                NULL, NULL, NULL, NULL, $2)",
        )
        .bind(n as i64)
        .bind(id)
        .execute(&pool)
        .await;
        match emitted {
            Ok(_) => {
                acknowledged.insert(id);
            }
            Err(_) => unsure.push(id),
        }
        if n == crash_at {
            cluster.crash().await?;
            let crashed = Instant::now();
            println!(
                "pg-crash    pg_ctl stop -m immediate after {n} events; down for {down_for:?}"
            );
            tokio::time::sleep(down_for).await;
            cluster.restart().await?;
            crashed_after = Some(crashed.elapsed());
        }
        let due = start + interval * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    // The truth after recovery: every event that exists must arrive, and
    // every acknowledged emit must exist (synchronous commit).
    let existing: HashSet<Uuid> =
        sqlx::query_scalar::<_, Uuid>("SELECT id FROM herald_event WHERE type = 'chaos.tick'")
            .fetch_all(&pool)
            .await?
            .into_iter()
            .collect();
    let vanished = acknowledged.difference(&existing).count();
    let expected = existing.len() as i64 * ENDPOINTS as i64;
    let wait_start = Instant::now();
    loop {
        let delivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE state = 'delivered'")
                .fetch_one(&pool)
                .await?;
        if delivered >= expected {
            break;
        }
        if wait_start.elapsed() > DEADLINE {
            println!("pg-crash    gave up waiting after {DEADLINE:?} ({delivered}/{expected})");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let arrivals = receiver
        .arrivals
        .by_webhook_id
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let wanted: HashSet<(String, String)> = existing
        .iter()
        .flat_map(|id| {
            (0..ENDPOINTS).map(move |e| (format!("/e{e}"), format!("msg_{}", id.simple())))
        })
        .collect();
    let lost = wanted.iter().filter(|k| !arrivals.contains_key(*k)).count();
    let duplicates: u32 = arrivals.values().map(|c| c - 1).sum();
    println!(
        "pg-crash    replicas=3 endpoints={ENDPOINTS} events={events} at {rate}/s, PostgreSQL crashed once \
         (back after {:.1}s): {} emits committed, {} unanswered at the crash ({} of those committed), \
         acknowledged but lost by the database {vanished}; delivered {}/{expected}, lost {lost}, \
         duplicates {duplicates} (bound: {ENDPOINTS}, one in flight per endpoint)",
        crashed_after.unwrap_or_default().as_secs_f64(),
        acknowledged.len(),
        unsure.len(),
        unsure.iter().filter(|id| existing.contains(id)).count(),
        wanted.len() - lost,
    );
    drop(replicas);
    receiver.stop().await;
    pool.close().await;
    Ok(())
}

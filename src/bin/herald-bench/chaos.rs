//! Chaos: herald replicas on one database, a steady event stream, and one
//! fault mid-stream — `kill -9` of the replica holding the most endpoint
//! leases, a graceful restart of it (SIGTERM, then a new replica in its
//! place), or a third replica joining two — then a count of events lost
//! and delivered twice (by `webhook-id` at the receiver) and the takeover
//! (or rebalance) time. The receiver answers after 5 ms, so attempts are
//! in flight when the fault hits. Bounded in events and time; stops by
//! itself. Replicas are this binary re-executed as `herald-bench replica run …`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::bench_db::BenchDb;
use crate::receiver::Receiver;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const ENDPOINTS: usize = 6;
const DEADLINE: Duration = Duration::from_secs(180);
/// How long the receiver takes to answer.
const LATENCY: Duration = Duration::from_millis(5);

/// What happens to the fleet mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// `kill -9` of the replica holding the most leases.
    Kill,
    /// SIGTERM to it (a rolling restart), then a new replica in its place.
    Restart,
    /// Two replicas run; a third joins.
    Join,
}

pub struct Replica {
    pub node: String,
    pub child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// The chaos runs' config: `ENDPOINTS` generic endpoints on `receiver`,
/// signed with one secret, in `dir`.
pub fn write_config(dir: &std::path::Path, receiver: &Receiver) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("secrets"))?;
    std::fs::write(dir.join("secrets").join("chaos_secret"), SECRET)?;
    let mut config = String::from("endpoints:\n");
    for i in 0..ENDPOINTS {
        config.push_str(&format!(
            "  - id: e{i}\n    type: generic\n    url: {}\n    secret: chaos_secret\n    events: [\"*\"]\n",
            receiver.url(&format!("/e{i}"))
        ));
    }
    std::fs::write(dir.join("herald.yaml"), config)?;
    Ok(())
}

/// Three herald replicas (this binary as `replica run`) on `database_url`,
/// logging to `dir/chaos-<i>.log`.
pub fn spawn_replicas(
    dir: &std::path::Path,
    database_url: &str,
    lease_ttl: Duration,
) -> anyhow::Result<Vec<Replica>> {
    (0..3)
        .map(|i| spawn_replica(dir, database_url, lease_ttl, &format!("chaos-{i}")))
        .collect()
}

/// One herald replica named `node`.
pub fn spawn_replica(
    dir: &std::path::Path,
    database_url: &str,
    lease_ttl: Duration,
    node: &str,
) -> anyhow::Result<Replica> {
    let exe = std::env::current_exe().context("locating herald-bench")?;
    {
        {
            let node = node.to_owned();
            let log = std::fs::File::create(dir.join(format!("{node}.log")))?;
            let child = Command::new(&exe)
                .args(["replica", "--log-format", "json", "run"])
                .arg("--database-url")
                .arg(database_url)
                .arg("--config")
                .arg(dir.join("herald.yaml"))
                .arg("--secrets-dir")
                .arg(dir.join("secrets"))
                .args(["--node-id", &node, "--admin-addr", "127.0.0.1:0"])
                .args([
                    "--lease-ttl",
                    &humantime::format_duration(lease_ttl).to_string(),
                ])
                // Two fifths of the lease: the room an attempt needs.
                .args([
                    "--request-timeout",
                    &humantime::format_duration(lease_ttl * 2 / 5).to_string(),
                ])
                .args(["--sweep-interval", "500ms", "--retry-base", "100ms"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            Ok(Replica { node, child })
        }
    }
}

/// Wait until the replicas are up: endpoints mirrored, listeners listening.
pub async fn wait_ready(pool: &sqlx::PgPool, dir: &std::path::Path) -> anyhow::Result<()> {
    wait_listeners(pool, dir, 3).await
}

/// Wait until the endpoints are mirrored and `replicas` listeners listen.
pub async fn wait_listeners(
    pool: &sqlx::PgPool,
    dir: &std::path::Path,
    replicas: i64,
) -> anyhow::Result<()> {
    let ready = Instant::now();
    loop {
        let endpoints: i64 =
            sqlx::query_scalar("SELECT count(DISTINCT endpoint_id) FROM herald_subscription")
                .fetch_one(pool)
                .await?;
        let listeners: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'herald-listener' AND datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        if endpoints == ENDPOINTS as i64 && listeners == replicas {
            return Ok(());
        }
        if ready.elapsed() > Duration::from_secs(60) {
            bail!("replicas not ready after 60s ({endpoints} endpoints, {listeners} listeners); see {}", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn chaos(
    events: u64,
    rate: u32,
    lease_ttl: Duration,
    fault: Fault,
) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let receiver = Receiver::start_with_latency(LATENCY)?;
    let dir = std::env::temp_dir().join(format!("herald-chaos-{}", std::process::id()));
    write_config(&dir, &receiver)?;
    let mut replicas = spawn_replicas(&dir, db.url(), lease_ttl)?;
    if fault == Fault::Join {
        replicas.truncate(2);
    }
    let pool = db.store.pool().clone();
    wait_listeners(&pool, &dir, replicas.len() as i64).await?;
    let emit = |n: u64| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "SELECT herald_emit('chaos.tick', jsonb_build_object('data', jsonb_build_object('n', $1::bigint)))",
            )
            .bind(n as i64)
            .execute(&pool)
            .await
        }
    };
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let kill_at = events / 3;
    let mut killed: Option<(
        String,
        Vec<String>,
        actix_rt::task::JoinHandle<anyhow::Result<Duration>>,
    )> = None;
    for n in 1..=events {
        emit(n).await.context("emit")?;
        if n == kill_at && fault == Fault::Join {
            let joiner = spawn_replica(&dir, db.url(), lease_ttl, "chaos-2")?;
            println!("chaos       chaos-2 joins chaos-0 and chaos-1 after {n} events");
            let watcher = actix_rt::spawn(watch_fair_share(pool.clone(), Instant::now()));
            replicas.push(joiner);
            killed = Some(("chaos-2".into(), Vec::new(), watcher));
        } else if n == kill_at {
            let owners: Vec<(String, String)> = sqlx::query_as(
                "SELECT endpoint_id, owner FROM herald_endpoint_lease WHERE expires_at > now()",
            )
            .fetch_all(&pool)
            .await?;
            let victim = replicas
                .iter()
                .max_by_key(|r| owners.iter().filter(|(_, o)| *o == r.node).count())
                .map(|r| r.node.clone())
                .context("no replica")?;
            let held: Vec<String> = owners
                .iter()
                .filter(|(_, o)| *o == victim)
                .map(|(e, _)| e.clone())
                .collect();
            let index = replicas
                .iter()
                .position(|r| r.node == victim)
                .context("victim")?;
            let mut replica = replicas.remove(index);
            let (signal, what) = match fault {
                Fault::Restart => (Signal::SIGTERM, "SIGTERM (graceful restart)"),
                _ => (Signal::SIGKILL, "kill -9"),
            };
            let at = Instant::now();
            kill(Pid::from_raw(replica.child.id() as i32), signal)?;
            let _ = replica.child.wait();
            std::mem::forget(replica); // already gone
            println!("chaos       {what} {victim} after {n} events; it held {} of {ENDPOINTS} endpoints; stopped in {:.2}s", held.len(), at.elapsed().as_secs_f64());
            if fault == Fault::Restart {
                replicas.push(spawn_replica(
                    &dir,
                    db.url(),
                    lease_ttl,
                    &format!("{victim}-restarted"),
                )?);
            }
            let watcher = actix_rt::spawn(watch_takeover(
                pool.clone(),
                victim.clone(),
                held.clone(),
                at,
            ));
            killed = Some((victim, held, watcher));
        }
        let due = start + interval * n as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }

    let takeover = match killed.as_mut() {
        Some((_, _, watcher)) => Some(watcher.await.context("takeover watcher")??),
        None => None,
    };
    let expected = events as i64 * ENDPOINTS as i64;
    let wait_start = Instant::now();
    while db.count_delivered().await? < expected {
        if wait_start.elapsed() > DEADLINE {
            println!("chaos       gave up waiting after {DEADLINE:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ids = receiver
        .arrivals
        .by_webhook_id
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let unique = ids.len() as i64;
    let duplicates: u32 = ids.values().map(|c| c - 1).sum();
    let held = killed.as_ref().map(|k| k.1.len()).unwrap_or(0);
    let (bound, took) = match fault {
        Fault::Kill => (
            format!("{held}, one in flight per endpoint of the killed replica"),
            "takeover",
        ),
        Fault::Restart => ("0, a graceful stop drains".to_owned(), "takeover"),
        Fault::Join => ("0, shedding drains".to_owned(), "fair share reached"),
    };
    println!(
        "chaos       fault={fault:?} endpoints={ENDPOINTS} events={events} at {rate}/s: delivered {unique}/{expected}, \
         lost {}, duplicates {duplicates} (bound: {bound}), \
         {took} {:.2}s (lease ttl {:.1}s)",
        expected - unique,
        takeover.unwrap_or_default().as_secs_f64(),
        lease_ttl.as_secs_f64(),
    );
    drop(replicas);
    receiver.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    db.drop_database().await
}

/// How long after `at` until none of `held` is owned by `victim` any more.
async fn watch_takeover(
    pool: sqlx::PgPool,
    victim: String,
    held: Vec<String>,
    at: Instant,
) -> anyhow::Result<Duration> {
    loop {
        let still: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM herald_endpoint_lease
              WHERE (owner = $1 OR expires_at <= now()) AND endpoint_id = ANY($2)",
        )
        .bind(&victim)
        .bind(&held)
        .fetch_one(&pool)
        .await?;
        if still == 0 {
            return Ok(at.elapsed());
        }
        if at.elapsed() > DEADLINE {
            bail!("no takeover within {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How long after `at` until every live replica holds at most its fair
/// share (endpoints ÷ 3, rounded up) and every endpoint is held.
async fn watch_fair_share(pool: sqlx::PgPool, at: Instant) -> anyhow::Result<Duration> {
    let share = ENDPOINTS.div_ceil(3) as i64;
    loop {
        let per_owner: Vec<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM herald_endpoint_lease WHERE expires_at > now() GROUP BY owner",
        )
        .fetch_all(&pool)
        .await?;
        if per_owner.len() == 3 && per_owner.iter().all(|n| *n <= share) {
            return Ok(at.elapsed());
        }
        if at.elapsed() > DEADLINE {
            bail!("no fair share within {DEADLINE:?}: {per_owner:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

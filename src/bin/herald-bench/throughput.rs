//! End-to-end throughput and latency through a real herald: events
//! committed to PostgreSQL → delivery actors → signed POST to a loopback
//! receiver → recorded `delivered`.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use herald::daemon::{Daemon, DaemonConfig};
use herald::delivery::DeliveryConfig;
use herald::endpoint::{Endpoint, EndpointSource, Platform, Secret};

use crate::bench_db::BenchDb;
use crate::receiver::Receiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DEADLINE: Duration = Duration::from_secs(600);

pub fn endpoint(id: String, url: String, event_types: Vec<String>) -> anyhow::Result<Endpoint> {
    Ok(Endpoint {
        id,
        source: EndpointSource::Config,
        platform: Platform::Generic,
        url: url.parse()?,
        secret: Some(Secret::new(SECRET)),
        event_types,
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: herald::endpoint::Ordering::Strict,
        presentation: Default::default(),
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    })
}

/// `count` endpoints `e0`, `e1` … at `receiver`, endpoint `eN` subscribed
/// to event type `bench.eN` only.
pub fn typed_endpoints(receiver: &Receiver, count: usize) -> anyhow::Result<Vec<Endpoint>> {
    (0..count)
        .map(|i| {
            endpoint(
                format!("e{i}"),
                receiver.url(&format!("/e{i}")),
                vec![format!("bench.e{i}")],
            )
        })
        .collect()
}

async fn start_herald(db: &BenchDb, endpoints: Vec<Endpoint>) -> anyhow::Result<Daemon> {
    start_herald_with(
        db,
        DaemonConfig {
            endpoints,
            delivery: DeliveryConfig::default(),
            ..DaemonConfig::default()
        },
    )
    .await
}

/// A benchmark's herald (`node_id` bench, the schema already migrated),
/// listening.
pub async fn start_herald_with(db: &BenchDb, config: DaemonConfig) -> anyhow::Result<Daemon> {
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "bench".into(),
            migrate: false,
            ..config
        },
    )
    .await?;
    crate::bench_db::wait_listening(&daemon).await?;
    Ok(daemon)
}

async fn wait_delivered(db: &BenchDb, expected: i64) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let delivered = db.count_delivered().await?;
        if delivered >= expected {
            return Ok(());
        }
        if start.elapsed() > DEADLINE {
            bail!("only {delivered} of {expected} delivered after {DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Emit `events` `bench.tick` events, 500 per statement.
pub async fn emit_ticks(db: &BenchDb, events: i64) -> anyhow::Result<()> {
    let mut next = 1i64;
    while next <= events {
        let last = (next + 499).min(events);
        sqlx::query(
            "SELECT herald_emit('bench.tick', jsonb_build_object('data', jsonb_build_object('n', g)))
               FROM generate_series($1::bigint, $2::bigint) g",
        )
        .bind(next)
        .bind(last)
        .execute(db.store.pool())
        .await
        .context("emit")?;
        next = last + 1;
    }
    Ok(())
}

/// Every endpoint with a filter that holds (`type=~"bench\..*"`) and a mute
/// window that never does, and one live silence matching nothing: the
/// gate's whole work on every delivery, none of it muting.
fn routed(endpoint: &mut Endpoint) -> anyhow::Result<()> {
    use herald::routing::time_interval::{IntervalPart, TimeInterval};
    endpoint.route = herald::routing::Route {
        filter: herald::routing::matcher::parse(r#"type=~"bench\..*", environment!="staging""#)
            .map_err(anyhow::Error::msg)?,
        mute_windows: vec![herald::routing::MuteWindow {
            interval: Arc::new(TimeInterval {
                name: "never".into(),
                parts: vec![IntervalPart {
                    times: Vec::new(),
                    weekdays: Vec::new(),
                    days_of_month: Vec::new(),
                    months: Vec::new(),
                    years: vec![(2099, 2099)],
                    location: chrono_tz::Europe::Berlin,
                }],
            }),
            action: herald::routing::MuteAction::Hold,
        }],
    };
    Ok(())
}

/// How the endpoints of a throughput run are set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `ordering: none` with this concurrency.
    pub unordered: Option<u16>,
    /// A filter, a mute window and a silence (none of which mutes).
    pub routed: bool,
    /// A body template.
    pub templated: bool,
}

/// A generic body template using strings, a lone expression and a filter.
fn templated(endpoint: &mut Endpoint) -> anyhow::Result<()> {
    use herald::formats::template::{MessageTemplate, TemplateSource};
    let source: TemplateSource = serde_norway::from_str(
        r#"
body:
  summary: "{{ type }} #{{ data.n }} ({{ title }})"
  n: "{{ data.n }}"
  event: "{{ id }}"
  at: "{{ timestamp }}"
"#,
    )?;
    let template = MessageTemplate::compile(
        &source,
        endpoint.platform,
        &["*".into()],
        &[Default::default()],
    )
    .map_err(|problems| anyhow::anyhow!("bench template: {problems:?}"))?;
    endpoint.template = Some(Arc::new(template));
    Ok(())
}

/// `deliveries` spread over `endpoints` subscribed to every event, set up
/// as `options` says.
pub async fn throughput(
    endpoints: usize,
    deliveries: usize,
    options: Options,
) -> anyhow::Result<()> {
    let Options {
        unordered,
        routed: route,
        templated: template,
    } = options;
    let db = BenchDb::create().await?;
    let receiver = Receiver::start()?;
    let list = (0..endpoints)
        .map(|i| {
            let mut endpoint = endpoint(
                format!("e{i}"),
                receiver.url(&format!("/e{i}")),
                vec!["*".into()],
            )?;
            if let Some(concurrency) = unordered {
                endpoint.ordering = herald::endpoint::Ordering::Unordered { concurrency };
            }
            if route {
                routed(&mut endpoint)?;
            }
            if template {
                templated(&mut endpoint)?;
            }
            Ok(endpoint)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let events = (deliveries / endpoints).max(1) as i64;
    let total = events * endpoints as i64;
    let daemon = start_herald(&db, list).await?;
    if route {
        sqlx::query(
            "INSERT INTO herald_silence (matchers, starts_at, ends_at, action, comment, created_by)
             VALUES (ARRAY['endpoint=\"nobody\"'], now(), now() + interval '1 hour', 'drop', 'bench', 'bench')",
        )
        .execute(db.store.pool())
        .await?;
    }

    let started = Instant::now();
    emit_ticks(&db, events).await?;
    let committed = started.elapsed();
    wait_delivered(&db, total).await?;
    let elapsed = started.elapsed();
    let requests = receiver.arrivals.requests.load(Ordering::Relaxed) as i64;
    let mode = unordered
        .map(|n| format!(" (ordering none, concurrency {n})"))
        .unwrap_or_default()
        + if route {
            " (filter, window, silence)"
        } else {
            ""
        }
        + if template { " (templated)" } else { "" };
    println!(
        "throughput  endpoints={endpoints:<4}{mode} deliveries={total:<6} {:>8.0} deliveries/s end to end \
         ({:.2}s; events committed in {:.2}s; {} duplicate requests)",
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
        committed.as_secs_f64(),
        requests - total,
    );
    daemon.stop().await;
    receiver.stop().await;
    db.drop_database().await
}

/// One event per transaction at `rate`/s for `seconds`, each to one of
/// `endpoints`; latency from issuing the committing write to arrival.
pub async fn latency(rate: u32, seconds: u32, endpoints: usize) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let receiver = Receiver::start()?;
    let list = typed_endpoints(&receiver, endpoints)?;
    let daemon = start_herald(&db, list).await?;

    let total = u64::from(rate) * u64::from(seconds);
    let sent: Arc<std::sync::Mutex<HashMap<u64, Instant>>> = Arc::default();
    let commits: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::default();
    let committed: Arc<std::sync::Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total as usize);
    let started = Instant::now();
    for n in 1..=total {
        ticker.tick().await;
        let pool = db.store.pool().clone();
        let sent = sent.clone();
        let commits = commits.clone();
        let committed = committed.clone();
        let event_type = format!("bench.e{}", n as usize % endpoints);
        tasks.push(actix_rt::spawn(async move {
            let at = Instant::now();
            let result = sqlx::query(
                "SELECT herald_emit($1, jsonb_build_object('data', jsonb_build_object('n', $2::bigint)))",
            )
            .bind(event_type)
            .bind(n as i64)
            .execute(&pool)
            .await;
            if let Ok(mut sent) = sent.lock() {
                sent.insert(n, at);
            }
            if let Ok(mut done) = committed.lock() {
                done.insert(n, Instant::now());
            }
            if let Ok(mut commits) = commits.lock() {
                commits.push(at.elapsed());
            }
            result
        }));
    }
    for task in tasks {
        task.await.context("emitter")?.context("emit")?;
    }
    let offered = total as f64 / started.elapsed().as_secs_f64();
    wait_delivered(&db, total as i64).await?;

    let sent = sent
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let arrivals = receiver
        .arrivals
        .seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut first_arrival: HashMap<u64, Instant> = HashMap::new();
    for (n, at) in arrivals {
        first_arrival.entry(n).or_insert(at);
    }
    let mut latencies: Vec<Duration> = sent
        .iter()
        .filter_map(|(n, at)| {
            first_arrival
                .get(n)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let committed = committed
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut after_commit: Vec<Duration> = committed
        .iter()
        .filter_map(|(n, at)| {
            first_arrival
                .get(n)
                .map(|arrived| arrived.saturating_duration_since(*at))
        })
        .collect();
    after_commit.sort();
    let herald_pct = |p: f64| {
        after_commit[((after_commit.len() as f64 * p) as usize).min(after_commit.len() - 1)]
    };
    let mut commits = commits
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    commits.sort();
    let commit_pct = |p: f64| commits[((commits.len() as f64 * p) as usize).min(commits.len() - 1)];
    println!(
        "latency     rate={rate}/s (offered {offered:.0}/s) endpoints={endpoints} events={total}: \
         p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms \
         (the emitting commit itself: p50 {:.1} ms  p99 {:.1} ms; from commit returned to arrival: \
         p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.95).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        commit_pct(0.50).as_secs_f64() * 1e3,
        commit_pct(0.99).as_secs_f64() * 1e3,
        herald_pct(0.50).as_secs_f64() * 1e3,
        herald_pct(0.95).as_secs_f64() * 1e3,
        herald_pct(0.99).as_secs_f64() * 1e3,
    );
    daemon.stop().await;
    receiver.stop().await;
    db.drop_database().await
}

//! Delivery end to end: outbox → per-endpoint actor → signed POST to a real
//! receiver on loopback → attempt log; order, retries, failure modes,
//! auto-disable, replay.

use std::time::Duration;

use herald::daemon::{Daemon, DaemonConfig};
use herald::delivery::{DeliveryConfig, RetryPolicy};
use herald::endpoint::{Endpoint, EndpointSource, Platform, Secret};

use crate::support::receiver::{Receiver, Reply};
use crate::support::{wait_until, TestDb};

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const DEADLINE: Duration = Duration::from_secs(60);

pub fn endpoint(id: &str, url: String) -> Endpoint {
    Endpoint {
        id: id.into(),
        source: EndpointSource::Config,
        platform: Platform::Generic,
        url: url.parse().expect("url"),
        secret: Some(Secret::new(SECRET)),
        event_types: vec!["*".into()],
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
    }
}

pub fn fast_delivery() -> DeliveryConfig {
    DeliveryConfig {
        retry: RetryPolicy {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(50),
            max_attempts: 5,
            retry_after_max: Duration::from_secs(5),
            ..RetryPolicy::default()
        },
        lease_ttl: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(300),
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        ..DeliveryConfig::default()
    }
}

pub async fn start(
    db: &TestDb,
    node: &str,
    endpoints: Vec<Endpoint>,
    delivery: DeliveryConfig,
) -> Daemon {
    Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: node.into(),
            endpoints,
            delivery,
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts")
}

/// Emit `count` custom events `test.tick` with data `{"n": 1..=count}`.
pub async fn emit_ticks(db: &TestDb, count: i64) {
    sqlx::query(
        "SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', g)))
           FROM generate_series(1, $1::bigint) g",
    )
    .bind(count)
    .execute(&db.pool)
    .await
    .expect("emit");
}

pub async fn count_state(db: &TestDb, endpoint: &str, state: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE endpoint_id = $1 AND state = $2")
        .bind(endpoint)
        .bind(state)
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

pub async fn wait_state(db: &TestDb, endpoint: &str, state: &str, count: i64) {
    wait_until(
        &format!("{count} deliveries to {endpoint} {state}"),
        DEADLINE,
        || async { (count_state(db, endpoint, state).await == count).then_some(()) },
    )
    .await;
}

fn tick(received: &crate::support::receiver::Received) -> i64 {
    received.body["data"]["n"].as_i64().expect("tick number")
}

/// 1,000 events to one endpoint that fails every third request arrive in
/// order, each exactly once, with the failures in the attempt log.
#[actix_rt::test]
async fn thousand_events_in_order_exactly_once_despite_failures() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|n, _| Reply::Status(if n % 3 == 2 { 500 } else { 204 }));
    let daemon = start(
        &db,
        "one",
        vec![endpoint("flaky", receiver.url("/flaky"))],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 1000).await;
    wait_state(&db, "flaky", "delivered", 1000).await;

    let accepted = receiver.accepted("/flaky");
    let ticks: Vec<i64> = accepted.iter().map(tick).collect();
    assert_eq!(ticks, (1..=1000).collect::<Vec<_>>(), "in order, each once");
    let mut ids: Vec<_> = accepted
        .iter()
        .map(|r| r.webhook_id.clone().expect("webhook-id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    assert!(accepted.iter().all(
        |r| r.signature.as_deref().is_some_and(|s| s.starts_with("v1,")) && r.timestamp.is_some()
    ));

    let refused = receiver
        .received()
        .iter()
        .filter(|r| r.answered == Some(500))
        .count() as i64;
    let failed_attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM herald_delivery_attempt WHERE endpoint_id = 'flaky' AND status = 'failed' AND http_status = 500",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempts");
    assert!(refused >= 333, "every third request failed: {refused}");
    assert_eq!(
        failed_attempts, refused,
        "each failure is in the attempt log"
    );
    daemon.stop().await;
    receiver.stop().await;
}

/// Events a host emitted before herald ever started (no replica's config
/// known yet) reach the config endpoints once the first replica registers
/// its config: in order, each once — a second replica starting fans out
/// nothing again. Before, they got no outbox row and were never sent.
#[actix_rt::test]
async fn events_emitted_before_the_first_start_are_delivered_after_it() {
    let db = TestDb::new().await;
    emit_ticks(&db, 3).await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let endpoints = vec![endpoint("ops", receiver.url("/ops"))];
    let a = start(&db, "node-a", endpoints.clone(), fast_delivery()).await;
    wait_state(&db, "ops", "delivered", 3).await;
    let b = start(&db, "node-b", endpoints, fast_delivery()).await;
    emit_ticks(&db, 1).await;
    wait_state(&db, "ops", "delivered", 4).await;
    let ticks: Vec<i64> = receiver.accepted("/ops").iter().map(tick).collect();
    assert_eq!(ticks, vec![1, 2, 3, 1], "in order, each once");
    let remembered: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_unrouted_event")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(remembered, 0);
    a.stop().await;
    b.stop().await;
    receiver.stop().await;
}

/// Woken during a long backoff (every new event notifies), a strict
/// endpoint looks at the head of its queue only — no batch of pending rows
/// with their payloads to learn that nothing is due. Measured in rows of
/// `herald_event` PostgreSQL fetched (each batch read joins the payloads).
#[actix_rt::test]
async fn a_wake_during_a_backoff_reads_only_the_head() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(500));
    let mut config = fast_delivery();
    config.retry.base = Duration::from_secs(600);
    config.retry.cap = Duration::from_secs(600);
    config.lease_ttl = Duration::from_secs(20);
    let daemon = start(
        &db,
        "one",
        vec![endpoint("backoff", receiver.url("/backoff"))],
        config,
    )
    .await;
    emit_ticks(&db, 1).await;
    wait_until("the first attempt failed", DEADLINE, || async {
        let attempts: i32 = sqlx::query_scalar(
            "SELECT attempts FROM herald_delivery WHERE endpoint_id = 'backoff'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("attempts");
        (attempts == 1).then_some(())
    })
    .await;
    let before = settled_event_fetches(&db).await;
    for _ in 0..50 {
        emit_ticks(&db, 1).await;
    }
    let after = settled_event_fetches(&db).await;
    // One fetch per emit is its outbox row's foreign key check; 50 wakes
    // reading batches of up to 51 rows would fetch ~1,300 more.
    assert!(
        after - before <= 60,
        "{} event rows fetched for 50 wakes",
        after - before
    );
    assert_eq!(receiver.received().len(), 1, "nothing was due");
    daemon.stop().await;
    receiver.stop().await;
}

/// Rows of `herald_event` fetched so far, once PostgreSQL has published
/// every backend's statistics (asynchronously: a backend that goes idle
/// publishes up to 10 s later), i.e. the reading has not moved for 11 s —
/// or after 40 s, if something keeps reading.
async fn settled_event_fetches(db: &TestDb) -> i64 {
    let read = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT (COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0))::bigint
               FROM pg_stat_user_tables WHERE relname = 'herald_event'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("statistics")
    };
    let started = std::time::Instant::now();
    let mut last = read().await;
    let mut since = std::time::Instant::now();
    while since.elapsed() < Duration::from_secs(11) && started.elapsed() < Duration::from_secs(40) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = read().await;
        if now != last {
            last = now;
            since = std::time::Instant::now();
        }
    }
    last
}

/// Retry-After, timeouts, a receiver that never answers, a 10 MB response
/// and a refused connection each end in the right state, and none of them
/// holds up a healthy endpoint.
#[actix_rt::test]
async fn failure_modes_end_right_without_blocking_others() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|n, path| match path {
        "/retry-after" if n == 0 => Reply::RetryAfter(429, "1".into()),
        "/slow" => Reply::Delay(Duration::from_secs(3), 200),
        "/never" => Reply::Never,
        "/huge" => Reply::HugeBody(10 * 1024 * 1024),
        "/nul" => Reply::Body(200, b"ok\0\0hostile".to_vec()),
        _ => Reply::Status(200),
    });
    let refused = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/refused", listener.local_addr().expect("addr"))
    };
    let mut config = fast_delivery();
    config.retry.max_attempts = 2;
    config.request_timeout = Duration::from_millis(800);
    config.lease_ttl = Duration::from_secs(2);
    let endpoints = vec![
        endpoint("healthy", receiver.url("/healthy")),
        endpoint("retry-after", receiver.url("/retry-after")),
        endpoint("slow", receiver.url("/slow")),
        endpoint("never", receiver.url("/never")),
        endpoint("huge", receiver.url("/huge")),
        endpoint("nul", receiver.url("/nul")),
        endpoint("refused", refused),
    ];
    let daemon = start(&db, "one", endpoints, config).await;
    emit_ticks(&db, 3).await;

    // The healthy endpoint is done while the hung ones are still trying.
    wait_state(&db, "healthy", "delivered", 3).await;
    assert_eq!(
        count_state(&db, "never", "failed").await,
        0,
        "never-answering endpoint still in progress"
    );

    wait_state(&db, "retry-after", "delivered", 3).await;
    let retry = receiver.received();
    let retry: Vec<_> = retry.iter().filter(|r| r.path == "/retry-after").collect();
    assert!(
        retry[1].at.duration_since(retry[0].at) >= Duration::from_millis(950),
        "Retry-After honoured"
    );

    wait_state(&db, "huge", "delivered", 3).await;
    // NUL bytes in a response cannot wedge the endpoint's attempt log.
    wait_state(&db, "nul", "delivered", 3).await;
    let excerpt: Option<String> = sqlx::query_scalar(
        "SELECT response_excerpt FROM herald_delivery_attempt WHERE endpoint_id = 'huge' LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempt");
    assert!(
        excerpt.expect("excerpt").len() <= 1024,
        "only the start of a 10 MB body is kept"
    );

    for (endpoint, error) in [
        ("slow", "timed out"),
        ("never", "timed out"),
        ("refused", "connect"),
    ] {
        wait_state(&db, endpoint, "failed", 3).await;
        let errors: Vec<Option<String>> =
            sqlx::query_scalar("SELECT error FROM herald_delivery_attempt WHERE endpoint_id = $1")
                .bind(endpoint)
                .fetch_all(&db.pool)
                .await
                .expect("attempts");
        assert_eq!(errors.len(), 6, "{endpoint}: two attempts per delivery");
        assert!(
            errors
                .iter()
                .all(|e| e.as_deref().is_some_and(|e| e.contains(error))),
            "{endpoint}: {errors:?}"
        );
    }
    daemon.stop().await;
    receiver.stop().await;
}

/// Repeated failures disable the endpoint; re-enabling resumes its queue,
/// and a replayed failed delivery then succeeds.
#[actix_rt::test]
async fn failing_endpoint_is_disabled_reenabled_and_replayed() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(500));
    let mut config = fast_delivery();
    config.retry.max_attempts = 1;
    config.disable_after = 2;
    let daemon = start(
        &db,
        "one",
        vec![endpoint("down", receiver.url("/down"))],
        config,
    )
    .await;
    emit_ticks(&db, 3).await;
    wait_state(&db, "down", "failed", 2).await;
    // The health update follows the second failure's record.
    let disabled = wait_until("the endpoint disabled", DEADLINE, || async {
        daemon
            .store
            .endpoint_disabled("down")
            .await
            .expect("health")
    })
    .await;
    assert!(disabled.contains("consecutive"));
    assert_eq!(
        count_state(&db, "down", "pending").await,
        1,
        "the third waits"
    );

    receiver.set(|_, _| Reply::Status(200));
    daemon
        .store
        .set_endpoint_enabled("down", true)
        .await
        .expect("enable");
    wait_state(&db, "down", "delivered", 1).await;

    let failed: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM herald_delivery WHERE endpoint_id = 'down' AND state = 'failed' ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("failed");
    assert_eq!(
        daemon
            .store
            .replay_delivery(failed[0], "test")
            .await
            .expect("replay")
            .as_deref(),
        Some("down")
    );
    assert_eq!(
        daemon
            .store
            .replay_delivery(-1, "test")
            .await
            .expect("replay"),
        None
    );
    wait_state(&db, "down", "delivered", 2).await;
    let attempts: i64 =
        sqlx::query_scalar("SELECT count(*) FROM herald_delivery_attempt WHERE delivery_id = $1")
            .bind(failed[0])
            .fetch_one(&db.pool)
            .await
            .expect("attempts");
    assert_eq!(
        attempts, 2,
        "the failure and the replay are both in the log"
    );
    daemon.stop().await;
    receiver.stop().await;
}

/// Two herald instances on one database deliver every event exactly once
/// while both run.
#[actix_rt::test]
async fn two_instances_deliver_each_event_once() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(200));
    let endpoints: Vec<Endpoint> = (0..4)
        .map(|i| endpoint(&format!("e{i}"), receiver.url(&format!("/e{i}"))))
        .collect();
    let a = start(&db, "node-a", endpoints.clone(), fast_delivery()).await;
    let b = start(&db, "node-b", endpoints, fast_delivery()).await;
    for _ in 0..5 {
        emit_ticks(&db, 60).await;
    }
    for i in 0..4 {
        wait_state(&db, &format!("e{i}"), "delivered", 300).await;
    }
    for i in 0..4 {
        let accepted = receiver.accepted(&format!("/e{i}"));
        let mut ids: Vec<String> = accepted
            .iter()
            .filter_map(|r| r.webhook_id.clone())
            .collect();
        assert_eq!(ids.len(), 300, "e{i}: no duplicates");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 300, "e{i}: every event");
    }
    a.stop().await;
    b.stop().await;
    receiver.stop().await;
}

/// An instance that dies mid-stream (its actor system dropped without any
/// cleanup, leases held) is taken over by the other after the lease
/// expires; nothing is lost and at most the in-flight message per endpoint
/// is sent twice.
#[actix_rt::test]
async fn a_dead_instance_is_taken_over_after_its_lease_expires() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Delay(Duration::from_millis(5), 200));
    let endpoints: Vec<Endpoint> = (0..2)
        .map(|i| endpoint(&format!("e{i}"), receiver.url(&format!("/e{i}"))))
        .collect();

    // Instance A in its own thread and actix system, so it can die abruptly.
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let options = db.options.clone();
    let a_endpoints = endpoints.clone();
    let a = std::thread::spawn(move || {
        let system = actix::System::new();
        system.block_on(async move {
            let daemon = Daemon::start(
                options,
                DaemonConfig {
                    node_id: "node-a".into(),
                    endpoints: a_endpoints,
                    delivery: fast_delivery(),
                    ..DaemonConfig::default()
                },
            )
            .await
            .expect("A starts");
            ready_tx.send(()).expect("ready");
            while killed.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Dropped, not stopped: leases stay held, connections just vanish.
            std::mem::forget(daemon);
        });
        // The system and its runtime are dropped here without cleanup.
    });
    ready_rx.recv().expect("A ready");
    emit_ticks(&db, 400).await;
    wait_until(
        "A holds both leases and is delivering",
        DEADLINE,
        || async {
            let held: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM herald_endpoint_lease WHERE owner = 'node-a'",
            )
            .fetch_one(&db.pool)
            .await
            .ok()?;
            (held == 2 && receiver.received().len() >= 40).then_some(())
        },
    )
    .await;
    let b = start(&db, "node-b", endpoints, fast_delivery()).await;
    kill.send(()).expect("kill A");
    a.join().expect("A's thread ends");
    let delivered_by_a = receiver.received().len();
    assert!(
        delivered_by_a < 800,
        "A died mid-stream ({delivered_by_a} sent)"
    );

    for i in 0..2 {
        wait_state(&db, &format!("e{i}"), "delivered", 400).await;
    }
    let owners: Vec<String> = sqlx::query_scalar("SELECT owner FROM herald_endpoint_lease")
        .fetch_all(&db.pool)
        .await
        .expect("leases");
    assert_eq!(
        owners,
        vec!["node-b".to_string(), "node-b".into()],
        "B took over"
    );
    for i in 0..2 {
        let accepted = receiver.accepted(&format!("/e{i}"));
        let mut ids: Vec<String> = accepted
            .iter()
            .filter_map(|r| r.webhook_id.clone())
            .collect();
        let sent = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 400, "e{i}: nothing lost");
        assert!(
            sent - ids.len() <= 1,
            "e{i}: at most the in-flight message twice ({} extra)",
            sent - ids.len()
        );
        let ticks: Vec<i64> = accepted.iter().map(tick).collect();
        let mut sorted = ticks.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 400);
    }
    b.stop().await;
    receiver.stop().await;
}

/// Three replicas and nine endpoints: once they see each other, no replica
/// holds more than its fair share (three) of the leases.
#[actix_rt::test]
async fn leases_balance_across_live_replicas() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let endpoints: Vec<Endpoint> = (0..9)
        .map(|i| endpoint(&format!("b{i}"), receiver.url(&format!("/b{i}"))))
        .collect();
    // A delivery that waited a whole lease TTL is taken beyond the share
    // (nobody else is taking it): a TTL a loaded machine cannot reach keeps
    // that rescue out of this test.
    let config = DeliveryConfig {
        lease_ttl: Duration::from_secs(10),
        ..fast_delivery()
    };
    let mut replicas = Vec::new();
    for node in ["node-a", "node-b", "node-c"] {
        replicas.push(start(&db, node, endpoints.clone(), config.clone()).await);
    }
    wait_until("every replica sees three live", DEADLINE, || async {
        replicas
            .iter()
            .all(|r| r.metrics.replicas_live.get() == 3)
            .then_some(())
    })
    .await;
    emit_ticks(&db, 20).await;
    for i in 0..9 {
        wait_state(&db, &format!("b{i}"), "delivered", 20).await;
    }
    let held: Vec<(String, i64)> = sqlx::query_as(
        "SELECT owner, count(*) FROM herald_endpoint_lease
          WHERE expires_at > now() GROUP BY owner ORDER BY owner",
    )
    .fetch_all(&db.pool)
    .await
    .expect("leases");
    assert!(
        held.iter().all(|(_, n)| *n <= 3),
        "at most a fair share each: {held:?}"
    );
    for replica in replicas {
        replica.stop().await;
    }
    receiver.stop().await;
}

/// A replica that does not own an endpoint remembers until when the
/// owner's lease runs, instead of trying to take it at every notification.
#[actix_rt::test]
async fn non_owners_do_not_try_the_lease_at_every_notification() {
    let (logs, _guard) = crate::support::logs::LogCapture::install();
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let mut config = fast_delivery();
    config.lease_ttl = Duration::from_secs(30);
    let endpoints = vec![endpoint("one", receiver.url("/one"))];
    let a = start(&db, "node-a", endpoints.clone(), config.clone()).await;
    let b = start(&db, "node-b", endpoints, config).await;
    for n in 0..50 {
        sqlx::query("SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', $1::int)))")
            .bind(n)
            .execute(&db.pool)
            .await
            .expect("emit");
    }
    wait_state(&db, "one", "delivered", 50).await;
    let busy = logs.count("lease.busy", &[]);
    assert!(
        busy <= 3,
        "{busy} lease attempts by the non-owner for 50 notifications"
    );
    a.stop().await;
    b.stop().await;
    receiver.stop().await;
}

/// `ordering: none, concurrency: 4`: four requests are in flight at once
/// (the receiver holds every request until four have arrived), and every
/// event is delivered exactly once.
#[actix_rt::test]
async fn an_unordered_endpoint_sends_concurrently_and_each_event_once() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let db = TestDb::new().await;
    let open = Arc::new(AtomicBool::new(false));
    let gate = open.clone();
    let receiver = Receiver::start(move |_, _| Reply::Gate(gate.clone(), 204));
    let mut unordered = endpoint("fast", receiver.url("/fast"));
    unordered.ordering = herald::endpoint::Ordering::Unordered { concurrency: 4 };
    let daemon = start(&db, "one", vec![unordered], fast_delivery()).await;
    emit_ticks(&db, 40).await;
    wait_until("four requests in flight at once", DEADLINE, || async {
        (receiver.received().len() >= 4).then_some(())
    })
    .await;
    assert_eq!(receiver.received().len(), 4, "no more than the concurrency");
    open.store(true, Ordering::Release);
    wait_state(&db, "fast", "delivered", 40).await;
    let received = receiver.received();
    let mut ids: Vec<_> = received.iter().map(|r| r.webhook_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (received.len(), ids.len()),
        (40, 40),
        "each event exactly once"
    );
    daemon.stop().await;
    receiver.stop().await;
}

/// An endpoint's own retry schedule replaces the global policy: `[200ms,
/// 700ms]` is three attempts, each after its delay; the endpoint beside
/// it keeps the global five attempts.
#[actix_rt::test]
async fn an_endpoints_retry_schedule_replaces_the_global_one() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(500));
    let scheduled = Endpoint {
        retry: herald::delivery::RetryOverride {
            schedule: Some(vec![Duration::from_millis(200), Duration::from_millis(700)]),
            ..Default::default()
        },
        ..endpoint("scheduled", receiver.url("/scheduled"))
    };
    let global = endpoint("global", receiver.url("/global"));
    let daemon = start(&db, "one", vec![scheduled, global], fast_delivery()).await;
    emit_ticks(&db, 1).await;
    wait_state(&db, "scheduled", "failed", 1).await;
    wait_state(&db, "global", "failed", 1).await;
    let times = |endpoint: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, f64>(
                "SELECT extract(epoch FROM created_at)::float8 FROM herald_delivery_attempt
                  WHERE endpoint_id = $1 ORDER BY attempt",
            )
            .bind(endpoint)
            .fetch_all(&pool)
            .await
            .expect("attempts")
        }
    };
    let scheduled = times("scheduled").await;
    assert_eq!(scheduled.len(), 3, "two delays: three attempts");
    assert!(scheduled[1] - scheduled[0] >= 0.2, "{scheduled:?}");
    assert!(scheduled[2] - scheduled[1] >= 0.7, "{scheduled:?}");
    assert_eq!(
        times("global").await.len(),
        5,
        "the global policy's attempts"
    );
    daemon.stop().await;
    receiver.stop().await;
}

/// Custom headers arrive with every request — one from a secret masked in
/// the attempt log — and none can replace herald's own: a header named
/// `webhook-signature` (which the config refuses; here set directly) is
/// dropped, and the signature still verifies.
#[actix_rt::test]
async fn custom_headers_arrive_and_never_replace_the_signature() {
    use herald::endpoint::CustomHeader;
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let header = |name: &str, value: &str, secret: bool| CustomHeader {
        name: name.into(),
        value: Secret::new(value),
        secret,
    };
    let hook = Endpoint {
        headers: vec![
            header("x-team", "payments", false),
            header("x-gateway-auth", "gw-secret-value", true),
            header("webhook-signature", "v1,forged", false),
        ],
        ..endpoint("hook", receiver.url("/hook"))
    };
    let daemon = start(&db, "one", vec![hook], fast_delivery()).await;
    emit_ticks(&db, 1).await;
    wait_state(&db, "hook", "delivered", 1).await;
    let got = receiver.accepted("/hook").remove(0);
    let value = |name: &str| {
        got.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(value("x-team"), ["payments"]);
    assert_eq!(value("x-gateway-auth"), ["gw-secret-value"]);
    let signatures = value("webhook-signature");
    assert_eq!(signatures.len(), 1, "{signatures:?}");
    assert!(!signatures[0].contains("forged"), "{signatures:?}");
    herald::signing::verify(
        &Secret::new(SECRET),
        got.webhook_id.as_deref().unwrap_or_default(),
        got.timestamp.as_deref().unwrap_or_default(),
        &signatures[0],
        &got.raw,
        chrono::Utc::now(),
        chrono::Duration::minutes(5),
    )
    .expect("herald's signature verifies");
    let kept: String = sqlx::query_scalar(
        "SELECT request_headers::text FROM herald_delivery_attempt WHERE endpoint_id = 'hook'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempt");
    assert!(kept.contains("payments"), "{kept}");
    assert!(
        !kept.contains("gw-secret-value") && kept.contains("x-gateway-auth"),
        "{kept}"
    );
    daemon.stop().await;
    receiver.stop().await;
}

/// An endpoint limited to 5 requests a second (burst 1) across two
/// replicas and a takeover (the first owner stops mid-way): every message
/// once and in order, and in no window of `t` seconds more than
/// `burst + 5 t` requests — the new owner starts with an empty bucket.
#[actix_rt::test]
async fn a_rate_limit_holds_across_replicas_and_a_takeover() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let limited = Endpoint {
        rate_limit: Some(herald::delivery::pace::RateLimit {
            per_second: 5.0,
            burst: 1,
        }),
        ..endpoint("limited", receiver.url("/limited"))
    };
    let a = start(&db, "a", vec![limited.clone()], fast_delivery()).await;
    emit_ticks(&db, 12).await;
    wait_state(&db, "limited", "delivered", 4).await;
    let b = start(&db, "b", vec![limited], fast_delivery()).await;
    a.stop().await;
    wait_state(&db, "limited", "delivered", 12).await;
    let got = receiver.accepted("/limited");
    let ticks: Vec<i64> = got.iter().map(tick).collect();
    assert_eq!(ticks, (1..=12).collect::<Vec<_>>(), "each once, in order");
    let owners: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT owner FROM herald_endpoint_lease")
            .fetch_all(&db.pool)
            .await
            .expect("owner");
    assert_eq!(owners, ["b"], "taken over");
    let at: Vec<f64> = got
        .iter()
        .map(|r| r.at.duration_since(got[0].at).as_secs_f64())
        .collect();
    for i in 0..at.len() {
        for j in i + 1..at.len() {
            let window = at[j] - at[i];
            let sent = (j - i + 1) as f64;
            // burst + rate × t, plus one for timing arrivals at the
            // receiver rather than departures.
            assert!(
                sent <= 1.0 + 5.0 * window + 1.0,
                "{sent} requests within {window:.3}s: {at:?}"
            );
        }
    }
    assert!(
        at[11] >= 11.0 / 5.0 * 0.9,
        "12 requests at 5/s span about 2.2 s: {at:?}"
    );
    b.stop().await;
    receiver.stop().await;
}

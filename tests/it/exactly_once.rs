//! Exactly once in ordinary life (issue 21): a hostile reply, a record
//! that fails, a graceful stop, a replica joining under load and a hung
//! database connection neither duplicate nor lose a message.

use std::collections::HashMap;
use std::time::Duration;

use herald::endpoint::{Endpoint, Platform};

use crate::delivery::{emit_ticks, endpoint, fast_delivery, start, wait_state};
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::TestDb;

/// How many times each `webhook-id` arrived, for the ones that arrived
/// more than once.
fn duplicates(received: &[Received]) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in received
        .iter()
        .filter(|r| r.answered.is_some_and(|s| s < 300))
    {
        *seen
            .entry(r.webhook_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    seen.retain(|_, n| *n > 1);
    seen
}

fn feishu(id: &str, url: String) -> Endpoint {
    Endpoint {
        platform: Platform::Feishu,
        secret: None,
        ..endpoint(id, url)
    }
}

/// A Feishu-style receiver answering `200 {"code":1,"msg":"bad\u0000x"}`
/// beside six generic endpoints: the NUL cannot reach PostgreSQL, so no
/// record batch fails, every generic delivery arrives exactly once, and
/// the Feishu deliveries' attempts are recorded and follow the schedule
/// (each fails after its last attempt, and 20 failures disable the endpoint).
#[actix_rt::test]
async fn a_nul_in_a_platform_reply_duplicates_nothing() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, path| {
        if path == "/feishu" {
            Reply::Body(200, br#"{"code":1,"msg":"bad\u0000x"}"#.to_vec())
        } else {
            Reply::Status(204)
        }
    });
    let mut endpoints: Vec<Endpoint> = (0..6)
        .map(|i| endpoint(&format!("g{i}"), receiver.url(&format!("/g{i}"))))
        .collect();
    endpoints.push(feishu("feishu", receiver.url("/feishu")));
    let delivery = fast_delivery();
    let max_attempts = delivery.retry.max_attempts as i64;
    let daemon = start(&db, "one", endpoints, delivery).await;
    emit_ticks(&db, 30).await;
    for i in 0..6 {
        wait_state(&db, &format!("g{i}"), "delivered", 30).await;
    }
    // 20 failed deliveries in a row disable the endpoint (the default
    // `disable_after`); its other 10 wait.
    wait_state(&db, "feishu", "failed", 20).await;
    crate::support::wait_until("feishu disabled", Duration::from_secs(30), || async {
        let disabled: Option<bool> = sqlx::query_scalar(
            "SELECT disabled_at IS NOT NULL FROM herald_endpoint_health WHERE endpoint_id = 'feishu'",
        )
        .fetch_optional(&db.pool)
        .await
        .expect("health");
        disabled.unwrap_or(false).then_some(())
    })
    .await;

    for i in 0..6 {
        let got = receiver.accepted(&format!("/g{i}"));
        assert_eq!(got.len(), 30, "g{i}: each event once");
        assert!(duplicates(&got).is_empty(), "g{i}: {:?}", duplicates(&got));
    }
    let (attempts, with_text): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE error LIKE '%bad' || chr(65533) || 'x%')
           FROM herald_delivery_attempt WHERE endpoint_id = 'feishu'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempts");
    assert_eq!(attempts, 20 * max_attempts, "every attempt recorded");
    assert_eq!(with_text, attempts, "the platform's text, NUL replaced");
    let sent = receiver
        .received()
        .iter()
        .filter(|r| r.path == "/feishu")
        .count() as i64;
    assert_eq!(sent, attempts, "one request per recorded attempt");
    daemon.stop().await;
    receiver.stop().await;
}

/// The record statement fails once (a fault injected in the database):
/// the record is written again and the receiver gets each message once.
#[actix_rt::test]
async fn a_record_that_fails_is_written_again_not_resent() {
    let db = TestDb::new().await;
    sqlx::raw_sql(
        "CREATE SEQUENCE fault_seq;
         CREATE FUNCTION fail_first_record() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('fault_seq') = 1 THEN
                 RAISE EXCEPTION 'injected fault: the first record fails';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER fail_first_record BEFORE INSERT ON herald_delivery_attempt
             FOR EACH ROW EXECUTE FUNCTION fail_first_record();",
    )
    .execute(&db.pool)
    .await
    .expect("fault");
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let daemon = start(
        &db,
        "one",
        vec![endpoint("once", receiver.url("/once"))],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 3).await;
    wait_state(&db, "once", "delivered", 3).await;
    let fired: i64 = sqlx::query_scalar("SELECT last_value FROM fault_seq")
        .fetch_one(&db.pool)
        .await
        .expect("fault count");
    assert!(fired >= 4, "the fault fired ({fired})");
    let got = receiver.accepted("/once");
    assert_eq!(got.len(), 3, "each message once: {got:?}");
    assert!(duplicates(&got).is_empty());
    daemon.stop().await;
    receiver.stop().await;
}

/// Each path's ticks as received (2xx only).
fn ticks(receiver: &Receiver, path: &str) -> Vec<i64> {
    receiver
        .accepted(path)
        .iter()
        .map(|r| r.body["data"]["n"].as_i64().expect("tick"))
        .collect()
}

/// Leases held right now, per owner (database clock).
async fn leases_by_owner(db: &TestDb) -> HashMap<String, i64> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT owner, count(*) FROM herald_endpoint_lease WHERE expires_at > now() GROUP BY owner",
    )
    .fetch_all(&db.pool)
    .await
    .expect("leases");
    rows.into_iter().collect()
}

async fn delivered(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE state = 'delivered'")
        .fetch_one(&db.pool)
        .await
        .expect("count")
}

/// Two replicas, eight endpoints with a backlog and a receiver that takes
/// 150 ms; the replica holding leases stops gracefully in the middle (what
/// SIGTERM does): its attempts in flight finish and are recorded, its
/// leases are given back at once, the other replica continues — nothing
/// is sent twice, nothing is lost, each endpoint's order holds.
#[actix_rt::test]
async fn a_graceful_stop_duplicates_nothing() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Delay(Duration::from_millis(150), 204));
    let endpoints: Vec<Endpoint> = (0..8)
        .map(|i| endpoint(&format!("e{i}"), receiver.url(&format!("/e{i}"))))
        .collect();
    let config = fast_delivery();
    let first = start(&db, "first", endpoints.clone(), config.clone()).await;
    emit_ticks(&db, 12).await;
    crate::support::wait_until(
        "first holds every lease",
        Duration::from_secs(30),
        || async { (leases_by_owner(&db).await.get("first") == Some(&8)).then_some(()) },
    )
    .await;
    let second = start(&db, "second", endpoints, config).await;
    crate::support::wait_until("deliveries under way", Duration::from_secs(60), || async {
        (delivered(&db).await >= 16).then_some(())
    })
    .await;
    // Stop while attempts are in flight (each takes 150 ms).
    first.stop().await;
    let still_held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM herald_endpoint_lease WHERE owner = 'first' AND expires_at > now()",
    )
    .fetch_one(&db.pool)
    .await
    .expect("leases");
    assert_eq!(still_held, 0, "a graceful stop gives every lease back");
    for i in 0..8 {
        wait_state(&db, &format!("e{i}"), "delivered", 12).await;
    }
    for i in 0..8 {
        let path = format!("/e{i}");
        assert_eq!(
            ticks(&receiver, &path),
            (1..=12).collect::<Vec<_>>(),
            "{path}: each once, in order"
        );
        assert!(duplicates(&receiver.accepted(&path)).is_empty());
    }
    second.stop().await;
    receiver.stop().await;
}

/// Under continuous load (every endpoint busy), a third replica joins:
/// within a few sweeps every replica holds at most its fair share, handed
/// over through draining — no message arrives twice, none is lost, each
/// endpoint's order holds.
#[actix_rt::test]
async fn a_replica_joining_under_load_gets_its_share_and_nothing_is_sent_twice() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Delay(Duration::from_millis(20), 204));
    let endpoints: Vec<Endpoint> = (0..9)
        .map(|i| endpoint(&format!("e{i}"), receiver.url(&format!("/e{i}"))))
        .collect();
    let config = fast_delivery();
    let a = start(&db, "a", endpoints.clone(), config.clone()).await;
    let b = start(&db, "b", endpoints.clone(), config.clone()).await;

    // The load: one tick to every endpoint each 30 ms until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (pool, stop) = (db.pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0i64;
            while !stop.load(std::sync::atomic::Ordering::Acquire) && n < 2000 {
                n += 1;
                sqlx::query("SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', $1::bigint)))")
                    .bind(n)
                    .execute(&pool)
                    .await
                    .expect("emit");
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            n
        })
    };
    crate::support::wait_until(
        "a and b share the endpoints",
        Duration::from_secs(30),
        || async {
            let leases = leases_by_owner(&db).await;
            (leases.get("a") == Some(&5) && leases.get("b") == Some(&4)
                || leases.get("a") == Some(&4) && leases.get("b") == Some(&5))
            .then_some(())
        },
    )
    .await;
    let c = start(&db, "c", endpoints, config).await;
    crate::support::wait_until(
        "every replica at its fair share (3)",
        Duration::from_secs(30),
        || async {
            let leases = leases_by_owner(&db).await;
            (["a", "b", "c"].iter().all(|o| leases.get(*o) == Some(&3))).then_some(())
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let emitted = load.await.expect("load");
    for i in 0..9 {
        wait_state(&db, &format!("e{i}"), "delivered", emitted).await;
    }
    for i in 0..9 {
        let path = format!("/e{i}");
        assert_eq!(
            ticks(&receiver, &path),
            (1..=emitted).collect::<Vec<_>>(),
            "{path}: each once, in order"
        );
    }
    a.stop().await;
    b.stop().await;
    c.stop().await;
    receiver.stop().await;
}

/// A replica's database connections hang without closing (a proxy that
/// stops passing bytes): its leases are no longer renewed, so the other
/// replica takes its endpoints over within about a lease TTL and delivers
/// everything; the hung replica comes back and sends nothing stale.
#[actix_rt::test]
async fn a_hung_database_connection_hands_the_endpoints_over() {
    let db = TestDb::new().await;
    let upstream = tokio::net::lookup_host((db.options.get_host(), db.options.get_port()))
        .await
        .expect("resolve")
        .find(|a| a.is_ipv4())
        .expect("an IPv4 address");
    let proxy = crate::support::tcp_proxy::TcpProxy::start(upstream).await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let endpoints: Vec<Endpoint> = (0..4)
        .map(|i| endpoint(&format!("e{i}"), receiver.url(&format!("/e{i}"))))
        .collect();
    let pool = herald::store::PoolConfig {
        statement_timeout: Duration::from_millis(500),
        ..herald::store::PoolConfig::default()
    };
    let hung = herald::daemon::Daemon::start(
        db.options.clone().host("127.0.0.1").port(proxy.addr.port()),
        herald::daemon::DaemonConfig {
            node_id: "hung".into(),
            endpoints: endpoints.clone(),
            delivery: fast_delivery(),
            pool: pool.clone(),
            ..herald::daemon::DaemonConfig::default()
        },
    )
    .await
    .expect("starts");
    emit_ticks(&db, 5).await;
    for i in 0..4 {
        wait_state(&db, &format!("e{i}"), "delivered", 5).await;
    }
    let healthy = herald::daemon::Daemon::start(
        db.options.clone(),
        herald::daemon::DaemonConfig {
            node_id: "healthy".into(),
            endpoints,
            delivery: fast_delivery(),
            pool,
            ..herald::daemon::DaemonConfig::default()
        },
    )
    .await
    .expect("starts");
    crate::support::wait_until("hung holds a lease", Duration::from_secs(30), || async {
        (leases_by_owner(&db).await.get("hung").copied().unwrap_or(0) > 0).then_some(())
    })
    .await;
    proxy.freeze(true);
    sqlx::query(
        "SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', g)))
           FROM generate_series(6, 15) g",
    )
    .execute(&db.pool)
    .await
    .expect("emit");
    for i in 0..4 {
        wait_state(&db, &format!("e{i}"), "delivered", 15).await;
    }
    assert_eq!(
        leases_by_owner(&db).await.get("healthy"),
        Some(&4),
        "the healthy replica holds every endpoint"
    );
    for i in 0..4 {
        let path = format!("/e{i}");
        let mut got = ticks(&receiver, &path);
        // At most the one message in flight when the connection hung is
        // sent again (its record never reached the database).
        let sent = got.len();
        got.dedup();
        assert!(
            sent - got.len() <= 1,
            "{path}: {sent} sent for {} ticks",
            got.len()
        );
        assert_eq!(
            got,
            (1..=15).collect::<Vec<_>>(),
            "{path}: nothing lost, in order"
        );
    }
    // herald's sessions carry their timeouts.
    let (statement, lock): (String, String) = sqlx::query_as(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')",
    )
    .fetch_one(healthy.store.pool())
    .await
    .expect("settings");
    assert_eq!((statement.as_str(), lock.as_str()), ("500ms", "5s"));
    proxy.freeze(false);
    hung.stop().await;
    healthy.stop().await;
    proxy.stop();
    receiver.stop().await;
}

/// A lease too short for the request timeout is refused at start, saying
/// what to change.
#[actix_rt::test]
async fn a_lease_too_short_for_an_attempt_is_refused_at_start() {
    let db = TestDb::new().await;
    let mut delivery = fast_delivery();
    delivery.request_timeout = Duration::from_secs(1);
    let error = match herald::daemon::Daemon::start(
        db.options.clone(),
        herald::daemon::DaemonConfig {
            node_id: "short".into(),
            delivery,
            ..herald::daemon::DaemonConfig::default()
        },
    )
    .await
    {
        Ok(_) => panic!("a 1 s lease cannot hold a 1 s attempt"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("--lease-ttl 1s is too short for --request-timeout 1s"),
        "{error}"
    );
}

//! Plan supervisors end to end: pipeline rows written with SQL, the real
//! listener and router of `Daemon::start`, claims and outbox rows read back.
//! Includes two replicas racing on one database, and a restart mid-window.

use std::time::Duration;

use chrono::{DateTime, Utc};
use herald::actors::PlanConfig;
use herald::daemon::{Daemon, DaemonConfig};
use herald::messages::{GetPlanStatus, PlanStatus};

use crate::support::pipeline::{
    failed_task_names, plan_deliveries, plan_events, plan_outcomes, seed_plan, set_status,
    start_runs, subscribe_all,
};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(20);

async fn start_daemon(db: &TestDb, node_id: &str, failure_window: Duration) -> Daemon {
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: node_id.into(),
            plans: PlanConfig {
                failure_window,
                idle: Duration::from_secs(600),
            },
            // The subscribed endpoint comes from config (herald mirrors its
            // config into herald_endpoint at start); nothing listens there.
            endpoints: vec![crate::delivery::endpoint(
                "ops",
                "http://127.0.0.1:9/".into(),
            )],
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts");
    wait_until("the listener to connect", DEADLINE, || async {
        (daemon.metrics.listener_connected.get() == 1).then_some(())
    })
    .await;
    daemon
}

async fn status(daemon: &Daemon, plan_id: i64) -> Option<PlanStatus> {
    daemon
        .plans
        .send(GetPlanStatus { plan_id })
        .await
        .expect("registry alive")
}

async fn settled(daemon: &Daemon, plan_id: i64, done: impl Fn(&PlanStatus) -> bool) -> PlanStatus {
    wait_until("the plan supervisor to settle", DEADLINE, || async {
        status(daemon, plan_id)
            .await
            .filter(|s| !s.busy && s.evaluations > 0 && done(s))
    })
    .await
}

async fn wait_events(db: &TestDb, plan_id: i64, count: usize) -> Vec<(String, serde_json::Value)> {
    wait_until("plan events", DEADLINE, || async {
        let events = plan_events(&db.pool, plan_id).await;
        (events.len() >= count).then_some(events)
    })
    .await
}

/// Through the listener: 10 tasks, 3 failures in one window → one event
/// listing the 3; a 4th failure after it → nothing: a failure after the
/// generation's PIPELINE_FAILED was claimed is not reported (the rule, in
/// `outcome.rs`; a retry — a new run — starts the next generation).
#[actix_rt::test]
async fn listener_driven_window_sends_one_failure_event() {
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let daemon = start_daemon(&db, "node-a", Duration::from_millis(300)).await;
    let plan = seed_plan(&db.pool, 10).await;
    let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    for run in &runs[..3] {
        set_status(&db.pool, *run, "FAILED", Some("syntax error")).await;
    }
    let events = wait_events(&db, plan.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_FAILED");
    assert_eq!(
        failed_task_names(&events[0].1),
        vec!["task-1", "task-2", "task-3"]
    );
    assert_eq!(plan_deliveries(&db.pool, plan.plan_id).await, 1);

    set_status(&db.pool, runs[3], "FAILED", Some("late")).await;
    settled(&daemon, plan.plan_id, |s| s.failed == 4).await;
    assert_eq!(plan_events(&db.pool, plan.plan_id).await.len(), 1);
    // Counted as herald works (a scrape reads nothing from the database).
    let emitted = &daemon.metrics.events_emitted;
    assert_eq!(emitted.with_label_values(&["PIPELINE_FAILED"]).get(), 1);
    assert_eq!(emitted.with_label_values(&["PIPELINE_COMPLETED"]).get(), 0);
    daemon.stop().await;
}

/// A retry whose run ids were drawn before a later single retry's, but
/// committed after that retry's generation was claimed (a multi-row insert
/// takes its ids first and its locks at the end of its statement): its
/// runs still start a new generation, whose outcome is sent. With run ids
/// as the boundary they fell below it and were never reported.
#[actix_rt::test]
async fn a_retry_committed_after_a_later_retry_still_starts_a_generation() {
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let daemon = start_daemon(&db, "node-a", Duration::from_secs(3600)).await;
    let plan = seed_plan(&db.pool, 2).await;
    for run in start_runs(&db.pool, &plan.tasks, "RUNNING").await {
        set_status(&db.pool, run, "DONE", None).await;
    }
    wait_events(&db, plan.plan_id, 1).await;
    settled(&daemon, plan.plan_id, |s| s.claimed_generation == 1).await;

    // The slow retry draws its ids now and inserts them later.
    let mut slow = db.pool.begin().await.expect("begin");
    let reserved: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('task_run', 'id')) FROM generate_series(1, 2)",
    )
    .fetch_all(&mut *slow)
    .await
    .expect("reserve ids");
    // A later single retry of task 1 commits and ends generation 2.
    let fast = start_runs(&db.pool, &plan.tasks[..1], "RUNNING").await;
    assert!(fast[0] > reserved[1]);
    set_status(&db.pool, fast[0], "DONE", None).await;
    wait_events(&db, plan.plan_id, 2).await;
    settled(&daemon, plan.plan_id, |s| s.claimed_generation == 2).await;

    // Now the slow retry commits (task 2 only: task 1's latest run is the
    // fast one, by id) and finishes.
    sqlx::query("INSERT INTO task_run (id, task_id, status) VALUES ($1, $2, 'RUNNING')")
        .bind(reserved[1])
        .bind(plan.tasks[1])
        .execute(&mut *slow)
        .await
        .expect("slow retry");
    slow.commit().await.expect("commit the slow retry");
    settled(&daemon, plan.plan_id, |s| s.generation == Some(3)).await;
    set_status(&db.pool, reserved[1], "DONE", None).await;
    let events = wait_events(&db, plan.plan_id, 3).await;
    let generations: Vec<_> = events
        .iter()
        .map(|(kind, payload)| (kind.as_str(), payload["data"]["generation"].as_i64()))
        .collect();
    assert_eq!(
        generations,
        vec![
            ("PIPELINE_COMPLETED", Some(1)),
            ("PIPELINE_COMPLETED", Some(2)),
            ("PIPELINE_COMPLETED", Some(3)),
        ]
    );
    daemon.stop().await;
}

/// Two herald instances on one database and one notification stream: each
/// outcome is claimed and sent once. The race is repeated on 50 plans at once.
#[actix_rt::test]
async fn two_replicas_send_each_outcome_once() {
    const PLANS: usize = 50;
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let window = Duration::from_millis(300);
    let a = start_daemon(&db, "node-a", window).await;
    let b = start_daemon(&db, "node-b", window).await;

    let mut plans = Vec::with_capacity(PLANS);
    for _ in 0..PLANS {
        let plan = seed_plan(&db.pool, 3).await;
        let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
        plans.push((plan, runs));
    }
    for (i, (_, runs)) in plans.iter().enumerate() {
        // Even plans complete; odd plans end failed (all terminal at once).
        let first = if i % 2 == 0 { "DONE" } else { "FAILED" };
        set_status(&db.pool, runs[0], first, Some("e")).await;
        set_status(&db.pool, runs[1], "DONE", None).await;
        set_status(&db.pool, runs[2], "DONE", None).await;
    }
    wait_until("every outcome claimed", DEADLINE, || async {
        let claimed: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_plan_outcome")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        (claimed as usize >= PLANS).then_some(())
    })
    .await;
    // Both replicas have seen every final state and settled.
    for (plan, _) in &plans {
        for daemon in [&a, &b] {
            settled(daemon, plan.plan_id, |s| {
                s.terminal == 3 && s.claimed_generation == 1
            })
            .await;
        }
    }
    for (i, (plan, _)) in plans.iter().enumerate() {
        let events = plan_events(&db.pool, plan.plan_id).await;
        let expected = if i % 2 == 0 {
            "PIPELINE_COMPLETED"
        } else {
            "PIPELINE_FAILED"
        };
        assert_eq!(events.len(), 1, "plan {}: {events:?}", plan.plan_id);
        assert_eq!(events[0].0, expected);
        assert_eq!(plan_deliveries(&db.pool, plan.plan_id).await, 1);
        assert_eq!(plan_outcomes(&db.pool, plan.plan_id).await.len(), 1);
    }
    let claimed = |d: &Daemon| {
        d.metrics
            .plan_outcomes
            .with_label_values(&["claimed"])
            .get()
    };
    assert_eq!(claimed(&a) + claimed(&b), PLANS as u64);
    a.stop().await;
    b.stop().await;
}

/// herald stopped mid-window and started again: the new supervisor re-arms
/// the window at first_failure + window (from the database) and it fires
/// once, with the failures from before and during the downtime.
#[actix_rt::test]
async fn restart_mid_window_fires_once_at_the_same_deadline() {
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let window = Duration::from_secs(3);
    let first = start_daemon(&db, "node-a", window).await;
    let plan = seed_plan(&db.pool, 5).await;
    let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    set_status(&db.pool, runs[0], "FAILED", Some("one")).await;
    let armed = settled(&first, plan.plan_id, |s| s.window_deadline.is_some()).await;
    first.stop().await;

    // Down: another failure lands meanwhile.
    set_status(&db.pool, runs[1], "FAILED", Some("two")).await;
    let expected: DateTime<Utc> = sqlx::query_scalar(
        "SELECT min(updated_at) + interval '3 seconds' FROM task_run WHERE id = $1",
    )
    .bind(runs[0])
    .fetch_one(&db.pool)
    .await
    .expect("deadline");
    assert_eq!(armed.window_deadline, Some(expected));

    let second = start_daemon(&db, "node-b", window).await;
    let rearmed = settled(&second, plan.plan_id, |s| s.window_deadline.is_some()).await;
    assert_eq!(rearmed.window_deadline, Some(expected));
    assert_eq!(rearmed.failed, 2);

    let events = wait_events(&db, plan.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_FAILED");
    assert_eq!(failed_task_names(&events[0].1), vec!["task-1", "task-2"]);
    let sent_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT created_at FROM herald_event WHERE plan_id = $1")
            .bind(plan.plan_id)
            .fetch_one(&db.pool)
            .await
            .expect("event time");
    assert!(
        sent_at >= expected,
        "sent at {sent_at}, window ends {expected}"
    );
    settled(&second, plan.plan_id, |s| s.claimed_generation == 1).await;
    assert_eq!(plan_events(&db.pool, plan.plan_id).await.len(), 1);
    assert_eq!(
        plan_outcomes(&db.pool, plan.plan_id).await,
        vec![(1, "PIPELINE_FAILED".into(), "node-b".into())]
    );
    second.stop().await;
}

/// herald down past the window's end: on start, reconciliation finds the
/// expired window and the event goes out at once; started again, nothing is
/// re-sent.
#[actix_rt::test]
async fn window_that_ended_while_down_fires_on_start_and_never_again() {
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let window = Duration::from_millis(500);
    let plan = seed_plan(&db.pool, 3).await;
    let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    set_status(&db.pool, runs[0], "FAILED", Some("one")).await;
    wait_until("the window to end in database time", DEADLINE, || async {
        let ended: bool = sqlx::query_scalar(
            "SELECT clock_timestamp() > updated_at + interval '500 milliseconds' FROM task_run WHERE id = $1",
        )
        .bind(runs[0])
        .fetch_one(&db.pool)
        .await
        .expect("clock");
        ended.then_some(())
    })
    .await;

    let daemon = start_daemon(&db, "node-a", window).await;
    let events = wait_events(&db, plan.plan_id, 1).await;
    assert_eq!(failed_task_names(&events[0].1), vec!["task-1"]);
    settled(&daemon, plan.plan_id, |s| s.claimed_generation == 1).await;
    daemon.stop().await;

    let again = start_daemon(&db, "node-b", window).await;
    wait_until("the startup reconcile", DEADLINE, || async {
        (again
            .metrics
            .reconciles
            .with_label_values(&["startup"])
            .get()
            == 1)
            .then_some(())
    })
    .await;
    set_status(&db.pool, runs[1], "DONE", None).await;
    settled(&again, plan.plan_id, |s| s.terminal == 2).await;
    assert_eq!(plan_events(&db.pool, plan.plan_id).await.len(), 1);
    again.stop().await;
}

/// Two host transactions changing runs of one plan never wait on a herald
/// row: status changes only append to `herald_plan_change`. (With a lock on
/// the plan's work row, the second update waited for the first
/// transaction, and crossing updates deadlocked.)
#[actix_rt::test]
async fn status_updates_of_one_plan_never_wait_on_each_other() {
    let db = TestDb::new().await;
    let plan = seed_plan(&db.pool, 2).await;
    let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    let mut first = db.pool.begin().await.expect("begin");
    sqlx::query("UPDATE task_run SET status = 'DONE' WHERE id = $1")
        .bind(runs[0])
        .execute(&mut *first)
        .await
        .expect("first update");
    let mut second = db.pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL lock_timeout = '2s'")
        .execute(&mut *second)
        .await
        .expect("lock timeout");
    sqlx::query("UPDATE task_run SET status = 'FAILED' WHERE id = $1")
        .bind(runs[1])
        .execute(&mut *second)
        .await
        .expect("the second update does not wait for the first transaction");
    second.commit().await.expect("commit the second");
    first.commit().await.expect("commit the first");
    let changes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM herald_plan_change WHERE plan_id = $1")
            .bind(plan.plan_id)
            .fetch_one(&db.pool)
            .await
            .expect("changes");
    assert_eq!(changes, 2, "each change is recorded");
}

/// A `Write` into a shared buffer (the JSON log under test).
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// JSON logs carry typed values: a window's generation is a number (not
/// `"Some(1)"`), its deadline an RFC 3339 time, its origin a plain word.
#[actix_rt::test]
async fn json_logs_carry_numbers_and_rfc3339_times() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone()),
    );
    let _json = tracing::subscriber::set_default(subscriber);
    let db = TestDb::new().await;
    subscribe_all(&db.pool, "ops").await;
    let daemon = start_daemon(&db, "node-a", Duration::from_millis(300)).await;
    let plan = seed_plan(&db.pool, 2).await;
    let runs = start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    set_status(&db.pool, runs[0], "FAILED", Some("syntax error")).await;
    wait_events(&db, plan.plan_id, 1).await;
    daemon.stop().await;
    let text = String::from_utf8_lossy(&buffer.0.lock().expect("buffer")).into_owned();
    let opened: serde_json::Value = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["event"] == "window.opened")
        .unwrap_or_else(|| panic!("no window.opened in {text}"));
    assert!(opened["generation"].is_number(), "{opened}");
    assert!(opened["plan_id"].is_number(), "{opened}");
    assert_eq!(opened["origin"], "message", "{opened}");
    let deadline = opened["deadline"].as_str().expect("deadline");
    assert!(
        DateTime::parse_from_rfc3339(deadline).is_ok(),
        "{deadline} is RFC 3339"
    );
}

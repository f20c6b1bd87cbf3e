//! The listener turns real NOTIFYs into typed messages at the router, skips
//! what it cannot parse, and reconnects (then reconciles) when cut off.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use herald::actors::{Listener, ListenerConfig, Router, RouterTargets};
use herald::messages::{ChangeOp, Reconcile, ReconcileReason, TaskRunChanged};
use herald::metrics::Metrics;
use herald::pipeline::TaskRunStatus;

use crate::support::recorder::{snapshot, Recorder};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(10);

/// A listener wired to a router whose task-run and reconcile targets record.
struct Harness {
    db: TestDb,
    metrics: Arc<Metrics>,
    task_runs: Arc<std::sync::Mutex<Vec<TaskRunChanged>>>,
    reconciles: Arc<std::sync::Mutex<Vec<Reconcile>>>,
    _listener: Addr<Listener>,
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(None, ListenerConfig::default()).await
    }

    /// A harness whose listener connects through `proxy` (if any) with
    /// `config`'s liveness settings.
    async fn start_with(proxy: Option<std::net::SocketAddr>, liveness: ListenerConfig) -> Harness {
        let db = TestDb::new().await;
        let (task_run_recorder, task_runs) = Recorder::<TaskRunChanged>::start();
        let (reconcile_recorder, reconciles) = Recorder::<Reconcile>::start();
        let router = Router::new(RouterTargets {
            task_runs: vec![task_run_recorder.recipient()],
            reconcile: vec![reconcile_recorder.recipient()],
            ..RouterTargets::default()
        })
        .start();
        let metrics = Arc::new(Metrics::new());
        let options = match proxy {
            Some(proxy) => db.options.clone().host("127.0.0.1").port(proxy.port()),
            None => db.options.clone(),
        };
        let listener = Listener::new(
            options,
            ListenerConfig {
                reconnect_initial: Duration::from_millis(20),
                reconnect_max: Duration::from_millis(200),
                ..liveness
            },
            router.clone().recipient(),
            router.recipient(),
            metrics.clone(),
        )
        .start();
        let harness = Harness {
            db,
            metrics,
            task_runs,
            reconciles,
            _listener: listener,
        };
        harness.wait_for_reconciles(1).await;
        harness
    }

    /// After a lost connection: a reconnect, its reconcile request, and
    /// notifications flowing again.
    async fn reconnected_and_flowing(&self) {
        let reconciles = self.wait_for_reconciles(2).await;
        assert_eq!(reconciles[1].reason, ReconcileReason::Reconnected);
        wait_until("listener connected again", DEADLINE, || async {
            (self.metrics.listener_connected.get() == 1).then_some(())
        })
        .await;
        self.a_new_task_run_arrives().await;
    }

    /// A new PENDING task run reaches the router, typed.
    async fn a_new_task_run_arrives(&self) {
        let (plan, task, run) = self.seed_task_run().await;
        self.wait_for_task_run(TaskRunChanged {
            op: ChangeOp::Insert,
            task_run_id: run,
            seq: None,
            task_id: task,
            plan_id: plan,
            status: TaskRunStatus::Pending,
            updated_at: None,
        })
        .await;
    }

    async fn wait_for_reconciles(&self, count: usize) -> Vec<Reconcile> {
        wait_until("reconcile requests", DEADLINE, || async {
            let seen = snapshot(&self.reconciles);
            (seen.len() >= count).then_some(seen)
        })
        .await
    }

    /// Insert a project, plan, task and one PENDING run; returns (plan, task, run) ids.
    async fn seed_task_run(&self) -> (i64, i64, i64) {
        let pool = &self.db.pool;
        let project: i64 = sqlx::query_scalar(
            "INSERT INTO project (resource_id, title) VALUES ('p', 'P') RETURNING id",
        )
        .fetch_one(pool)
        .await
        .expect("project");
        let plan: i64 = sqlx::query_scalar(
            "INSERT INTO plan (project_id, title) VALUES ($1, 'plan') RETURNING id",
        )
        .bind(project)
        .fetch_one(pool)
        .await
        .expect("plan");
        let task: i64 = sqlx::query_scalar(
            "INSERT INTO task (plan_id, name, instance, database_name) VALUES ($1, 't', 'i', 'd') RETURNING id",
        )
        .bind(plan)
        .fetch_one(pool)
        .await
        .expect("task");
        let run: i64 = sqlx::query_scalar(
            "INSERT INTO task_run (task_id, status) VALUES ($1, 'PENDING') RETURNING id",
        )
        .bind(task)
        .fetch_one(pool)
        .await
        .expect("task run");
        (plan, task, run)
    }

    async fn set_status(&self, run: i64, status: &str) {
        sqlx::query("UPDATE task_run SET status = $2, updated_at = now() WHERE id = $1")
            .bind(run)
            .bind(status)
            .execute(&self.db.pool)
            .await
            .expect("update task run");
    }

    /// Wait for `expected`, its `updated_at` being the run's in the database
    /// now (the trigger sends it).
    async fn wait_for_task_run(&self, mut expected: TaskRunChanged) {
        let (updated_at, seq): (chrono::DateTime<chrono::Utc>, Option<i64>) =
            sqlx::query_as("SELECT updated_at, herald_seq FROM task_run WHERE id = $1")
                .bind(expected.task_run_id)
                .fetch_one(&self.db.pool)
                .await
                .expect("the run's updated_at and sequence");
        expected.updated_at = Some(updated_at);
        expected.seq = seq;
        wait_until("the task run message at the router", DEADLINE, || async {
            snapshot(&self.task_runs).contains(&expected).then_some(())
        })
        .await;
    }
}

/// An UPDATE of a task run reaches the router's target as a typed message.
#[actix_rt::test]
async fn task_run_update_reaches_the_router_typed() {
    let harness = Harness::start().await;
    let (plan, task, run) = harness.seed_task_run().await;
    harness.set_status(run, "FAILED").await;
    harness
        .wait_for_task_run(TaskRunChanged {
            op: ChangeOp::Update,
            task_run_id: run,
            seq: None,
            task_id: task,
            plan_id: plan,
            status: TaskRunStatus::Failed,
            updated_at: None,
        })
        .await;
    // The insert came through too, and an update that does not change the
    // status notifies nothing.
    sqlx::query("UPDATE task_run SET error_message = 'x' WHERE id = $1")
        .bind(run)
        .execute(&harness.db.pool)
        .await
        .expect("no-op update");
    harness.set_status(run, "DONE").await;
    harness
        .wait_for_task_run(TaskRunChanged {
            op: ChangeOp::Update,
            task_run_id: run,
            seq: None,
            task_id: task,
            plan_id: plan,
            status: TaskRunStatus::Done,
            updated_at: None,
        })
        .await;
    let statuses: Vec<_> = snapshot(&harness.task_runs)
        .into_iter()
        .map(|m| (m.op, m.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (ChangeOp::Insert, TaskRunStatus::Pending),
            (ChangeOp::Update, TaskRunStatus::Failed),
            (ChangeOp::Update, TaskRunStatus::Done),
        ]
    );
}

/// A malformed payload is counted, logged and skipped; the listener goes on.
#[actix_rt::test]
async fn malformed_notification_is_skipped() {
    let harness = Harness::start().await;
    for payload in [
        "not json at all",
        r#"{"table":"task_run","op":"UPDATE","id":"seven"}"#,
        r#"{"table":"nobody_knows","op":"INSERT","id":1}"#,
    ] {
        sqlx::query("SELECT pg_notify('herald', $1)")
            .bind(payload)
            .execute(&harness.db.pool)
            .await
            .expect("notify");
    }
    wait_until("three malformed notifications", DEADLINE, || async {
        (harness.metrics.notifications_malformed.get() == 3).then_some(())
    })
    .await;
    harness.a_new_task_run_arrives().await;
    assert!(snapshot(&harness.task_runs).len() == 1);
}

/// Killing the listener's backend leads to a reconnect and a reconcile
/// request, and notifications flow again afterwards.
#[actix_rt::test]
async fn terminated_backend_reconnects_and_reconciles() {
    let harness = Harness::start().await;
    assert_eq!(
        harness.wait_for_reconciles(1).await[0].reason,
        ReconcileReason::Startup
    );

    let terminated: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'herald-listener') t",
    )
    .fetch_one(&harness.db.pool)
    .await
    .expect("terminate listener backend");
    assert_eq!(terminated, 1, "exactly one listener backend");

    harness.reconnected_and_flowing().await;
    assert_eq!(harness.metrics.listener_reconnects.get(), 1);
}

/// The listener's connection hangs without closing (a proxy that stops
/// passing bytes): the liveness check finds it dead, the listener
/// reconnects once the network passes bytes again, reconciles, and
/// notifications flow.
#[actix_rt::test]
async fn a_hung_listener_connection_is_found_dead_and_replaced() {
    let upstream = {
        let options = crate::support::db::admin_options();
        tokio::net::lookup_host((options.get_host().to_owned(), options.get_port()))
            .await
            .expect("resolve")
            .find(|a| a.is_ipv4())
            .expect("an IPv4 address")
    };
    let proxy = crate::support::tcp_proxy::TcpProxy::start(upstream).await;
    let harness = Harness::start_with(
        Some(proxy.addr),
        ListenerConfig {
            liveness_interval: Duration::from_millis(200),
            liveness_timeout: Duration::from_millis(300),
            ..ListenerConfig::default()
        },
    )
    .await;
    proxy.freeze(true);
    wait_until("the hung connection found dead", DEADLINE, || async {
        (harness.metrics.listener_connected.get() == 0).then_some(())
    })
    .await;
    proxy.freeze(false);
    harness.reconnected_and_flowing().await;
    proxy.stop();
}

/// Any database role can `NOTIFY herald`: a flood of malformed payloads is
/// counted in full but logged at most once a second.
#[actix_rt::test]
async fn a_flood_of_malformed_notifications_is_counted_not_logged_each() {
    let (logs, _guard) = crate::support::logs::LogCapture::install();
    let harness = Harness::start().await;
    sqlx::query("SELECT pg_notify('herald', 'junk ' || g) FROM generate_series(1, 500) g")
        .execute(&harness.db.pool)
        .await
        .expect("notify");
    wait_until("500 malformed notifications", DEADLINE, || async {
        (harness.metrics.notifications_malformed.get() == 500).then_some(())
    })
    .await;
    let logged = logs.count("notification.malformed", &[]);
    assert!(
        (1..=5).contains(&logged),
        "{logged} lines for 500 notifications"
    );
}

/// A flood of notifications for an actor that is behind: the listener keeps
/// reading at its own pace (so PostgreSQL's shared notification queue,
/// which the host's commits need, never waits on herald), the slow actor's
/// mailbox stays at its bound, the rest is dropped and counted, and one
/// reconciliation request follows to repair what was dropped.
#[actix_rt::test]
async fn a_flood_for_an_actor_that_is_behind_is_dropped_and_reconciled() {
    let db = TestDb::new().await;
    let (slow, seen) = Recorder::<TaskRunChanged>::start_slow(64, Duration::from_millis(5));
    let (reconcile_recorder, reconciles) = Recorder::<Reconcile>::start();
    let metrics = Arc::new(Metrics::new());
    let router = Router::new(RouterTargets {
        task_runs: vec![slow.recipient()],
        reconcile: vec![reconcile_recorder.recipient()],
        ..RouterTargets::default()
    })
    .with_metrics(metrics.clone())
    .start();
    let _listener = Listener::new(
        db.options.clone(),
        ListenerConfig::default(),
        router.clone().recipient(),
        router.recipient(),
        metrics.clone(),
    )
    .start();
    wait_until("the startup reconcile", DEADLINE, || async {
        (!snapshot(&reconciles).is_empty()).then_some(())
    })
    .await;

    const FLOOD: u64 = 20_000;
    sqlx::query(
        "SELECT pg_notify('herald', json_build_object('table', 'task_run', 'op', 'UPDATE',
                'id', g, 'task_id', g, 'plan_id', 1, 'status', 'RUNNING')::text)
           FROM generate_series(1, $1::bigint) g",
    )
    .bind(FLOOD as i64)
    .execute(&db.pool)
    .await
    .expect("flood");
    // At 5 ms a message the slow actor would need 100 s for all of them.
    wait_until("the whole flood read", DEADLINE, || async {
        (metrics.notifications.with_label_values(&["task_run"]).get() == FLOOD).then_some(())
    })
    .await;
    let dropped = metrics
        .notifications_dropped
        .with_label_values(&["task_run"])
        .get();
    let handled = snapshot(&seen).len() as u64;
    assert!(dropped > FLOOD / 2, "{dropped} dropped of {FLOOD}");
    assert!(handled < FLOOD / 2, "{handled} handled of {FLOOD}");
    // Once the slow actor has handled all it queued and the reconcile has
    // come: one request for the whole flood.
    let overflow = wait_until("the overflow reconcile", DEADLINE, || async {
        let overflow = snapshot(&reconciles)
            .into_iter()
            .filter(|r| r.reason == ReconcileReason::Overflow)
            .count();
        let drained = snapshot(&seen).len() as u64 == FLOOD - dropped;
        (overflow > 0 && drained).then_some(overflow)
    })
    .await;
    assert_eq!(overflow, 1, "one reconcile for the whole flood");
}

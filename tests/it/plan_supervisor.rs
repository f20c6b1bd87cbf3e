//! Plan supervisors driven by message injection: pipeline rows are written
//! with SQL, and the task-run messages the listener would produce are sent to
//! the plan registry directly. Assertions read herald's rows (events, outbox,
//! claims) from the real database.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use herald::actors::{PlanConfig, PlanRegistry};
use herald::messages::{
    ChangeOp, GetPlanStatus, InjectPanic, PlanStatus, Reconcile, ReconcileReason, TaskRunChanged,
};
use herald::metrics::Metrics;
use herald::pipeline::TaskRunStatus;
use serde_json::Value;

use crate::support::pipeline::{
    failed_task_names, plan_deliveries, plan_events, plan_outcomes, seed_plan, set_status,
    start_runs, subscribe_all, SeededPlan,
};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(15);

pub struct Plans {
    pub db: TestDb,
    pub metrics: Arc<Metrics>,
    pub registry: Addr<PlanRegistry>,
}

impl Plans {
    pub async fn start(failure_window: Duration) -> Plans {
        Self::start_with(PlanConfig {
            failure_window,
            idle: Duration::from_secs(600),
        })
        .await
    }

    pub async fn start_with(config: PlanConfig) -> Plans {
        let db = TestDb::new().await;
        subscribe_all(&db.pool, "test-endpoint").await;
        let metrics = Arc::new(Metrics::new());
        let registry = PlanRegistry::start(
            db.store.clone(),
            config,
            "node-test".into(),
            metrics.clone(),
        );
        Plans {
            db,
            metrics,
            registry,
        }
    }

    /// Tell the registry about a run, as the listener would (with the run's
    /// `updated_at` as the trigger sends it).
    pub async fn notify(&self, plan: &SeededPlan, task: i64, run: i64, status: TaskRunStatus) {
        type Row = (Option<chrono::DateTime<chrono::Utc>>, Option<i64>);
        let (updated_at, seq): Row =
            sqlx::query_as("SELECT updated_at, herald_seq FROM task_run WHERE id = $1")
                .bind(run)
                .fetch_optional(&self.db.pool)
                .await
                .expect("the run's updated_at")
                .unwrap_or((None, None));
        self.registry.do_send(TaskRunChanged {
            op: ChangeOp::Update,
            task_run_id: run,
            seq,
            task_id: task,
            plan_id: plan.plan_id,
            status,
            updated_at,
        });
    }

    /// Start one run per task (RUNNING) and tell the registry.
    pub async fn run_all(&self, plan: &SeededPlan, tasks: &[i64]) -> Vec<i64> {
        let runs = start_runs(&self.db.pool, tasks, "RUNNING").await;
        for (task, run) in tasks.iter().zip(&runs) {
            self.notify(plan, *task, *run, TaskRunStatus::Running).await;
        }
        runs
    }

    /// Finish a run with `status` and tell the registry.
    pub async fn finish(&self, plan: &SeededPlan, task: i64, run: i64, status: TaskRunStatus) {
        let error = (status == TaskRunStatus::Failed).then_some("boom");
        set_status(&self.db.pool, run, status.as_str(), error).await;
        self.notify(plan, task, run, status).await;
    }

    pub async fn status(&self, plan_id: i64) -> Option<PlanStatus> {
        self.registry
            .send(GetPlanStatus { plan_id })
            .await
            .expect("registry alive")
    }

    /// Wait until the plan's supervisor is idle (no read in flight or queued)
    /// and `done` holds for its view.
    pub async fn settled(&self, plan_id: i64, done: impl Fn(&PlanStatus) -> bool) -> PlanStatus {
        wait_until("the plan supervisor to settle", DEADLINE, || async {
            self.status(plan_id)
                .await
                .filter(|s| !s.busy && s.evaluations > 0 && done(s))
        })
        .await
    }

    pub async fn wait_events(&self, plan_id: i64, count: usize) -> Vec<(String, Value)> {
        wait_until("plan events", DEADLINE, || async {
            let events = plan_events(&self.db.pool, plan_id).await;
            (events.len() >= count).then_some(events)
        })
        .await
    }
}

/// 10 tasks, 3 fail inside one window: one PIPELINE_FAILED listing the 3;
/// a 4th failure afterwards sends nothing.
#[actix_rt::test]
async fn three_failures_in_one_window_make_one_event() {
    let h = Plans::start(Duration::from_millis(300)).await;
    let plan = seed_plan(&h.db.pool, 10).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    for (task, run) in plan.tasks.iter().zip(&runs).take(3) {
        h.finish(&plan, *task, *run, TaskRunStatus::Failed).await;
    }
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(events.len(), 1);
    let (event_type, payload) = &events[0];
    assert_eq!(event_type, "PIPELINE_FAILED");
    assert_eq!(
        failed_task_names(payload),
        vec!["task-1", "task-2", "task-3"]
    );
    let first_failure: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT min(updated_at) FROM task_run WHERE id = ANY($1) AND status = 'FAILED'",
    )
    .bind(&runs[..3])
    .fetch_one(&h.db.pool)
    .await
    .expect("first failure");
    let reported: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(payload["data"]["first_failure_at"].clone()).expect("timestamp");
    assert_eq!(reported, first_failure);
    assert_eq!(payload["data"]["failed_tasks"][0]["error"], "boom");
    assert_eq!(payload["data"]["failed_tasks"][0]["database"], "db_1");
    assert_eq!(payload["plan"]["id"], plan.plan_id);
    assert_eq!(payload["project"]["id"], plan.project_id);
    assert_eq!(plan_deliveries(&h.db.pool, plan.plan_id).await, 1);

    // A fourth failure in the same generation: read, and nothing sent.
    h.finish(&plan, plan.tasks[3], runs[3], TaskRunStatus::Failed)
        .await;
    h.settled(plan.plan_id, |s| s.failed == 4).await;
    assert_eq!(plan_events(&h.db.pool, plan.plan_id).await.len(), 1);
    assert_eq!(
        plan_outcomes(&h.db.pool, plan.plan_id).await,
        vec![(1, "PIPELINE_FAILED".into(), "node-test".into())]
    );
}

/// Every task terminal (with failures) long before the window ends: the
/// failure event goes out at once, and once.
#[actix_rt::test]
async fn all_terminal_sends_the_failure_early_once() {
    let h = Plans::start(Duration::from_secs(3600)).await;
    let plan = seed_plan(&h.db.pool, 10).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    for (i, (task, run)) in plan.tasks.iter().zip(&runs).enumerate() {
        let status = if i < 2 {
            TaskRunStatus::Failed
        } else {
            TaskRunStatus::Done
        };
        h.finish(&plan, *task, *run, status).await;
    }
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_FAILED");
    assert_eq!(failed_task_names(&events[0].1), vec!["task-1", "task-2"]);
    // More messages about the same runs change nothing.
    h.notify(&plan, plan.tasks[0], runs[0], TaskRunStatus::Failed)
        .await;
    let status = h
        .settled(plan.plan_id, |s| {
            s.terminal == 10 && s.claimed_generation == 1
        })
        .await;
    assert_eq!(status.window_deadline, None);
    assert_eq!(plan_events(&h.db.pool, plan.plan_id).await.len(), 1);
    assert_eq!(h.metrics.plan_windows_open.get(), 0);
}

/// A retry after a failure starts generation 2; all DONE then sends exactly
/// one PIPELINE_COMPLETED for it.
#[actix_rt::test]
async fn retry_after_failure_completes_the_new_generation() {
    let h = Plans::start(Duration::from_secs(3600)).await;
    let plan = seed_plan(&h.db.pool, 3).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    h.finish(&plan, plan.tasks[0], runs[0], TaskRunStatus::Done)
        .await;
    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Failed)
        .await;
    h.finish(&plan, plan.tasks[2], runs[2], TaskRunStatus::Failed)
        .await;
    h.wait_events(plan.plan_id, 1).await;

    let retried = &plan.tasks[1..];
    let retry_runs = h.run_all(&plan, retried).await;
    h.settled(plan.plan_id, |s| s.generation == Some(2)).await;
    for (task, run) in retried.iter().zip(&retry_runs) {
        h.finish(&plan, *task, *run, TaskRunStatus::Done).await;
    }
    let events = h.wait_events(plan.plan_id, 2).await;
    h.settled(plan.plan_id, |s| s.claimed_generation == 2).await;
    let events_after = plan_events(&h.db.pool, plan.plan_id).await;
    assert_eq!(events_after.len(), 2, "{events_after:?}");
    assert_eq!(events[0].0, "PIPELINE_FAILED");
    assert_eq!(events[1].0, "PIPELINE_COMPLETED");
    let data = &events[1].1["data"];
    assert_eq!(data["generation"], 2);
    assert_eq!(data["total_tasks"], 3);
    assert!(data["duration_seconds"].as_i64().expect("duration") >= 0);
    assert_eq!(
        plan_outcomes(&h.db.pool, plan.plan_id).await,
        vec![
            (1, "PIPELINE_FAILED".into(), "node-test".into()),
            (2, "PIPELINE_COMPLETED".into(), "node-test".into()),
        ]
    );
}

/// The retry and a late failure of the claimed generation committed together:
/// the late failure opens nothing in generation 1; generation 2 ends failed
/// because of it, and says so once.
#[actix_rt::test]
async fn retry_and_late_failure_together() {
    let h = Plans::start(Duration::from_millis(300)).await;
    let plan = seed_plan(&h.db.pool, 3).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Failed)
        .await;
    h.finish(&plan, plan.tasks[2], runs[2], TaskRunStatus::Failed)
        .await;
    // Task 1 is still running when the window closes.
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(failed_task_names(&events[0].1), vec!["task-2", "task-3"]);

    // One transaction: task 1 fails late, tasks 2 and 3 are retried.
    let mut tx = h.db.pool.begin().await.expect("begin");
    sqlx::query("UPDATE task_run SET status = 'FAILED', error_message = 'late', updated_at = clock_timestamp() WHERE id = $1")
        .bind(runs[0])
        .execute(&mut *tx)
        .await
        .expect("late failure");
    let retry_runs: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO task_run (task_id, status) SELECT unnest($1::bigint[]), 'RUNNING' RETURNING id",
    )
    .bind(&plan.tasks[1..])
    .fetch_all(&mut *tx)
    .await
    .expect("retry runs");
    tx.commit().await.expect("commit");
    // Messages in the worst order: late failure first, then the retries.
    h.notify(&plan, plan.tasks[0], runs[0], TaskRunStatus::Failed)
        .await;
    for (task, run) in plan.tasks[1..].iter().zip(&retry_runs) {
        h.notify(&plan, *task, *run, TaskRunStatus::Running).await;
    }
    h.settled(plan.plan_id, |s| s.generation == Some(2)).await;
    assert_eq!(plan_events(&h.db.pool, plan.plan_id).await.len(), 1);

    for (task, run) in plan.tasks[1..].iter().zip(&retry_runs) {
        h.finish(&plan, *task, *run, TaskRunStatus::Done).await;
    }
    let events = h.wait_events(plan.plan_id, 2).await;
    h.settled(plan.plan_id, |s| s.claimed_generation == 2).await;
    assert_eq!(plan_events(&h.db.pool, plan.plan_id).await.len(), 2);
    assert_eq!(events[1].0, "PIPELINE_FAILED");
    assert_eq!(events[1].1["data"]["generation"], 2);
    assert_eq!(failed_task_names(&events[1].1), vec!["task-1"]);
}

/// A plan that ends with cancellations and no failure emits nothing, and
/// reconciliation does not bring it back.
#[actix_rt::test]
async fn cancellation_only_ending_emits_nothing() {
    let h = Plans::start(Duration::from_millis(300)).await;
    let plan = seed_plan(&h.db.pool, 3).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    h.finish(&plan, plan.tasks[0], runs[0], TaskRunStatus::Done)
        .await;
    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Canceled)
        .await;
    h.finish(&plan, plan.tasks[2], runs[2], TaskRunStatus::Canceled)
        .await;
    let status = h.settled(plan.plan_id, |s| s.terminal == 3).await;
    assert_eq!(status.window_deadline, None);
    assert!(plan_events(&h.db.pool, plan.plan_id).await.is_empty());
    assert!(plan_outcomes(&h.db.pool, plan.plan_id).await.is_empty());
    // Decided on the counters alone, its status changes are unread (unless
    // the supervisor's first read came after them, on a slow machine): the
    // next reconciliation reads the plan once and settles it for good, and
    // still emits nothing.
    let due = due_plans(&h.db.pool).await;
    assert!(due.is_empty() || due == [plan.plan_id], "{due:?}");
    h.registry.do_send(Reconcile {
        reason: ReconcileReason::Periodic,
    });
    wait_until("the work row settled", DEADLINE, || async {
        due_plans(&h.db.pool).await.is_empty().then_some(())
    })
    .await;
    assert!(plan_events(&h.db.pool, plan.plan_id).await.is_empty());
    assert!(plan_outcomes(&h.db.pool, plan.plan_id).await.is_empty());
}

/// Plans with outcome work now: a work row due, or unread status changes.
async fn due_plans(pool: &sqlx::PgPool) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT plan_id FROM herald_plan_work WHERE due_at <= clock_timestamp()
         UNION SELECT plan_id FROM herald_plan_change ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("due plans")
}

/// Unknown plan ids and unknown task ids are logged and skipped.
#[actix_rt::test]
async fn unknown_plan_and_task_ids_are_skipped() {
    let h = Plans::start(Duration::from_millis(300)).await;
    let ghost = SeededPlan {
        project_id: 0,
        plan_id: 987_654,
        tasks: vec![1],
    };
    h.notify(&ghost, 1, 1, TaskRunStatus::Failed).await;
    // Its supervisor finds nothing and is evicted.
    wait_until("the unknown plan's supervisor to go", DEADLINE, || async {
        (h.status(ghost.plan_id).await.is_none() && h.metrics.plan_supervisors.get() == 0)
            .then_some(())
    })
    .await;

    let plan = seed_plan(&h.db.pool, 2).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    h.finish(&plan, plan.tasks[0], runs[0], TaskRunStatus::Done)
        .await;
    // A task id that is not the plan's: skipped, nothing completes.
    h.notify(&plan, 999_999, 999_999, TaskRunStatus::Done).await;
    let status = h.settled(plan.plan_id, |s| s.terminal == 1).await;
    assert_eq!(status.tasks, 2);
    assert!(plan_events(&h.db.pool, plan.plan_id).await.is_empty());

    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Done)
        .await;
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_COMPLETED");
    assert!(plan_events(&h.db.pool, ghost.plan_id).await.is_empty());
}

/// A panic in one plan's supervisor restarts that supervisor from the
/// database (window re-armed at the same deadline); another plan is untouched.
#[actix_rt::test]
async fn a_panic_restarts_one_supervisor_from_the_database() {
    let h = Plans::start(Duration::from_secs(3600)).await;
    let plan = seed_plan(&h.db.pool, 3).await;
    let other = seed_plan(&h.db.pool, 2).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    let other_runs = h.run_all(&other, &other.tasks).await;
    h.finish(&plan, plan.tasks[0], runs[0], TaskRunStatus::Failed)
        .await;
    h.finish(&other, other.tasks[0], other_runs[0], TaskRunStatus::Failed)
        .await;
    let before = h
        .settled(plan.plan_id, |s| s.window_deadline.is_some())
        .await;
    let other_before = h
        .settled(other.plan_id, |s| s.window_deadline.is_some())
        .await;
    assert_eq!(h.metrics.plan_windows_open.get(), 2);

    h.registry.do_send(InjectPanic {
        plan_id: plan.plan_id,
    });
    let after = h
        .settled(plan.plan_id, |s| {
            s.restarts == 1 && s.window_deadline.is_some()
        })
        .await;
    assert_eq!(after.window_deadline, before.window_deadline);
    let other_after = h.status(other.plan_id).await.expect("other plan alive");
    assert_eq!(other_after.restarts, 0);
    assert_eq!(other_after.window_deadline, other_before.window_deadline);
    assert_eq!(h.metrics.plan_windows_open.get(), 2);

    // The restarted supervisor still does its job, once.
    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Done)
        .await;
    h.finish(&plan, plan.tasks[2], runs[2], TaskRunStatus::Done)
        .await;
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(failed_task_names(&events[0].1), vec!["task-1"]);
    h.settled(plan.plan_id, |s| s.claimed_generation == 1).await;
    assert_eq!(plan_events(&h.db.pool, plan.plan_id).await.len(), 1);
}

/// A supervisor with nothing to do stops after `idle`; the next message
/// starts a new one, which rebuilds from the database.
#[actix_rt::test]
async fn idle_supervisors_are_evicted() {
    let h = Plans::start_with(PlanConfig {
        failure_window: Duration::from_secs(3600),
        idle: Duration::from_millis(200),
    })
    .await;
    let plan = seed_plan(&h.db.pool, 2).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    wait_until("eviction", DEADLINE, || async {
        (h.status(plan.plan_id).await.is_none() && h.metrics.plan_supervisors.get() == 0)
            .then_some(())
    })
    .await;
    // An open window keeps a supervisor alive past `idle`.
    h.finish(&plan, plan.tasks[0], runs[0], TaskRunStatus::Failed)
        .await;
    h.settled(plan.plan_id, |s| s.window_deadline.is_some())
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(h.status(plan.plan_id).await.is_some());
    h.finish(&plan, plan.tasks[1], runs[1], TaskRunStatus::Done)
        .await;
    h.wait_events(plan.plan_id, 1).await;
    wait_until("eviction after the outcome", DEADLINE, || async {
        h.status(plan.plan_id).await.is_none().then_some(())
    })
    .await;
}

/// Reconciliation takes the plans whose work row is due (their
/// notifications were lost) and feeds them to supervisors, which settle
/// each: claimed, due at its window's deadline, or waiting for a change.
#[actix_rt::test]
async fn reconcile_recovers_unclaimed_outcomes_and_open_windows() {
    let h = Plans::start(Duration::from_secs(3600)).await;
    let done = seed_plan(&h.db.pool, 2).await;
    let done_runs = start_runs(&h.db.pool, &done.tasks, "RUNNING").await;
    for run in &done_runs {
        set_status(&h.db.pool, *run, "DONE", None).await;
    }
    let open = seed_plan(&h.db.pool, 2).await;
    let open_runs = start_runs(&h.db.pool, &open.tasks, "RUNNING").await;
    set_status(&h.db.pool, open_runs[0], "FAILED", Some("x")).await;
    let quiet = seed_plan(&h.db.pool, 2).await;
    start_runs(&h.db.pool, &quiet.tasks, "RUNNING").await;

    assert_eq!(
        due_plans(&h.db.pool).await,
        vec![done.plan_id, open.plan_id, quiet.plan_id]
    );

    h.registry.do_send(Reconcile {
        reason: ReconcileReason::Startup,
    });
    let events = h.wait_events(done.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_COMPLETED");
    h.settled(open.plan_id, |s| s.window_deadline.is_some())
        .await;
    // The quiet plan was due too (its runs changed): read, it waits on its
    // running tasks, with no window.
    let quiet_status = h.settled(quiet.plan_id, |s| s.tasks == 2).await;
    assert_eq!(quiet_status.window_deadline, None);
    // Claimed, waiting, and due at the window's deadline: nothing is due
    // now, so the next pass reads nothing.
    h.settled(done.plan_id, |s| s.claimed_generation == 1).await;
    wait_until("every work row settled", DEADLINE, || async {
        due_plans(&h.db.pool).await.is_empty().then_some(())
    })
    .await;
    let deadline: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT due_at FROM herald_plan_work WHERE plan_id = $1")
            .bind(open.plan_id)
            .fetch_one(&h.db.pool)
            .await
            .expect("the open plan's work row");
    let status = h
        .status(open.plan_id)
        .await
        .expect("the open plan's supervisor");
    assert_eq!(deadline, status.window_deadline);
}

/// A host that updates only `status`: a run started 10 minutes ago fails
/// now. The window opens at the failure (not at the stale `updated_at`),
/// so a second failure right after it is in the same PIPELINE_FAILED.
#[actix_rt::test]
async fn a_status_only_update_opens_the_window_at_the_failure() {
    let h = Plans::start(Duration::from_secs(3)).await;
    let plan = seed_plan(&h.db.pool, 3).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    sqlx::query(
        "UPDATE task_run SET updated_at = now() - interval '10 minutes' WHERE id = ANY($1)",
    )
    .bind(&runs)
    .execute(&h.db.pool)
    .await
    .expect("age the runs");
    for (task, run) in plan.tasks.iter().zip(&runs).take(2) {
        sqlx::query("UPDATE task_run SET status = 'FAILED' WHERE id = $1")
            .bind(run)
            .execute(&h.db.pool)
            .await
            .expect("status only");
        h.notify(&plan, *task, *run, TaskRunStatus::Failed).await;
        // The supervisor has decided on this failure: a window is open, or
        // (with a stale start) the outcome is already out.
        wait_until("the failure is handled", DEADLINE, || async {
            let open = h
                .status(plan.plan_id)
                .await
                .is_some_and(|s| s.window_deadline.is_some());
            let sent = !plan_events(&h.db.pool, plan.plan_id).await.is_empty();
            (open || sent).then_some(())
        })
        .await;
    }
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(failed_task_names(&events[0].1), vec!["task-1", "task-2"]);
}

//! Per-plan counters against the real database: after any sequence of task
//! runs started, status changes and claims, the counters kept from the real
//! trigger's notifications equal a full re-read of the plan (proptest).

use std::time::Duration;

use herald::messages::DbChange;
use herald::outcome::Decision;
use herald::pipeline::TaskRunStatus;
use herald::plan_progress::{Applied, PlanProgress, RunChange};
use herald::store::plans::{ClaimResult, PlanState};
use herald::store::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sqlx::postgres::PgListener;

use crate::support::db::TestDb;
use crate::support::pipeline::seed_plan;

const STATUSES: [TaskRunStatus; 6] = [
    TaskRunStatus::Pending,
    TaskRunStatus::Running,
    TaskRunStatus::Done,
    TaskRunStatus::Failed,
    TaskRunStatus::Canceled,
    TaskRunStatus::Skipped,
];

#[derive(Debug, Clone)]
enum Op {
    /// A new run of task `task % tasks` with this status.
    Start { task: usize, status: usize },
    /// Run `run % runs` changes to this status.
    Set { run: usize, status: usize },
    /// Claim the outcome if one is due (as a supervisor would).
    Claim,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0usize..8, 0usize..6).prop_map(|(task, status)| Op::Start { task, status }),
        4 => (0usize..64, 0usize..6).prop_map(|(run, status)| Op::Set { run, status }),
        1 => Just(Op::Claim),
    ]
}

async fn read(store: &Store, plan: i64) -> Result<PlanState, TestCaseError> {
    store
        .plan_state(plan)
        .await
        .map_err(|e| TestCaseError::fail(format!("read the plan: {e}")))?
        .ok_or_else(|| TestCaseError::fail("the plan is gone"))
}

/// Wait for the next notification about `plan`'s task runs.
async fn next_change(listener: &mut PgListener, plan: i64) -> Result<RunChange, TestCaseError> {
    loop {
        let notification = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .map_err(|_| TestCaseError::fail("no notification within 10 s"))?
            .map_err(|e| TestCaseError::fail(format!("listen: {e}")))?;
        if let Ok(DbChange::TaskRun(change)) = DbChange::parse(notification.payload()) {
            if change.plan_id == plan {
                return Ok(RunChange {
                    task_id: change.task_id,
                    run_id: change.task_run_id,
                    seq: change.seq.unwrap_or(change.task_run_id),
                    status: change.status,
                    updated_at: change.updated_at,
                });
            }
        }
    }
}

async fn case(
    db: &TestDb,
    tasks: usize,
    window: Duration,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| TestCaseError::fail(format!("{what}: {e}"));
    let plan = seed_plan(&db.pool, tasks).await;
    let mut listener = PgListener::connect_with(&db.pool)
        .await
        .map_err(|e| fail("connect the listener", &e))?;
    listener
        .listen("herald")
        .await
        .map_err(|e| fail("listen", &e))?;
    let mut progress = PlanProgress::from_state(&read(&db.store, plan.plan_id).await?);
    let mut runs: Vec<i64> = Vec::new();
    for op in ops {
        let notified = match op {
            Op::Start { task, status } => {
                let run: i64 = sqlx::query_scalar(
                    "INSERT INTO task_run (task_id, status, started_at) VALUES ($1, $2, now()) RETURNING id",
                )
                .bind(plan.tasks[task % tasks])
                .bind(STATUSES[status].as_str())
                .fetch_one(&db.pool)
                .await
                .map_err(|e| fail("insert a run", &e))?;
                runs.push(run);
                true
            }
            Op::Set { run, status } if !runs.is_empty() => {
                let run = runs[run % runs.len()];
                let changed =
                    sqlx::query("UPDATE task_run SET status = $2 WHERE id = $1 AND status <> $2")
                        .bind(run)
                        .bind(STATUSES[status].as_str())
                        .execute(&db.pool)
                        .await
                        .map_err(|e| fail("update a run", &e))?;
                changed.rows_affected() == 1
            }
            Op::Set { .. } => false,
            Op::Claim => {
                let state = read(&db.store, plan.plan_id).await?;
                if let Decision::Claim(..) = state.decide(window) {
                    let claimed = db
                        .store
                        .claim_plan_outcome(plan.plan_id, state.generation(), window, "proptest")
                        .await
                        .map_err(|e| fail("claim", &e))?;
                    prop_assert!(matches!(claimed, ClaimResult::Claimed(_)), "{claimed:?}");
                    // A claim starts a generation: supervisors read again.
                    progress = PlanProgress::from_state(&read(&db.store, plan.plan_id).await?);
                }
                false
            }
        };
        if notified {
            let change = next_change(&mut listener, plan.plan_id).await?;
            if let Applied::ReadNeeded(_) = progress.apply(change) {
                progress = PlanProgress::from_state(&read(&db.store, plan.plan_id).await?);
            }
        }
        let full = read(&db.store, plan.plan_id).await?;
        prop_assert_eq!(progress.facts(), full.facts());
        prop_assert_eq!(progress.max_run_seq(), full.max_run_seq);
        // The work rows the trigger wrote are a superset of what the rule
        // (Rust only) finds due: a plan with an outcome due now is due now,
        // one with a window open is due by its deadline.
        // Unread status changes make a plan due now (the epoch: at once).
        let due: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM herald_plan_change WHERE plan_id = $1)
                         THEN 'epoch'::timestamptz
                         ELSE (SELECT due_at FROM herald_plan_work WHERE plan_id = $1) END",
        )
        .bind(plan.plan_id)
        .fetch_one(&db.pool)
        .await
        .map_err(|e| fail("read the work row", &e))?;
        match full.decide(window) {
            Decision::Claim(..) => {
                prop_assert!(
                    due.is_some_and(|d| d <= full.db_now),
                    "claim due, work row {due:?}"
                )
            }
            Decision::WindowOpen { deadline } => {
                prop_assert!(
                    due.is_some_and(|d| d <= deadline),
                    "window open, work row {due:?}"
                )
            }
            Decision::Settled | Decision::Waiting => {}
        }
    }
    Ok(())
}

#[test]
fn counters_equal_a_full_read_after_any_sequence_of_changes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let db = runtime.block_on(TestDb::new());
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        1usize..=4,
        prop_oneof![Just(Duration::ZERO), Just(Duration::from_secs(3600))],
        prop::collection::vec(op(), 1..40),
    );
    let result = runner.run(&strategy, |(tasks, window, ops)| {
        runtime.block_on(case(&db, tasks, window, ops))
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// The counters are what make this O(1): a supervisor finishing a plan task
/// by task reads the plan at its first message and for the claim only.
#[actix_rt::test]
async fn a_supervisor_counts_changes_without_reading_the_plan() {
    let h = crate::plan_supervisor::Plans::start(Duration::from_secs(600)).await;
    let plan = seed_plan(&h.db.pool, 30).await;
    let runs = h.run_all(&plan, &plan.tasks).await;
    h.settled(plan.plan_id, |s| s.tasks == 30 && s.terminal == 0)
        .await;
    for (i, (task, run)) in plan.tasks.iter().zip(&runs).enumerate() {
        h.finish(&plan, *task, *run, TaskRunStatus::Done).await;
        // One change at a time, each handled before the next.
        h.settled(plan.plan_id, |s| {
            s.terminal == i + 1 || s.claimed_generation == 1
        })
        .await;
    }
    let events = h.wait_events(plan.plan_id, 1).await;
    assert_eq!(events[0].0, "PIPELINE_COMPLETED");
    let status = h.settled(plan.plan_id, |s| s.claimed_generation == 1).await;
    // The first read, the claim (a read under the lock) and the read of the
    // new generation after it: 60 changes, 3 reads.
    assert!(
        status.reads <= 3,
        "{} reads for 60 changes: {status:?}",
        status.reads
    );
}

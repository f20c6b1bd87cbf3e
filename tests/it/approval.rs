//! Automatic rollout creation (SPEC §5): the rules over every combination of
//! settings, approval and plan checks; the listener-driven flow; exactly one
//! rollout under concurrent triggers on two replicas; respect for manual
//! rollouts; reconciliation of what notifications missed.

use std::collections::BTreeSet;
use std::time::Duration;

use actix::prelude::*;
use herald::actors::{ApprovalActor, ApprovalConfig};
use herald::daemon::{Daemon, DaemonConfig};
use herald::messages::{
    ChangeOp, IssueChanged, PlanCheckRunChanged, RolloutOutcome, TryCreateRollout,
};
use herald::pipeline::{ApprovalStatus, PlanCheckStatus};
use herald::rollout::MissingCondition;
use herald::store::Store;

use crate::support::issues::{Check, Seed};
use crate::support::logs::LogCapture;
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(20);

fn approval_actor(store: Store, node: &str) -> Addr<ApprovalActor> {
    ApprovalActor::new(
        store,
        ApprovalConfig {
            node_id: node.into(),
            ..ApprovalConfig::default()
        },
    )
    .start()
}

async fn daemon(db: &TestDb, node: &str) -> Daemon {
    let config = DaemonConfig {
        node_id: node.into(),
        migrate: false,
        ..DaemonConfig::default()
    };
    let herald = Daemon::start(db.options.clone(), config)
        .await
        .expect("daemon starts");
    // Notifications sent before the listener listens are lost (reconcile
    // repairs that, but these tests drive herald through notifications).
    wait_until("the listener listening", DEADLINE, || async {
        (herald.metrics.listener_connected.get() == 1).then_some(())
    })
    .await;
    herald
}

fn status_text(status: ApprovalStatus) -> &'static str {
    status.as_str()
}

/// The rules, stated per condition: what must be missing for this case.
fn expected_missing(
    require_approval: bool,
    require_checks: bool,
    status: ApprovalStatus,
    check: Check,
) -> Vec<MissingCondition> {
    let mut missing = Vec::new();
    if require_approval && status != ApprovalStatus::Approved {
        missing.push(MissingCondition::IssueApproval);
    }
    if require_checks {
        match check {
            Check::None | Check::DoneClean => {}
            Check::Running => missing.push(MissingCondition::PlanCheckRunning),
            Check::DoneWithError => missing.push(MissingCondition::PlanCheckErrors),
            Check::Failed => missing.push(MissingCondition::PlanCheckFailed),
        }
    }
    missing
}

struct Case {
    require_approval: bool,
    require_checks: bool,
    status: ApprovalStatus,
    check: Check,
    project: i64,
    plan: i64,
    issue: i64,
    check_run: Option<i64>,
}

/// Every combination of the two project settings × approval status × check
/// state (none / running / done-clean / done-with-error / failed), driven by
/// the real trigger messages: a rollout exists exactly when every required
/// condition holds, the waiting reason names what is missing, and the
/// reconciliation scan selects exactly the plans that are due.
#[actix_rt::test]
async fn every_combination_of_settings_approval_and_checks() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let creator = seed.user("Ada", None).await;
    let mut cases = Vec::new();
    for require_approval in [false, true] {
        for require_checks in [false, true] {
            for status in [
                ApprovalStatus::Pending,
                ApprovalStatus::Approved,
                ApprovalStatus::Rejected,
            ] {
                for check in Check::ALL {
                    let project = seed.project(require_approval, require_checks).await;
                    let plan = seed.plan(project).await;
                    let issue = seed
                        .issue(project, Some(plan), creator.id, status_text(status), None)
                        .await;
                    let check_run = seed.check_run(plan, check).await;
                    cases.push(Case {
                        require_approval,
                        require_checks,
                        status,
                        check,
                        project,
                        plan,
                        issue,
                        check_run,
                    });
                }
            }
        }
    }
    assert_eq!(cases.len(), 60);

    // The host's own transactions wrote a work row for every plan they
    // touched: a superset of what the rules (Rust, the only place they are
    // written) find due.
    let expected_due: BTreeSet<i64> = cases
        .iter()
        .filter(|c| {
            expected_missing(c.require_approval, c.require_checks, c.status, c.check).is_empty()
        })
        .map(|c| c.plan)
        .collect();
    let work = rollout_work(&db.pool).await;
    assert!(work.is_superset(&expected_due));
    assert_eq!(work, cases.iter().map(|c| c.plan).collect());
    // Reconciliation pages through them, each once.
    let mut taken = BTreeSet::new();
    let mut after = 0;
    loop {
        let batch = db
            .store
            .rollouts_with_changes(after, 7)
            .await
            .expect("page");
        let Some(&last) = batch.last() else { break };
        for plan in batch {
            assert!(taken.insert(plan), "plan {plan} taken twice");
        }
        after = last;
    }
    assert_eq!(taken, work);

    let actor = approval_actor(db.store.clone(), "node-a");
    for case in &cases {
        actor
            .send(IssueChanged {
                op: ChangeOp::Update,
                issue_id: case.issue,
                project_id: case.project,
                plan_id: Some(case.plan),
                approval_status: case.status,
            })
            .await
            .expect("actor answers");
        if let Some(check_run) = case.check_run {
            actor
                .send(PlanCheckRunChanged {
                    op: ChangeOp::Update,
                    plan_check_run_id: check_run,
                    plan_id: case.plan,
                    status: PlanCheckStatus::Done,
                })
                .await
                .expect("actor answers");
        }
    }
    for case in &cases {
        let label = format!(
            "approval required {}, checks required {}, {:?}, {:?}",
            case.require_approval, case.require_checks, case.status, case.check
        );
        let missing = expected_missing(
            case.require_approval,
            case.require_checks,
            case.status,
            case.check,
        );
        let rollouts = seed.rollouts(case.plan).await;
        let outcome = actor
            .send(TryCreateRollout { plan_id: case.plan })
            .await
            .expect("actor answers")
            .expect("no database error");
        if missing.is_empty() {
            assert_eq!(rollouts.len(), 1, "{label}: one rollout");
            assert_eq!(rollouts[0].1, "herald", "{label}");
            assert_eq!(
                outcome,
                RolloutOutcome::Exists {
                    rollout_id: Some(rollouts[0].0)
                },
                "{label}"
            );
        } else {
            assert!(rollouts.is_empty(), "{label}: no rollout");
            assert_eq!(outcome, RolloutOutcome::Waiting(missing), "{label}");
        }
    }
    // Every plan decided and nothing changed since: no work left.
    assert!(rollout_work(&db.pool).await.is_empty());
}

/// Through the listener: a running check and a pending approval wait (and
/// say why); approving still waits on the running check; the check finishing
/// creates the rollout.
#[actix_rt::test]
async fn listener_driven_approval_then_check_completion() {
    let (logs, _guard) = LogCapture::install();
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let herald = daemon(&db, "node-a").await;
    let creator = seed.user("Ada", None).await;
    let project = seed.project(true, true).await;
    let plan = seed.plan(project).await;
    let plan_text = plan.to_string();
    let issue = seed
        .issue(project, Some(plan), creator.id, "PENDING", Some(("dba", 1)))
        .await;
    let check_run = seed
        .check_run(plan, Check::Running)
        .await
        .expect("check run");
    wait_until("waiting on both conditions", DEADLINE, || async {
        let lines = logs.find(
            "rollout.waiting",
            &[
                ("plan_id", &plan_text),
                ("missing", "issue_approval,plan_check_running"),
            ],
        );
        (!lines.is_empty()).then_some(())
    })
    .await;

    seed.approve(issue).await;
    wait_until("waiting on the running check only", DEADLINE, || async {
        let lines = logs.find(
            "rollout.waiting",
            &[("plan_id", &plan_text), ("missing", "plan_check_running")],
        );
        (!lines.is_empty()).then_some(())
    })
    .await;
    assert!(
        seed.rollouts(plan).await.is_empty(),
        "a running check waits"
    );

    seed.finish_check_clean(check_run).await;
    let rollouts = wait_until("the rollout", DEADLINE, || async {
        let rollouts = seed.rollouts(plan).await;
        (!rollouts.is_empty()).then_some(rollouts)
    })
    .await;
    assert_eq!(rollouts.len(), 1);
    assert_eq!(rollouts[0].1, "herald");
    // The row commits before the decision is logged: wait for the line.
    let created = wait_until("rollout.created", DEADLINE, || async {
        let lines = logs.find("rollout.created", &[("plan_id", &plan_text)]);
        (!lines.is_empty()).then_some(lines)
    })
    .await;
    assert_eq!(created.len(), 1);
    // Attempts run concurrently, so a late attempt for the approval may be
    // the one that sees the finished check; never a reconcile or request.
    assert!(
        ["plan_check_run", "issue"].contains(&created[0]["trigger"].as_str()),
        "{created:?}"
    );
    assert_eq!(created[0]["issue_id"], issue.to_string());
    herald.stop().await;
}

/// A rollout the host app created by hand is respected: herald reports it
/// exists and never adds another.
#[actix_rt::test]
async fn manual_rollout_is_respected() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let creator = seed.user("Ada", None).await;
    let project = seed.project(true, false).await;
    let plan = seed.plan(project).await;
    let issue = seed
        .issue(project, Some(plan), creator.id, "PENDING", None)
        .await;
    let manual: i64 = sqlx::query_scalar(
        "INSERT INTO rollout (plan_id, created_by) VALUES ($1, 'alice') RETURNING id",
    )
    .bind(plan)
    .fetch_one(&db.pool)
    .await
    .expect("manual rollout");
    seed.approve(issue).await;
    let actor = approval_actor(db.store.clone(), "node-a");
    let outcome = actor
        .send(TryCreateRollout { plan_id: plan })
        .await
        .expect("actor answers")
        .expect("no database error");
    assert_eq!(
        outcome,
        RolloutOutcome::Exists {
            rollout_id: Some(manual)
        }
    );
    assert_eq!(
        seed.rollouts(plan).await,
        vec![(manual, "alice".to_string())]
    );
    // Decided: its work row is done with, reconciliation has nothing left.
    assert!(rollout_work(&db.pool).await.is_empty());
}

/// Plans with unread rollout changes.
async fn rollout_work(pool: &sqlx::PgPool) -> BTreeSet<i64> {
    sqlx::query_scalar::<_, i64>("SELECT DISTINCT plan_id FROM herald_rollout_change")
        .fetch_all(pool)
        .await
        .expect("rollout work rows")
        .into_iter()
        .collect()
}

/// Approval and plan-check completion landing at the same moment on two
/// herald instances, 50 times: exactly one rollout per plan, one
/// `rollout.created` each, and no attempt fails.
#[actix_rt::test]
async fn simultaneous_triggers_on_two_replicas_create_one_rollout() {
    let (logs, _guard) = LogCapture::install();
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let a = daemon(&db, "node-a").await;
    let b = daemon(&db, "node-b").await;
    let creator = seed.user("Ada", None).await;
    let project = seed.project(true, true).await;
    let rounds = async {
        for round in 0..50 {
            let plan = seed.plan(project).await;
            let issue = seed
                .issue(project, Some(plan), creator.id, "PENDING", Some(("dba", 1)))
                .await;
            let check_run = seed
                .check_run(plan, Check::Running)
                .await
                .expect("check run");
            // The two changes commit concurrently, from two connections; both
            // replicas get both notifications. On top, both replicas are asked
            // directly at the same time.
            let ((), (), first, second) = tokio::join!(
                seed.approve(issue),
                seed.finish_check_clean(check_run),
                a.approval.send(TryCreateRollout { plan_id: plan }),
                b.approval.send(TryCreateRollout { plan_id: plan }),
            );
            for outcome in [first, second] {
                let outcome = outcome.expect("actor answers");
                assert!(outcome.is_ok(), "round {round}: {outcome:?}");
            }
            wait_until("the rollout", DEADLINE, || async {
                (!seed.rollouts(plan).await.is_empty()).then_some(())
            })
            .await;
        }
    };
    tokio::time::timeout(Duration::from_secs(180), rounds)
        .await
        .expect("50 rounds finish in time");

    let per_plan: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT p.id, count(r.id) FROM plan p LEFT JOIN rollout r ON r.plan_id = p.id
          GROUP BY p.id ORDER BY p.id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("count rollouts");
    assert_eq!(per_plan.len(), 50);
    assert!(per_plan.iter().all(|(_, n)| *n == 1), "{per_plan:?}");
    // Every attempt logs exactly one decision. Per round and replica: the
    // issue insert, the check run insert, the approval, the check finishing
    // (four notifications) and the direct request. Wait for all 500, so no
    // attempt is still in flight, then check none failed.
    let decisions = || {
        [
            "rollout.created",
            "rollout.waiting",
            "rollout.exists",
            "rollout.failed",
        ]
        .iter()
        .map(|name| logs.count(name, &[]))
        .sum::<usize>()
    };
    wait_until("every attempt's decision", DEADLINE * 3, || async {
        (decisions() >= 500).then_some(())
    })
    .await;
    assert_eq!(decisions(), 500);
    assert_eq!(logs.count("rollout.created", &[]), 50);
    assert_eq!(logs.count("rollout.failed", &[]), 0);
    let announced: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT plan_id) FROM herald_event WHERE type = 'rollout.created'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("events");
    let total: i64 =
        sqlx::query_scalar("SELECT count(*) FROM herald_event WHERE type = 'rollout.created'")
            .fetch_one(&db.pool)
            .await
            .expect("events");
    assert_eq!(
        (announced, total),
        (50, 50),
        "each creation announced once, in its transaction"
    );
    assert!(
        logs.count("rollout.exists", &[]) > 0,
        "losers log rollout.exists"
    );
    a.stop().await;
    b.stop().await;
}

/// Plans approved while no herald listened get their rollout from the
/// startup reconciliation.
#[actix_rt::test]
async fn startup_reconcile_creates_missed_rollouts() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let creator = seed.user("Ada", None).await;
    let project = seed.project(true, true).await;
    let ready = seed.plan(project).await;
    let issue = seed
        .issue(project, Some(ready), creator.id, "PENDING", None)
        .await;
    seed.check_run(ready, Check::DoneClean).await;
    seed.approve(issue).await;
    let blocked = seed.plan(project).await;
    let other = seed
        .issue(project, Some(blocked), creator.id, "APPROVED", None)
        .await;
    seed.check_run(blocked, Check::DoneWithError).await;
    let _ = other;

    let herald = daemon(&db, "node-a").await;
    wait_until("the missed rollout", DEADLINE, || async {
        (!seed.rollouts(ready).await.is_empty()).then_some(())
    })
    .await;
    assert!(seed.rollouts(blocked).await.is_empty());
    herald.stop().await;
}

/// The decision said "create" but the approval was revoked before the
/// insert: the inserting transaction decides again and creates nothing.
#[actix_rt::test]
async fn a_revoked_approval_between_decision_and_insert_creates_nothing() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let project = seed.project(true, false).await;
    let creator = seed.user("Alice", None).await;
    let plan = seed.plan(project).await;
    let issue = seed
        .issue(project, Some(plan), creator.id, "APPROVED", None)
        .await;
    let readiness = db
        .store
        .rollout_readiness(plan)
        .await
        .expect("read")
        .expect("plan");
    assert_eq!(readiness.decide(), herald::rollout::RolloutDecision::Create);
    sqlx::query("UPDATE issue SET approval_status = 'PENDING' WHERE id = $1")
        .bind(issue)
        .execute(&db.pool)
        .await
        .expect("revoke");
    let created = db
        .store
        .create_rollout(plan, "herald")
        .await
        .expect("create");
    assert!(
        matches!(
            created,
            herald::store::approval::RolloutCreation::Changed(_)
        ),
        "{created:?}"
    );
    assert!(seed.rollouts(plan).await.is_empty());
}

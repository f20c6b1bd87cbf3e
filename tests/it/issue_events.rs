//! Issue events: `ISSUE_CREATED`, `ISSUE_APPROVAL_REQUESTED` and
//! `ISSUE_SENT_BACK` are emitted once per transition (one event, its outbox
//! rows) with the right people, across replicas and lost notifications; a
//! notification for an issue that no longer exists is logged and skipped.

use std::time::Duration;

use herald::daemon::{Daemon, DaemonConfig};
use herald::events::{ApprovalRequestedData, ApprovedData, IssueCreatedData, SentBackData};
use herald::messages::{ChangeOp, IssueChanged, Reconcile, ReconcileReason, TryCreateRollout};
use herald::pipeline::ApprovalStatus;
use uuid::Uuid;

use crate::support::issues::{data, Seed};
use crate::support::logs::LogCapture;
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(20);

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

/// Wait until `issue` has `count` events; returns them (id, type) in order.
async fn events(seed: &Seed, issue: i64, count: usize) -> Vec<(Uuid, String)> {
    wait_until(
        &format!("{count} events of issue {issue}"),
        DEADLINE,
        || async {
            let events = seed.events_of(issue).await;
            (events.len() >= count).then_some(events)
        },
    )
    .await
}

fn changed(issue: i64, project: i64) -> IssueChanged {
    IssueChanged {
        op: ChangeOp::Update,
        issue_id: issue,
        project_id: project,
        plan_id: None,
        approval_status: ApprovalStatus::Pending,
    }
}

/// Through the listener: creation, an approval step, a rejection and a
/// re-submission each give one event with its outbox rows (a `*` endpoint and
/// the project's webhook), carrying the creator, the approvers (deleted users
/// and other roles left out, with email and phone) and the rejecting
/// approver's reason. Re-updating the issue row without a transition emits
/// nothing, even when asked again and reconciled.
#[actix_rt::test]
async fn each_transition_is_emitted_once_with_its_people() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let herald = daemon(&db, "node-a").await;
    // After start: herald mirrors its config into herald_endpoint at start.
    seed.subscribe_all("everything").await;
    let project = seed.project(true, false).await;
    let webhook = seed.project_webhook(project).await;
    let mut ada = seed.user("Ada", Some("+15550100")).await;
    let mut grace = seed.user("Grace", Some("+15550101")).await;
    let linus = seed.user("Linus", None).await;
    let gone = seed.user("Gone", None).await;
    let owner = seed.user("Owner", None).await;
    // The people directory: the events carry each person's handles.
    seed.handle(ada.id, "slack", "U0ADA00001").await;
    seed.handle(grace.id, "slack", "U0GRACE001").await;
    seed.handle(grace.id, "feishu", "ou_0123456789abcdef").await;
    ada.handles.insert("slack".into(), "U0ADA00001".into());
    grace.handles.insert("slack".into(), "U0GRACE001".into());
    grace
        .handles
        .insert("feishu".into(), "ou_0123456789abcdef".into());
    for user in [&grace, &linus, &gone] {
        seed.member(project, user.id, "dba").await;
    }
    seed.member(project, owner.id, "owner").await;
    seed.delete_user(gone.id).await;
    let plan = seed.plan(project).await;
    let other_plan = seed.plan(project).await;

    let issue = seed
        .issue(project, Some(plan), ada.id, "PENDING", Some(("dba", 2)))
        .await;
    let emitted = events(&seed, issue, 2).await;
    assert_eq!(emitted[0].1, "ISSUE_CREATED");
    assert_eq!(emitted[1].1, "ISSUE_APPROVAL_REQUESTED");

    let created = db
        .store
        .event(emitted[0].0)
        .await
        .expect("read")
        .expect("event");
    assert_eq!(data::<IssueCreatedData>(&created).creator, ada);
    let issue_ref = created.issue.clone().expect("issue snapshot");
    assert_eq!((issue_ref.id, &issue_ref.creator), (issue, &ada));
    assert_eq!(created.project.as_ref().map(|p| p.id), Some(project));
    assert_eq!(created.plan.as_ref().map(|p| p.id), Some(plan));

    let requested = db
        .store
        .event(emitted[1].0)
        .await
        .expect("read")
        .expect("event");
    let requested: ApprovalRequestedData = data(&requested);
    assert_eq!(requested.role, "dba");
    assert_eq!(requested.required_count, 2);
    assert_eq!(requested.approvers, vec![grace.clone(), linus.clone()]);

    seed.reject(issue, grace.id, "add a rollback script").await;
    let emitted = events(&seed, issue, 3).await;
    assert_eq!(emitted[2].1, "ISSUE_SENT_BACK");
    let sent_back = db
        .store
        .event(emitted[2].0)
        .await
        .expect("read")
        .expect("event");
    let sent_back: SentBackData = data(&sent_back);
    assert_eq!(sent_back.approver, Some(grace.clone()));
    assert_eq!(sent_back.reason.as_deref(), Some("add a rollback script"));
    assert_eq!(sent_back.creator, ada);

    // Re-updates without a transition: a text edit (no trigger), the same
    // status again (no trigger), a plan change (trigger and NOTIFY, but no
    // transition).
    for sql in [
        "UPDATE issue SET title = 'Add index, v2', reject_reason = 'edited' WHERE id = $1",
        "UPDATE issue SET approval_status = 'REJECTED' WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(issue)
            .execute(&db.pool)
            .await
            .expect("re-update");
    }
    sqlx::query("UPDATE issue SET plan_id = $2 WHERE id = $1")
        .bind(issue)
        .bind(other_plan)
        .execute(&db.pool)
        .await
        .expect("re-update");
    // Ask directly (and reconcile) so the test does not depend on timing.
    herald
        .issue_events
        .send(changed(issue, project))
        .await
        .expect("actor answers");
    herald
        .issue_events
        .send(Reconcile {
            reason: ReconcileReason::Periodic,
        })
        .await
        .expect("actor answers");
    assert_eq!(seed.events_of(issue).await.len(), 3);

    // A new approval round is a new transition: one more event.
    seed.resubmit(issue, "owner", 1).await;
    let emitted = events(&seed, issue, 4).await;
    assert_eq!(emitted[3].1, "ISSUE_APPROVAL_REQUESTED");
    let again: ApprovalRequestedData = data(
        &db.store
            .event(emitted[3].0)
            .await
            .expect("read")
            .expect("event"),
    );
    assert_eq!((again.role.as_str(), again.required_count), ("owner", 1));
    assert_eq!(again.approvers, vec![owner.clone()]);

    // The last step passes: ISSUE_APPROVED, naming the step and the creator.
    seed.approve(issue).await;
    let emitted = events(&seed, issue, 5).await;
    assert_eq!(emitted[4].1, "ISSUE_APPROVED");
    let approved: ApprovedData = data(
        &db.store
            .event(emitted[4].0)
            .await
            .expect("read")
            .expect("event"),
    );
    assert_eq!(approved.role.as_deref(), Some("owner"));
    assert_eq!(approved.creator, ada);

    let mut expected_endpoints = vec!["everything".to_string(), webhook.clone()];
    expected_endpoints.sort();
    for (event, _) in &emitted {
        assert_eq!(seed.deliveries_of(*event).await, expected_endpoints);
    }
    let transitions = seed.transitions_of(issue).await;
    let kinds: Vec<&str> = transitions.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "CREATED",
            "APPROVAL_REQUESTED",
            "SENT_BACK",
            "APPROVAL_REQUESTED",
            "APPROVED"
        ]
    );
    for ((_, handled_by, event_id), (event, _)) in transitions.iter().zip(&emitted) {
        assert_eq!(handled_by.as_deref(), Some("node-a"));
        assert_eq!(event_id.as_ref(), Some(event), "the claim names its event");
    }
    // Five issue events and the automatic rollout's `rollout.created`
    // (the project requires approval, which the last step gave).
    assert_eq!(seed.event_count().await, 6);
    // A host app's event given only the issue id gets the same snapshot,
    // handles included (herald_emit fills it in).
    let custom: uuid::Uuid =
        sqlx::query_scalar("SELECT herald_emit('issue.commented', '{}', p_issue_id => $1)")
            .bind(issue)
            .fetch_one(&db.pool)
            .await
            .expect("emit");
    let custom = db.store.event(custom).await.expect("read").expect("event");
    assert_eq!(custom.issue.map(|i| i.creator), Some(ada.clone()));
    herald.stop().await;
}

/// Two replicas get every notification, are asked again directly and
/// reconcile at the same time: each transition still gives exactly one
/// event.
#[actix_rt::test]
async fn two_replicas_emit_each_transition_once() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let a = daemon(&db, "node-a").await;
    let b = daemon(&db, "node-b").await;
    // After start: herald mirrors its config into herald_endpoint at start.
    seed.subscribe_all("everything").await;
    let project = seed.project(true, false).await;
    let ada = seed.user("Ada", None).await;
    let grace = seed.user("Grace", None).await;
    seed.member(project, grace.id, "dba").await;
    let mut issues = Vec::new();
    for n in 0..20 {
        let issue = seed
            .issue(project, None, ada.id, "PENDING", Some(("dba", 1)))
            .await;
        if n % 2 == 0 {
            seed.reject(issue, grace.id, "no").await;
        }
        issues.push(issue);
    }
    let reconcile = Reconcile {
        reason: ReconcileReason::Periodic,
    };
    let mut asks = Vec::new();
    for &issue in &issues {
        asks.push(a.issue_events.send(changed(issue, project)));
        asks.push(b.issue_events.send(changed(issue, project)));
    }
    let (answers, ra, rb) = tokio::join!(
        futures_util::future::join_all(asks),
        a.issue_events.send(reconcile),
        b.issue_events.send(reconcile),
    );
    assert!(answers.iter().all(Result::is_ok) && ra.is_ok() && rb.is_ok());
    wait_until("every transition handled", DEADLINE, || async {
        (seed.unhandled_transitions().await == 0).then_some(())
    })
    .await;
    for (n, &issue) in issues.iter().enumerate() {
        let types: Vec<String> = seed
            .events_of(issue)
            .await
            .into_iter()
            .map(|e| e.1)
            .collect();
        let mut expected = vec!["ISSUE_CREATED", "ISSUE_APPROVAL_REQUESTED"];
        if n % 2 == 0 {
            expected.push("ISSUE_SENT_BACK");
        }
        assert_eq!(types, expected, "issue {issue}");
    }
    assert_eq!(seed.event_count().await, 50);
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_delivery")
        .fetch_one(&db.pool)
        .await
        .expect("count deliveries");
    assert_eq!(deliveries, 50);
    a.stop().await;
    b.stop().await;
}

/// Transitions that happened while no herald listened are emitted by the
/// startup reconciliation, each with what was true at its moment: two
/// rejections with different reasons give two events with their own reasons.
#[actix_rt::test]
async fn startup_reconcile_emits_missed_transitions_as_they_were() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let project = seed.project(true, false).await;
    let ada = seed.user("Ada", None).await;
    let grace = seed.user("Grace", None).await;
    let linus = seed.user("Linus", None).await;
    let issue = seed
        .issue(project, None, ada.id, "PENDING", Some(("dba", 1)))
        .await;
    seed.reject(issue, grace.id, "first reason").await;
    seed.resubmit(issue, "dba", 3).await;
    seed.reject(issue, linus.id, "second reason").await;
    seed.resubmit(issue, "owner", 1).await;
    assert_eq!(seed.unhandled_transitions().await, 6);

    let herald = daemon(&db, "node-a").await;
    let emitted = events(&seed, issue, 6).await;
    let types: Vec<&str> = emitted.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        types,
        [
            "ISSUE_CREATED",
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_SENT_BACK",
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_SENT_BACK",
            "ISSUE_APPROVAL_REQUESTED",
        ]
    );
    let read = |n: usize| {
        let store = db.store.clone();
        let id = emitted[n].0;
        async move { store.event(id).await.expect("read").expect("event") }
    };
    let first: SentBackData = data(&read(2).await);
    let second: SentBackData = data(&read(4).await);
    assert_eq!(
        (first.approver.map(|u| u.id), first.reason.as_deref()),
        (Some(grace.id), Some("first reason"))
    );
    assert_eq!(
        (second.approver.map(|u| u.id), second.reason.as_deref()),
        (Some(linus.id), Some("second reason"))
    );
    let mut required = Vec::new();
    for n in [1usize, 3, 5] {
        let requested: ApprovalRequestedData = data(&read(n).await);
        required.push((requested.role, requested.required_count));
    }
    assert_eq!(
        required,
        [
            ("dba".to_string(), 1),
            ("dba".to_string(), 3),
            ("owner".to_string(), 1)
        ]
    );
    herald.stop().await;
}

/// A notification for an issue that no longer exists — through the listener
/// and injected — is logged by both actors and skipped; they go on working.
#[actix_rt::test]
async fn notification_for_a_missing_issue_is_logged_and_skipped() {
    let (logs, _guard) = LogCapture::install();
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let herald = daemon(&db, "node-a").await;
    // After start: herald mirrors its config into herald_endpoint at start.
    seed.subscribe_all("everything").await;
    let project = seed.project(false, false).await;
    let ada = seed.user("Ada", None).await;
    let plan = seed.plan(project).await;

    // An issue created and deleted in one transaction: its notifications
    // arrive when it is already gone.
    let mut tx = db.pool.begin().await.expect("begin");
    let deleted: i64 = sqlx::query_scalar(
        "INSERT INTO issue (project_id, plan_id, title, creator_id) VALUES ($1, $2, 'gone', $3)
         RETURNING id",
    )
    .bind(project)
    .bind(plan)
    .bind(ada.id)
    .fetch_one(&mut *tx)
    .await
    .expect("insert issue");
    sqlx::query("DELETE FROM issue WHERE id = $1")
        .bind(deleted)
        .execute(&mut *tx)
        .await
        .expect("delete issue");
    tx.commit().await.expect("commit");
    // And a late notification about it.
    let payload = serde_json::json!({
        "table": "issue", "op": "UPDATE", "id": deleted, "project_id": project,
        "plan_id": plan, "approval_status": "APPROVED",
    });
    sqlx::query("SELECT pg_notify('herald', $1)")
        .bind(payload.to_string())
        .execute(&db.pool)
        .await
        .expect("notify");
    let deleted_text = deleted.to_string();
    wait_until("both actors log the missing issue", DEADLINE, || async {
        let approval = logs.count("rollout.issue_not_found", &[("issue_id", &deleted_text)]);
        let events = logs.count(
            "issue_event.issue_not_found",
            &[("issue_id", &deleted_text)],
        );
        (approval >= 1 && events >= 1).then_some(())
    })
    .await;

    // Injected, for an id that never existed.
    let missing = 987_654_321;
    herald
        .approval
        .send(changed(missing, project))
        .await
        .expect("actor answers");
    herald
        .issue_events
        .send(changed(missing, project))
        .await
        .expect("actor answers");
    let missing_text = missing.to_string();
    assert_eq!(
        logs.count("rollout.issue_not_found", &[("issue_id", &missing_text)]),
        1
    );
    assert_eq!(
        logs.count(
            "issue_event.issue_not_found",
            &[("issue_id", &missing_text)]
        ),
        1
    );
    assert_eq!(
        seed.event_count().await,
        0,
        "nothing emitted for a gone issue"
    );
    assert!(seed.rollouts(plan).await.is_empty());
    assert_eq!(logs.count("issue_event.failed", &[]), 0);
    assert_eq!(logs.count("rollout.failed", &[]), 0);

    // Both actors still work.
    let issue = seed
        .issue(project, Some(plan), ada.id, "PENDING", None)
        .await;
    assert_eq!(events(&seed, issue, 1).await[0].1, "ISSUE_CREATED");
    wait_until("the rollout", DEADLINE, || async {
        (!seed.rollouts(plan).await.is_empty()).then_some(())
    })
    .await;
    let outcome = herald
        .approval
        .send(TryCreateRollout { plan_id: plan })
        .await
        .expect("actor answers")
        .expect("no database error");
    assert!(matches!(
        outcome,
        herald::messages::RolloutOutcome::Exists { .. }
    ));
    herald.stop().await;
}

/// Handling an issue change fails on a transient error (a lock timeout on
/// the event log) and the change is dropped; the periodic reconcile emits
/// its event later, with no listener reconnect.
#[actix_rt::test]
async fn a_dropped_issue_change_is_recovered_by_the_periodic_reconcile() {
    let db = TestDb::new().await;
    let seed = Seed::new(&db.pool);
    let (logs, _guard) = LogCapture::install();
    // Every daemon statement gives up on a lock after 200 ms.
    let options = db.options.clone().options([("lock_timeout", "200ms")]);
    let config = DaemonConfig {
        node_id: "node-a".into(),
        migrate: false,
        reconcile_interval: Duration::from_millis(500),
        ..DaemonConfig::default()
    };
    let herald = Daemon::start(options, config).await.expect("daemon starts");
    wait_until("the listener listening", DEADLINE, || async {
        (herald.metrics.listener_connected.get() == 1).then_some(())
    })
    .await;
    let reconnects = herald.metrics.listener_reconnects.get();
    let project = seed.project(false, false).await;
    let ada = seed.user("Ada", None).await;

    // Hold the event log while the issue is created and handled.
    let mut blocker = db.pool.begin().await.expect("tx");
    sqlx::query("LOCK TABLE herald_event IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let issue = seed.issue(project, None, ada.id, "PENDING", None).await;
    wait_until("the handling failed", DEADLINE, || async {
        (logs.count("issue_event.failed", &[]) >= 1).then_some(())
    })
    .await;
    blocker.rollback().await.expect("release");

    let emitted = events(&seed, issue, 1).await;
    assert_eq!(emitted[0].1, "ISSUE_CREATED");
    assert_eq!(
        herald.metrics.listener_reconnects.get(),
        reconnects,
        "recovered without a reconnect"
    );
    herald.stop().await;
}

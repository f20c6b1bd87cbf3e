//! Ordinary faults that must not stop delivery: a row that cannot be
//! decoded, malformed snapshots at emit time, a skewed local clock, an
//! endpoint changed mid-backlog, a receiver that never finishes its body.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::actors::retention::prune_pass;
use herald::actors::RetentionConfig;
use herald::endpoint::Secret;
use herald::messages::delivery::SetEndpoints;
use herald::signing;

use crate::delivery::{emit_ticks, endpoint, fast_delivery, start, wait_state, SECRET};
use crate::support::receiver::{Receiver, Reply};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(60);

/// An event row that cannot be decoded (written around `herald_emit`),
/// between two valid ones: the valid ones are delivered, the bad one is
/// `failed` with the reason, and the queue never stalls.
#[actix_rt::test]
async fn a_poison_row_fails_and_the_rows_around_it_are_delivered() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let daemon = start(
        &db,
        "one",
        vec![endpoint("all", receiver.url("/all"))],
        fast_delivery(),
    )
    .await;
    let mut tx = db.pool.begin().await.expect("tx");
    sqlx::query("SELECT herald_emit('test.tick', '{\"data\":{\"n\":1}}')")
        .execute(&mut *tx)
        .await
        .expect("emit 1");
    // A host app writing the log directly, with a `project` missing fields.
    sqlx::query(
        "WITH e AS (
             INSERT INTO herald_event (id, type, payload)
             VALUES (gen_random_uuid(), 'user.created', '{\"project\":{\"id\":1}}')
             RETURNING id)
         INSERT INTO herald_delivery (event_id, endpoint_id) SELECT id, 'all' FROM e",
    )
    .execute(&mut *tx)
    .await
    .expect("poison row");
    sqlx::query("SELECT herald_emit('test.tick', '{\"data\":{\"n\":2}}')")
        .execute(&mut *tx)
        .await
        .expect("emit 2");
    tx.commit().await.expect("commit");

    wait_state(&db, "all", "delivered", 2).await;
    wait_state(&db, "all", "failed", 1).await;
    let error: Option<String> = sqlx::query_scalar(
        "SELECT last_error FROM herald_delivery WHERE endpoint_id = 'all' AND state = 'failed'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("failed row");
    let error = error.expect("a reason");
    assert!(
        error.contains("cannot be decoded") && error.contains("resource_id"),
        "{error}"
    );
    let ticks: Vec<i64> = receiver
        .accepted("/all")
        .iter()
        .map(|r| r.body["data"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(ticks, vec![1, 2]);
    daemon.stop().await;
    receiver.stop().await;
}

/// `herald_emit` refuses a snapshot of the wrong shape with an error that
/// names it, and fills the snapshots a payload lacks from the ids given.
#[actix_rt::test]
async fn herald_emit_checks_snapshots_and_fills_them_from_ids() {
    let db = TestDb::new().await;
    let err = sqlx::query("SELECT herald_emit('user.created', '{\"project\":{\"id\":1}}')")
        .execute(&db.pool)
        .await
        .expect_err("a project without its fields is refused");
    let message = err.to_string();
    assert!(message.contains("project must be"), "{message}");
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('payments', 'Payments') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("project");
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT herald_emit('user.created', '{\"data\":{}}', $1)")
            .bind(project)
            .fetch_one(&db.pool)
            .await
            .expect("emit with only the id");
    let payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM herald_event WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .expect("event");
    assert_eq!(
        payload["project"],
        serde_json::json!({"id": project, "resource_id": "payments", "title": "Payments"})
    );
}

/// herald's own clock an hour behind the database's: new deliveries still
/// go out at once (due times are compared by the database).
#[actix_rt::test]
async fn due_times_follow_the_database_clock() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let mut config = fast_delivery();
    config.clock_skew = chrono::Duration::hours(-1);
    let daemon = start(
        &db,
        "one",
        vec![endpoint("skewed", receiver.url("/skewed"))],
        config,
    )
    .await;
    emit_ticks(&db, 3).await;
    wait_state(&db, "skewed", "delivered", 3).await;
    daemon.stop().await;
    receiver.stop().await;
}

/// A secret rotated while a backlog drains applies from the next request.
#[actix_rt::test]
async fn a_rotated_secret_applies_mid_backlog() {
    let db = TestDb::new().await;
    let open = Arc::new(AtomicBool::new(false));
    let gate = open.clone();
    let receiver = Receiver::start(move |n, _| {
        if n == 0 {
            Reply::Gate(gate.clone(), 204)
        } else {
            Reply::Status(204)
        }
    });
    let old = endpoint("rotating", receiver.url("/rotating"));
    let daemon = start(&db, "one", vec![old.clone()], fast_delivery()).await;
    emit_ticks(&db, 3).await;
    wait_until("the first request is held", DEADLINE, || async {
        (!receiver.received().is_empty()).then_some(())
    })
    .await;
    const NEW_SECRET: &str = "whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ=";
    let mut rotated = old.clone();
    rotated.secret = Some(Secret::new(NEW_SECRET));
    daemon
        .delivery
        .send(SetEndpoints {
            endpoints: vec![rotated],
            links: Default::default(),
        })
        .await
        .expect("set");
    // Let the manager apply it before the held request completes.
    wait_until("the manager has the new endpoint", DEADLINE, || async {
        let endpoints = daemon
            .delivery
            .send(herald::messages::delivery::GetEndpoints)
            .await
            .ok()?;
        endpoints
            .iter()
            .any(|e| e.secret.as_ref().map(Secret::expose) == Some(NEW_SECRET))
            .then_some(())
    })
    .await;
    open.store(true, Ordering::Release);
    wait_state(&db, "rotating", "delivered", 3).await;

    let verifies = |secret: &str, r: &crate::support::receiver::Received| {
        signing::verify(
            &Secret::new(secret),
            r.webhook_id.as_deref().unwrap_or_default(),
            r.timestamp.as_deref().unwrap_or_default(),
            r.signature.as_deref().unwrap_or_default(),
            &r.raw,
            chrono::Utc::now(),
            signing::DEFAULT_TOLERANCE,
        )
        .is_ok()
    };
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(verifies(SECRET, &received[0]), "sent before the rotation");
    for later in &received[1..] {
        assert!(verifies(NEW_SECRET, later), "signed with the new secret");
    }
    daemon.stop().await;
    receiver.stop().await;
}

/// A receiver that answers 200 and never finishes its body has accepted
/// the message: delivered once, not resent at every timeout.
#[actix_rt::test]
async fn a_2xx_whose_body_never_ends_is_delivered_once() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Drip(200));
    let daemon = start(
        &db,
        "one",
        vec![endpoint("drip", receiver.url("/drip"))],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 2).await;
    wait_state(&db, "drip", "delivered", 2).await;
    assert_eq!(receiver.received().len(), 2, "each sent once");
    daemon.stop().await;
    receiver.stop().await;
}

/// Pending deliveries of an endpoint no config knows any more end `failed`
/// with the reason after the grace period, instead of pending forever.
#[actix_rt::test]
async fn a_removed_endpoints_pending_rows_end_failed() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    // Rows left behind by an endpoint that has since been removed.
    emit_ticks_to(&db, "removed", 3).await;
    let mut config = fast_delivery();
    config.orphan_grace = Duration::from_millis(200);
    let daemon = start(
        &db,
        "one",
        vec![endpoint("kept", receiver.url("/kept"))],
        config,
    )
    .await;
    emit_ticks(&db, 2).await;
    wait_state(&db, "removed", "failed", 3).await;
    wait_state(&db, "kept", "delivered", 2).await;
    let error: Option<String> = sqlx::query_scalar(
        "SELECT last_error FROM herald_delivery WHERE endpoint_id = 'removed' LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("row");
    assert!(error.expect("reason").contains("not configured"));
    daemon.stop().await;
    receiver.stop().await;
}

/// Lease fencing: after a takeover the old owner's record (old epoch) and
/// a record of a delivery that is no longer pending write nothing, and say
/// which of the two happened.
#[actix_rt::test]
async fn records_are_fenced_by_the_lease_epoch() {
    use herald::store::outbox::{AttemptRecord, NextStep, Recorded};

    let db = TestDb::new().await;
    let store = &db.store;
    emit_ticks_to(&db, "fenced", 1).await;
    let a = store
        .acquire_lease("fenced", "node-a", Duration::from_millis(100))
        .await
        .expect("acquire")
        .expect("free");
    wait_until("A's lease lapsed", DEADLINE, || async {
        let lapsed: bool = sqlx::query_scalar(
            "SELECT expires_at < now() FROM herald_endpoint_lease WHERE endpoint_id = 'fenced'",
        )
        .fetch_one(&db.pool)
        .await
        .ok()?;
        lapsed.then_some(())
    })
    .await;
    let b = store
        .acquire_lease("fenced", "node-b", Duration::from_secs(60))
        .await
        .expect("acquire")
        .expect("expired, so taken over");
    assert_eq!(b.previous_owner.as_deref(), Some("node-a"));
    assert!(b.epoch > a.epoch, "a takeover increments the epoch");

    let pending = store
        .pending_deliveries("fenced", 10)
        .await
        .expect("read")
        .remove(0);
    let record = AttemptRecord {
        delivery_id: pending.id,
        event_id: pending.event_id,
        event_type: pending.event_type.clone(),
        endpoint_id: "fenced".into(),
        url: "https://example.com/".into(),
        attempt: 1,
        succeeded: true,
        throttled: false,
        http_status: Some(204),
        error: None,
        latency_ms: 1,
        response_excerpt: None,
        started_at: chrono::Utc::now(),
        request_headers: None,
        request_body: None,
    };
    let attempts = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM herald_delivery_attempt")
            .fetch_one(&db.pool)
            .await
            .expect("count")
    };
    let stale = store
        .record_attempt("node-a", a.epoch, &record, NextStep::Delivered)
        .await
        .expect("record");
    assert_eq!(stale, Recorded::LeaseLost);
    assert_eq!(attempts().await, 0, "the old owner wrote nothing");
    let recorded = store
        .record_attempt("node-b", b.epoch, &record, NextStep::Delivered)
        .await
        .expect("record");
    assert_eq!(recorded, Recorded::Yes);
    let again = store
        .record_attempt("node-b", b.epoch, &record, NextStep::Delivered)
        .await
        .expect("record");
    assert_eq!(again, Recorded::NotPending);
    assert_eq!(attempts().await, 1, "one attempt row, for the one record");
}

/// A rolling config change: a replica with the new file (endpoints x and
/// y) runs, then one with the old file (x only) starts. Events still get an
/// outbox row for y, which a live replica's config has.
#[actix_rt::test]
async fn replicas_with_different_config_files_leave_no_event_without_its_row() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let x = endpoint("x", receiver.url("/x"));
    let y = endpoint("y", receiver.url("/y"));
    let new = start(&db, "new", vec![x.clone(), y], fast_delivery()).await;
    let old = start(&db, "old", vec![x], fast_delivery()).await;
    emit_ticks(&db, 3).await;
    wait_state(&db, "x", "delivered", 3).await;
    wait_state(&db, "y", "delivered", 3).await;
    old.stop().await;
    new.stop().await;
    receiver.stop().await;
}

/// `herald run` with the database down says where it connects and why it
/// cannot, keeps retrying, and stops cleanly on SIGINT.
#[actix_rt::test]
async fn a_database_down_at_start_is_waited_for_with_a_clear_message() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--log-format", "json", "run", "--admin-addr", "127.0.0.1:0"])
        .env(
            "DATABASE_URL",
            format!("postgres://herald@127.0.0.1:{port}/herald"),
        )
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn herald");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut unreachable = Vec::new();
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("\"database.unreachable\"") {
                unreachable.push(line);
                if unreachable.len() == 2 {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert!(matches!(seen, Ok(true)), "{unreachable:?}");
    let first = &unreachable[0];
    assert!(
        first.contains(&format!("127.0.0.1:{port}/herald")),
        "{first}"
    );
    assert!(
        first.to_lowercase().contains("refused"),
        "names the cause: {first}"
    );
    let pid = child.id().expect("pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("exits after SIGINT")
        .expect("wait");
    assert!(status.success(), "{status}");
}

/// A batch of records (group commit across endpoints) where one row's
/// lease was lost: the others are recorded, that one is reported and
/// writes nothing.
#[actix_rt::test]
async fn a_batch_records_the_rows_whose_lease_holds_and_reports_the_rest() {
    use herald::store::outbox::{AttemptRecord, NextStep, Recorded};
    use herald::store::records::FencedRecord;

    let db = TestDb::new().await;
    let store = &db.store;
    for endpoint in ["kept", "lost"] {
        emit_ticks_to(&db, endpoint, 1).await;
    }
    let kept = store
        .acquire_lease("kept", "node-a", Duration::from_secs(60))
        .await
        .expect("acquire")
        .expect("free");
    let lost = store
        .acquire_lease("lost", "node-b", Duration::from_secs(60))
        .await
        .expect("acquire")
        .expect("free");
    let mut batch = Vec::new();
    for (endpoint, epoch) in [("kept", kept.epoch), ("lost", lost.epoch)] {
        let pending = store
            .pending_deliveries(endpoint, 1)
            .await
            .expect("read")
            .remove(0);
        batch.push(FencedRecord {
            // node-a records both, but holds only `kept`.
            owner: "node-a".into(),
            epoch,
            record: AttemptRecord {
                delivery_id: pending.id,
                event_id: pending.event_id,
                event_type: pending.event_type.clone(),
                endpoint_id: endpoint.into(),
                url: "https://example.com/".into(),
                attempt: 1,
                succeeded: true,
                throttled: false,
                http_status: Some(204),
                error: None,
                latency_ms: 1,
                response_excerpt: None,
                started_at: chrono::Utc::now(),
                request_headers: None,
                request_body: None,
            },
            next: NextStep::Delivered,
        });
    }
    let answers = store.record_attempts(&batch).await.expect("record");
    assert_eq!(answers, vec![Recorded::Yes, Recorded::LeaseLost]);
    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT endpoint_id, state FROM herald_delivery ORDER BY endpoint_id")
            .fetch_all(&db.pool)
            .await
            .expect("states");
    assert_eq!(
        states,
        vec![
            ("kept".to_string(), "delivered".to_string()),
            ("lost".to_string(), "pending".to_string())
        ]
    );
    let attempts: Vec<String> =
        sqlx::query_scalar("SELECT endpoint_id FROM herald_delivery_attempt")
            .fetch_all(&db.pool)
            .await
            .expect("attempts");
    assert_eq!(attempts, vec!["kept".to_string()]);
}

/// Retention: finished deliveries and unreferenced events older than the
/// retention go, in batches until caught up; so do claims superseded by a
/// later generation and handled transitions past theirs (the event of a
/// pruned claim goes with it). Pending deliveries, recent history, a
/// plan's latest claim (its generation boundary) with its event, and
/// unhandled transitions stay.
#[actix_rt::test]
async fn history_older_than_the_retention_is_pruned() {
    let db = TestDb::new().await;
    emit_ticks_to(&db, "old", 3).await;
    emit_ticks_to(&db, "recent", 2).await;
    sqlx::query(
        "UPDATE herald_delivery SET state = 'delivered', completed_at = now() - interval '40 days'
          WHERE endpoint_id = 'old'",
    )
    .execute(&db.pool)
    .await
    .expect("age");
    sqlx::query(
        "UPDATE herald_event SET created_at = now() - interval '40 days'
          WHERE id IN (SELECT event_id FROM herald_delivery WHERE endpoint_id = 'old')",
    )
    .execute(&db.pool)
    .await
    .expect("age events");
    // Two old claims of one plan: generation 1 is superseded, 2 is the
    // plan's latest.
    let claims: Vec<uuid::Uuid> = sqlx::query_scalar(
        "WITH p AS (INSERT INTO project (resource_id, title) VALUES ('p', 'P') RETURNING id),
              pl AS (INSERT INTO plan (project_id, title) SELECT id, 'Plan' FROM p RETURNING id),
              e AS (INSERT INTO herald_event (id, type, payload, created_at)
                    SELECT gen_random_uuid(), 'PIPELINE_COMPLETED', '{}', now() - interval '100 days'
                      FROM generate_series(1, 2)
                    RETURNING id),
              numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS generation FROM e),
              o AS (INSERT INTO herald_plan_outcome
                        (plan_id, generation, outcome, event_id, last_run_seq, claimed_by, claimed_at)
                    SELECT pl.id, n.generation, 'PIPELINE_COMPLETED', n.id, 0, 'test',
                           now() - interval '100 days'
                      FROM pl, numbered n
                    RETURNING event_id, generation)
         SELECT event_id FROM o ORDER BY generation",
    )
    .fetch_all(&db.pool)
    .await
    .expect("claims");
    // Old transitions of one issue: handled (pruned) and not (kept).
    sqlx::query(
        "WITH u AS (INSERT INTO app_user (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id)
         INSERT INTO issue (project_id, title, creator_id)
         SELECT (SELECT id FROM project), 'Issue', u.id FROM u",
    )
    .execute(&db.pool)
    .await
    .expect("an issue");
    sqlx::query("UPDATE herald_issue_transition SET handled_at = now() - interval '100 days'")
        .execute(&db.pool)
        .await
        .expect("a handled transition");
    sqlx::query(
        "INSERT INTO herald_issue_transition (issue_id, kind, created_at)
         SELECT id, 'APPROVED', now() - interval '100 days' FROM issue",
    )
    .execute(&db.pool)
    .await
    .expect("an unhandled transition");

    let config = RetentionConfig {
        deliveries: Some(Duration::from_secs(30 * 24 * 3600)),
        decisions: Some(Duration::from_secs(90 * 24 * 3600)),
        // Smaller than what is due: the pass loops.
        batch: 2,
        ..RetentionConfig::default()
    };
    let report = prune_pass(&db.store, &config).await.expect("prune");
    // deliveries, claims, transitions, events (3 ticks + generation 1's).
    assert_eq!(report.deleted, [3, 1, 1, 4]);
    assert!(report.caught_up);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_delivery")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert_eq!(left, 2, "pending and recent deliveries stay");
    let kept: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT event_id FROM herald_plan_outcome")
        .fetch_all(&db.pool)
        .await
        .expect("claims left");
    assert_eq!(kept, vec![claims[1]], "the plan's latest claim stays");
    let event_kept: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM herald_event WHERE id = $1)")
            .bind(claims[1])
            .fetch_one(&db.pool)
            .await
            .expect("exists");
    assert!(event_kept, "an event behind a claim stays");
    let transitions: Vec<Option<chrono::DateTime<chrono::Utc>>> =
        sqlx::query_scalar("SELECT handled_at FROM herald_issue_transition")
            .fetch_all(&db.pool)
            .await
            .expect("transitions left");
    assert_eq!(transitions, vec![None], "unhandled transitions stay");

    // A budget spent before catching up says so (the actor goes again at
    // once instead of waiting).
    emit_ticks_to(&db, "old-again", 5).await;
    sqlx::query(
        "UPDATE herald_delivery SET state = 'delivered', completed_at = now() - interval '40 days'
          WHERE endpoint_id = 'old-again'",
    )
    .execute(&db.pool)
    .await
    .expect("age");
    let hurried = RetentionConfig {
        budget: Duration::ZERO,
        ..config
    };
    let report = prune_pass(&db.store, &hurried).await.expect("prune");
    assert_eq!((report.deleted[0], report.caught_up), (2, false));
}

/// `count` events, each with one pending outbox row for `endpoint`,
/// written around `herald_emit` (no subscription needed).
async fn emit_ticks_to(db: &TestDb, endpoint: &str, count: i64) {
    sqlx::query(
        "WITH e AS (INSERT INTO herald_event (id, type, payload)
                    SELECT gen_random_uuid(), 'test.tick', '{}' FROM generate_series(1, $2::bigint)
                    RETURNING id)
         INSERT INTO herald_delivery (event_id, endpoint_id) SELECT id, $1 FROM e",
    )
    .bind(endpoint)
    .bind(count)
    .execute(&db.pool)
    .await
    .expect("rows");
}

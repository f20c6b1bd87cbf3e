//! Approval reminders (issue 25): a pending approval is announced again
//! every interval, at most N times, exactly once across two replicas, and
//! never after the issue is approved or canceled.

use std::time::Duration;

use herald::actors::ReminderConfig;
use herald::daemon::{Daemon, DaemonConfig};

use crate::delivery::fast_delivery;
use crate::support::issues::Seed;
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(60);

async fn replica(db: &TestDb, node: &str, interval: Duration) -> Daemon {
    Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: node.into(),
            delivery: fast_delivery(),
            reminders: Some(ReminderConfig {
                interval,
                max: 3,
                node_id: String::new(),
            }),
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts")
}

/// (reminder number, node) of every reminder of `issue`, in order.
async fn reminders(db: &TestDb, issue: i64) -> Vec<(i32, String)> {
    sqlx::query_as(
        "SELECT number, node_id FROM herald_approval_reminder WHERE issue_id = $1 ORDER BY number",
    )
    .bind(issue)
    .fetch_all(&db.pool)
    .await
    .expect("reminders")
}

/// The `data.reminder` of each ISSUE_APPROVAL_REQUESTED of `issue`, in
/// emission order (null: the request itself).
async fn requests(db: &TestDb, issue: i64) -> Vec<serde_json::Value> {
    sqlx::query_scalar(
        "SELECT coalesce(payload #> '{data,reminder}', 'null') FROM herald_event
          WHERE issue_id = $1 AND type = 'ISSUE_APPROVAL_REQUESTED' ORDER BY seq",
    )
    .bind(issue)
    .fetch_all(&db.pool)
    .await
    .expect("events")
}

/// Two replicas remind a pending approval every 300 ms, three times at
/// most, each reminder once (whichever replica claims it); an issue
/// approved after its first reminder, and one canceled, get no more.
#[actix_rt::test]
async fn a_pending_approval_is_reminded_every_interval_exactly_once_across_two_replicas() {
    let db = TestDb::new().await;
    let interval = Duration::from_millis(300);
    let a = replica(&db, "a", interval).await;
    let b = replica(&db, "b", interval).await;
    let seed = Seed::new(&db.pool);
    let project = seed.project(true, false).await;
    let creator = seed.user("Alice", None).await;
    let dba = seed.user("Bob", None).await;
    seed.member(project, dba.id, "DBA").await;
    let waiting = seed
        .issue(project, None, creator.id, "PENDING", Some(("DBA", 1)))
        .await;
    let approved = seed
        .issue(project, None, creator.id, "PENDING", Some(("DBA", 1)))
        .await;
    let canceled = seed
        .issue(project, None, creator.id, "PENDING", Some(("DBA", 1)))
        .await;

    wait_until("the first reminders", DEADLINE, || async {
        (reminders(&db, approved).await.len() == 1 && reminders(&db, canceled).await.len() == 1)
            .then_some(())
    })
    .await;
    seed.approve(approved).await;
    sqlx::query("UPDATE issue SET status = 'CANCELED' WHERE id = $1")
        .bind(canceled)
        .execute(&db.pool)
        .await
        .expect("cancel");
    wait_until("three reminders of the waiting issue", DEADLINE, || async {
        (reminders(&db, waiting).await.len() == 3).then_some(())
    })
    .await;
    // Past two more intervals: nothing more for anyone.
    let settled = std::time::Instant::now();
    wait_until("two more intervals", DEADLINE, || async {
        (settled.elapsed() > interval * 2).then_some(())
    })
    .await;
    let numbers: Vec<i32> = reminders(&db, waiting)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(
        requests(&db, waiting).await,
        [serde_json::Value::Null, 1.into(), 2.into(), 3.into()],
        "the request, then each reminder once"
    );
    assert_eq!(
        reminders(&db, approved).await.len(),
        1,
        "none after approval"
    );
    assert_eq!(reminders(&db, canceled).await.len(), 1, "none after cancel");
    // Each reminder was at least an interval after the one before.
    let times: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM sent_at)::float8 FROM herald_approval_reminder
          WHERE issue_id = $1 ORDER BY number",
    )
    .bind(waiting)
    .fetch_all(&db.pool)
    .await
    .expect("times");
    for pair in times.windows(2) {
        assert!(pair[1] - pair[0] >= 0.29, "{times:?}");
    }
    a.stop().await;
    b.stop().await;
}

//! An idle herald rewrites nothing but one heartbeat row per replica: its
//! config endpoints' rows keep their versions across sweeps, while the
//! replica's liveness is renewed and fan-out still sees its config.

use std::time::Duration;

use crate::delivery::{endpoint, fast_delivery, start};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(20);

async fn row_versions(db: &TestDb) -> Vec<(String, String)> {
    sqlx::query_as("SELECT id, xmin::text FROM herald_endpoint ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("rows")
}

async fn heartbeat(db: &TestDb) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT expires_at FROM herald_config_node WHERE node_id = 'idle'")
        .fetch_one(&db.pool)
        .await
        .expect("heartbeat row")
}

#[actix_rt::test]
async fn sweeps_renew_one_heartbeat_row_and_rewrite_no_endpoint_row() {
    let db = TestDb::new().await;
    let endpoints = (0..3)
        .map(|i| endpoint(&format!("e{i}"), "http://127.0.0.1:9/".into()))
        .collect();
    // Sweeps every 300 ms: each renews this replica's liveness.
    let daemon = start(&db, "idle", endpoints, fast_delivery()).await;
    let before = wait_until("the config mirrored", DEADLINE, || async {
        let rows = row_versions(&db).await;
        (rows.len() == 3).then_some(rows)
    })
    .await;
    let first = heartbeat(&db).await;
    // Several sweeps later (the heartbeat moved on by more than a second)…
    wait_until("several renewals", DEADLINE, || async {
        (heartbeat(&db).await > first + chrono::Duration::seconds(1)).then_some(())
    })
    .await;
    // …no endpoint row was rewritten, and fan-out still follows the config.
    assert_eq!(row_versions(&db).await, before);
    let subscribed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM herald_subscription WHERE endpoint_id LIKE 'e%'")
            .fetch_one(&db.pool)
            .await
            .expect("subscription");
    assert_eq!(subscribed, 3);
    daemon.stop().await;
}

/// A replica cleaned up as gone (its heartbeat and config rows deleted,
/// as after a day away) writes its config again at its next sweep.
#[actix_rt::test]
async fn a_replica_whose_rows_were_cleaned_up_writes_them_again() {
    let db = TestDb::new().await;
    let endpoints = vec![endpoint("back", "http://127.0.0.1:9/".into())];
    let daemon = start(&db, "idle", endpoints, fast_delivery()).await;
    wait_until("the config mirrored", DEADLINE, || async {
        (row_versions(&db).await.len() == 1).then_some(())
    })
    .await;
    // Both at once, as the cleanup does (a sweep between the two would
    // see its heartbeat gone and write the rows before they were deleted).
    sqlx::query(
        "WITH gone AS (DELETE FROM herald_config_node WHERE node_id = 'idle' RETURNING node_id)
         DELETE FROM herald_endpoint e USING gone WHERE e.node_id = gone.node_id",
    )
    .execute(&db.pool)
    .await
    .expect("forget the heartbeat and the rows");
    wait_until("the config written again", DEADLINE, || async {
        (row_versions(&db).await.len() == 1).then_some(())
    })
    .await;
    daemon.stop().await;
}

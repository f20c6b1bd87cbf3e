//! Importing Bytebase's own project webhooks: off by default; with
//! `--bytebase-import-webhooks` they are mirrored read-only, kept in step
//! with Bytebase (added, changed, removed) and delivered to like native ones.

use std::time::Duration;

use herald::sources::bytebase::follow::FollowConfig;
use serde_json::{json, Value};

use crate::bytebase::{people, replica_with, wait_attached, wait_events, DEADLINE, PROJECT};
use crate::support::bytebase::BytebaseDb;
use crate::support::logs::LogCapture;
use crate::support::{wait_until, TestDb};

const URL_TOKEN: &str = "xoxb-url-token-never-logged";

type Row = (i64, String, String, String, Vec<String>);

/// The native project webhooks: (id, type, title, url, event types).
async fn native(db: &TestDb) -> Vec<Row> {
    sqlx::query_as("SELECT id, type, title, url, event_types FROM project_webhook ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .expect("project webhooks")
}

async fn wait_native(db: &TestDb, what: &str, done: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    wait_until(what, DEADLINE, || async {
        let rows = native(db).await;
        done(&rows).then_some(rows)
    })
    .await
}

fn slack(title: &str, activities: Value) -> Value {
    json!({
        "type": "SLACK",
        "title": title,
        "url": format!("https://hooks.invalid/services/T0/B0/{URL_TOKEN}"),
        "activities": activities,
    })
}

#[actix_rt::test]
async fn bytebase_project_webhooks_are_imported_only_when_asked_and_kept_in_step() {
    let (logs, _guard) = LogCapture::install();
    let db = TestDb::new().await;
    let bytebase = BytebaseDb::new().await;
    people(&bytebase).await;
    let webhook = bytebase
        .webhook(PROJECT, slack("DBA", json!(["ISSUE_CREATED"])))
        .await;
    let direct = bytebase
        .webhook(
            PROJECT,
            json!({"type": "SLACK", "url": "https://hooks.invalid/dm", "activities": ["ISSUE_CREATED"], "directMessage": true}),
        )
        .await;
    let follow = FollowConfig {
        people_every: Duration::from_millis(100),
        ..FollowConfig::default()
    };

    // By default: Bytebase posts to its webhooks itself; herald reads none.
    let plain = replica_with(&db, &bytebase, "plain", None, follow.clone()).await;
    wait_attached(&db).await;
    let plan = bytebase.plan(PROJECT, "Before").await;
    bytebase.issue(PROJECT, plan, "Before", &[], false).await;
    wait_events(&db, 1, "the first issue").await;
    assert!(native(&db).await.is_empty(), "nothing imported by default");
    plain.stop().await;

    // Asked to: the webhook is mirrored; the direct-message one is not.
    let daemon = replica_with(
        &db,
        &bytebase,
        "importing",
        None,
        FollowConfig {
            import_webhooks: true,
            ..follow
        },
    )
    .await;
    let rows = wait_native(&db, "the import", |rows| !rows.is_empty()).await;
    let [(id, platform, title, url, types)] = rows.as_slice() else {
        panic!("one webhook imported: {rows:?}");
    };
    let id = *id;
    assert_eq!((platform.as_str(), title.as_str()), ("slack", "DBA"));
    assert!(url.ends_with(URL_TOKEN), "{url}");
    assert_eq!(types, &["ISSUE_CREATED"]);
    let direct_id = direct.to_string();
    let skipped = logs.find(
        "source.row_skipped",
        &[
            ("table", "project_webhook"),
            ("id", &direct_id),
            ("field", "directMessage"),
        ],
    );
    assert_eq!(skipped.len(), 1, "{:?}", logs.lines());

    // Delivered to like a native webhook.
    let plan = bytebase.plan(PROJECT, "After").await;
    bytebase.issue(PROJECT, plan, "After", &[], false).await;
    let endpoint = format!("project-webhook-{id}");
    wait_until("a delivery to the imported webhook", DEADLINE, || async {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM herald_delivery d JOIN herald_event e ON e.id = d.event_id
              WHERE d.endpoint_id = $1 AND e.type = 'ISSUE_CREATED'",
        )
        .bind(&endpoint)
        .fetch_one(&db.pool)
        .await
        .ok()?;
        (count == 1).then_some(())
    })
    .await;

    // Changed in Bytebase: changed here, under the same id.
    bytebase
        .set_webhook(
            webhook,
            slack("DBA on call", json!(["ISSUE_CREATED", "PIPELINE_FAILED"])),
        )
        .await;
    let rows = wait_native(&db, "the update", |rows| {
        rows.iter().any(|r| r.2 == "DBA on call")
    })
    .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, id, "same endpoint id");
    assert_eq!(rows[0].4, ["ISSUE_CREATED", "PIPELINE_FAILED"]);

    // Deleted in Bytebase: gone here.
    bytebase.delete_webhook(webhook).await;
    wait_native(&db, "the removal", |rows| rows.is_empty()).await;
    assert_eq!(logs.count("source.webhook_imported", &[]), 2);
    assert_eq!(
        logs.count("source.webhook_removed", &[("endpoint_id", &endpoint)]),
        1
    );
    daemon.stop().await;

    let everything: String = logs
        .lines()
        .iter()
        .map(|line| format!("{line:?}"))
        .collect();
    assert!(
        !everything.contains(URL_TOKEN),
        "a webhook URL's token never reaches the logs"
    );
}

//! Emitting an event writes the event and one outbox row per subscribed
//! endpoint in the caller's transaction — from Rust and from SQL alike.

use herald::events::{EventType, NewEvent, PipelineCompletedData};

use crate::support::TestDb;

async fn seed_endpoints(db: &TestDb) -> i64 {
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('shop', 'Shop') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("project");
    sqlx::query(
        "INSERT INTO herald_endpoint (id, project_id, event_types, enabled) VALUES
           ('all', NULL, '{*}', TRUE),
           ('pipelines', NULL, '{PIPELINE_FAILED,PIPELINE_COMPLETED}', TRUE),
           ('users', NULL, '{user.created}', TRUE),
           ('off', NULL, '{*}', FALSE),
           ('other-project', $1 + 1000, '{*}', TRUE)",
    )
    .bind(project)
    .execute(&db.pool)
    .await
    .expect("endpoints");
    sqlx::query(
        "INSERT INTO project_webhook (project_id, type, url, event_types) VALUES
           ($1, 'slack', 'https://hooks.slack.com/x', '{PIPELINE_COMPLETED}')",
    )
    .bind(project)
    .execute(&db.pool)
    .await
    .expect("project webhook");
    project
}

async fn endpoints_of(db: &TestDb, event: uuid::Uuid) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT endpoint_id FROM herald_delivery WHERE event_id = $1 ORDER BY endpoint_id",
    )
    .bind(event)
    .fetch_all(&db.pool)
    .await
    .expect("deliveries")
}

/// A typed event fans out to exactly the enabled, subscribed endpoints of its project.
#[actix_rt::test]
async fn emit_fans_out_to_subscribed_endpoints() {
    let db = TestDb::new().await;
    let project = seed_endpoints(&db).await;
    let now = chrono::Utc::now();
    let mut event = NewEvent::typed(
        EventType::PipelineCompleted,
        &PipelineCompletedData {
            generation: 1,
            total_tasks: 3,
            started_at: now,
            completed_at: now,
            duration_seconds: 0,
        },
    )
    .expect("serializes");
    event.project = Some(herald::events::ProjectRef {
        id: project,
        resource_id: "shop".into(),
        title: "Shop".into(),
    });
    let deliveries = db.store.emit(&event).await.expect("emit");
    assert_eq!(deliveries, 3);
    let webhook = format!("project-webhook-{}", 1);
    assert_eq!(
        endpoints_of(&db, event.id).await,
        vec!["all".to_string(), "pipelines".into(), webhook]
    );
    let stored = db
        .store
        .event(event.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.event_type, "PIPELINE_COMPLETED");
    assert_eq!(stored.project, event.project);
    assert_eq!(stored.data["total_tasks"], 3);
}

/// A host application emits a custom event from its own transaction; a
/// rollback leaves neither event nor outbox rows.
#[actix_rt::test]
async fn custom_event_from_sql_is_transactional() {
    let db = TestDb::new().await;
    seed_endpoints(&db).await;
    let mut tx = db.pool.begin().await.expect("begin");
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT herald_emit('user.created', '{\"data\":{\"user\":\"ada\"}}')")
            .fetch_one(&mut *tx)
            .await
            .expect("emit");
    tx.rollback().await.expect("rollback");
    assert!(db.store.event(id).await.expect("read").is_none());

    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT herald_emit('user.created', '{\"data\":{\"user\":\"ada\"}}')")
            .fetch_one(&db.pool)
            .await
            .expect("emit");
    assert_eq!(
        endpoints_of(&db, id).await,
        vec!["all".to_string(), "users".into()]
    );

    let err = sqlx::query("SELECT herald_emit('not a type', '{}')")
        .execute(&db.pool)
        .await
        .expect_err("invalid type rejected");
    assert!(err.to_string().contains("not a dotted name"), "{err}");
}

/// Ids herald makes in SQL are UUIDv7, as in Rust: they carry the time
/// (docs/events.md promises it for every event herald creates).
#[actix_rt::test]
async fn ids_made_in_sql_are_uuid_v7() {
    let db = TestDb::new().await;
    let before = chrono::Utc::now().timestamp_millis();
    let id: uuid::Uuid = sqlx::query_scalar("SELECT herald_emit('test.v7', '{\"data\": {}}')")
        .fetch_one(&db.pool)
        .await
        .expect("emit");
    let after = chrono::Utc::now().timestamp_millis();
    assert_eq!(id.get_version_num(), 7, "{id}");
    let (secs, nanos) = id.get_timestamp().expect("a v7 timestamp").to_unix();
    let ms = (secs * 1000 + u64::from(nanos) / 1_000_000) as i64;
    // The database's clock is this machine's: within the call, give or take.
    assert!(
        (before - 1000..=after + 1000).contains(&ms),
        "{ms} not in {before}..{after}"
    );
}

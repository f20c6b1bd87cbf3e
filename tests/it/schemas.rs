//! herald's objects live in their own schemas: migrating beside an
//! application whose tables have the same names leaves them untouched, host
//! sessions with any search_path fire working triggers, a database migrated
//! before schemas existed is adopted, and a failing migration names itself.

use std::borrow::Cow;

use sqlx::{ConnectOptions, Connection};

use crate::support::db::TestDb;

/// Tables of the names Bytebase (and many apps) use, in `public`.
const APP_TABLES: &[&str] = &[
    "project",
    "issue",
    "plan",
    "task",
    "task_run",
    "plan_check_run",
    "project_webhook",
];

/// A session on the test database with the server's default search_path
/// (`"$user", public`), as a host application has.
async fn app_session(db: &TestDb) -> sqlx::PgConnection {
    let options = crate::support::db::admin_options().database(&db.name);
    options.connect().await.expect("connect")
}

async fn public_objects(conn: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p', 'S')
         UNION ALL
         SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public'
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .expect("list public")
}

#[tokio::test]
async fn migrating_beside_tables_of_the_same_names_leaves_them_untouched() {
    let db = TestDb::empty().await;
    let mut app = app_session(&db).await;
    for table in APP_TABLES {
        sqlx::query(&format!(
            "CREATE TABLE public.{table} (project TEXT NOT NULL, id BIGINT NOT NULL, payload JSONB, PRIMARY KEY (project, id))"
        ))
        .execute(&mut app)
        .await
        .expect("create app table");
        sqlx::query(&format!(
            "INSERT INTO public.{table} VALUES ('app', 1, '{{\"mine\": true}}')"
        ))
        .execute(&mut app)
        .await
        .expect("insert app row");
    }
    let before = public_objects(&mut app).await;

    let applied = db
        .store
        .migrate(|_, _, _| {})
        .await
        .expect("migrate beside the app");
    assert_eq!(applied, herald::store::MIGRATOR.iter().count());
    assert_eq!(db.store.migrate(|_, _, _| {}).await.expect("again"), 0);

    assert_eq!(public_objects(&mut app).await, before, "public changed");
    for table in APP_TABLES {
        let rows: Vec<(String, i64, serde_json::Value)> =
            sqlx::query_as(&format!("SELECT project, id, payload FROM public.{table}"))
                .fetch_all(&mut app)
                .await
                .expect("app rows");
        assert_eq!(
            rows,
            vec![("app".to_owned(), 1, serde_json::json!({"mine": true}))]
        );
        let host: Option<String> =
            sqlx::query_scalar(&format!("SELECT to_regclass('herald_host.{table}')::text"))
                .fetch_one(&mut app)
                .await
                .expect("regclass");
        assert!(host.is_some(), "herald_host.{table} missing");
    }
    let own: Option<String> = sqlx::query_scalar("SELECT to_regclass('herald.herald_event')::text")
        .fetch_one(&mut app)
        .await
        .expect("regclass");
    assert!(own.is_some());

    // The host writes the native tables, schema-qualified, from a session
    // whose search_path knows nothing of herald: the triggers still work.
    sqlx::query(
        "WITH p AS (INSERT INTO herald_host.project (resource_id, title) VALUES ('shop', 'Shop') RETURNING id),
              pl AS (INSERT INTO herald_host.plan (project_id, title) SELECT id, 'p' FROM p RETURNING id),
              t AS (INSERT INTO herald_host.task (plan_id, name, instance, database_name)
                    SELECT id, 't', 'i', 'd' FROM pl RETURNING id)
         INSERT INTO herald_host.task_run (task_id, status) SELECT id, 'RUNNING' FROM t",
    )
    .execute(&mut app)
    .await
    .expect("host writes through the triggers");
    let work: i64 = sqlx::query_scalar("SELECT count(*) FROM herald.herald_plan_work")
        .fetch_one(&mut app)
        .await
        .expect("work rows");
    assert_eq!(work, 1, "the task-run trigger recorded the plan's work");
    let _ = app.close().await;
}

#[tokio::test]
async fn a_database_migrated_before_schemas_is_adopted_with_its_data() {
    let db = TestDb::empty().await;
    let mut app = app_session(&db).await;
    // The layout of herald before migration 0054: everything in public.
    let legacy = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            herald::store::MIGRATOR
                .iter()
                .filter(|m| m.version < 54)
                .cloned()
                .collect(),
        ),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    };
    legacy.run(&mut app).await.expect("legacy migrations");
    sqlx::query("INSERT INTO public.project (resource_id, title) VALUES ('kept', 'Kept')")
        .execute(&mut app)
        .await
        .expect("legacy row");
    sqlx::query("INSERT INTO public.herald_replica (node_id, expires_at) VALUES ('old', now())")
        .execute(&mut app)
        .await
        .expect("legacy herald row");

    let applied = db
        .store
        .migrate(|_, _, _| {})
        .await
        .expect("adopt and migrate");
    assert!(applied >= 1, "0054 applied");
    assert_eq!(public_objects(&mut app).await, Vec::<String>::new());
    let kept: String = sqlx::query_scalar("SELECT title FROM herald_host.project")
        .fetch_one(&mut app)
        .await
        .expect("host row kept");
    assert_eq!(kept, "Kept");
    let replica: String = sqlx::query_scalar("SELECT node_id FROM herald.herald_replica")
        .fetch_one(&mut app)
        .await
        .expect("herald row kept");
    assert_eq!(replica, "old");
    let recorded: i64 = sqlx::query_scalar("SELECT count(*) FROM herald._sqlx_migrations")
        .fetch_one(&mut app)
        .await
        .expect("ledger");
    assert_eq!(recorded as usize, herald::store::MIGRATOR.iter().count());
    let _ = app.close().await;
}

#[tokio::test]
async fn a_failing_migration_names_itself_and_the_object() {
    let db = TestDb::empty().await;
    let mut app = app_session(&db).await;
    sqlx::query("CREATE SCHEMA herald_host")
        .execute(&mut app)
        .await
        .expect("schema");
    sqlx::query("CREATE TABLE herald_host.task_run (id BIGINT)")
        .execute(&mut app)
        .await
        .expect("squatter");
    let mut applied = Vec::new();
    let error = db
        .store
        .migrate(|_, _, description| applied.push(description.to_owned()))
        .await
        .expect_err("the host schema holds a task_run already");
    let message = error.to_string();
    assert!(
        message.contains("migration 0054 (host schema)"),
        "{message}"
    );
    assert!(message.contains("task_run"), "{message}");
    assert!(!applied.iter().any(|d| d == "host schema"), "{applied:?}");
    let before = herald::store::MIGRATOR
        .iter()
        .filter(|m| m.version < 54)
        .count();
    assert_eq!(applied.len(), before, "only what was applied is reported");
    let _ = app.close().await;
}

//! A fresh PostgreSQL database per test, with herald's migrations applied.
//!
//! The server comes from `HERALD_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). If it is not reachable the
//! test fails with a message saying how to start it; it never skips.
//! The database is dropped when the `TestDb` is dropped.

use std::str::FromStr;

use herald::store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[allow(dead_code)] // fields are used by different test modules
pub struct TestDb {
    pub name: String,
    /// Options for connecting to this test's database.
    pub options: PgConnectOptions,
    /// A URL of this test's database (for child processes).
    pub url: String,
    pub pool: PgPool,
    pub store: Store,
    admin: PgConnectOptions,
}

fn admin_url() -> String {
    std::env::var("HERALD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.into())
}

pub fn admin_options() -> PgConnectOptions {
    let url = admin_url();
    PgConnectOptions::from_str(&url)
        .unwrap_or_else(|e| panic!("HERALD_TEST_DATABASE_URL={url} is not a PostgreSQL URL: {e}"))
}

async fn admin_connection(admin: &PgConnectOptions) -> PgConnection {
    admin.connect().await.unwrap_or_else(|e| {
        panic!(
            "integration tests need PostgreSQL at {}:{} ({e}). Start it with \
             `pg_ctlcluster --skip-systemctl-redirect 15 main start`, or set \
             HERALD_TEST_DATABASE_URL to a server where this user may CREATE DATABASE.",
            admin.get_host(),
            admin.get_port()
        )
    })
}

impl TestDb {
    /// Create an empty database, apply the migrations, and connect a pool.
    pub async fn new() -> TestDb {
        let db = TestDb::empty().await;
        db.store
            .migrate(|_, _, _| {})
            .await
            .expect("migrations apply");
        db
    }

    /// Create an empty database and connect a pool (herald's search_path),
    /// without migrating.
    pub async fn empty() -> TestDb {
        let admin = admin_options();
        let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
        let mut connection = admin_connection(&admin).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("create test database");
        let _ = connection.close().await;
        let options = herald::store::Schemas::default().apply(admin.clone().database(&name));
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(options.clone())
            .await
            .expect("connect to test database");
        let store = Store::from_pool(pool.clone());
        let mut url = url::Url::parse(&admin_url()).expect("a URL");
        url.set_path(&format!("/{name}"));
        TestDb {
            url: url.to_string(),
            name,
            options,
            pool,
            store,
            admin,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        admin_blocking(
            &self.admin,
            vec![format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )],
        );
    }
}

/// Run `statements` as the admin from a separate thread with its own
/// runtime: Drop cannot await, and the test's runtime may be shutting down.
/// The test's pool sockets belong to that runtime (blocked here), so they
/// are not closed politely; `DROP DATABASE … WITH (FORCE)` ends their
/// backends. Failures are ignored (cleanup only).
pub fn admin_blocking(admin: &PgConnectOptions, statements: Vec<String>) {
    let admin = admin.clone();
    let _ = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            if let Ok(mut connection) = admin.connect().await {
                for statement in statements {
                    let _ = sqlx::query(&statement).execute(&mut connection).await;
                }
            }
        });
    })
    .join();
}

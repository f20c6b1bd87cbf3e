//! The store: the only module that speaks SQL.
//!
//! Actors call functions here; they never build queries themselves. Each
//! submodule owns the queries for one group of tables.

pub mod approval;
pub mod bytebase;
pub mod delivery_log;
pub mod endpoints;
pub mod events;
pub mod host_app;
pub mod issue_events;
pub mod leases;
pub mod mirror;
pub mod outbox;
pub mod plans;
pub mod records;
pub mod reminders;
pub mod retention;
pub mod rollout_requests;
pub mod schema;
pub mod silences;
pub mod text;
pub mod work;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use schema::Schemas;

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// One migration failed; PostgreSQL's message names the object.
    #[error("migration {version:04} ({description}) failed: {detail}")]
    Migration {
        version: i64,
        description: String,
        detail: String,
    },
    /// No answer in time (see [`Store::bounded`]).
    #[error("{what}: no answer from PostgreSQL within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    /// Something the store depends on could not be set up.
    #[error("setup failed: {0}")]
    Setup(String),
    /// A row holds a value herald does not understand (e.g. an unknown status).
    #[error("unexpected value in {table}.{column}: {detail}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        detail: String,
    },
}

impl StoreError {
    /// The database cannot be reached or did not answer (as opposed to a
    /// query that failed): callers may say "unavailable, try again".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Timeout { .. } => true,
            StoreError::Database(error) => matches!(
                error,
                sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            ),
            _ => false,
        }
    }
}

/// Settings for the connection pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Upper bound on pooled connections (the listener has its own).
    pub max_connections: u32,
    /// How long to wait for a free connection before failing an operation.
    pub acquire_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection (migrations
    /// are exempt). herald stops waiting for an answer
    /// [`CALL_GRACE`] after it ([`Store::bounded`]).
    pub statement_timeout: Duration,
    /// PostgreSQL's `lock_timeout`: how long a statement waits for a lock.
    pub lock_timeout: Duration,
    /// PostgreSQL's `idle_in_transaction_session_timeout`: a session of
    /// herald's whose client stopped talking mid-transaction is ended by
    /// the server, so its locks (on host rows too) do not outlive it.
    pub idle_in_transaction_timeout: Duration,
    /// Where herald's objects and the native host tables live.
    pub schemas: Schemas,
}

/// How much longer than the statement timeout herald waits for an answer
/// before it gives up on the call (the server's own timeout answers first
/// when the connection works).
pub const CALL_GRACE: Duration = Duration::from_secs(2);

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(5),
            idle_in_transaction_timeout: Duration::from_secs(60),
            schemas: Schemas::default(),
        }
    }
}

/// PostgreSQL's duration syntax for a setting, in milliseconds.
fn setting_ms(duration: Duration) -> String {
    format!("{}ms", duration.as_millis().max(1))
}

/// A handle on herald's database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// How long a bounded call waits for its answer.
    call_timeout: Duration,
    schemas: Schemas,
}

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connect a pool to `options`.
    pub async fn connect(
        options: PgConnectOptions,
        config: &PoolConfig,
    ) -> Result<Self, StoreError> {
        // Server-side keepalives end the session of a client that vanished
        // (sqlx 0.8 sets no client-side TCP keepalive; `bounded` covers
        // the client's side).
        let options = config.schemas.apply(options);
        let options = options.application_name("herald").options([
            ("statement_timeout", setting_ms(config.statement_timeout)),
            ("lock_timeout", setting_ms(config.lock_timeout)),
            (
                "idle_in_transaction_session_timeout",
                setting_ms(config.idle_in_transaction_timeout),
            ),
            ("tcp_keepalives_idle", "30".to_owned()),
            ("tcp_keepalives_interval", "10".to_owned()),
            ("tcp_keepalives_count", "3".to_owned()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Store {
            pool,
            call_timeout: config.statement_timeout + CALL_GRACE,
            schemas: config.schemas.clone(),
        })
    }

    /// Wrap an existing pool (tests, benchmarks); its connections must have
    /// the default schemas' `search_path` ([`Schemas::apply`]).
    pub fn from_pool(pool: PgPool) -> Self {
        let defaults = PoolConfig::default();
        Store {
            pool,
            call_timeout: defaults.statement_timeout + CALL_GRACE,
            schemas: defaults.schemas,
        }
    }

    /// The schemas this store's connections use.
    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }

    /// The underlying pool, for the listener and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply every migration that has not been applied yet, one at a time,
    /// calling `applied` after each one with (index, total, description).
    /// Returns how many were applied; a failure names the migration.
    pub async fn migrate(
        &self,
        mut applied: impl FnMut(usize, usize, &str),
    ) -> Result<usize, StoreError> {
        // Migrations may take longer than any statement herald runs later,
        // and this connection's settings must not return to the pool.
        let mut conn = self.pool.acquire().await?.detach();
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut conn)
            .await?;
        sqlx::query("SET lock_timeout = 0")
            .execute(&mut conn)
            .await?;
        let result = schema::migrate(&mut conn, &self.schemas, |index, total, done| {
            applied(index, total, &done.description)
        })
        .await;
        let _ = sqlx::Connection::close(conn).await;
        let (_, report) = result?;
        Ok(report.len())
    }

    /// Run `call`, giving up once the statement timeout plus
    /// [`CALL_GRACE`] has passed without an answer (a connection that hangs
    /// without closing): the error names `what` it was doing.
    pub async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Timeout {
                what,
                after: self.call_timeout,
            }),
        }
    }

    /// Is the database reachable right now?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

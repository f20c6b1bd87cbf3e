//! The store: the only module that speaks SQL.
//!
//! Actors call functions here; they never build queries themselves. Each
//! submodule owns the queries for one group of tables.

pub mod approval;
pub mod delivery_log;
pub mod endpoints;
pub mod events;
pub mod host_app;
pub mod issue_events;
pub mod leases;
pub mod outbox;
pub mod plans;
pub mod records;
pub mod retention;
pub mod text;

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
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

/// Settings for the connection pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Upper bound on pooled connections (the listener has its own).
    pub max_connections: u32,
    /// How long to wait for a free connection before failing an operation.
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// A handle on herald's database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Store {
    /// Connect a pool to `options`.
    pub async fn connect(
        options: PgConnectOptions,
        config: &PoolConfig,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options.application_name("herald"))
            .await?;
        Ok(Store { pool })
    }

    /// Wrap an existing pool (tests, benchmarks).
    pub fn from_pool(pool: PgPool) -> Self {
        Store { pool }
    }

    /// The underlying pool, for the listener and tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply every migration that has not been applied yet, calling `progress`
    /// before each one with (index, total, description).
    pub async fn migrate(
        &self,
        mut progress: impl FnMut(usize, usize, &str),
    ) -> Result<usize, StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .unwrap_or_default();
        let pending: Vec<_> = MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .collect();
        for (index, migration) in pending.iter().enumerate() {
            progress(index + 1, pending.len(), &migration.description);
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(pending.len())
    }

    /// Is the database reachable right now?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

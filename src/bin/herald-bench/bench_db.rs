//! A throwaway database with herald's migrations, dropped at the end.

use std::str::FromStr;

use anyhow::Context as _;
use herald::store::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub struct BenchDb {
    pub name: String,
    url: String,
    pub options: PgConnectOptions,
    pub store: Store,
    admin: PgConnectOptions,
}

impl BenchDb {
    pub async fn create() -> anyhow::Result<BenchDb> {
        let url = std::env::var("HERALD_BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = PgConnectOptions::from_str(&url).context("HERALD_BENCH_DATABASE_URL")?;
        let name = format!("herald_bench_{}", uuid::Uuid::new_v4().simple());
        let mut connection = admin.connect().await.with_context(|| {
            format!("benchmarks need PostgreSQL at {url} (set HERALD_BENCH_DATABASE_URL)")
        })?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        let options = herald::store::Schemas::default().apply(admin.clone().database(&name));
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await?;
        let store = Store::from_pool(pool);
        store.migrate(|_, _, _| {}).await?;
        let mut database_url = url::Url::parse(&url).context("HERALD_BENCH_DATABASE_URL")?;
        database_url.set_path(&format!("/{name}"));
        Ok(BenchDb {
            url: database_url.to_string(),
            name,
            options,
            store,
            admin,
        })
    }

    /// A URL of this database, for child processes.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        self.store.pool().close().await;
        let mut connection = self.admin.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut connection)
        .await?;
        Ok(())
    }

    pub async fn count_delivered(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE state = 'delivered'")
                .fetch_one(self.store.pool())
                .await?,
        )
    }
}

/// Wait (up to 10 s) until `daemon`'s listener is connected.
pub async fn wait_listening(daemon: &herald::daemon::Daemon) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    while daemon.metrics.listener_connected.get() != 1 {
        if start.elapsed() > std::time::Duration::from_secs(10) {
            anyhow::bail!("the listener did not connect");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(())
}

/// A reading of PostgreSQL's statistics (`read`) once every backend has
/// flushed them: they are published asynchronously — a backend that goes
/// idle within a second of its last flush waits up to 10 s
/// (`PGSTAT_IDLE_INTERVAL`) — so wait until the reading has not moved for
/// 11 s (bounded at a minute).
pub async fn settled_reading<F, Fut>(read: F) -> anyhow::Result<i64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i64>>,
{
    use std::time::{Duration, Instant};
    let mut last = read().await?;
    let mut since = Instant::now();
    let started = Instant::now();
    while since.elapsed() < Duration::from_secs(11) && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = read().await?;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    Ok(last)
}

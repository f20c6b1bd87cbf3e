//! Which PostgreSQL herald talks to: the server `DATABASE_URL` names, or an
//! embedded cluster herald manages itself.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tracing::{info, warn};

use crate::cli::DatabaseArgs;
use crate::embedded_postgres::{EmbeddedConfig, EmbeddedError, EmbeddedPostgres};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    BadUrl(sqlx::Error),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

/// The database herald runs against, for as long as herald runs.
#[derive(Debug)]
pub enum Database {
    External(Box<PgConnectOptions>),
    Embedded(EmbeddedPostgres),
}

impl Database {
    /// Use `DATABASE_URL` if given, else start the embedded cluster.
    pub async fn open(args: &DatabaseArgs) -> Result<Self, DatabaseError> {
        match &args.database_url {
            Some(url) => PgConnectOptions::from_str(url)
                .map(|options| Database::External(Box::new(options)))
                .map_err(DatabaseError::BadUrl),
            None => {
                let config = EmbeddedConfig {
                    data_dir: args.data_dir.clone(),
                    bin_dir: args.pg_bin_dir.clone(),
                };
                Ok(Database::Embedded(EmbeddedPostgres::start(&config).await?))
            }
        }
    }

    pub fn connect_options(&self) -> PgConnectOptions {
        match self {
            Database::External(options) => (**options).clone(),
            Database::Embedded(cluster) => cluster.connect_options(),
        }
    }

    /// Stop the embedded cluster, if there is one.
    pub async fn close(self) -> Result<(), DatabaseError> {
        match self {
            Database::External(_) => Ok(()),
            Database::Embedded(cluster) => Ok(cluster.stop().await?),
        }
    }
}

/// `host:port/database` of `options`, for messages (no user, no password).
pub fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default database)")
    )
}

/// An error with its causes, one after the other.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Wait until the database accepts a connection, retrying with backoff
/// (0.5 s doubling to 30 s) and saying each time what is tried, where, and
/// why it failed. Returns when connected; never gives up by itself (stop it
/// with a signal).
pub async fn wait_until_reachable(options: &PgConnectOptions) {
    let target = describe(options);
    let mut delay = Duration::from_millis(500);
    let mut attempt: u32 = 1;
    loop {
        let connect = tokio::time::timeout(Duration::from_secs(5), options.connect()).await;
        let cause = match connect {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                if attempt > 1 {
                    info!(event = "database.reachable", database = %target, attempts = attempt);
                }
                return;
            }
            Ok(Err(error)) => chain(&error),
            Err(_) => "no answer within 5s".to_owned(),
        };
        warn!(
            event = "database.unreachable",
            database = %target,
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            cause = %cause,
            "cannot connect to PostgreSQL at {target}: {cause}; retrying (check DATABASE_URL, that the server runs and accepts connections from this host)"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
        attempt += 1;
    }
}

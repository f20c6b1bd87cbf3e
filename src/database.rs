//! Which PostgreSQL herald talks to: the server `DATABASE_URL` names, or an
//! embedded cluster herald manages itself.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

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

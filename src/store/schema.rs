//! Where herald's objects live, and how they get there.
//!
//! herald never creates anything in `public`: its own tables, views and
//! functions live in one schema ([`Schemas::herald`], default `herald`) and
//! the native host tables — the ones a host application writes (`project`,
//! `issue`, `plan`, `task`, `task_run`, …) — in another
//! ([`Schemas::host`], default `herald_host`). Every connection of herald's
//! has `search_path = herald,herald_host`, so its SQL names tables
//! unqualified; every function herald installs carries the same
//! `search_path`, so triggers work whatever the writing session's path is.
//!
//! Migrations run one at a time ([`migrate`]): each is reported as it is
//! applied, and a failure names the migration and PostgreSQL's message (which
//! names the object). A database laid out by herald before schemas existed
//! (everything in `public`) is adopted: its objects are moved into the
//! schemas first, data kept.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::migrate::{Migrate, MigrateError};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, Row};

use super::{StoreError, MIGRATOR};

/// The host tables the migrations create; migration 0054 moves them into
/// the host schema (and [`adopt_public`] out of `public`).
pub const HOST_TABLES: &[&str] = &[
    "project",
    "app_user",
    "project_member",
    "app_user_handle",
    "plan",
    "issue",
    "task",
    "task_run",
    "plan_check_run",
    "rollout",
    "project_webhook",
];

/// The two schemas herald uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schemas {
    /// herald's own tables, views and functions.
    pub herald: String,
    /// The native host tables.
    pub host: String,
}

impl Default for Schemas {
    fn default() -> Self {
        Schemas {
            herald: "herald".to_owned(),
            host: "herald_host".to_owned(),
        }
    }
}

/// A schema name herald refuses.
#[derive(Debug, thiserror::Error)]
pub enum SchemaNameError {
    #[error(
        "schema name {0:?} must be 1–63 characters of a-z, 0-9 and _, not starting with a digit"
    )]
    Invalid(String),
    #[error("schema name {0:?} is reserved (herald never installs into public or pg_*)")]
    Reserved(String),
    #[error("herald's schema and the host schema must differ (both are {0:?})")]
    Same(String),
}

fn check_name(name: &str) -> Result<(), SchemaNameError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if !valid {
        return Err(SchemaNameError::Invalid(name.to_owned()));
    }
    if name == "public" || name.starts_with("pg_") || name == "information_schema" {
        return Err(SchemaNameError::Reserved(name.to_owned()));
    }
    Ok(())
}

impl Schemas {
    /// Schemas named `herald` and `host`, checked.
    pub fn new(herald: &str, host: &str) -> Result<Self, SchemaNameError> {
        check_name(herald)?;
        check_name(host)?;
        if herald == host {
            return Err(SchemaNameError::Same(herald.to_owned()));
        }
        Ok(Schemas {
            herald: herald.to_owned(),
            host: host.to_owned(),
        })
    }

    /// The `search_path` of every herald connection and function.
    pub fn search_path(&self) -> String {
        format!("{},{}", self.herald, self.host)
    }

    /// `options` with herald's `search_path`.
    pub fn apply(&self, options: PgConnectOptions) -> PgConnectOptions {
        options.options([("search_path", self.search_path())])
    }
}

/// One applied migration, for progress reports.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub description: String,
    pub took: Duration,
}

/// What [`migrate`] did before the migrations ran.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Objects moved out of `public` (a database from before schemas).
    pub adopted: usize,
}

/// Apply every pending migration on `conn`, one at a time, calling
/// `applied` after each with (index, total, what). Stops at the first
/// failure, which names the migration.
pub async fn migrate(
    conn: &mut PgConnection,
    schemas: &Schemas,
    mut applied: impl FnMut(usize, usize, &Applied),
) -> Result<(Prepared, Vec<Applied>), StoreError> {
    sqlx::query(&format!("SET search_path = {}", schemas.search_path()))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT set_config('herald.host_schema', $1, false)")
        .bind(&schemas.host)
        .execute(&mut *conn)
        .await?;
    conn.lock().await?;
    let result = migrate_locked(conn, schemas, &mut applied).await;
    let _ = conn.unlock().await;
    result
}

async fn migrate_locked(
    conn: &mut PgConnection,
    schemas: &Schemas,
    applied: &mut impl FnMut(usize, usize, &Applied),
) -> Result<(Prepared, Vec<Applied>), StoreError> {
    for schema in [&schemas.herald, &schemas.host] {
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .execute(&mut *conn)
            .await?;
    }
    let prepared = Prepared {
        adopted: adopt_public(conn, schemas).await?,
    };
    conn.ensure_migrations_table().await?;
    if let Some(version) = conn.dirty_version().await? {
        return Err(MigrateError::Dirty(version).into());
    }
    let done: HashMap<i64, _> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| (m.version, m.checksum))
        .collect();
    let mut pending = Vec::new();
    for migration in MIGRATOR.iter() {
        match done.get(&migration.version) {
            Some(checksum) if *checksum != migration.checksum => {
                return Err(MigrateError::VersionMismatch(migration.version).into());
            }
            Some(_) => {}
            None => pending.push(migration),
        }
    }
    let mut report = Vec::new();
    for (index, migration) in pending.iter().enumerate() {
        let took = conn
            .apply(migration)
            .await
            .map_err(|error| StoreError::Migration {
                version: migration.version,
                description: migration.description.to_string(),
                detail: match error {
                    MigrateError::ExecuteMigration(source, _) => source.to_string(),
                    other => other.to_string(),
                },
            })?;
        let done = Applied {
            version: migration.version,
            description: migration.description.to_string(),
            took,
        };
        applied(index + 1, pending.len(), &done);
        report.push(done);
    }
    pin_function_paths(conn, schemas).await?;
    Ok((prepared, report))
}

/// Give every function in herald's schema herald's `search_path`, so a
/// trigger fired by a host session (whose path may be anything) finds
/// herald's tables. Runs after every migration pass: `CREATE OR REPLACE`
/// drops the setting.
async fn pin_function_paths(conn: &mut PgConnection, schemas: &Schemas) -> Result<(), StoreError> {
    let wanted = format!("search_path={}", schemas.search_path());
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text
           FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = $1
            AND p.prokind = 'f'
            AND NOT coalesce($2 = ANY (p.proconfig), false)",
    )
    .bind(&schemas.herald)
    .bind(&wanted)
    .fetch_all(&mut *conn)
    .await?;
    for function in functions {
        sqlx::query(&format!(
            "ALTER FUNCTION {function} SET search_path = {}",
            schemas.search_path()
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A database migrated before herald had schemas holds herald's objects in
/// `public`: move them (tables with their data, sequences, views,
/// functions) into herald's schema, where migration 0054 then moves the host
/// tables on. Only when `public._sqlx_migrations` records herald's first
/// migration and herald's schema has none yet. Returns how many objects
/// moved.
async fn adopt_public(conn: &mut PgConnection, schemas: &Schemas) -> Result<usize, StoreError> {
    let Some(first) = MIGRATOR.iter().next() else {
        return Ok(0);
    };
    let legacy: bool = sqlx::query_scalar(
        "SELECT to_regclass('public._sqlx_migrations') IS NOT NULL
            AND to_regclass(quote_ident($1) || '._sqlx_migrations') IS NULL",
    )
    .bind(&schemas.herald)
    .fetch_one(&mut *conn)
    .await?;
    if !legacy {
        return Ok(0);
    }
    let ours: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM public._sqlx_migrations WHERE version = $1 AND checksum = $2)",
    )
    .bind(first.version)
    .bind(first.checksum.as_ref())
    .fetch_one(&mut *conn)
    .await?;
    if !ours {
        return Ok(0);
    }
    let host: Vec<String> = HOST_TABLES.iter().map(|t| (*t).to_owned()).collect();
    // Relations: herald's tables and views (sequences owned by a table move
    // with it), then herald's functions.
    let relations = sqlx::query(
        "SELECT c.relname, c.relkind::text AS kind
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public'
            AND c.relkind IN ('r', 'v', 'p')
            AND (c.relname LIKE 'herald\\_%' OR c.relname = ANY ($1) OR c.relname = '_sqlx_migrations')",
    )
    .bind(&host)
    .fetch_all(&mut *conn)
    .await?;
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text
           FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.proname LIKE 'herald\\_%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut moved = 0;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for row in &relations {
        let name: String = row.try_get("relname")?;
        let kind: String = row.try_get("kind")?;
        let what = if kind == "v" { "VIEW" } else { "TABLE" };
        sqlx::query(&format!(
            "ALTER {what} public.{} SET SCHEMA {}",
            quote(&name),
            schemas.herald
        ))
        .execute(&mut *tx)
        .await?;
        moved += 1;
    }
    for function in &functions {
        sqlx::query(&format!(
            "ALTER FUNCTION {function} SET SCHEMA {}",
            schemas.herald
        ))
        .execute(&mut *tx)
        .await?;
        moved += 1;
    }
    tx.commit().await?;
    Ok(moved)
}

/// `name` as a quoted identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(Schemas::new("herald", "herald_host").is_ok());
        assert!(matches!(
            Schemas::new("public", "x"),
            Err(SchemaNameError::Reserved(_))
        ));
        assert!(matches!(
            Schemas::new("a", "a"),
            Err(SchemaNameError::Same(_))
        ));
        for bad in ["", "Herald", "1x", "a-b", "a;drop", &"x".repeat(64)] {
            assert!(
                matches!(Schemas::new(bad, "h"), Err(SchemaNameError::Invalid(_))),
                "{bad:?} accepted"
            );
        }
        assert_eq!(Schemas::default().search_path(), "herald,herald_host");
    }
}

//! The command line: every flag also reads a `HERALD_*` environment variable
//! (or `DATABASE_URL`), and every duration is humantime (`300ms`, `30s`, `5m`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

/// herald: focused, signed, exactly-once notifications from a database-change pipeline.
#[derive(Debug, Parser)]
#[command(name = "herald", version, about, long_about = None)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run(RunArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
}

/// Which PostgreSQL to use.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL to use. Without it, herald runs its own embedded cluster in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Data directory of the embedded cluster (used when no DATABASE_URL is given).
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "herald-data")]
    pub data_dir: PathBuf,

    /// Directory holding initdb, pg_ctl and postgres (default: PATH, then /usr/lib/postgresql/*/bin).
    #[arg(long, env = "HERALD_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// Maximum pooled database connections.
    #[arg(long, env = "HERALD_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// `herald run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Do not apply migrations at start.
    #[arg(long, env = "HERALD_NO_MIGRATE")]
    pub no_migrate: bool,

    /// This replica's name in claims and leases (default: <hostname>-<pid>).
    #[arg(long, env = "HERALD_NODE_ID")]
    pub node_id: Option<String>,

    #[command(flatten)]
    pub listener: ListenerArgs,

    #[command(flatten)]
    pub plans: PlanArgs,
}

/// Plan supervisors.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Failure debounce window: failures of a plan within it go out as one PIPELINE_FAILED.
    #[arg(long, env = "HERALD_FAILURE_WINDOW", default_value = "5m", value_parser = humantime::parse_duration)]
    pub failure_window: Duration,

    /// Stop a plan's supervisor after this long without messages and without an open window.
    #[arg(long, env = "HERALD_PLAN_IDLE", default_value = "10m", value_parser = humantime::parse_duration)]
    pub plan_idle: Duration,
}

/// The notification listener.
#[derive(Debug, Clone, Args)]
pub struct ListenerArgs {
    /// First delay before reconnecting a lost listener connection (doubles each failure).
    #[arg(long, env = "HERALD_RECONNECT_INITIAL", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub reconnect_initial: Duration,

    /// Longest delay between listener reconnect attempts.
    #[arg(long, env = "HERALD_RECONNECT_MAX", default_value = "30s", value_parser = humantime::parse_duration)]
    pub reconnect_max: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_humantime() {
        let cli = Cli::try_parse_from([
            "herald",
            "run",
            "--reconnect-initial",
            "250ms",
            "--reconnect-max",
            "2m",
        ])
        .expect("valid flags");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.listener.reconnect_initial, Duration::from_millis(250));
        assert_eq!(args.listener.reconnect_max, Duration::from_secs(120));
    }

    #[test]
    fn plan_flags_default_and_parse() {
        let cli = Cli::try_parse_from(["herald", "run"]).expect("defaults");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.plans.failure_window, Duration::from_secs(300));
        assert_eq!(args.plans.plan_idle, Duration::from_secs(600));
        let cli = Cli::try_parse_from([
            "herald",
            "run",
            "--failure-window",
            "300ms",
            "--plan-idle",
            "1h",
        ])
        .expect("valid flags");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.plans.failure_window, Duration::from_millis(300));
        assert_eq!(args.plans.plan_idle, Duration::from_secs(3600));
    }

    #[test]
    fn a_bad_duration_is_a_clear_error() {
        let err = Cli::try_parse_from(["herald", "run", "--reconnect-max", "soon"])
            .expect_err("not a duration");
        assert!(err.to_string().contains("--reconnect-max"), "{err}");
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

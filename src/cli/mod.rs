//! The command line: every flag also reads a `HERALD_*` environment variable
//! (or `DATABASE_URL`), and every duration is humantime (`300ms`, `30s`, `5m`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::logging::LogFormat;

mod admin;
pub use admin::*;

/// herald: focused, signed, exactly-once notifications from a database-change pipeline.
#[derive(Debug, Parser)]
#[command(name = "herald", version = crate::VERSION, about, long_about = None)]
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
    Run(Box<RunArgs>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// List deliveries from a running herald's delivery log (admin API).
    Deliveries(DeliveriesArgs),
    /// Send deliveries again through a running herald (admin API): failed or
    /// delivered ones by id, or every failed one.
    Replay(ReplayArgs),
    /// One delivery in full (admin API).
    #[command(subcommand)]
    Delivery(DeliveryCommand),
    /// List, enable, disable or recover endpoints (admin API).
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
    /// Make a running herald read its config file again (admin API).
    Reload(ReloadArgs),
    /// Add, list or expire silences: time-bounded mutes held on every
    /// replica (admin API).
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Play a whole pipeline end to end on a temporary embedded database.
    Demo(DemoArgs),
    /// Validate the config file and print the effective endpoints (secrets masked).
    CheckConfig(CheckConfigArgs),
    /// Which endpoints of the config file an event would reach (`routes test`).
    #[command(subcommand)]
    Routes(RoutesCommand),
    /// Message templates: `herald template render` previews an endpoint's
    /// message for an event.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Receive webhooks locally: print each one and verify its signature.
    Sink(SinkArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print herald's man page (roff), generated from these definitions.
    Man(ManArgs),
    /// Secrets: `herald secret generate` prints a new Standard Webhooks secret.
    #[command(subcommand)]
    Secret(SecretCommand),
}

/// `herald secret …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SecretCommand {
    /// Print a new Standard Webhooks secret (`whsec_` + base64 of 32 random bytes).
    Generate,
}

/// Where herald may send (`run` and `check-config` judge alike).
#[derive(Debug, Clone, Args)]
pub struct NetworkArgs {
    /// Address ranges herald may send to besides public addresses, comma-separated
    /// CIDRs (e.g. 10.20.0.0/16,fd00:1::/64). Loopback, private, link-local, CGNAT,
    /// unique-local and other special addresses are refused otherwise.
    #[arg(long, env = "HERALD_ALLOW_PRIVATE_NETWORKS", value_delimiter = ',')]
    pub allow_private_networks: Vec<ipnet::IpNet>,

    /// PEM file of certificate authorities to trust besides the public ones (a
    /// local or company receiver with its own CA; with --allow-private-networks
    /// for a receiver on a private address).
    #[arg(long, env = "HERALD_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

impl NetworkArgs {
    /// The certificates of `--ca-bundle` (none without it).
    pub fn ca_roots(&self) -> anyhow::Result<Vec<reqwest::Certificate>> {
        use anyhow::Context as _;
        let Some(path) = &self.ca_bundle else {
            return Ok(Vec::new());
        };
        let pem = std::fs::read(path)
            .with_context(|| format!("cannot read the CA bundle {}", path.display()))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not a PEM certificate bundle", path.display()))?;
        anyhow::ensure!(
            !roots.is_empty(),
            "the CA bundle {} holds no certificate",
            path.display()
        );
        Ok(roots)
    }

    pub fn policy(&self) -> crate::delivery::destination::NetworkPolicy {
        crate::delivery::destination::NetworkPolicy::new(self.allow_private_networks.clone())
    }
}

/// `herald completions SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
}

/// `herald man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write herald.1 and a page per subcommand into this directory instead.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// `herald routes …`.
#[derive(Debug, Clone, Subcommand)]
pub enum RoutesCommand {
    /// Say which config endpoints an event of TYPE (of --project) would
    /// reach, and why each other one would not.
    Test(RoutesTestArgs),
}

/// `herald template …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TemplateCommand {
    /// Print the body an endpoint of the config file would send for an
    /// event (its template's, or herald's own and why).
    Render(TemplateRenderArgs),
}

/// `herald template render`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["event", "sample"])))]
pub struct TemplateRenderArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The endpoint's id in the config file.
    #[arg(long)]
    pub endpoint: String,
    /// A file holding the event as JSON (a generic webhook's body, as
    /// `herald sink` prints it); `-` reads standard input.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// herald's sample event of this type instead (PIPELINE_FAILED, …).
    #[arg(long, value_name = "TYPE")]
    pub sample: Option<String>,
}

/// `herald routes test`.
#[derive(Debug, Clone, Args)]
pub struct RoutesTestArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The event type, e.g. PIPELINE_FAILED or user.created.
    pub event_type: String,
    /// The event's project: a resource id (`shop`) or a numeric project id.
    #[arg(long)]
    pub project: Option<String>,
    /// An attribute of the event, for filters and silences:
    /// `--attr environment=prod --attr database=shop` (repeatable).
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// Judge mute windows and silences at this time (RFC 3339); now by default.
    #[arg(long)]
    pub at: Option<String>,
    /// Also judge the silences of a running herald (read through its admin API).
    #[arg(long)]
    pub silences: bool,
    #[command(flatten)]
    pub admin: AdminClientArgs,
}

/// `herald check-config`.
#[derive(Debug, Clone, Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
}

/// `herald demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// The failure window herald uses in the demo.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub failure_window: Duration,

    /// Directory holding initdb, pg_ctl and postgres (default: PATH, then /usr/lib/postgresql/*/bin).
    #[arg(long, env = "HERALD_PG_BIN_DIR")]
    pub pg_bin_dir: Option<PathBuf>,

    /// After the scenario, keep herald running with its console open
    /// (the URL and a one-time token are printed) until Ctrl-C.
    #[arg(long)]
    pub keep_open: bool,

    /// With --keep-open: the console's address (default: a free loopback port).
    #[arg(long, requires = "keep_open")]
    pub admin_addr: Option<std::net::SocketAddr>,
}

/// `herald sink`.
#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, env = "HERALD_SINK_ADDR", default_value = "127.0.0.1:9000")]
    pub addr: std::net::SocketAddr,

    /// Standard Webhooks secret (`whsec_...`) to verify with; without one, nothing is verified.
    #[arg(
        long,
        env = "HERALD_SINK_SECRET",
        hide_env_values = true,
        conflicts_with = "secret_file"
    )]
    pub secret: Option<String>,

    /// File holding the secret (preferred over --secret).
    #[arg(long, env = "HERALD_SINK_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

/// The config file of global endpoints and where their secrets live.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// YAML file of global endpoints [default: herald.yaml; absent is fine unless given explicitly].
    #[arg(long = "config", env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Directory of secret files (`<dir>/<secret name>`), tried before environment variables.
    #[arg(long, env = "HERALD_SECRETS_DIR", default_value = "/run/secrets")]
    pub secrets_dir: PathBuf,
}

impl ConfigArgs {
    /// The file to read and whether it was given explicitly.
    pub fn path(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(crate::config::DEFAULT_CONFIG_PATH), false),
        }
    }

    /// Load and validate the config file.
    pub fn load(&self) -> Result<crate::config::Config, crate::config::ConfigError> {
        self.source().load()
    }

    /// Where to (re)load the config from.
    pub fn source(&self) -> crate::config::Source {
        let (path, explicit) = self.path();
        crate::config::Source {
            path,
            secrets_dir: self.secrets_dir.clone(),
            explicit,
        }
    }
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

    /// Longest one statement of herald's may run (PostgreSQL's statement_timeout;
    /// migrations are exempt). herald also stops waiting for an answer 2 s after it
    /// and retries with backoff, so a connection that hangs cannot stall it.
    #[arg(long, env = "HERALD_DB_STATEMENT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub db_statement_timeout: Duration,

    /// Longest herald waits for a row lock (PostgreSQL's lock_timeout), e.g. on a
    /// task row a host transaction holds; the claim is retried later.
    #[arg(long, env = "HERALD_DB_LOCK_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub db_lock_timeout: Duration,

    /// Schema for herald's own tables, views and functions (created if missing;
    /// herald installs nothing in public).
    #[arg(long, env = "HERALD_SCHEMA", default_value = "herald")]
    pub schema: String,

    /// Schema for the native host tables (project, issue, plan, task, task_run, …),
    /// which the host application writes (docs/hosts.md).
    #[arg(long, env = "HERALD_HOST_SCHEMA", default_value = "herald_host")]
    pub host_schema: String,
}

impl DatabaseArgs {
    /// The schemas named by `--schema` and `--host-schema`, checked.
    pub fn schemas(&self) -> Result<crate::store::Schemas, crate::store::schema::SchemaNameError> {
        crate::store::Schemas::new(&self.schema, &self.host_schema)
    }

    /// Pool settings from these arguments.
    pub fn pool_config(&self) -> anyhow::Result<crate::store::PoolConfig> {
        Ok(crate::store::PoolConfig {
            max_connections: self.db_max_connections,
            statement_timeout: self.db_statement_timeout,
            lock_timeout: self.db_lock_timeout,
            schemas: self.schemas()?,
            ..crate::store::PoolConfig::default()
        })
    }
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
    pub admin: AdminArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub config: ConfigArgs,

    #[command(flatten)]
    pub plans: PlanArgs,

    #[command(flatten)]
    pub source: SourceArgs,
}

/// The pipeline source.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Where pipeline facts come from: `native` (the host writes herald's host
    /// tables) or `bytebase` (herald follows a Bytebase metadata database, read
    /// only; docs/hosts.md).
    #[arg(long, env = "HERALD_SOURCE", default_value = "native", value_parser = ["native", "bytebase"])]
    pub source: String,

    /// The Bytebase metadata database (with --source bytebase), through a role
    /// that may only SELECT.
    #[arg(long, env = "HERALD_BYTEBASE_URL", hide_env_values = true)]
    pub bytebase_url: Option<String>,

    /// Time between follow passes of the Bytebase source.
    #[arg(long, env = "HERALD_BYTEBASE_POLL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub bytebase_poll: Duration,

    /// Bytebase's external URL (`https://bytebase.example.com`): with it, herald
    /// creates through Bytebase's API the rollouts Bytebase's own creator has not
    /// made within --bytebase-rollout-grace.
    #[arg(long, env = "HERALD_BYTEBASE_API_URL")]
    pub bytebase_api_url: Option<url::Url>,

    /// The Bytebase service account herald signs in as (needs bb.rollouts.create).
    #[arg(long, env = "HERALD_BYTEBASE_API_EMAIL")]
    pub bytebase_api_email: Option<String>,

    /// File holding that account's password or service key.
    #[arg(long, env = "HERALD_BYTEBASE_API_PASSWORD_FILE")]
    pub bytebase_api_password_file: Option<PathBuf>,

    /// How long Bytebase's own creator has before herald creates a due rollout.
    #[arg(long, env = "HERALD_BYTEBASE_ROLLOUT_GRACE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub bytebase_rollout_grace: Duration,

    /// Also deliver to Bytebase's own project webhooks (imported read-only,
    /// kept in step). Off by default: Bytebase already posts to them, so
    /// with this on each such webhook hears from both (docs/hosts.md).
    #[arg(long, env = "HERALD_BYTEBASE_IMPORT_WEBHOOKS")]
    pub bytebase_import_webhooks: bool,
}

impl SourceArgs {
    /// Bytebase's API, if configured (all three of URL, e-mail, password).
    fn api(&self) -> anyhow::Result<Option<crate::sources::bytebase::api::ApiConfig>> {
        let Some(base) = &self.bytebase_api_url else {
            return Ok(None);
        };
        let (Some(email), Some(file)) =
            (&self.bytebase_api_email, &self.bytebase_api_password_file)
        else {
            anyhow::bail!(
                "--bytebase-api-url needs --bytebase-api-email and --bytebase-api-password-file"
            );
        };
        let password = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("--bytebase-api-password-file {}: {e}", file.display()))?
            .trim()
            .to_owned();
        Ok(Some(crate::sources::bytebase::api::ApiConfig {
            base: base.clone(),
            email: email.clone(),
            password,
            timeout: Duration::from_secs(10),
        }))
    }

    /// The source these arguments name.
    pub fn config(&self) -> anyhow::Result<crate::daemon::SourceConfig> {
        use std::str::FromStr as _;
        match self.source.as_str() {
            "bytebase" => {
                let Some(url) = &self.bytebase_url else {
                    anyhow::bail!(
                        "--source bytebase needs --bytebase-url (or HERALD_BYTEBASE_URL)"
                    );
                };
                let options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("--bytebase-url is not a PostgreSQL URL: {e}"))?;
                Ok(crate::daemon::SourceConfig::Bytebase(Box::new(
                    crate::daemon::BytebaseSourceConfig {
                        options,
                        follower: crate::actors::FollowerConfig {
                            poll: self.bytebase_poll,
                            follow: crate::sources::bytebase::follow::FollowConfig {
                                import_webhooks: self.bytebase_import_webhooks,
                                ..Default::default()
                            },
                            ..crate::actors::FollowerConfig::default()
                        },
                        api: self.api()?,
                        repair: crate::actors::RepairConfig {
                            grace: self.bytebase_rollout_grace,
                            ..crate::actors::RepairConfig::default()
                        },
                    },
                )))
            }
            _ => Ok(crate::daemon::SourceConfig::Native),
        }
    }
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

    /// Announce an approval still pending again after this long, and again
    /// every time as long (e.g. 4h); off when not given.
    #[arg(long, env = "HERALD_APPROVAL_REMINDER_INTERVAL", value_parser = humantime::parse_duration)]
    pub approval_reminder_interval: Option<Duration>,

    /// Reminders per approval step at most.
    #[arg(long, env = "HERALD_APPROVAL_REMINDER_MAX", default_value_t = 3)]
    pub approval_reminder_max: u32,
}

impl PlanArgs {
    /// Approval reminders, if asked for.
    pub fn reminders(&self) -> Option<crate::actors::ReminderConfig> {
        let interval = self.approval_reminder_interval.filter(|i| !i.is_zero())?;
        (self.approval_reminder_max > 0).then(|| crate::actors::ReminderConfig {
            interval,
            max: self.approval_reminder_max,
            node_id: String::new(),
        })
    }
}

/// Webhook delivery: retries, timeouts, leases.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Delay after the first failed attempt; doubles each attempt (±20 % jitter).
    #[arg(long, env = "HERALD_RETRY_BASE", default_value = "5s", value_parser = humantime::parse_duration)]
    pub retry_base: Duration,

    /// Longest delay between attempts.
    #[arg(long, env = "HERALD_RETRY_CAP", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retry_cap: Duration,

    /// Failed attempts before a delivery is marked failed (replayable); throttled
    /// attempts (429, 503 with Retry-After, platform rate-limit codes) do not count.
    #[arg(long, env = "HERALD_RETRY_MAX_ATTEMPTS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    pub retry_max_attempts: u32,

    /// Longest Retry-After (429/503) herald honours.
    #[arg(long, env = "HERALD_RETRY_AFTER_MAX", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retry_after_max: Duration,

    /// No retry past this age of a delivery (from when it was queued or replayed).
    #[arg(long, env = "HERALD_RETRY_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub retry_max_age: Duration,

    /// TCP connect timeout per attempt.
    #[arg(long, env = "HERALD_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// Longest one attempt may take, whole (a direct message's API calls together).
    /// A graceful stop waits for the attempts in flight: at most this plus a quarter,
    /// plus 1 s for their records.
    #[arg(long, env = "HERALD_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Disable an endpoint after this many consecutive failed deliveries (0: never).
    #[arg(long, env = "HERALD_DISABLE_AFTER", default_value_t = 20)]
    pub disable_after: u32,

    /// How long a replica owns an endpoint without renewing (takeover time after a crash
    /// or a hang); renewed every third. Must leave room for an attempt: two thirds of it
    /// at least the request timeout plus a quarter (checked at start).
    #[arg(long, env = "HERALD_LEASE_TTL", default_value = "20s", value_parser = humantime::parse_duration)]
    pub lease_ttl: Duration,

    #[command(flatten)]
    pub network: NetworkArgs,

    /// Delete finished deliveries (with their attempts) and events nothing refers to
    /// once older than this; `0s` keeps them forever.
    #[arg(long, env = "HERALD_RETAIN", default_value = "30d", value_parser = humantime::parse_duration)]
    pub retain: Duration,

    /// Delete outcome claims superseded by a later generation and handled issue
    /// transitions once older than this; `0s` keeps them forever.
    #[arg(long, env = "HERALD_RETAIN_DECISIONS", default_value = "90d", value_parser = humantime::parse_duration)]
    pub retain_decisions: Duration,

    /// Pending deliveries of an endpoint no config knows (removed from the file,
    /// an invalid project webhook) are failed after sitting this long.
    #[arg(long, env = "HERALD_ORPHAN_GRACE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub orphan_grace: Duration,

    /// Safety-net scan of the outbox for work NOTIFY did not announce.
    #[arg(long, env = "HERALD_SWEEP_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub sweep_interval: Duration,
}

impl DeliveryArgs {
    /// What history is kept (`--retain`, `--retain-decisions`).
    pub fn retention(&self) -> crate::actors::RetentionConfig {
        crate::actors::RetentionConfig {
            deliveries: Some(self.retain).filter(|d| !d.is_zero()),
            decisions: Some(self.retain_decisions).filter(|d| !d.is_zero()),
            ..crate::actors::RetentionConfig::default()
        }
    }

    pub fn config(&self) -> crate::delivery::DeliveryConfig {
        crate::delivery::DeliveryConfig {
            retry: crate::delivery::RetryPolicy {
                base: self.retry_base,
                cap: self.retry_cap,
                max_attempts: self.retry_max_attempts,
                retry_after_max: self.retry_after_max,
                max_age: self.retry_max_age,
                schedule: Vec::new(),
            },
            lease_ttl: self.lease_ttl,
            sweep_interval: self.sweep_interval,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            disable_after: self.disable_after,
            orphan_grace: self.orphan_grace,
            network: crate::delivery::destination::NetworkPolicy::new(
                self.network.allow_private_networks.clone(),
            ),
            ..crate::delivery::DeliveryConfig::default()
        }
    }
}

/// The admin HTTP API.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Address of the admin API (health, metrics, delivery log). Every route but
    /// /healthz, /readyz, /openapi.json and the console's files needs the admin token,
    /// on loopback too; off loopback a token must be configured (not generated).
    #[arg(long, env = "HERALD_ADMIN_ADDR", default_value = "127.0.0.1:8080")]
    pub admin_addr: std::net::SocketAddr,

    /// Also serve GET /metrics here, without a token (a Prometheus scrape
    /// endpoint on a listener of its own).
    #[arg(long, env = "HERALD_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// File holding the admin API's bearer token (preferred over HERALD_ADMIN_TOKEN).
    /// Without one, a token is generated into --data-dir/admin-token (mode 0600).
    #[arg(long, env = "HERALD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Host names the admin API answers to besides its address (e.g. a proxy's name).
    #[arg(long = "admin-host", env = "HERALD_ADMIN_HOSTS", value_delimiter = ',')]
    pub admin_hosts: Vec<String>,
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

    /// Rescan plans, approvals and issue transitions this often, so work whose
    /// notification was lost or whose handling failed is picked up without a reconnect.
    #[arg(long, env = "HERALD_RECONCILE_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub reconcile_interval: Duration,
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
    fn config_args() {
        let cli = Cli::try_parse_from(["herald", "check-config", "--config", "x.yaml"])
            .expect("valid flags");
        let Command::CheckConfig(args) = cli.command else {
            panic!("expected check-config");
        };
        assert_eq!(args.config.path(), (PathBuf::from("x.yaml"), true));
        let cli = Cli::try_parse_from(["herald", "run", "--secrets-dir", "/s"]).expect("valid");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.config.secrets_dir, PathBuf::from("/s"));
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

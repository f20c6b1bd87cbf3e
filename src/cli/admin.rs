//! The commands that talk to a running herald through its admin API.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// How to reach a running herald's admin API.
#[derive(Debug, Clone, Args)]
pub struct AdminClientArgs {
    /// Base URL of the admin API. By default the address a local `herald
    /// run` wrote to --data-dir (`admin-url`), else http://127.0.0.1:8080.
    #[arg(long, env = "HERALD_ADMIN_URL")]
    pub admin_url: Option<url::Url>,

    /// File holding the admin API's bearer token (or set HERALD_ADMIN_TOKEN). By default
    /// the token a local `herald run` generated in --data-dir is used.
    #[arg(long, env = "HERALD_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Where a local `herald run` keeps its data (and its generated admin token).
    #[arg(long, env = "HERALD_DATA_DIR", default_value = "herald-data")]
    pub data_dir: PathBuf,
}

/// `herald deliveries`.
#[derive(Debug, Clone, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    /// Only this endpoint (an unknown id is an error).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only this event's deliveries: its id, or the `webhook-id` its
    /// requests carry (`msg_…`).
    #[arg(long)]
    pub event: Option<String>,
    /// Only this event type.
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_parser = ["pending", "delivered", "failed", "filtered", "muted", "held"])]
    pub status: Option<String>,
    /// Only deliveries created since: an RFC 3339 time or an age such as 1h.
    #[arg(long)]
    pub since: Option<String>,
    /// Rows to show.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `herald replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    /// Delivery ids to replay.
    #[arg(required_unless_present = "all_failed")]
    pub ids: Vec<i64>,
    /// Replay every failed delivery (of --endpoint, if given).
    #[arg(long, conflicts_with = "ids")]
    pub all_failed: bool,
    /// With --all-failed: only this endpoint.
    #[arg(long, requires = "all_failed")]
    pub endpoint: Option<String>,
}

/// `herald delivery …`.
#[derive(Debug, Clone, Subcommand)]
pub enum DeliveryCommand {
    /// One delivery: its event's payload, every attempt with the request as
    /// sent (headers, credentials masked, and body) and the answer, replays.
    Show(DeliveryShowArgs),
}

/// `herald delivery show`.
#[derive(Debug, Clone, Args)]
pub struct DeliveryShowArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    pub id: i64,
    /// Print the API's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `herald endpoints …`.
#[derive(Debug, Clone, Subcommand)]
pub enum EndpointsCommand {
    /// Every endpoint with its state, queue and lease holder.
    List(EndpointsListArgs),
    /// Enable an endpoint (its pending deliveries resume).
    Enable(EndpointArgs),
    /// Disable an endpoint (its deliveries wait until it is enabled).
    Disable(EndpointArgs),
    /// Send an endpoint's failed deliveries since a time again.
    Recover(RecoverArgs),
}

/// `herald endpoints list`.
#[derive(Debug, Clone, Args)]
pub struct EndpointsListArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `herald endpoints enable|disable ID`.
#[derive(Debug, Clone, Args)]
pub struct EndpointArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    pub id: String,
}

/// `herald endpoints recover ID --since T`.
#[derive(Debug, Clone, Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    pub id: String,
    /// Failed deliveries created since: an RFC 3339 time or an age (`2h`).
    #[arg(long)]
    pub since: String,
}

/// `herald reload`.
#[derive(Debug, Clone, Args)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
}

/// `herald silence …`.
#[derive(Debug, Clone, Subcommand)]
pub enum SilenceCommand {
    /// Mute what matches, from now (or --start) for --duration (or until --end).
    Add(SilenceAddArgs),
    /// Silences not yet ended (--all: expired ones too), with what they hold.
    List(SilenceListArgs),
    /// End a silence now; what it holds is sent (unless another mute holds it).
    Expire(SilenceExpireArgs),
}

/// `herald silence add MATCHER… --duration 2h --comment …`.
#[derive(Debug, Clone, Args)]
pub struct SilenceAddArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    /// Matchers that must all hold, in Alertmanager's syntax:
    /// `environment=prod` `type=~"PIPELINE_.*"` `endpoint=oncall`.
    #[arg(required = true)]
    pub matchers: Vec<String>,
    /// How long it lasts (`2h`, `30m`).
    #[arg(long, conflicts_with = "end", required_unless_present = "end")]
    pub duration: Option<String>,
    /// When it ends (RFC 3339), instead of --duration.
    #[arg(long)]
    pub end: Option<String>,
    /// When it starts (RFC 3339); now by default.
    #[arg(long)]
    pub start: Option<String>,
    /// `drop`: not sent, recorded `muted` (replayable); `hold`: sent when
    /// the silence ends, in order.
    #[arg(long, default_value = "drop", value_parser = ["drop", "hold"])]
    pub action: String,
    /// Why (required).
    #[arg(long)]
    pub comment: String,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
}

/// `herald silence list`.
#[derive(Debug, Clone, Args)]
pub struct SilenceListArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    /// Expired silences too.
    #[arg(long)]
    pub all: bool,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `herald silence expire ID`.
#[derive(Debug, Clone, Args)]
pub struct SilenceExpireArgs {
    #[command(flatten)]
    pub admin: AdminClientArgs,
    pub id: String,
}

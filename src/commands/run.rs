//! `herald run`: the daemon, until SIGINT or SIGTERM.

use anyhow::Context as _;
use tracing::info;

use crate::actors::ListenerConfig;
use crate::actors::PlanConfig;
use crate::cli::RunArgs;
use crate::daemon::{default_node_id, Daemon, DaemonConfig};
use crate::database::Database;
use crate::shutdown::Shutdown;
use crate::store::PoolConfig;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::default();
    let database = Database::open(&args.database).await?;
    let config = DaemonConfig {
        node_id: args.node_id.clone().unwrap_or_else(default_node_id),
        migrate: !args.no_migrate,
        pool: PoolConfig {
            max_connections: args.database.db_max_connections,
            ..PoolConfig::default()
        },
        listener: ListenerConfig {
            reconnect_initial: args.listener.reconnect_initial,
            reconnect_max: args.listener.reconnect_max,
        },
        endpoints: Vec::new(),
        plans: PlanConfig {
            failure_window: args.plans.failure_window,
            idle: args.plans.plan_idle,
        },
    };
    let daemon = match Daemon::start(database.connect_options(), config).await {
        Ok(daemon) => daemon,
        Err(error) => {
            database.close().await?;
            return Err(error).context("herald could not start");
        }
    };
    let signal = shutdown
        .on_signal()
        .await
        .context("cannot install signal handlers")?;
    info!(event = "shutdown.requested", signal);
    daemon.stop().await;
    database.close().await?;
    info!(event = "shutdown.complete");
    Ok(())
}

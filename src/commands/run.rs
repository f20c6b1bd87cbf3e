//! `herald run`: the daemon, until SIGINT or SIGTERM.

use anyhow::Context as _;
use tracing::info;

use super::admin_token;
use crate::actors::ListenerConfig;
use crate::admin::{AdminConfig, AdminServer, AdminState};
use crate::cli::RunArgs;
use crate::daemon::{default_node_id, Daemon, DaemonConfig};
use crate::database::Database;
use crate::shutdown::Shutdown;
use crate::store::PoolConfig;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::default();
    let file_config = args
        .config
        .load()
        .context("herald could not load its config file")?;
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
        endpoints: file_config.endpoints,
        delivery: args.delivery.config(),
    };
    let daemon = match Daemon::start(database.connect_options(), config).await {
        Ok(daemon) => daemon,
        Err(error) => {
            database.close().await?;
            return Err(error).context("herald could not start");
        }
    };
    let admin_config = AdminConfig {
        addr: args.admin.admin_addr,
        token: admin_token::load(args.admin.admin_token_file.as_deref())?,
    };
    let admin_state = AdminState::of(&daemon);
    let admin = match AdminServer::start(&admin_config, admin_state) {
        Ok(admin) => admin,
        Err(error) => {
            daemon.stop().await;
            database.close().await?;
            return Err(error).context("herald could not start");
        }
    };
    let signal = shutdown
        .on_signal()
        .await
        .context("cannot install signal handlers")?;
    info!(event = "shutdown.requested", signal);
    admin.stop().await;
    daemon.stop().await;
    database.close().await?;
    info!(event = "shutdown.complete");
    Ok(())
}

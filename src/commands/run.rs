//! `herald run`: the daemon, until SIGINT or SIGTERM.

use anyhow::Context as _;
use tracing::info;

use actix::Addr;

use super::admin_token;
use crate::actors::EndpointLeases;
use crate::actors::ListenerConfig;
use crate::actors::PlanConfig;
use crate::admin::{AdminConfig, AdminServer, AdminState, MetricsServer};
use crate::cli::RunArgs;
use crate::config::Source;
use crate::daemon::{default_node_id, Daemon, DaemonConfig};
use crate::database::Database;
use crate::reload;
use crate::shutdown::Shutdown;

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Flags that cannot work together are refused before anything starts.
    args.delivery
        .config()
        .lease_timing()
        .check()
        .map_err(anyhow::Error::msg)?;
    let shutdown = Shutdown::default();
    let file_config = args
        .config
        .load()
        .context("herald could not load its config file")?;
    let database = Database::open(&args.database).await?;
    // A database that is down at start (still booting, a failover) is
    // waited for, saying where and why, rather than failing after a pool
    // timeout.
    let options = database.connect_options();
    tokio::select! {
        () = crate::database::wait_until_reachable(&options) => {}
        signal = shutdown.on_signal() => {
            info!(event = "shutdown.requested", signal = signal.unwrap_or("signal"));
            database.close().await?;
            return Ok(());
        }
    }
    let config = DaemonConfig {
        node_id: args.node_id.clone().unwrap_or_else(default_node_id),
        migrate: !args.no_migrate,
        pool: args.database.pool_config()?,
        listener: ListenerConfig {
            reconnect_initial: args.listener.reconnect_initial,
            reconnect_max: args.listener.reconnect_max,
            ..ListenerConfig::default()
        },
        reconcile_interval: args.listener.reconcile_interval,
        endpoints: file_config.endpoints,
        links: file_config.links,
        delivery: crate::delivery::DeliveryConfig {
            extra_roots: args.delivery.network.ca_roots()?,
            ..args.delivery.config()
        },
        retention: args.delivery.retention(),
        reminders: args.plans.reminders(),
        source: args.source.config()?,
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
    let admin_config = AdminConfig {
        addr: args.admin.admin_addr,
        token: Some(admin_token::for_server(
            args.admin.admin_token_file.as_deref(),
            &args.database.data_dir,
        )?),
        names: args.admin.admin_hosts.clone(),
    };
    let mut admin_state = AdminState::of(&daemon);
    admin_state.config_source = Some(args.config.source());
    daemon.metrics.config_loaded(true);
    let hangups = actix_rt::spawn(reload_on_sighup(
        args.config.source(),
        daemon.delivery.clone(),
        daemon.metrics.clone(),
    ));
    let admin = match AdminServer::start(&admin_config, admin_state) {
        Ok(admin) => admin,
        Err(error) => {
            daemon.stop().await;
            database.close().await?;
            return Err(error).context("herald could not start");
        }
    };
    let scrape = match args.admin.metrics_addr {
        Some(addr) => match MetricsServer::start(addr, AdminState::of(&daemon)) {
            Ok(server) => Some(server),
            Err(error) => {
                admin.stop().await;
                daemon.stop().await;
                database.close().await?;
                return Err(error).context("herald could not start");
            }
        },
        None => None,
    };
    let address_file = write_admin_address(&args.database.data_dir, admin.local_addr);
    let signal = shutdown
        .on_signal()
        .await
        .context("cannot install signal handlers")?;
    info!(event = "shutdown.requested", signal);
    hangups.abort();
    if let Some(file) = address_file {
        let _ = std::fs::remove_file(file);
    }
    if let Some(scrape) = scrape {
        scrape.stop().await;
    }
    admin.stop().await;
    daemon.stop().await;
    database.close().await?;
    info!(event = "shutdown.complete");
    Ok(())
}

/// Reload the config file on every SIGHUP.
async fn reload_on_sighup(
    source: Source,
    delivery: Addr<EndpointLeases>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            event = "config.sighup_unavailable",
            "cannot listen for SIGHUP; reload with POST /v1/reload"
        );
        return;
    };
    while hangup.recv().await.is_some() {
        // Errors are logged by reload; the old config stays in effect.
        let _ = reload::reload(&source, &delivery, &metrics, "SIGHUP").await;
    }
}

/// Tell the CLI on this machine where the admin API listens
/// (`<data dir>/admin-url`); a failure only costs the CLI its default.
fn write_admin_address(
    data_dir: &std::path::Path,
    addr: std::net::SocketAddr,
) -> Option<std::path::PathBuf> {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let path = super::admin_client::address_path(data_dir);
    let written = std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::write(&path, format!("http://{host}:{}\n", addr.port())));
    match written {
        Ok(()) => Some(path),
        Err(error) => {
            tracing::warn!(event = "admin.address_not_written", file = %path.display(), error = %error, "the CLI will not find this admin API by itself: pass --admin-url");
            None
        }
    }
}

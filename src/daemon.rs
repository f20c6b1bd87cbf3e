//! The daemon: wires the store, the actors and the metrics together, and
//! takes them down again. Runs inside an actix `System`.

use std::sync::Arc;

use actix::prelude::*;
use sqlx::postgres::PgConnectOptions;
use tracing::info;

use crate::actors::{Listener, ListenerConfig, Router, RouterTargets};
use crate::actors::{PlanConfig, PlanRegistry};
use crate::endpoint::Endpoint;
use crate::metrics::Metrics;
use crate::store::{PoolConfig, Store, StoreError};

/// Everything the daemon needs to know, with defaults suited to production.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// This replica's name in claims and leases.
    pub node_id: String,
    /// Apply migrations before starting the actors.
    pub migrate: bool,
    pub pool: PoolConfig,
    pub listener: ListenerConfig,
    /// Global endpoints from the config file (project webhooks come from the
    /// database).
    pub endpoints: Vec<Endpoint>,
    /// Plan supervisors: failure window and idle eviction.
    pub plans: PlanConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            node_id: default_node_id(),
            migrate: true,
            pool: PoolConfig::default(),
            listener: ListenerConfig::default(),
            endpoints: Vec::new(),
            plans: PlanConfig::default(),
        }
    }
}

/// `<hostname>-<pid>`: unique per running process on a host.
pub fn default_node_id() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "herald".to_owned());
    format!("{host}-{}", std::process::id())
}

/// A running herald.
pub struct Daemon {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub router: Addr<Router>,
    pub listener: Addr<Listener>,
    /// The plan registry (one supervisor per active plan).
    pub plans: Addr<PlanRegistry>,
}

impl Daemon {
    /// Connect, migrate (unless told not to), and start the actors.
    pub async fn start(
        connect_options: PgConnectOptions,
        config: DaemonConfig,
    ) -> Result<Daemon, StoreError> {
        let store = Store::connect(connect_options.clone(), &config.pool).await?;
        if config.migrate {
            let applied = store
                .migrate(|index, total, description| {
                    info!(event = "migration.applying", index, total, description);
                })
                .await?;
            info!(event = "migration.done", applied);
        }
        let metrics = Arc::new(Metrics::new());
        let plans = PlanRegistry::start(
            store.clone(),
            config.plans.clone(),
            config.node_id.clone(),
            metrics.clone(),
        );
        let mut targets = RouterTargets::default();
        targets.task_runs.push(plans.clone().recipient());
        targets.reconcile.push(plans.clone().recipient());
        let router = Router::new(targets).start();
        let listener = Listener::new(
            connect_options,
            config.listener.clone(),
            router.clone().recipient(),
            router.clone().recipient(),
            metrics.clone(),
        )
        .start();
        info!(event = "daemon.started", node_id = %config.node_id);
        Ok(Daemon {
            store,
            metrics,
            router,
            listener,
            plans,
        })
    }

    /// Stop the actors and close the pool.
    pub async fn stop(self) {
        // Stopping the listener drops its receive loop and connection.
        let _ = self.listener.send(StopActor).await;
        let _ = self.router.send(StopActor).await;
        let _ = self.plans.send(StopActor).await;
        self.store.pool().close().await;
        info!(event = "daemon.stopped");
    }
}

/// Ask an actor to stop (every actor of the daemon handles it).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct StopActor;

impl Handler<StopActor> for Listener {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<StopActor> for Router {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

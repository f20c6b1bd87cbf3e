//! The daemon: wires the store, the actors and the metrics together, and
//! takes them down again. Runs inside an actix `System`.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use sqlx::postgres::PgConnectOptions;
use tracing::info;

use crate::actors::{
    ApprovalActor, ApprovalConfig, ApprovalReminders, BytebaseFollower, EndpointLeases,
    FollowerConfig, IssueEvents, IssueEventsConfig, Listener, ListenerConfig, PlanConfig,
    PlanRegistry, ReminderConfig, Retention, RetentionConfig, RolloutRepair, Router, RouterTargets,
};
use crate::delivery::DeliveryConfig;
use crate::endpoint::Endpoint;
use crate::messages::delivery::{SetEndpoints, ShutdownDelivery};
pub use crate::messages::StopActor;
use crate::metrics::Metrics;
pub use crate::node::default_node_id;
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
    /// The config file's `links:` (project webhooks use them too).
    pub links: std::sync::Arc<crate::presentation::LinkTemplates>,
    pub delivery: DeliveryConfig,
    /// Plan supervisors: failure window and idle eviction.
    pub plans: PlanConfig,
    /// Periodic reconcile of plans, approvals and issue transitions (the
    /// outbox has its own sweep, `delivery.sweep_interval`).
    pub reconcile_interval: Duration,
    /// What history is kept, and for how long.
    pub retention: RetentionConfig,
    /// Approval reminders (None: off).
    pub reminders: Option<ReminderConfig>,
    /// Where the pipeline facts come from.
    pub source: SourceConfig,
}

/// Where the pipeline facts come from (docs/hosts.md).
#[derive(Debug, Clone, Default)]
pub enum SourceConfig {
    /// The host writes herald's native tables.
    #[default]
    Native,
    /// herald follows a Bytebase metadata database (read only).
    Bytebase(Box<BytebaseSourceConfig>),
}

#[derive(Debug, Clone)]
pub struct BytebaseSourceConfig {
    /// The Bytebase database, through a role that may only SELECT.
    pub options: PgConnectOptions,
    pub follower: FollowerConfig,
    /// Rollout repair through Bytebase's API (None: rollouts are left to
    /// Bytebase's own creator).
    pub api: Option<crate::sources::bytebase::api::ApiConfig>,
    pub repair: crate::actors::RepairConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            node_id: default_node_id(),
            migrate: true,
            pool: PoolConfig::default(),
            listener: ListenerConfig::default(),
            endpoints: Vec::new(),
            links: Default::default(),
            delivery: DeliveryConfig::default(),
            plans: PlanConfig::default(),
            reconcile_interval: Duration::from_secs(60),
            retention: RetentionConfig::default(),
            reminders: None,
            source: SourceConfig::Native,
        }
    }
}

/// A running herald.
pub struct Daemon {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub router: Addr<Router>,
    pub listener: Addr<Listener>,
    pub delivery: Addr<EndpointLeases>,
    /// Creates rollouts (SPEC §5); tests may send it messages directly.
    pub approval: Addr<ApprovalActor>,
    /// Emits issue events once per transition.
    pub issue_events: Addr<IssueEvents>,
    /// The plan registry (one supervisor per active plan).
    pub plans: Addr<PlanRegistry>,
    pub retention: Addr<Retention>,
    /// Approval reminders (None: `--approval-reminder-interval` not set).
    pub reminders: Option<Addr<ApprovalReminders>>,
    /// The Bytebase source's follower (None: the native source).
    pub follower: Option<Addr<BytebaseFollower>>,
    /// Rollout repair through Bytebase's API (None: not configured).
    pub repair: Option<Addr<RolloutRepair>>,
    /// The attempt recorder's own connections.
    recorder_store: Store,
}

impl Daemon {
    /// Connect, migrate (unless told not to), and start the actors.
    pub async fn start(
        connect_options: PgConnectOptions,
        config: DaemonConfig,
    ) -> Result<Daemon, StoreError> {
        // Leases, renewal and the attempt timeout must fit together.
        config
            .delivery
            .lease_timing()
            .check()
            .map_err(StoreError::Setup)?;
        let store = Store::connect(connect_options.clone(), &config.pool).await?;
        if config.migrate {
            let applied = store
                .migrate(|index, total, description| {
                    info!(event = "migration.applied", index, total, description);
                })
                .await?;
            info!(event = "migration.done", applied);
        }
        // Fan-out happens in SQL: the config's endpoints must be mirrored
        // before anything is emitted.
        store
            .sync_config_endpoints(
                &config.node_id,
                &config.endpoints,
                config.delivery.config_ttl(),
            )
            .await?;
        let metrics = Arc::new(Metrics::new());
        let client = crate::delivery::http::HttpSender::with_roots(
            config.delivery.connect_timeout,
            Arc::new(config.delivery.network.clone()),
            crate::delivery::http::HttpSender::default_threads(),
            &config.delivery.extra_roots,
        )
        .map_err(|e| StoreError::Setup(e.to_string()))?;
        // Delivery records commit synchronously, like claims and emits: a
        // crash of herald or of PostgreSQL can then resend only the one
        // message in flight per endpoint (whose 2xx was not yet recorded).
        let delivery_store = store.clone();
        // The recorder's own connections: a record never queues behind
        // the shared pool (plans, sweeps, the API).
        let recorder_store = Store::connect(
            connect_options.clone(),
            &PoolConfig {
                max_connections: 2,
                ..config.pool.clone()
            },
        )
        .await?;
        let delivery = EndpointLeases::new(
            delivery_store,
            config.node_id.clone(),
            config.delivery.clone(),
            metrics.clone(),
            client,
            SetEndpoints {
                endpoints: config.endpoints.clone(),
                links: config.links.clone(),
            },
            crate::delivery::recorder::Recorder::start(recorder_store.clone()),
        )
        .start();
        let mut targets = RouterTargets::default();
        targets.outbox.push(delivery.clone().recipient());
        targets.reconcile.push(delivery.clone().recipient());
        let approval = ApprovalActor::new(
            store.clone(),
            ApprovalConfig {
                node_id: config.node_id.clone(),
                metrics: metrics.clone(),
                create_rollouts: matches!(config.source, SourceConfig::Native),
                request_grace: match &config.source {
                    SourceConfig::Bytebase(source) if source.api.is_some() => {
                        Some(source.repair.grace)
                    }
                    _ => None,
                },
                ..ApprovalConfig::default()
            },
        )
        .start();
        let issue_events = IssueEvents::new(
            store.clone(),
            IssueEventsConfig {
                node_id: config.node_id.clone(),
                metrics: metrics.clone(),
                ..IssueEventsConfig::default()
            },
        )
        .start();
        targets.issues.push(approval.clone().recipient());
        targets.issues.push(issue_events.clone().recipient());
        targets.plan_check_runs.push(approval.clone().recipient());
        targets.reconcile.push(approval.clone().recipient());
        targets.reconcile.push(issue_events.clone().recipient());
        let plans = PlanRegistry::start(
            store.clone(),
            config.plans.clone(),
            config.node_id.clone(),
            metrics.clone(),
        );
        targets.task_runs.push(plans.clone().recipient());
        targets.reconcile.push(plans.clone().recipient());
        let router = Router::new(targets)
            .with_metrics(metrics.clone())
            .reconcile_every(config.reconcile_interval)
            .start();
        let listener = Listener::new(
            connect_options,
            config.listener.clone(),
            router.clone().recipient(),
            router.clone().recipient(),
            metrics.clone(),
        )
        .start();
        let retention = Retention::new(store.clone(), config.retention.clone()).start();
        let reminders = config.reminders.as_ref().map(|reminders| {
            ApprovalReminders::new(
                store.clone(),
                ReminderConfig {
                    node_id: config.node_id.clone(),
                    ..reminders.clone()
                },
                metrics.clone(),
            )
            .start()
        });
        let (follower, repair) = match &config.source {
            SourceConfig::Native => (None, None),
            SourceConfig::Bytebase(source) => {
                let (follower, bytebase) = start_follower(&store, source, metrics.clone()).await?;
                let repair = match &source.api {
                    Some(api) => {
                        let api = crate::sources::bytebase::api::BytebaseApi::new(api.clone())
                            .map_err(|e| StoreError::Setup(e.to_string()))?;
                        let repair = crate::actors::RepairConfig {
                            node_id: config.node_id.clone(),
                            ..source.repair.clone()
                        };
                        Some(RolloutRepair::new(store.clone(), bytebase, api, repair).start())
                    }
                    None => None,
                };
                (Some(follower), repair)
            }
        };
        info!(event = "daemon.started", node_id = %config.node_id);
        Ok(Daemon {
            store,
            metrics,
            router,
            listener,
            delivery,
            approval,
            issue_events,
            plans,
            retention,
            reminders,
            follower,
            repair,
            recorder_store,
        })
    }

    /// Stop the actors and close the pool.
    pub async fn stop(self) {
        // Stopping the listener drops its receive loop and connection.
        let _ = self.listener.send(StopActor).await;
        let _ = self.router.send(StopActor).await;
        let _ = self.plans.send(StopActor).await;
        let _ = self.approval.send(StopActor).await;
        let _ = self.issue_events.send(StopActor).await;
        let _ = self.retention.send(StopActor).await;
        if let Some(reminders) = &self.reminders {
            let _ = reminders.send(StopActor).await;
        }
        if let Some(follower) = &self.follower {
            let _ = follower.send(StopActor).await;
        }
        if let Some(repair) = &self.repair {
            let _ = repair.send(StopActor).await;
        }
        let _ = self.delivery.send(ShutdownDelivery).await;
        self.store.pool().close().await;
        self.recorder_store.pool().close().await;
        info!(event = "daemon.stopped");
    }
}

/// Connect to Bytebase (lazily: a database down at start is retried by the
/// follower, `/readyz` saying why), refuse a schema herald cannot read, and
/// start the follower.
async fn start_follower(
    store: &Store,
    source: &BytebaseSourceConfig,
    metrics: Arc<Metrics>,
) -> Result<(Addr<BytebaseFollower>, crate::store::bytebase::BytebaseDb), StoreError> {
    let options = source
        .options
        .clone()
        .application_name("herald-follower")
        .options([
            ("statement_timeout", "10000"),
            ("default_transaction_read_only", "on"),
        ]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let bytebase = crate::store::bytebase::BytebaseDb::new(pool);
    let mut follower = crate::sources::bytebase::follow::Follower::new(
        bytebase.clone(),
        store.clone(),
        source.follower.follow.clone(),
    );
    match follower.check_schema().await {
        Ok(_) => {}
        Err(error @ crate::sources::bytebase::follow::FollowError::Unsupported { .. }) => {
            return Err(StoreError::Setup(error.to_string()));
        }
        Err(error) => {
            tracing::warn!(event = "source.unavailable", source = "bytebase", error = %error, "retrying with backoff");
            metrics.set_source_problem(Some(format!(
                "the Bytebase source cannot be followed: {error}"
            )));
        }
    }
    Ok((
        BytebaseFollower::new(follower, source.follower.clone(), metrics).start(),
        bytebase,
    ))
}

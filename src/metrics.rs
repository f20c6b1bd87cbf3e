//! Prometheus metrics. One [`Metrics`] value is created at start and shared
//! (behind an `Arc`) by every actor; `GET /metrics` renders its registry.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric herald exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// Notifications received, by table.
    pub notifications: IntCounterVec,
    /// Notifications that could not be parsed and were skipped.
    pub notifications_malformed: IntCounter,
    /// Notifications dropped because the actor they were for was behind
    /// (its mailbox full), by table; a reconciliation repairs them.
    pub notifications_dropped: IntCounterVec,
    /// 1 while the listener holds a live connection.
    pub listener_connected: IntGauge,
    /// Listener reconnections after a lost connection.
    pub listener_reconnects: IntCounter,
    /// Reconciliation requests, by reason.
    pub reconciles: IntCounterVec,
    /// Deliveries that reached a final state, by state (delivered, failed)
    /// and endpoint (config and project-webhook ids: bounded).
    pub deliveries: IntCounterVec,
    /// HTTP attempts, by result (succeeded, failed) and endpoint.
    pub delivery_attempts: IntCounterVec,
    /// Pending deliveries per endpoint (refreshed by the sweep).
    pub endpoint_pending: IntGaugeVec,
    /// Age of each endpoint's oldest pending delivery (since queued or
    /// replayed), seconds (refreshed by the sweep).
    pub endpoint_oldest_pending: IntGaugeVec,
    /// 1 for each endpoint's current state (`enabled`, `disabled_*`,
    /// `invalid`), set when scraped.
    pub endpoint_state: IntGaugeVec,
    /// 1, with herald's version and commit.
    pub build_info: IntGaugeVec,
    /// 1 when the last config reload succeeded, 0 when it failed.
    pub config_last_reload_success: IntGauge,
    /// When the config was last (re)loaded, Unix seconds.
    pub config_last_reload_timestamp: IntGauge,
    /// Time from sending a request to its response, per attempt.
    pub delivery_latency: Histogram,
    /// Pending deliveries in the outbox (refreshed by the sweep).
    pub outbox_pending: IntGauge,
    /// Endpoint leases this replica holds.
    pub leases_held: IntGauge,
    /// Live replicas, as this replica saw at its last sweep.
    pub replicas_live: IntGauge,
    /// Live plan supervisors (memory follows active plans).
    pub plan_supervisors: IntGauge,
    /// Plan supervisors with an open failure window.
    pub plan_windows_open: IntGauge,
    /// Plan outcome claims, by result (`claimed`, `lost`).
    pub plan_outcomes: IntCounterVec,
    /// Events this replica emitted for its decisions, by type (the five,
    /// `rollout.created`; see [`crate::events::metric_label`]). Kept as
    /// herald works: a scrape costs nothing in the database.
    pub events_emitted: IntCounterVec,
    /// Source rows skipped as unmappable (the Bytebase source).
    pub source_rows_skipped: IntCounter,
    /// Follow passes of the Bytebase source, by result (`ok`, `skipped`:
    /// another replica's turn, `failed`).
    pub source_passes: IntCounterVec,
    /// Time one follow pass takes (passes that did the work).
    pub source_pass_seconds: Histogram,
    /// Why the source cannot be followed right now (None: it can, or
    /// the source is native); `/readyz` says it.
    pub source_problem: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Metrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("herald".into()), None).unwrap_or_else(|_| Registry::new());
        let notifications = IntCounterVec::new(
            Opts::new(
                "notifications_total",
                "Database notifications received, by table",
            ),
            &["table"],
        );
        let notifications_malformed = IntCounter::new(
            "notifications_malformed_total",
            "Notifications that were not herald's and were skipped",
        );
        let notifications_dropped = IntCounterVec::new(
            Opts::new(
                "notifications_dropped_total",
                "Notifications dropped because their actor was behind (a reconciliation follows), by table",
            ),
            &["table"],
        );
        let listener_connected = IntGauge::new(
            "listener_connected",
            "1 while the notification listener is connected",
        );
        let listener_reconnects = IntCounter::new(
            "listener_reconnects_total",
            "Times the notification listener reconnected",
        );
        let reconciles = IntCounterVec::new(
            Opts::new(
                "reconciles_total",
                "Reconciliation scans requested, by reason",
            ),
            &["reason"],
        );
        let deliveries = IntCounterVec::new(
            Opts::new(
                "deliveries_total",
                "Deliveries that reached a final state, by state and endpoint",
            ),
            &["state", "endpoint"],
        );
        let delivery_attempts = IntCounterVec::new(
            Opts::new(
                "delivery_attempts_total",
                "HTTP delivery attempts, by result and endpoint",
            ),
            &["result", "endpoint"],
        );
        let endpoint_pending = IntGaugeVec::new(
            Opts::new(
                "endpoint_pending",
                "Pending deliveries per endpoint (refreshed by the outbox sweep)",
            ),
            &["endpoint"],
        );
        let endpoint_oldest_pending = IntGaugeVec::new(
            Opts::new(
                "endpoint_oldest_pending_seconds",
                "Age of each endpoint's oldest pending delivery, since queued or replayed (refreshed by the outbox sweep)",
            ),
            &["endpoint"],
        );
        let endpoint_state = IntGaugeVec::new(
            Opts::new(
                "endpoint_state",
                "1 for each endpoint's current state: enabled, disabled_in_config, disabled_by_operator, disabled_by_herald, invalid",
            ),
            &["endpoint", "state"],
        );
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "1, labelled with herald's version and commit"),
            &["version", "commit"],
        );
        let config_last_reload_success = IntGauge::new(
            "config_last_reload_success",
            "1 when the last config (re)load succeeded, 0 when it failed",
        );
        let config_last_reload_timestamp = IntGauge::new(
            "config_last_reload_timestamp_seconds",
            "When the config file was last (re)loaded, Unix seconds",
        );
        let delivery_latency = Histogram::with_opts(
            HistogramOpts::new(
                "delivery_latency_seconds",
                "Time from sending a webhook to its response, per attempt",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
            ]),
        );
        let outbox_pending = IntGauge::new(
            "outbox_pending",
            "Pending deliveries in the outbox (refreshed by the sweep)",
        );
        let leases_held = IntGauge::new("leases_held", "Endpoint leases this replica holds");
        let replicas_live = IntGauge::new(
            "replicas_live",
            "Live herald replicas, as seen at this replica's last outbox sweep",
        );
        let plan_supervisors = IntGauge::new("plan_supervisors", "Live plan supervisor actors");
        let plan_windows_open = IntGauge::new(
            "plan_windows_open",
            "Plan supervisors with an open failure window",
        );
        let events_emitted = IntCounterVec::new(
            Opts::new(
                "events_emitted_total",
                "Events this replica emitted for its decisions (outcomes, issue transitions, rollouts), by type",
            ),
            &["type"],
        );
        let plan_outcomes = IntCounterVec::new(
            Opts::new(
                "plan_outcomes_total",
                "Plan outcome claims, by result (claimed, lost)",
            ),
            &["result"],
        );
        let source_rows_skipped = IntCounter::new(
            "source_rows_skipped_total",
            "Source rows skipped because herald cannot map them (logged once each)",
        );
        let source_passes = IntCounterVec::new(
            Opts::new(
                "source_passes_total",
                "Follow passes of the source, by result (ok, skipped, failed)",
            ),
            &["result"],
        );
        let source_pass_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "source_pass_seconds",
                "Time one follow pass of the source takes (read, map, mirror, commit)",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        );
        // The names and label sets above are constants; building them cannot fail.
        let metrics = Metrics {
            registry,
            notifications: notifications.expect("valid metric"),
            notifications_malformed: notifications_malformed.expect("valid metric"),
            notifications_dropped: notifications_dropped.expect("valid metric"),
            listener_connected: listener_connected.expect("valid metric"),
            listener_reconnects: listener_reconnects.expect("valid metric"),
            reconciles: reconciles.expect("valid metric"),
            deliveries: deliveries.expect("valid metric"),
            delivery_attempts: delivery_attempts.expect("valid metric"),
            delivery_latency: delivery_latency.expect("valid metric"),
            endpoint_pending: endpoint_pending.expect("valid metric"),
            endpoint_oldest_pending: endpoint_oldest_pending.expect("valid metric"),
            endpoint_state: endpoint_state.expect("valid metric"),
            build_info: build_info.expect("valid metric"),
            config_last_reload_success: config_last_reload_success.expect("valid metric"),
            config_last_reload_timestamp: config_last_reload_timestamp.expect("valid metric"),
            outbox_pending: outbox_pending.expect("valid metric"),
            leases_held: leases_held.expect("valid metric"),
            replicas_live: replicas_live.expect("valid metric"),
            plan_supervisors: plan_supervisors.expect("valid metric"),
            plan_windows_open: plan_windows_open.expect("valid metric"),
            plan_outcomes: plan_outcomes.expect("valid metric"),
            events_emitted: events_emitted.expect("valid metric"),
            source_rows_skipped: source_rows_skipped.expect("valid metric"),
            source_passes: source_passes.expect("valid metric"),
            source_pass_seconds: source_pass_seconds.expect("valid metric"),
            source_problem: Default::default(),
        };
        metrics.register_all();
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), crate::COMMIT])
            .set(1);
        metrics
    }

    /// Every metric's full name (`herald_…`), as `GET /metrics` names it
    /// (docs/operations.md lists them all: a test checks).
    pub fn names(&self) -> Vec<String> {
        self.collectors()
            .iter()
            .flat_map(|c| c.desc().into_iter().map(|d| d.fq_name.clone()))
            .map(|name| format!("herald_{name}"))
            .collect()
    }

    fn register_all(&self) {
        for collector in self.collectors() {
            // Registration fails only on duplicate names, which is a bug here.
            if let Err(e) = self.registry.register(collector) {
                tracing::error!(event = "metrics.register_failed", error = %e);
            }
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.notifications.clone()),
            Box::new(self.notifications_malformed.clone()),
            Box::new(self.notifications_dropped.clone()),
            Box::new(self.listener_connected.clone()),
            Box::new(self.listener_reconnects.clone()),
            Box::new(self.reconciles.clone()),
            Box::new(self.deliveries.clone()),
            Box::new(self.delivery_attempts.clone()),
            Box::new(self.delivery_latency.clone()),
            Box::new(self.endpoint_pending.clone()),
            Box::new(self.endpoint_oldest_pending.clone()),
            Box::new(self.endpoint_state.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.config_last_reload_success.clone()),
            Box::new(self.config_last_reload_timestamp.clone()),
            Box::new(self.outbox_pending.clone()),
            Box::new(self.leases_held.clone()),
            Box::new(self.replicas_live.clone()),
            Box::new(self.plan_supervisors.clone()),
            Box::new(self.plan_windows_open.clone()),
            Box::new(self.plan_outcomes.clone()),
            Box::new(self.events_emitted.clone()),
            Box::new(self.source_rows_skipped.clone()),
            Box::new(self.source_passes.clone()),
            Box::new(self.source_pass_seconds.clone()),
        ]
    }
}

impl Metrics {
    /// Record a config (re)load's result.
    pub fn config_loaded(&self, ok: bool) {
        self.config_last_reload_success.set(i64::from(ok));
        if ok {
            self.config_last_reload_timestamp
                .set(chrono::Utc::now().timestamp());
        }
    }

    /// Count one event emitted by this replica.
    pub fn emitted(&self, event_type: &str) {
        self.events_emitted
            .with_label_values(&[crate::events::metric_label(event_type)])
            .inc();
    }
}

impl Metrics {
    /// Record why the source cannot be followed (None: it can).
    pub fn set_source_problem(&self, problem: Option<String>) {
        if let Ok(mut slot) = self.source_problem.lock() {
            *slot = problem;
        }
    }

    pub fn source_problem(&self) -> Option<String> {
        self.source_problem
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

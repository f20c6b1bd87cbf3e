//! The `Listener` actor: `LISTEN herald` on a dedicated connection and turn
//! each notification into a typed [`DbChange`] for the router.
//!
//! - Owns: one PostgreSQL connection (not from the shared pool).
//! - Takes: no messages; it runs a receive loop from `started()` until it is
//!   stopped.
//! - Emits: [`DbChange`] for every notification it understands, and
//!   [`Reconcile`] after every (re)connect — NOTIFY drops whatever is sent while
//!   nobody listens, so each new connection starts with a re-scan.
//! - Malformed payloads are logged with their raw text (`notification.malformed`)
//!   and skipped.
//! - Never waits on the router (PostgreSQL's notification queue is shared
//!   with the host: if herald stopped reading, the host's commits would
//!   fail once it fills). A full router drops the change (counted) and a
//!   reconciliation request follows the next change that goes through.
//! - On connection loss it reconnects with exponential backoff. A restart of
//!   the actor is the same as a reconnect. After `liveness_interval` without
//!   a notification it checks the connection with `SELECT 1` (bounded by
//!   `liveness_timeout`); a connection that hangs without closing is
//!   dropped and replaced.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::messages::StopActor;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tracing::{debug, info, warn};

use crate::messages::change::CHANNEL;
use crate::messages::{DbChange, Reconcile, ReconcileReason};
use crate::metrics::Metrics;

/// Settings of the listener.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// First delay before retrying a failed connect; doubles on each failure.
    pub reconnect_initial: Duration,
    /// Upper bound of the reconnect delay.
    pub reconnect_max: Duration,
    /// After this long without a notification, check that the connection
    /// still answers (`SELECT 1`); a connection that hangs without closing
    /// would otherwise deliver nothing, silently, forever.
    pub liveness_interval: Duration,
    /// How long the check may take before the connection counts as dead.
    pub liveness_timeout: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            reconnect_initial: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(30),
            liveness_interval: Duration::from_secs(30),
            liveness_timeout: Duration::from_secs(10),
        }
    }
}

impl ListenerConfig {
    /// The delay before connect attempt number `failures` (0-based).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(16));
        self.reconnect_initial
            .saturating_mul(factor)
            .min(self.reconnect_max)
    }
}

/// Listens for database notifications and hands them to the router.
pub struct Listener {
    /// Where to connect; the listener opens its own connection from these.
    connect_options: PgConnectOptions,
    config: ListenerConfig,
    /// Receives every understood notification.
    changes: Recipient<DbChange>,
    /// Receives a request after every (re)connect.
    reconcile: Recipient<Reconcile>,
    metrics: Arc<Metrics>,
}

impl Listener {
    pub fn new(
        connect_options: PgConnectOptions,
        config: ListenerConfig,
        changes: Recipient<DbChange>,
        reconcile: Recipient<Reconcile>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Listener {
            connect_options,
            config,
            changes,
            reconcile,
            metrics,
        }
    }
}

impl Actor for Listener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let receive_loop = ReceiveLoop {
            connect_options: self
                .connect_options
                .clone()
                .application_name("herald-listener"),
            config: self.config.clone(),
            changes: self.changes.clone(),
            reconcile: self.reconcile.clone(),
            metrics: self.metrics.clone(),
            malformed_log: Default::default(),
            dropped: Default::default(),
        };
        // The loop lives as long as the actor: stopping the actor drops it.
        ctx.spawn(receive_loop.run().into_actor(self));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.metrics.listener_connected.set(0);
        info!(event = "listener.stopped");
    }
}

/// The state of the receive loop, moved into the future the actor runs.
struct ReceiveLoop {
    connect_options: PgConnectOptions,
    config: ListenerConfig,
    changes: Recipient<DbChange>,
    reconcile: Recipient<Reconcile>,
    metrics: Arc<Metrics>,
    /// Any database role may `NOTIFY herald`: malformed payloads are logged
    /// at most once per second, with how many were not.
    malformed_log: std::sync::Mutex<MalformedLog>,
    /// Notifications dropped because the router was full, not yet followed
    /// by a reconciliation request.
    dropped: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct MalformedLog {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl ReceiveLoop {
    /// Give `change` to the router without waiting: waiting would leave
    /// notifications in PostgreSQL's shared queue, and once that fills the
    /// host application's commits fail. A full router drops the change
    /// (counted); the next one that goes through is followed by a
    /// reconciliation request, which repairs what was dropped.
    fn hand_over(&self, change: DbChange) {
        use std::sync::atomic::Ordering;
        let table = change.table();
        match self.changes.try_send(change) {
            Ok(()) => self.reconcile_dropped(),
            Err(SendError::Full(_)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    warn!(
                        event = "notification.overflow",
                        "the router is behind: notifications are dropped until it catches up, then reconciled"
                    );
                }
                self.metrics
                    .notifications_dropped
                    .with_label_values(&[table])
                    .inc();
            }
            Err(SendError::Closed(_)) => {
                warn!(
                    event = "notification.undelivered",
                    table,
                    error = "the router stopped"
                );
            }
        }
    }

    /// Dropped notifications are owed a reconcile: ask for it, if the
    /// router takes it now (otherwise at the next change that goes through,
    /// or when the connection has been quiet for `liveness_interval`).
    fn reconcile_dropped(&self) {
        use std::sync::atomic::Ordering;
        let dropped = self.dropped.load(Ordering::Relaxed);
        if dropped > 0
            && self
                .reconcile
                .try_send(Reconcile {
                    reason: ReconcileReason::Overflow,
                })
                .is_ok()
        {
            self.dropped.fetch_sub(dropped, Ordering::Relaxed);
            self.metrics
                .reconciles
                .with_label_values(&[ReconcileReason::Overflow.as_str()])
                .inc();
            info!(event = "notification.overflow_reconcile", dropped);
        }
    }

    async fn run(self) {
        let mut ever_connected = false;
        let mut failures: u32 = 0;
        loop {
            let mut listener = match self.connect().await {
                Ok(listener) => ListenerConnection(Some(listener)),
                Err(error) => {
                    let delay = self.config.backoff(failures);
                    warn!(
                        event = "listener.connect_failed",
                        error = %error,
                        attempt = failures + 1,
                        retry_in_ms = delay.as_millis() as u64,
                    );
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            failures = 0;
            self.metrics.listener_connected.set(1);
            let reason = if ever_connected {
                self.metrics.listener_reconnects.inc();
                info!(event = "listener.reconnected", channel = CHANNEL);
                ReconcileReason::Reconnected
            } else {
                info!(event = "listener.connected", channel = CHANNEL);
                ReconcileReason::Startup
            };
            ever_connected = true;
            self.metrics
                .reconciles
                .with_label_values(&[reason.as_str()])
                .inc();
            if let Err(error) = self.reconcile.send(Reconcile { reason }).await {
                warn!(event = "listener.reconcile_undelivered", error = %error);
            }

            self.receive(&mut listener).await;
            self.metrics.listener_connected.set(0);
        }
    }

    async fn connect(&self) -> Result<PgListener, sqlx::Error> {
        // A one-connection pool: PgListener takes its connection from a pool.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(self.connect_options.clone());
        let mut listener = PgListener::connect_with(&pool).await?;
        // We reconnect ourselves, with backoff and a reconcile.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Receive until the connection is lost.
    async fn receive(&self, connection: &mut ListenerConnection) {
        let Some(listener) = connection.0.as_mut() else {
            return;
        };
        loop {
            let received = tokio::time::timeout(self.config.liveness_interval, listener.try_recv());
            let Ok(received) = received.await else {
                // Quiet for a while: ask for the reconcile that dropped
                // notifications are still owed, and check that the
                // connection still answers.
                self.reconcile_dropped();
                let check = sqlx::query("SELECT 1").execute(&mut *listener);
                match tokio::time::timeout(self.config.liveness_timeout, check).await {
                    Ok(Ok(_)) => continue,
                    Ok(Err(error)) => {
                        warn!(event = "listener.disconnected", error = %error, "the liveness check failed");
                    }
                    Err(_) => {
                        warn!(
                            event = "listener.disconnected",
                            error = "no answer",
                            timeout_ms = self.config.liveness_timeout.as_millis() as u64,
                            "the connection stopped answering; reconnecting"
                        );
                    }
                }
                return;
            };
            match received {
                Ok(Some(notification)) => self.dispatch(notification.payload()).await,
                Ok(None) => {
                    warn!(event = "listener.disconnected", error = "connection lost");
                    return;
                }
                Err(error) => {
                    warn!(event = "listener.disconnected", error = %error);
                    return;
                }
            }
        }
    }

    async fn dispatch(&self, payload: &str) {
        match DbChange::parse(payload) {
            Ok(change) => {
                self.metrics
                    .notifications
                    .with_label_values(&[change.table()])
                    .inc();
                debug!(
                    event = "notification.received",
                    table = change.table(),
                    payload
                );
                self.hand_over(change);
            }
            Err(error) => {
                self.metrics.notifications_malformed.inc();
                let Ok(mut log) = self.malformed_log.lock() else {
                    return;
                };
                let due = log
                    .last
                    .map_or(true, |at| at.elapsed() >= std::time::Duration::from_secs(1));
                if due {
                    let payload: String = payload.chars().take(200).collect();
                    warn!(event = "notification.malformed", reason = %error.reason, payload, suppressed = log.suppressed, "skipped; further malformed notifications are logged at most once a second (herald_notifications_malformed_total counts them all)");
                    log.last = Some(std::time::Instant::now());
                    log.suppressed = 0;
                } else {
                    log.suppressed += 1;
                }
            }
        }
    }
}

/// Owns the `PgListener`. Its `Drop` spawns a task to `UNLISTEN`, which
/// panics outside a tokio runtime — as when the actor system is torn down
/// with the actor still alive. Then the connection is simply let go: the
/// process (or test) is ending and the server closes it.
struct ListenerConnection(Option<PgListener>);

impl Drop for ListenerConnection {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            if let Some(listener) = self.0.take() {
                std::mem::forget(listener);
            }
        }
    }
}

impl Handler<StopActor> for Listener {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let config = ListenerConfig {
            reconnect_initial: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            ..ListenerConfig::default()
        };
        let delays: Vec<u128> = (0..6).map(|n| config.backoff(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(config.backoff(u32::MAX), Duration::from_secs(1));
    }
}

//! The `EndpointLeases`: which endpoints exist, which this replica holds,
//! and one [`DeliveryActor`] per held endpoint.
//!
//! - Owns: the endpoint table (config endpoints + project webhooks), the
//!   leases this replica holds, the running delivery actors.
//! - Takes: [`OutboxChanged`] (wake or take the endpoint), [`Reconcile`] and
//!   a periodic sweep (reload project webhooks, take every endpoint with
//!   pending deliveries whose lease is free or expired), lease renewal every
//!   third of the lease TTL, [`SetEndpoints`] (config reload), `LeaseLost`,
//!   `ShutdownDelivery`.
//! - Invariant: a delivery actor runs only while this replica holds its
//!   endpoint's lease; a lease that fails to renew stops the actor. Each
//!   held endpoint is in one [`Ownership`] state; every planned way out
//!   (shutdown, shedding for balance, removal) goes through Draining, so
//!   the attempt in flight is recorded before the lease is given back.
//! - Watchdog: a lease is renewed only while its actor makes progress
//!   ([`Progress`]); renewal and release are fenced by epoch.
//! - Restart: rebuilds everything from the database (the outbox is the
//!   queue, the lease table says who owns what).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use tracing::{debug, info, warn};

use super::delivery::{DeliveryActor, LeaseClock, ManagerRecipients, Progress};
use crate::delivery::endpoint_table::EndpointTable;
use crate::delivery::http::HttpSender;
use crate::delivery::ownership::{self, DrainReason, Ownership, Transition};
use crate::delivery::recorder::Recorder;
use crate::delivery::silence_book::SilenceBook;
use crate::delivery::DeliveryConfig;
use crate::endpoint::Endpoint;
use crate::messages::delivery::{
    GetEndpoints, GetInvalidEndpoints, SetEndpoints, UpdateEndpoint, Wake,
};
use crate::messages::{OutboxChanged, Reconcile};
use crate::metrics::Metrics;
use crate::presentation::LinkTemplates;
use crate::store::{Store, StoreError};

mod lifecycle;

struct Held {
    actor: Addr<DeliveryActor>,
    lease: LeaseClock,
    progress: Progress,
    /// Active or Draining (Acquiring is `acquiring`; Released is gone).
    state: Ownership,
    /// `lease.stalled` was logged for this actor.
    stall_logged: bool,
}

impl Held {
    /// Move to the state after `transition`; a transition the state
    /// machine refuses is logged and changes nothing.
    fn apply(&mut self, endpoint_id: &str, transition: Transition) {
        match self.state.apply(transition) {
            Ok(next) => self.state = next,
            Err(error) => {
                warn!(event = "lease.invalid_transition", endpoint_id = %endpoint_id, error = %error)
            }
        }
    }
}

/// Why the manager looks at an endpoint.
#[derive(Debug, Clone, Copy)]
enum Hint {
    /// A NOTIFY said it has new work.
    Notified,
    /// A sweep found pending work; `unowned_for` is how long nobody has
    /// held its lease (`None`: a replica holds it); `due`: its earliest
    /// pending delivery is due now.
    Swept {
        unowned_for: Option<Duration>,
        due: bool,
    },
}

pub struct EndpointLeases {
    /// The replica's group-commit recorder, shared by its delivery actors.
    recorder: Recorder,
    /// The silences, shared by its delivery actors.
    silences: SilenceBook,
    store: Store,
    node_id: String,
    config: Arc<DeliveryConfig>,
    metrics: Arc<Metrics>,
    client: HttpSender,
    config_endpoints: Vec<Endpoint>,
    /// The config's link templates, given to project webhooks.
    links: Arc<LinkTemplates>,
    /// Every known, enabled endpoint by id.
    endpoints: HashMap<String, Endpoint>,
    /// Valid project webhooks as of the last sweep, enabled or not.
    project_webhooks: Vec<Endpoint>,
    held: HashMap<String, Held>,
    /// Project webhook ids already reported invalid (logged once).
    reported_invalid: HashSet<String>,
    sweeping: bool,
    sweep_again: bool,
    /// Live replicas at the last sweep (this one included): a replica
    /// takes at most its fair share of the endpoints while others live.
    live_replicas: i64,
    /// Endpoints that cannot be used, with why (rebuilt at every sweep).
    invalid: HashMap<String, String>,
    /// Endpoints another replica holds, until when their lease runs
    /// (this replica's clock, from the database's remaining time): a
    /// notification for one of them does not try to take it before then.
    busy_until: HashMap<String, Instant>,
    /// Leases being acquired right now (they count toward the share).
    acquiring: HashSet<String>,
    /// Set by `ShutdownDelivery`: take nothing new; answered once every
    /// held endpoint has drained.
    stopping: Option<Vec<tokio::sync::oneshot::Sender<()>>>,
}

/// Rows released per statement, and statements per sweep at most (the
/// next sweep goes on).
const RELEASE_BATCH: i64 = 5_000;
const RELEASE_BATCHES: usize = 20;

/// Queue again the held deliveries whose mute has ended.
async fn release_held(store: &Store) {
    for _ in 0..RELEASE_BATCHES {
        match store
            .bounded(
                "releasing held deliveries",
                store.release_held(RELEASE_BATCH),
            )
            .await
        {
            Ok(released) => {
                let total: i64 = released.iter().map(|r| r.deliveries).sum();
                for r in &released {
                    info!(event = "delivery.released", endpoint_id = %r.endpoint_id, deliveries = r.deliveries, "held deliveries are queued again: their mute ended");
                }
                if total < RELEASE_BATCH {
                    return;
                }
            }
            Err(error) => {
                warn!(event = "delivery.release_failed", error = %error, "held deliveries are released at the next sweep");
                return;
            }
        }
    }
}

impl EndpointLeases {
    pub fn new(
        store: Store,
        node_id: String,
        config: DeliveryConfig,
        metrics: Arc<Metrics>,
        client: HttpSender,
        from_config: SetEndpoints,
        recorder: Recorder,
    ) -> Self {
        EndpointLeases {
            recorder,
            silences: SilenceBook::default(),
            store,
            node_id,
            config: Arc::new(config),
            metrics,
            client,
            config_endpoints: from_config.endpoints,
            links: from_config.links,
            endpoints: HashMap::new(),
            project_webhooks: Vec::new(),
            held: HashMap::new(),
            reported_invalid: HashSet::new(),
            sweeping: false,
            sweep_again: false,
            live_replicas: 1,
            acquiring: HashSet::new(),
            busy_until: HashMap::new(),
            invalid: HashMap::new(),
            stopping: None,
        }
    }

    /// Reload endpoints, then take every endpoint with pending work.
    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.stopping.is_some() {
            return;
        }
        if self.sweeping {
            self.sweep_again = true;
            return;
        }
        self.sweeping = true;
        self.sweep_again = false;
        let store = self.store.clone();
        let node_id = self.node_id.clone();
        let config_ttl = self.config.config_ttl();
        let lease_ttl = self.config.lease_ttl;
        let configured = self.config_endpoints.clone();
        ctx.spawn(
            async move {
                // This replica's config stays subscribed while it runs.
                store.bounded("renewing this replica's config endpoints", store.renew_config_endpoints(&node_id, &configured, config_ttl)).await?;
                // Alive as long as a lease: a dead replica stops counting
                // when its leases expire, so takeover is not held back.
                let live = store.bounded("renewing this replica's heartbeat", store.heartbeat_replica(&node_id, lease_ttl)).await?;
                let webhooks = store.bounded("reading project webhooks", store.project_webhooks()).await?;
                // Held deliveries whose mute ended queue again (any replica
                // may release them; the lease holder sends), in batches; a
                // failure here is logged and never stops the sweep.
                release_held(&store).await;
                let pending = store.bounded("reading endpoints with pending deliveries", store.endpoints_with_pending()).await?;
                Ok::<_, StoreError>((live, webhooks, pending))
            }
            .into_actor(self)
            .map(|result, manager, ctx| {
                manager.sweeping = false;
                match result {
                    Ok((live, webhooks, pending)) => {
                        manager.metrics.outbox_pending.set(pending.iter().map(|p| p.pending).sum());
                        manager.metrics.endpoint_pending.reset();
                        manager.metrics.endpoint_oldest_pending.reset();
                        for p in &pending {
                            manager.metrics.endpoint_pending.with_label_values(&[&p.endpoint_id]).set(p.pending);
                            let age = i64::try_from(p.oldest_age.as_secs()).unwrap_or(i64::MAX);
                            manager.metrics.endpoint_oldest_pending.with_label_values(&[&p.endpoint_id]).set(age);
                        }
                        manager.live_replicas = live.max(1);
                        manager.metrics.replicas_live.set(manager.live_replicas);
                        manager.rebuild_endpoints(webhooks);
                        // Only when some pending work is for an endpoint
                        // this replica cannot send: one more pass then.
                        if pending.iter().any(|p| !manager.endpoints.contains_key(&p.endpoint_id)) {
                            manager.fail_orphaned(ctx);
                        }
                        let busy: HashSet<&String> = pending.iter().map(|p| &p.endpoint_id).collect();
                        manager.shed_extra(&busy);
                        for p in pending {
                            let hint = Hint::Swept { unowned_for: p.unowned_for, due: p.due };
                            manager.take_or_wake(p.endpoint_id, hint, ctx);
                        }
                    }
                    Err(error) => {
                        warn!(event = "delivery.sweep_failed", error = %error, "retrying at the next sweep");
                    }
                }
                if manager.sweep_again {
                    manager.sweep(ctx);
                }
            }),
        );
    }

    fn rebuild_endpoints(&mut self, webhooks: Vec<crate::store::endpoints::ProjectWebhookRow>) {
        let EndpointTable {
            endpoints,
            project_webhooks,
            invalid,
        } = EndpointTable::build(
            &self.config_endpoints,
            &webhooks,
            &self.config.network,
            &self.links,
        );
        for (id, reason) in &invalid {
            if self.reported_invalid.insert(id.clone()) {
                warn!(event = "endpoint.invalid", endpoint_id = %id, reason = %reason, "fix the endpoint's url (or allow its network), or its project_webhook row; its deliveries wait");
            }
        }
        // Stop actors of endpoints that are gone or disabled; update the rest.
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|id| !endpoints.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.drain(&id, DrainReason::Removed);
        }
        for (id, held) in &self.held {
            if let Some(endpoint) = endpoints.get(id) {
                if self.endpoints.get(id) != Some(endpoint) {
                    held.actor.do_send(UpdateEndpoint(endpoint.clone()));
                }
            }
        }
        self.endpoints = endpoints;
        self.project_webhooks = project_webhooks;
        self.invalid = invalid;
    }

    /// End the pending deliveries of endpoints no config knows (removed from
    /// the file, an invalid or deleted project webhook) once they have sat
    /// for the grace period: `failed` with the reason, replayable.
    fn fail_orphaned(&mut self, ctx: &mut Context<Self>) {
        let known: Vec<String> = self
            .config_endpoints
            .iter()
            .chain(self.project_webhooks.iter())
            .map(|e| e.id.clone())
            .collect();
        let store = self.store.clone();
        let grace = self.config.orphan_grace;
        ctx.spawn(
            async move { store.fail_orphaned_deliveries(&known, grace).await }
                .into_actor(self)
                .map(|result, _, _| match result {
                    Ok(failed) => {
                        for (endpoint_id, count) in failed {
                            warn!(event = "delivery.orphaned", endpoint_id = %endpoint_id, deliveries = count, "the endpoint is not configured (removed, or an invalid project webhook); its pending deliveries are now failed. Restore the endpoint, then replay them");
                        }
                    }
                    Err(error) => {
                        warn!(event = "delivery.sweep_failed", error = %error, "retrying at the next sweep");
                    }
                }),
        );
    }

    /// This replica's fair share of the endpoints: endpoints ÷ live
    /// replicas, rounded up.
    fn fair_share(&self) -> usize {
        let live = self.live_replicas.max(1) as usize;
        self.endpoints.len().div_ceil(live).max(1)
    }

    /// Endpoints held and still counting toward the share (Active).
    fn active(&self) -> usize {
        self.held
            .values()
            .filter(|h| h.state.counts_toward_share())
            .count()
    }

    /// While other replicas live, give back leases beyond the fair share —
    /// idle ones first, then busy ones, each through Draining so the
    /// handover resends nothing — so that the fleet converges to the fair
    /// share under load too.
    fn shed_extra(&mut self, busy: &HashSet<&String>) {
        if self.live_replicas <= 1 {
            return;
        }
        let share = self.fair_share();
        let active: Vec<(&str, bool)> = self
            .held
            .iter()
            .filter(|(_, h)| h.state.counts_toward_share())
            .map(|(id, _)| (id.as_str(), busy.contains(id)))
            .collect();
        let shed: Vec<String> = ownership::to_shed(&active, share)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for id in shed {
            info!(event = "lease.shed", endpoint_id = %id, fair_share = share, live_replicas = self.live_replicas, busy = busy.contains(&id), "over this replica's fair share: draining, then giving the lease back");
            self.drain(&id, DrainReason::Rebalance);
        }
    }

    /// Wake the endpoint's actor, or try to take its lease and start one.
    /// Beyond its fair share a replica leaves new endpoints to the others,
    /// unless a sweep found that nobody has held the endpoint's lease for
    /// a lease TTL while it had work.
    fn take_or_wake(&mut self, endpoint_id: String, hint: Hint, ctx: &mut Context<Self>) {
        if let Some(held) = self.held.get(&endpoint_id) {
            // A sweep wakes only what is due: an endpoint in a backoff
            // wakes itself when its head is due.
            let due = !matches!(hint, Hint::Swept { due: false, .. });
            if held.state.may_start_attempts() && due {
                held.actor.do_send(Wake);
            }
            return;
        }
        if self.stopping.is_some() || self.acquiring.contains(&endpoint_id) {
            return;
        }
        let neglected = match hint {
            Hint::Notified => {
                if self
                    .busy_until
                    .get(&endpoint_id)
                    .is_some_and(|until| Instant::now() < *until)
                {
                    return;
                }
                false
            }
            // Another replica holds it.
            Hint::Swept {
                unowned_for: None, ..
            } => return,
            Hint::Swept {
                unowned_for: Some(unowned),
                ..
            } => unowned >= self.config.lease_ttl,
        };
        let taken = self.active() + self.acquiring.len();
        if self.live_replicas > 1 && taken >= self.fair_share() && !neglected {
            debug!(event = "lease.over_share", endpoint_id = %endpoint_id, fair_share = self.fair_share());
            return;
        }
        let Some(endpoint) = self.endpoints.get(&endpoint_id).cloned() else {
            debug!(event = "delivery.unknown_endpoint", endpoint_id = %endpoint_id);
            return;
        };
        let store = self.store.clone();
        let owner = self.node_id.clone();
        let ttl = self.config.lease_ttl;
        let started = Instant::now();
        self.acquiring.insert(endpoint_id.clone());
        ctx.spawn(
            async move {
                let acquired = store.bounded("acquiring a lease", store.acquire_lease(&endpoint.id, &owner, ttl)).await?;
                let busy_for = match acquired {
                    Some(_) => None,
                    None => store.bounded("reading a lease's expiry", store.lease_expires_in(&endpoint.id)).await?,
                };
                Ok::<_, StoreError>((endpoint, acquired, busy_for))
            }
                .into_actor(self)
                .map(move |result, manager, ctx| {
                    manager.acquiring.remove(&endpoint_id);
                    match result {
                    Ok((endpoint, Some(acquired), _)) => {
                        manager.busy_until.remove(&endpoint.id);
                        if manager.held.contains_key(&endpoint.id) {
                            return;
                        }
                        if manager.stopping.is_some() {
                            // Stopping: give it straight back.
                            manager.give_back(vec![(endpoint.id, acquired.epoch)], ctx);
                            return;
                        }
                        let epoch = acquired.epoch;
                        match acquired.previous_owner {
                            Some(previous) => info!(event = "lease.taken_over", endpoint_id = %endpoint.id, previous_owner = %previous, epoch, node_id = %manager.node_id),
                            None => info!(event = "lease.acquired", endpoint_id = %endpoint.id, epoch, node_id = %manager.node_id),
                        }
                        // The lease's clock starts before the acquire request.
                        let lease = LeaseClock::new(epoch);
                        lease.extend_from(started, ttl);
                        let progress = Progress::default();
                        let recipients = ManagerRecipients {
                            lease_lost: ctx.address().recipient(),
                            drained: ctx.address().recipient(),
                        };
                        let actor = DeliveryActor::new(
                            endpoint.clone(),
                            manager.node_id.clone(),
                            manager.store.clone(),
                            manager.client.clone(),
                            manager.config.clone(),
                            manager.metrics.clone(),
                            lease.clone(),
                            progress.clone(),
                            recipients,
                            manager.recorder.clone(),
                            manager.silences.clone(),
                        )
                        .start();
                        let mut state = Ownership::Acquiring;
                        if let Ok(active) = state.apply(Transition::Acquired { epoch }) {
                            state = active;
                        }
                        manager.held.insert(
                            endpoint.id,
                            Held { actor, lease, progress, state, stall_logged: false },
                        );
                        manager.metrics.leases_held.set(manager.held.len() as i64);
                    }
                    Ok((endpoint, None, busy_for)) => {
                        debug!(event = "lease.busy", endpoint_id = %endpoint.id, expires_in_ms = busy_for.map(|d| d.as_millis() as u64));
                        if let Some(busy_for) = busy_for {
                            manager.busy_until.insert(endpoint.id, Instant::now() + busy_for);
                        }
                    }
                    Err(error) => {
                        warn!(event = "lease.acquire_failed", error = %error);
                    }
                }}),
        );
    }
}

impl Actor for EndpointLeases {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(crate::actors::router::TARGET_MAILBOX);
        self.sweep(ctx);
        ctx.run_interval(self.config.sweep_interval, |manager, ctx| {
            manager.sweep(ctx)
        });
        let renew_every = self.config.lease_timing().renew_every;
        ctx.run_interval(renew_every, |manager, ctx| manager.renew(ctx));
    }
}

impl Handler<OutboxChanged> for EndpointLeases {
    type Result = ();
    fn handle(&mut self, change: OutboxChanged, ctx: &mut Self::Context) {
        if self.held.contains_key(&change.endpoint_id)
            || self.endpoints.contains_key(&change.endpoint_id)
        {
            self.take_or_wake(change.endpoint_id, Hint::Notified, ctx);
        } else if self.invalid.contains_key(&change.endpoint_id) {
            // Known and unusable (logged once as `endpoint.invalid`): its
            // rows wait for a fix or fail after the orphan grace; a sweep
            // per event would change nothing.
            debug!(event = "delivery.invalid_endpoint", endpoint_id = %change.endpoint_id);
        } else {
            // A project webhook created since the last sweep: reload.
            self.sweep(ctx);
        }
    }
}

impl Handler<Reconcile> for EndpointLeases {
    type Result = ();
    fn handle(&mut self, _: Reconcile, ctx: &mut Self::Context) {
        self.sweep(ctx);
    }
}

impl Handler<SetEndpoints> for EndpointLeases {
    type Result = ();
    fn handle(&mut self, set: SetEndpoints, ctx: &mut Self::Context) {
        info!(
            event = "delivery.endpoints_set",
            endpoints = set.endpoints.len()
        );
        self.links = set.links;
        // Changed endpoints this replica delivers apply from their next
        // attempt (a rotated secret must not wait for the database sync).
        for endpoint in &set.endpoints {
            if let Some(held) = self.held.get(&endpoint.id) {
                if self.endpoints.get(&endpoint.id) != Some(endpoint) {
                    held.actor.do_send(UpdateEndpoint(endpoint.clone()));
                    self.endpoints.insert(endpoint.id.clone(), endpoint.clone());
                }
            }
        }
        self.config_endpoints = set.endpoints;
        let store = self.store.clone();
        let endpoints = self.config_endpoints.clone();
        let node_id = self.node_id.clone();
        let ttl = self.config.config_ttl();
        ctx.spawn(
            async move { store.sync_config_endpoints(&node_id, &endpoints, ttl).await }
                .into_actor(self)
                .map(|result, manager, ctx| {
                    if let Err(error) = result {
                        warn!(event = "delivery.sync_failed", error = %error, "the database still has the previous endpoints; fan-out follows them until the next reload");
                    }
                    manager.sweep(ctx);
                }),
        );
    }
}

impl Handler<GetEndpoints> for EndpointLeases {
    type Result = MessageResult<GetEndpoints>;
    fn handle(&mut self, _: GetEndpoints, _ctx: &mut Self::Context) -> Self::Result {
        let mut all = self.config_endpoints.clone();
        all.extend(self.project_webhooks.iter().cloned());
        MessageResult(all)
    }
}

impl Handler<GetInvalidEndpoints> for EndpointLeases {
    type Result = MessageResult<GetInvalidEndpoints>;
    fn handle(&mut self, _: GetInvalidEndpoints, _ctx: &mut Self::Context) -> Self::Result {
        let mut invalid: Vec<(String, String)> = self
            .invalid
            .iter()
            .map(|(id, reason)| (id.clone(), reason.clone()))
            .collect();
        invalid.sort();
        MessageResult(invalid)
    }
}

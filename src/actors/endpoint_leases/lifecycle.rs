//! The lease lifecycle of the `EndpointLeases` actor: draining an endpoint
//! and giving its lease back, renewal with the watchdog, a lost lease, and
//! the graceful stop (see [`crate::delivery::ownership`] for the states).

use std::collections::HashSet;
use std::time::Instant;

use actix::prelude::*;
use tracing::{debug, info, warn};

use super::{EndpointLeases, Held};
use crate::delivery::ownership::{DrainReason, Ownership, Transition};
use crate::messages::delivery::{Drain, Drained, LeaseLost, ShutdownDelivery};

impl EndpointLeases {
    /// Whether this replica still holds `endpoint_id` under `epoch` (a
    /// message from an older actor of the endpoint changes nothing).
    fn holds(&self, endpoint_id: &str, epoch: i64) -> bool {
        self.held
            .get(endpoint_id)
            .is_some_and(|held| held.lease.epoch() == epoch)
    }

    /// Start giving the endpoint up: its actor starts no new attempt,
    /// records the one in flight and answers [`Drained`]; the lease is given
    /// back then.
    pub(super) fn drain(&mut self, endpoint_id: &str, reason: DrainReason) {
        let Some(held) = self.held.get_mut(endpoint_id) else {
            return;
        };
        held.apply(endpoint_id, Transition::Drain(reason));
        debug!(event = "lease.draining", endpoint_id = %endpoint_id, reason = reason.as_str());
        held.actor.do_send(Drain);
    }

    /// Give leases back (fenced by epoch) so another replica takes over at
    /// once.
    pub(super) fn give_back(&mut self, leases: Vec<(String, i64)>, ctx: &mut Context<Self>) {
        if leases.is_empty() {
            return;
        }
        let store = self.store.clone();
        let owner = self.node_id.clone();
        ctx.spawn(
            async move {
                if let Err(error) = store.bounded("giving leases back", store.release_leases(&owner, &leases)).await {
                    warn!(event = "lease.release_failed", error = %error, "the leases lapse by themselves within a lease TTL");
                }
            }
            .into_actor(self),
        );
    }

    /// The endpoint is no longer held here (lost or drained).
    pub(super) fn forget(&mut self, endpoint_id: &str) -> Option<Held> {
        let held = self.held.remove(endpoint_id);
        self.metrics.leases_held.set(self.held.len() as i64);
        self.answer_stop_when_idle();
        held
    }

    /// While stopping, answer once nothing is held any more.
    pub(super) fn answer_stop_when_idle(&mut self) {
        if self.held.is_empty() {
            if let Some(waiting) = self.stopping.as_mut() {
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        }
    }

    pub(super) fn renew(&mut self, ctx: &mut Context<Self>) {
        // A delivery actor that died (its arbiter went down) must not keep a
        // lease alive that nobody uses: give it back so any replica (this
        // one included, at the next sweep) takes the endpoint over.
        let dead: Vec<String> = self
            .held
            .iter()
            .filter(|(_, held)| !held.actor.connected())
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            warn!(event = "delivery.actor_died", endpoint_id = %id, "the endpoint's delivery actor stopped unexpectedly; its lease is released and the endpoint is taken again");
            if let Some(mut held) = self.forget(&id) {
                held.apply(&id, Transition::Lost);
                let epoch = held.lease.epoch();
                self.give_back(vec![(id, epoch)], ctx);
            }
        }
        // The watchdog: an actor inside one step for longer than the stall
        // limit is stuck (a hung call); its lease is not renewed, so it
        // lapses and another replica takes the endpoint over.
        let stall_limit = self.config.lease_timing().stall_limit();
        let mut lapsed = Vec::new();
        for (id, held) in self.held.iter_mut() {
            let stuck_for = held.progress.stuck_for();
            if stuck_for <= stall_limit {
                held.stall_logged = false;
                continue;
            }
            if !held.stall_logged {
                held.stall_logged = true;
                warn!(event = "lease.stalled", endpoint_id = %id, stuck_for_ms = stuck_for.as_millis() as u64, "the endpoint's delivery is stuck in one step; its lease is no longer renewed and another replica takes it over");
            }
            if !held.lease.is_valid() {
                lapsed.push(id.clone());
            }
        }
        for id in lapsed {
            if let Some(mut held) = self.forget(&id) {
                held.apply(&id, Transition::Lost);
                held.actor.do_send(crate::messages::StopActor);
            }
        }
        let leases: Vec<(String, i64)> = self
            .held
            .iter()
            .filter(|(_, h)| h.state.renews() && h.progress.stuck_for() <= stall_limit)
            .map(|(id, h)| (id.clone(), h.lease.epoch()))
            .collect();
        if leases.is_empty() {
            return;
        }
        let store = self.store.clone();
        let owner = self.node_id.clone();
        let ttl = self.config.lease_ttl;
        let started = Instant::now();
        ctx.spawn(
            async move {
                let asked: Vec<String> = leases.iter().map(|(id, _)| id.clone()).collect();
                store.bounded("renewing leases", store.renew_leases(&owner, &leases, ttl)).await.map(|r| (asked, r))
            }
                .into_actor(self)
                .map(move |result, manager, _ctx| match result {
                    Ok((asked, renewed)) => {
                        let renewed: HashSet<String> = renewed.into_iter().collect();
                        for id in asked {
                            if renewed.contains(&id) {
                                if let Some(held) = manager.held.get(&id) {
                                    held.lease.extend_from(started, ttl);
                                }
                            } else if let Some(mut held) = manager.forget(&id) {
                                warn!(event = "lease.lost", endpoint_id = %id, "the lease was not renewed in time (it expired, or another replica took it)");
                                held.apply(&id, Transition::Lost);
                                held.actor.do_send(crate::messages::StopActor);
                            }
                        }
                    }
                    Err(error) => {
                        // The leases lapse by themselves if this persists;
                        // the actors stop sending when their clocks run out.
                        warn!(event = "lease.renew_failed", error = %error);
                    }
                }),
        );
    }
}

impl Handler<LeaseLost> for EndpointLeases {
    type Result = ();
    fn handle(&mut self, lost: LeaseLost, _ctx: &mut Self::Context) {
        if self.holds(&lost.endpoint_id, lost.epoch) {
            if let Some(mut held) = self.forget(&lost.endpoint_id) {
                held.apply(&lost.endpoint_id, Transition::Lost);
            }
        }
    }
}

impl Handler<Drained> for EndpointLeases {
    type Result = ();
    fn handle(&mut self, drained: Drained, ctx: &mut Self::Context) {
        if !self.holds(&drained.endpoint_id, drained.epoch) {
            return;
        }
        if let Some(mut held) = self.forget(&drained.endpoint_id) {
            let reason = match held.state {
                Ownership::Draining { reason, .. } => reason.as_str(),
                _ => "unknown",
            };
            held.apply(&drained.endpoint_id, Transition::Drained);
            info!(event = "lease.released", endpoint_id = %drained.endpoint_id, epoch = drained.epoch, reason, "drained: the attempt in flight is recorded; the lease is given back");
            self.give_back(vec![(drained.endpoint_id, drained.epoch)], ctx);
        }
    }
}

impl Handler<ShutdownDelivery> for EndpointLeases {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: ShutdownDelivery, _ctx: &mut Self::Context) -> Self::Result {
        let (done, drained) = tokio::sync::oneshot::channel();
        let waiting = self.stopping.get_or_insert_with(Vec::new);
        waiting.push(done);
        let ids: Vec<String> = self.held.keys().cloned().collect();
        for id in &ids {
            self.drain(id, DrainReason::Shutdown);
        }
        self.answer_stop_when_idle();
        let bound = self.config.drain_timeout();
        let started = Instant::now();
        Box::pin(
            async move {
                let _ = tokio::time::timeout(bound, drained).await;
            }
            .into_actor(self)
            .then(move |_, manager, _ctx| {
                // Past the bound: whatever still drains is given back as it
                // is (at most its one message in flight is sent again).
                let left: Vec<(String, i64)> = manager
                    .held
                    .drain()
                    .map(|(id, held)| {
                        held.actor.do_send(crate::messages::StopActor);
                        let epoch = held.lease.epoch();
                        (id, epoch)
                    })
                    .collect();
                manager.metrics.leases_held.set(0);
                info!(
                    event = "delivery.drained",
                    endpoints = ids.len(),
                    undrained = left.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "delivery stopped"
                );
                if !left.is_empty() {
                    warn!(event = "delivery.drain_timeout", endpoints = left.len(), bound_ms = bound.as_millis() as u64, "attempts still in flight after the drain bound; their leases are given back now");
                }
                let store = manager.store.clone();
                let owner = manager.node_id.clone();
                async move {
                    if let Err(error) = store.release_leases(&owner, &left).await {
                        warn!(event = "lease.release_failed", error = %error);
                    }
                    // Give-backs of endpoints that drained may still be in
                    // flight; the actor stops now, so finish them here.
                    if let Err(error) = store.release_owner_leases(&owner).await {
                        warn!(event = "lease.release_failed", error = %error);
                    }
                    if let Err(error) = store.leave_replicas(&owner).await {
                        warn!(event = "lease.release_failed", error = %error);
                    }
                }
                .into_actor(manager)
            })
            .map(|_, _, ctx| ctx.stop()),
        )
    }
}

//! Messages between the delivery manager and the per-endpoint delivery actors.

use actix::prelude::*;

use crate::endpoint::Endpoint;

/// "Your endpoint may have work": read the outbox.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The endpoint's definition changed (config reload); takes effect from the
/// next send.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct UpdateEndpoint(pub Endpoint);

/// A delivery actor stopped because its lease is gone. `epoch` says which
/// actor: the manager forgets its entry only if it is still that one (a
/// newer actor for the same endpoint is left alone).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct LeaseLost {
    pub endpoint_id: String,
    pub epoch: i64,
}

/// Stop taking new work, finish and record the attempt in flight, then
/// answer [`Drained`] and stop.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Drain;

/// A delivery actor asked to [`Drain`] has nothing in flight any more (its
/// last attempt is recorded); its lease of `epoch` may be given back.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Drained {
    pub endpoint_id: String,
    pub epoch: i64,
}

/// Replace the config file's endpoints and link templates (start, SIGHUP,
/// `POST /v1/reload`); the links also apply to project webhooks.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SetEndpoints {
    pub endpoints: Vec<Endpoint>,
    pub links: std::sync::Arc<crate::presentation::LinkTemplates>,
}

/// Drain every delivery actor (bounded by `DeliveryConfig::drain_timeout`),
/// give the leases back, then stop.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ShutdownDelivery;

/// Every endpoint the manager knows (config, enabled or not, and valid
/// project webhooks), for listings.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<Endpoint>")]
pub struct GetEndpoints;

/// The endpoints herald cannot use, with why (a refused URL, a bad secret,
/// an unknown type): `(endpoint id, reason)`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<(String, String)>")]
pub struct GetInvalidEndpoints;

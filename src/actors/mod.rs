//! herald's actors, one per file. Each file starts with what the actor owns,
//! which messages it takes, what it emits and what happens when it restarts.
//!
//! - [`listener`]: database notifications → typed messages for the router.
//! - [`delivery_manager`]: endpoints, leases, one [`delivery`] actor per held endpoint.
//! - [`delivery`]: sends one endpoint's outbox in order, with retries.
//! - [`router`]: fans typed messages out to the actors that own them, and
//!   reconciliation requests to every actor with unfinished work.

pub mod delivery;
pub mod delivery_manager;
pub mod listener;
pub mod router;

pub use delivery::DeliveryActor;
pub use delivery_manager::DeliveryManager;
pub use listener::{Listener, ListenerConfig};
pub use router::{Router, RouterTargets};

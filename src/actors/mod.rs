//! herald's actors, one per file. Each file starts with what the actor owns,
//! which messages it takes, what it emits and what happens when it restarts.
//!
//! - [`listener`]: database notifications → typed messages for the router.
//! - [`router`]: fans typed messages out to the actors that own them, and
//!   reconciliation requests to every actor with unfinished work.

pub mod listener;
pub mod router;

pub use listener::{Listener, ListenerConfig};
pub use router::{Router, RouterTargets};

//! The one way to stop an actor: every long-lived actor of the daemon
//! handles [`StopActor`]; `Daemon::stop` sends it in dependency order.

use actix::prelude::*;

/// Ask an actor to stop.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopActor;

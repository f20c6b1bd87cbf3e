//! An actor that records every message it receives, standing in for the
//! actors a router feeds, so tests can see exactly what was routed.

use std::sync::{Arc, Mutex};

use actix::prelude::*;

/// Records messages of type `M`.
pub struct Recorder<M> {
    seen: Arc<Mutex<Vec<M>>>,
}

impl<M> Recorder<M>
where
    M: Message<Result = ()> + Send + Clone + Unpin + 'static,
{
    /// Start a recorder; returns its address and the shared list it fills.
    pub fn start() -> (Addr<Recorder<M>>, Arc<Mutex<Vec<M>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = Recorder { seen: seen.clone() }.start();
        (addr, seen)
    }
}

impl<M: Unpin + 'static> Actor for Recorder<M> {
    type Context = Context<Self>;
}

impl<M> Handler<M> for Recorder<M>
where
    M: Message<Result = ()> + Send + Clone + Unpin + 'static,
{
    type Result = ();

    fn handle(&mut self, message: M, _ctx: &mut Self::Context) {
        self.seen.lock().expect("recorder lock").push(message);
    }
}

/// A copy of what was recorded so far.
pub fn snapshot<M: Clone>(seen: &Arc<Mutex<Vec<M>>>) -> Vec<M> {
    seen.lock().expect("recorder lock").clone()
}

//! An actor that records every message it receives, standing in for the
//! actors a router feeds, so tests can see exactly what was routed.

use std::sync::{Arc, Mutex};

use actix::prelude::*;

/// Records messages of type `M`.
pub struct Recorder<M> {
    seen: Arc<Mutex<Vec<M>>>,
    /// Time taken per message (an actor that is behind).
    pace: Option<std::time::Duration>,
}

impl<M> Recorder<M>
where
    M: Message<Result = ()> + Send + Clone + Unpin + 'static,
{
    /// Start a recorder; returns its address and the shared list it fills.
    pub fn start() -> (Addr<Recorder<M>>, Arc<Mutex<Vec<M>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let addr = Recorder {
            seen: seen.clone(),
            pace: None,
        }
        .start();
        (addr, seen)
    }

    /// A recorder that takes `pace` per message, with a mailbox of
    /// `capacity`: an actor that is behind.
    pub fn start_slow(
        capacity: usize,
        pace: std::time::Duration,
    ) -> (Addr<Recorder<M>>, Arc<Mutex<Vec<M>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            seen: seen.clone(),
            pace: Some(pace),
        };
        let addr = Recorder::create(move |ctx| {
            ctx.set_mailbox_capacity(capacity);
            recorder
        });
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

    fn handle(&mut self, message: M, ctx: &mut Self::Context) {
        self.seen.lock().expect("recorder lock").push(message);
        if let Some(pace) = self.pace {
            // Nothing else is handled meanwhile.
            ctx.wait(actix::clock::sleep(pace).into_actor(self));
        }
    }
}

/// A copy of what was recorded so far.
pub fn snapshot<M: Clone>(seen: &Arc<Mutex<Vec<M>>>) -> Vec<M> {
    seen.lock().expect("recorder lock").clone()
}

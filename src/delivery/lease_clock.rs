//! How long this replica may still send for an endpoint ([`LeaseClock`],
//! by its own clock) and whether the endpoint's delivery actor makes
//! progress ([`Progress`], the watchdog's input). Shared by the
//! `EndpointLeases` manager (which renews) and the `DeliveryActor` (which
//! checks before each attempt).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Until when this replica may send for an endpoint, by its own clock: set
/// by the manager on each renewal, conservatively (renewal start + ttl).
#[derive(Debug, Clone)]
pub struct LeaseClock {
    /// The lease's fencing token (see `store::leases`).
    epoch: i64,
    origin: Instant,
    deadline_ms: Arc<AtomicU64>,
}

impl LeaseClock {
    /// A lease of `epoch`, not valid until [`LeaseClock::extend_from`].
    pub fn new(epoch: i64) -> Self {
        LeaseClock {
            epoch,
            origin: Instant::now(),
            deadline_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The lease was renewed by a request that started at `started`.
    pub fn extend_from(&self, started: Instant, valid_for: Duration) {
        let deadline = started.saturating_duration_since(self.origin) + valid_for;
        self.deadline_ms
            .store(deadline.as_millis() as u64, Ordering::Release);
    }

    pub fn is_valid(&self) -> bool {
        (self.origin.elapsed().as_millis() as u64) < self.deadline_ms.load(Ordering::Acquire)
    }

    /// How much of the lease is left, by this replica's clock.
    pub fn left(&self) -> Duration {
        let deadline = self.deadline_ms.load(Ordering::Acquire);
        Duration::from_millis(deadline.saturating_sub(self.origin.elapsed().as_millis() as u64))
    }
}

/// Whether a delivery actor is making progress: when the step it is in
/// (an outbox read, an attempt and its record) began. The manager renews
/// the actor's lease only while no step has lasted longer than
/// [`LeaseTiming::stall_limit`](super::ownership::LeaseTiming::stall_limit), so an actor stuck on a hung call lets its
/// lease lapse and another replica takes the endpoint over.
#[derive(Debug, Clone)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds since `origin` + 1 when the current step began; 0: idle.
    step_began: Arc<AtomicU64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            origin: Instant::now(),
            step_began: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Progress {
    fn begin(&self) {
        let now = self.origin.elapsed().as_millis() as u64 + 1;
        self.step_began.store(now, Ordering::Release);
    }

    fn end(&self) {
        self.step_began.store(0, Ordering::Release);
    }

    /// How long the current step has lasted (zero when idle).
    pub fn stuck_for(&self) -> Duration {
        match self.step_began.load(Ordering::Acquire) {
            0 => Duration::ZERO,
            began => {
                let now = self.origin.elapsed().as_millis() as u64 + 1;
                Duration::from_millis(now.saturating_sub(began))
            }
        }
    }

    /// Run `step`, marked as one step.
    pub async fn step<T>(&self, step: impl std::future::Future<Output = T>) -> T {
        self.begin();
        let out = step.await;
        self.end();
        out
    }
}

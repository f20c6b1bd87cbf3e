//! Endpoint ownership as an explicit state machine (pure; the
//! `EndpointLeases` actor drives it):
//!
//! ```text
//!  Acquiring ──acquired(epoch)──▶ Active(epoch) ──drain(why)──▶ Draining(epoch) ──drained──▶ Released
//!      │                            │                              │
//!      └──refused──▶ Released       └──lost──▶ Released            └──lost──▶ Released
//! ```
//!
//! Who may do what in each state:
//!
//! | state | start an attempt | record | renew the lease |
//! | --- | --- | --- | --- |
//! | Acquiring | no | no | no |
//! | Active(epoch) | yes, if the lease has [`LeaseTiming::attempt_room`] left | under `epoch` | yes, while its actor makes progress |
//! | Draining(epoch) | no (the one in flight finishes) | under `epoch` | yes, until drained |
//! | Released | no | no | no (the lease is given back, fenced by `epoch`) |
//!
//! Every way an endpoint leaves a replica on purpose — shutdown, shedding
//! for balance, a config reload that removes it, a disabled project
//! webhook — goes through Draining, so the attempt in flight is recorded
//! before the lease is given back and nobody sends it again.

use std::time::Duration;

/// Why an endpoint is being given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainReason {
    /// The replica stops.
    Shutdown,
    /// Over this replica's fair share while others live.
    Rebalance,
    /// No longer configured or enabled (reload, deleted or disabled webhook).
    Removed,
}

impl DrainReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DrainReason::Shutdown => "shutdown",
            DrainReason::Rebalance => "rebalance",
            DrainReason::Removed => "removed",
        }
    }
}

/// One endpoint's ownership on this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    Acquiring,
    Active { epoch: i64 },
    Draining { epoch: i64, reason: DrainReason },
    Released,
}

/// What happened to an endpoint's lease or actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The lease was taken under `epoch`.
    Acquired { epoch: i64 },
    /// Another replica holds it.
    Refused,
    /// Stop taking work and give the endpoint up.
    Drain(DrainReason),
    /// The actor finished (and recorded) its attempt in flight.
    Drained,
    /// The lease is gone (not renewed in time, taken over, the actor died).
    Lost,
}

/// A transition that makes no sense in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{transition:?} is not allowed in {from:?}")]
pub struct InvalidTransition {
    pub from: Ownership,
    pub transition: Transition,
}

impl Ownership {
    /// The state after `transition`, or why it cannot happen.
    pub fn apply(self, transition: Transition) -> Result<Ownership, InvalidTransition> {
        use Ownership::*;
        use Transition as T;
        let next = match (self, transition) {
            (Acquiring, T::Acquired { epoch }) => Active { epoch },
            (Acquiring, T::Refused) => Released,
            (Active { epoch }, T::Drain(reason)) => Draining { epoch, reason },
            // A shutdown overrides a drain already under way for balance.
            (Draining { epoch, .. }, T::Drain(DrainReason::Shutdown)) => Draining {
                epoch,
                reason: DrainReason::Shutdown,
            },
            (Draining { epoch, reason }, T::Drain(_)) => Draining { epoch, reason },
            (Draining { .. }, T::Drained) => Released,
            (Active { .. } | Draining { .. }, T::Lost) => Released,
            (from, transition) => return Err(InvalidTransition { from, transition }),
        };
        Ok(next)
    }

    /// The lease's fencing token, while this replica holds it.
    pub fn epoch(self) -> Option<i64> {
        match self {
            Ownership::Active { epoch } | Ownership::Draining { epoch, .. } => Some(epoch),
            _ => None,
        }
    }

    /// Whether the endpoint's actor may start a new attempt.
    pub fn may_start_attempts(self) -> bool {
        matches!(self, Ownership::Active { .. })
    }

    /// Whether the lease is renewed (an attempt in flight may still need
    /// it to be recorded).
    pub fn renews(self) -> bool {
        matches!(self, Ownership::Active { .. } | Ownership::Draining { .. })
    }

    /// Whether the endpoint counts toward this replica's share.
    pub fn counts_toward_share(self) -> bool {
        matches!(self, Ownership::Acquiring | Ownership::Active { .. })
    }
}

/// How the lease, its renewal and one attempt fit together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    pub ttl: Duration,
    pub renew_every: Duration,
    /// The longest one attempt may take (a direct message's API calls
    /// together).
    pub attempt_timeout: Duration,
}

impl LeaseTiming {
    /// Renewal runs every third of the lease.
    pub fn new(ttl: Duration, attempt_timeout: Duration) -> LeaseTiming {
        LeaseTiming {
            ttl,
            renew_every: (ttl / 3).max(Duration::from_millis(10)),
            attempt_timeout,
        }
    }

    /// Time kept free after an attempt for its record: a quarter of the
    /// attempt timeout.
    pub fn margin(&self) -> Duration {
        self.attempt_timeout / 4
    }

    /// The longest a whole attempt may run: the attempt timeout plus half
    /// the margin (one request's own timeout answers first; the other half
    /// is for the record).
    pub fn attempt_bound(&self) -> Duration {
        self.attempt_timeout + self.margin() / 2
    }

    /// How much lease an attempt needs left to start: the attempt timeout
    /// plus the margin. An attempt that starts with this much left ends
    /// and is recorded before the lease could pass to another replica.
    pub fn attempt_room(&self) -> Duration {
        self.attempt_timeout + self.margin()
    }

    /// Whether an attempt may start with `left` of the lease.
    pub fn may_start(&self, left: Duration) -> bool {
        left >= self.attempt_room()
    }

    /// An actor inside one step for longer than this is stuck: its lease is
    /// no longer renewed. Every step herald takes is bounded well below
    /// it (the attempt timeout, the statement timeout).
    pub fn stall_limit(&self) -> Duration {
        self.ttl
    }

    /// Refuse settings under which attempts could not start reliably: just
    /// after a renewal the lease has `ttl - renew_every` left at worst,
    /// and that must leave room for a whole attempt.
    pub fn check(&self) -> Result<(), String> {
        let worst = self.ttl.saturating_sub(self.renew_every);
        if worst < self.attempt_room() {
            let fmt = |d: Duration| {
                humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
            };
            let needed = (self.attempt_room() * 3).div_f64(2.0);
            return Err(format!(
                "--lease-ttl {} is too short for --request-timeout {}: an attempt needs {} of lease left \
                 (the request timeout plus a quarter) and a renewed lease has only {} left at worst \
                 (two thirds of the TTL). Use --lease-ttl {} or more, or a shorter --request-timeout",
                fmt(self.ttl),
                fmt(self.attempt_timeout),
                fmt(self.attempt_room()),
                fmt(worst),
                fmt(Duration::from_millis(needed.as_millis().div_ceil(1000) as u64 * 1000)),
            ));
        }
        Ok(())
    }
}

/// Which held endpoints to give back so that this replica keeps at most
/// `share`: idle ones first (nothing in flight, so the handover is
/// instant), then busy ones (they drain first).
pub fn to_shed<'a>(held: &[(&'a str, bool)], share: usize) -> Vec<&'a str> {
    let extra = held.len().saturating_sub(share);
    let mut order: Vec<&(&str, bool)> = held.iter().collect();
    // Idle (busy = false) first, then by id for a stable choice.
    order.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    order.into_iter().take(extra).map(|(id, _)| *id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use DrainReason::*;
    use Ownership::*;
    use Transition as T;

    #[test]
    fn acquiring_becomes_active_with_the_epoch() {
        assert_eq!(
            Acquiring.apply(T::Acquired { epoch: 7 }),
            Ok(Active { epoch: 7 })
        );
    }

    #[test]
    fn acquiring_refused_is_released() {
        assert_eq!(Acquiring.apply(T::Refused), Ok(Released));
    }

    #[test]
    fn active_drains_keeping_its_epoch() {
        for reason in [Shutdown, Rebalance, Removed] {
            assert_eq!(
                Active { epoch: 3 }.apply(T::Drain(reason)),
                Ok(Draining { epoch: 3, reason })
            );
        }
    }

    #[test]
    fn shutdown_overrides_a_drain_for_balance() {
        let draining = Draining {
            epoch: 3,
            reason: Rebalance,
        };
        assert_eq!(
            draining.apply(T::Drain(Shutdown)),
            Ok(Draining {
                epoch: 3,
                reason: Shutdown
            })
        );
        assert_eq!(draining.apply(T::Drain(Removed)), Ok(draining));
    }

    #[test]
    fn draining_ends_released_when_drained() {
        let draining = Draining {
            epoch: 3,
            reason: Shutdown,
        };
        assert_eq!(draining.apply(T::Drained), Ok(Released));
    }

    #[test]
    fn a_lost_lease_is_released_from_active_or_draining() {
        assert_eq!(Active { epoch: 1 }.apply(T::Lost), Ok(Released));
        let draining = Draining {
            epoch: 1,
            reason: Removed,
        };
        assert_eq!(draining.apply(T::Lost), Ok(Released));
    }

    #[test]
    fn nonsense_transitions_are_refused() {
        assert!(Active { epoch: 1 }.apply(T::Drained).is_err());
        assert!(Active { epoch: 1 }.apply(T::Acquired { epoch: 2 }).is_err());
        assert!(Acquiring.apply(T::Drain(Shutdown)).is_err());
        assert!(Released.apply(T::Acquired { epoch: 1 }).is_err());
        assert!(Released.apply(T::Lost).is_err());
    }

    #[test]
    fn only_active_starts_attempts_and_draining_still_renews() {
        let draining = Draining {
            epoch: 1,
            reason: Shutdown,
        };
        assert!(Active { epoch: 1 }.may_start_attempts());
        assert!(!draining.may_start_attempts());
        assert!(draining.renews() && Active { epoch: 1 }.renews());
        assert!(!Acquiring.renews() && !Released.renews());
        assert!(!draining.counts_toward_share());
        assert_eq!(draining.epoch(), Some(1));
        assert_eq!(Acquiring.epoch(), None);
    }

    #[test]
    fn an_attempt_starts_only_with_room_for_it_and_its_record() {
        let timing = LeaseTiming::new(Duration::from_secs(20), Duration::from_secs(10));
        assert_eq!(timing.attempt_room(), Duration::from_millis(12_500));
        assert_eq!(timing.attempt_bound(), Duration::from_millis(11_250));
        assert!(timing.attempt_bound() < timing.attempt_room());
        assert!(timing.may_start(Duration::from_millis(12_500)));
        assert!(!timing.may_start(Duration::from_millis(12_499)));
        assert!(!timing.may_start(Duration::from_millis(1)));
    }

    #[test]
    fn settings_that_leave_no_room_for_an_attempt_are_refused() {
        assert!(
            LeaseTiming::new(Duration::from_secs(20), Duration::from_secs(10))
                .check()
                .is_ok()
        );
        let error = LeaseTiming::new(Duration::from_secs(15), Duration::from_secs(15))
            .check()
            .expect_err("a 15 s request cannot fit a 15 s lease");
        assert!(error.contains("--lease-ttl 15s"), "{error}");
        assert!(error.contains("--lease-ttl 29s or more"), "{error}");
        assert!(error.contains("only 10s left at worst"), "{error}");
        // The suggested TTL passes.
        assert!(
            LeaseTiming::new(Duration::from_secs(29), Duration::from_secs(15))
                .check()
                .is_ok()
        );
    }

    #[test]
    fn shedding_gives_back_idle_endpoints_first_then_busy_ones() {
        let held = [("a", true), ("b", false), ("c", true), ("d", false)];
        assert_eq!(to_shed(&held, 3), vec!["b"]);
        assert_eq!(to_shed(&held, 1), vec!["b", "d", "a"]);
        assert!(to_shed(&held, 4).is_empty());
        assert!(to_shed(&held, 9).is_empty());
    }
}

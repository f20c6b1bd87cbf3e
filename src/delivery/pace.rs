//! An endpoint's rate limit (`rate_limit: {per_second, burst}`): a token
//! bucket its delivery actor takes a token from before each attempt.
//!
//! Only the lease holder sends to an endpoint, so its bucket is the
//! endpoint's, whichever replica holds it. A bucket starts **empty** (the
//! first send after one interval): an actor that just took the endpoint
//! over cannot add a burst to the one its predecessor may have sent just
//! before it died, so over any window of `t` seconds at most
//! `burst + per_second × t` requests go out, takeovers included. A
//! receiver's 429 is honoured on top (the delivery's own retry time).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limit as configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The bucket.
#[derive(Debug)]
pub struct Pace {
    limit: RateLimit,
    /// Tokens and when they were counted.
    state: Mutex<(f64, Instant)>,
}

impl Pace {
    pub fn new(limit: RateLimit, now: Instant) -> Pace {
        Pace {
            limit,
            state: Mutex::new((0.0, now)),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Take a token at `now`, or say how long until one is there.
    pub fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = *state;
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        let tokens =
            (tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst.max(1)));
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(Duration::from_secs_f64(
                ((1.0 - tokens) / self.limit.per_second).max(0.001),
            ))
        }
    }

    /// How long until a token is there (zero: now), without taking it.
    pub fn ready_in(&self, now: Instant) -> Duration {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = *state;
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        let tokens =
            (tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst.max(1)));
        if tokens >= 1.0 {
            Duration::ZERO
        } else {
            wait((1.0 - tokens) / self.limit.per_second)
        }
    }
}

/// `seconds` as a wait: at least a millisecond, at most an hour (the
/// slowest rate the config allows), whatever the arithmetic gave.
fn wait(seconds: f64) -> Duration {
    Duration::from_secs_f64(if seconds.is_finite() {
        seconds.clamp(0.001, 3600.0)
    } else {
        3600.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_empty_then_keeps_the_rate_and_the_burst() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let pace = Pace::new(
            RateLimit {
                per_second: 4.0,
                burst: 2,
            },
            start,
        );
        // Empty at first: the first token after a quarter second.
        assert_eq!(pace.take(at(0)), Err(Duration::from_millis(250)));
        assert_eq!(pace.ready_in(at(100)), Duration::from_millis(150));
        assert_eq!(pace.take(at(250)), Ok(()));
        assert!(pace.take(at(250)).is_err());
        // Idle for a long time: at most the burst at once.
        assert_eq!(pace.take(at(10_000)), Ok(()));
        assert_eq!(pace.take(at(10_000)), Ok(()));
        assert!(pace.take(at(10_000)).is_err());
        // Then one per interval.
        assert_eq!(pace.take(at(10_250)), Ok(()));
        assert!(pace.take(at(10_400)).is_err());
    }

    #[test]
    fn n_sends_take_n_over_the_rate_whatever_the_timing() {
        let start = Instant::now();
        let pace = Pace::new(
            RateLimit {
                per_second: 10.0,
                burst: 3,
            },
            start,
        );
        let mut now = start;
        let mut sent = 0;
        while sent < 50 {
            match pace.take(now) {
                Ok(()) => sent += 1,
                Err(wait) => now += wait,
            }
        }
        let span = now.duration_since(start).as_secs_f64();
        assert!((4.9..=5.1).contains(&span), "{span}");
    }
}

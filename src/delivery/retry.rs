//! When to try again: `base * 2^(attempt-1)` capped, with ±20 % jitter —
//! or an explicit schedule of delays (Svix's `retryScheduleInMs`), exactly
//! as written; `Retry-After` (seconds or an HTTP date) honoured on 429 and
//! 503; a total age limit. An endpoint may override the global policy
//! ([`RetryOverride`]). Which attempts count is decided in [`super::verdict`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Longest delay between attempts.
    pub cap: Duration,
    /// Attempts in all, the first included; after the last the delivery fails.
    pub max_attempts: u32,
    /// Longest `Retry-After` herald will wait for.
    pub retry_after_max: Duration,
    /// No retry is scheduled past this age of a delivery (counted from
    /// when it was queued or replayed): what ends a receiver that only
    /// ever throttles, since throttled attempts spend no attempt budget.
    pub max_age: Duration,
    /// Explicit delays after attempts 1, 2, …: when given, they replace
    /// the exponential backoff (no jitter) and there are `len + 1`
    /// attempts in all.
    pub schedule: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 5s, 10s, 20s, ... capped at 1h: 16 attempts span about 9 hours,
        // longer than Bytebase's 3 tries and configurable past Hook0's days.
        RetryPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
            max_attempts: 16,
            retry_after_max: Duration::from_secs(3600),
            // About a day, like Svix's schedule (~1.3 days) and Hook0's.
            max_age: Duration::from_secs(24 * 3600),
            schedule: Vec::new(),
        }
    }
}

/// An endpoint's own retry settings (`retry:` in the config file): each
/// one given replaces the global one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryOverride {
    pub schedule: Option<Vec<Duration>>,
    pub base: Option<Duration>,
    pub cap: Option<Duration>,
    pub max_attempts: Option<u32>,
    pub max_age: Option<Duration>,
}

impl RetryOverride {
    pub fn is_empty(&self) -> bool {
        *self == RetryOverride::default()
    }

    /// `global` with this endpoint's settings in place of its own.
    pub fn apply(&self, global: &RetryPolicy) -> RetryPolicy {
        let mut policy = global.clone();
        if let Some(base) = self.base {
            policy.base = base;
        }
        if let Some(cap) = self.cap {
            policy.cap = cap;
        }
        if let Some(attempts) = self.max_attempts {
            policy.max_attempts = attempts;
        }
        if let Some(age) = self.max_age {
            policy.max_age = age;
        }
        if let Some(schedule) = self.schedule.as_ref().filter(|s| !s.is_empty()) {
            policy.schedule = schedule.clone();
            policy.max_attempts = u32::try_from(schedule.len() + 1).unwrap_or(u32::MAX);
            // `Retry-After` is clamped to the schedule's range.
            policy.base = schedule.iter().copied().min().unwrap_or(policy.base);
            policy.cap = schedule.iter().copied().max().unwrap_or(policy.cap);
            policy.retry_after_max = policy.cap;
            // Every attempt of the schedule is made: without a `max_age`
            // of its own, the age limit is at least the schedule's span
            // and an hour more (queueing, pacing).
            if self.max_age.is_none() {
                let span: Duration = schedule.iter().sum();
                policy.max_age = policy.max_age.max(span + Duration::from_secs(3600));
            }
        }
        policy
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): the
    /// schedule's entry, or the exponential backoff, jittered.
    pub fn backoff(&self, attempt: u32) -> Duration {
        if let Some(last) = self.schedule.last() {
            let index = attempt.saturating_sub(1) as usize;
            return self.schedule.get(index).copied().unwrap_or(*last);
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exponent).min(self.cap);
        let jitter = rand::thread_rng().gen_range(0.8..=1.2);
        raw.mul_f64(jitter).min(self.cap)
    }

    /// The delay before the next attempt: `Retry-After` when the receiver
    /// gave one (clamped to `[base, retry_after_max]`), else the backoff.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.clamp(self.base, self.retry_after_max.max(self.base)),
            None => self.backoff(attempt),
        }
    }

    pub fn gives_up_after(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

/// Parse a `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_is_clamped() {
        let policy = RetryPolicy {
            base: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        assert_eq!(
            policy.delay(1, Some(Duration::ZERO)),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(9999))),
            Duration::from_secs(60)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn a_schedule_is_followed_exactly_and_counts_the_attempts() {
        let ms = Duration::from_millis;
        let global = RetryPolicy::default();
        let endpoint = RetryOverride {
            schedule: Some(vec![ms(5_000), ms(300_000), ms(1_800_000)]),
            ..RetryOverride::default()
        };
        let policy = endpoint.apply(&global);
        assert_eq!(policy.delay(1, None), ms(5_000));
        assert_eq!(policy.delay(2, None), ms(300_000));
        assert_eq!(policy.delay(3, None), ms(1_800_000));
        assert_eq!(policy.max_attempts, 4, "three delays: four attempts");
        assert!(!policy.gives_up_after(3) && policy.gives_up_after(4));
        // A Retry-After is clamped to the schedule's range.
        assert_eq!(policy.delay(1, Some(ms(1))), ms(5_000));
        assert_eq!(policy.delay(1, Some(ms(99_000_000))), ms(1_800_000));
        // Svix's schedule (~27.6 h) outlives the 24 h default age limit.
        let svix = RetryOverride {
            schedule: Some(
                [5, 300, 1800, 7200, 18000, 36000, 36000]
                    .map(|s| ms(s * 1000))
                    .to_vec(),
            ),
            ..RetryOverride::default()
        }
        .apply(&global);
        assert!(svix.max_age >= ms(99_305_000), "{:?}", svix.max_age);
        // Overrides without a schedule replace only what they name.
        let some = RetryOverride {
            max_attempts: Some(3),
            base: Some(ms(100)),
            ..RetryOverride::default()
        }
        .apply(&global);
        assert_eq!(
            (some.max_attempts, some.base, some.cap),
            (3, ms(100), global.cap)
        );
        assert!(RetryOverride::default().is_empty());
        assert_eq!(RetryOverride::default().apply(&global), global);
    }

    proptest! {
        #[test]
        fn backoff_grows_within_jitter_and_cap(attempt in 1u32..64, base_ms in 1u64..10_000, cap_ms in 1u64..10_000_000) {
            let policy = RetryPolicy {
                base: Duration::from_millis(base_ms),
                cap: Duration::from_millis(cap_ms),
                ..RetryPolicy::default()
            };
            let delay = policy.backoff(attempt);
            prop_assert!(delay <= policy.cap);
            let raw = policy.base.saturating_mul(1u32 << (attempt - 1).min(30)).min(policy.cap);
            prop_assert!(delay >= raw.mul_f64(0.8).min(policy.cap) - Duration::from_nanos(1));
        }
    }
}

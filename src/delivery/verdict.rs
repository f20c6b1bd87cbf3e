//! The delivery state machine's one decision: from what an attempt came to
//! and the delivery's history, what happens next.
//!
//! ```text
//!              ┌──────── Retry (failure: spends one of max_attempts) ─┐
//!              │  ┌───── Retry (throttled: spends nothing) ──────────┐│
//!              ▼  ▼                                                  ││
//! pending ──attempt──▶ accepted ─────────────────────────▶ delivered  ││
//!                  ├─▶ rejected (4xx, permanent platform code) ─▶ failed (replayable)
//!                  ├─▶ gone (410) ─────────────────▶ failed + endpoint disabled
//!                  ├─▶ failed / throttled ─────────────────────────────┘
//!                  └─▶ … past max_attempts failures or max_age ─▶ failed
//! ```
//!
//! Pure: no IO and no clock (ages and delays are durations measured by the
//! database); `actors::delivery` records the result.

use std::time::Duration;

use super::retry::RetryPolicy;
use crate::endpoint::Platform;
use crate::formats::{check_response, Reply};

/// What one attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum AttemptResult<'a> {
    /// The request could not be built (bad secret, a body that cannot fit).
    NotRendered(&'a str),
    /// No response: connect error, timeout, broken body.
    Transport(&'a str),
    /// The host resolved only to addresses the destination policy refuses;
    /// nothing was sent.
    Refused(&'a str),
    /// An app API's answer, already judged (`formats::direct`).
    Judged {
        reply: &'a Reply,
        retry_after: Option<Duration>,
    },
    Response {
        status: u16,
        /// `Retry-After`, parsed, when the receiver sent one.
        retry_after: Option<Duration>,
        body: &'a [u8],
    },
}

/// The delivery before this attempt.
#[derive(Debug, Clone, Copy)]
pub struct History {
    /// Attempts made before this one.
    pub attempts: u32,
    /// Of those, the ones that were throttled (they spend no budget).
    pub throttled: u32,
    /// Since the delivery entered the queue (or was last replayed).
    pub age: Duration,
}

/// Why a delivery failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// Retrying cannot help: the platform refused this message.
    Rejected,
    /// 410 Gone: the endpoint is disabled too.
    Gone,
    /// The destination is refused by policy: the endpoint is disabled too.
    Refused,
    /// `max_attempts` failed attempts.
    Exhausted,
    /// The next try would be past `max_age`.
    Expired,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Delivered,
    /// Try again after this long; a `throttled` attempt does not count
    /// against `max_attempts`.
    Retry {
        after: Duration,
        throttled: bool,
        reason: String,
    },
    Failed {
        kind: FailKind,
        reason: String,
    },
}

impl Decision {
    /// The attempt's error, for the attempt log.
    pub fn error(&self) -> Option<&str> {
        match self {
            Decision::Delivered => None,
            Decision::Retry { reason, .. } | Decision::Failed { reason, .. } => Some(reason),
        }
    }

    /// Whether this attempt was throttled (spends no attempt budget).
    pub fn throttled(&self) -> bool {
        matches!(
            self,
            Decision::Retry {
                throttled: true,
                ..
            }
        )
    }
}

/// The next step after an attempt.
pub fn decide(
    platform: Platform,
    result: AttemptResult<'_>,
    history: History,
    policy: &RetryPolicy,
) -> Decision {
    let (reply, retry_after) = match result {
        AttemptResult::NotRendered(reason) => (Reply::Rejected(reason.to_owned()), None),
        AttemptResult::Transport(reason) => (Reply::Failed(reason.to_owned()), None),
        AttemptResult::Refused(reason) => {
            return Decision::Failed {
                kind: FailKind::Refused,
                reason: reason.to_owned(),
            }
        }
        AttemptResult::Judged { reply, retry_after } => (reply.clone(), retry_after),
        AttemptResult::Response {
            status,
            retry_after,
            body,
        } => (
            check_response(platform, status, retry_after.is_some(), body),
            retry_after,
        ),
    };
    let attempt = history.attempts + 1;
    let (reason, throttled) = match reply {
        Reply::Accepted => return Decision::Delivered,
        Reply::Rejected(reason) => {
            return Decision::Failed {
                kind: FailKind::Rejected,
                reason,
            }
        }
        Reply::Gone(reason) => {
            return Decision::Failed {
                kind: FailKind::Gone,
                reason,
            }
        }
        Reply::Throttled(reason) => (reason, true),
        Reply::Failed(reason) => (reason, false),
    };
    let failures = attempt - history.throttled.min(history.attempts) - u32::from(throttled);
    if !throttled && policy.gives_up_after(failures) {
        return Decision::Failed {
            kind: FailKind::Exhausted,
            reason,
        };
    }
    let delay = if throttled {
        policy.delay(attempt, retry_after)
    } else {
        policy.delay(failures, retry_after)
    };
    if history.age.saturating_add(delay) > policy.max_age {
        return Decision::Failed {
            kind: FailKind::Expired,
            reason: format!(
                "{reason} (gave up: the next try would be past the {} age limit)",
                humantime::format_duration(policy.max_age)
            ),
        };
    }
    Decision::Retry {
        after: delay,
        throttled,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
            max_attempts: 3,
            retry_after_max: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
            schedule: Vec::new(),
        }
    }

    fn fresh() -> History {
        History {
            attempts: 0,
            throttled: 0,
            age: Duration::ZERO,
        }
    }

    fn response(status: u16, body: &[u8]) -> AttemptResult<'_> {
        AttemptResult::Response {
            status,
            retry_after: None,
            body,
        }
    }

    fn decide_now(platform: Platform, result: AttemptResult<'_>, history: History) -> Decision {
        decide(platform, result, history, &policy())
    }

    #[test]
    fn a_2xx_is_delivered() {
        assert_eq!(
            decide_now(Platform::Generic, response(204, b""), fresh()),
            Decision::Delivered
        );
    }

    #[test]
    fn a_permanent_rejection_fails_at_the_first_attempt() {
        let decision = decide_now(Platform::Slack, response(400, b"invalid_blocks"), fresh());
        assert_eq!(
            decision,
            Decision::Failed {
                kind: FailKind::Rejected,
                reason: "HTTP 400: invalid_blocks".into()
            }
        );
        let feishu = decide_now(
            Platform::Feishu,
            response(200, br#"{"code":19024,"msg":"Key Words Not Found"}"#),
            fresh(),
        );
        assert!(matches!(
            feishu,
            Decision::Failed {
                kind: FailKind::Rejected,
                ..
            }
        ));
    }

    #[test]
    fn a_body_that_cannot_be_rendered_is_rejected() {
        let decision = decide_now(
            Platform::Wecom,
            AttemptResult::NotRendered("too large"),
            fresh(),
        );
        assert!(matches!(
            decision,
            Decision::Failed {
                kind: FailKind::Rejected,
                ..
            }
        ));
    }

    #[test]
    fn a_refused_destination_fails_and_disables() {
        let decision = decide_now(
            Platform::Generic,
            AttemptResult::Refused("localhost resolves to a refused destination"),
            fresh(),
        );
        assert!(matches!(
            decision,
            Decision::Failed {
                kind: FailKind::Refused,
                ..
            }
        ));
    }

    #[test]
    fn gone_fails_and_disables() {
        let decision = decide_now(Platform::Generic, response(410, b""), fresh());
        assert!(matches!(
            decision,
            Decision::Failed {
                kind: FailKind::Gone,
                ..
            }
        ));
    }

    #[test]
    fn transient_failures_retry_until_the_budget_is_spent() {
        let first = decide_now(Platform::Generic, response(500, b""), fresh());
        match first {
            Decision::Retry {
                after, throttled, ..
            } => {
                assert!(!throttled);
                assert!(after >= Duration::from_secs(4));
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        let timeout = decide_now(
            Platform::Generic,
            AttemptResult::Transport("timed out"),
            fresh(),
        );
        assert!(matches!(
            timeout,
            Decision::Retry {
                throttled: false,
                ..
            }
        ));
        let last = History {
            attempts: 2,
            ..fresh()
        };
        assert_eq!(
            decide_now(Platform::Generic, response(503, b""), last),
            Decision::Failed {
                kind: FailKind::Exhausted,
                reason: "HTTP 503".into()
            }
        );
    }

    #[test]
    fn throttled_attempts_do_not_spend_the_budget() {
        // 50 throttled attempts and 1 failure so far: max_attempts 3 leaves room.
        let history = History {
            attempts: 51,
            throttled: 50,
            age: Duration::from_secs(600),
        };
        let retry_after = AttemptResult::Response {
            status: 429,
            retry_after: Some(Duration::from_secs(30)),
            body: b"",
        };
        assert_eq!(
            decide_now(Platform::Discord, retry_after, history),
            Decision::Retry {
                after: Duration::from_secs(30),
                throttled: true,
                reason: "HTTP 429".into()
            }
        );
        // A real failure then is the second of three.
        assert!(matches!(
            decide_now(Platform::Discord, response(500, b""), history),
            Decision::Retry {
                throttled: false,
                ..
            }
        ));
        let dingtalk = decide_now(
            Platform::Dingtalk,
            response(200, br#"{"errcode":130101,"errmsg":"send too fast"}"#),
            history,
        );
        assert!(dingtalk.throttled());
    }

    #[test]
    fn the_age_limit_ends_throttling() {
        let old = History {
            attempts: 200,
            throttled: 200,
            age: Duration::from_secs(24 * 3600),
        };
        let decision = decide_now(Platform::Slack, response(429, b"rate_limited"), old);
        assert!(
            matches!(
                decision,
                Decision::Failed {
                    kind: FailKind::Expired,
                    ..
                }
            ),
            "{decision:?}"
        );
    }
}

//! The gate before a delivery's first attempt: send it, filter it out,
//! mute it (drop: recorded `muted`, replayable) or hold it until its mute
//! ends (then it is sent, in order with the others held). One pure
//! function of the endpoint's route, the silences, the event's attributes
//! and the time.
//!
//! Precedence: the endpoint's filter first (an event it does not want is
//! `filtered` whatever the mutes); then every mute that applies — active
//! silences whose matchers hold, mute windows that contain the time. A
//! `drop` among them wins (the message is not wanted now or later);
//! otherwise the message is held until the last of the holding mutes ends.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::matcher::{Attributes, Matchers};
use super::time_interval::TimeInterval;

/// What becomes of a muted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MuteAction {
    /// Not sent; recorded `muted` (visible, replayable).
    #[default]
    Drop,
    /// Set aside and sent when the mute ends.
    Hold,
}

impl MuteAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MuteAction::Drop => "drop",
            MuteAction::Hold => "hold",
        }
    }

    pub fn parse(text: &str) -> Option<MuteAction> {
        match text {
            "drop" => Some(MuteAction::Drop),
            "hold" => Some(MuteAction::Hold),
            _ => None,
        }
    }
}

/// An endpoint's recurring quiet period.
#[derive(Debug, Clone, PartialEq)]
pub struct MuteWindow {
    pub interval: Arc<TimeInterval>,
    pub action: MuteAction,
}

/// An endpoint's routing: which events it wants, and when it is quiet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Route {
    /// Every matcher must hold for the event to be sent (none: all are).
    pub filter: Matchers,
    pub mute_windows: Vec<MuteWindow>,
}

impl Route {
    pub fn is_empty(&self) -> bool {
        self.filter.is_empty() && self.mute_windows.is_empty()
    }
}

/// An ad-hoc, time-bounded mute, stored in the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: Uuid,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub action: MuteAction,
}

impl Silence {
    pub fn active_at(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Send,
    /// The endpoint's filter does not want it: this matcher did not hold.
    Filtered {
        matcher: String,
    },
    /// Dropped by a mute (`silence:<id>` or `window:<name>`).
    Muted {
        by: String,
    },
    /// Set aside until `until` (the end of the last mute holding it).
    Held {
        by: String,
        until: DateTime<Utc>,
    },
}

/// Decide for one delivery (see the module's precedence).
pub fn decide(
    route: &Route,
    silences: &[Silence],
    attributes: &Attributes,
    now: DateTime<Utc>,
) -> Gate {
    if let Some(failing) = route.filter.first_failing(attributes) {
        return Gate::Filtered {
            matcher: failing.to_string(),
        };
    }
    let mut held: Option<(String, DateTime<Utc>)> = None;
    let mut hold = |by: String, until: DateTime<Utc>| match &held {
        Some((_, later)) if *later >= until => {}
        _ => held = Some((by, until)),
    };
    for silence in silences
        .iter()
        .filter(|s| s.active_at(now) && s.matchers.hold(attributes))
    {
        match silence.action {
            MuteAction::Drop => {
                return Gate::Muted {
                    by: format!("silence:{}", silence.id),
                }
            }
            MuteAction::Hold => hold(format!("silence:{}", silence.id), silence.ends_at),
        }
    }
    for window in route
        .mute_windows
        .iter()
        .filter(|w| w.interval.contains(now))
    {
        let by = format!("window:{}", window.interval.name);
        match window.action {
            MuteAction::Drop => return Gate::Muted { by },
            // Only a hold needs to know when the window ends.
            MuteAction::Hold => hold(by, window.interval.ends_after(now)),
        }
    }
    match held {
        Some((by, until)) => Gate::Held { by, until },
        None => Gate::Send,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::matcher::parse;
    use crate::routing::time_interval::{IntervalPart, TimeInterval};
    use chrono::TimeZone;

    fn attrs(env: &str) -> Attributes {
        [
            ("type".to_string(), vec!["PIPELINE_FAILED".to_string()]),
            ("environment".to_string(), vec![env.to_string()]),
        ]
        .into_iter()
        .collect()
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 2, h, 0, 0).unwrap()
    }

    fn silence(matchers: &str, from: u32, to: u32, action: MuteAction) -> Silence {
        Silence {
            id: Uuid::nil(),
            matchers: parse(matchers).unwrap(),
            starts_at: at(from),
            ends_at: at(to),
            action,
        }
    }

    fn window(action: MuteAction) -> MuteWindow {
        MuteWindow {
            interval: Arc::new(TimeInterval {
                name: "evening".into(),
                parts: vec![IntervalPart {
                    times: vec![(18 * 60, 20 * 60)],
                    weekdays: vec![],
                    days_of_month: vec![],
                    months: vec![],
                    years: vec![],
                    location: chrono_tz::UTC,
                }],
            }),
            action,
        }
    }

    #[test]
    fn the_filter_decides_first() {
        let route = Route {
            filter: parse("environment=prod").unwrap(),
            mute_windows: vec![],
        };
        let s = [silence("environment=staging", 0, 23, MuteAction::Hold)];
        assert_eq!(
            decide(&route, &s, &attrs("staging"), at(12)),
            Gate::Filtered {
                matcher: r#"environment="prod""#.into()
            }
        );
        assert_eq!(decide(&route, &s, &attrs("prod"), at(12)), Gate::Send);
    }

    #[test]
    fn a_silence_applies_only_while_active_and_matching() {
        let route = Route::default();
        let s = [silence("environment=prod", 10, 12, MuteAction::Drop)];
        assert_eq!(decide(&route, &s, &attrs("prod"), at(9)), Gate::Send);
        assert!(matches!(
            decide(&route, &s, &attrs("prod"), at(10)),
            Gate::Muted { .. }
        ));
        assert_eq!(decide(&route, &s, &attrs("prod"), at(12)), Gate::Send);
        assert_eq!(decide(&route, &s, &attrs("dev"), at(11)), Gate::Send);
    }

    #[test]
    fn held_until_the_last_holding_mute_ends_and_drop_wins() {
        let route = Route {
            filter: Matchers::default(),
            mute_windows: vec![window(MuteAction::Hold)],
        };
        let s = [silence("environment=prod", 18, 19, MuteAction::Hold)];
        assert_eq!(
            decide(&route, &s, &attrs("prod"), at(18)),
            Gate::Held {
                by: "window:evening".into(),
                until: at(20)
            }
        );
        let dropping = [silence("environment=prod", 18, 19, MuteAction::Drop)];
        assert!(matches!(
            decide(&route, &dropping, &attrs("prod"), at(18)),
            Gate::Muted { by } if by.starts_with("silence:")
        ));
        assert_eq!(decide(&route, &s, &attrs("prod"), at(20)), Gate::Send);
    }
}

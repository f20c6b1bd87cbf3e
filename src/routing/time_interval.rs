//! Recurring periods of time — Alertmanager's `time_intervals`, same
//! fields and same meaning — used as mute windows: a named interval holds
//! at an instant when any of its parts does; a part holds when each field
//! it gives (times, weekdays, days of the month, months, years — in its
//! `location`, UTC by default) holds.
//!
//! Source of the model: Alertmanager's configuration reference,
//! "time_interval" (https://prometheus.io/docs/alerting/latest/configuration/#time_interval-0):
//! `times` are `HH:MM` with `end_time` exclusive and `24:00` allowed;
//! weekdays `sunday`…`saturday`; `days_of_month` 1…31 or -31…-1 (from the
//! end of the month); months by name or 1…12; ranges written `a:b`,
//! inclusive.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// How far ahead [`TimeInterval::ends_after`] looks for the end.
const LOOK_AHEAD_MINUTES: i64 = 31 * 24 * 60;

/// A named set of recurring periods.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeInterval {
    pub name: String,
    pub parts: Vec<IntervalPart>,
}

/// One entry of an interval's list: every given field must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalPart {
    /// Minutes of the day, `[start, end)`.
    pub times: Vec<(u32, u32)>,
    /// 0 = Sunday … 6 = Saturday, inclusive ranges.
    pub weekdays: Vec<(u32, u32)>,
    /// 1…31, or negative from the end of the month, inclusive ranges.
    pub days_of_month: Vec<(i32, i32)>,
    /// 1…12, inclusive ranges.
    pub months: Vec<(u32, u32)>,
    pub years: Vec<(i32, i32)>,
    pub location: Tz,
}

impl IntervalPart {
    fn holds(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.location).naive_local();
        let minute = local.hour() * 60 + local.minute();
        let weekday = local.weekday().num_days_from_sunday();
        let in_any = |ranges: &[(u32, u32)], v: u32| {
            ranges.is_empty() || ranges.iter().any(|&(a, b)| a <= v && v <= b)
        };
        if !self.times.is_empty() && !self.times.iter().any(|&(a, b)| a <= minute && minute < b) {
            return false;
        }
        if !in_any(&self.weekdays, weekday) || !in_any(&self.months, local.month()) {
            return false;
        }
        if !self.years.is_empty()
            && !self
                .years
                .iter()
                .any(|&(a, b)| a <= local.year() && local.year() <= b)
        {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let length = days_in_month(&local);
            let day = local.day() as i32;
            let resolve = |d: i32| if d < 0 { length + 1 + d } else { d };
            if !self
                .days_of_month
                .iter()
                .any(|&(a, b)| resolve(a) <= day && day <= resolve(b))
            {
                return false;
            }
        }
        true
    }
}

fn days_in_month(local: &NaiveDateTime) -> i32 {
    let (y, m) = (local.year(), local.month());
    let next = if m == 12 {
        chrono::NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.and_then(|n| n.pred_opt())
        .map_or(31, |d| d.day() as i32)
}

impl TimeInterval {
    /// Whether `at` falls inside the interval.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.parts.iter().any(|p| p.holds(at))
    }

    /// When a period that contains `at` ends: the first whole minute after
    /// `at` outside the interval (looking up to 31 days ahead; an interval
    /// that lasts longer ends, for this purpose, then — what it held is
    /// looked at again at that time). It jumps from boundary to boundary
    /// (the end of a part's time range, or its next local midnight), so a
    /// month-long window costs a few dozen checks, not one per minute.
    pub fn ends_after(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let start = at
            .with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(at);
        let limit = start + chrono::Duration::minutes(LOOK_AHEAD_MINUTES);
        let mut t = start + chrono::Duration::minutes(1);
        while t < limit {
            // Every part holding at `t` holds until its own boundary, so
            // the interval holds until the latest of them.
            let next = self
                .parts
                .iter()
                .filter(|p| p.holds(t))
                .map(|p| p.holds_until(t))
                .max();
            match next {
                None => return t,
                Some(next) => t = next.max(t + chrono::Duration::minutes(1)),
            }
        }
        limit
    }
}

impl IntervalPart {
    /// For a part holding at `t`: the next instant it may stop holding —
    /// the end of the time range `t` is in, or the next local midnight.
    fn holds_until(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let local = t.with_timezone(&self.location).naive_local();
        let minute = local.hour() * 60 + local.minute();
        let end = self
            .times
            .iter()
            .filter(|&&(a, b)| a <= minute && minute < b)
            .map(|&(_, b)| b)
            .max()
            .unwrap_or(24 * 60);
        let midnight = local.date().and_hms_opt(0, 0, 0).unwrap_or(local);
        let boundary = midnight + chrono::Duration::minutes(i64::from(end));
        // A local time DST skipped or repeated: the earliest real instant,
        // or the next minute when none exists.
        self.location
            .from_local_datetime(&boundary)
            .earliest()
            .map(|b| b.with_timezone(&Utc))
            .filter(|b| *b > t)
            .unwrap_or(t + chrono::Duration::minutes(1))
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// `HH:MM` (00:00–24:00) as minutes of the day.
pub fn parse_clock(text: &str) -> Result<u32, String> {
    let bad = || format!("`{text}` is not a time between 00:00 and 24:00 (HH:MM)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A range `a:b` or a single `a`, each side parsed by `one`.
pub fn parse_range<T: Copy + PartialOrd + Default>(
    text: &str,
    one: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<(T, T), String> {
    let text = text.trim();
    let (a, b) = text.split_once(':').unwrap_or((text, text));
    match (one(a.trim()), one(b.trim())) {
        // `-1:5` would mix counting from the end and from the start.
        (Some(a), Some(b)) if a < T::default() && b > T::default() => Err(format!(
            "`{text}`: a range from the month's end cannot end counted from its start"
        )),
        (Some(a), Some(b)) if a <= b => Ok((a, b)),
        // `1:-1`, from a day to one counted from the month's end
        // (Alertmanager's days_of_month allow it).
        (Some(a), Some(b)) if a > T::default() && b < T::default() => Ok((a, b)),
        (Some(_), Some(_)) => Err(format!("`{text}`: the range's start is after its end")),
        _ => Err(format!(
            "`{text}` is not a {what} or a range of them (`a:b`)"
        )),
    }
}

pub fn weekday(text: &str) -> Option<u32> {
    WEEKDAYS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(text))
        .map(|i| i as u32)
}

pub fn month(text: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(text))
        .map(|i| i as u32 + 1)
        .or_else(|| text.parse().ok().filter(|m| (1..=12).contains(m)))
}

pub fn day_of_month(text: &str) -> Option<i32> {
    text.parse()
        .ok()
        .filter(|d: &i32| (1..=31).contains(d) || (-31..=-1).contains(d))
}

pub fn location(text: &str) -> Result<Tz, String> {
    if text.eq_ignore_ascii_case("local") {
        return Err("`Local` depends on the machine; name a zone such as `Europe/Berlin`".into());
    }
    text.parse::<Tz>()
        .map_err(|_| format!("`{text}` is not an IANA time zone (such as `Europe/Berlin`)"))
}

/// A UTC instant from a local time in `tz` (tests, examples).
pub fn local_instant(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Option<DateTime<Utc>> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(tz: &str) -> IntervalPart {
        IntervalPart {
            times: vec![],
            weekdays: vec![],
            days_of_month: vec![],
            months: vec![],
            years: vec![],
            location: location(tz).unwrap(),
        }
    }

    fn nights_in_berlin() -> TimeInterval {
        TimeInterval {
            name: "nights".into(),
            parts: vec![IntervalPart {
                times: vec![(parse_clock("22:00").unwrap(), parse_clock("24:00").unwrap())],
                weekdays: vec![parse_range("monday:friday", weekday, "weekday").unwrap()],
                ..part("Europe/Berlin")
            }],
        }
    }

    #[test]
    fn a_window_is_judged_in_its_time_zone() {
        let nights = nights_in_berlin();
        let tz = location("Europe/Berlin").unwrap();
        // Wednesday 2026-12-02 22:30 in Berlin is 21:30 UTC.
        let inside = local_instant(tz, 2026, 12, 2, 22, 30).unwrap();
        assert!(nights.contains(inside));
        assert_eq!(inside.hour(), 21);
        // The same UTC clock reading, 22:30 UTC, is 23:30 in Berlin: inside;
        // 20:30 UTC is 21:30 in Berlin: outside.
        let utc = |h| Utc.with_ymd_and_hms(2026, 12, 2, h, 30, 0).unwrap();
        assert!(nights.contains(utc(22)));
        assert!(!nights.contains(utc(20)));
        // Saturday night is not a weekday.
        assert!(!nights.contains(local_instant(tz, 2026, 12, 5, 22, 30).unwrap()));
    }

    #[test]
    fn a_window_ends_at_its_first_minute_outside() {
        let nights = nights_in_berlin();
        let tz = location("Europe/Berlin").unwrap();
        let inside = local_instant(tz, 2026, 12, 2, 23, 59).unwrap();
        assert_eq!(
            nights.ends_after(inside),
            local_instant(tz, 2026, 12, 3, 0, 0).unwrap()
        );
    }

    #[test]
    fn days_of_month_count_from_the_end_when_negative() {
        let last_day = TimeInterval {
            name: "month-end".into(),
            parts: vec![IntervalPart {
                days_of_month: vec![(-1, -1)],
                ..part("UTC")
            }],
        };
        assert!(last_day.contains(Utc.with_ymd_and_hms(2027, 2, 28, 12, 0, 0).unwrap()));
        assert!(!last_day.contains(Utc.with_ymd_and_hms(2027, 2, 27, 12, 0, 0).unwrap()));
        // A whole day: it ends at midnight.
        assert_eq!(
            last_day.ends_after(Utc.with_ymd_and_hms(2027, 2, 28, 12, 0, 0).unwrap()),
            Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn months_and_years_restrict() {
        let q1 = TimeInterval {
            name: "q1".into(),
            parts: vec![IntervalPart {
                months: vec![parse_range("january:march", month, "month").unwrap()],
                years: vec![(2027, 2027)],
                ..part("UTC")
            }],
        };
        assert!(q1.contains(Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0).unwrap()));
        assert!(!q1.contains(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap()));
        assert!(!q1.contains(Utc.with_ymd_and_hms(2027, 4, 1, 0, 0, 0).unwrap()));
    }

    #[test]
    fn long_windows_end_where_they_end_across_days_and_dst() {
        // December in Berlin: ends on January 1st, local midnight.
        let december = TimeInterval {
            name: "december".into(),
            parts: vec![IntervalPart {
                months: vec![(12, 12)],
                ..part("Europe/Berlin")
            }],
        };
        let tz = location("Europe/Berlin").unwrap();
        assert_eq!(
            december.ends_after(local_instant(tz, 2026, 12, 2, 10, 0).unwrap()),
            local_instant(tz, 2027, 1, 1, 0, 0).unwrap()
        );
        // Nights across the end of summer time (Berlin, 2026-10-25 03:00
        // CEST is 02:00 CET): still the next 07:00.
        let nights = TimeInterval {
            name: "nights".into(),
            parts: vec![IntervalPart {
                times: vec![(0, 7 * 60)],
                ..part("Europe/Berlin")
            }],
        };
        let at = local_instant(tz, 2026, 10, 25, 1, 30).unwrap();
        assert_eq!(
            nights.ends_after(at),
            local_instant(tz, 2026, 10, 25, 7, 0).unwrap()
        );
        // Two parts that meet: one window.
        let evening_and_night = TimeInterval {
            name: "late".into(),
            parts: vec![
                IntervalPart {
                    times: vec![(18 * 60, 24 * 60)],
                    ..part("UTC")
                },
                IntervalPart {
                    times: vec![(0, 6 * 60)],
                    ..part("UTC")
                },
            ],
        };
        assert_eq!(
            evening_and_night.ends_after(Utc.with_ymd_and_hms(2026, 12, 2, 20, 0, 0).unwrap()),
            Utc.with_ymd_and_hms(2026, 12, 3, 6, 0, 0).unwrap()
        );
        // The whole of time: the look-ahead's end.
        let always = TimeInterval {
            name: "always".into(),
            parts: vec![part("UTC")],
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 20, 0, 0).unwrap();
        assert_eq!(always.ends_after(now), now + chrono::Duration::days(31));
        // From the first day to the last of each month.
        assert_eq!(parse_range("1:-1", day_of_month, "day"), Ok((1, -1)));
        assert!(parse_range("-1:5", day_of_month, "day").is_err());
    }

    #[test]
    fn bad_fields_are_refused_with_the_text() {
        assert!(parse_clock("25:00").is_err());
        assert!(parse_clock("24:01").is_err());
        assert!(parse_clock("9:5").is_err());
        assert_eq!(parse_clock("24:00"), Ok(1440));
        assert!(parse_range("friday:monday", weekday, "weekday")
            .unwrap_err()
            .contains("after its end"));
        assert!(parse_range("funday", weekday, "weekday").is_err());
        assert!(location("Mars/Olympus").is_err());
        assert!(day_of_month("0").is_none());
    }
}

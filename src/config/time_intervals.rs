//! `time_intervals:` — named recurring periods endpoints can be muted
//! during, written in Alertmanager's shape — and their validation into
//! [`TimeInterval`]s, every bad field a located problem.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Problem;
use crate::routing::time_interval::{self as ti, IntervalPart};
use crate::routing::TimeInterval;

/// One entry of `time_intervals:`, in Alertmanager's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimeInterval {
    pub name: String,
    pub time_intervals: Vec<FilePeriod>,
}

/// One period of a time interval: every field given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePeriod {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<FileTimeRange>,
    /// `monday`, `monday:friday`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<RangeText>,
    /// `1`, `1:5`, `-1` (the last day), …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<RangeText>,
    /// `january`, `1:3`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<RangeText>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<RangeText>,
    /// An IANA time zone (`Europe/Berlin`); UTC by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// `start_time: "18:00"`, `end_time: "24:00"` (end exclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimeRange {
    pub start_time: String,
    pub end_time: String,
}

/// A range as YAML may write it: `1:5`, `monday`, or a bare number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RangeText {
    Number(i64),
    Text(String),
}

impl RangeText {
    pub fn text(&self) -> String {
        match self {
            RangeText::Number(n) => n.to_string(),
            RangeText::Text(t) => t.clone(),
        }
    }
}

/// Every range of `list` parsed by `parse`, or each bad one's index and why.
fn ranges<T>(
    list: &[RangeText],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, Vec<(usize, String)>> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (k, raw) in list.iter().enumerate() {
        match parse(&raw.text()) {
            Ok(range) => good.push(range),
            Err(e) => bad.push((k, e)),
        }
    }
    if bad.is_empty() {
        Ok(good)
    } else {
        Err(bad)
    }
}

/// What parsed of a field; each bad range added to `problems`.
fn take<T>(
    problems: &mut Vec<(String, String)>,
    field: &str,
    result: Result<Vec<T>, Vec<(usize, String)>>,
    hint: &str,
) -> Vec<T> {
    result.unwrap_or_else(|bad| {
        for (k, e) in bad {
            problems.push((format!("{field}[{k}]"), format!("{e} ({hint})")));
        }
        Vec::new()
    })
}

/// One period, or every problem with it as (field path, message).
fn period(raw: &FilePeriod) -> Result<IntervalPart, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut times = Vec::new();
    for (k, range) in raw.times.iter().enumerate() {
        match (ti::parse_clock(&range.start_time), ti::parse_clock(&range.end_time)) {
            (Ok(a), Ok(b)) if a < b => times.push((a, b)),
            (Ok(_), Ok(_)) => problems.push((
                format!("times[{k}]"),
                format!(
                    "start_time {} is not before end_time {} (a period cannot cross midnight: write two)",
                    range.start_time, range.end_time
                ),
            )),
            (Err(e), _) | (_, Err(e)) => problems.push((format!("times[{k}]"), e)),
        }
    }
    let weekdays = take(
        &mut problems,
        "weekdays",
        ranges(&raw.weekdays, |t| {
            ti::parse_range(t, ti::weekday, "weekday")
        }),
        "sunday … saturday",
    );
    let days_of_month = take(
        &mut problems,
        "days_of_month",
        ranges(&raw.days_of_month, |t| {
            ti::parse_range(t, ti::day_of_month, "day of the month")
        }),
        "1 … 31, or -31 … -1 counted from the month's end",
    );
    let months = take(
        &mut problems,
        "months",
        ranges(&raw.months, |t| ti::parse_range(t, ti::month, "month")),
        "january … december, or 1 … 12",
    );
    let years = take(
        &mut problems,
        "years",
        ranges(&raw.years, |t| {
            ti::parse_range(
                t,
                |y| y.parse::<i32>().ok().filter(|y| (1970..=9999).contains(y)),
                "year",
            )
        }),
        "such as 2027 or 2027:2028",
    );
    let location = match raw.location.as_deref().map(ti::location) {
        None => chrono_tz::UTC,
        Some(Ok(tz)) => tz,
        Some(Err(e)) => {
            problems.push(("location".into(), e));
            chrono_tz::UTC
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(IntervalPart {
        times,
        weekdays,
        days_of_month,
        months,
        years,
        location,
    })
}

/// Every entry parsed, by name; a problem per bad field, located at
/// `time_intervals[i].…` (an interval with a problem is left out, and the
/// endpoints naming it are not reported again).
pub fn validate(
    raw: &[FileTimeInterval],
    path: &Path,
    problems: &mut Vec<Problem>,
) -> HashMap<String, Arc<TimeInterval>> {
    let mut named = HashMap::new();
    for (i, interval) in raw.iter().enumerate() {
        let mut problem = |field: String, message: String| {
            problems.push(Problem {
                file: path.to_path_buf(),
                position: None,
                endpoint: String::new(),
                index: None,
                field: format!("time_intervals[{i}].{field}"),
                message,
            })
        };
        let mut ok = true;
        if !super::file::valid_id(&interval.name) {
            ok = false;
            problem(
                "name".into(),
                "must be non-empty and use only letters, digits, `.`, `_`, `-`".into(),
            );
        } else if named.contains_key(&interval.name) {
            ok = false;
            problem(
                "name".into(),
                format!("`{}` is used by another time interval", interval.name),
            );
        }
        if interval.time_intervals.is_empty() {
            ok = false;
            problem("time_intervals".into(), "needs at least one period".into());
        }
        let mut parts = Vec::new();
        for (j, raw_period) in interval.time_intervals.iter().enumerate() {
            match period(raw_period) {
                Ok(part) => parts.push(part),
                Err(found) => {
                    ok = false;
                    for (field, message) in found {
                        problem(format!("time_intervals[{j}].{field}"), message);
                    }
                }
            }
        }
        if ok {
            named.insert(
                interval.name.clone(),
                Arc::new(TimeInterval {
                    name: interval.name.clone(),
                    parts,
                }),
            );
        }
    }
    named
}

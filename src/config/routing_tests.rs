//! Config tests for routing: filters, `time_intervals` and mutes.

use std::path::Path;

use super::*;
use crate::routing::MuteAction;

/// Every problem `text` has, as printed (`file:line:column: …`).
pub(super) fn problem_lines(text: &str, file: &str, secrets: &Path) -> Vec<String> {
    match parse(text, Path::new(file), secrets) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(|p| p.to_string()).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

const ROUTED: &str = r#"
time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}]
        weekdays: ["monday:friday"]
        location: Europe/Berlin
  - name: month-end
    time_intervals:
      - days_of_month: [-1, "1:2"]
        months: [december]
        years: [2027]
endpoints:
  - id: oncall
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: [PIPELINE_FAILED]
    filter: 'environment="prod", database=~"shop_.*"'
    mute_time_intervals:
      - nights
      - {name: month-end, action: hold}
  - id: staging
    type: slack
    url: https://hooks.slack.com/services/T/B/Y
    events: ["*"]
    filter: ['environment="staging"', 'type!="ISSUE_CREATED"']
"#;

#[test]
fn filters_and_mute_windows_load_and_round_trip() {
    let secrets = tempfile::tempdir().expect("dir");
    let config = parse(ROUTED, Path::new("r.yaml"), secrets.path()).expect("valid");
    let oncall = &config.endpoints[0].route;
    assert_eq!(
        oncall.filter.to_string(),
        r#"{environment="prod", database=~"shop_.*"}"#
    );
    assert_eq!(oncall.mute_windows.len(), 2);
    assert_eq!(oncall.mute_windows[0].interval.name, "nights");
    assert_eq!(oncall.mute_windows[0].action, MuteAction::Drop);
    assert_eq!(oncall.mute_windows[1].action, MuteAction::Hold);
    assert_eq!(
        oncall.mute_windows[0].interval.parts[0].location,
        chrono_tz::Europe::Berlin
    );
    assert_eq!(
        oncall.mute_windows[1].interval.parts[0].days_of_month,
        [(-1, -1), (1, 2)]
    );
    assert_eq!(config.endpoints[1].route.filter.0.len(), 2);
    let rendered = render_effective(&config);
    let again = parse(&rendered, Path::new("r.yaml"), secrets.path()).expect("reloads");
    for (shown, real) in again.endpoints.iter().zip(&config.endpoints) {
        assert_eq!(shown.route, real.route, "{rendered}");
    }
}

#[test]
fn routing_mistakes_are_located_problems_at_once() {
    let secrets = tempfile::tempdir().expect("dir");
    let text = r#"time_intervals:
  - name: nights
    time_intervals:
      - weekdays: ["friday:monday"]
        location: Mars/Olympus
      - times: [{start_time: "23:00", end_time: "01:00"}]
endpoints:
  - id: oncall
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    filter: 'environment=~"(prod"'
    mute_time_intervals: [night, {name: nights, action: later}]
"#;
    let lines = problem_lines(text, "r.yaml", secrets.path());
    let expected = [
        "r.yaml:4:20: time_intervals[0].time_intervals[0].weekdays[0]: `friday:monday`: the range's start is after its end",
        "r.yaml:5:9: time_intervals[0].time_intervals[0].location: `Mars/Olympus` is not an IANA time zone",
        "r.yaml:6:18: time_intervals[0].time_intervals[1].times[0]: start_time 23:00 is not before end_time 01:00",
        "r.yaml:12:5: endpoint `oncall`: filter: `(prod` is not a regular expression",
        "r.yaml:13:5: endpoint `oncall`: mute_time_intervals: no time interval is named `night` (did you mean `nights`?)",
        "r.yaml:13:5: endpoint `oncall`: mute_time_intervals: action `later` is neither `drop` nor `hold`",
    ];
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    for (line, start) in lines.iter().zip(expected) {
        assert!(line.starts_with(start), "{line}\n  expected {start}");
    }
}

#[test]
fn a_retry_schedule_loads_round_trips_and_bad_ones_are_located() {
    let secrets = tempfile::tempdir().expect("dir");
    let text = r#"endpoints:
  - id: svix-like
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    retry: {schedule: [5s, 5m, 30m], max_age: 2h}
  - id: patient
    type: slack
    url: https://hooks.slack.com/services/T/B/Y
    events: ["*"]
    retry: {base: 1s, cap: 10m, attempts: 30}
"#;
    let config = parse(text, Path::new("r.yaml"), secrets.path()).expect("valid");
    let s = std::time::Duration::from_secs;
    let svix = &config.endpoints[0].retry;
    assert_eq!(svix.schedule.as_deref(), Some(&[s(5), s(300), s(1800)][..]));
    assert_eq!(svix.max_age, Some(s(7200)));
    assert_eq!(config.endpoints[1].retry.max_attempts, Some(30));
    let again = parse(
        &render_effective(&config),
        Path::new("r.yaml"),
        secrets.path(),
    )
    .expect("reloads");
    assert_eq!(again.endpoints[0].retry, *svix);
    assert_eq!(again.endpoints[1].retry, config.endpoints[1].retry);

    let bad = r#"endpoints:
  - id: wrong
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    retry:
      schedule: [5s, soon]
      attempts: 3
"#;
    let lines = problem_lines(bad, "r.yaml", secrets.path());
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines[0].starts_with("r.yaml:7:"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("retry.schedule[1]: `soon` is not a duration")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("drop base, cap and attempts")),
        "{lines:#?}"
    );
}

#[test]
fn a_secret_rotation_loads_and_bad_ones_are_located() {
    let dir = tempfile::tempdir().expect("dir");
    for (name, value) in [
        ("new", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("old", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        ("short", "whsec_c2hvcnQ="),
    ] {
        std::fs::write(dir.path().join(name), value).expect("secret");
    }
    let good = r#"endpoints:
  - id: ops
    type: generic
    url: https://hooks.example.com/herald
    secret: new
    previous_secret: {name: old, until: "2026-12-08T00:00:00Z"}
    events: ["*"]
"#;
    let config = parse(good, Path::new("s.yaml"), dir.path()).expect("valid");
    let rotation = config.endpoints[0]
        .previous_secret
        .as_ref()
        .expect("rotation");
    assert_eq!(rotation.until.to_rfc3339(), "2026-12-08T00:00:00+00:00");
    assert!(
        !format!("{:?}", config.endpoints[0]).contains("C2FVs"),
        "masked in Debug"
    );
    let rendered = render_effective(&config);
    assert!(
        rendered.contains("name: old") && !rendered.contains("C2FVs"),
        "{rendered}"
    );
    let again = parse(&rendered, Path::new("s.yaml"), dir.path()).expect("reloads");
    assert_eq!(
        again.endpoints[0].previous_secret,
        config.endpoints[0].previous_secret
    );

    let bad = r#"endpoints:
  - id: chat
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    previous_secret: {name: old, until: tomorrow}
    events: ["*"]
  - id: ops
    type: generic
    url: https://hooks.example.com/herald
    secret: new
    previous_secret: {name: short, until: "2026-12-08T00:00:00Z"}
    events: ["*"]
"#;
    let lines = problem_lines(bad, "s.yaml", dir.path());
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].contains("s.yaml:5:5: endpoint `chat`: previous_secret: until `tomorrow` is not an RFC 3339 time"), "{lines:#?}");
    assert!(lines[1].contains("only `generic` endpoints"), "{lines:#?}");
    assert!(
        lines[2].contains("endpoint `ops`: previous_secret: secret `short`"),
        "{lines:#?}"
    );
}

#[test]
fn custom_headers_load_and_cannot_replace_herald_s_own() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("new"),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .expect("secret");
    std::fs::write(dir.path().join("gw"), "gateway-token\n").expect("secret");
    let good = r#"endpoints:
  - id: ops
    type: generic
    url: https://hooks.example.com/herald
    secret: new
    events: ["*"]
    headers:
      X-Team: payments
      X-Gateway-Auth: {secret: gw}
      X-Api-Key: written-in-the-file
"#;
    let config = parse(good, Path::new("h.yaml"), dir.path()).expect("valid");
    let headers = &config.endpoints[0].headers;
    assert_eq!(headers.len(), 3);
    let auth = headers
        .iter()
        .find(|h| h.name == "x-gateway-auth")
        .expect("auth");
    assert!(auth.secret && auth.value.expose() == "gateway-token");
    assert!(!format!("{:?}", config.endpoints[0]).contains("gateway-token"));
    let rendered = render_effective(&config);
    assert!(
        !rendered.contains("gateway-token") && !rendered.contains("written-in-the-file"),
        "{rendered}"
    );
    assert!(rendered.contains("secret: gw"), "{rendered}");

    let bad = r#"endpoints:
  - id: ops
    type: generic
    url: https://hooks.example.com/herald
    secret: new
    events: ["*"]
    headers:
      Webhook-Signature: v1,forged
      Content-Type: text/plain
      "Bad Name": x
      X-Missing: {secret: nowhere}
"#;
    let lines = problem_lines(bad, "h.yaml", dir.path());
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines.iter().all(|l| l.contains("endpoint `ops`: headers:")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`Webhook-Signature` is set by herald itself")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`Content-Type` is set by herald itself")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`Bad Name` is not a header name")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("`X-Missing`")),
        "{lines:#?}"
    );
}

#[test]
fn a_rate_limit_loads_with_a_default_burst_and_bad_ones_are_located() {
    let dir = tempfile::tempdir().expect("dir");
    let text = r#"endpoints:
  - id: slow
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    rate_limit: {per_second: 2.5}
  - id: none
    type: slack
    url: https://hooks.slack.com/services/T/B/Y
    events: ["*"]
    rate_limit: {per_second: 0}
"#;
    let lines = problem_lines(text, "l.yaml", dir.path());
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0]
            .starts_with("l.yaml:11:5: endpoint `none`: rate_limit: per_second 0 is not within"),
        "{lines:#?}"
    );
    let good = text.replace("per_second: 0}", "per_second: 100, burst: 200}");
    let config = parse(&good, Path::new("l.yaml"), dir.path()).expect("valid");
    let slow = config.endpoints[0].rate_limit.expect("limit");
    assert_eq!((slow.per_second, slow.burst), (2.5, 3));
    let again =
        parse(&render_effective(&config), Path::new("l.yaml"), dir.path()).expect("reloads");
    assert_eq!(
        again.endpoints[1].rate_limit,
        config.endpoints[1].rate_limit
    );
}

#[test]
fn limits_that_would_break_delivery_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let text = r#"endpoints:
  - id: short-age
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    retry: {schedule: [10h, 10h, 10h], max_age: 24h}
  - id: huge
    type: slack
    url: https://hooks.slack.com/services/T/B/Y
    events: ["*"]
    retry: {base: 1000years}
    rate_limit: {per_second: 0.00000001}
  - id: dupes
    type: slack
    url: https://hooks.slack.com/services/T/B/Z
    events: ["*"]
    headers: {X-Team: a, x-team: b, Expect: 100-continue}
"#;
    let lines = problem_lines(text, "x.yaml", dir.path());
    for expected in [
        "endpoint `short-age`: retry.max_age: 1day is shorter than the schedule (1day 6h)",
        "endpoint `huge`: retry.base: `1000years` is longer than herald allows",
        "endpoint `huge`: rate_limit: per_second 0.00000001 is not within 1/3600–10000",
        "is given twice (header names ignore case)",
        "`Expect` is set by herald itself",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(expected)),
            "{expected}\n{lines:#?}"
        );
    }
}

//! Templates: escaping, herald's own markup, fitting and falling back,
//! the generic body, both languages, and the checks at load.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value as Json};

use super::*;
use crate::endpoint::{Endpoint, Platform};
use crate::formats::samples::sample;
use crate::formats::{render_explained, tests::endpoint};

fn source(yaml: &str) -> TemplateSource {
    serde_norway::from_str(yaml).expect("template YAML")
}

fn compiled(yaml: &str, platform: Platform) -> MessageTemplate {
    MessageTemplate::compile(&source(yaml), platform, &["*".into()], &Locale::ALL)
        .unwrap_or_else(|problems| panic!("{problems:?}"))
}

fn problems(yaml: &str, platform: Platform) -> Vec<String> {
    match MessageTemplate::compile(&source(yaml), platform, &["*".into()], &Locale::ALL) {
        Ok(_) => Vec::new(),
        Err(found) => found.iter().map(|p| format!("{}: {p}", p.part)).collect(),
    }
}

fn with(platform: Platform, yaml: &str, locale: Locale) -> Endpoint {
    let mut endpoint = endpoint(platform);
    endpoint.presentation.locale = locale;
    endpoint.template = Some(Arc::new(compiled(yaml, platform)));
    endpoint
}

/// The body sent, and why the template was not used (if it was not).
fn send(endpoint: &Endpoint, event: &crate::events::Event) -> (Json, Option<String>) {
    let now = Utc
        .with_ymd_and_hms(2026, 12, 6, 9, 0, 0)
        .single()
        .expect("time");
    let (request, fallback) = render_explained(endpoint, event, now).expect("renders");
    (
        serde_json::from_slice(&request.body).expect("JSON"),
        fallback,
    )
}

const SLACK: &str = r#"
title: "{{ project.title }} · {{ issue.title }}"
fields:
  - label: Who
    value: "{{ mention(issue.creator) }} asked {{ data.approvers | length }} people"
  - label: Skipped when empty
    value: "{% if data.reason %}{{ data.reason }}{% endif %}"
text: |
  {{ bold("Approvers") }}: {% for a in data.approvers %}{{ mention(a) }} {% endfor %}
  Role <{{ data.role }}>
"#;

/// A template's words and fields replace herald's; mentions it asks for
/// are live (Alice has a Slack id), host text around them is escaped.
#[test]
fn a_slack_template_shapes_the_message_with_live_mentions_only_where_asked() {
    let mut event = sample("ISSUE_APPROVAL_REQUESTED");
    event.data["role"] = json!("!channel");
    let (body, fallback) = send(&with(Platform::Slack, SLACK, Locale::En), &event);
    assert_eq!(fallback, None);
    let text = body.to_string();
    assert!(
        body["text"].as_str().is_some_and(|t| t.contains(" · ")),
        "{text}"
    );
    assert!(text.contains("<@U024BE7LH>"), "Alice mentioned: {text}");
    assert!(text.contains("*Approvers*"), "bold: {text}");
    assert!(text.contains("Role &lt;!channel&gt;"), "escaped: {text}");
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(!text.contains("Skipped when empty"), "{text}");
    assert!(text.contains("*Who:*"), "label: {text}");
}

/// A template cannot join its own words and host data into a mention or
/// link: the whole output is escaped, on every platform.
#[test]
fn template_words_and_values_cannot_combine_into_markup() {
    let mut event = sample("ISSUE_CREATED");
    if let Some(issue) = event.issue.as_mut() {
        issue.title = "!channel>".into();
        issue.creator.name = "[click]".into();
    }
    let yaml = r#"
fields:
  - label: "<!here> [x](http://label.example)"
    value: "<{{ issue.title }} {{ mention(issue.creator) }}(http://evil.example)"
text: "[{{ issue.title }}]({{ issue.title }})"
"#;
    for platform in [
        Platform::Slack,
        Platform::Dingtalk,
        Platform::Wecom,
        Platform::Feishu,
    ] {
        let (body, fallback) = send(&with(platform, yaml, Locale::En), &event);
        assert_eq!(fallback, None, "{platform}");
        let text = body.to_string();
        let mut injected = vec!["<!channel>", "<!here>"];
        if platform != Platform::Slack {
            // mrkdwn has no `[text](url)` links; the others do.
            injected.extend([
                "[click](",
                "](http://evil",
                "](!channel",
                "[x](http://label",
            ]);
        }
        for live in injected {
            assert!(!text.contains(live), "{platform}: {live} in {text}");
        }
    }
}

/// WeCom markdown holds 4,096 bytes: 25 long Chinese labels cannot fit
/// even at the smallest budget, so herald's own body goes, with the reason.
#[test]
fn a_template_that_cannot_fit_falls_back_to_the_built_in_body() {
    let label = "数据库变更流水线的负责人与审批人".repeat(6);
    let fields: Vec<String> = (0..25)
        .map(|i| format!("  - label: \"{label}{i}\"\n    value: \"{{{{ issue.title }}}}\""))
        .collect();
    let yaml = format!("fields:\n{}\n", fields.join("\n"));
    let endpoint = with(Platform::Wecom, &yaml, Locale::ZhCn);
    let (body, fallback) = send(&endpoint, &sample("ISSUE_CREATED"));
    let reason = fallback.expect("fell back");
    assert!(reason.contains("cannot fit"), "{reason}");
    assert!(
        body.to_string().contains("工单已创建") || body.to_string().contains("创建"),
        "{body}"
    );
    assert!(
        !body.to_string().contains(&label),
        "the template's labels are not sent"
    );
}

/// A render that fails on this event (here: out of fuel on a plan with
/// 400 failed tasks, fine on the sample's two) falls back too.
#[test]
fn a_template_that_fails_on_an_event_falls_back() {
    let yaml = r#"
text: "{% for a in data.failed_tasks %}{% for b in data.failed_tasks %}{{ a.name }}{{ b.name }}{% endfor %}{% endfor %}"
"#;
    let endpoint = with(Platform::Slack, yaml, Locale::En);
    let mut event = sample("PIPELINE_FAILED");
    let (_, fallback) = send(&endpoint, &event);
    assert_eq!(fallback, None, "the sample renders");
    let task = event.data["failed_tasks"][0].clone();
    event.data["failed_tasks"] = Json::Array(vec![task; 400]);
    let (body, fallback) = send(&endpoint, &event);
    let reason = fallback.expect("fell back");
    assert!(reason.contains("template text"), "{reason}");
    assert!(body.to_string().contains("Pipeline failed"), "{body}");
}

/// Long values are cut, the message fitted: a 10 KB error in a Discord
/// field arrives within the 1,024-character field limit.
#[test]
fn templated_messages_are_fitted_like_herald_own() {
    let mut event = sample("PIPELINE_FAILED");
    event.data["failed_tasks"][0]["error"] = json!("E".repeat(10_000));
    let yaml = r#"
fields:
  - label: First error
    value: "{{ data.failed_tasks[0].error }} {{ data.failed_tasks[0].error }}"
"#;
    let (body, fallback) = send(&with(Platform::Discord, yaml, Locale::En), &event);
    assert_eq!(fallback, None);
    let value = body["embeds"][0]["fields"][0]["value"]
        .as_str()
        .expect("field");
    assert!(
        value.chars().count() <= 1024 && value.ends_with('…'),
        "{}",
        value.len()
    );
}

/// The generic body: strings are templates, a lone expression keeps its
/// type, and the result is signed like herald's own.
#[test]
fn a_generic_body_template_keeps_types_and_is_signed() {
    let yaml = r#"
body:
  summary: "{{ type }}: {{ plan.title }} ({{ data.failed_tasks | length }} failed)"
  count: "{{ data.failed_tasks | length }}"
  tasks: "{{ data.failed_tasks | map(attribute='name') | list }}"
  fixed: [1, true, "plain"]
"#;
    let endpoint = with(Platform::Generic, yaml, Locale::En);
    let now = Utc
        .with_ymd_and_hms(2026, 12, 6, 9, 0, 0)
        .single()
        .expect("time");
    let (request, fallback) =
        render_explained(&endpoint, &sample("PIPELINE_FAILED"), now).expect("renders");
    assert_eq!(fallback, None);
    let body: Json = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body["count"], json!(2));
    assert_eq!(body["tasks"].as_array().map(Vec::len), Some(2), "{body}");
    assert_eq!(body["fixed"], json!([1, true, "plain"]));
    assert!(body["summary"]
        .as_str()
        .is_some_and(|s| s.starts_with("PIPELINE_FAILED: ")));
    assert!(request
        .headers
        .iter()
        .any(|(k, _)| k == "webhook-signature"));
}

/// Both languages: `locale` tells the template which, and `time` writes
/// times as herald does in that language.
#[test]
fn templates_speak_the_endpoint_language() {
    let yaml = r#"
title: "{% if locale == 'zh-CN' %}失败：{% else %}Failed: {% endif %}{{ plan.title }}"
fields:
  - label: At
    value: "{{ data.first_failure_at | time }}"
"#;
    let event = sample("PIPELINE_FAILED");
    let (en, _) = send(&with(Platform::Feishu, yaml, Locale::En), &event);
    let (zh, _) = send(&with(Platform::Feishu, yaml, Locale::ZhCn), &event);
    let title = |b: &Json| {
        b["card"]["header"]["title"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(title(&en).starts_with("Failed: "), "{}", title(&en));
    assert!(title(&zh).starts_with("失败："), "{}", title(&zh));
    assert_ne!(
        en["card"]["elements"], zh["card"]["elements"],
        "times differ by language"
    );
}

/// Problems at load: syntax with its line, unknown fields with a
/// suggestion and line, parts a platform has no place for.
#[test]
fn templates_are_checked_at_load() {
    let found = problems(
        "text: \"ok\\n{% for t in data.failed_tasks %}\\n{{ t.name }}\"\n",
        Platform::Slack,
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("text: line ") && p.contains("syntax error")),
        "{found:?}"
    );
    let found = problems(
        "title: \"a\"\ntext: |\n  first\n  {{ isue.title }}\n",
        Platform::Slack,
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("text: line 2: `isue`") && p.contains("did you mean `issue`")),
        "{found:?}"
    );
    let found = problems(
        "fields:\n  - label: x\n    value: \"{{ issue.creator.nmae }}\"\n",
        Platform::Teams,
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("fields[0].value") && p.contains("did you mean `name`")),
        "{found:?}"
    );
    assert!(!problems("title: x\n", Platform::Generic).is_empty());
    assert!(!problems("body: {a: b}\n", Platform::Slack).is_empty());
    assert!(!problems("body:\n  a: \"{{ 1 +\"\n", Platform::Generic).is_empty());
    let found = problems("title: \"{{ issue.title | time }}\"\n", Platform::Slack);
    assert!(
        found
            .iter()
            .any(|p| p.contains("title: line 1") && p.contains("sample ISSUE_CREATED")),
        "a render of a sample fails: {found:?}"
    );
    assert_eq!(problems(SLACK, Platform::Slack), Vec::<String>::new());
}

/// Who is notified follows who the templated message shows: a DingTalk
/// template that mentions only the creator notifies only the creator,
/// not the approvers herald would have mentioned (review finding).
#[test]
fn a_template_notifies_the_people_it_shows() {
    let yaml = r#"
fields:
  - label: Creator
    value: "{{ mention(issue.creator) }}"
"#;
    let event = sample("ISSUE_APPROVAL_REQUESTED");
    let (body, fallback) = send(&with(Platform::Dingtalk, yaml, Locale::En), &event);
    assert_eq!(fallback, None);
    assert_eq!(body["at"]["atUserIds"], json!(["manager4220"]), "{body}");
    let phones = body["at"]["atMobiles"].to_string();
    assert!(
        !phones.contains("13800000002"),
        "approver Bob is not shown: {body}"
    );
}

/// Generic bodies: `{{- -x -}}` keeps its minus, two parts with one path
/// are refused, the endpoint's language reaches `time`, and a part over
/// 1 MiB falls back instead of filling memory.
#[test]
fn generic_body_edges() {
    let event = sample("PIPELINE_COMPLETED");
    let endpoint = with(
        Platform::Generic,
        "body:\n  minus: \"{{- -(data.duration_seconds or 0) -}}\"\n  at: \"{{ data.started_at | time }}\"\n",
        Locale::ZhCn,
    );
    let (body, fallback) = send(&endpoint, &event);
    assert_eq!(fallback, None);
    let seconds = event.data["duration_seconds"].as_i64().expect("seconds");
    assert_eq!(body["minus"], json!(-seconds));
    let en = with(
        Platform::Generic,
        "body:\n  at: \"{{ data.started_at | time }}\"\n",
        Locale::En,
    );
    assert_ne!(
        send(&en, &event).0["at"],
        body["at"],
        "times in the endpoint's language"
    );
    assert!(!problems(
        "body:\n  a.b: \"x {{ type }}\"\n  a: {b: \"y {{ id }}\"}\n",
        Platform::Generic
    )
    .is_empty());
    let huge = with(
        Platform::Generic,
        "body:\n  big: \"{% for t in data.failed_tasks %}{{ t.error }}{% endfor %}\"\n",
        Locale::En,
    );
    let mut failed = sample("PIPELINE_FAILED");
    let mut task = failed.data["failed_tasks"][0].clone();
    task["error"] = json!("E".repeat(1000));
    failed.data["failed_tasks"] = Json::Array(vec![task; 2000]);
    let (body, fallback) = send(&huge, &failed);
    assert!(fallback.is_some_and(|r| r.contains("over")), "falls back");
    assert_eq!(body["type"], json!("PIPELINE_FAILED"), "herald's own body");
}

/// A template whose fields all render empty leaves no empty section
/// behind (Slack refuses one, Feishu shows an empty block, Google Chat an
/// empty widget list): the message is still the template's.
#[test]
fn fields_that_all_render_empty_leave_no_empty_section() {
    let yaml = r#"
fields:
  - label: Reason
    value: "{% if data.reason %}{{ data.reason }}{% endif %}"
text: "{{ plan.title }} took {{ data.duration_seconds | duration }}"
"#;
    let event = sample("PIPELINE_COMPLETED");
    for platform in [Platform::Slack, Platform::Feishu, Platform::GoogleChat] {
        let (body, fallback) = send(&with(platform, yaml, Locale::En), &event);
        assert_eq!(fallback, None, "{platform}: {body}");
        let text = body.to_string();
        assert!(!text.contains("Reason"), "{platform}: {text}");
        assert!(!text.contains(r#""widgets":[]"#), "{platform}: {text}");
        assert!(!text.contains(r#""content":"""#), "{platform}: {text}");
    }
    let seconds = event.data["duration_seconds"].as_u64().expect("seconds");
    let (zh, _) = send(&with(Platform::Slack, yaml, Locale::ZhCn), &event);
    let words = crate::formats::catalogue::ZH_CN.duration_text;
    assert!(zh.to_string().contains(&words(seconds as i64)), "{zh}");
}

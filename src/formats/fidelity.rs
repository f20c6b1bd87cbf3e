//! Platform fidelity, as properties: for arbitrary events — up to 1,000
//! failed tasks with 10 KB errors, 5,000-character titles, 200 approvers,
//! any Unicode, hostile markup, empty strings — every platform's body is
//! within every limit of its table (checked here independently of the
//! fitting loop where a limit is a plain size), and no mention, ping, tag,
//! link or image from data survives.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::Value as Json;

use super::text::BREAK;
use super::*;
use std::sync::Arc;

use crate::endpoint::{EndpointSource, Secret};
use crate::events::{
    ApprovalRequestedData, EventType, FailedTask, IssueCreatedData, IssueRef, PipelineFailedData,
    PlanRef, ProjectRef, SentBackData, UserRef,
};
use crate::presentation::{LinkTemplates, Links, Locale, Presentation};

pub(super) const FRAGMENTS: &[&str] = &[
    "@everyone",
    "@here",
    "<!channel>",
    "<!here>",
    "<at id=all></at>",
    "<at email=boss@example.com></at>",
    "<@U123>",
    "<@userid>",
    "<users/all>",
    "<#C1>",
    "![x](http://t.example/p.gif)",
    "[click](http://evil.example)",
    "<http://evil.example|click>",
    "<a href=\"http://evil.example\">x</a>",
    "<font color=\"info\">",
    "<img src=x>",
    "数据库迁移失败",
    "😀",
    "&",
    "<",
    ">",
    "]",
    "(",
    "\\",
    "*_~`|",
    "",
    " ",
    "\n",
    "\t",
    "\u{0}",
    "ERROR: deadlock detected",
    "a",
];

/// A hostile string of up to about `max` characters.
pub(super) fn hostile(max: usize) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12),
        0usize..=max,
    )
        .prop_map(move |(parts, target)| {
            let unit = parts.concat();
            if unit.is_empty() {
                return unit;
            }
            let count = target / unit.chars().count().max(1) + 1;
            unit.repeat(count).chars().take(target.max(1)).collect()
        })
}

/// Handles that are not valid on any platform: each must be refused (the
/// person named instead), never pasted into mention syntax.
const HOSTILE_HANDLES: [&str; 5] = [
    "<!channel>",
    "U123> <!everyone",
    "ou_abc></at><at id=all",
    "@all",
    "1) <@&42>",
];

fn user(id: i64, name: String, email: String, phone: Option<String>) -> UserRef {
    let hostile = HOSTILE_HANDLES[id as usize % HOSTILE_HANDLES.len()];
    UserRef {
        id,
        name,
        email,
        phone,
        handles: [
            "slack",
            "discord",
            "google_chat",
            "wecom",
            "dingtalk",
            "feishu",
            "lark",
        ]
        .into_iter()
        .map(|platform| (platform.to_owned(), hostile.to_owned()))
        .collect(),
    }
}

fn users(max: usize) -> impl Strategy<Value = Vec<UserRef>> {
    (
        0..=max,
        hostile(300),
        prop::sample::select(vec!["a@example.com", "x y@z", "<at id=all>", ""]),
        prop::option::of(prop::sample::select(vec!["13800000001", "<@x>", "+86-138"])),
    )
        .prop_map(|(count, name, email, phone)| {
            (0..count)
                .map(|i| {
                    user(
                        i as i64,
                        format!("{name}{i}"),
                        email.replace('@', &format!("{i}@")),
                        phone.map(str::to_owned),
                    )
                })
                .collect()
        })
}

/// Any of herald's five types, or a custom one, with hostile data.
pub(super) fn event() -> impl Strategy<Value = Event> {
    (
        0usize..6,
        hostile(5000),
        hostile(300),
        (0usize..=1000, hostile(10_000), hostile(200)),
        users(200),
        hostile(600),
    )
        .prop_map(
            |(kind, title, project, (failed, error, task), people, reason)| {
                let at = Utc
                    .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
                    .single()
                    .unwrap_or_default();
                let creator = people
                    .first()
                    .cloned()
                    .unwrap_or_else(|| user(1, reason.clone(), "c@example.com".into(), None));
                let (event_type, data) = match kind {
                    0 => (
                        EventType::IssueCreated.as_str().to_owned(),
                        serde_json::to_value(IssueCreatedData {
                            creator: creator.clone(),
                        }),
                    ),
                    1 => (
                        EventType::IssueApprovalRequested.as_str().to_owned(),
                        serde_json::to_value(ApprovalRequestedData {
                            role: reason.clone(),
                            required_count: 2,
                            approvers: people.clone(),
                            reminder: (failed % 2 == 0).then_some(2),
                        }),
                    ),
                    2 => (
                        EventType::IssueSentBack.as_str().to_owned(),
                        serde_json::to_value(SentBackData {
                            approver: people.get(1).cloned(),
                            reason: Some(reason.clone()),
                            creator: creator.clone(),
                        }),
                    ),
                    3 => (
                        EventType::PipelineFailed.as_str().to_owned(),
                        serde_json::to_value(PipelineFailedData {
                            generation: 1,
                            failed_tasks: (0..failed)
                                .map(|i| FailedTask {
                                    task_id: i as i64,
                                    name: task.clone(),
                                    instance: project.clone(),
                                    database: reason.clone(),
                                    error: (i % 3 != 2).then(|| error.clone()),
                                    failed_at: at,
                                })
                                .collect(),
                            first_failure_at: at,
                        }),
                    ),
                    4 => (
                        EventType::PipelineCompleted.as_str().to_owned(),
                        Ok(serde_json::json!({
                            "generation": 1, "total_tasks": failed, "started_at": at,
                            "completed_at": at, "duration_seconds": 5
                        })),
                    ),
                    _ => (
                        format!("custom.{}", task.chars().take(40).collect::<String>()),
                        Ok(serde_json::json!({"note": error})),
                    ),
                };
                Event {
                    id: uuid::Uuid::from_u128(7),
                    event_type,
                    timestamp: at,
                    project: Some(ProjectRef {
                        id: 1,
                        resource_id: project.clone(),
                        title: project,
                    }),
                    issue: Some(IssueRef {
                        id: 2,
                        title: title.clone(),
                        creator,
                    }),
                    plan: Some(PlanRef { id: 3, title }),
                    rollout: None,
                    data: data.unwrap_or_default(),
                }
            },
        )
}

fn endpoint(platform: Platform) -> Endpoint {
    linked(platform, Locale::En, Default::default())
}

/// An endpoint in `locale` with link templates `links`.
pub(super) fn linked(platform: Platform, locale: Locale, links: Arc<LinkTemplates>) -> Endpoint {
    Endpoint {
        id: format!("prop-{platform}"),
        source: EndpointSource::Config,
        platform,
        url: "https://hooks.example.com/x".parse().expect("url"),
        secret: Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: crate::endpoint::Ordering::Strict,
        presentation: Presentation { locale, links },
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    }
}

/// Templates using every placeholder, so hostile project ids reach links.
pub(super) fn every_link() -> Arc<LinkTemplates> {
    let base = "https://bb.example.com/projects/{project}/{project_id}";
    Arc::new(LinkTemplates::under(base).unwrap_or_default())
}

/// Every string in `value`, with the path of keys leading to it.
fn strings<'a>(value: &'a Json, path: &mut Vec<String>, out: &mut Vec<(String, &'a str)>) {
    match value {
        Json::String(s) => out.push((path.join("."), s)),
        Json::Array(items) => {
            for item in items {
                strings(item, path, out);
            }
        }
        Json::Object(map) => {
            // Plain-text objects are shown as written: nothing in them is parsed.
            if map.get("type").and_then(Json::as_str) == Some("plain_text")
                || map.get("tag").and_then(Json::as_str) == Some("plain_text")
            {
                return;
            }
            for (key, item) in map {
                path.push(key.clone());
                strings(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The first live markup in `text`: a `<` that is not defused, or the
/// `](` of a Markdown link or image.
fn live_markup(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    for (i, pair) in chars.windows(2).enumerate() {
        if pair[0] == '<' && pair[1] != BREAK {
            return Some(chars[i..].iter().take(40).collect());
        }
        if pair == [']', '('] {
            return Some(chars[i.saturating_sub(20)..].iter().take(40).collect());
        }
    }
    (chars.last() == Some(&'<')).then(|| "<".into())
}

/// Injected markup in a rendered body, if any.
fn injection(platform: Platform, body: &Json, event: &Event, links: &Links) -> Option<String> {
    // herald's own Markdown links (DingTalk, WeCom), in either language.
    let own_links: Vec<String> = links
        .0
        .iter()
        .flat_map(|(kind, url)| {
            let url = url.as_str().replace('(', "%28").replace(')', "%29");
            Locale::ALL.map(|l| format!("[{}]({url})", (catalogue::Catalogue::of(l).view)(*kind)))
        })
        .collect();
    let mut leaves = Vec::new();
    strings(body, &mut Vec::new(), &mut leaves);
    // herald's own markup, removed before looking for injected markup.
    let own: &[&str] = match platform {
        Platform::GoogleChat => &["<b>", "</b>", "<i>", "</i>", "<br>"],
        Platform::Wecom => &[
            "<font color=\"warning\">",
            "<font color=\"info\">",
            "<font color=\"comment\">",
            "</font>",
        ],
        _ => &[],
    };
    let entity_texts: Vec<String> = body["attachments"][0]["content"]["msteams"]["entities"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for (path, text) in leaves {
        let mut text = text.to_owned();
        for token in own {
            text = text.replace(token, "");
        }
        for link in &own_links {
            text = text.replace(link, "");
        }
        match platform {
            Platform::Generic => return None,
            Platform::Discord => {
                // Footers and timestamps are not parsed by Discord.
                if path.ends_with("footer.text")
                    || path.ends_with("timestamp")
                    || path == "username"
                {
                    continue;
                }
                let mut bare = String::new();
                let mut chars = text.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        chars.next();
                    } else {
                        bare.push(c);
                    }
                }
                if let Some(c) = bare.chars().find(|c| matches!(c, '<' | '@' | '[')) {
                    return Some(format!("{path}: unescaped {c:?} in {text:.80}"));
                }
                continue;
            }
            Platform::Feishu | Platform::Lark => {
                for user in event_users(event) {
                    text = text.replace(&format!("<at email={}></at>", user.email), "");
                }
            }
            Platform::Teams => {
                if path.contains("msteams") {
                    continue;
                }
                for entity in &entity_texts {
                    text = text.replace(entity, "");
                }
            }
            _ => {}
        }
        if platform == Platform::Slack {
            // mrkdwn has no `[text](url)`: only `<…>` makes links and mentions.
            text = text.replace("](", "");
        }
        if let Some(found) = live_markup(&text) {
            return Some(format!("{path}: {found:?}"));
        }
    }
    match platform {
        Platform::Discord if body["allowed_mentions"]["parse"] != serde_json::json!([]) => {
            Some("allowed_mentions".into())
        }
        Platform::Dingtalk if body["at"]["isAtAll"] != Json::Bool(false) => Some("isAtAll".into()),
        Platform::Dingtalk | Platform::Wecom => {
            let phones = body["at"]["atMobiles"]
                .as_array()
                .or(body["text"]["mentioned_mobile_list"].as_array())
                .cloned()
                .unwrap_or_default();
            phones
                .iter()
                .filter_map(Json::as_str)
                .find(|p| {
                    !p.chars()
                        .all(|c| c.is_ascii_digit() || c == '+' || c == '-')
                })
                .map(|p| format!("phone {p:?}"))
        }
        _ => None,
    }
}

fn event_users(event: &Event) -> Vec<UserRef> {
    let mut users = Vec::new();
    if let Some(issue) = &event.issue {
        users.push(issue.creator.clone());
    }
    if let Ok(data) = serde_json::from_value::<ApprovalRequestedData>(event.data.clone()) {
        users.extend(data.approvers);
    }
    if let Ok(data) = serde_json::from_value::<SentBackData>(event.data.clone()) {
        users.push(data.creator);
        // Named by herald, mentioned only when a template asks to.
        users.extend(data.approver);
    }
    users
}

/// The documented body-size limit of `platform`, where it has one.
fn body_limit(platform: Platform) -> Option<usize> {
    match platform {
        Platform::Teams | Platform::TeamsConnector => Some(limits::teams::BODY_BYTES),
        Platform::Feishu | Platform::Lark => Some(limits::feishu::BODY_BYTES),
        Platform::Dingtalk => Some(limits::dingtalk::BODY_BYTES),
        Platform::Wecom => Some(limits::wecom::MARKDOWN_BYTES + 1024),
        Platform::GoogleChat => Some(limits::google_chat::BODY_BYTES),
        // Slack and Discord limit parts (checked by `check_limits`); their
        // parts add up to well under this.
        Platform::Slack | Platform::Discord => Some(64 * 1024),
        Platform::Generic => None,
    }
}

/// `rendered` is within every limit of `platform` and carries no markup
/// injected from `event`.
pub(super) fn sound(
    platform: Platform,
    rendered: &RenderedRequest,
    event: &Event,
) -> Result<(), TestCaseError> {
    let body: Json = serde_json::from_slice(&rendered.body).expect("JSON");
    prop_assert_eq!(
        check_limits(platform, &body, rendered.body.len()),
        Ok(()),
        "{}",
        platform
    );
    if let Some(max) = body_limit(platform) {
        prop_assert!(
            rendered.body.len() <= max,
            "{platform}: {} bytes",
            rendered.body.len()
        );
    }
    if let Some(found) = injection(platform, &body, event, &every_link().expand(event)) {
        prop_assert!(false, "{platform}: injected markup survives: {found}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_body_fits_and_carries_no_injected_markup(event in event()) {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 5, 0).single().unwrap_or_default();
        let cases = Platform::ALL.into_iter().flat_map(|p| {
            [(p, Locale::En, Default::default()), (p, Locale::ZhCn, every_link())]
        });
        for (platform, locale, links) in cases {
            let rendered = render(&linked(platform, locale, links), &event, now);
            prop_assert!(rendered.is_ok(), "{platform}: {:?}", rendered.err());
            sound(platform, &rendered.expect("checked"), &event)?;
        }
    }
}

/// The realistic bad day of the issue: 12 failures with ~600-byte errors
/// fit every platform, and the first failures are still shown.
#[test]
fn a_bad_day_keeps_title_counts_and_first_failures() {
    let mut event = samples::sample("PIPELINE_FAILED");
    let error = format!("ERROR: deadlock detected {}", "x".repeat(580));
    event.data["failed_tasks"] = Json::Array(
        (0..12)
            .map(|i| {
                serde_json::json!({
                    "task_id": i, "name": format!("Migrate shard {i}"), "instance": "prod",
                    "database": "orders", "error": error, "failed_at": "2026-11-23T10:00:00Z"
                })
            })
            .collect(),
    );
    let now = Utc::now();
    for platform in Platform::ALL
        .into_iter()
        .filter(|p| *p != Platform::Generic)
    {
        let rendered = render(&endpoint(platform), &event, now).expect("renders");
        let body = String::from_utf8(rendered.body).expect("utf-8");
        assert!(body.contains("Pipeline failed"), "{platform}: title");
        assert!(body.contains("12"), "{platform}: count");
        assert!(
            body.contains("Migrate shard 0"),
            "{platform}: first failure"
        );
        assert!(
            body.contains("Migrate shard 11") || body.contains("more (see the full list"),
            "{platform}: the rest is shown or counted"
        );
    }
}

//! Golden files (`tests/golden/<platform>/<TYPE>.json`, and
//! `tests/golden/<platform>/zh-CN/<TYPE>.json` in Chinese; rewritten with
//! `UPDATE_GOLDEN=1`; the config's sample `links:` applied), platform signatures checked against values computed
//! independently (Python's hmac), mentions and escaping.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use url::Url;

use super::*;
use crate::endpoint::{EndpointSource, Secret};
use crate::events::EventType;
use crate::presentation::{LinkTemplates, Locale, Presentation};
use crate::signing;

const GENERIC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PLATFORM_SECRET: &str = "SEC-test-secret";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 10, 5, 0)
        .single()
        .expect("valid time")
}

/// The link templates of the golden files.
fn links() -> std::sync::Arc<LinkTemplates> {
    let base = "https://bytebase.example.com/projects/{project}";
    std::sync::Arc::new(LinkTemplates::under(base).expect("valid templates"))
}

/// The golden endpoint of `platform`, in `locale`, with [`links`].
fn linked_endpoint(platform: Platform, locale: Locale) -> Endpoint {
    Endpoint {
        presentation: Presentation {
            locale,
            links: links(),
        },
        ..endpoint(platform)
    }
}

pub(super) fn endpoint(platform: Platform) -> Endpoint {
    let (url, secret) = match platform {
        Platform::Generic => ("https://hooks.example.com/herald", Some(GENERIC_SECRET)),
        Platform::Slack => ("https://hooks.slack.com/services/T0/B0/X", None),
        Platform::Discord => ("https://discord.com/api/webhooks/1/abc", None),
        Platform::Teams => (
            "https://prod-00.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=s",
            None,
        ),
        Platform::TeamsConnector => ("https://example.webhook.office.com/webhookb2/x", None),
        Platform::Feishu => (
            "https://open.feishu.cn/open-apis/bot/v2/hook/x",
            Some(PLATFORM_SECRET),
        ),
        Platform::Lark => (
            "https://open.larksuite.com/open-apis/bot/v2/hook/x",
            Some(PLATFORM_SECRET),
        ),
        Platform::Dingtalk => (
            "https://oapi.dingtalk.com/robot/send?access_token=abc",
            Some(PLATFORM_SECRET),
        ),
        Platform::Wecom => (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
            None,
        ),
        Platform::GoogleChat => (
            "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t",
            None,
        ),
    };
    Endpoint {
        id: format!("golden-{platform}"),
        source: EndpointSource::Config,
        platform,
        url: Url::parse(url).expect("valid url"),
        secret: secret.map(Secret::new),
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: crate::endpoint::Ordering::Strict,
        presentation: Default::default(),
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    }
}

fn golden_value(rendered: &RenderedRequest) -> serde_json::Value {
    let body: serde_json::Value =
        serde_json::from_slice(&rendered.body).expect("every format is JSON");
    serde_json::json!({
        "url": rendered.url.as_ref().map(Url::as_str),
        "headers": rendered.headers,
        "body": body,
    })
}

#[test]
fn golden_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    types.push("user.created");
    let mut mismatches = Vec::new();
    let cases = Platform::ALL.into_iter().flat_map(|platform| {
        Locale::ALL
            .into_iter()
            // The generic payload is the event itself, in no language.
            .filter(move |locale| platform != Platform::Generic || *locale == Locale::En)
            .map(move |locale| (platform, locale))
    });
    for (platform, locale) in cases {
        let endpoint = linked_endpoint(platform, locale);
        let dir = match locale {
            Locale::En => root.join(platform.as_str()),
            other => root.join(platform.as_str()).join(other.as_str()),
        };
        for event_type in &types {
            let event = samples::sample(event_type);
            let rendered = render(&endpoint, &event, now()).expect("renders");
            let actual =
                serde_json::to_string_pretty(&golden_value(&rendered)).expect("serializes") + "\n";
            let path = dir.join(format!("{event_type}.json"));
            if update {
                std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
                std::fs::write(&path, &actual).expect("write golden");
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(expected) if expected == actual => {}
                Ok(_) => mismatches.push(format!("{} differs", path.display())),
                Err(_) => mismatches.push(format!("{} is missing", path.display())),
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden files out of date (review, then rerun with UPDATE_GOLDEN=1):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn generic_verifies_with_the_standard_webhooks_verifier() {
    let endpoint = endpoint(Platform::Generic);
    let event = samples::sample("PIPELINE_FAILED");
    let rendered = render(&endpoint, &event, now()).expect("renders");
    let header = |name: &str| {
        rendered
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .expect("header present")
    };
    let secret = Secret::new(GENERIC_SECRET);
    let check = |body: &[u8]| {
        signing::verify(
            &secret,
            &header(signing::HEADER_ID),
            &header(signing::HEADER_TIMESTAMP),
            &header(signing::HEADER_SIGNATURE),
            body,
            now(),
            signing::DEFAULT_TOLERANCE,
        )
    };
    assert_eq!(check(&rendered.body), Ok(()));
    let mut tampered = rendered.body.clone();
    tampered.push(b' ');
    assert!(check(&tampered).is_err());
    assert_eq!(header(signing::HEADER_ID), event.webhook_id());
}

#[test]
fn feishu_sign_matches_an_independent_computation() {
    // python3: base64(hmac.new(f"{t}\n{s}".encode(), b"", sha256).digest())
    assert_eq!(
        feishu::sign(&Secret::new(PLATFORM_SECRET), 1741946700),
        "+x5WAw2aLEFQ1iMBch0/mPmbfuyleddyJ0LZrqyOn3A="
    );
    let rendered = render(
        &endpoint(Platform::Lark),
        &samples::sample("ISSUE_CREATED"),
        now(),
    )
    .expect("renders");
    let body: serde_json::Value = serde_json::from_slice(&rendered.body).expect("json");
    assert_eq!(body["timestamp"], "1741946700");
    assert_eq!(body["sign"], "+x5WAw2aLEFQ1iMBch0/mPmbfuyleddyJ0LZrqyOn3A=");
}

#[test]
fn dingtalk_signs_in_the_url() {
    // python3: base64(hmac.new(s.encode(), f"{t_ms}\n{s}".encode(), sha256).digest())
    let expected = "lg9lUNQVaUG1HqPUoCeaIgOoMW/AS2fOu/4oMe9sWcU=";
    assert_eq!(
        dingtalk::sign(&Secret::new(PLATFORM_SECRET), 1741946700000),
        expected
    );
    let rendered = render(
        &endpoint(Platform::Dingtalk),
        &samples::sample("ISSUE_APPROVAL_REQUESTED"),
        now(),
    )
    .expect("renders");
    let url = rendered.url.expect("signed url");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("access_token".into(), "abc".into()),
            ("timestamp".into(), "1741946700000".into()),
            ("sign".into(), expected.into()),
        ]
    );
    // Without a secret, the endpoint URL is used as is.
    let mut unsigned = endpoint(Platform::Dingtalk);
    unsigned.secret = None;
    let rendered = render(&unsigned, &samples::sample("ISSUE_CREATED"), now()).expect("renders");
    assert_eq!(rendered.url, None);
}

#[test]
fn mentions_follow_each_platform() {
    let event = samples::sample("ISSUE_APPROVAL_REQUESTED");
    let body = |platform| {
        let rendered = render(&endpoint(platform), &event, now()).expect("renders");
        serde_json::from_slice::<serde_json::Value>(&rendered.body).expect("json")
    };
    let dingtalk = body(Platform::Dingtalk);
    assert_eq!(
        dingtalk["at"]["atMobiles"],
        serde_json::json!(["13800000002"])
    );
    let text = dingtalk["markdown"]["text"].as_str().expect("text");
    assert!(
        text.contains("@13800000002") && text.contains("Carol Wang"),
        "{text}"
    );
    // WeCom notifies only through a text message's mentioned_mobile_list.
    let wecom = body(Platform::Wecom);
    assert_eq!(wecom["msgtype"], "text");
    assert_eq!(
        wecom["text"]["mentioned_mobile_list"],
        serde_json::json!(["13800000002"])
    );
    let completed = render(
        &endpoint(Platform::Wecom),
        &samples::sample("PIPELINE_COMPLETED"),
        now(),
    )
    .expect("renders");
    let completed: serde_json::Value = serde_json::from_slice(&completed.body).expect("json");
    assert_eq!(completed["msgtype"], "markdown", "no one to mention");
    // Teams mentions by UPN with an msteams entity per person.
    let teams = body(Platform::Teams);
    let card = &teams["attachments"][0]["content"];
    assert_eq!(
        card["msteams"]["entities"],
        serde_json::json!([
            {"type": "mention", "text": "<at>Bob Li</at>", "mentioned": {"id": "bob@example.com", "name": "Bob Li"}},
            {"type": "mention", "text": "<at>Carol Wang</at>", "mentioned": {"id": "carol@example.com", "name": "Carol Wang"}},
        ])
    );
    assert!(card
        .to_string()
        .contains("<at>Bob Li</at>, <at>Carol Wang</at>"));
    let feishu = body(Platform::Feishu).to_string();
    assert!(
        feishu.contains("<at email=bob@example.com></at>"),
        "{feishu}"
    );
    assert!(
        feishu.contains("<at email=carol@example.com></at>"),
        "{feishu}"
    );
    let slack = body(Platform::Slack).to_string();
    assert!(slack.contains("bob@example.com"), "{slack}");
}

#[test]
fn slack_escapes_user_text() {
    let mut event = samples::sample("ISSUE_SENT_BACK");
    event.data["reason"] = serde_json::json!("use <!channel> & retry");
    let rendered = render(&endpoint(Platform::Slack), &event, now()).expect("renders");
    let body = String::from_utf8(rendered.body).expect("utf-8");
    assert!(body.contains("use &lt;!channel&gt; &amp; retry"), "{body}");
    // Alice has a Slack member id in the people directory.
    assert!(body.contains("<@U024BE7LH>"), "{body}");
}

/// A person with a handle in the people directory is mentioned in each
/// platform's own syntax, where that platform notifies; one without is
/// named (or mentioned by what the platform takes instead: e-mail, phone).
#[test]
fn directory_handles_mention_for_real_on_every_platform() {
    let mut event = samples::sample("ISSUE_APPROVAL_REQUESTED");
    let creator = event.issue.as_ref().expect("an issue").creator.clone();
    let mut carol = creator.clone();
    carol.id = 103;
    carol.name = "Carol Wang".into();
    carol.email = "carol@example.com".into();
    carol.phone = None;
    carol.handles.clear();
    event.data["approvers"] = serde_json::json!([creator, carol]);
    let body = |platform| {
        let rendered = render(&endpoint(platform), &event, now()).expect("renders");
        serde_json::from_slice::<serde_json::Value>(&rendered.body).expect("json")
    };
    let slack = body(Platform::Slack).to_string();
    assert!(
        slack.contains("<@U024BE7LH>, Carol Wang (carol@example.com)"),
        "{slack}"
    );
    let discord = body(Platform::Discord);
    assert_eq!(discord["content"], "<@80351110224678912>");
    assert_eq!(
        discord["allowed_mentions"],
        serde_json::json!({"parse": [], "users": ["80351110224678912"]})
    );
    assert!(
        discord
            .to_string()
            .contains("<@80351110224678912>, Carol Wang"),
        "{discord}"
    );
    let chat = body(Platform::GoogleChat);
    assert!(
        chat["text"]
            .as_str()
            .is_some_and(|t| t.ends_with(" <users/113926538452356018476>")),
        "{chat}"
    );
    assert!(chat.to_string().contains("Carol Wang"), "{chat}");
    let wecom = body(Platform::Wecom);
    assert_eq!(wecom["msgtype"], "text");
    assert_eq!(
        wecom["text"]["mentioned_list"],
        serde_json::json!(["alice.chen"])
    );
    assert_eq!(
        wecom["text"]["mentioned_mobile_list"],
        serde_json::json!([])
    );
    let dingtalk = body(Platform::Dingtalk);
    assert_eq!(
        dingtalk["at"]["atUserIds"],
        serde_json::json!(["manager4220"])
    );
    assert_eq!(dingtalk["at"]["atMobiles"], serde_json::json!([]));
    let text = dingtalk["markdown"]["text"].as_str().expect("text");
    assert!(text.contains("@manager4220, Carol Wang"), "{text}");
    let feishu = body(Platform::Feishu).to_string();
    assert!(
        feishu.contains(
            "<at id=ou_7d8a6e6df7621556ce0d21922b676706cc></at>, <at email=carol@example.com></at>"
        ),
        "{feishu}"
    );
    let lark = body(Platform::Lark).to_string();
    assert!(
        lark.contains("<at id=ou_84aad35d084aa403a838cf73ee18467></at>"),
        "{lark}"
    );
    let teams = body(Platform::Teams).to_string();
    assert!(
        teams.contains("alice@example.com") && teams.contains("<at>Carol Wang</at>"),
        "{teams}"
    );
}

#[test]
fn custom_events_show_type_and_compact_data() {
    let event = samples::sample("user.created");
    let message = summary::summarize(&event, Locale::En);
    assert_eq!(message.title, "Event user.created");
    let data = message
        .fields
        .iter()
        .find(|f| f.label.is("Data"))
        .expect("data field");
    assert_eq!(
        data.value,
        summary::Value::Text(
            r#"{"source":"signup","user":{"email":"dave@example.com","id":5}}"#.into()
        )
    );
}

#[test]
fn known_type_with_unexpected_data_falls_back_to_custom_rendering() {
    let mut event = samples::sample("PIPELINE_FAILED");
    event.data = serde_json::json!({"unexpected": true});
    let message = summary::summarize(&event, Locale::En);
    assert_eq!(message.title, "Event PIPELINE_FAILED");
    for platform in Platform::ALL {
        render(&endpoint(platform), &event, now()).expect("still renders");
    }
}

/// Where each platform shows "View issue": its own action element.
fn issue_action(platform: Platform, body: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match platform {
        Platform::Generic => text(&body["links"]["issue"]),
        Platform::Slack => body["attachments"][0]["blocks"]
            .as_array()?
            .iter()
            .find(|b| b["type"] == "actions")
            .and_then(|b| text(&b["elements"][0]["url"])),
        Platform::Discord => text(&body["embeds"][0]["url"]),
        Platform::Teams => body["attachments"][0]["content"]["actions"]
            .as_array()?
            .iter()
            .find(|a| a["type"] == "Action.OpenUrl")
            .and_then(|a| text(&a["url"])),
        Platform::TeamsConnector => text(&body["potentialAction"][0]["targets"][0]["uri"]),
        Platform::Feishu | Platform::Lark => body["card"]["elements"]
            .as_array()?
            .iter()
            .find(|e| e["tag"] == "action")
            .and_then(|e| text(&e["actions"][0]["url"])),
        Platform::Dingtalk => {
            let markdown = body["markdown"]["text"].as_str()?;
            let start = markdown.find("](")? + 2;
            Some(markdown[start..start + markdown[start..].find(')')?].to_string())
        }
        Platform::Wecom => {
            let markdown = body["markdown"]["content"].as_str()?;
            let start = markdown.find("](")? + 2;
            Some(markdown[start..start + markdown[start..].find(')')?].to_string())
        }
        Platform::GoogleChat => body["cardsV2"][0]["card"]["sections"]
            .as_array()?
            .iter()
            .find_map(|s| {
                text(&s["widgets"][0]["buttonList"]["buttons"][0]["onClick"]["openLink"]["url"])
            }),
    }
}

/// An approval request whose approvers have no handle or phone: WeCom
/// keeps Markdown (a mention switches it to plain text).
fn unmentioned_approval() -> Event {
    let mut event = samples::sample("ISSUE_APPROVAL_REQUESTED");
    for user in event.data["approvers"].as_array_mut().expect("approvers") {
        user["handles"] = serde_json::json!({});
        user["phone"] = serde_json::Value::Null;
    }
    event
}

/// With `links:`, every platform carries "View issue" as its own action;
/// without, no platform's body has a link at all.
#[test]
fn links_are_each_platforms_own_action_and_absent_without_templates() {
    let event = unmentioned_approval();
    let expected = "https://bytebase.example.com/projects/payments/issues/7";
    for platform in Platform::ALL {
        let linked =
            render(&linked_endpoint(platform, Locale::En), &event, now()).expect("renders");
        let body: serde_json::Value = serde_json::from_slice(&linked.body).expect("json");
        assert_eq!(
            issue_action(platform, &body).as_deref(),
            Some(expected),
            "{platform}: {body}"
        );
        let plain = render(&endpoint(platform), &event, now()).expect("renders");
        let text = String::from_utf8(plain.body).expect("utf-8");
        assert!(!text.contains("bytebase.example.com"), "{platform}: {text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(issue_action(platform, &body), None, "{platform}");
    }
}

/// A hostile resource id stays one percent-encoded path segment: it
/// cannot end a Markdown link early or add a mention or a host.
#[test]
fn a_hostile_project_id_stays_inside_its_link() {
    let mut event = unmentioned_approval();
    if let Some(project) = event.project.as_mut() {
        project.resource_id = "x) [pwn](https://evil.example) <@U1> (".into();
    }
    let expected = "https://bytebase.example.com/projects/x%29%20%5Bpwn%5D%28https%3A%2F%2Fevil.example%29%20%3C%40U1%3E%20%28/issues/7";
    for platform in Platform::ALL {
        let rendered =
            render(&linked_endpoint(platform, Locale::En), &event, now()).expect("renders");
        let body: serde_json::Value = serde_json::from_slice(&rendered.body).expect("json");
        assert_eq!(
            issue_action(platform, &body).as_deref(),
            Some(expected),
            "{platform}"
        );
    }
}

//! Config loading and validation tests.

use std::path::Path;

use super::*;
use crate::endpoint::{EndpointSource, Platform};

fn secrets_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, value) in files {
        std::fs::write(dir.path().join(name), value).expect("write secret");
    }
    dir
}

fn problems(text: &str, secrets: &Path) -> Vec<Problem> {
    match parse(text, Path::new("test.yaml"), secrets) {
        Err(ConfigError::Invalid { problems, .. }) => problems,
        other => panic!("expected validation problems, got {other:?}"),
    }
}

fn one_problem(text: &str) -> Problem {
    let secrets = secrets_with(&[("gen", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]);
    let mut found = problems(text, secrets.path());
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

const VALID: &str = r#"
endpoints:
  - id: ops
    type: generic
    url: https://hooks.example.com/herald
    secret: gen
    events: ["PIPELINE_FAILED", "user.created"]
    description: ops receiver
    project: 7
  - id: chat
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
    enabled: false
  - id: local
    type: generic
    url: http://127.0.0.1:9000/hook
    secret: gen
    events: ["*"]
"#;

#[test]
fn valid_file_loads_every_field() {
    let secrets = secrets_with(&[("gen", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")]);
    let config = parse(VALID, Path::new("test.yaml"), secrets.path()).expect("valid");
    assert_eq!(config.endpoints.len(), 3);
    let ops = &config.endpoints[0];
    assert_eq!(ops.id, "ops");
    assert_eq!(ops.source, EndpointSource::Config);
    assert_eq!(ops.platform, Platform::Generic);
    assert_eq!(ops.url.as_str(), "https://hooks.example.com/herald");
    assert_eq!(
        ops.secret.as_ref().map(|s| s.expose()),
        Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
    assert_eq!(ops.event_types, vec!["PIPELINE_FAILED", "user.created"]);
    assert_eq!(ops.project_id, Some(7));
    assert!(ops.enabled);
    assert_eq!(ops.description.as_deref(), Some("ops receiver"));
    let chat = &config.endpoints[1];
    assert_eq!(chat.platform, Platform::Slack);
    assert!(chat.secret.is_none());
    assert!(!chat.enabled);
    assert!(chat.subscribes_to("anything.at_all"));
}

#[test]
fn http_needs_loopback_or_opt_in() {
    let p = one_problem(
        "endpoints:\n  - {id: a, type: slack, url: 'http://hooks.example.com/x', events: ['*']}\n",
    );
    assert_eq!((p.endpoint.as_str(), p.field.as_str()), ("a", "url"));
    assert!(p.message.contains("allow_insecure_http"), "{p}");
    let secrets = secrets_with(&[]);
    for text in [
        "endpoints:\n  - {id: a, type: slack, url: 'http://hooks.example.com/x', events: ['*'], allow_insecure_http: true}\n",
        "endpoints:\n  - {id: a, type: slack, url: 'http://127.0.0.1:9000/x', events: ['*']}\n",
        "endpoints:\n  - {id: a, type: slack, url: 'http://[::1]:9000/x', events: ['*']}\n",
    ] {
        parse(text, Path::new("t.yaml"), secrets.path()).expect(text);
    }
    // A host name is checked when resolved: `localhost` over http needs the opt-in.
    let p = one_problem(
        "endpoints:\n  - {id: a, type: slack, url: 'http://localhost:9000/x', events: ['*']}\n",
    );
    assert!(p.message.contains("127.0.0.1"), "{p}");
    let p = one_problem("endpoints:\n  - {id: a, type: slack, url: 'ftp://x/y', events: ['*']}\n");
    assert_eq!(p.field, "url");
    let p = one_problem("endpoints:\n  - {id: a, type: slack, url: 'not a url', events: ['*']}\n");
    assert_eq!(p.field, "url");
}

#[test]
fn generic_needs_a_secret() {
    let p =
        one_problem("endpoints:\n  - {id: g, type: generic, url: 'https://x/y', events: ['*']}\n");
    assert_eq!((p.endpoint.as_str(), p.field.as_str()), ("g", "secret"));
}

#[test]
fn a_missing_secret_is_named() {
    let p = one_problem(
        "endpoints:\n  - {id: g, type: generic, url: 'https://x/y', secret: herald_test_absent_secret_x1, events: ['*']}\n",
    );
    assert_eq!(p.field, "secret");
    assert!(p.message.contains("HERALD_TEST_ABSENT_SECRET_X1"), "{p}");
}

#[test]
fn events_are_required_and_valid() {
    let p = one_problem("endpoints:\n  - {id: s, type: slack, url: 'https://x/y'}\n");
    assert_eq!(p.field, "events");
    let p = one_problem(
        "endpoints:\n  - {id: s, type: slack, url: 'https://x/y', events: ['bad name']}\n",
    );
    assert_eq!(p.field, "events");
    assert!(p.message.contains("bad name"), "{p}");
}

#[test]
fn unknown_type_lists_the_known_ones() {
    let p =
        one_problem("endpoints:\n  - {id: s, type: telegram, url: 'https://x/y', events: ['*']}\n");
    assert_eq!(p.field, "type");
    for platform in Platform::ALL {
        assert!(p.message.contains(platform.as_str()), "{p}");
    }
}

#[test]
fn ids_are_unique_and_not_reserved() {
    let p = one_problem(
        "endpoints:\n  - {id: s, type: slack, url: 'https://x/y', events: ['*']}\n  - {id: s, type: slack, url: 'https://x/z', events: ['*']}\n",
    );
    assert_eq!((p.endpoint.as_str(), p.field.as_str()), ("s", "id"));
    let p = one_problem(
        "endpoints:\n  - {id: project-webhook-3, type: slack, url: 'https://x/y', events: ['*']}\n",
    );
    assert_eq!(p.field, "id");
    let p =
        one_problem("endpoints:\n  - {id: '', type: slack, url: 'https://x/y', events: ['*']}\n");
    assert_eq!((p.endpoint.as_str(), p.field.as_str()), ("#1", "id"));
}

#[test]
fn every_problem_is_collected_with_file_endpoint_and_field() {
    let text = "endpoints:\n  - {id: a, type: nope, url: 'http://example.com', events: []}\n  - {id: b, type: generic, url: 'https://x/y', events: ['*']}\n";
    let secrets = secrets_with(&[]);
    let found = problems(text, secrets.path());
    let summary: Vec<(&str, &str)> = found
        .iter()
        .map(|p| (p.endpoint.as_str(), p.field.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a", "type"),
            ("a", "url"),
            ("a", "events"),
            ("b", "secret")
        ]
    );
    let err = parse(text, Path::new("conf/herald.yaml"), secrets.path()).expect_err("invalid");
    let text = err.to_string();
    assert!(text.contains("4 problem(s)"), "{text}");
    assert!(
        text.contains("conf/herald.yaml:3:6: endpoint `b`: secret:"),
        "{text}"
    );
}

#[test]
fn unknown_keys_point_at_the_line_with_a_near_name() {
    let secrets = secrets_with(&[]);
    let err = parse(
        "endpoints:\n  - {id: a, type: slack, url: 'https://x', events: ['*'], evnets: []}\n",
        Path::new("t.yaml"),
        secrets.path(),
    )
    .expect_err("typo");
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "t.yaml:2:59: endpoint `a`: evnets: unknown key `evnets` (did you mean `events`?)"
        ),
        "{err}"
    );
    let err = parse(
        "endpoints: [\n  {id: a\n",
        Path::new("t.yaml"),
        secrets.path(),
    )
    .expect_err("bad yaml");
    assert!(
        matches!(
            err,
            ConfigError::Syntax {
                position: Some(_),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().starts_with("config file t.yaml:"), "{err}");
}

/// The operator issue's three mistakes in one file: three problems, each
/// with file:line:column, endpoint and field, reported together.
#[test]
fn three_mistakes_are_three_located_problems_at_once() {
    let secrets = secrets_with(&[]);
    let text = "endpoints:
  - id: ops
    type: slack
    url: https://hooks.slack.com/services/T/B/x
    enabled: \"yes please\"
    events: [PIPELINE_FAIL]
  - id: chat
    type: slack
    url: https://hooks.slack.com/services/T/B/y
    events: [\"*\"]
    ordering: none
    concurrency: eight
";
    let err = parse(text, Path::new("h.yaml"), secrets.path()).expect_err("invalid");
    let ConfigError::Invalid { problems, .. } = &err else {
        panic!("{err}");
    };
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].starts_with("h.yaml:5:5: endpoint `ops`: enabled: invalid type: string \"yes please\", expected a boolean"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("h.yaml:6:5: endpoint `ops`: events: `PIPELINE_FAIL` is not one of herald's event types (did you mean `PIPELINE_FAILED`?)"),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with(
            "h.yaml:12:5: endpoint `chat`: concurrency: invalid type: string \"eight\""
        ),
        "{lines:#?}"
    );
}

#[test]
fn absent_default_file_is_empty_but_explicit_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("herald.yaml");
    let config = load(&path, dir.path(), false).expect("absent default is fine");
    assert!(config.endpoints.is_empty());
    assert!(matches!(
        load(&path, dir.path(), true),
        Err(ConfigError::NotFound { .. })
    ));
}

#[test]
fn secret_file_beats_env() {
    let name = "herald_test_secret_file_beats_env";
    std::env::set_var(env_name(name), "from-env");
    let secrets = secrets_with(&[(name, "from-file\n")]);
    let text = format!(
        "endpoints:\n  - {{id: g, type: feishu, url: 'https://x/y', secret: {name}, events: ['*']}}\n"
    );
    let config = parse(&text, Path::new("t.yaml"), secrets.path()).expect("valid");
    assert_eq!(
        config.endpoints[0].secret.as_ref().map(|s| s.expose()),
        Some("from-file")
    );
    // Without the file, the environment variable is used.
    let empty = secrets_with(&[]);
    let config = parse(&text, Path::new("t.yaml"), empty.path()).expect("valid");
    assert_eq!(
        config.endpoints[0].secret.as_ref().map(|s| s.expose()),
        Some("from-env")
    );
    assert_eq!(
        config.notes[0].secret_origin,
        Some(SecretOrigin::Env(env_name(name)))
    );
}

fn env_name(name: &str) -> String {
    secrets::env_var_name(name)
}

#[test]
fn effective_config_round_trips_and_masks_secrets() {
    let secrets = secrets_with(&[("gen", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]);
    let config = parse(VALID, Path::new("test.yaml"), secrets.path()).expect("valid");
    let rendered = render_effective(&config);
    assert!(
        !rendered.contains("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        "{rendered}"
    );
    assert!(rendered.contains("masked"), "{rendered}");
    let again = parse(&rendered, Path::new("test.yaml"), secrets.path()).expect("reloads");
    // The same endpoints, but for the URLs, whose tokens are masked.
    for (shown, real) in again.endpoints.iter().zip(&config.endpoints) {
        assert_eq!(
            shown.url.as_str(),
            crate::endpoint::redacted_url(&real.url).replace('…', "%E2%80%A6")
        );
        let mut unmasked = shown.clone();
        unmasked.url = real.url.clone();
        assert_eq!(&unmasked, real);
    }
    assert_eq!(again.endpoints.len(), config.endpoints.len());
    assert_eq!(again.notes, config.notes);
}

#[test]
fn the_example_file_validates() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("herald.example.yaml");
    let text = std::fs::read_to_string(&example).expect("herald.example.yaml exists");
    let file: FileConfig = serde_norway::from_str(&text).expect("example parses");
    let names: Vec<(&str, &str)> = file
        .endpoints
        .iter()
        .filter_map(|e| e.secret.as_deref())
        .map(|name| (name, "whsec_ZXhhbXBsZS1zZWNyZXQtMTIzNDU2Nzg5MA=="))
        .collect();
    let secrets = secrets_with(&names);
    let config = load(&example, secrets.path(), true).expect("example validates");
    assert!(config.endpoints.len() >= 3);
}

#[test]
fn a_file_without_endpoints_is_refused_but_an_explicit_empty_list_is_fine() {
    let secrets = secrets_with(&[]);
    for text in ["", "   \n", "# only a comment\n", "{}\n"] {
        match parse(text, Path::new("t.yaml"), secrets.path()) {
            Err(ConfigError::Parse { message, .. }) => {
                assert!(message.contains("endpoints: []"), "{text:?}: {message}")
            }
            other => panic!("{text:?} must be refused, got {other:?}"),
        }
    }
    let config = parse("endpoints: []\n", Path::new("t.yaml"), secrets.path()).expect("valid");
    assert!(config.endpoints.is_empty());
}

#[test]
fn a_generic_secret_must_be_a_standard_webhooks_secret() {
    for (value, says) in [
        ("hunter2", "whsec_"),
        ("whsec_!!!", "base64"),
        ("whsec_c2VjcmV0", "24 to 64 bytes"),
    ] {
        let secrets = secrets_with(&[("gen", value)]);
        let found = problems(
            "endpoints:\n  - {id: g, type: generic, url: 'https://x.example/y', secret: gen, events: ['*']}\n",
            secrets.path(),
        );
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].field, "secret");
        assert!(found[0].message.contains(says), "{value}: {}", found[0]);
    }
}

#[test]
fn ordering_none_takes_a_concurrency() {
    let secrets = secrets_with(&[]);
    let config = parse(
        "endpoints:\n  - {id: a, type: slack, url: 'https://x.example/y', events: ['*'], ordering: none, concurrency: 16}\n  - {id: b, type: slack, url: 'https://x.example/z', events: ['*'], ordering: none}\n",
        Path::new("t.yaml"),
        secrets.path(),
    )
    .expect("valid");
    assert_eq!(
        config.endpoints[0].ordering,
        crate::endpoint::Ordering::Unordered { concurrency: 16 }
    );
    assert_eq!(
        config.endpoints[1].ordering,
        crate::endpoint::Ordering::Unordered { concurrency: 8 }
    );
    let p = one_problem("endpoints:\n  - {id: a, type: slack, url: 'https://x.example/y', events: ['*'], concurrency: 4}\n");
    assert_eq!(p.field, "concurrency");
    let p = one_problem("endpoints:\n  - {id: a, type: slack, url: 'https://x.example/y', events: ['*'], ordering: sideways}\n");
    assert_eq!(p.field, "ordering");
    let p = one_problem("endpoints:\n  - {id: a, type: slack, url: 'https://x.example/y', events: ['*'], ordering: none, concurrency: 1000}\n");
    assert_eq!(p.field, "concurrency");
}

const LINKED: &str = r#"
links:
  issue: https://bb.example.com/projects/{project}/issues/{issue_id}
  rollout: https://bb.example.com/projects/{project}/rollouts/{rollout_id}
endpoints:
  - id: feishu-cn
    type: feishu
    url: https://open.feishu.cn/open-apis/bot/v2/hook/x
    events: ["*"]
    locale: zh-CN
  - id: chat
    type: slack
    url: https://hooks.slack.com/services/T/B/X
    events: ["*"]
"#;

#[test]
fn links_and_locale_load_and_reach_every_endpoint() {
    let secrets = secrets_with(&[]);
    let config = parse(LINKED, Path::new("test.yaml"), secrets.path()).expect("valid");
    use crate::presentation::{LinkKind, Locale};
    assert_eq!(
        config.links.get(LinkKind::Issue).map(|t| t.source()),
        Some("https://bb.example.com/projects/{project}/issues/{issue_id}")
    );
    assert!(config.links.get(LinkKind::Plan).is_none());
    assert_eq!(config.endpoints[0].presentation.locale, Locale::ZhCn);
    assert_eq!(config.endpoints[1].presentation.locale, Locale::En);
    for endpoint in &config.endpoints {
        assert_eq!(endpoint.presentation.links, config.links);
    }
    let rendered = render_effective(&config);
    assert!(rendered.contains("locale: zh-CN"), "{rendered}");
    let again = parse(&rendered, Path::new("test.yaml"), secrets.path()).expect("reloads");
    assert_eq!(unmasked(&again, &config), config.endpoints);
    assert_eq!(again.links, config.links);
}

/// `shown`'s endpoints with `real`'s URLs (the rendering masks them).
fn unmasked(shown: &Config, real: &Config) -> Vec<crate::endpoint::Endpoint> {
    shown
        .endpoints
        .iter()
        .zip(&real.endpoints)
        .map(|(shown, real)| {
            let mut endpoint = shown.clone();
            endpoint.url = real.url.clone();
            endpoint
        })
        .collect()
}

#[test]
fn bad_templates_and_locales_are_problems_naming_the_field() {
    let secrets = secrets_with(&[]);
    let text = LINKED
        .replace("{rollout_id}", "{issue_id}")
        .replace("/issues/{issue_id}", "/issues/{id}")
        .replace("zh-CN", "zh_TW");
    let found = problems(&text, secrets.path());
    let shown: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{shown:?}");
    assert!(
        shown[0].starts_with("test.yaml:3:3: links.issue: ") && shown[0].contains("`{id}`"),
        "{shown:?}"
    );
    assert!(
        shown[1].starts_with("test.yaml:4:3: links.rollout: ")
            && shown[1].contains("{project}, {project_id}, {rollout_id}, {plan_id}"),
        "{shown:?}"
    );
    assert_eq!(
        shown[2],
        "test.yaml:10:5: endpoint `feishu-cn`: locale: `zh_TW` is not one of en, zh-CN"
    );
    let unknown = LINKED.replace("  rollout:", "  deployment:");
    let err = parse(&unknown, Path::new("test.yaml"), secrets.path()).expect_err("unknown");
    assert!(
        err.to_string()
            .contains("test.yaml:4:3: links.deployment: unknown key `deployment`"),
        "{err}"
    );
}

#[test]
fn direct_messages_need_an_app_platform_its_credentials_and_recipients() {
    let secrets = secrets_with(&[
        ("bot", "xoxb-1-2-abc"),
        ("hook", "not-a-bot-token"),
        ("app", "cli_a1:s3cret"),
    ]);
    let good = r#"
endpoints:
  - id: slack-dm
    type: slack
    url: https://slack.com/api
    secret: bot
    events: [ISSUE_APPROVAL_REQUESTED, ISSUE_SENT_BACK]
    direct_messages: true
  - id: feishu-dm
    type: feishu
    url: https://open.feishu.cn/open-apis
    secret: app
    events: ["*"]
    direct_messages: true
"#;
    let config = parse(good, Path::new("test.yaml"), secrets.path()).expect("valid");
    assert!(config.endpoints.iter().all(|e| e.direct_messages));
    let again = parse(
        &render_effective(&config),
        Path::new("test.yaml"),
        secrets.path(),
    )
    .expect("reloads");
    assert_eq!(unmasked(&again, &config), config.endpoints);
    let bad = r#"
endpoints:
  - id: discord-dm
    type: discord
    url: https://example.com/x
    secret: bot
    events: ["*"]
    direct_messages: true
  - id: teams-dm
    type: teams
    url: https://graph.microsoft.com/v1.0
    secret: app
    events: ["*"]
    direct_messages: true
  - id: slack-dm
    type: slack
    url: https://slack.com/api
    secret: hook
    events: [PIPELINE_FAILED]
    direct_messages: true
  - id: lark-dm
    type: lark
    url: https://open.larksuite.com/open-apis
    events: ["*"]
    direct_messages: true
"#;
    let found: Vec<(String, String)> = problems(bad, secrets.path())
        .into_iter()
        .map(|p| (p.endpoint, p.field))
        .collect();
    let found: Vec<(&str, &str)> = found
        .iter()
        .map(|(e, f)| (e.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("discord-dm", "direct_messages"),
            ("teams-dm", "secret"),
            ("slack-dm", "secret"),
            ("slack-dm", "events"),
            ("lark-dm", "secret"),
        ]
    );
}

/// Hostile shapes never loop or panic: each is one located problem.
#[test]
fn odd_shapes_are_reported_not_looped_on() {
    let secrets = secrets_with(&[]);
    for (text, expected) in [
        ("endpoints: 5\n", "endpoints: invalid type"),
        (
            "endpoints:\n  - just a string\n",
            "endpoint `#1`: (the endpoint): invalid type",
        ),
        ("endpoints: []\nextra: 1\n", "extra: unknown key `extra`"),
        (
            "endpoints:\n  - id: a\n    type: slack\n    url: https://x\n    events: [A.b, 5, {x: 1}]\n    concurrency: eight\n",
            "concurrency: invalid type",
        ),
    ] {
        let err = parse(text, Path::new("t.yaml"), secrets.path()).expect_err(text);
        assert!(err.to_string().contains(expected), "{text:?}: {err}");
    }
}

//! herald's Slack and Teams bodies checked by the platforms' own models:
//! Slack's Python SDK (Block Kit objects and their limits) and the official
//! Adaptive Card 1.5 JSON schema (`tests/models/validate.py`). The Python
//! packages (pinned in `tests/models/requirements.txt`) are installed by
//! this test into `target/py-models` the first time it runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Utc;
use herald::endpoint::{Endpoint, EndpointSource, Platform};
use herald::events::{Event, UserRef};
use herald::formats::{render, samples};
use herald::presentation::{LinkTemplates, Locale, Presentation};
use std::sync::Arc;

/// Link templates for every kind, as a config would give them.
fn links() -> Arc<LinkTemplates> {
    let base = "https://bytebase.example.com/projects/{project}";
    Arc::new(LinkTemplates::under(base).expect("templates"))
}

/// An endpoint of `platform` in `locale`, with every link template.
fn endpoint(platform: Platform, locale: Locale) -> Endpoint {
    Endpoint {
        id: format!("model-{platform}"),
        source: EndpointSource::Config,
        platform,
        url: "https://hooks.example.com/x".parse().expect("url"),
        secret: None,
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: herald::endpoint::Ordering::Strict,
        presentation: Presentation {
            locale,
            links: links(),
        },
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    }
}

/// The samples, plus the sizes and data that broke the platforms: a bad
/// day, 300 failures with 5 KB errors, 60 approvers, a 2,000-character
/// hostile title, an empty reason.
fn events() -> Vec<Event> {
    let mut events = samples::all();
    events.push(samples::sample("user.created"));
    for (tasks, error_bytes) in [(12, 600), (300, 5000)] {
        let mut event = samples::sample("PIPELINE_FAILED");
        let error = format!(
            "ERROR: deadlock detected <!channel> [x](http://t) {}",
            "é".repeat(error_bytes)
        );
        event.data["failed_tasks"] = (0..tasks)
            .map(|i| {
                serde_json::json!({
                    "task_id": i, "name": format!("Task {i}"), "instance": "prod",
                    "database": "db", "error": error, "failed_at": "2026-11-23T10:00:00Z"
                })
            })
            .collect();
        events.push(event);
    }
    let mut approvals = samples::sample("ISSUE_APPROVAL_REQUESTED");
    approvals.data["approvers"] = (0..60)
        .map(|i| {
            serde_json::to_value(UserRef {
                id: i,
                name: format!("Approver Number {i} <at>"),
                email: format!("approver{i}@example.com"),
                phone: None,
                handles: [("slack".to_owned(), format!("U{i:08}"))].into(),
            })
            .expect("json")
        })
        .collect();
    if let Some(issue) = approvals.issue.as_mut() {
        issue.title = "数据库 <users/all> @everyone ".repeat(80);
    }
    events.push(approvals);
    let mut sent_back = samples::sample("ISSUE_SENT_BACK");
    sent_back.data["reason"] = serde_json::json!("");
    events.push(sent_back);
    events
}

/// `target/py-models`, with the pinned requirements installed.
fn python_models() -> PathBuf {
    crate::support::python::packages("tests/models/requirements.txt", "py-models")
}

/// Run `tests/models/validate.py` on `dir`; panics with its report unless
/// every one of `expected` bodies passed.
fn validate(dir: &Path, expected: usize) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/models/validate.py");
    let output = Command::new("python3")
        .env("PYTHONPATH", python_models())
        .env("PYTHONNOUSERSITE", "1")
        .arg(script)
        .arg(dir)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "the platform models are missing from target/py-models\n{stderr}"
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("validated {expected} bodies")),
        "{stdout}"
    );
}

/// Every Slack and Teams body herald renders for the samples and the
/// sizes that broke the platforms passes the platform's own model.
#[test]
fn slack_and_teams_bodies_pass_the_platforms_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut written = 0;
    let cases = [Platform::Slack, Platform::Teams]
        .into_iter()
        .flat_map(|p| Locale::ALL.map(|l| (p, l)));
    for (platform, locale) in cases {
        for (n, event) in events().iter().enumerate() {
            let rendered = render(&endpoint(platform, locale), event, Utc::now()).expect("renders");
            std::fs::write(
                dir.path().join(format!("{platform}-{locale}-{n}.json")),
                rendered.body,
            )
            .expect("write body");
            written += 1;
        }
    }
    validate(dir.path(), written);
}

/// The generic body of every kind of event herald sends — the samples, the
/// hostile ones, and events emitted for real (a custom event given only a
/// project id, `rollout.created`) read back from the event log — matches
/// `docs/event.schema.json`.
#[actix_rt::test]
async fn generic_bodies_match_the_published_event_schema() {
    let db = crate::support::TestDb::new().await;
    let seed = crate::support::issues::Seed::new(&db.pool);
    let project = seed.project(false, false).await;
    let ada = seed.user("Ada", Some("+15550100")).await;
    let plan = seed.plan(project).await;
    seed.issue(project, Some(plan), ada.id, "APPROVED", None)
        .await;
    let created = db
        .store
        .create_rollout(plan, "herald")
        .await
        .expect("rollout");
    assert!(matches!(
        created,
        herald::store::approval::RolloutCreation::Created(_)
    ));
    sqlx::query("SELECT herald_emit('user.created', '{\"data\":{\"user\":\"ada\"}}', $1)")
        .bind(project)
        .execute(&db.pool)
        .await
        .expect("custom event");
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM herald_event ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .expect("events");
    let mut all = events();
    for id in ids {
        all.push(db.store.event(id).await.expect("read").expect("event"));
    }
    let mut generic = endpoint(Platform::Generic, Locale::En);
    generic.secret = Some(herald::endpoint::Secret::new(crate::delivery::SECRET));
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, event) in all.iter().enumerate() {
        let rendered = render(&generic, event, Utc::now()).expect("renders");
        std::fs::write(dir.path().join(format!("generic-{n}.json")), rendered.body)
            .expect("write body");
    }
    let custom = all.last().expect("custom");
    assert_eq!(
        custom.project.as_ref().map(|p| p.id),
        Some(project),
        "filled from the id"
    );
    validate(dir.path(), all.len());
}

/// Templates a user might write: every part, mentions and bold, loops over
/// failed tasks, Chinese words, a field that renders empty, herald's title.
const TEMPLATES: [&str; 3] = [
    r#"
title: "{% if locale == 'zh-CN' %}变更{% else %}Change{% endif %} · {{ title }}"
fields:
  - label: "{{ 'not a template: labels are shown as written' }}"
    value: "{{ project.title }} / {{ issue.title }}"
  - label: Approvers
    value: "{% for a in data.approvers %}{{ mention(a) }} {% endfor %}"
  - label: Empty for most types
    value: "{% if data.reason %}{{ data.reason }}{% endif %}"
text: |
  {{ bold("Failed tasks") }} ({{ data.failed_tasks | length }}):
  {% for t in data.failed_tasks %}- {{ t.name }} on {{ t.instance }}/{{ t.database }}: {{ t.error }}
  {% endfor %}
"#,
    r#"
title: "{{ issue.title }}"
fields:
  - label: 项目
    value: "{{ project.title }}"
  - label: 创建人
    value: "{{ mention(issue.creator) }}"
"#,
    r#"
text: "{{ title }} — {{ data | tojson }}"
"#,
];

/// Templated Slack and Teams bodies, in both languages and for every kind
/// of event (hostile and oversized ones included), pass the platforms' own
/// models, and each was rendered by its template (none fell back).
#[test]
fn templated_slack_and_teams_bodies_pass_the_platforms_models() {
    use herald::formats::template::{MessageTemplate, TemplateSource};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut written = 0;
    for (t, text) in TEMPLATES.iter().enumerate() {
        let source: TemplateSource = serde_norway::from_str(text).expect("template YAML");
        for platform in [Platform::Slack, Platform::Teams] {
            for locale in Locale::ALL {
                let template =
                    MessageTemplate::compile(&source, platform, &["*".into()], &[locale])
                        .unwrap_or_else(|problems| panic!("{problems:?}"));
                let mut endpoint = endpoint(platform, locale);
                endpoint.template = Some(Arc::new(template));
                for (n, event) in events().iter().enumerate() {
                    let (rendered, fallback) =
                        herald::formats::render_explained(&endpoint, event, Utc::now())
                            .expect("renders");
                    assert_eq!(fallback, None, "{platform} {locale} template {t} event {n}");
                    std::fs::write(
                        dir.path()
                            .join(format!("{platform}-{locale}-t{t}-{n}.json")),
                        rendered.body,
                    )
                    .expect("write body");
                    written += 1;
                }
            }
        }
    }
    validate(dir.path(), written);
}

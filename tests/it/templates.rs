//! Message templates end to end: a templated generic body delivered and
//! signed by a running delivery actor, and `herald template render`
//! previewing a body — templated, or herald's own with the reason.

use std::sync::Arc;

use herald::endpoint::{Endpoint, Platform, Secret};
use herald::formats::template::{MessageTemplate, TemplateSource};
use herald::presentation::Locale;

use crate::delivery::{emit_ticks, endpoint, fast_delivery, start, wait_state, SECRET};
use crate::support::receiver::{Receiver, Reply};
use crate::support::TestDb;

/// A generic endpoint's `body:` template shapes what the receiver gets —
/// strings rendered, a lone expression keeping its type — and the body is
/// signed as sent: the signature verifies over the templated bytes.
#[actix_rt::test]
async fn a_templated_generic_body_arrives_signed() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let source: TemplateSource = serde_norway::from_str(
        r#"
body:
  text: "tick {{ data.n }} of {{ type }}"
  n: "{{ data.n }}"
  kind: fixed
"#,
    )
    .expect("template");
    let template =
        MessageTemplate::compile(&source, Platform::Generic, &["*".into()], &[Locale::En])
            .expect("compiles");
    let hook = Endpoint {
        template: Some(Arc::new(template)),
        ..endpoint("hook", receiver.url("/hook"))
    };
    let daemon = start(&db, "one", vec![hook], fast_delivery()).await;
    emit_ticks(&db, 2).await;
    wait_state(&db, "hook", "delivered", 2).await;
    let got = receiver.accepted("/hook");
    let bodies: Vec<_> = got.iter().map(|r| r.body.clone()).collect();
    assert_eq!(
        bodies,
        [
            serde_json::json!({"text": "tick 1 of test.tick", "n": 1, "kind": "fixed"}),
            serde_json::json!({"text": "tick 2 of test.tick", "n": 2, "kind": "fixed"}),
        ]
    );
    for received in &got {
        herald::signing::verify(
            &Secret::new(SECRET),
            received.webhook_id.as_deref().unwrap_or_default(),
            received.timestamp.as_deref().unwrap_or_default(),
            received.signature.as_deref().unwrap_or_default(),
            &received.raw,
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .expect("the templated body is what was signed");
    }
    daemon.stop().await;
    receiver.stop().await;
}

/// `herald template render` prints the body `herald run` would send: the
/// template's (a Slack title from it), or herald's own with the reason
/// (25 long labels cannot fit WeCom's 4,096 bytes); an unknown endpoint
/// names the known ones.
#[actix_rt::test]
async fn template_render_previews_the_body_and_says_why_a_template_was_set_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let label = "数据库变更流水线的负责人与审批人".repeat(6);
    let fields: String = (0..25)
        .map(|i| {
            format!("      - label: \"{label}{i}\"\n        value: \"{{{{ plan.title }}}}\"\n")
        })
        .collect();
    let file = dir.path().join("herald.yaml");
    std::fs::write(
        &file,
        format!(
            r#"endpoints:
  - id: ops
    type: slack
    url: https://hooks.slack.com/services/T/B/a
    events: [PIPELINE_FAILED]
    template:
      title: "Deploy of {{{{ plan.title }}}} failed ({{{{ data.failed_tasks | length }}}} tasks)"
  - id: wecom
    type: wecom
    url: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k
    events: ["*"]
    locale: zh-CN
    template:
      fields:
{fields}"#
        ),
    )
    .expect("write config");
    let event = dir.path().join("event.json");
    let sample = herald::formats::samples::sample("PIPELINE_FAILED");
    std::fs::write(&event, serde_json::to_vec(&sample).expect("json")).expect("write event");
    let render = |endpoint: &'static str| {
        let (file, event) = (file.clone(), event.clone());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(["template", "render", "--endpoint", endpoint, "--config"])
                .arg(&file)
                .arg("--event")
                .arg(&event)
                .output()
                .await
                .expect("herald runs")
        }
    };
    let ops = render("ops").await;
    let (out, err) = (
        String::from_utf8_lossy(&ops.stdout),
        String::from_utf8_lossy(&ops.stderr),
    );
    assert!(ops.status.success(), "{err}");
    let body: serde_json::Value = serde_json::from_str(&out).expect("the body as JSON");
    let title = sample
        .plan
        .as_ref()
        .map(|p| p.title.clone())
        .unwrap_or_default();
    assert_eq!(body["text"], format!("Deploy of {title} failed (2 tasks)"));
    assert!(err.contains("rendered by its template"), "{err}");

    let wecom = render("wecom").await;
    let (out, err) = (
        String::from_utf8_lossy(&wecom.stdout),
        String::from_utf8_lossy(&wecom.stderr),
    );
    assert!(wecom.status.success(), "{err}");
    assert!(
        err.contains("its template was not used") && err.contains("cannot fit"),
        "{err}"
    );
    assert!(!out.contains(&label), "herald's own body: {out}");

    // herald's own sample instead of a file: the same body.
    let from_sample = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "template",
            "render",
            "--endpoint",
            "ops",
            "--sample",
            "PIPELINE_FAILED",
            "--config",
        ])
        .arg(&file)
        .output()
        .await
        .expect("herald runs");
    let sampled: serde_json::Value =
        serde_json::from_slice(&from_sample.stdout).expect("the body as JSON");
    assert_eq!(sampled["text"], body["text"]);

    let unknown = render("nope").await;
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        err.contains("no endpoint `nope`") && err.contains("ops, wecom"),
        "{err}"
    );
}

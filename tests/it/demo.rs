//! `herald demo` as a new user runs it: seven signed webhooks, in order, and
//! nothing left behind.

use std::process::Stdio;
use std::time::Duration;

#[actix_rt::test]
async fn demo_prints_seven_verified_webhooks_in_order_and_cleans_up() {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("demo")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        // A proxy in the environment is not followed: it would bypass the
        // destination policy (and this one refuses every connection).
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("ALL_PROXY", "http://127.0.0.1:9")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("herald starts");
    let dir = std::env::temp_dir().join(format!("herald-demo-{}", child.id().expect("pid")));
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the demo finishes within two minutes")
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let webhooks: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("⇐ webhook"))
        .collect();
    let expected = [
        "ISSUE_CREATED",
        "ISSUE_APPROVAL_REQUESTED",
        "issue.approved",
        "ISSUE_APPROVED",
        "rollout.created",
        "PIPELINE_FAILED",
        "PIPELINE_COMPLETED",
    ];
    assert_eq!(webhooks.len(), expected.len(), "{stdout}");
    let type_of = |line: &str| {
        expected
            .iter()
            .find(|t| line.contains(&format!(" {t} ")))
            .copied()
    };
    let mut arrived: Vec<Option<&str>> = Vec::new();
    for line in &webhooks {
        assert!(line.contains("[verified]"), "{line}");
        arrived.push(type_of(line));
    }
    // ISSUE_APPROVED and rollout.created are decided at once: either order.
    arrived[3..5].sort();
    let mut wanted: Vec<Option<&str>> = expected.iter().map(|t| Some(*t)).collect();
    wanted[3..5].sort();
    assert_eq!(arrived, wanted, "{stdout}");
    assert!(stdout.contains("7 with a valid signature"), "{stdout}");
    // A link back to the host app, and a real mention of the approver in
    // the people directory.
    assert!(
        stdout
            .contains("link to the issue: https://bytebase.example.com/projects/payments/issues/"),
        "{stdout}"
    );
    assert!(
        stdout.contains("on Slack *Approvers:* <@U0GRACE01>, Linus (linus@payments.example)"),
        "{stdout}"
    );
    assert!(!dir.exists(), "the demo removed {}", dir.display());
}

/// `herald demo --keep-open`: after the scenario the console is served
/// with a one-time token, showing what just happened, until Ctrl-C; then
/// the demo ends and cleans up as usual.
#[actix_rt::test]
async fn demo_keep_open_serves_the_console_until_interrupted() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "demo",
            "--keep-open",
            "--admin-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("herald starts");
    let pid = child.id().expect("pid");
    let dir = std::env::temp_dir().join(format!("herald-demo-{pid}"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut console, mut token) = (None, None);
    let mut said = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            let line = line.trim().to_owned();
            said.push(line.clone());
            if let Some(url) = line.strip_prefix("console") {
                console = Some(url.trim().to_owned());
            }
            if let Some(value) = line.strip_prefix("token") {
                token = Some(value.trim().to_owned());
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the console is announced within two minutes");
    let (console, token) = (console.expect("a console URL"), token.expect("a token"));
    assert_eq!(
        console,
        format!("http://127.0.0.1:{port}/"),
        "--admin-addr is used"
    );
    // The summary says what happens: nothing is removed while it stays open.
    let text = said.join("\n");
    assert!(
        text.contains("are removed when the demo ends") && !text.contains("files are removed\n"),
        "{text}"
    );
    let page = reqwest::get(&console)
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("herald console"), "{page}");
    let deliveries: serde_json::Value = reqwest::Client::new()
        .get(format!("{console}v1/deliveries"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    assert_eq!(
        deliveries["deliveries"].as_array().map(Vec::len),
        Some(7),
        "{deliveries}"
    );
    // The decisions panel has what happened, though the demo logs only warnings.
    let decisions: serde_json::Value = reqwest::Client::new()
        .get(format!("{console}v1/decisions"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("decisions")
        .json()
        .await
        .expect("json");
    assert!(
        decisions["decisions"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["event"] == "outcome.claimed"
                || d["event"] == "delivery.delivered"
                || d["event"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("window.")))),
        "{decisions}"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the demo ends after Ctrl-C")
        .expect("wait");
    assert!(status.success(), "{status}");
    assert!(!dir.exists(), "the demo removed {}", dir.display());
}

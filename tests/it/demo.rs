//! `herald demo` as a new user runs it: six signed webhooks, in order, and
//! nothing left behind.

use std::process::Stdio;
use std::time::Duration;

#[actix_rt::test]
async fn demo_prints_six_verified_webhooks_in_order_and_cleans_up() {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("demo")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
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
        "rollout.created",
        "PIPELINE_FAILED",
        "PIPELINE_COMPLETED",
    ];
    assert_eq!(webhooks.len(), expected.len(), "{stdout}");
    for (line, event_type) in webhooks.iter().zip(expected) {
        assert!(
            line.contains("[verified]") && line.contains(&format!(" {event_type} ")),
            "{line}"
        );
    }
    assert!(stdout.contains("6 with a valid signature"), "{stdout}");
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

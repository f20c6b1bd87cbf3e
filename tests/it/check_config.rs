//! `herald check-config` as an operator runs it: every mistake at once with
//! file:line:column, endpoint and field; destinations judged as `herald
//! run` judges them; URL tokens never printed.

use std::process::Output;

async fn check(file: &std::path::Path, extra: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("check-config")
        .arg("--config")
        .arg(file)
        .args(["--secrets-dir", "/nonexistent"])
        .args(extra)
        .env_remove("HERALD_ALLOW_PRIVATE_NETWORKS")
        .output()
        .await
        .expect("herald runs")
}

#[actix_rt::test]
async fn three_mistakes_are_three_problems_each_pointing_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("herald.yaml");
    std::fs::write(
        &file,
        "endpoints:
  - id: ops
    type: slack
    url: https://hooks.slack.com/services/T/B/x
    enabled: \"yes please\"
    evnets: [PIPELINE_FAILED]
  - id: chat
    type: slack
    url: https://hooks.slack.com/services/T/B/y
    events: [PIPELINE_FAIL]
",
    )
    .expect("write");
    let output = check(&file, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    let name = file.display().to_string();
    for expected in [
        format!("{name}:5:5: endpoint `ops`: enabled: invalid type: string \"yes please\", expected a boolean"),
        format!("{name}:6:5: endpoint `ops`: evnets: unknown key `evnets` (did you mean `events`?)"),
        format!("{name}:10:5: endpoint `chat`: events: `PIPELINE_FAIL` is not one of herald's event types (did you mean `PIPELINE_FAILED`?)"),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n---\n{stderr}");
    }
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
    assert_eq!(stderr.matches("herald:").count(), 1, "said once: {stderr}");
}

#[actix_rt::test]
async fn destinations_are_judged_as_run_judges_them_and_tokens_stay_hidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("herald.yaml");
    std::fs::write(
        &file,
        "endpoints:
  - id: metadata
    type: slack
    url: https://169.254.169.254/x
    events: [\"*\"]
  - id: inside
    type: slack
    url: https://10.0.0.1/x
    events: [\"*\"]
",
    )
    .expect("write");
    let output = check(&file, &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let name = file.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{name}:4:5: endpoint `metadata`: url: 169.254.169.254 is a cloud metadata address"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{name}:8:5: endpoint `inside`: url: 10.0.0.1 is a private address"
        )),
        "{stderr}"
    );

    // Allowed like `herald run --allow-private-networks` allows them; the
    // printed config masks the URLs' tokens.
    std::fs::write(
        &file,
        "endpoints:
  - id: inside
    type: slack
    url: https://10.0.0.1/services/T0/B0/very-secret-token
    events: [\"*\"]
",
    )
    .expect("write");
    let output = check(&file, &["--allow-private-networks", "10.0.0.0/8"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("id: inside"), "{stdout}");
    assert!(!stdout.contains("very-secret-token"), "{stdout}");
}

/// `herald routes test` says which endpoints an event reaches, and why the
/// others do not (as `amtool config routes test`).
#[actix_rt::test]
async fn routes_test_says_who_would_receive_an_event_and_why_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("herald.yaml");
    std::fs::write(
        &file,
        "endpoints:
  - id: oncall
    type: slack
    url: https://hooks.slack.com/services/T/B/a
    events: [PIPELINE_FAILED]
    project: shop
  - id: everything
    type: slack
    url: https://hooks.slack.com/services/T/B/b
    events: [\"*\"]
  - id: issues
    type: slack
    url: https://hooks.slack.com/services/T/B/c
    events: [ISSUE_CREATED]
",
    )
    .expect("write");
    let routes = |project: &'static str| {
        let file = file.clone();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .args([
                    "routes",
                    "test",
                    "PIPELINE_FAILED",
                    "--project",
                    project,
                    "--config",
                ])
                .arg(&file)
                .output()
                .await
                .expect("herald runs");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
    };
    let shop = routes("shop").await;
    let row = crate::support::cli::table_row;
    assert_eq!(row(&shop, "oncall"), "oncall yes");
    assert_eq!(row(&shop, "everything"), "everything yes");
    assert!(
        row(&shop, "issues").starts_with("issues no not subscribed to PIPELINE_FAILED"),
        "{shop}"
    );
    assert!(shop.contains("2 endpoint(s)"), "{shop}");
    let blog = routes("blog").await;
    assert!(
        row(&blog, "oncall").starts_with("oncall no only for project shop"),
        "{blog}"
    );
}

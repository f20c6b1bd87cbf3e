//! The CLI over the admin API as an operator uses it: endpoints listed,
//! disabled, enabled and recovered; one delivery shown in full; replays
//! without a progress line in a pipe; unknown endpoint ids refused with one
//! message; the admin address found in the data directory.

use std::process::Output;

use crate::api_contract::with_failed_deliveries;
use crate::delivery::wait_state;
use crate::support::receiver::{Receiver, Reply};

const TOKEN: &str = "cli-token";

async fn herald(args: &[&str], data_dir: &std::path::Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("HERALD_ADMIN_TOKEN")
        .env_remove("HERALD_ADMIN_TOKEN_FILE")
        .env_remove("HERALD_ADMIN_URL")
        .env("USER", "ops-person")
        .output()
        .await
        .expect("herald runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[actix_rt::test]
async fn an_operator_manages_endpoints_and_deliveries_from_the_cli() {
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 204 } else { 400 }));
    let (db, daemon, server) = with_failed_deliveries("cli", &receiver, 3, 2, TOKEN).await;
    // What a local `herald run` leaves in its data directory: the token and
    // the admin address; the CLI needs neither flag.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin-token"), format!("{TOKEN}\n")).expect("token");
    std::fs::write(
        dir.path().join("admin-url"),
        format!("http://{}\n", server.local_addr),
    )
    .expect("address");
    let data = dir.path();

    let listed = herald(&["endpoints", "list"], data).await;
    let (out, err) = text(&listed);
    assert!(listed.status.success(), "{err}");
    assert!(
        out.starts_with("ID") && out.contains("cli") && out.contains("enabled"),
        "{out}"
    );

    // Unknown ids are errors, said once.
    for args in [
        &["endpoints", "disable", "nope"][..],
        &["deliveries", "--endpoint", "nope"][..],
    ] {
        let refused = herald(args, data).await;
        let (out, err) = text(&refused);
        assert!(!refused.status.success(), "{args:?}: {out}");
        assert_eq!(
            err.matches("no endpoint \"nope\"").count(),
            1,
            "{args:?}: {err}"
        );
        assert!(
            !err.contains('\u{1b}'),
            "no colour codes into a pipe: {err:?}"
        );
    }

    let disabled = herald(&["endpoints", "disable", "cli"], data).await;
    assert_eq!(text(&disabled).0.trim(), "cli disabled");
    let enabled: bool = sqlx::query_scalar(
        "SELECT disabled_at IS NULL FROM herald_endpoint_health WHERE endpoint_id = 'cli'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("health");
    assert!(!enabled);
    let enabled = herald(&["endpoints", "enable", "cli"], data).await;
    assert_eq!(text(&enabled).0.trim(), "cli enabled");

    // One delivery in full: the request as sent.
    let failed: i64 = sqlx::query_scalar(
        "SELECT min(id) FROM herald_delivery WHERE endpoint_id = 'cli' AND state = 'failed'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("failed");
    let shown = herald(&["delivery", "show", &failed.to_string()], data).await;
    let (out, err) = text(&shown);
    assert!(shown.status.success(), "{err}");
    for part in [
        "failed",
        "webhook-id: msg_",
        "webhook-signature: v1,",
        "body: {",
        "HTTP 400",
        "payload",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }

    // Recover, then replay everything failed: into a pipe, no progress line.
    let recovered = herald(&["endpoints", "recover", "cli", "--since", "1h"], data).await;
    assert_eq!(
        text(&recovered).0.trim(),
        "2 failed deliveries of cli queued again"
    );
    wait_state(&db, "cli", "failed", 2).await;
    let replayed = herald(&["replay", "--all-failed"], data).await;
    let (out, err) = text(&replayed);
    assert!(replayed.status.success(), "{err}");
    assert!(out.contains("2 of 2"), "{out}");
    assert!(!err.contains('\r') && !err.contains("replaying"), "{err:?}");
    wait_state(&db, "cli", "failed", 2).await;
    let who: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT requested_by FROM herald_delivery_replay ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("replays");
    assert_eq!(who, ["cli:ops-person"]);

    // Reload: this herald has no config file, and says so.
    let reload = herald(&["reload"], data).await;
    let (_, err) = text(&reload);
    assert!(!reload.status.success());
    assert!(err.contains("without a config file"), "{err}");

    server.stop().await;
    daemon.stop().await;
    receiver.stop().await;
}

/// Completions, the man page and `--version` come from the same clap
/// definitions as `--help`; the version names the commit.
#[test]
fn completions_man_page_and_version_with_the_commit() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(args)
            .output()
            .expect("herald runs");
        assert!(output.status.success(), "{args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let bash = run(&["completions", "bash"]);
    assert!(
        bash.contains("_herald()") && bash.contains("--admin-url"),
        "{bash}"
    );
    assert!(run(&["completions", "zsh"]).contains("#compdef herald"));
    let man = run(&["man"]);
    assert!(man.contains(".TH herald 1"), "{man}");
    assert!(man.contains("check\\-config"), "{man}");
    let version = run(&["--version"]);
    assert!(version.contains(herald::COMMIT), "{version}");
    assert_ne!(herald::COMMIT, "unknown", "built from a git checkout");
}

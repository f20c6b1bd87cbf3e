//! The admin API against its own OpenAPI document (`/openapi.json`),
//! checked by a real client: schemathesis generates requests from the
//! document (valid and invalid), and every answer must be no 5xx, a
//! documented status, the documented content type and match the
//! documented schema. Bounded: a fixed number of examples per operation
//! and a time budget. schemathesis (pinned in `tests/api/requirements.txt`)
//! is installed into `target/py-schemathesis` the first time.

use std::time::Duration;

use herald::admin::{AdminConfig, AdminServer, AdminState};
use herald::daemon::{Daemon, DaemonConfig};
use herald::endpoint::Secret;

use crate::delivery::{emit_ticks, endpoint, fast_delivery, wait_state};
use crate::support::receiver::{Receiver, Reply};
use crate::support::TestDb;

const TOKEN: &str = "contract-test-token";

/// A herald delivering to one endpoint (`id`, at `receiver`'s `/c`) that
/// gives up after one attempt, with `count` events emitted and
/// `failed` of their deliveries failed, and its admin API behind `token`.
pub async fn with_failed_deliveries(
    id: &str,
    receiver: &Receiver,
    count: i64,
    failed: i64,
    token: &str,
) -> (TestDb, Daemon, AdminServer) {
    let db = TestDb::new().await;
    let mut delivery = fast_delivery();
    delivery.retry.max_attempts = 1;
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            endpoints: vec![endpoint(id, receiver.url("/c"))],
            delivery,
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts");
    emit_ticks(&db, count).await;
    wait_state(&db, id, "failed", failed).await;
    let server = AdminServer::start(
        &AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: Some(Secret::new(token)),
            names: Vec::new(),
        },
        AdminState::of(&daemon),
    )
    .expect("admin starts");
    (db, daemon, server)
}

/// An admin API over a herald with a delivered and a failed delivery.
async fn seeded() -> (TestDb, Daemon, AdminServer, Receiver) {
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 204 } else { 400 }));
    let (db, daemon, server) = with_failed_deliveries("contract", &receiver, 2, 1, TOKEN).await;
    (db, daemon, server, receiver)
}

#[actix_rt::test]
async fn the_document_is_openapi_3_1_and_names_every_route() {
    let (db, daemon, server, receiver) = seeded().await;
    let document: serde_json::Value =
        reqwest::get(format!("http://{}/openapi.json", server.local_addr))
            .await
            .expect("served without a token")
            .json()
            .await
            .expect("json");
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        document["openapi"]
    );
    let mut paths: Vec<&str> = document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/readyz",
            "/v1/decisions",
            "/v1/deliveries",
            "/v1/deliveries/{id}",
            "/v1/deliveries/{id}/replay",
            "/v1/endpoints",
            "/v1/endpoints/{id}/disable",
            "/v1/endpoints/{id}/enable",
            "/v1/endpoints/{id}/recover",
            "/v1/endpoints/{id}/test",
            "/v1/events",
            "/v1/events/{id}",
            "/v1/reload",
            "/v1/rollout-requests",
            "/v1/silences",
            "/v1/silences/{id}",
            "/v1/silences/{id}/expire",
            "/v1/windows",
        ]
    );
    assert!(document["components"]["schemas"]["ErrorBody"].is_object());
    // The OpenAPI Initiative's validator accepts it (unique operation ids,
    // valid schemas), as any client generator would need.
    let packages =
        crate::support::python::packages("tests/api/requirements.txt", "py-schemathesis");
    let file = tempfile::NamedTempFile::new().expect("tempfile");
    std::fs::write(file.path(), document.to_string()).expect("write");
    let validated = tokio::process::Command::new("python3")
        .env("PYTHONPATH", &packages)
        .env("PYTHONNOUSERSITE", "1")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .await
        .expect("python3 runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    assert!(
        validated.status.success(),
        "openapi-spec-validator: {}",
        said.chars().take(1500).collect::<String>()
    );
    // Filters with a fixed set of values say so.
    let status = &document["paths"]["/v1/deliveries"]["get"]["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "status").cloned())
        .unwrap_or_default();
    assert_eq!(
        status["schema"]["$ref"], "#/components/schemas/DeliveryState",
        "{status}"
    );
    assert_eq!(
        document["components"]["schemas"]["DeliveryState"]["enum"],
        serde_json::json!([
            "pending",
            "delivered",
            "failed",
            "filtered",
            "muted",
            "held"
        ])
    );
    server.stop().await;
    daemon.stop().await;
    receiver.stop().await;
    drop(db);
}

#[actix_rt::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_schema() {
    let packages =
        crate::support::python::packages("tests/api/requirements.txt", "py-schemathesis");
    let (db, daemon, server, receiver) = seeded().await;
    let report = tempfile::tempdir().expect("tempdir");
    let run = tokio::process::Command::new("python3")
        .env("PYTHONPATH", &packages)
        .env("PYTHONNOUSERSITE", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .args(["-c", "from schemathesis.cli import schemathesis; schemathesis()", "run"])
        .arg(format!("http://{}/openapi.json", server.local_addr))
        .args([
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "25",
            "--max-time",
            "90",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--report-dir",
        ])
        .arg(report.path())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("schemathesis stays within its budget")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{stderr}"
    );
    server.stop().await;
    daemon.stop().await;
    receiver.stop().await;
    drop(db);
}

//! Secret rotation with a grace period (issue 26): while an endpoint
//! carries its previous Standard Webhooks secret, every request has both
//! signatures in `webhook-signature`, and the official Standard Webhooks
//! library verifies it with only the old secret and with only the new one.

use std::io::Write as _;
use std::process::{Command, Stdio};

use herald::endpoint::{Endpoint, Secret, SecretRotation};

use crate::delivery::{emit_ticks, endpoint, fast_delivery, start, wait_state, SECRET};
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::TestDb;

const OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER: &str = "whsec_MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw";

/// Whether the official library verifies `received` with `secret`.
fn verifies(received: &Received, secret: &str) -> bool {
    let packages =
        crate::support::python::packages("tests/webhooks/requirements.txt", "py-webhooks");
    let request = serde_json::json!({
        "secret": secret,
        "body": String::from_utf8(received.raw.clone()).expect("utf-8 body"),
        "headers": {
            "webhook-id": received.webhook_id,
            "webhook-timestamp": received.timestamp,
            "webhook-signature": received.signature,
        },
    });
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/webhooks/verify.py"
        ))
        .env("PYTHONPATH", &packages)
        .env("PYTHONNOUSERSITE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python3 ends");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("verified") || said.contains("refused"),
        "{said}"
    );
    output.status.success()
}

fn rotating(id: &str, url: String, until: chrono::DateTime<chrono::Utc>) -> Endpoint {
    Endpoint {
        previous_secret: Some(SecretRotation {
            previous: Secret::new(OLD),
            until,
        }),
        ..endpoint(id, url)
    }
}

/// In the grace both signatures are sent; receivers holding either secret
/// verify with the official library, one holding neither does not. Past
/// the grace only the new secret signs.
#[actix_rt::test]
async fn during_a_rotation_either_secret_verifies_with_the_official_library() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let now = chrono::Utc::now();
    let daemon = start(
        &db,
        "one",
        vec![
            rotating(
                "rotating",
                receiver.url("/rotating"),
                now + chrono::Duration::hours(1),
            ),
            rotating(
                "rotated",
                receiver.url("/rotated"),
                now - chrono::Duration::seconds(1),
            ),
        ],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 1).await;
    wait_state(&db, "rotating", "delivered", 1).await;
    wait_state(&db, "rotated", "delivered", 1).await;
    let during = receiver.accepted("/rotating").remove(0);
    let signatures = during.signature.clone().unwrap_or_default();
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    assert!(
        verifies(&during, OLD),
        "a receiver with only the old secret"
    );
    assert!(
        verifies(&during, SECRET),
        "a receiver with only the new secret"
    );
    assert!(!verifies(&during, OTHER), "a receiver with neither");
    let after = receiver.accepted("/rotated").remove(0);
    assert_eq!(
        after
            .signature
            .clone()
            .unwrap_or_default()
            .split(' ')
            .count(),
        1
    );
    assert!(verifies(&after, SECRET));
    assert!(!verifies(&after, OLD), "the grace is over");
    daemon.stop().await;
    receiver.stop().await;
}

//! The operator console in a real browser: Debian's headless Chromium
//! driven over WebDriver (chromedriver + fantoccini). A seeded failed
//! delivery is seen, its attempts opened, Replay pressed, and the page
//! shows it delivered; a silence is created, holds a test event, and is
//! expired, letting it through. A screenshot goes to `target/console.png`.
//! Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` packages; `.ci/run` installs them, and so does this
//! test (apt-get) when they are missing.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support::receiver::{Receiver, Reply};

const TOKEN: &str = "console-test-token";
const DEADLINE: Duration = Duration::from_secs(30);
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and chromium, installed from Debian's packages if absent.
fn browser_installed() {
    if Path::new(CHROMEDRIVER).exists() && Path::new("/usr/bin/chromium").exists() {
        return;
    }
    let status = std::process::Command::new("apt-get")
        .args(["install", "-y", "-q", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .expect("apt-get runs");
    assert!(
        status.success() && Path::new(CHROMEDRIVER).exists(),
        "the console test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver"
    );
}

/// Wait until `find` gives `Some`, polling; panics with `what` at the deadline.
async fn until<T, F, Fut>(what: &str, mut find: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(found) = find().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the state cell of delivery `id` in the page's table.
async fn state_of(client: &Client, id: i64) -> Option<String> {
    let cell = client
        .find(Locator::Css(&format!(
            "tr[data-delivery-id='{id}'] td.state"
        )))
        .await
        .ok()?;
    cell.text().await.ok()
}

#[actix_rt::test]
async fn a_failed_delivery_is_replayed_from_the_console_in_chromium() {
    browser_installed();
    // The receiver refuses until the operator has fixed it.
    let fixed = Arc::new(AtomicBool::new(false));
    let receiver = Receiver::start({
        let fixed = fixed.clone();
        move |_, _| {
            Reply::Status(if fixed.load(Ordering::SeqCst) {
                204
            } else {
                400
            })
        }
    });
    let (db, daemon, server) =
        crate::api_contract::with_failed_deliveries("orders-hook", &receiver, 1, 1, TOKEN).await;
    let failed: i64 = sqlx::query_scalar("SELECT id FROM herald_delivery WHERE state = 'failed'")
        .fetch_one(&db.pool)
        .await
        .expect("the failed delivery");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut driver = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().expect("profile dir");
    let capabilities: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    }))
    .expect("capabilities");
    let webdriver = format!("http://127.0.0.1:{port}");
    let client = until("chromedriver to answer", || {
        let capabilities = capabilities.clone();
        let webdriver = webdriver.clone();
        async move {
            // Plain HTTP to chromedriver on loopback: no TLS stack needed.
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities)
                .connect(&webdriver)
                .await
                .ok()
        }
    })
    .await;

    client
        .goto(&format!("http://{}/", server.local_addr))
        .await
        .expect("the console loads");
    // The token prompt, then the console.
    let input = client
        .find(Locator::Id("token"))
        .await
        .expect("a token prompt");
    input.send_keys(TOKEN).await.expect("type the token");
    client
        .find(Locator::Css("#token-form button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    let state = until("the failed delivery in the table", || {
        state_of(&client, failed)
    })
    .await;
    assert_eq!(state, "failed");
    // Signed in: the token form is gone, not drawn under the console.
    let form = client
        .find(Locator::Id("token-form"))
        .await
        .expect("the form element");
    assert!(
        !form.is_displayed().await.expect("displayed?"),
        "the token form stays hidden once signed in"
    );
    let endpoint_row = client
        .find(Locator::Css("tr[data-endpoint-id='orders-hook']"))
        .await
        .expect("the endpoint is listed")
        .text()
        .await
        .expect("text");
    assert!(endpoint_row.contains("generic"), "{endpoint_row}");

    client
        .find(Locator::Id(&format!("details-{failed}")))
        .await
        .expect("a details button")
        .click()
        .await
        .expect("click");
    let attempts = until("the attempts drill-down", || async {
        let text = client
            .find(Locator::Id("attempts"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("400").then_some(text)
    })
    .await;
    assert!(attempts.contains("failed"), "{attempts}");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    std::fs::create_dir_all(&shots).expect("target/");
    std::fs::write(
        shots.join("console-failed.png"),
        client.screenshot().await.expect("screenshot"),
    )
    .expect("write the screenshot");

    fixed.store(true, Ordering::SeqCst);
    client
        .find(Locator::Id("replay"))
        .await
        .expect("a replay button for a failed delivery")
        .click()
        .await
        .expect("click");
    until("the page to show it delivered", || async {
        (state_of(&client, failed).await.as_deref() == Some("delivered")).then_some(())
    })
    .await;
    assert_eq!(
        receiver.accepted("/c").len(),
        1,
        "delivered once, after the replay"
    );

    // The drill-down shows the payload and each request as sent; a
    // delivered message can be resent from there.
    client
        .find(Locator::Id(&format!("details-{failed}")))
        .await
        .expect("details")
        .click()
        .await
        .expect("click");
    let shown = until("the payload and the requests", || async {
        let payload = client
            .find(Locator::Id("payload"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let requests = client
            .find(Locator::Id("requests"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (payload.contains("\"data\"") && requests.contains("Attempt 2 (replay by console)"))
            .then_some(requests)
    })
    .await;
    assert!(shown.contains("webhook-signature: v1,"), "{shown}");
    client
        .find(Locator::Id("replay"))
        .await
        .expect("a resend button for a delivered delivery")
        .click()
        .await
        .expect("click");
    until("the resend delivered", || async {
        (receiver.accepted("/c").len() == 2).then_some(())
    })
    .await;

    // A test event to this endpoint alone.
    client
        .find(Locator::Id("test-orders-hook"))
        .await
        .expect("a send-test button")
        .click()
        .await
        .expect("click");
    let test = until("the test event delivered", || async {
        receiver
            .accepted("/c")
            .into_iter()
            .find(|r| r.body["type"] == "herald.test")
    })
    .await;
    assert_eq!(test.body["data"]["requested_by"], "console");

    // A silence created in the console holds the next test event; expired
    // from the console, it lets it through.
    for (id, text) in [
        (
            "silence-matchers",
            r#"endpoint="orders-hook", type="herald.test""#,
        ),
        ("silence-comment", "deploy freeze"),
    ] {
        client
            .find(Locator::Id(id))
            .await
            .expect("a silence field")
            .send_keys(text)
            .await
            .expect("type");
    }
    client
        .find(Locator::Css("#silence-action option[value=hold]"))
        .await
        .expect("the hold option")
        .click()
        .await
        .expect("choose hold");
    client
        .find(Locator::Css("#silence-form button[type=submit]"))
        .await
        .expect("silence")
        .click()
        .await
        .expect("click");
    let silence_id: String = until("the silence stored", || async {
        sqlx::query_scalar("SELECT id::text FROM herald_silence WHERE action = 'hold'")
            .fetch_optional(&db.pool)
            .await
            .ok()
            .flatten()
    })
    .await;
    let row = until("the silence listed as active", || async {
        let text = client
            .find(Locator::Css(&format!("tr[data-silence-id='{silence_id}']")))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("active").then_some(text)
    })
    .await;
    assert!(
        row.contains(r#"endpoint="orders-hook""#) && row.contains("deploy freeze · console"),
        "{row}"
    );
    client
        .find(Locator::Id("test-orders-hook"))
        .await
        .expect("a send-test button")
        .click()
        .await
        .expect("click");
    until("the second test event held", || async {
        let held: i64 =
            sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE state = 'held'")
                .fetch_one(&db.pool)
                .await
                .ok()?;
        (held == 1).then_some(())
    })
    .await;
    until("the held delivery says why", || async {
        let rows = client
            .find_all(Locator::Css("#deliveries tbody tr"))
            .await
            .ok()?;
        for row in rows {
            let text = row.text().await.ok()?;
            if text.contains("held by silence:") {
                return Some(());
            }
        }
        None
    })
    .await;
    let tests = |r: &crate::support::receiver::Received| r.body["type"] == "herald.test";
    assert_eq!(
        receiver.accepted("/c").iter().filter(|r| tests(r)).count(),
        1
    );
    until("the silence row to say it holds one", || async {
        let text = client
            .find(Locator::Css(&format!("tr[data-silence-id='{silence_id}']")))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("hold 1").then_some(())
    })
    .await;
    std::fs::write(
        shots.join("console-silence.png"),
        client.screenshot().await.expect("screenshot"),
    )
    .expect("write the screenshot");
    client
        .find(Locator::Id(&format!("expire-{silence_id}")))
        .await
        .expect("an expire button")
        .click()
        .await
        .expect("click");
    until("the held test event delivered", || async {
        (receiver.accepted("/c").iter().filter(|r| tests(r)).count() == 2).then_some(())
    })
    .await;
    until("the expired silence gone from the list", || async {
        client
            .find(Locator::Css(&format!("tr[data-silence-id='{silence_id}']")))
            .await
            .is_err()
            .then_some(())
    })
    .await;

    // Found by the webhook-id a receiver logged: only that delivery listed.
    let webhook_id = test.webhook_id.clone().expect("webhook-id");
    client
        .find(Locator::Id("filter-event"))
        .await
        .expect("the search box")
        .send_keys(&webhook_id)
        .await
        .expect("type");
    client
        .find(Locator::Css("#filters button[type=submit]"))
        .await
        .expect("filter")
        .click()
        .await
        .expect("click");
    until("only the test event's delivery listed", || async {
        let rows = client
            .find_all(Locator::Css("#deliveries tbody tr"))
            .await
            .ok()?;
        let first = rows.first()?.text().await.ok()?;
        (rows.len() == 1 && first.contains("herald.test")).then_some(())
    })
    .await;
    std::fs::write(
        shots.join("console.png"),
        client.screenshot().await.expect("screenshot"),
    )
    .expect("write the screenshot");

    client.close().await.expect("close the browser");
    let _ = driver.kill().await;
    server.stop().await;
    daemon.stop().await;
    receiver.stop().await;
}

//! Where herald may send: project webhooks (written by host-app users) that
//! point inside — herald's own admin API, loopback in any spelling, a name
//! that resolves to loopback, cloud metadata, private ranges — are never
//! connected to; an operator's allowed range is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald::delivery::destination::NetworkPolicy;
use herald::endpoint::{Endpoint, EndpointSource, Platform, Secret};
use herald::messages::delivery::GetInvalidEndpoints;

use crate::delivery::{fast_delivery, start, wait_state, SECRET};
use crate::support::receiver::{Receiver, Reply};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(60);

/// A loopback port that counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    actix_rt::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, accepted)
}

/// Project webhooks aimed inside are never attempted: each is reported
/// invalid (or, for a name that resolves inside, refused at connect time
/// and disabled) and no connection reaches the loopback port. The invalid
/// ones' deliveries do not stay pending forever: after the orphan grace
/// they end failed, with the reason.
#[actix_rt::test]
async fn project_webhooks_aimed_inside_are_never_connected_to() {
    let db = TestDb::new().await;
    let (port, accepted) = counting_listener().await;
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('p', 'P') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("project");
    let urls = [
        format!("http://127.0.0.1:{port}/v1/endpoints/ops/disable"), // the admin API
        format!("https://127.1:{port}/"),
        format!("https://2130706433:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        "https://169.254.169.254/latest/meta-data/".to_string(),
        "https://10.0.0.1/hook".to_string(),
        "http://hooks.example.com/plain-http".to_string(),
        format!("https://localhost:{port}/by-name"),
    ];
    let mut ids = Vec::new();
    for url in &urls {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO project_webhook (project_id, type, url, event_types)
             VALUES ($1, 'slack', $2, '{*}') RETURNING id",
        )
        .bind(project)
        .bind(url)
        .fetch_one(&db.pool)
        .await
        .expect("webhook");
        ids.push(Endpoint::project_webhook_id(id));
    }
    let mut config = fast_delivery();
    config.orphan_grace = Duration::from_millis(200);
    let daemon = start(&db, "one", Vec::new(), config).await;
    sqlx::query("SELECT herald_emit('user.created', '{\"data\":{}}', $1)")
        .bind(project)
        .execute(&db.pool)
        .await
        .expect("emit");

    // Every literal address is refused before use and reported.
    let invalid = wait_until("the refused endpoints reported", DEADLINE, || async {
        let invalid = daemon.delivery.send(GetInvalidEndpoints).await.ok()?;
        (invalid.len() >= urls.len() - 1).then_some(invalid)
    })
    .await;
    for id in &ids[..urls.len() - 1] {
        let (_, reason) = invalid
            .iter()
            .find(|(invalid, _)| invalid == id)
            .unwrap_or_else(|| panic!("{id} reported invalid: {invalid:?}"));
        assert!(reason.starts_with("url:"), "{reason}");
    }
    // The name that resolves to loopback is refused when resolved: the
    // endpoint is disabled with the reason, and nothing is sent.
    let by_name = &ids[urls.len() - 1];
    let reason = wait_until("the by-name endpoint disabled", DEADLINE, || async {
        daemon.store.endpoint_disabled(by_name).await.ok().flatten()
    })
    .await;
    assert!(reason.contains("refused"), "{reason}");
    assert!(reason.contains("loopback"), "{reason}");
    let invalid_ids: Vec<String> = ids[..urls.len() - 1].to_vec();
    let errors = wait_until("the invalid webhooks' rows failed", DEADLINE, || async {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT state, last_error FROM herald_delivery WHERE endpoint_id = ANY($1)",
        )
        .bind(&invalid_ids)
        .fetch_all(&db.pool)
        .await
        .ok()?;
        (rows.len() == invalid_ids.len() && rows.iter().all(|(state, _)| state == "failed"))
            .then_some(rows)
    })
    .await;
    for (_, error) in errors {
        assert!(error.is_some_and(|e| e.contains("invalid project webhook")));
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    daemon.stop().await;
}

fn by_name(receiver: &Receiver) -> Endpoint {
    Endpoint {
        id: "by-name".into(),
        source: EndpointSource::Config,
        platform: Platform::Generic,
        url: format!("http://localhost:{}/by-name", receiver.addr.port())
            .parse()
            .expect("url"),
        secret: Some(Secret::new(SECRET)),
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: herald::endpoint::Ordering::Strict,
        presentation: Default::default(),
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    }
}

/// A name that resolves to loopback is refused by default, and reached
/// once the operator allows the range.
#[actix_rt::test]
async fn an_allowed_range_is_reached_and_only_then() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let daemon = start(&db, "one", vec![by_name(&receiver)], fast_delivery()).await;
    crate::delivery::emit_ticks(&db, 1).await;
    let reason = wait_until("refused by default", DEADLINE, || async {
        daemon
            .store
            .endpoint_disabled("by-name")
            .await
            .ok()
            .flatten()
    })
    .await;
    assert!(reason.contains("refused"), "{reason}");
    assert!(receiver.received().is_empty());
    daemon.stop().await;

    let db = TestDb::new().await;
    let mut config = fast_delivery();
    config.network = NetworkPolicy::new(vec![
        "127.0.0.0/8".parse().expect("cidr"),
        "::1/128".parse().expect("cidr"),
    ]);
    let daemon = start(&db, "one", vec![by_name(&receiver)], config).await;
    crate::delivery::emit_ticks(&db, 2).await;
    wait_state(&db, "by-name", "delivered", 2).await;
    daemon.stop().await;
    receiver.stop().await;
}

/// A whole scenario with known secrets and URL tokens — a Standard Webhooks
/// secret, a Slack-style token in a URL path, credentials and a token in a
/// project webhook URL — and none of them appears in any log line or any
/// admin API response.
#[actix_rt::test]
async fn secrets_and_url_tokens_never_reach_logs_or_the_api() {
    use herald::admin::{AdminConfig, AdminServer, AdminState};

    const PATH_TOKEN: &str = "SLACKTOKENSECRET123";
    const PASSWORD: &str = "pa55w0rdXYZ";
    const QUERY_TOKEN: &str = "QUERYTOKEN987";
    const ROW_SECRET: &str = "whsec_cm93LXNlY3JldC1yb3ctc2VjcmV0LXJvdy1zZWNyZXQ=";
    let (logs, _guard) = crate::support::logs::LogCapture::install();
    let db = TestDb::new().await;
    let receiver = Receiver::start(|n, path| {
        if path.ends_with(PATH_TOKEN) && n == 0 {
            Reply::Status(500)
        } else {
            Reply::Status(204)
        }
    });
    let generic = crate::delivery::endpoint("ops", receiver.url("/ops"));
    let slack = Endpoint {
        id: "chat".into(),
        platform: Platform::Slack,
        secret: None,
        url: receiver
            .url(&format!("/services/T0/B0/{PATH_TOKEN}"))
            .parse()
            .expect("url"),
        ..generic.clone()
    };
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('p', 'P') RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("project");
    sqlx::query(
        "INSERT INTO project_webhook (project_id, type, url, event_types, secret)
         VALUES ($1, 'generic', $2, '{*}', $3)",
    )
    .bind(project)
    .bind(format!(
        "https://user:{PASSWORD}@hooks.invalid/x?token={QUERY_TOKEN}"
    ))
    .bind(ROW_SECRET)
    .execute(&db.pool)
    .await
    .expect("webhook");
    let mut config = fast_delivery();
    config.retry.max_attempts = 2;
    let daemon = start(&db, "one", vec![generic, slack], config).await;
    let admin = AdminServer::start(
        &AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: None,
            names: Vec::new(),
        },
        AdminState::of(&daemon),
    )
    .expect("admin");
    sqlx::query("SELECT herald_emit('user.created', '{\"data\":{}}', $1)")
        .bind(project)
        .execute(&db.pool)
        .await
        .expect("emit");
    wait_state(&db, "ops", "delivered", 1).await;
    wait_state(&db, "chat", "delivered", 1).await;
    let webhook = wait_until("the project webhook's delivery ends", DEADLINE, || async {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM herald_delivery WHERE endpoint_id LIKE 'project-webhook-%'",
        )
        .fetch_optional(&db.pool)
        .await
        .ok()?;
        state.filter(|s| s != "pending")
    })
    .await;
    assert_eq!(webhook, "failed", "hooks.invalid does not resolve");

    let base = format!("http://{}", admin.local_addr);
    let http = reqwest::Client::new();
    let mut bodies = Vec::new();
    for path in ["/v1/endpoints", "/v1/deliveries?limit=100", "/metrics"] {
        bodies.push(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("body"),
        );
    }
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM herald_delivery")
        .fetch_all(&db.pool)
        .await
        .expect("ids");
    for id in ids {
        bodies.push(
            http.get(format!("{base}/v1/deliveries/{id}"))
                .send()
                .await
                .expect("get")
                .text()
                .await
                .expect("body"),
        );
    }
    let lines: Vec<String> = logs
        .lines()
        .into_iter()
        .map(|line| format!("{line:?}"))
        .collect();
    assert!(lines.len() > 10, "the scenario logged");
    for secret in [SECRET, PATH_TOKEN, PASSWORD, QUERY_TOKEN, ROW_SECRET] {
        for line in &lines {
            assert!(!line.contains(secret), "{secret} in a log line: {line}");
        }
        for body in &bodies {
            assert!(
                !body.contains(secret),
                "{secret} in an API response: {body}"
            );
        }
    }
    admin.stop().await;
    daemon.stop().await;
    receiver.stop().await;
}

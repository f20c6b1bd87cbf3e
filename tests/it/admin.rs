//! The admin API over real HTTP: health, readiness, metrics, custom events,
//! JSON errors, and bearer-token authentication.

use std::time::Duration;

use herald::admin::{AdminConfig, AdminServer, AdminStartError, AdminState};
use herald::daemon::{Daemon, DaemonConfig};
use herald::endpoint::Secret;
use serde_json::Value;

use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(10);

struct Admin {
    db: TestDb,
    daemon: Daemon,
    server: AdminServer,
    base: String,
    http: reqwest::Client,
}

impl Admin {
    async fn start(token: Option<&str>) -> Admin {
        let db = TestDb::new().await;
        let daemon = Daemon::start(db.options.clone(), DaemonConfig::default())
            .await
            .expect("daemon starts");
        let config = AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: token.map(Secret::new),
        };
        let state = AdminState {
            store: daemon.store.clone(),
            metrics: daemon.metrics.clone(),
        };
        let server = AdminServer::start(&config, state).expect("admin starts");
        let base = format!("http://{}", server.local_addr);
        Admin {
            db,
            daemon,
            server,
            base,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn stop(self) {
        self.server.stop().await;
        self.daemon.stop().await;
        drop(self.db);
    }
}

async fn json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.expect("JSON body");
    (status, body)
}

#[actix_rt::test]
async fn health_readiness_and_metrics() {
    let admin = Admin::start(None).await;
    let (status, body) = json(
        admin
            .http
            .get(admin.url("/healthz"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    // Ready once the listener has connected.
    wait_until("readyz to answer 200", DEADLINE, || async {
        let response = admin.http.get(admin.url("/readyz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;

    let text = admin
        .http
        .get(admin.url("/metrics"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(text.contains("herald_listener_connected 1"), "{text}");
    admin.stop().await;
}

#[actix_rt::test]
async fn custom_events_are_emitted_and_bad_requests_explained() {
    let admin = Admin::start(None).await;
    sqlx::query("INSERT INTO herald_endpoint (id, event_types) VALUES ('hook', '{user.created}')")
        .execute(&admin.db.pool)
        .await
        .expect("endpoint");

    let response = admin
        .http
        .post(admin.url("/v1/events"))
        .json(&serde_json::json!({"type": "user.created", "data": {"user": "ada"}}))
        .send()
        .await
        .expect("post");
    let (status, body) = json(response).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deliveries"], 1);
    let id: uuid::Uuid = body["id"].as_str().expect("id").parse().expect("uuid");
    let stored = admin
        .daemon
        .store
        .event(id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.data["user"], "ada");

    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/events"))
            .json(&serde_json::json!({"type": "not a type"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("dotted name"),
        "{body}"
    );

    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/events"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().expect("message").contains("JSON"),
        "{body}"
    );

    let (status, body) = json(
        admin
            .http
            .get(admin.url("/v1/nothing"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["error"]
        .as_str()
        .expect("message")
        .contains("/v1/nothing"));
    admin.stop().await;
}

#[actix_rt::test]
async fn a_token_guards_every_route_but_healthz() {
    let admin = Admin::start(Some("s3cret-token")).await;
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(
        status(
            admin
                .http
                .get(admin.url("/healthz"))
                .send()
                .await
                .expect("get")
        ),
        200
    );
    let (code, body) = json(
        admin
            .http
            .get(admin.url("/metrics"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(code, 401);
    assert!(body["error"].as_str().expect("message").contains("token"));
    let wrong = admin
        .http
        .get(admin.url("/metrics"))
        .bearer_auth("guess")
        .send()
        .await
        .expect("get");
    assert_eq!(status(wrong), 401);
    let right = admin
        .http
        .get(admin.url("/metrics"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("get");
    assert_eq!(status(right), 200);
    admin.stop().await;
}

#[actix_rt::test]
async fn binding_off_loopback_without_a_token_is_refused() {
    let db = TestDb::new().await;
    let state = AdminState {
        store: herald::store::Store::from_pool(db.pool.clone()),
        metrics: std::sync::Arc::new(herald::metrics::Metrics::new()),
    };
    let config = AdminConfig {
        addr: "0.0.0.0:0".parse().expect("addr"),
        token: None,
    };
    let error = AdminServer::start(&config, state).err().expect("refused");
    assert!(matches!(error, AdminStartError::TokenRequired { .. }));
    assert!(error.to_string().contains("token"), "{error}");
}

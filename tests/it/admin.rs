//! The admin API over real HTTP: health, readiness, metrics, custom events,
//! JSON errors, and bearer-token authentication.

use std::time::Duration;

use actix::Actor as _;
use herald::admin::{AdminConfig, AdminServer, AdminStartError, AdminState};
use herald::daemon::{Daemon, DaemonConfig};
use herald::endpoint::Secret;
use serde_json::Value;

use crate::support::receiver::{Receiver, Reply};
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
        Admin::with_endpoints(token, Vec::new()).await
    }

    async fn with_endpoints(
        token: Option<&str>,
        endpoints: Vec<herald::endpoint::Endpoint>,
    ) -> Admin {
        let db = TestDb::new().await;
        let mut delivery = crate::delivery::fast_delivery();
        delivery.retry.max_attempts = 1;
        let config = DaemonConfig {
            endpoints,
            delivery,
            ..DaemonConfig::default()
        };
        let daemon = Daemon::start(db.options.clone(), config)
            .await
            .expect("daemon starts");
        let config = AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: token.map(Secret::new),
            names: Vec::new(),
        };
        let state = AdminState::of(&daemon);
        let server = AdminServer::start(&config, state).expect("admin starts");
        let base = format!("http://{}", server.local_addr);
        Admin {
            db,
            daemon,
            server,
            base,
            http: crate::support::cli::json_client(),
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

/// Run the herald binary against this admin API; returns its stdout.
async fn herald_cli(admin: &Admin, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(args)
        .args(["--admin-url", &admin.base])
        .env_remove("HERALD_ADMIN_TOKEN")
        .output()
        .await
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "herald {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
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
    for family in [
        "herald_delivery_latency_seconds",
        "herald_outbox_pending",
        "herald_leases_held",
        "herald_plan_supervisors",
    ] {
        assert!(text.contains(family), "{family} missing: {text}");
    }
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

    // By id: herald fills in the project's snapshot.
    let project: i64 = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title) VALUES ('payments', 'Payments') RETURNING id",
    )
    .fetch_one(&admin.db.pool)
    .await
    .expect("project");
    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/events"))
            .json(&serde_json::json!({"type": "user.created", "project_id": project, "data": {}}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id: uuid::Uuid = body["id"].as_str().expect("id").parse().expect("uuid");
    let stored = admin
        .daemon
        .store
        .event(id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        stored.project.map(|p| (p.id, p.resource_id)),
        Some((project, "payments".to_string()))
    );

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

    // An oversized body is 413, not a parse error.
    let huge = serde_json::json!({"type": "user.created", "data": "x".repeat(3 * 1024 * 1024)});
    let (status, _) = json(
        admin
            .http
            .post(admin.url("/v1/events"))
            .json(&huge)
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 413);

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
    // Found by the API fuzz run: a project snapshot herald_emit refuses
    // (a 19-digit id) was a 500; it is the caller's 400, with the reason.
    let refused = admin
        .http
        .post(admin.url("/v1/events"))
        .json(&serde_json::json!({"type": "user.created", "data": {},
            "project": {"id": i64::MIN, "resource_id": "p", "title": "P"}}))
        .send()
        .await
        .expect("post");
    let (status, body) = json(refused).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("project")),
        "{body}"
    );
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
    let admin = Admin::start(None).await;
    let config = AdminConfig {
        addr: "0.0.0.0:0".parse().expect("addr"),
        token: None,
        names: Vec::new(),
    };
    let error = AdminServer::start(&config, AdminState::of(&admin.daemon))
        .err()
        .expect("refused");
    assert!(matches!(error, AdminStartError::TokenRequired { .. }));
    assert!(error.to_string().contains("token"), "{error}");
    admin.stop().await;
}

/// Endpoints are listed without secrets; enable/disable answer 404 for
/// unknown ids; the delivery log lists with filters and a cursor, rejects
/// bad filters, shows attempts, and a replayed failed delivery succeeds.
#[actix_rt::test]
async fn endpoints_and_the_delivery_log() {
    let receiver = Receiver::start(|_, _| Reply::Status(500));
    let hook = crate::delivery::endpoint("hook", receiver.url("/hook"));
    let admin = Admin::with_endpoints(None, vec![hook]).await;
    let get = |path: &str| admin.http.get(admin.url(path)).send();
    let post = |path: &str| admin.http.post(admin.url(path)).send();

    let (status, body) = json(get("/v1/endpoints").await.expect("get")).await;
    assert_eq!(status, 200);
    assert_eq!(body["endpoints"][0]["id"], "hook");
    assert_eq!(body["endpoints"][0]["signed"], true);
    assert!(
        !body.to_string().contains(crate::delivery::SECRET),
        "no secret in listings"
    );
    assert_eq!(
        json(post("/v1/endpoints/nope/disable").await.expect("post"))
            .await
            .0,
        404
    );

    crate::delivery::emit_ticks(&admin.db, 2).await;
    wait_until("both deliveries failed", DEADLINE, || async {
        (crate::delivery::count_state(&admin.db, "hook", "failed").await == 2).then_some(())
    })
    .await;

    let (status, page1) = json(
        get("/v1/deliveries?status=failed&limit=1")
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(page1["deliveries"].as_array().expect("list").len(), 1);
    let cursor = page1["next_cursor"].as_i64().expect("cursor");
    let (_, page2) = json(
        get(&format!(
            "/v1/deliveries?status=failed&limit=1&cursor={cursor}"
        ))
        .await
        .expect("get"),
    )
    .await;
    let second = page2["deliveries"][0]["id"].as_i64().expect("id");
    assert!(second < cursor, "pages go back in time");
    let (_, by_type) = json(
        get("/v1/deliveries?event_type=test.tick&endpoint=hook&since=1h")
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(by_type["deliveries"].as_array().expect("list").len(), 2);

    for bad in [
        "/v1/deliveries?status=lost",
        "/v1/deliveries?since=yesterday",
        "/v1/deliveries?limit=0",
        "/v1/deliveries?colour=red",
        "/v1/deliveries/abc",
    ] {
        let (status, body) = json(get(bad).await.expect("get")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    assert_eq!(
        json(get("/v1/deliveries/999999").await.expect("get"))
            .await
            .0,
        404
    );
    assert_eq!(
        json(post("/v1/deliveries/999999/replay").await.expect("post"))
            .await
            .0,
        404
    );

    let (status, shown) = json(get(&format!("/v1/deliveries/{second}")).await.expect("get")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["delivery"]["state"], "failed");
    assert_eq!(shown["attempts"][0]["http_status"], 500);

    // The CLI reads the same log through the admin API.
    let table = herald_cli(&admin, &["deliveries", "--status", "failed"]).await;
    assert!(
        table.starts_with("ID") && table.matches("failed").count() == 2,
        "{table}"
    );
    let listed: Value =
        serde_json::from_str(&herald_cli(&admin, &["deliveries", "--json"]).await).expect("JSON");
    assert_eq!(listed.as_array().expect("list").len(), 2);

    receiver.set(|_, _| Reply::Status(200));
    let (status, _) = json(
        post(&format!("/v1/deliveries/{second}/replay"))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 202);
    wait_until("the replay delivered", DEADLINE, || async {
        let (_, shown) = json(get(&format!("/v1/deliveries/{second}")).await.ok()?).await;
        (shown["delivery"]["state"] == "delivered").then_some(())
    })
    .await;
    let (status, _) = json(
        post(&format!("/v1/deliveries/{second}/replay"))
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 202, "a delivered message is resent too");
    wait_until("the resend delivered", DEADLINE, || async {
        let (_, shown) = json(get(&format!("/v1/deliveries/{second}")).await.ok()?).await;
        (shown["delivery"]["state"] == "delivered" && shown["attempts"][2]["attempt"] == 3)
            .then_some(())
    })
    .await;
    let replayed = herald_cli(&admin, &["replay", "--all-failed"]).await;
    assert!(replayed.contains("1 of 1"), "{replayed}");
    wait_until("every delivery delivered", DEADLINE, || async {
        (crate::delivery::count_state(&admin.db, "hook", "delivered").await == 2).then_some(())
    })
    .await;

    assert_eq!(
        json(post("/v1/endpoints/hook/disable").await.expect("post"))
            .await
            .0,
        200
    );
    let (_, body) = json(get("/v1/endpoints").await.expect("get")).await;
    assert_eq!(
        body["endpoints"][0]["state"], "disabled_by_operator",
        "{body}"
    );
    assert_eq!(
        body["endpoints"][0]["disabled_reason"],
        "disabled by an operator"
    );
    assert!(
        body["endpoints"][0].get("enabled").is_none(),
        "one field says it"
    );
    assert_eq!(
        json(post("/v1/endpoints/hook/enable").await.expect("post"))
            .await
            .0,
        200
    );
    admin.stop().await;
    receiver.stop().await;
}

/// `POST /v1/reload` swaps in a valid config file atomically; a bad file is
/// refused with the reason and the old endpoints stay.
#[actix_rt::test]
async fn reload_takes_a_valid_file_and_keeps_the_old_on_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("herald.yaml");
    std::fs::write(
        dir.path().join("sink_secret"),
        format!("{}\n", crate::delivery::SECRET),
    )
    .expect("secret");
    let write = |ids: &[&str]| {
        let mut text = String::from("endpoints:\n");
        for id in ids {
            text.push_str(&format!(
                "  - id: {id}\n    type: generic\n    url: http://127.0.0.1:9/{id}\n    secret: sink_secret\n    events: [\"*\"]\n"
            ));
        }
        std::fs::write(&config, text).expect("config");
    };
    write(&["first"]);
    let mut admin = Admin::start(None).await;
    admin.server.stop().await;
    let mut state = AdminState::of(&admin.daemon);
    state.config_source = Some(herald::config::Source {
        path: config.clone(),
        secrets_dir: dir.path().to_path_buf(),
        explicit: true,
    });
    admin.server = AdminServer::start(
        &AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: None,
            names: Vec::new(),
        },
        state,
    )
    .expect("admin starts");
    admin.base = format!("http://{}", admin.server.local_addr);
    let ids = |body: Value| -> Vec<String> {
        body["endpoints"]
            .as_array()
            .expect("list")
            .iter()
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect()
    };

    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/reload"))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["endpoints"].as_i64()),
        (200, Some(1)),
        "{body}"
    );
    write(&["first", "second"]);
    let (status, _) = json(
        admin
            .http
            .post(admin.url("/v1/reload"))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = json(
        admin
            .http
            .get(admin.url("/v1/endpoints"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(ids(listed), ["first", "second"]);
    assert_eq!(admin.daemon.metrics.config_last_reload_success.get(), 1);
    assert!(admin.daemon.metrics.config_last_reload_timestamp.get() > 0);

    std::fs::write(
        &config,
        "endpoints:\n  - id: broken\n    type: pager\n    url: ftp://x\n",
    )
    .expect("config");
    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/reload"))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(admin.daemon.metrics.config_last_reload_success.get(), 0);
    let message = body["error"].as_str().expect("message");
    assert!(
        message.contains("broken") && message.contains("previous"),
        "{message}"
    );
    let (_, listed) = json(
        admin
            .http
            .get(admin.url("/v1/endpoints"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(ids(listed), ["first", "second"], "the old config stays");

    // An empty (half-written) file is refused too, not read as "no endpoints".
    std::fs::write(&config, "").expect("empty config");
    let (status, body) = json(
        admin
            .http
            .post(admin.url("/v1/reload"))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, listed) = json(
        admin
            .http
            .get(admin.url("/v1/endpoints"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(ids(listed), ["first", "second"], "the old config stays");
    admin.stop().await;
}

/// `kill -HUP` makes a running herald reload its config file; a bad file is
/// logged and the old endpoints stay.
#[actix_rt::test]
async fn sighup_reloads_the_config_file() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("herald.yaml");
    std::fs::write(dir.path().join("sink_secret"), crate::delivery::SECRET).expect("secret");
    let write = |ids: &[&str]| {
        let mut text = String::from("endpoints:\n");
        for id in ids {
            text.push_str(&format!(
                "  - id: {id}\n    type: generic\n    url: http://127.0.0.1:9/{id}\n    secret: sink_secret\n    events: [\"*\"]\n"
            ));
        }
        std::fs::write(&config, text).expect("config");
    };
    write(&["first"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let log = dir.path().join("herald.log");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["run", "--database-url", &db.url, "--node-id", "sighup"])
        .arg("--config")
        .arg(&config)
        .arg("--secrets-dir")
        .arg(dir.path())
        .args(["--admin-addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .kill_on_drop(true)
        .spawn()
        .expect("herald starts");
    let pid = Pid::from_raw(child.id().expect("pid") as i32);
    let http = reqwest::Client::new();
    // No token given: herald generates one into its data directory (0600).
    let token_file = dir.path().join("data").join("admin-token");
    let token = wait_until("the generated admin token", DEADLINE, || async {
        let text = std::fs::read_to_string(&token_file).ok()?;
        Some(text.trim().to_owned()).filter(|t| !t.is_empty())
    })
    .await;
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&token_file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only herald's user reads the token");
    let endpoints = || async {
        let body: Value = http
            .get(format!("http://127.0.0.1:{port}/v1/endpoints"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let ids: Vec<String> = body["endpoints"]
            .as_array()?
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_owned))
            .collect();
        Some(ids)
    };
    wait_until("herald serving its first config", DEADLINE, || async {
        (endpoints().await? == ["first"]).then_some(())
    })
    .await;

    // Loopback is no excuse: no token, no answer (but health stays open).
    let base = format!("http://127.0.0.1:{port}");
    let anonymous = http
        .get(format!("{base}/v1/endpoints"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let health = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_ne!(health.status(), 401);
    // A browser's cross-site POSTs cannot pass: text/plain, or a foreign Origin.
    let plain = http
        .post(format!("{base}/v1/reload"))
        .header("authorization", format!("bearer {token}"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(plain.status(), 415);
    // A POST with no body at all is no form: `curl -X POST …/v1/reload`.
    let bare = http
        .post(format!("{base}/v1/reload"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("post");
    let bare_status = bare.status();
    let bare_body = bare.text().await.unwrap_or_default();
    assert!(
        bare_status == 200 || bare_status == 400,
        "{bare_status} {bare_body}"
    );
    let bare_foreign = http
        .post(format!("{base}/v1/reload"))
        .header("authorization", format!("Bearer {token}"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("post");
    assert_eq!(bare_foreign.status(), 403);
    let foreign = http
        .post(format!("{base}/v1/reload"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), 403);
    let rebound = http
        .get(format!("{base}/v1/endpoints"))
        .header("host", format!("evil.example:{port}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(
        rebound.status(),
        403,
        "DNS rebinding: a foreign Host is refused"
    );
    // The CLI on the same machine finds the generated token and the admin
    // address (not the default :8080) by itself.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("data").join("admin-url"))
            .expect("admin-url")
            .trim(),
        base
    );
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["deliveries", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("HERALD_ADMIN_TOKEN")
        .env_remove("HERALD_ADMIN_TOKEN_FILE")
        .env_remove("HERALD_ADMIN_URL")
        .output()
        .await
        .expect("cli runs");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );

    write(&["first", "second"]);
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    wait_until("the reloaded endpoints", DEADLINE, || async {
        (endpoints().await? == ["first", "second"]).then_some(())
    })
    .await;

    std::fs::write(&config, "endpoints: [oops").expect("bad config");
    kill(pid, Signal::SIGHUP).expect("SIGHUP");
    wait_until("the failed reload logged", DEADLINE, || async {
        std::fs::read_to_string(&log)
            .ok()?
            .contains("config.reload_failed")
            .then_some(())
    })
    .await;
    assert_eq!(
        endpoints().await.expect("still serving"),
        ["first", "second"]
    );

    kill(pid, Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("herald stops")
        .expect("status");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// With the database unreachable, `/readyz` says so at once (503, well
/// before the pool's acquire timeout) and `/metrics` still serves herald's
/// own metrics.
#[actix_rt::test]
async fn readiness_and_metrics_answer_while_the_database_is_down() {
    use herald::actors::EndpointLeases;
    use herald::metrics::Metrics;
    use herald::store::Store;

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let options = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("herald");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options);
    let store = Store::from_pool(pool);
    let metrics = std::sync::Arc::new(Metrics::new());
    let delivery = EndpointLeases::new(
        store.clone(),
        "down".into(),
        herald::delivery::DeliveryConfig::default(),
        metrics.clone(),
        herald::delivery::http::HttpSender::new(
            Duration::from_secs(1),
            std::sync::Arc::new(herald::delivery::destination::NetworkPolicy::default()),
            1,
        )
        .expect("an HTTP sender"),
        herald::messages::delivery::SetEndpoints {
            endpoints: Vec::new(),
            links: Default::default(),
        },
        herald::delivery::recorder::Recorder::start(store.clone()),
    )
    .start();
    let state = AdminState {
        store,
        metrics,
        delivery,
        config_source: None,
        plans: None,
    };
    let config = AdminConfig {
        addr: "127.0.0.1:0".parse().expect("addr"),
        token: None,
        names: Vec::new(),
    };
    let server = AdminServer::start(&config, state).expect("admin starts");
    // Well under the pool's 30 s acquire timeout.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let base = format!("http://{}", server.local_addr);
    let ready = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz answers");
    assert_eq!(ready.status(), 503);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics answers");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("body");
    assert!(text.contains("herald_"), "{text}");
    // Routes that need the database say it is unavailable (503, as their
    // documents say), within the client's 5 s — not a 500 after the pool's 30 s.
    for path in ["/v1/endpoints", "/v1/deliveries", "/v1/rollout-requests"] {
        let answer = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("answers in time");
        assert_eq!(answer.status(), 503, "{path}");
        let body: Value = answer.json().await.expect("json");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("database")),
            "{path}: {body}"
        );
    }
    server.stop().await;
}

/// Found by the API fuzz run (`api_contract`): a NUL character, which
/// PostgreSQL cannot store, in an event's data or in a delivery-log filter
/// was a 500 "database error"; it is the client's 400.
#[actix_rt::test]
async fn nul_characters_are_a_bad_request_not_a_server_error() {
    let admin = Admin::start(None).await;
    let response = admin
        .http
        .post(admin.url("/v1/events"))
        .json(&serde_json::json!({"type": "user.created", "data": {"a\u{0}": [{"b": "c\u{0}"}]}}))
        .send()
        .await
        .expect("post");
    let (status, body) = json(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("NUL")),
        "{body}"
    );
    for filter in ["event_type", "endpoint"] {
        let response = admin
            .http
            .get(admin.url(&format!("/v1/deliveries?{filter}=x%00y")))
            .send()
            .await
            .expect("get");
        let (status, body) = json(response).await;
        assert_eq!(status, 400, "{filter}: {body}");
    }
    admin.stop().await;
}

/// An endpoint herald cannot use is listed with its state and reason, its
/// waiting deliveries say why they wait, and an operator can disable it.
#[actix_rt::test]
async fn an_invalid_endpoints_deliveries_say_why_they_wait() {
    let inside = crate::delivery::endpoint("inside", "https://10.0.0.1/x".into());
    let admin = Admin::with_endpoints(None, vec![inside]).await;
    crate::delivery::emit_ticks(&admin.db, 1).await;
    let list = wait_until("the endpoint judged invalid", DEADLINE, || async {
        let (_, list) = json(
            admin
                .http
                .get(admin.url("/v1/endpoints"))
                .send()
                .await
                .ok()?,
        )
        .await;
        (list["invalid"][0]["id"] == "inside").then_some(list)
    })
    .await;
    assert_eq!(list["invalid"][0]["state"], "invalid");
    assert_eq!(
        list["endpoints"][0]["state"], "invalid",
        "one state everywhere"
    );
    let (_, page) = json(
        admin
            .http
            .get(admin.url("/v1/deliveries?endpoint=inside"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    let delivery = &page["deliveries"][0];
    assert_eq!(delivery["state"], "pending", "{page}");
    assert!(
        delivery["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("invalid") && w.contains("10.0.0.1")),
        "{page}"
    );
    let disabled = admin
        .http
        .post(admin.url("/v1/endpoints/inside/disable"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("post");
    assert_eq!(disabled.status(), 200);
    admin.stop().await;
}

/// What an operator's Prometheus sees: delivery metrics per endpoint, each
/// endpoint's state, pending count and oldest pending age, the build, the
/// last reload — and, on `--metrics-addr`, all of it without a token.
#[actix_rt::test]
async fn metrics_per_endpoint_build_and_a_scrape_listener_without_token() {
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let hook = crate::delivery::endpoint("hook", receiver.url("/hook"));
    let held = crate::delivery::endpoint("held", receiver.url("/held"));
    let admin = Admin::with_endpoints(Some("metrics-token"), vec![hook, held]).await;
    admin
        .daemon
        .store
        .set_endpoint_enabled("held", false)
        .await
        .expect("disable");
    crate::delivery::emit_ticks(&admin.db, 2).await;
    crate::delivery::wait_state(&admin.db, "hook", "delivered", 2).await;
    let scrape = herald::admin::MetricsServer::start(
        "127.0.0.1:0".parse().expect("addr"),
        AdminState::of(&admin.daemon),
    )
    .expect("scrape listener");
    let scraped = || async {
        let response = reqwest::get(format!("http://{}/metrics", scrape.local_addr))
            .await
            .ok()?;
        (response.status() == 200).then_some(())?;
        response.text().await.ok()
    };
    // The sweep (300 ms) refreshes the pending figures.
    let text = wait_until("the held endpoint's pending figures", DEADLINE, || async {
        let text = scraped().await?;
        text.contains("herald_endpoint_pending{endpoint=\"held\"} 2")
            .then_some(text)
    })
    .await;
    for line in [
        "herald_deliveries_total{endpoint=\"hook\",state=\"delivered\"} 2",
        "herald_delivery_attempts_total{endpoint=\"hook\",result=\"succeeded\"} 2",
        "herald_endpoint_state{endpoint=\"hook\",state=\"enabled\"} 1",
        "herald_endpoint_state{endpoint=\"held\",state=\"disabled_by_operator\"} 1",
        "herald_endpoint_oldest_pending_seconds{endpoint=\"held\"}",
        &format!(
            "herald_build_info{{commit=\"{}\",version=\"{}\"}} 1",
            herald::COMMIT,
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.contains(line), "{line}\n---\n{text}");
    }
    // Only /metrics there: the admin API keeps its token.
    let other = reqwest::get(format!("http://{}/v1/endpoints", scrape.local_addr))
        .await
        .expect("get");
    assert_eq!(other.status(), 404);
    let guarded = reqwest::get(admin.url("/metrics")).await.expect("get");
    assert_eq!(guarded.status(), 401);
    scrape.stop().await;
    admin.stop().await;
    receiver.stop().await;
}

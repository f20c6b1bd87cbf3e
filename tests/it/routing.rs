//! Who hears what, and when (issue 25): attribute filters, silences held
//! and dropped across replicas (one killed with SIGKILL), mute windows in a
//! time zone, replays of muted deliveries.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Utc};
use herald::admin::{AdminConfig, AdminServer, AdminState};
use herald::daemon::{Daemon, DaemonConfig};
use herald::endpoint::Endpoint;
use herald::routing::time_interval::{IntervalPart, TimeInterval};
use herald::routing::{Matchers, MuteAction, MuteWindow, Route};
use serde_json::{json, Value};

use crate::delivery::{
    count_state, emit_ticks, endpoint, fast_delivery, start, wait_state, SECRET,
};
use crate::support::cli::json_client;
use crate::support::receiver::{Receiver, Reply};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(60);

fn filtered(id: &str, url: String, filter: &str) -> Endpoint {
    Endpoint {
        route: Route {
            filter: herald::routing::matcher::parse(filter).expect("filter"),
            mute_windows: Vec::new(),
        },
        ..endpoint(id, url)
    }
}

/// A plan of one task in `environment`, its run failed: a PIPELINE_FAILED
/// once the (short) window closes.
async fn failing_plan(db: &TestDb, environment: &str) -> i64 {
    let plan = crate::support::pipeline::seed_plan(&db.pool, 1).await;
    sqlx::query("UPDATE task SET environment = $2 WHERE plan_id = $1")
        .bind(plan.plan_id)
        .bind(environment)
        .execute(&db.pool)
        .await
        .expect("environment");
    let runs = crate::support::pipeline::start_runs(&db.pool, &plan.tasks, "RUNNING").await;
    crate::support::pipeline::set_status(&db.pool, runs[0], "FAILED", Some("boom")).await;
    plan.plan_id
}

fn plan_of(received: &crate::support::receiver::Received) -> i64 {
    received.body["plan"]["id"].as_i64().expect("plan id")
}

/// Filters route by what the event carries: failures of the prod plan go
/// to `oncall` alone, those of the staging plan to `staging` alone; what
/// an endpoint's filter does not want is recorded `filtered`, never sent.
#[actix_rt::test]
async fn a_filter_sends_prod_failures_to_one_endpoint_and_staging_failures_to_another() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: "one".into(),
            endpoints: vec![
                filtered(
                    "oncall",
                    receiver.url("/oncall"),
                    r#"type="PIPELINE_FAILED", environment="prod""#,
                ),
                filtered(
                    "staging",
                    receiver.url("/staging"),
                    r#"environment=~"stag.*""#,
                ),
            ],
            delivery: fast_delivery(),
            plans: herald::actors::PlanConfig {
                failure_window: Duration::from_millis(200),
                ..Default::default()
            },
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts");
    let prod = failing_plan(&db, "prod").await;
    let staging = failing_plan(&db, "staging").await;
    wait_state(&db, "oncall", "delivered", 1).await;
    wait_state(&db, "oncall", "filtered", 1).await;
    wait_state(&db, "staging", "delivered", 1).await;
    wait_state(&db, "staging", "filtered", 1).await;
    let oncall = receiver.accepted("/oncall");
    assert_eq!(oncall.len(), 1);
    assert_eq!(plan_of(&oncall[0]), prod);
    assert_eq!(oncall[0].body["type"], "PIPELINE_FAILED");
    let to_staging = receiver.accepted("/staging");
    assert_eq!(to_staging.len(), 1);
    assert_eq!(plan_of(&to_staging[0]), staging);
    let why: String = sqlx::query_scalar(
        "SELECT gated_by FROM herald_delivery WHERE endpoint_id = 'oncall' AND state = 'filtered'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("reason");
    assert_eq!(why, r#"environment="prod""#);
    daemon.stop().await;
    receiver.stop().await;
}

/// An admin API on a daemon.
async fn admin_on(daemon: &Daemon) -> (AdminServer, String) {
    let server = AdminServer::start(
        &AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: None,
            names: Vec::new(),
        },
        AdminState::of(daemon),
    )
    .expect("admin starts");
    let base = format!("http://{}", server.local_addr);
    (server, base)
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let response = http
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn lease_owners(db: &TestDb) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT endpoint_id, owner FROM herald_endpoint_lease WHERE expires_at > now() ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("leases")
}

/// A silence created through one replica's API mutes matching events on
/// both replicas (each holds one endpoint's lease): ticks 1–3 carry the
/// custom attribute `n` it matches and are dropped (`muted`), 4–5 are sent
/// (and so is every event before it).
/// Expired through the API, it mutes nothing more; a muted delivery
/// replayed is sent. Bad silences are refused with the reason.
#[actix_rt::test]
async fn a_silence_from_the_api_mutes_on_both_replicas_until_expired() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let endpoints = vec![
        endpoint("left", receiver.url("/left")),
        endpoint("right", receiver.url("/right")),
    ];
    let a = start(&db, "a", endpoints.clone(), fast_delivery()).await;
    let b = start(&db, "b", endpoints, fast_delivery()).await;
    // Leases are taken for work: warm-up events until they balance.
    wait_until("each replica holds one endpoint", DEADLINE, || async {
        sqlx::query("SELECT herald_emit('test.warmup', '{}'::jsonb)")
            .execute(&db.pool)
            .await
            .expect("emit");
        let owners = lease_owners(&db).await;
        (owners.len() == 2 && owners[0].1 != owners[1].1).then_some(())
    })
    .await;
    wait_until("the warm-up is delivered", DEADLINE, || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM herald_delivery WHERE state <> 'delivered'")
                .fetch_one(&db.pool)
                .await
                .expect("count");
        (pending == 0).then_some(())
    })
    .await;
    let warmup = |endpoint: &str| {
        receiver
            .accepted(&format!("/{endpoint}"))
            .iter()
            .filter(|r| r.body["type"] == "test.warmup")
            .count() as i64
    };
    let (left0, right0) = (warmup("left"), warmup("right"));
    let (server, base) = admin_on(&a).await;
    let http = json_client();

    for (body, expected) in [
        (
            json!({"matchers": [], "comment": "x", "duration": "1h"}),
            "at least one",
        ),
        (
            json!({"matchers": ["n=~\"(\""], "comment": "x", "duration": "1h"}),
            "regular expression",
        ),
        (
            json!({"matchers": ["n=1"], "comment": " ", "duration": "1h"}),
            "comment",
        ),
        (
            json!({"matchers": ["n=1"], "comment": "x", "duration": "soon"}),
            "duration",
        ),
        (
            json!({"matchers": ["n=1"], "comment": "x", "duration": "1h", "action": "later"}),
            "action",
        ),
    ] {
        let (status, answer) = post(&http, format!("{base}/v1/silences"), body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{answer}"
        );
    }

    let (status, silence) = post(
        &http,
        format!("{base}/v1/silences"),
        json!({"matchers": ["type=\"test.tick\"", "n=~\"[1-3]\""], "duration": "1h",
               "comment": "maintenance", "created_by": "alice"}),
    )
    .await;
    assert_eq!(status, 201, "{silence}");
    assert_eq!(silence["state"], "active");
    assert_eq!(silence["action"], "drop");
    let id = silence["id"].as_str().expect("id").to_owned();
    sqlx::query(
        "SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', g)))
           FROM generate_series(1, 5) g",
    )
    .execute(&db.pool)
    .await
    .expect("emit");
    for (endpoint, before) in [("left", left0), ("right", right0)] {
        wait_state(&db, endpoint, "muted", 3).await;
        wait_state(&db, endpoint, "delivered", before + 2).await;
        let ns: Vec<i64> = receiver
            .accepted(&format!("/{endpoint}"))
            .iter()
            .filter(|r| r.body["type"] == "test.tick")
            .map(|r| r.body["data"]["n"].as_i64().expect("n"))
            .collect();
        assert_eq!(ns, [4, 5], "{endpoint}");
    }
    let by: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT gated_by FROM herald_delivery WHERE state = 'muted'")
            .fetch_all(&db.pool)
            .await
            .expect("muted by");
    assert_eq!(by, [format!("silence:{id}")]);

    let (status, expired) = post(&http, format!("{base}/v1/silences/{id}/expire"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(expired["state"], "expired");
    assert!(expired["expired_at"].is_string());
    let listed = http
        .get(format!("{base}/v1/silences"))
        .send()
        .await
        .expect("list")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(
        listed["silences"].as_array().map(Vec::len),
        Some(0),
        "only live ones by default"
    );
    sqlx::query(
        "SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', 2)))",
    )
    .execute(&db.pool)
    .await
    .expect("emit");
    wait_state(&db, "left", "delivered", left0 + 3).await;
    wait_state(&db, "right", "delivered", right0 + 3).await;

    // A muted delivery, replayed, is sent whatever the mutes say.
    let muted: i64 = sqlx::query_scalar(
        "SELECT min(id) FROM herald_delivery WHERE endpoint_id = 'left' AND state = 'muted'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("muted");
    let (status, _) = post(
        &http,
        format!("{base}/v1/deliveries/{muted}/replay"),
        json!({}),
    )
    .await;
    assert_eq!(status, 202);
    wait_state(&db, "left", "delivered", left0 + 4).await;
    assert_eq!(count_state(&db, "left", "muted").await, 2);

    server.stop().await;
    a.stop().await;
    b.stop().await;
    receiver.stop().await;
}

/// A `herald run` process with a config file and an admin API.
fn spawn_replica(
    db: &TestDb,
    node: &str,
    dir: &std::path::Path,
    config: &std::path::Path,
) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["run", "--database-url", &db.url, "--node-id", node])
        .args(["--admin-addr", &format!("127.0.0.1:{port}")])
        .args(["--sweep-interval", "100ms", "--lease-ttl", "1s"])
        .args(["--request-timeout", "500ms", "--connect-timeout", "300ms"])
        .args(["--allow-private-networks", "127.0.0.0/8"])
        .arg("--config")
        .arg(config)
        .arg("--secrets-dir")
        .arg(dir)
        .arg("--data-dir")
        .arg(dir.join(node))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("herald starts");
    (child, format!("http://127.0.0.1:{port}"))
}

/// A hold silence on two herald processes: the ticks it matches are set
/// aside; the replica holding the endpoint's lease is killed with SIGKILL
/// during the silence; when the silence ends on time, the survivor sends
/// every held tick once, in order.
#[actix_rt::test]
async fn held_messages_are_sent_once_in_order_when_the_silence_ends_despite_a_kill() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("oncall-secret"), SECRET).expect("secret");
    let config = dir.path().join("herald.yaml");
    std::fs::write(
        &config,
        format!(
            "endpoints:\n  - id: oncall\n    type: generic\n    url: {}\n    secret: oncall-secret\n    events: ['*']\n",
            receiver.url("/oncall")
        ),
    )
    .expect("config");
    let (first, first_api) = spawn_replica(&db, "first", dir.path(), &config);
    let (second, second_api) = spawn_replica(&db, "second", dir.path(), &config);
    let mut replicas = [(first, "first"), (second, "second")];
    let http = json_client();
    wait_until("both admin APIs answer", DEADLINE, || async {
        for base in [&first_api, &second_api] {
            http.get(format!("{base}/healthz")).send().await.ok()?;
        }
        Some(())
    })
    .await;
    // The token each replica generated in its data directory.
    let token = std::fs::read_to_string(dir.path().join("first").join("admin-token"))
        .expect("token")
        .trim()
        .to_owned();
    let response = http
        .post(format!("{first_api}/v1/silences"))
        .bearer_auth(&token)
        .body(
            json!({"matchers": ["endpoint=\"oncall\"", "type=\"test.tick\""], "duration": "6s",
                   "action": "hold", "comment": "deploy freeze"})
            .to_string(),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(response.status().as_u16(), 201);
    let silence: Value = response.json().await.expect("json");
    emit_ticks(&db, 10).await;
    wait_state(&db, "oncall", "held", 10).await;
    assert!(
        receiver.accepted("/oncall").is_empty(),
        "nothing sent during the silence"
    );
    let listed: Value = http
        .get(format!(
            "{second_api}/v1/silences/{}",
            silence["id"].as_str().expect("id")
        ))
        .bearer_auth(
            std::fs::read_to_string(dir.path().join("second").join("admin-token"))
                .expect("token")
                .trim(),
        )
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
    assert_eq!(listed["held"], 10, "the other replica sees what it holds");
    // `routes test --silences` judges the running herald's silences.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "routes",
            "test",
            "test.tick",
            "--silences",
            "--admin-url",
            &first_api,
        ])
        .arg("--admin-token-file")
        .arg(dir.path().join("first").join("admin-token"))
        .arg("--config")
        .arg(&config)
        .arg("--secrets-dir")
        .arg(dir.path())
        .output()
        .await
        .expect("herald runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "held by silence:{}",
            silence["id"].as_str().expect("id")
        )),
        "{stdout}"
    );

    let owner: String =
        sqlx::query_scalar("SELECT owner FROM herald_endpoint_lease WHERE endpoint_id = 'oncall'")
            .fetch_one(&db.pool)
            .await
            .expect("owner");
    let victim = replicas
        .iter_mut()
        .find(|(_, node)| *node == owner)
        .expect("the owner is one of ours");
    let pid = Pid::from_raw(victim.0.id().expect("pid") as i32);
    kill(pid, Signal::SIGKILL).expect("kill -9");
    let _ = victim.0.wait().await;

    wait_state(&db, "oncall", "delivered", 10).await;
    let got = receiver.accepted("/oncall");
    let ns: Vec<i64> = got
        .iter()
        .map(|r| r.body["data"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(
        ns,
        (1..=10).collect::<Vec<_>>(),
        "each held tick once, in order"
    );
    let survivor: String =
        sqlx::query_scalar("SELECT owner FROM herald_endpoint_lease WHERE endpoint_id = 'oncall'")
            .fetch_one(&db.pool)
            .await
            .expect("owner");
    assert_ne!(survivor, owner, "sent by the survivor");
    for (mut child, _) in replicas {
        let _ = child.kill().await;
    }
    receiver.stop().await;
}

/// Mute windows are judged in their own time zone: an endpoint muted
/// (hold) for the whole of today in Tokyo holds a tick until Tokyo's next
/// midnight; one muted for tomorrow in Tokyo sends it now.
#[actix_rt::test]
async fn a_mute_window_is_judged_in_its_time_zone() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let tokyo = chrono_tz::Asia::Tokyo;
    let db_now: chrono::DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&db.pool)
        .await
        .expect("now");
    let today = db_now
        .with_timezone(&tokyo)
        .weekday()
        .num_days_from_sunday();
    let window = |name: &str, weekday: u32| MuteWindow {
        interval: Arc::new(TimeInterval {
            name: name.into(),
            parts: vec![IntervalPart {
                times: Vec::new(),
                weekdays: vec![(weekday, weekday)],
                days_of_month: Vec::new(),
                months: Vec::new(),
                years: Vec::new(),
                location: tokyo,
            }],
        }),
        action: MuteAction::Hold,
    };
    let muted = |id: &str, w: MuteWindow| Endpoint {
        route: Route {
            filter: Matchers::default(),
            mute_windows: vec![w],
        },
        ..endpoint(id, receiver.url(&format!("/{id}")))
    };
    let daemon = start(
        &db,
        "one",
        vec![
            muted("today", window("tokyo-today", today)),
            muted("tomorrow", window("tokyo-tomorrow", (today + 1) % 7)),
        ],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 1).await;
    wait_state(&db, "today", "held", 1).await;
    wait_state(&db, "tomorrow", "delivered", 1).await;
    let (by, until): (String, chrono::DateTime<Utc>) = sqlx::query_as(
        "SELECT gated_by, held_until FROM herald_delivery WHERE endpoint_id = 'today'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("held");
    assert_eq!(by, "window:tokyo-today");
    let local = until.with_timezone(&tokyo);
    assert_eq!(
        (
            local.format("%H:%M").to_string(),
            local.weekday().num_days_from_sunday()
        ),
        ("00:00".to_string(), (today + 1) % 7),
        "held until Tokyo's next midnight ({until})"
    );
    assert!(receiver.accepted("/today").is_empty());
    daemon.stop().await;
    receiver.stop().await;
}

/// `herald routes test` applies the gate too: an endpoint's filter (with
/// `--attr`), its mute windows at `--at` in their time zone.
#[actix_rt::test]
async fn routes_test_explains_filters_and_mute_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("herald.yaml");
    std::fs::write(
        &file,
        r#"time_intervals:
  - name: berlin-nights
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}]
        location: Europe/Berlin
endpoints:
  - id: oncall
    type: slack
    url: https://hooks.slack.com/services/T/B/a
    events: [PIPELINE_FAILED]
    filter: 'environment="prod"'
    mute_time_intervals: [{name: berlin-nights, action: hold}]
  - id: staging
    type: slack
    url: https://hooks.slack.com/services/T/B/b
    events: ["*"]
    filter: 'environment=~"stag.*"'
"#,
    )
    .expect("write");
    let routes = |environment: &'static str, at: &'static str| {
        let file = file.clone();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
                .args(["routes", "test", "PIPELINE_FAILED", "--attr"])
                .arg(format!("environment={environment}"))
                .args(["--at", at, "--config"])
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
    let row = crate::support::cli::table_row;
    // 20:30 UTC is 21:30 in Berlin (winter): outside the window.
    let day = routes("prod", "2026-12-02T20:30:00Z").await;
    assert_eq!(row(&day, "oncall"), "oncall yes", "{day}");
    assert!(
        row(&day, "staging")
            .starts_with(r#"staging no filter: environment=~"stag.*" does not hold"#),
        "{day}"
    );
    // 21:30 UTC is 22:30 in Berlin: held until Berlin's midnight.
    let night = routes("prod", "2026-12-02T21:30:00Z").await;
    assert_eq!(
        row(&night, "oncall"),
        "oncall no held by window:berlin-nights until 2026-12-02T23:00:00+00:00, then sent",
        "{night}"
    );
    let staging = routes("staging", "2026-12-02T21:30:00Z").await;
    assert_eq!(row(&staging, "staging"), "staging yes", "{staging}");
    assert!(staging.contains("silences not judged"), "{staging}");
}

/// A delivery held by a silence that ended before its hold was written (an
/// expire racing the gate) is released all the same, and a large backlog
/// of held rows is released in batches — a sweep never stalls on one huge
/// statement.
#[actix_rt::test]
async fn held_rows_of_an_ended_silence_are_released_in_batches() {
    let db = TestDb::new().await;
    crate::support::pipeline::subscribe_all(&db.pool, "quiet").await;
    emit_ticks(&db, 12).await;
    let silence: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO herald_silence (matchers, starts_at, ends_at, action, comment, created_by)
         VALUES (ARRAY['endpoint=\"quiet\"'], now() - interval '1 hour', now() - interval '1 second',
                 'hold', 'expired', 'test')
         RETURNING id",
    )
    .fetch_one(&db.pool)
    .await
    .expect("silence");
    // Held as if the gate had judged them just before the expire: their
    // `held_until` is the silence's original end, a year away.
    sqlx::query(
        "UPDATE herald_delivery SET state = 'held', gated_by = 'silence:' || $1::text,
                held_until = now() + interval '365 days'",
    )
    .bind(silence)
    .execute(&db.pool)
    .await
    .expect("hold");
    let first = db.store.release_held(5).await.expect("release");
    assert_eq!(
        first.iter().map(|r| r.deliveries).sum::<i64>(),
        5,
        "one batch"
    );
    let second = db.store.release_held(5).await.expect("release");
    let third = db.store.release_held(5).await.expect("release");
    assert_eq!(
        second
            .iter()
            .chain(&third)
            .map(|r| r.deliveries)
            .sum::<i64>(),
        7,
        "the rest"
    );
    assert_eq!(count_state(&db, "quiet", "pending").await, 12);
    assert_eq!(count_state(&db, "quiet", "held").await, 0);
}

//! The Bytebase source: herald follows a Bytebase-shaped database through a
//! SELECT-only role and every event arrives once, with two replicas.

use std::time::Duration;

use herald::actors::{FollowerConfig, PlanConfig};
use herald::daemon::{BytebaseSourceConfig, Daemon, DaemonConfig, SourceConfig};
use herald::sources::bytebase::follow::FollowConfig;
use serde_json::{json, Value};

use crate::support::bytebase::BytebaseDb;
use crate::support::bytebase_api::{self, BytebaseApi};
use crate::support::logs::LogCapture;
use crate::support::{wait_until, TestDb};

pub(crate) const DEADLINE: Duration = Duration::from_secs(30);
pub(crate) const PROJECT: &str = "shop";

async fn replica(db: &TestDb, bytebase: &BytebaseDb, node: &str) -> Daemon {
    replica_with_api(db, bytebase, node, None).await
}

/// A replica that repairs rollouts through `api` (grace 500 ms).
async fn replica_with_api(
    db: &TestDb,
    bytebase: &BytebaseDb,
    node: &str,
    api: Option<&BytebaseApi>,
) -> Daemon {
    replica_with(db, bytebase, node, api, FollowConfig::default()).await
}

/// A replica following with `follow`, repairing rollouts through `api`.
pub(crate) async fn replica_with(
    db: &TestDb,
    bytebase: &BytebaseDb,
    node: &str,
    api: Option<&BytebaseApi>,
    follow: FollowConfig,
) -> Daemon {
    let api = api.map(|api| herald::sources::bytebase::api::ApiConfig {
        base: api.base(),
        email: bytebase_api::EMAIL.into(),
        password: bytebase_api::PASSWORD.into(),
        timeout: Duration::from_secs(5),
    });
    let daemon = Daemon::start(
        db.options.clone(),
        DaemonConfig {
            node_id: node.into(),
            migrate: false,
            plans: PlanConfig {
                failure_window: Duration::from_millis(300),
                idle: Duration::from_secs(600),
            },
            endpoints: endpoints(),
            source: SourceConfig::Bytebase(Box::new(BytebaseSourceConfig {
                options: bytebase.reader.clone(),
                follower: FollowerConfig {
                    poll: Duration::from_millis(50),
                    follow,
                    ..FollowerConfig::default()
                },
                api,
                repair: herald::actors::RepairConfig {
                    grace: Duration::from_millis(500),
                    interval: Duration::from_millis(50),
                    ..Default::default()
                },
            })),
            ..DaemonConfig::default()
        },
    )
    .await
    .expect("daemon starts");
    wait_until("the listener to connect", DEADLINE, || async {
        (daemon.metrics.listener_connected.get() == 1).then_some(())
    })
    .await;
    daemon
}

/// `ops` takes everything; `shop-only` filters by the Bytebase project's
/// resource id, `elsewhere` by one no project has.
fn endpoints() -> Vec<herald::endpoint::Endpoint> {
    let mut shop = crate::delivery::endpoint("shop-only", "http://127.0.0.1:9/".into());
    shop.project_resource = Some(PROJECT.into());
    let mut elsewhere = crate::delivery::endpoint("elsewhere", "http://127.0.0.1:9/".into());
    elsewhere.project_resource = Some("nowhere".into());
    vec![
        crate::delivery::endpoint("ops", "http://127.0.0.1:9/".into()),
        shop,
        elsewhere,
    ]
}

/// Wait until a replica's first pass attached (its cursors committed).
pub(crate) async fn wait_attached(db: &TestDb) {
    wait_until("the first attach", DEADLINE, || async {
        let attached: i64 = sqlx::query_scalar("SELECT count(*) FROM herald_source_cursor")
            .fetch_one(&db.pool)
            .await
            .ok()?;
        (attached > 0).then_some(())
    })
    .await;
}

/// Every event herald emitted: (type, payload), in emission order.
pub(crate) async fn events(db: &TestDb) -> Vec<(String, Value)> {
    sqlx::query_as("SELECT type, payload FROM herald_event ORDER BY seq")
        .fetch_all(&db.pool)
        .await
        .expect("events")
}

/// Wait until `count` events exist; return them.
pub(crate) async fn wait_events(db: &TestDb, count: usize, what: &str) -> Vec<(String, Value)> {
    wait_until(what, DEADLINE, || async {
        let all = events(db).await;
        (all.len() >= count).then_some(all)
    })
    .await
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

fn emails(people: &Value) -> Vec<String> {
    let mut emails: Vec<String> = people
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|p| p["email"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    emails.sort();
    emails
}

pub(crate) async fn people(bytebase: &BytebaseDb) {
    bytebase.project(PROJECT, true, false).await;
    for (email, name) in [
        ("ada@shop.io", "Ada"),
        ("owner@shop.io", "Owen"),
        ("dba1@shop.io", "Dana"),
        ("dba2@shop.io", "Dave"),
    ] {
        bytebase.principal(email, name, "+15550100").await;
    }
    bytebase
        .group("dbas@shop.io", &["dba1@shop.io", "dba2@shop.io"])
        .await;
    bytebase
        .iam(
            PROJECT,
            &[
                ("roles/projectOwner", &["users/owner@shop.io"]),
                ("roles/dba", &["groups/dbas@shop.io", "allUsers"]),
            ],
        )
        .await;
}

/// A whole pipeline, as Bytebase writes it, followed by two replicas:
/// multi-step approval, sent back with its reason, re-requested, approved;
/// Bytebase's own rollout recorded (herald creates none); a skipped task,
/// a failure and a retry that starts a new generation. An issue open
/// before herald attached is not announced; a draft is announced at
/// submission; a malformed payload is skipped with one log line while the
/// next change is handled. Each event exactly once.
#[actix_rt::test]
async fn a_bytebase_pipeline_is_followed_read_only_and_announced_once() {
    let (logs, _guard) = LogCapture::install();
    let db = TestDb::new().await;
    let bytebase = BytebaseDb::new().await;
    people(&bytebase).await;
    // Before herald attaches: an open issue waiting for approval.
    let old_plan = bytebase.plan(PROJECT, "Old change").await;
    let old_issue = bytebase
        .issue(
            PROJECT,
            old_plan,
            "Old change",
            &["roles/projectOwner"],
            false,
        )
        .await;

    let a = replica(&db, &bytebase, "node-a").await;
    let b = replica(&db, &bytebase, "node-b").await;
    wait_attached(&db).await;
    assert!(events(&db).await.is_empty(), "the past is not announced");

    // The old issue moves on: that is news.
    bytebase.approve(PROJECT, old_issue, "owner@shop.io").await;
    let all = wait_events(&db, 1, "the old issue's approval").await;
    assert_eq!(types(&all), ["ISSUE_APPROVED"]);

    // A two-step issue.
    let plan = bytebase.plan(PROJECT, "Add index").await;
    let issue = bytebase
        .issue(
            PROJECT,
            plan,
            "Add index",
            &["roles/projectOwner", "roles/dba"],
            false,
        )
        .await;
    let all = wait_events(&db, 3, "created and first step").await;
    assert_eq!(
        types(&all[1..]),
        ["ISSUE_CREATED", "ISSUE_APPROVAL_REQUESTED"]
    );
    assert_eq!(all[1].1["issue"]["creator"]["email"], "ada@shop.io");
    assert_eq!(all[2].1["data"]["role"], "roles/projectOwner");
    assert_eq!(emails(&all[2].1["data"]["approvers"]), ["owner@shop.io"]);

    bytebase.approve(PROJECT, issue, "owner@shop.io").await;
    let all = wait_events(&db, 4, "second step").await;
    assert_eq!(all[3].0, "ISSUE_APPROVAL_REQUESTED");
    assert_eq!(all[3].1["data"]["role"], "roles/dba");
    // The group expanded; `allUsers` is not.
    assert_eq!(
        emails(&all[3].1["data"]["approvers"]),
        ["dba1@shop.io", "dba2@shop.io"]
    );

    bytebase
        .reject(PROJECT, issue, "dba1@shop.io", "take a backup first")
        .await;
    let all = wait_events(&db, 5, "sent back").await;
    assert_eq!(all[4].0, "ISSUE_SENT_BACK");
    assert_eq!(all[4].1["data"]["reason"], "take a backup first");
    assert_eq!(all[4].1["data"]["approver"]["email"], "dba1@shop.io");

    bytebase.request_again(PROJECT, issue).await;
    let all = wait_events(&db, 6, "requested again").await;
    assert_eq!(all[5].0, "ISSUE_APPROVAL_REQUESTED");
    assert_eq!(all[5].1["data"]["role"], "roles/projectOwner");

    bytebase.approve(PROJECT, issue, "owner@shop.io").await;
    wait_events(&db, 7, "second step again").await;
    bytebase.approve(PROJECT, issue, "dba2@shop.io").await;
    let all = wait_events(&db, 8, "approved").await;
    assert_eq!(all[7].0, "ISSUE_APPROVED");
    assert_eq!(all[7].1["data"]["role"], "roles/dba");

    // The plan check, rewritten in place as Bytebase does, is mirrored.
    bytebase
        .check_run(PROJECT, plan, "RUNNING", json!([]))
        .await;
    bytebase
        .check_run(
            PROJECT,
            plan,
            "DONE",
            json!([{"status": "WARNING", "title": "index", "content": "large table", "code": 402}]),
        )
        .await;
    wait_until("the check run mirrored", DEADLINE, || async {
        let checks: Vec<(String, Value)> =
            sqlx::query_as("SELECT status, results FROM plan_check_run")
                .fetch_all(&db.pool)
                .await
                .expect("checks");
        (checks
            == [(
                "DONE".to_owned(),
                json!([{"status": "WARNING", "title": "index", "content": "large table"}]),
            )])
        .then_some(())
    })
    .await;

    // Rewritten back (a re-run after a plan edit), then done again: every
    // state arrives, whichever replica mirrors which (a replica's memory of
    // what it mirrored never hides a change another replica made).
    let mirrored = |status: &'static str| {
        let pool = db.pool.clone();
        async move {
            let now: Vec<String> = sqlx::query_scalar("SELECT status FROM plan_check_run")
                .fetch_all(&pool)
                .await
                .expect("checks");
            (now == [status]).then_some(())
        }
    };
    for (status, results) in [
        ("RUNNING", json!([])),
        (
            "DONE",
            json!([{"status": "SUCCESS", "title": "ok", "content": ""}]),
        ),
        ("RUNNING", json!([])),
        (
            "DONE",
            json!([{"status": "SUCCESS", "title": "ok", "content": ""}]),
        ),
    ] {
        bytebase.check_run(PROJECT, plan, status, results).await;
        wait_until(&format!("check run {status}"), DEADLINE, || {
            mirrored(status)
        })
        .await;
    }

    // A malformed issue payload is skipped; the next change is handled.
    let bad_plan = bytebase.plan(PROJECT, "Bad").await;
    bytebase
        .issue_raw(
            PROJECT,
            bad_plan,
            "Bad",
            json!({"approval": {"approvers": [{"status": 3}]}}),
        )
        .await;
    // A draft: announced when submitted.
    let draft_plan = bytebase.plan(PROJECT, "Draft").await;
    let draft = bytebase
        .issue(PROJECT, draft_plan, "Draft", &[], true)
        .await;

    // Bytebase creates the rollout; the tasks run.
    bytebase.mark_rollout(PROJECT, plan).await;
    let t1 = bytebase.task(PROJECT, plan, "shop").await;
    let t2 = bytebase.task(PROJECT, plan, "orders").await;
    let t3 = bytebase.task(PROJECT, plan, "audit").await;
    bytebase.skip_task(PROJECT, t3).await;
    let r1 = bytebase.start_run(PROJECT, t1).await;
    let r2 = bytebase.start_run(PROJECT, t2).await;
    bytebase.finish_run(PROJECT, r1, "DONE", None).await;
    bytebase
        .finish_run(PROJECT, r2, "FAILED", Some("duplicate key value"))
        .await;
    bytebase
        .set_issue_payload(PROJECT, draft, "payload - 'draft'", &[])
        .await;
    let all = wait_until("the failure and the submitted draft", DEADLINE, || async {
        let all = events(&db).await;
        let failed = all.iter().any(|(t, _)| t == "PIPELINE_FAILED");
        let created = all.iter().filter(|(t, _)| t == "ISSUE_CREATED").count() >= 2;
        (failed && created).then_some(all)
    })
    .await;
    let failed: Vec<&Value> = all
        .iter()
        .filter(|(t, _)| t == "PIPELINE_FAILED")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["data"]["generation"], 1);
    let failed_tasks = failed[0]["data"]["failed_tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(failed_tasks.len(), 1);
    assert_eq!(failed_tasks[0]["database"], "orders");
    assert_eq!(failed_tasks[0]["error"], "duplicate key value");
    let bad_logged = logs.find(
        "source.row_skipped",
        &[
            ("table", "issue"),
            ("field", "approval.approvers[0].status"),
        ],
    );
    assert_eq!(bad_logged.len(), 1, "logged once: {bad_logged:?}");

    // The retry: a new attempt after the outcome, a new generation.
    let retry = bytebase.start_run(PROJECT, t2).await;
    bytebase.finish_run(PROJECT, retry, "DONE", None).await;
    let all = wait_until("the completion", DEADLINE, || async {
        let all = events(&db).await;
        all.iter()
            .any(|(t, _)| t == "PIPELINE_COMPLETED")
            .then_some(all)
    })
    .await;
    let completed: Vec<&Value> = all
        .iter()
        .filter(|(t, _)| t == "PIPELINE_COMPLETED")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(completed[0]["data"]["generation"], 2);
    assert_eq!(completed[0]["data"]["total_tasks"], 3);

    // Settle, then count: each event once, no rollout by herald.
    a.stop().await;
    b.stop().await;
    let all = events(&db).await;
    let mut counted: Vec<&str> = types(&all);
    counted.sort();
    assert_eq!(
        counted,
        [
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_APPROVAL_REQUESTED",
            "ISSUE_APPROVED",
            "ISSUE_APPROVED",
            "ISSUE_CREATED",
            "ISSUE_CREATED",
            "ISSUE_SENT_BACK",
            "PIPELINE_COMPLETED",
            "PIPELINE_FAILED",
        ],
        "{all:#?}"
    );
    // Filters by resource id: every event to `ops` and `shop-only`, none to
    // `elsewhere`.
    let routed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT endpoint_id, count(*) FROM herald_delivery GROUP BY endpoint_id ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .expect("deliveries");
    assert_eq!(
        routed,
        [("ops".to_owned(), 11), ("shop-only".to_owned(), 11)]
    );
    // What filters and silences match: the tasks' environment, the
    // issues' status.
    let attributes: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT attributes -> 'environment' FROM herald_event
          WHERE type IN ('PIPELINE_FAILED', 'PIPELINE_COMPLETED')",
    )
    .fetch_all(&db.pool)
    .await
    .expect("attributes");
    assert_eq!(attributes, [json!(["prod"]), json!(["prod"])]);
    let statuses: Vec<String> = sqlx::query_scalar("SELECT DISTINCT status FROM issue")
        .fetch_all(&db.pool)
        .await
        .expect("statuses");
    assert_eq!(statuses, ["OPEN"]);
    let rollouts: Vec<String> = sqlx::query_scalar("SELECT created_by FROM rollout")
        .fetch_all(&db.pool)
        .await
        .expect("rollouts");
    assert_eq!(rollouts, ["bytebase"]);
    // herald installed nothing in Bytebase's database.
    let foreign: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public'",
    )
    .fetch_one(&bytebase.pool)
    .await
    .expect("functions");
    assert_eq!(foreign, 0);
}

/// A `herald run --source bytebase` process.
fn spawn_replica(
    db: &TestDb,
    bytebase: &BytebaseDb,
    node: &str,
    dir: &std::path::Path,
) -> tokio::process::Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["run", "--database-url", &db.url, "--node-id", node])
        .args([
            "--source",
            "bytebase",
            "--bytebase-url",
            &bytebase.reader_url,
        ])
        .args(["--bytebase-poll", "50ms", "--failure-window", "300ms"])
        .args(["--admin-addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join(node))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("herald starts")
}

/// Two herald processes follow one Bytebase; one is killed with SIGKILL
/// mid-run (possibly mid-pass, its transaction open). Every issue is
/// announced once and every plan's completion once.
#[tokio::test]
async fn a_replica_killed_mid_run_loses_and_repeats_nothing() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    const PLANS: usize = 12;
    let db = TestDb::new().await;
    let bytebase = BytebaseDb::new().await;
    people(&bytebase).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut victim = spawn_replica(&db, &bytebase, "victim", dir.path());
    let mut survivor = spawn_replica(&db, &bytebase, "survivor", dir.path());
    wait_attached(&db).await;
    let count = |kind: &'static str| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM herald_event WHERE type = $1")
                .bind(kind)
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
        }
    };
    for n in 0..PLANS {
        let plan = bytebase.plan(PROJECT, &format!("Change {n}")).await;
        bytebase
            .issue(PROJECT, plan, &format!("Change {n}"), &[], false)
            .await;
        bytebase.mark_rollout(PROJECT, plan).await;
        let first = bytebase.task(PROJECT, plan, "shop").await;
        let second = bytebase.task(PROJECT, plan, "orders").await;
        let runs = [
            bytebase.start_run(PROJECT, first).await,
            bytebase.start_run(PROJECT, second).await,
        ];
        for run in runs {
            bytebase.finish_run(PROJECT, run, "DONE", None).await;
        }
        if n == PLANS / 3 {
            let pid = Pid::from_raw(victim.id().expect("pid") as i32);
            kill(pid, Signal::SIGKILL).expect("kill -9");
            let _ = victim.wait().await;
        }
    }
    wait_until("every plan completed", DEADLINE, || async {
        (count("PIPELINE_COMPLETED").await >= PLANS as i64).then_some(())
    })
    .await;
    // Give a duplicate the time it would need to appear.
    let settled = std::time::Instant::now();
    wait_until("a further follow pass", DEADLINE, || async {
        (settled.elapsed() > Duration::from_millis(500)).then_some(())
    })
    .await;
    let _ = survivor.kill().await;
    assert_eq!(count("ISSUE_CREATED").await, PLANS as i64);
    assert_eq!(count("PIPELINE_COMPLETED").await, PLANS as i64);
    let per_plan: Vec<i64> = sqlx::query_scalar(
        "SELECT count(*) FROM herald_event WHERE type = 'PIPELINE_COMPLETED' GROUP BY plan_id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("per plan");
    assert!(per_plan.iter().all(|&n| n == 1), "{per_plan:?}");
}

/// Rollout repair: with the API configured, a plan whose conditions hold
/// and that Bytebase has not rolled out within the grace period is rolled
/// out through Bytebase's API — once across two replicas; "already exists"
/// counts as created; a rollout Bytebase makes within the grace is left
/// alone (no call).
#[actix_rt::test]
async fn due_rollouts_bytebase_did_not_create_are_created_through_its_api_once() {
    let db = TestDb::new().await;
    let bytebase = BytebaseDb::new().await;
    people(&bytebase).await;
    let api = BytebaseApi::start(bytebase.pool.clone());
    let a = replica_with_api(&db, &bytebase, "node-a", Some(&api)).await;
    let b = replica_with_api(&db, &bytebase, "node-b", Some(&api)).await;
    wait_attached(&db).await;
    let approved_plan = |name: &'static str| {
        let bytebase = &bytebase;
        async move {
            let plan = bytebase.plan(PROJECT, name).await;
            let issue = bytebase
                .issue(PROJECT, plan, name, &["roles/projectOwner"], false)
                .await;
            (plan, issue)
        }
    };
    let requests = || async {
        let rows: Vec<(String, i32)> =
            sqlx::query_as("SELECT state, attempts FROM herald_rollout_request ORDER BY plan_id")
                .fetch_all(&db.pool)
                .await
                .expect("requests");
        rows
    };

    // 1. Nobody rolls it out: herald does, through the API, once.
    let (first, issue) = approved_plan("Repair me").await;
    bytebase.approve(PROJECT, issue, "owner@shop.io").await;
    let target = format!("projects/{PROJECT}/plans/{first}");
    wait_until("the repair", DEADLINE, || async {
        (requests().await == [("created".to_owned(), 1)]).then_some(())
    })
    .await;
    assert_eq!(api.creates(&target).len(), 1, "{:?}", api.calls());
    assert_eq!(api.creates(&target)[0].status, 200);

    // 2. Bytebase answers "already exists": created, no retry.
    let (second, issue) = approved_plan("Exists already").await;
    let exists = format!("projects/{PROJECT}/plans/{second}");
    api.already_exists(&exists);
    bytebase.approve(PROJECT, issue, "owner@shop.io").await;
    wait_until("already exists taken as created", DEADLINE, || async {
        let all = requests().await;
        (all.len() == 2 && all[1] == ("created".to_owned(), 1)).then_some(())
    })
    .await;
    assert_eq!(api.creates(&exists).len(), 1);

    // 3. Bytebase rolls out within the grace: no call.
    let (third, issue) = approved_plan("Bytebase does it").await;
    bytebase.approve(PROJECT, issue, "owner@shop.io").await;
    bytebase.mark_rollout(PROJECT, third).await;
    wait_until(
        "Bytebase's rollout recorded, nothing pending",
        DEADLINE,
        || async {
            let by_bytebase: i64 =
                sqlx::query_scalar("SELECT count(*) FROM rollout WHERE created_by = 'bytebase'")
                    .fetch_one(&db.pool)
                    .await
                    .ok()?;
            let pending = requests().await.iter().any(|(state, _)| state == "pending");
            (by_bytebase == 1 && !pending).then_some(())
        },
    )
    .await;
    // Requested before Bytebase's rollout was seen (then `exists`), or
    // never: either way not created by herald.
    let third_state = requests().await.get(2).map(|r| r.0.clone());
    assert!(
        matches!(third_state.as_deref(), None | Some("exists")),
        "{third_state:?}"
    );
    let none = format!("projects/{PROJECT}/plans/{third}");
    assert!(api.creates(&none).is_empty(), "{:?}", api.calls());

    // The API shows the requests: newest first, by the source's plan name.
    let admin = herald::admin::AdminServer::start(
        &herald::admin::AdminConfig {
            addr: "127.0.0.1:0".parse().expect("addr"),
            token: None,
            names: Vec::new(),
        },
        herald::admin::AdminState::of(&a),
    )
    .expect("admin");
    let listed = |query: &'static str| {
        let url = format!("http://{}/v1/rollout-requests{query}", admin.local_addr);
        async move {
            let body: Value = reqwest::get(url)
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            body["requests"].as_array().cloned().unwrap_or_default()
        }
    };
    let all = listed("").await;
    let shown: Vec<(&str, &str, i64)> = all
        .iter()
        .filter(|r| r["state"] == "created")
        .map(|r| {
            (
                r["source_plan"].as_str().unwrap_or(""),
                r["claimed_by"].as_str().unwrap_or(""),
                r["attempts"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(shown.len(), 2, "{all:?}");
    assert_eq!(
        (shown[0].0, shown[0].2),
        (exists.as_str(), 1),
        "newest first"
    );
    assert_eq!((shown[1].0, shown[1].2), (target.as_str(), 1));
    assert!(shown.iter().all(|r| r.1 == "node-a" || r.1 == "node-b"));
    assert!(all.iter().all(|r| r["finished_at"].is_string()), "{all:?}");
    assert!(listed("?pending=true").await.is_empty());
    assert_eq!(listed("?limit=1").await.len(), 1);
    admin.stop().await;

    a.stop().await;
    b.stop().await;
    let rollouts: Vec<(String, i64)> =
        sqlx::query_as("SELECT created_by, count(*) FROM rollout GROUP BY created_by ORDER BY 1")
            .fetch_all(&db.pool)
            .await
            .expect("rollouts");
    assert_eq!(
        rollouts,
        [("bytebase".to_owned(), 1), ("herald".to_owned(), 2)]
    );
    let created: i64 =
        sqlx::query_scalar("SELECT count(*) FROM herald_event WHERE type = 'rollout.created'")
            .fetch_one(&db.pool)
            .await
            .expect("events");
    assert_eq!(created, 2, "one rollout.created per rollout herald made");
    api.stop().await;
}

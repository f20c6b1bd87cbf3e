//! `herald demo`: a whole pipeline, end to end, on a private embedded
//! PostgreSQL in a temporary directory. herald runs with a short failure
//! window and a built-in sink; the demo plays the host application through
//! SQL only and prints each signed webhook as it arrives, then a summary.
//! Everything it created is removed at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use base64::Engine as _;
use rand::RngCore;
use tokio::sync::mpsc;

use super::sink::{self, ReceivedWebhook, Verification};
use crate::actors::PlanConfig;
use crate::admin::{AdminConfig, AdminServer, AdminState};
use crate::cli::{DatabaseArgs, DemoArgs};
use crate::daemon::{Daemon, DaemonConfig};
use crate::database::Database;
use crate::delivery::{DeliveryConfig, RetryPolicy};
use crate::endpoint::{Endpoint, EndpointSource, Platform, Secret};
use crate::presentation::{LinkTemplates, Locale, Presentation};
use crate::store::host_app::SeededPipeline;
use crate::store::Store;
use std::sync::Arc;

const STEP_DEADLINE: Duration = Duration::from_secs(20);

/// What the demo expects to arrive, in order (`ISSUE_APPROVED` and
/// `rollout.created` are decided at once, by two actors: in either order).
const EXPECTED: [&str; 7] = [
    "ISSUE_CREATED",
    "ISSUE_APPROVAL_REQUESTED",
    "issue.approved",
    "ISSUE_APPROVED",
    "rollout.created",
    "PIPELINE_FAILED",
    "PIPELINE_COMPLETED",
];

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("herald-demo-{}", std::process::id()));
    println!(
        "herald demo — a pipeline end to end (failure window {})",
        humantime::format_duration(args.failure_window)
    );
    println!("· starting a private PostgreSQL in {}", dir.display());
    let database = Database::open(&DatabaseArgs {
        database_url: None,
        data_dir: dir.join("pg"),
        pg_bin_dir: args.pg_bin_dir.clone(),
        db_max_connections: 8,
        db_statement_timeout: std::time::Duration::from_secs(10),
        db_lock_timeout: std::time::Duration::from_secs(5),
        schema: "herald".to_owned(),
        host_schema: "herald_host".to_owned(),
    })
    .await
    .context("the demo needs the PostgreSQL binaries (see README)")?;
    let result = play(&database, &args, started).await;
    database
        .close()
        .await
        .context("stopping the demo's PostgreSQL")?;
    remove_dir(&dir);
    let (received, deliveries) = result?;
    if args.keep_open {
        // Printed before the console opened; only the verdict is left.
        return verdict(&received);
    }
    summary(&received, &deliveries, started.elapsed(), Cleanup::Done)
}

/// When the demo's database and files go: already, or at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cleanup {
    Done,
    AtTheEnd,
}

fn remove_dir(dir: &PathBuf) {
    if let Err(error) = std::fs::remove_dir_all(dir) {
        eprintln!("warning: could not remove {}: {error}", dir.display());
    }
}

async fn play(
    database: &Database,
    args: &DemoArgs,
    started: Instant,
) -> anyhow::Result<(Vec<ReceivedWebhook>, Vec<(String, String, i32)>)> {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let secret = Secret::new(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ));

    let (tx, mut arrivals) = mpsc::unbounded_channel();
    let sink = sink::start(
        "127.0.0.1:0".parse()?,
        Some(secret.clone()),
        move |webhook| {
            println!("  ⇐ webhook {}", webhook.line());
            let _ = tx.send(webhook);
        },
    )
    .context("starting the demo's sink")?;
    println!(
        "· built-in sink listening on {} (verifies signatures)",
        sink.local_addr
    );

    let mut endpoint = demo_endpoint(
        "demo-sink",
        Platform::Generic,
        format!("http://{}/", sink.local_addr).parse()?,
    )?;
    endpoint.secret = Some(secret);
    endpoint.description = Some("herald demo's built-in sink".into());
    let daemon = Daemon::start(
        database.connect_options(),
        DaemonConfig {
            node_id: "demo".into(),
            endpoints: vec![endpoint],
            plans: PlanConfig {
                failure_window: args.failure_window,
                ..PlanConfig::default()
            },
            delivery: DeliveryConfig {
                retry: RetryPolicy {
                    base: Duration::from_millis(200),
                    cap: Duration::from_secs(2),
                    ..RetryPolicy::default()
                },
                ..DeliveryConfig::default()
            },
            ..DaemonConfig::default()
        },
    )
    .await
    .context("starting herald")?;
    let deadline = Instant::now() + STEP_DEADLINE;
    while daemon.metrics.listener_connected.get() != 1 {
        if Instant::now() > deadline {
            bail!("herald's listener did not connect");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("· herald is running\n");

    let outcome = scenario(&daemon.store, &mut arrivals).await;
    // The sink has them all; let herald finish recording the last ones.
    let deadline = Instant::now() + STEP_DEADLINE;
    let deliveries = loop {
        let states = daemon.store.demo_delivery_states().await;
        let settled =
            matches!(&states, Ok(rows) if rows.iter().all(|(_, state, _)| state != "pending"));
        if settled || outcome.is_err() || Instant::now() > deadline {
            break states;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    if let (true, Ok(received), Ok(rows)) = (args.keep_open, &outcome, &deliveries) {
        summary(received, rows, started.elapsed(), Cleanup::AtTheEnd)?;
        keep_open(&daemon, args.admin_addr).await?;
    }
    daemon.stop().await;
    sink.stop().await;
    Ok((outcome?, deliveries?))
}

/// `--keep-open`: the console on a free loopback port with a one-time
/// token, until Ctrl-C (or SIGTERM).
async fn keep_open(daemon: &Daemon, addr: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let token = crate::signing::generate_secret()
        .expose()
        .trim_start_matches("whsec_")
        .to_owned();
    let server = AdminServer::start(
        &AdminConfig {
            addr: match addr {
                Some(addr) => addr,
                None => "127.0.0.1:0".parse()?,
            },
            token: Some(Secret::new(token.clone())),
            names: Vec::new(),
        },
        AdminState::of(daemon),
    )
    .context("starting the console")?;
    println!(
        "
the demo stays open: herald is still running on its database"
    );
    println!("  console   http://{}/", server.local_addr);
    println!("  token     {token}");
    println!("  API       http://{}/openapi.json", server.local_addr);
    println!("press Ctrl-C to end the demo (its database and files are then removed)");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    server.stop().await;
    Ok(())
}

/// Wait for the next webhooks, which must be of `types`, in order.
async fn expect(
    arrivals: &mut mpsc::UnboundedReceiver<ReceivedWebhook>,
    types: &[&str],
    received: &mut Vec<ReceivedWebhook>,
) -> anyhow::Result<()> {
    for expected in types {
        let webhook = tokio::time::timeout(STEP_DEADLINE, arrivals.recv())
            .await
            .with_context(|| format!("no {expected} webhook within {STEP_DEADLINE:?}"))?
            .context("the sink stopped")?;
        let got = webhook.event_type.clone().unwrap_or_default();
        show_links_and_mentions(&webhook);
        received.push(webhook);
        if got != *expected {
            bail!("expected a {expected} webhook, got {got}");
        }
    }
    Ok(())
}

/// Like [`expect`], for webhooks that may arrive in any order.
async fn expect_unordered(
    arrivals: &mut mpsc::UnboundedReceiver<ReceivedWebhook>,
    types: &[&str],
    received: &mut Vec<ReceivedWebhook>,
) -> anyhow::Result<()> {
    let mut left: Vec<&str> = types.to_vec();
    while !left.is_empty() {
        let webhook = tokio::time::timeout(STEP_DEADLINE, arrivals.recv())
            .await
            .with_context(|| format!("no {} webhook within {STEP_DEADLINE:?}", left.join(" or ")))?
            .context("the sink stopped")?;
        let got = webhook.event_type.clone().unwrap_or_default();
        show_links_and_mentions(&webhook);
        received.push(webhook);
        let Some(index) = left.iter().position(|t| *t == got) else {
            bail!("expected a {} webhook, got {got}", left.join(" or "));
        };
        left.remove(index);
    }
    Ok(())
}

/// Where the demo's messages link to: the host app it plays.
fn demo_links() -> anyhow::Result<Arc<LinkTemplates>> {
    let templates = LinkTemplates::under("https://bytebase.example.com/projects/{project}")
        .map_err(anyhow::Error::msg)?;
    Ok(Arc::new(templates))
}

/// Under a webhook: its links, and for an approval request how Slack
/// would show the approvers (a real mention for a person in the people
/// directory, name and e-mail for the others) and its button.
fn show_links_and_mentions(webhook: &ReceivedWebhook) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&webhook.body) else {
        return;
    };
    // The most specific link (the generic payload has them all).
    let link = ["rollout", "issue", "plan"]
        .into_iter()
        .find_map(|kind| Some((kind, body["links"][kind].as_str()?)));
    if let Some((kind, url)) = link {
        println!("      link to the {kind}: {url}");
    }
    if webhook.event_type.as_deref() != Some("ISSUE_APPROVAL_REQUESTED") {
        return;
    }
    let Ok(event) = serde_json::from_value::<crate::events::Event>(body) else {
        return;
    };
    let Ok(url) = url::Url::parse("https://hooks.slack.com/services/T0/B0/demo") else {
        return;
    };
    let Ok(slack) = demo_endpoint("demo-slack-preview", Platform::Slack, url) else {
        return;
    };
    let Ok(rendered) = crate::formats::render(&slack, &event, chrono::Utc::now()) else {
        return;
    };
    let Ok(slack) = serde_json::from_slice::<serde_json::Value>(&rendered.body) else {
        return;
    };
    let blocks = slack["attachments"][0]["blocks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let approvers = blocks
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .flat_map(str::lines)
        .find(|line| line.starts_with("*Approvers:*"));
    let button = blocks
        .iter()
        .find(|b| b["type"] == "actions")
        .and_then(|b| b["elements"][0]["text"]["text"].as_str());
    if let Some(line) = approvers {
        println!("      on Slack {line}   (<@U0GRACE01> is a real mention)");
    }
    if let Some(label) = button {
        println!("      on Slack a \"{label}\" button to the link above");
    }
}

/// An endpoint of the demo (every event, the demo's links, no secret).
fn demo_endpoint(id: &str, platform: Platform, url: url::Url) -> anyhow::Result<Endpoint> {
    Ok(Endpoint {
        id: id.into(),
        source: EndpointSource::Config,
        platform,
        url,
        secret: None,
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: crate::endpoint::Ordering::Strict,
        presentation: Presentation {
            locale: Locale::En,
            links: demo_links()?,
        },
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    })
}

async fn scenario(
    store: &Store,
    arrivals: &mut mpsc::UnboundedReceiver<ReceivedWebhook>,
) -> anyhow::Result<Vec<ReceivedWebhook>> {
    let mut received = Vec::new();
    let tasks = [
        ("Add index on orders", "pg-eu-1", "orders"),
        ("Add index on orders", "pg-us-1", "orders"),
        ("Backfill order totals", "pg-eu-1", "orders"),
        ("Backfill order totals", "pg-us-1", "orders"),
        ("Drop legacy column", "pg-eu-1", "orders"),
    ];
    println!("→ host app: project \"payments\" (requires approval and clean plan checks), people, a plan of 5 tasks");
    let pipeline: SeededPipeline = store
        .seed_pipeline("payments", "DBA", "Orders schema change", &tasks)
        .await?;

    println!("→ host app: Ada opens an issue waiting on the DBA role");
    let issue = store
        .create_issue(&pipeline, "Orders schema change", "DBA")
        .await?;
    expect(arrivals, &EXPECTED[..2], &mut received).await?;

    println!("→ host app: the plan checks finish clean");
    store.finish_clean_plan_check(pipeline.plan_id).await?;
    println!("→ host app: Grace approves (and emits its own `issue.approved` in that transaction)");
    store.approve_issue(issue, pipeline.approver_ids[0]).await?;
    expect(arrivals, &EXPECTED[2..3], &mut received).await?;
    expect_unordered(arrivals, &EXPECTED[3..5], &mut received).await?;
    match store.rollout_of(pipeline.plan_id).await? {
        Some((id, by)) => println!("  ✓ rollout #{id} exists, created by {by}"),
        None => bail!("herald did not create the rollout"),
    }

    println!("→ host app: the rollout runs; 2 of 5 tasks fail");
    let runs = store.start_task_runs(&pipeline.task_ids).await?;
    for (index, run) in runs.iter().enumerate() {
        let (status, error) = match index {
            1 => ("FAILED", Some("lock timeout on orders (55P03)")),
            3 => ("FAILED", Some("disk quota exceeded on pg-us-1")),
            _ => ("DONE", None),
        };
        store.finish_task_run(*run, status, error).await?;
    }
    expect(arrivals, &EXPECTED[5..6], &mut received).await?;

    println!("→ host app: the two failed tasks are retried and succeed");
    let retried = [pipeline.task_ids[1], pipeline.task_ids[3]];
    for run in store.start_task_runs(&retried).await? {
        store.finish_task_run(run, "DONE", None).await?;
    }
    expect(arrivals, &EXPECTED[6..], &mut received).await?;
    Ok(received)
}

fn summary(
    received: &[ReceivedWebhook],
    deliveries: &[(String, String, i32)],
    elapsed: Duration,
    cleanup: Cleanup,
) -> anyhow::Result<()> {
    let verified = received
        .iter()
        .filter(|w| w.verification == Verification::Verified)
        .count();
    println!("\nsummary");
    println!(
        "  webhooks received   {} ({} with a valid signature)",
        received.len(),
        verified
    );
    for (event_type, state, attempts) in deliveries {
        println!("  delivery            {event_type:<26} {state:<10} {attempts} attempt(s)");
    }
    println!(
        "  time                {:.1}s; the demo's database and files {}",
        elapsed.as_secs_f64(),
        match cleanup {
            Cleanup::Done => "are removed",
            Cleanup::AtTheEnd => "are removed when the demo ends",
        }
    );
    verdict(received)
}

/// The demo passed when every expected webhook arrived verified.
fn verdict(received: &[ReceivedWebhook]) -> anyhow::Result<()> {
    let verified = received
        .iter()
        .filter(|w| w.verification == Verification::Verified)
        .count();
    if verified != EXPECTED.len() {
        bail!("{} of {} webhooks verified", verified, EXPECTED.len());
    }
    Ok(())
}

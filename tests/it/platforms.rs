//! Platforms as their APIs document them, on loopback: a Slack receiver
//! that enforces Block Kit limits and rejects with `invalid_blocks`, a Teams
//! Workflows receiver that answers 202, and a receiver that throttles.

use std::time::Duration;

use herald::delivery::RetryPolicy;
use herald::endpoint::{Endpoint, EndpointSource, Platform};
use herald::formats::samples;

use crate::delivery::{count_state, fast_delivery, start};
use crate::support::receiver::{Receiver, Reply};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(60);

fn platform_endpoint(id: &str, platform: Platform, url: String) -> Endpoint {
    Endpoint {
        id: id.into(),
        source: EndpointSource::Config,
        platform,
        url: url.parse().expect("url"),
        secret: None,
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

/// A PIPELINE_FAILED on a realistic bad day: `tasks` failures with
/// `error_bytes`-long PostgreSQL errors.
async fn emit_bad_day(db: &TestDb, tasks: usize, error_bytes: usize) {
    let sample = samples::sample("PIPELINE_FAILED");
    let error = format!(
        "ERROR: could not obtain lock on relation \"orders\" {}",
        "x".repeat(error_bytes)
    );
    let failed: Vec<_> = (0..tasks)
        .map(|i| {
            serde_json::json!({
                "task_id": i, "name": format!("Migrate shard {i}"), "instance": "prod-eu",
                "database": format!("orders_{i}"), "error": error,
                "failed_at": "2026-11-23T10:00:00Z"
            })
        })
        .collect();
    let payload = serde_json::json!({
        "project": sample.project, "issue": sample.issue, "plan": sample.plan,
        "data": {"generation": 1, "failed_tasks": failed, "first_failure_at": "2026-11-23T10:00:00Z"},
    });
    sqlx::query("SELECT herald_emit('PIPELINE_FAILED', $1)")
        .bind(payload)
        .execute(&db.pool)
        .await
        .expect("emit");
}

async fn emit_tick(db: &TestDb, n: i64) {
    sqlx::query("SELECT herald_emit('test.tick', jsonb_build_object('data', jsonb_build_object('n', $1::bigint)))")
        .bind(n)
        .execute(&db.pool)
        .await
        .expect("emit");
}

/// What Slack's incoming webhook checks of Block Kit (header ≤ 150, a
/// section's text ≤ 3,000, ≤ 50 blocks): `Err("invalid_blocks")` like Slack.
fn slack_accepts(body: &serde_json::Value) -> Result<(), &'static str> {
    let empty = Vec::new();
    let top = body["blocks"].as_array().unwrap_or(&empty);
    let attached: Vec<&serde_json::Value> = body["attachments"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .flat_map(|a| a["blocks"].as_array().unwrap_or(&empty))
        .collect();
    if top.len() > 50 || attached.len() > 50 {
        return Err("invalid_blocks");
    }
    for block in top.iter().chain(attached) {
        let text = block["text"]["text"].as_str().unwrap_or_default();
        let max = match block["type"].as_str() {
            Some("header") => 150,
            _ => 3000,
        };
        if text.chars().count() > max {
            return Err("invalid_blocks");
        }
    }
    Ok(())
}

/// A message Slack rejects (`400 invalid_blocks`) fails after one attempt
/// and the endpoint's next message goes out right after it, not after the
/// retry schedule; a bad day's PIPELINE_FAILED passes Slack's checks.
#[actix_rt::test]
async fn a_rejected_message_fails_at_once_and_the_queue_moves_on() {
    let db = TestDb::new().await;
    // The first request is refused the way Slack refuses an oversized body.
    let receiver = Receiver::start(|n, _| {
        if n == 0 {
            Reply::Body(400, b"invalid_blocks".to_vec())
        } else {
            Reply::Body(200, b"ok".to_vec())
        }
    });
    let mut config = fast_delivery();
    // Were the rejection retried, the next message would wait an hour.
    config.retry = RetryPolicy {
        base: Duration::from_secs(3600),
        ..RetryPolicy::default()
    };
    let daemon = start(
        &db,
        "one",
        vec![platform_endpoint(
            "slack",
            Platform::Slack,
            receiver.url("/slack"),
        )],
        config,
    )
    .await;
    emit_tick(&db, 1).await;
    emit_bad_day(&db, 12, 600).await;
    emit_bad_day(&db, 300, 5000).await;

    wait_until("both bad days delivered", DEADLINE, || async {
        (count_state(&db, "slack", "delivered").await == 2).then_some(())
    })
    .await;
    let (state, attempts, error): (String, i32, Option<String>) = sqlx::query_as(
        "SELECT state, attempts, last_error FROM herald_delivery WHERE endpoint_id = 'slack' ORDER BY id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("first delivery");
    assert_eq!((state.as_str(), attempts), ("failed", 1));
    assert_eq!(error.as_deref(), Some("HTTP 400: invalid_blocks"));

    let received = receiver.received();
    assert_eq!(received.len(), 3, "one attempt each");
    for bad_day in &received[1..] {
        assert_eq!(slack_accepts(&bad_day.body), Ok(()));
        let text = bad_day.body.to_string();
        assert!(text.contains("Migrate shard 0"), "first failures shown");
        assert!(text.contains("more (see the full list"), "the rest counted");
    }
    daemon.stop().await;
    receiver.stop().await;
}

/// A Teams Workflows webhook gets a `message` with one Adaptive Card and
/// answers 202 Accepted, which counts as delivered.
#[actix_rt::test]
async fn teams_workflows_get_an_adaptive_card_and_202_is_delivered() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, _| Reply::Status(202));
    let daemon = start(
        &db,
        "one",
        vec![platform_endpoint(
            "teams",
            Platform::Teams,
            receiver.url("/workflows/invoke"),
        )],
        fast_delivery(),
    )
    .await;
    emit_bad_day(&db, 3, 100).await;
    wait_until("delivered", DEADLINE, || async {
        (count_state(&db, "teams", "delivered").await == 1).then_some(())
    })
    .await;
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let body = &received[0].body;
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachments[0]["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["body"][0]["style"], "attention");
    assert!(card.to_string().contains("Migrate shard 2"));
    daemon.stop().await;
    receiver.stop().await;
}

/// A receiver that throttles (429 + Retry-After) many times does not use
/// up the attempt budget: with one attempt allowed, the delivery still
/// arrives once the throttling stops, after the order it was queued in.
#[actix_rt::test]
async fn throttling_does_not_spend_the_attempt_budget() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|n, _| {
        if n < 5 {
            Reply::RetryAfter(429, "0".into())
        } else {
            Reply::Status(204)
        }
    });
    let mut config = fast_delivery();
    config.retry.max_attempts = 1;
    let daemon = start(
        &db,
        "one",
        vec![platform_endpoint(
            "throttled",
            Platform::Discord,
            receiver.url("/throttled"),
        )],
        config,
    )
    .await;
    emit_tick(&db, 1).await;
    emit_tick(&db, 2).await;
    wait_until("both delivered", DEADLINE, || async {
        (count_state(&db, "throttled", "delivered").await == 2).then_some(())
    })
    .await;
    let (attempts, throttled): (i32, i32) = sqlx::query_as(
        "SELECT attempts, throttled_attempts FROM herald_delivery WHERE endpoint_id = 'throttled' ORDER BY id LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("first delivery");
    assert_eq!((attempts, throttled), (6, 5));
    daemon.stop().await;
    receiver.stop().await;
}

//! PostgreSQL's own ceiling for herald's write pattern on this machine:
//! emit (event + outbox row), then per endpoint the statements a delivery
//! actor's drain loop runs — the disabled check and the pending read per
//! batch, and per delivery a lease-fenced record through the same
//! group-commit recorder, synchronous, each awaited before the next of its
//! endpoint — without HTTP. herald's end-to-end figure reads as a fraction
//! of this.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use herald::store::outbox::{AttemptRecord, NextStep};
use herald::store::text::RecordText;

use crate::bench_db::BenchDb;

/// The headers herald keeps with a generic webhook's attempt.
const REQUEST_HEADERS: &str = r#"[["content-type","application/json"],["webhook-id","msg_0192a9e1b2c37d4e8f9a0b1c2d3e4f50"],["webhook-timestamp","1764806400"],["webhook-signature","v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="],["user-agent","herald/0.1.0"]]"#;

pub async fn ceiling(deliveries: usize, writers: usize) -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let store = db.store.clone();
    let recorder = herald::delivery::recorder::Recorder::start(store.clone());
    let endpoints: Vec<String> = (0..writers).map(|i| format!("w{i}")).collect();
    for id in &endpoints {
        sqlx::query("INSERT INTO herald_endpoint (id, event_types) VALUES ($1, $2)")
            .bind(id)
            .bind(vec![format!("bench.{id}")])
            .execute(store.pool())
            .await?;
        store
            .acquire_lease(id, "ceiling", Duration::from_secs(3600))
            .await?
            .ok_or_else(|| anyhow::anyhow!("lease of {id} is held elsewhere"))?;
    }
    let per_writer = (deliveries / writers).max(1) as i64;

    let started = Instant::now();
    for id in &endpoints {
        sqlx::query(
            "SELECT herald_emit($1, jsonb_build_object('data', jsonb_build_object('n', g)))
               FROM generate_series(1, $2::bigint) g",
        )
        .bind(format!("bench.{id}"))
        .bind(per_writer)
        .execute(store.pool())
        .await
        .context("emit")?;
    }
    let emitted = started.elapsed();

    let recording = Instant::now();
    let mut tasks = Vec::new();
    for id in endpoints.clone() {
        let store = store.clone();
        let recorder = recorder.clone();
        tasks.push(actix_rt::spawn(async move {
            loop {
                store.endpoint_disabled(&id).await?;
                let batch = store.pending_deliveries(&id, 200).await?;
                if batch.is_empty() {
                    return Ok::<_, anyhow::Error>(());
                }
                for delivery in batch {
                    let body = format!(
                        r#"{{"type":"{}","timestamp":"{}","data":{{"n":{}}}}}"#,
                        delivery.event_type,
                        Utc::now().to_rfc3339(),
                        delivery.id
                    );
                    let record = AttemptRecord {
                        delivery_id: delivery.id,
                        event_id: delivery.event_id,
                        event_type: delivery.event_type.clone(),
                        endpoint_id: id.clone(),
                        url: "http://127.0.0.1/".into(),
                        attempt: 1,
                        succeeded: true,
                        throttled: false,
                        http_status: Some(204),
                        error: None,
                        latency_ms: 0,
                        response_excerpt: None,
                        started_at: Utc::now(),
                        // What herald keeps of a generic webhook's request.
                        request_headers: Some(REQUEST_HEADERS.into()),
                        request_body: Some(RecordText::capped(&body, usize::MAX)),
                    };
                    recorder
                        .record("ceiling", 1, record, NextStep::Delivered)
                        .await?;
                }
            }
        }));
    }
    for task in tasks {
        task.await.context("writer")??;
    }
    let recorded = recording.elapsed();
    let total = per_writer * writers as i64;
    println!(
        "ceiling     deliveries={total} endpoints={writers}: emit {:>8.0} deliveries/s, \
         read+record {:>8.0} deliveries/s, both {:>8.0} deliveries/s (PostgreSQL alone, no HTTP)",
        total as f64 / emitted.as_secs_f64(),
        total as f64 / recorded.as_secs_f64(),
        total as f64 / (emitted + recorded).as_secs_f64(),
    );
    db.drop_database().await
}

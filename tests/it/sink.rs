//! `herald sink` over real HTTP: herald's own signed requests are accepted,
//! tampered, unsigned or wrongly signed ones get 401.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use herald::commands::sink::{self, ReceivedWebhook, Verification};
use herald::endpoint::{Endpoint, EndpointSource, Platform, Secret};
use herald::formats::{self, samples};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn endpoint(url: &str) -> Endpoint {
    Endpoint {
        id: "sink-test".into(),
        source: EndpointSource::Config,
        platform: Platform::Generic,
        url: url.parse().expect("url"),
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

async fn post(url: &str, request: &formats::RenderedRequest, body: Vec<u8>) -> u16 {
    let mut builder = reqwest::Client::new().post(url).body(body);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    builder
        .send()
        .await
        .expect("sink answers")
        .status()
        .as_u16()
}

#[actix_rt::test]
async fn signed_accepted_tampered_rejected() {
    let seen: Arc<Mutex<Vec<ReceivedWebhook>>> = Arc::default();
    let record = seen.clone();
    let server = sink::start(
        "127.0.0.1:0".parse().expect("addr"),
        Some(Secret::new(SECRET)),
        move |w| record.lock().expect("lock").push(w),
    )
    .expect("sink starts");
    let url = format!("http://{}/hook", server.local_addr);
    let event = samples::sample("PIPELINE_FAILED");
    let request = formats::render(&endpoint(&url), &event, Utc::now()).expect("renders");

    assert_eq!(post(&url, &request, request.body.clone()).await, 200);
    let mut tampered = request.body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(post(&url, &request, tampered).await, 401);
    let unsigned = formats::RenderedRequest {
        headers: vec![("content-type".into(), "application/json".into())],
        ..request.clone()
    };
    assert_eq!(post(&url, &unsigned, request.body.clone()).await, 401);
    let mut other = endpoint(&url);
    other.secret = Some(Secret::new("whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCE="));
    let wrong = formats::render(&other, &event, Utc::now()).expect("renders");
    assert_eq!(post(&url, &wrong, wrong.body.clone()).await, 401);

    server.stop().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].verification, Verification::Verified);
    assert_eq!(seen[0].event_type.as_deref(), Some("PIPELINE_FAILED"));
    assert_eq!(seen[0].webhook_id, Some(event.webhook_id()));
    assert!(
        seen[0].line().contains("Pipeline failed"),
        "{}",
        seen[0].line()
    );
    for rejected in &seen[1..] {
        assert!(
            matches!(rejected.verification, Verification::Rejected(_)),
            "{rejected:?}"
        );
    }
}

#[actix_rt::test]
async fn without_a_secret_everything_is_accepted_unchecked() {
    let seen: Arc<Mutex<Vec<ReceivedWebhook>>> = Arc::default();
    let record = seen.clone();
    let server = sink::start("127.0.0.1:0".parse().expect("addr"), None, move |w| {
        record.lock().expect("lock").push(w)
    })
    .expect("sink starts");
    let url = format!("http://{}/", server.local_addr);
    let status = reqwest::Client::new()
        .post(&url)
        .body("not json")
        .send()
        .await
        .expect("sink answers")
        .status()
        .as_u16();
    assert_eq!(status, 200);
    server.stop().await;
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].verification, Verification::Unchecked);
    assert_eq!(seen[0].event_type, None);
}

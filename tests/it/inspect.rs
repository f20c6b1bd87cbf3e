//! Seeing and resending what was sent: each attempt keeps the request as
//! sent (headers, body); deliveries are found by event id and `webhook-id`;
//! any finished delivery can be resent, an endpoint's failures recovered
//! since a time, attempt numbers keep increasing and each replay says who
//! asked.

use std::time::Duration;

use serde_json::{json, Value};

use crate::api_contract::with_failed_deliveries;
use crate::delivery::wait_state;
use crate::support::receiver::{Receiver, Reply};
use crate::support::wait_until;

const TOKEN: &str = "inspect-token";
const DEADLINE: Duration = Duration::from_secs(10);

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// POST `body` as JSON, or nothing at all (no body, no type).
    async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("post");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn detail(&self, id: i64) -> Value {
        let (status, body) = self.get(&format!("/v1/deliveries/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn header<'a>(attempt: &'a Value, name: &str) -> Option<&'a str> {
    attempt["request_headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

#[actix_rt::test]
async fn what_was_sent_is_shown_found_by_webhook_id_and_resent_with_numbers_that_continue() {
    // The first request is accepted, the next two fail (one try each).
    let receiver = Receiver::start(|n, _| Reply::Status(if n == 0 { 204 } else { 400 }));
    let (db, daemon, server) = with_failed_deliveries("inspect", &receiver, 3, 2, TOKEN).await;
    let api = Api {
        base: format!("http://{}", server.local_addr),
        http: reqwest::Client::new(),
    };
    let (_, page) = api.get("/v1/deliveries?status=delivered").await;
    let delivered = page["deliveries"][0]["id"]
        .as_i64()
        .expect("a delivered one");

    // The attempt shows exactly what the receiver got.
    let got = receiver.received()[0].clone();
    let detail = api.detail(delivered).await;
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["trigger"], "scheduled");
    assert_eq!(
        attempt["request_body"].as_str().map(str::as_bytes),
        Some(got.raw.as_slice())
    );
    assert_eq!(header(attempt, "webhook-id"), got.webhook_id.as_deref());
    assert_eq!(
        header(attempt, "webhook-signature"),
        got.signature.as_deref()
    );
    assert_eq!(
        header(attempt, "webhook-timestamp"),
        got.timestamp.as_deref()
    );
    assert_eq!(header(attempt, "content-type"), Some("application/json"));
    assert_eq!(detail["event"]["payload"]["data"], got.body["data"]);
    let webhook_id = got.webhook_id.clone().expect("webhook-id");
    assert_eq!(detail["event"]["webhook_id"], webhook_id.as_str());

    // Found by webhook-id and by event id, in the list and as an event.
    let event_id = detail["event"]["id"].as_str().expect("event id").to_owned();
    for query in [
        format!("webhook_id={webhook_id}"),
        format!("event_id={event_id}"),
        format!("event_id={webhook_id}"),
    ] {
        let (status, page) = api.get(&format!("/v1/deliveries?{query}")).await;
        assert_eq!(status, 200, "{page}");
        let ids: Vec<i64> = page["deliveries"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|d| d["id"].as_i64()).collect())
            .unwrap_or_default();
        assert_eq!(ids, [delivered], "{query}");
    }
    let (status, event) = api.get(&format!("/v1/events/{webhook_id}")).await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["event"]["id"], event_id.as_str());
    assert_eq!(event["deliveries"][0]["id"], delivered);
    assert_eq!(api.get("/v1/events/not-an-id").await.0, 400);
    assert_eq!(
        api.get(&format!("/v1/events/{}", uuid::Uuid::nil()))
            .await
            .0,
        404
    );

    // A delivered message is resent: same webhook-id, attempt 2, who asked.
    receiver.set(|_, _| Reply::Status(204));
    let (status, body) = api
        .post(
            &format!("/v1/deliveries/{delivered}/replay"),
            Some(json!({"requested_by": "alice"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let detail = wait_until("the resend", DEADLINE, || async {
        let detail = api.detail(delivered).await;
        (detail["delivery"]["state"] == "delivered" && detail["attempts"][1].is_object())
            .then_some(detail)
    })
    .await;
    assert_eq!(detail["attempts"][1]["attempt"], 2);
    assert_eq!(detail["attempts"][1]["trigger"], "replay");
    assert_eq!(detail["attempts"][1]["requested_by"], "alice");
    assert_eq!(detail["delivery"]["attempts"], 2);
    assert_eq!(detail["replays"][0]["from_state"], "delivered");
    assert_eq!(detail["replays"][0]["first_attempt"], 2);
    let resent: Vec<_> = receiver
        .received()
        .into_iter()
        .filter(|r| r.webhook_id.as_deref() == Some(webhook_id.as_str()))
        .collect();
    assert_eq!(resent.len(), 2, "the same message id both times");

    // Recover: every failure of the endpoint since a time, once each.
    assert_eq!(
        api.post("/v1/endpoints/inspect/recover", None).await.0,
        400,
        "since is required"
    );
    assert_eq!(
        api.post("/v1/endpoints/nope/recover", Some(json!({"since": "1h"})))
            .await
            .0,
        404
    );
    let (status, body) = api
        .post(
            "/v1/endpoints/inspect/recover",
            Some(json!({"since": "1h", "requested_by": "bob"})),
        )
        .await;
    assert_eq!((status, &body["replayed"]), (202, &json!(2)), "{body}");
    wait_state(&db, "inspect", "delivered", 3).await;
    let (_, page) = api.get("/v1/deliveries?endpoint=inspect").await;
    for row in page["deliveries"].as_array().expect("rows") {
        let id = row["id"].as_i64().expect("id");
        if id == delivered {
            continue;
        }
        let detail = api.detail(id).await;
        assert_eq!(detail["attempts"][1]["attempt"], 2, "{detail}");
        assert_eq!(detail["attempts"][1]["trigger"], "recover");
        assert_eq!(detail["attempts"][1]["requested_by"], "bob");
    }
    let (_, again) = api
        .post(
            "/v1/endpoints/inspect/recover",
            Some(json!({"since": "1h"})),
        )
        .await;
    assert_eq!(again["replayed"], 0, "nothing failed is left");

    // A replay needs no body at all.
    let (status, body) = api
        .post(&format!("/v1/deliveries/{delivered}/replay"), None)
        .await;
    assert_eq!(status, 202, "{body}");
    let detail = wait_until("the bodiless resend", DEADLINE, || async {
        let detail = api.detail(delivered).await;
        detail["attempts"][2].is_object().then_some(detail)
    })
    .await;
    assert_eq!(detail["attempts"][2]["attempt"], 3);
    assert_eq!(detail["attempts"][2]["requested_by"], "admin-api");

    // A host may store numbers no float holds: shown as stored, not a 500.
    let huge: uuid::Uuid =
        sqlx::query_scalar("SELECT herald_emit('test.huge', '{\"data\": {\"n\": 1e400}}')")
            .fetch_one(&db.pool)
            .await
            .expect("emit");
    let raw = api
        .http
        .get(format!("{}/v1/events/{huge}", api.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(raw.status(), 200);
    let text = raw.text().await.expect("body");
    assert!(text.contains("\"n\": 1000000000"), "{text}");

    server.stop().await;
    daemon.stop().await;
    receiver.stop().await;
}

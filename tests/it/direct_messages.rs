//! Direct messages through loopback servers that answer like Slack's and
//! Feishu's APIs (`support::im_api`): one message per recipient, exactly
//! once across replicas; an unknown person fails alone with the
//! platform's reason; a 429 is honoured; a revoked token fails clearly.

use std::time::Duration;

use herald::endpoint::{Endpoint, EndpointSource, Platform, Secret};
use herald::presentation::Locale;

use crate::delivery::{fast_delivery, start};
use crate::support::im_api::{self, ImApi};
use crate::support::{wait_until, TestDb};

const DEADLINE: Duration = Duration::from_secs(30);

fn dm_endpoint(id: &str, platform: Platform, base: String, secret: &str) -> Endpoint {
    Endpoint {
        id: id.into(),
        source: EndpointSource::Config,
        platform,
        url: base.parse().expect("url"),
        secret: Some(Secret::new(secret)),
        event_types: vec!["*".into()],
        project_id: None,
        project_resource: None,
        enabled: true,
        description: None,
        ordering: herald::endpoint::Ordering::Strict,
        presentation: Default::default(),
        direct_messages: true,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    }
}

/// Emit an approval request for `approvers` (id, name, email, handles).
async fn approval_requested(db: &TestDb, approvers: serde_json::Value) {
    sqlx::query(
        "SELECT herald_emit('ISSUE_APPROVAL_REQUESTED', jsonb_build_object('data',
                 jsonb_build_object('role', 'DBA', 'required_count', 1, 'approvers', $1::jsonb)))",
    )
    .bind(approvers)
    .execute(&db.pool)
    .await
    .expect("emit");
}

/// (recipient, state, last error) of every delivery to `endpoint`.
async fn deliveries(db: &TestDb, endpoint: &str) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT recipient, state, last_error FROM herald_delivery
          WHERE endpoint_id = $1 ORDER BY length(recipient), recipient",
    )
    .bind(endpoint)
    .fetch_all(&db.pool)
    .await
    .expect("deliveries")
}

async fn wait_settled(
    db: &TestDb,
    endpoint: &str,
    count: usize,
) -> Vec<(String, String, Option<String>)> {
    wait_until(&format!("{count} settled deliveries"), DEADLINE, || async {
        let rows = deliveries(db, endpoint).await;
        (rows.len() == count && rows.iter().all(|(_, state, _)| state != "pending")).then_some(rows)
    })
    .await
}

/// Two replicas, three approvers (one in the people directory, one found
/// by e-mail, one unknown to Slack): two messages, each sent once; the
/// unknown one fails with Slack's `users_not_found`, the others are
/// delivered; the first post's 429 is waited out before the retry.
#[actix_rt::test]
async fn slack_one_message_per_approver_exactly_once_across_two_replicas() {
    let db = TestDb::new().await;
    let api = ImApi::start(&[("bob@example.com", "U0BOB")]);
    api.throttle_posts(1);
    let endpoint = dm_endpoint(
        "slack-dm",
        Platform::Slack,
        api.slack_base(),
        im_api::SLACK_TOKEN,
    );
    let a = start(&db, "node-a", vec![endpoint.clone()], fast_delivery()).await;
    let b = start(&db, "node-b", vec![endpoint], fast_delivery()).await;
    approval_requested(
        &db,
        serde_json::json!([
            {"id": 1, "name": "Alice", "email": "alice@example.com", "handles": {"slack": "U0ALICE"}},
            {"id": 2, "name": "Bob", "email": "bob@example.com"},
            {"id": 3, "name": "Carol", "email": "carol@example.com"},
        ]),
    )
    .await;
    let rows = wait_settled(&db, "slack-dm", 3).await;
    assert_eq!(rows[0].0, "1");
    assert_eq!(rows[0].1, "delivered", "{rows:?}");
    assert_eq!(rows[1].1, "delivered", "{rows:?}");
    assert_eq!(rows[2].1, "failed", "{rows:?}");
    assert!(
        rows[2]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("users_not_found")),
        "{rows:?}"
    );
    let delivered = api.delivered();
    let mut channels: Vec<&str> = delivered.iter().map(|c| c.target.as_str()).collect();
    channels.sort();
    assert_eq!(channels, ["U0ALICE", "U0BOB"], "each approver once");
    for call in &delivered {
        assert!(
            call.body["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Approval requested")),
            "{}",
            call.body
        );
    }
    let calls = api.calls();
    let lookups: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "users.lookupByEmail")
        .map(|c| c.target.as_str())
        .collect();
    assert!(
        !lookups.contains(&"alice@example.com"),
        "the directory's member id is used: {lookups:?}"
    );
    let throttled = calls.iter().find(|c| c.status == 429).expect("one 429");
    let retried = calls
        .iter()
        .find(|c| c.method == "chat.postMessage" && c.target == throttled.target && c.status == 200)
        .expect("the throttled message is sent again");
    assert!(
        retried.at.duration_since(throttled.at) >= Duration::from_millis(900),
        "Retry-After: 1 is honoured ({:?})",
        retried.at.duration_since(throttled.at)
    );
    let attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM herald_delivery_attempt WHERE endpoint_id = 'slack-dm' AND error LIKE '%ratelimited%'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempts");
    assert_eq!(attempts, 1, "the 429 is in the attempt log");
    a.stop().await;
    b.stop().await;
    api.stop().await;
}

/// Feishu: the app's token is fetched once with its credentials; the message
/// goes to the e-mail (or the directory's open_id); an unknown e-mail
/// fails with Feishu's 230001, the other approver gets the Chinese card.
#[actix_rt::test]
async fn feishu_direct_messages_by_email_and_open_id_in_chinese() {
    let db = TestDb::new().await;
    let api = ImApi::start(&[
        ("bob@example.com", "ou_bob"),
        ("alice@example.com", "ou_alice"),
    ]);
    let mut endpoint = dm_endpoint(
        "feishu-dm",
        Platform::Feishu,
        api.feishu_base(),
        &format!("{}:{}", im_api::FEISHU_APP, im_api::FEISHU_SECRET),
    );
    endpoint.presentation.locale = Locale::ZhCn;
    let daemon = start(&db, "node-a", vec![endpoint], fast_delivery()).await;
    approval_requested(
        &db,
        serde_json::json!([
            {"id": 1, "name": "Alice", "email": "alice@example.com", "handles": {"feishu": "ou_alice"}},
            {"id": 2, "name": "Bob", "email": "bob@example.com"},
            {"id": 3, "name": "Carol", "email": "carol@example.com"},
        ]),
    )
    .await;
    let rows = wait_settled(&db, "feishu-dm", 3).await;
    let states: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(states, ["delivered", "delivered", "failed"], "{rows:?}");
    assert!(
        rows[2].2.as_deref().is_some_and(|e| e.contains("230001")),
        "{rows:?}"
    );
    let mut targets: Vec<String> = api.delivered().iter().map(|c| c.target.clone()).collect();
    targets.sort();
    assert_eq!(targets, ["email:bob@example.com", "open_id:ou_alice"]);
    let card: serde_json::Value = serde_json::from_str(
        api.delivered()[0].body["content"]
            .as_str()
            .expect("content is a JSON string"),
    )
    .expect("card");
    assert!(
        card["header"]["title"]["content"]
            .as_str()
            .is_some_and(|t| t.starts_with("需要审批")),
        "{card}"
    );
    // The attempt log keeps each message call as sent, its token masked;
    // never the token call, whose body is the app secret.
    let kept: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT request_headers::text, request_body FROM herald_delivery_attempt ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .expect("attempts");
    assert_eq!(kept.len(), 3);
    for (headers, body) in &kept {
        let (headers, body) = (
            headers.as_deref().unwrap_or(""),
            body.as_deref().unwrap_or(""),
        );
        assert!(!headers.contains(im_api::FEISHU_SECRET) && !body.contains(im_api::FEISHU_SECRET));
    }
    let message_calls = kept
        .iter()
        .filter(|(headers, body)| {
            headers
                .as_deref()
                .is_some_and(|h| h.contains("Bearer ****"))
                && body.as_deref().is_some_and(|b| b.contains("receive_id"))
        })
        .count();
    assert_eq!(message_calls, 3, "each attempt's message call: {kept:?}");
    assert_eq!(
        token_calls(&api),
        1,
        "the tenant token is fetched once and reused until it expires"
    );
    daemon.stop().await;
    api.stop().await;
}

/// A revoked token fails each message with Slack's reason instead of
/// retrying it forever, and a sent-back issue goes to its creator.
#[actix_rt::test]
async fn a_revoked_token_fails_clearly_and_sent_back_goes_to_the_creator() {
    let db = TestDb::new().await;
    let api = ImApi::start(&[("ada@example.com", "U0ADA")]);
    let endpoint = dm_endpoint(
        "slack-dm",
        Platform::Slack,
        api.slack_base(),
        im_api::SLACK_TOKEN,
    );
    let daemon = start(&db, "node-a", vec![endpoint], fast_delivery()).await;
    let sent_back = |creator: serde_json::Value| {
        let pool = db.pool.clone();
        async move {
            sqlx::query(
                "SELECT herald_emit('ISSUE_SENT_BACK', jsonb_build_object('data',
                         jsonb_build_object('reason', 'later', 'creator', $1::jsonb)))",
            )
            .bind(creator)
            .execute(&pool)
            .await
            .expect("emit");
        }
    };
    sent_back(serde_json::json!({"id": 9, "name": "Ada", "email": "ada@example.com"})).await;
    let rows = wait_settled(&db, "slack-dm", 1).await;
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("9", "delivered"));
    assert_eq!(api.delivered()[0].target, "U0ADA");
    api.revoke();
    sent_back(serde_json::json!({"id": 10, "name": "Ada", "email": "ada@example.com"})).await;
    let rows = wait_settled(&db, "slack-dm", 2).await;
    assert_eq!(rows[1].1, "failed", "{rows:?}");
    assert!(
        rows[1]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("token_revoked")),
        "{rows:?}"
    );
    let tries: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM herald_delivery_attempt a JOIN herald_delivery d ON d.id = a.delivery_id
          WHERE d.recipient = '10'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempts");
    assert_eq!(tries, 1, "no retry storm");
    daemon.stop().await;
    api.stop().await;
}

/// The token calls an API answered.
fn token_calls(api: &ImApi) -> usize {
    api.calls().iter().filter(|c| c.method == "token").count()
}

/// WeCom, two replicas: an application message per approver — one by the
/// directory's userid, one by the userid WeCom finds for the e-mail — each
/// sent once; the unknown e-mail fails alone with WeCom's 46004; the first
/// send's 45009 (frequency limit) is waited out; one access token serves
/// every message. When the app's secret is revoked, the expired token is
/// forgotten and the next message fails clearly (40001) without retries.
#[actix_rt::test]
async fn wecom_application_messages_exactly_once_across_two_replicas() {
    let db = TestDb::new().await;
    // Alice is known to WeCom by the userid the people directory holds.
    let api = ImApi::start(&[("bob@example.com", "bob.w"), ("(directory)", "alice.w")]);
    api.throttle_posts(1);
    let endpoint = dm_endpoint(
        "wecom-dm",
        Platform::Wecom,
        api.wecom_base(),
        im_api::WECOM_APP,
    );
    let a = start(&db, "node-a", vec![endpoint.clone()], fast_delivery()).await;
    let b = start(&db, "node-b", vec![endpoint], fast_delivery()).await;
    approval_requested(
        &db,
        serde_json::json!([
            {"id": 1, "name": "Alice", "email": "alice@example.com", "handles": {"wecom": "alice.w"}},
            {"id": 2, "name": "Bob", "email": "bob@example.com"},
            {"id": 3, "name": "Carol", "email": "carol@example.com"},
        ]),
    )
    .await;
    let rows = wait_settled(&db, "wecom-dm", 3).await;
    assert_eq!(rows[0].1, "delivered", "{rows:?}");
    assert_eq!(rows[1].1, "delivered", "{rows:?}");
    assert_eq!(rows[2].1, "failed", "{rows:?}");
    assert!(
        rows[2].2.as_deref().is_some_and(|e| e.contains("46004")),
        "{rows:?}"
    );
    let delivered = api.delivered();
    assert_eq!(delivered.len(), 2, "one message per reachable approver");
    for call in &delivered {
        assert_eq!(call.body["msgtype"], "text", "{}", call.body);
        assert_eq!(call.body["agentid"], 1000002, "{}", call.body);
        assert!(
            call.body["text"]["content"]
                .as_str()
                .is_some_and(|t| t.contains("Approval requested")),
            "{}",
            call.body
        );
        assert!(
            call.body["text"].get("mentioned_list").is_none(),
            "{}",
            call.body
        );
    }
    let calls = api.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.method == "lookup" && c.target == "alice@example.com"),
        "the directory's userid is used"
    );
    assert!(
        calls.iter().any(|c| c.method == "send" && !c.ok),
        "the frequency limit was hit once"
    );
    assert!(
        token_calls(&api) <= 2,
        "a token per replica at most, cached"
    );
    let before = token_calls(&api);

    api.revoke();
    approval_requested(
        &db,
        serde_json::json!([{"id": 4, "name": "Bob", "email": "bob@example.com", "handles": {"wecom": "bob.w"}}]),
    )
    .await;
    let rows = wait_settled(&db, "wecom-dm", 4).await;
    let last = rows.iter().find(|r| r.0 == "4").expect("the fourth");
    assert_eq!(last.1, "failed", "{rows:?}");
    assert!(
        last.2
            .as_deref()
            .is_some_and(|e| e.contains("40001") && e.contains("credentials are refused")),
        "{rows:?}"
    );
    assert!(
        token_calls(&api) > before,
        "the refused token was forgotten"
    );
    a.stop().await;
    b.stop().await;
    api.stop().await;
}

/// DingTalk, two replicas: a work notification per approver, each once —
/// by the directory's userid,
/// or the userid DingTalk finds for the mobile number — from the app's
/// agent, without the group robot's `at` block; an unknown mobile fails
/// alone with 60121; the frequency limit (90002) is waited out.
#[actix_rt::test]
async fn dingtalk_work_notifications_by_userid_and_mobile() {
    let db = TestDb::new().await;
    let api = ImApi::start(&[("13800000002", "bob-ding")]);
    api.throttle_posts(1);
    let endpoint = dm_endpoint(
        "dingtalk-dm",
        Platform::Dingtalk,
        api.dingtalk_base(),
        im_api::DINGTALK_APP,
    );
    let a = start(&db, "node-a", vec![endpoint.clone()], fast_delivery()).await;
    let b = start(&db, "node-b", vec![endpoint], fast_delivery()).await;
    approval_requested(
        &db,
        serde_json::json!([
            {"id": 1, "name": "Alice", "email": "alice@example.com", "handles": {"dingtalk": "bob-ding"}},
            {"id": 2, "name": "Bob", "email": "bob@example.com", "phone": "13800000002"},
            {"id": 3, "name": "Carol", "email": "carol@example.com", "phone": "13800000003"},
        ]),
    )
    .await;
    let rows = wait_settled(&db, "dingtalk-dm", 3).await;
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["delivered", "delivered", "failed"],
        "{rows:?}"
    );
    assert!(
        rows[2].2.as_deref().is_some_and(|e| e.contains("60121")),
        "{rows:?}"
    );
    let delivered = api.delivered();
    assert_eq!(delivered.len(), 2);
    for call in &delivered {
        assert_eq!(call.body["agent_id"], 2468, "{}", call.body);
        assert_eq!(call.body["userid_list"], "bob-ding", "{}", call.body);
        assert_eq!(call.body["msg"]["msgtype"], "markdown", "{}", call.body);
        assert!(call.body["msg"].get("at").is_none(), "{}", call.body);
    }
    assert!(
        token_calls(&api) <= 2,
        "a token per replica at most, cached"
    );
    a.stop().await;
    b.stop().await;
    api.stop().await;
}

/// Teams through Microsoft Graph, signed in as a service account, two
/// replicas: a one-on-one chat message per approver — by the directory's
/// object id, or the id Graph finds for the e-mail — each once, the card
/// as the message's attachment; an unknown user fails alone (404); a 429
/// waits its `Retry-After`; the sign-in's rotated refresh token is used
/// from then on. A revoked sign-in fails the next message clearly.
#[actix_rt::test]
async fn teams_chat_messages_through_graph_exactly_once_across_two_replicas() {
    const ALICE: &str = "aaaaaaaa-0000-4000-8000-000000000001";
    const BOB: &str = "bbbbbbbb-0000-4000-8000-000000000002";
    let db = TestDb::new().await;
    let api = ImApi::start(&[("bob@example.com", BOB), ("(directory)", ALICE)]);
    api.throttle_posts(1);
    let endpoint = dm_endpoint(
        "teams-dm",
        Platform::Teams,
        api.graph_base(),
        im_api::TEAMS_APP,
    );
    let a = start(&db, "node-a", vec![endpoint.clone()], fast_delivery()).await;
    let b = start(&db, "node-b", vec![endpoint], fast_delivery()).await;
    approval_requested(
        &db,
        serde_json::json!([
            {"id": 1, "name": "Alice", "email": "alice@example.com", "handles": {"teams": ALICE}},
            {"id": 2, "name": "Bob", "email": "bob@example.com"},
            {"id": 3, "name": "Carol", "email": "carol@example.com"},
        ]),
    )
    .await;
    let rows = wait_settled(&db, "teams-dm", 3).await;
    assert_eq!(
        rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["delivered", "delivered", "failed"],
        "{rows:?}"
    );
    assert!(
        rows[2]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("404") && e.contains("Request_ResourceNotFound")),
        "{rows:?}"
    );
    let mut people: Vec<String> = api.delivered().iter().map(|c| c.target.clone()).collect();
    people.sort();
    assert_eq!(people, [ALICE, BOB], "each approver once");
    for call in api.delivered() {
        let card: serde_json::Value = serde_json::from_str(
            call.body["attachments"][0]["content"]
                .as_str()
                .expect("the card as a JSON string"),
        )
        .expect("card");
        assert_eq!(card["type"], "AdaptiveCard", "{card}");
        assert_eq!(
            call.body["body"]["content"],
            "<attachment id=\"card\"></attachment>"
        );
    }
    let calls = api.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.method == "lookup" && c.target == "alice@example.com"),
        "the directory's object id is used"
    );
    let throttled = calls.iter().find(|c| c.status == 429).expect("one 429");
    let retried = calls
        .iter()
        .find(|c| c.method == "send" && c.target == throttled.target && c.ok)
        .expect("sent again");
    assert!(retried.at.duration_since(throttled.at) >= Duration::from_millis(900));
    let grants: Vec<String> = calls
        .iter()
        .filter(|c| c.method == "token")
        .map(|c| c.target.clone())
        .collect();
    assert!(
        grants.len() <= 2,
        "an access token per replica at most: {grants:?}"
    );

    api.revoke();
    approval_requested(
        &db,
        serde_json::json!([{"id": 4, "name": "Bob", "email": "bob@example.com", "handles": {"teams": BOB}}]),
    )
    .await;
    let rows = wait_settled(&db, "teams-dm", 4).await;
    let last = rows.iter().find(|r| r.0 == "4").expect("the fourth");
    assert_eq!(last.1, "failed", "{rows:?}");
    assert!(
        last.2
            .as_deref()
            .is_some_and(|e| e.contains("invalid_grant") && e.contains("sign-in is refused")),
        "{rows:?}"
    );
    let grants: Vec<String> = api
        .calls()
        .iter()
        .filter(|c| c.method == "token")
        .map(|c| c.target.clone())
        .collect();
    assert!(
        grants.iter().skip(1).any(|t| t != "rt-1"),
        "a rotated refresh token is used: {grants:?}"
    );
    a.stop().await;
    b.stop().await;
    api.stop().await;
}

//! Exactly once in ordinary life (issue 21): a hostile reply, a record
//! that fails, a graceful stop, a replica joining under load and a hung
//! database connection neither duplicate nor lose a message.

use std::collections::HashMap;
use std::time::Duration;

use herald::endpoint::{Endpoint, Platform};

use crate::delivery::{emit_ticks, endpoint, fast_delivery, start, wait_state};
use crate::support::receiver::{Received, Receiver, Reply};
use crate::support::TestDb;

/// How many times each `webhook-id` arrived, for the ones that arrived
/// more than once.
fn duplicates(received: &[Received]) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in received
        .iter()
        .filter(|r| r.answered.is_some_and(|s| s < 300))
    {
        *seen
            .entry(r.webhook_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    seen.retain(|_, n| *n > 1);
    seen
}

fn feishu(id: &str, url: String) -> Endpoint {
    Endpoint {
        platform: Platform::Feishu,
        secret: None,
        ..endpoint(id, url)
    }
}

/// A Feishu-style receiver answering `200 {"code":1,"msg":"bad\u0000x"}`
/// beside six generic endpoints: the NUL cannot reach PostgreSQL, so no
/// record batch fails, every generic delivery arrives exactly once, and
/// the Feishu deliveries' attempts are recorded and follow the schedule
/// (each fails after its last attempt, and 20 failures disable the endpoint).
#[actix_rt::test]
async fn a_nul_in_a_platform_reply_duplicates_nothing() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(|_, path| {
        if path == "/feishu" {
            Reply::Body(200, br#"{"code":1,"msg":"bad\u0000x"}"#.to_vec())
        } else {
            Reply::Status(204)
        }
    });
    let mut endpoints: Vec<Endpoint> = (0..6)
        .map(|i| endpoint(&format!("g{i}"), receiver.url(&format!("/g{i}"))))
        .collect();
    endpoints.push(feishu("feishu", receiver.url("/feishu")));
    let delivery = fast_delivery();
    let max_attempts = delivery.retry.max_attempts as i64;
    let daemon = start(&db, "one", endpoints, delivery).await;
    emit_ticks(&db, 30).await;
    for i in 0..6 {
        wait_state(&db, &format!("g{i}"), "delivered", 30).await;
    }
    // 20 failed deliveries in a row disable the endpoint (the default
    // `disable_after`); its other 10 wait.
    wait_state(&db, "feishu", "failed", 20).await;
    crate::support::wait_until("feishu disabled", Duration::from_secs(30), || async {
        let disabled: Option<bool> = sqlx::query_scalar(
            "SELECT disabled_at IS NOT NULL FROM herald_endpoint_health WHERE endpoint_id = 'feishu'",
        )
        .fetch_optional(&db.pool)
        .await
        .expect("health");
        disabled.unwrap_or(false).then_some(())
    })
    .await;

    for i in 0..6 {
        let got = receiver.accepted(&format!("/g{i}"));
        assert_eq!(got.len(), 30, "g{i}: each event once");
        assert!(duplicates(&got).is_empty(), "g{i}: {:?}", duplicates(&got));
    }
    let (attempts, with_text): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE error LIKE '%bad' || chr(65533) || 'x%')
           FROM herald_delivery_attempt WHERE endpoint_id = 'feishu'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("attempts");
    assert_eq!(attempts, 20 * max_attempts, "every attempt recorded");
    assert_eq!(with_text, attempts, "the platform's text, NUL replaced");
    let sent = receiver
        .received()
        .iter()
        .filter(|r| r.path == "/feishu")
        .count() as i64;
    assert_eq!(sent, attempts, "one request per recorded attempt");
    daemon.stop().await;
    receiver.stop().await;
}

/// The record statement fails once (a fault injected in the database):
/// the record is written again and the receiver gets each message once.
#[actix_rt::test]
async fn a_record_that_fails_is_written_again_not_resent() {
    let db = TestDb::new().await;
    sqlx::raw_sql(
        "CREATE SEQUENCE fault_seq;
         CREATE FUNCTION fail_first_record() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF nextval('fault_seq') = 1 THEN
                 RAISE EXCEPTION 'injected fault: the first record fails';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER fail_first_record BEFORE INSERT ON herald_delivery_attempt
             FOR EACH ROW EXECUTE FUNCTION fail_first_record();",
    )
    .execute(&db.pool)
    .await
    .expect("fault");
    let receiver = Receiver::start(|_, _| Reply::Status(204));
    let daemon = start(
        &db,
        "one",
        vec![endpoint("once", receiver.url("/once"))],
        fast_delivery(),
    )
    .await;
    emit_ticks(&db, 3).await;
    wait_state(&db, "once", "delivered", 3).await;
    let fired: i64 = sqlx::query_scalar("SELECT last_value FROM fault_seq")
        .fetch_one(&db.pool)
        .await
        .expect("fault count");
    assert!(fired >= 4, "the fault fired ({fired})");
    let got = receiver.accepted("/once");
    assert_eq!(got.len(), 3, "each message once: {got:?}");
    assert!(duplicates(&got).is_empty());
    daemon.stop().await;
    receiver.stop().await;
}

//! herald's hot-path queries keep their plan whatever PostgreSQL's
//! statistics say: after `ANALYZE` on an all-delivered table (what
//! autovacuum sees at a quiet moment) and on an all-pending one, each is
//! served by the partial index on pending rows, never by another index or
//! a sequential scan (issue 27).

use herald::store::outbox::{HEAD_DUE_SQL, NEXT_DUE_SQL, PENDING_ROWS_SQL};
use herald::store::records::RECORD_SQL;
use serde_json::Value;

use crate::support::TestDb;

const ENDPOINTS: i64 = 20;
const PER_ENDPOINT: i64 = 1000;

/// Every relation scan in a plan: (node type, relation, index); a bitmap
/// heap scan names the indexes its bitmap index scans read.
fn scans(plan: &Value, out: &mut Vec<(String, String, String)>) {
    if let Some(relation) = plan["Relation Name"].as_str() {
        let mut indexes: Vec<&str> = plan["Index Name"].as_str().into_iter().collect();
        if plan["Node Type"] == "Bitmap Heap Scan" {
            let mut stack: Vec<&Value> = plan["Plans"].as_array().into_iter().flatten().collect();
            while let Some(node) = stack.pop() {
                indexes.extend(node["Index Name"].as_str());
                stack.extend(node["Plans"].as_array().into_iter().flatten());
            }
        }
        indexes.sort();
        indexes.dedup();
        out.push((
            plan["Node Type"].as_str().unwrap_or("").to_owned(),
            relation.to_owned(),
            indexes.join(","),
        ));
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        scans(child, out);
    }
}

/// How the delivery table is read for `sql` with `binds` (SQL literals).
async fn delivery_scans(db: &TestDb, sql: &str, binds: &[&str]) -> Vec<(String, String)> {
    let mut sql = sql.to_owned();
    for (i, bind) in binds.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), bind);
    }
    let plan: Value = sqlx::query_scalar(&format!("EXPLAIN (FORMAT JSON) {sql}"))
        .fetch_one(&db.pool)
        .await
        .expect("explain");
    let mut found = Vec::new();
    scans(&plan[0]["Plan"], &mut found);
    found
        .into_iter()
        .filter(|(_, relation, _)| relation == "herald_delivery")
        .map(|(node, _, index)| (node, index))
        .collect()
}

async fn assert_pending_index_only(db: &TestDb, when: &str) {
    for (name, sql, binds) in [
        (
            "pending rows",
            PENDING_ROWS_SQL,
            &["'e7'", "200", "false"][..],
        ),
        ("due rows", PENDING_ROWS_SQL, &["'e7'", "200", "true"][..]),
        ("head due", HEAD_DUE_SQL, &["'e7'"][..]),
        ("next due", NEXT_DUE_SQL, &["'e7'"][..]),
    ] {
        let found = delivery_scans(db, sql, binds).await;
        assert!(
            !found.is_empty()
                && found.iter().all(|(node, index)| {
                    (node.contains("Index") || node == "Bitmap Heap Scan")
                        && index == "herald_delivery_pending_idx"
                }),
            "{name}, {when}: {found:?}"
        );
    }
}

/// The group-commit record (one attempt) reads the deliveries it updates
/// by primary key only.
async fn assert_record_by_primary_key(db: &TestDb, when: &str) {
    let id: i64 = sqlx::query_scalar("SELECT max(id) FROM herald_delivery")
        .fetch_one(&db.pool)
        .await
        .expect("an id");
    let sql = RECORD_SQL
        .replace("$1::text[]", "'{bench}'::text[]")
        .replace("$2::bigint[]", "'{1}'::bigint[]")
        .replace("$3::bigint[]", &format!("'{{{id}}}'::bigint[]"))
        .replace("$4::uuid[]", "ARRAY[gen_random_uuid()]")
        .replace("$5::text[]", "'{bench.tick}'::text[]")
        .replace("$6::text[]", "'{e7}'::text[]")
        .replace("$7::text[]", "'{https://x/}'::text[]")
        .replace("$8::int[]", "'{1}'::int[]")
        .replace("$9::bool[]", "'{t}'::bool[]")
        .replace("$10::bool[]", "'{f}'::bool[]")
        .replace("$11::int[]", "'{204}'::int[]")
        .replace("$12::text[]", "'{NULL}'::text[]")
        .replace("$13::int[]", "'{1}'::int[]")
        .replace("$14::text[]", "'{NULL}'::text[]")
        .replace("$15::timestamptz[]", "ARRAY[now()]")
        .replace("$16::text[]", "'{delivered}'::text[]")
        .replace("$17::bigint[]", "'{NULL}'::bigint[]")
        .replace("$18::text[]", "'{NULL}'::text[]")
        .replace("$19::text[]", "'{NULL}'::text[]");
    let found: Vec<_> = delivery_scans(db, &sql, &[])
        .await
        .into_iter()
        .filter(|(node, _)| node != "ModifyTable")
        .collect();
    assert!(
        !found.is_empty()
            && found
                .iter()
                .all(|(_, index)| index == "herald_delivery_pkey"),
        "record, {when}: {found:?}"
    );
}

#[actix_rt::test]
async fn hot_queries_use_the_pending_index_after_analyze_on_any_table() {
    let db = TestDb::new().await;
    sqlx::query(
        "INSERT INTO herald_event (id, type, payload)
         SELECT herald_uuid_v7(), 'bench.tick', '{\"data\": {}}' FROM generate_series(1, $1::bigint)",
    )
    .bind(ENDPOINTS * PER_ENDPOINT)
    .execute(&db.pool)
    .await
    .expect("events");
    sqlx::query(
        "INSERT INTO herald_delivery (event_id, endpoint_id, state, completed_at)
         SELECT id, 'e' || (row_number() OVER () % $1), 'delivered', now() FROM herald_event",
    )
    .bind(ENDPOINTS)
    .execute(&db.pool)
    .await
    .expect("deliveries");

    // A quiet moment: everything delivered, statistics taken.
    sqlx::query("VACUUM (ANALYZE) herald_delivery")
        .execute(&db.pool)
        .await
        .expect("analyze");
    assert_pending_index_only(&db, "after ANALYZE with nothing pending").await;
    assert_record_by_primary_key(&db, "after ANALYZE with nothing pending").await;

    // A backlog: everything pending, statistics taken again.
    sqlx::query("UPDATE herald_delivery SET state = 'pending', completed_at = NULL")
        .execute(&db.pool)
        .await
        .expect("pending");
    sqlx::query("VACUUM (ANALYZE) herald_delivery")
        .execute(&db.pool)
        .await
        .expect("analyze");
    assert_pending_index_only(&db, "after ANALYZE with everything pending").await;
    assert_record_by_primary_key(&db, "after ANALYZE with everything pending").await;
}

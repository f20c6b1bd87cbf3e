//! `herald deliveries` (the delivery log as a table or JSON), `herald
//! delivery show` (one in full) and `herald replay` (one, several, or every
//! failed delivery; progress on a terminal only).

use std::io::{IsTerminal as _, Write as _};

use serde_json::{json, Value};

use super::admin_client::AdminClient;
use super::table;
use crate::cli::{DeliveriesArgs, DeliveryShowArgs, ReplayArgs};

pub fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value {
            query.append_pair(key, value);
        }
    }
    query.finish()
}

pub async fn list(args: DeliveriesArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    if let Some(endpoint) = &args.endpoint {
        client.require_endpoint(endpoint).await?;
    }
    let query = query_string(&[
        ("endpoint", args.endpoint.clone()),
        ("event_id", args.event.clone()),
        ("event_type", args.event_type.clone()),
        ("status", args.status.clone()),
        ("since", args.since.clone()),
        ("limit", Some(args.limit.to_string())),
    ]);
    let page = client.get(&format!("/v1/deliveries?{query}")).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&page["deliveries"])?);
        return Ok(());
    }
    print!(
        "{}",
        render_table(
            page["deliveries"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
        )
    );
    Ok(())
}

/// The delivery log as an aligned text table.
pub fn render_table(deliveries: &[Value]) -> String {
    let header = [
        "ID",
        "STATE",
        "TRIES",
        "ENDPOINT",
        "EVENT",
        "HTTP",
        "CREATED",
        "LAST ERROR",
    ];
    let text = table::cell;
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            let created = text(&d["created_at"]);
            vec![
                text(&d["id"]),
                text(&d["state"]),
                text(&d["attempts"]),
                // A direct message shows its recipient: `slack-dm → user 7`.
                match d["recipient"].as_str() {
                    Some(user) => format!("{} → user {user}", text(&d["endpoint_id"])),
                    None => text(&d["endpoint_id"]),
                },
                text(&d["event_type"]),
                text(&d["last_http_status"]),
                created.get(..19).unwrap_or(&created).replace('T', " "),
                text(&d["last_error"]).chars().take(60).collect(),
            ]
        })
        .collect();
    table::render(&header, &rows, "(no deliveries)")
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    if let Some(endpoint) = &args.endpoint {
        client.require_endpoint(endpoint).await?;
    }
    let ids = if args.all_failed {
        failed_ids(&client, args.endpoint.as_deref()).await?
    } else {
        args.ids.clone()
    };
    let total = ids.len();
    let mut failures = 0;
    // A progress line only for a person watching: never into a pipe or file.
    let progress = total > 1 && std::io::stderr().is_terminal();
    let body = json!({ "requested_by": AdminClient::requester() });
    for (done, id) in ids.iter().enumerate() {
        if let Err(error) = client
            .post_json(&format!("/v1/deliveries/{id}/replay"), &body)
            .await
        {
            failures += 1;
            if progress {
                eprintln!();
            }
            eprintln!("delivery {id}: {error:#}");
        }
        if progress {
            eprint!("\rreplaying: {}/{total}", done + 1);
            let _ = std::io::stderr().flush();
        }
    }
    if progress {
        eprintln!();
    }
    println!("{} of {total} deliveries queued again", total - failures);
    anyhow::ensure!(failures == 0, "{failures} replays failed");
    Ok(())
}

/// `herald delivery show ID`.
pub async fn show(args: DeliveryShowArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    let detail = client.get(&format!("/v1/deliveries/{}", args.id)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&detail)?);
    } else {
        print!("{}", render_detail(&detail));
    }
    Ok(())
}

/// One delivery as text: the summary, the event's payload, each attempt
/// with its request (headers and body) and answer, the replays.
pub fn render_detail(detail: &Value) -> String {
    let text = table::cell;
    let d = &detail["delivery"];
    let e = &detail["event"];
    let mut out = format!(
        "delivery {}  {}  {} attempt(s)\nendpoint  {}\nevent     {} {} (webhook-id {})\ncreated   {}\n",
        text(&d["id"]),
        text(&d["state"]),
        text(&d["attempts"]),
        text(&d["endpoint_id"]),
        text(&e["type"]),
        text(&e["id"]),
        text(&e["webhook_id"]),
        text(&d["created_at"]),
    );
    out.push_str("\npayload\n");
    out.push_str(&serde_json::to_string_pretty(&e["payload"]).unwrap_or_default());
    out.push('\n');
    for attempt in detail["attempts"].as_array().into_iter().flatten() {
        let trigger = match attempt["requested_by"].as_str() {
            Some(who) => format!("{} by {who}", text(&attempt["trigger"])),
            None => text(&attempt["trigger"]),
        };
        out.push_str(&format!(
            "\nattempt {}  {}  ({trigger})  {}  HTTP {}  {} ms\n  POST {}\n",
            text(&attempt["attempt"]),
            text(&attempt["status"]),
            text(&attempt["created_at"]),
            text(&attempt["http_status"]),
            text(&attempt["latency_ms"]),
            text(&attempt["url"]),
        ));
        for pair in attempt["request_headers"].as_array().into_iter().flatten() {
            out.push_str(&format!("  {}: {}\n", text(&pair[0]), text(&pair[1])));
        }
        if let Some(body) = attempt["request_body"].as_str() {
            out.push_str(&format!("  body: {body}\n"));
        }
        if let Some(error) = attempt["error"].as_str() {
            out.push_str(&format!("  error: {error}\n"));
        }
        if let Some(answer) = attempt["response_excerpt"].as_str() {
            out.push_str(&format!("  answer: {answer}\n"));
        }
    }
    for replay in detail["replays"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{} by {} at {} (was {}; from attempt {})\n",
            text(&replay["kind"]),
            text(&replay["requested_by"]),
            text(&replay["requested_at"]),
            text(&replay["from_state"]),
            text(&replay["first_attempt"]),
        ));
    }
    out
}

/// Every failed delivery id, following the cursor.
async fn failed_ids(client: &AdminClient, endpoint: Option<&str>) -> anyhow::Result<Vec<i64>> {
    let mut ids = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let query = query_string(&[
            ("status", Some("failed".into())),
            ("endpoint", endpoint.map(str::to_owned)),
            ("limit", Some("1000".into())),
            ("cursor", cursor.map(|c| c.to_string())),
        ]);
        let page = client.get(&format!("/v1/deliveries?{query}")).await?;
        if let Some(rows) = page["deliveries"].as_array() {
            ids.extend(rows.iter().filter_map(|d| d["id"].as_i64()));
        }
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.reverse(); // oldest first, as they were emitted
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_says_when_empty() {
        let rows = vec![serde_json::json!({
            "id": 7, "state": "failed", "attempts": 3, "endpoint_id": "slack-ops",
            "event_type": "PIPELINE_FAILED", "last_http_status": 500,
            "created_at": "2026-11-23T10:00:00.123Z", "last_error": "HTTP 500"
        })];
        let table = render_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("ID  STATE   TRIES  ENDPOINT"),
            "{table}"
        );
        assert!(
            lines[1].contains("2026-11-23 10:00:00") && lines[1].contains("HTTP 500"),
            "{table}"
        );
        assert!(render_table(&[]).contains("(no deliveries)"));
    }
}

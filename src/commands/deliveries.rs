//! `herald deliveries` (the delivery log as a table or JSON) and
//! `herald replay` (one, several, or every failed delivery, with progress).

use std::io::Write as _;

use serde_json::Value;

use super::admin_client::AdminClient;
use crate::cli::{DeliveriesArgs, ReplayArgs};

fn query_string(pairs: &[(&str, Option<String>)]) -> String {
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
    let query = query_string(&[
        ("endpoint", args.endpoint.clone()),
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
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let rows: Vec<[String; 8]> = deliveries
        .iter()
        .map(|d| {
            let created = text(&d["created_at"]);
            [
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
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        out.push_str("(no deliveries)\n");
    }
    out
}

pub async fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    let ids = if args.all_failed {
        failed_ids(&client, args.endpoint.as_deref()).await?
    } else {
        args.ids.clone()
    };
    let total = ids.len();
    let mut failures = 0;
    for (done, id) in ids.iter().enumerate() {
        if let Err(error) = client.post(&format!("/v1/deliveries/{id}/replay")).await {
            failures += 1;
            eprintln!("\ndelivery {id}: {error:#}");
        }
        if total > 1 {
            eprint!("\rreplaying: {}/{total}", done + 1);
            let _ = std::io::stderr().flush();
        }
    }
    if total > 1 {
        eprintln!();
    }
    println!("{} of {total} deliveries queued again", total - failures);
    anyhow::ensure!(failures == 0, "{failures} replays failed");
    Ok(())
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

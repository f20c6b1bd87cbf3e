//! `herald silence add|list|expire`, through a running herald's admin API.

use serde_json::{json, Value};

use super::admin_client::AdminClient;
use super::table;
use crate::cli::SilenceCommand;

pub async fn silence(command: SilenceCommand) -> anyhow::Result<()> {
    match command {
        SilenceCommand::Add(args) => {
            let client = AdminClient::new(&args.admin)?;
            let mut body = json!({
                "matchers": args.matchers,
                "action": args.action,
                "comment": args.comment,
                "created_by": AdminClient::requester(),
            });
            for (key, value) in [
                ("duration", &args.duration),
                ("ends_at", &args.end),
                ("starts_at", &args.start),
            ] {
                if let Some(value) = value {
                    body[key] = json!(value);
                }
            }
            let silence = client.post_json("/v1/silences", &body).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&silence)?);
            } else {
                println!(
                    "silence {} ({}) until {}",
                    table::cell(&silence["id"]),
                    table::cell(&silence["action"]),
                    table::cell(&silence["ends_at"])
                );
            }
        }
        SilenceCommand::List(args) => {
            let path = if args.all {
                "/v1/silences?all=true"
            } else {
                "/v1/silences"
            };
            let list = AdminClient::new(&args.admin)?.get(path).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", render_table(&list));
            }
        }
        SilenceCommand::Expire(args) => {
            let id: String = url::form_urlencoded::byte_serialize(args.id.as_bytes()).collect();
            let silence = AdminClient::new(&args.admin)?
                .post(&format!("/v1/silences/{id}/expire"))
                .await?;
            println!(
                "silence {} expired; {} held deliveries queued again",
                table::cell(&silence["id"]),
                table::cell(&silence["held"])
            );
        }
    }
    Ok(())
}

/// Silences as an aligned table.
pub fn render_table(list: &Value) -> String {
    let text = table::cell;
    let rows: Vec<Vec<String>> = list["silences"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let matchers: Vec<String> = s["matchers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            vec![
                text(&s["id"]),
                text(&s["state"]),
                text(&s["action"]),
                text(&s["held"]),
                text(&s["ends_at"]),
                matchers.join(", "),
                text(&s["comment"]),
            ]
        })
        .collect();
    table::render(
        &[
            "ID", "STATE", "ACTION", "HELD", "ENDS", "MATCHERS", "COMMENT",
        ],
        &rows,
        "(no silences)",
    )
}

//! `herald endpoints list|enable|disable|recover` and `herald reload`,
//! through a running herald's admin API.

use serde_json::{json, Value};

use super::admin_client::AdminClient;
use super::table;
use crate::cli::{EndpointArgs, EndpointsCommand, ReloadArgs};

pub async fn endpoints(command: EndpointsCommand) -> anyhow::Result<()> {
    match command {
        EndpointsCommand::List(args) => {
            let list = AdminClient::new(&args.admin)?.get("/v1/endpoints").await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print!("{}", render_table(&list));
            }
        }
        EndpointsCommand::Enable(args) => set_enabled(&args, "enable").await?,
        EndpointsCommand::Disable(args) => set_enabled(&args, "disable").await?,
        EndpointsCommand::Recover(args) => {
            let client = AdminClient::new(&args.admin)?;
            let answer = client
                .post_json(
                    &format!("/v1/endpoints/{}/recover", encode(&args.id)),
                    &json!({"since": args.since, "requested_by": AdminClient::requester()}),
                )
                .await?;
            println!(
                "{} failed deliveries of {} queued again",
                answer["replayed"], args.id
            );
        }
    }
    Ok(())
}

async fn set_enabled(args: &EndpointArgs, verb: &str) -> anyhow::Result<()> {
    let client = AdminClient::new(&args.admin)?;
    client.require_endpoint(&args.id).await?;
    client
        .post(&format!("/v1/endpoints/{}/{verb}", encode(&args.id)))
        .await?;
    println!("{} {verb}d", args.id);
    Ok(())
}

pub async fn reload(args: ReloadArgs) -> anyhow::Result<()> {
    let answer = AdminClient::new(&args.admin)?.post("/v1/reload").await?;
    println!("config reloaded: {} global endpoints", answer["endpoints"]);
    Ok(())
}

/// A path segment.
fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Endpoints as an aligned table: id, type, state, queue, lease holder.
pub fn render_table(list: &Value) -> String {
    let text = table::cell;
    let mut rows: Vec<Vec<String>> = list["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let state = match e["state"].as_str() {
                Some("disabled_by_herald") => {
                    format!("disabled by herald: {}", text(&e["disabled_reason"]))
                }
                Some(state) => state.replace('_', " "),
                None => "-".to_owned(),
            };
            let state = match e["previous_secret_until"].as_str() {
                Some(until) => format!("{state} (old secret signs too until {until})"),
                None => state,
            };
            vec![
                text(&e["id"]),
                text(&e["type"]),
                state,
                text(&e["pending"]),
                text(&e["lease_holder"]),
                text(&e["url"]),
            ]
        })
        .collect();
    rows.extend(list["invalid"].as_array().into_iter().flatten().map(|e| {
        vec![
            text(&e["id"]),
            "-".into(),
            format!("invalid: {}", text(&e["reason"])),
            "-".into(),
            "-".into(),
            "-".into(),
        ]
    }));
    table::render(
        &["ID", "TYPE", "STATE", "PENDING", "HOLDER", "URL"],
        &rows,
        "(no endpoints)",
    )
}

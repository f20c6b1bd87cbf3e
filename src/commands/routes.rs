//! `herald routes test TYPE [--project P] [--attr NAME=VALUE…] [--at T]
//! [--silences]`: which endpoints of the config file an event would reach,
//! and why each other one would not — the rules fan-out applies
//! (`herald_subscription`: enabled, subscribed to the type or `*`, global
//! or filtering by the event's project), then the gate's (the endpoint's
//! filter, its mute windows at `--at`, and with `--silences` a running
//! herald's silences).

use chrono::{DateTime, Utc};

use crate::cli::RoutesTestArgs;
use crate::endpoint::Endpoint;
use crate::routing::{gate, Attributes, Gate, Matchers, MuteAction, Silence};

use super::admin_client::AdminClient;
use super::table;

/// Whether `endpoint` would receive an event of `event_type` of `project`,
/// and why not.
pub fn verdict(endpoint: &Endpoint, event_type: &str, project: Option<&str>) -> Result<(), String> {
    if !endpoint.enabled {
        return Err("disabled in the file (enabled: false)".into());
    }
    if !endpoint
        .event_types
        .iter()
        .any(|t| t == "*" || t == event_type)
    {
        return Err(format!(
            "not subscribed to {event_type} (events: {})",
            endpoint.event_types.join(", ")
        ));
    }
    let filter = match (&endpoint.project_id, &endpoint.project_resource) {
        (Some(id), _) => Some(id.to_string()),
        (None, Some(resource)) => Some(resource.clone()),
        (None, None) => None,
    };
    match (filter, project) {
        (None, _) => Ok(()),
        (Some(wanted), Some(given)) if wanted == given => Ok(()),
        (Some(wanted), Some(given)) => Err(format!(
            "only for project {wanted} (the event is of {given})"
        )),
        (Some(wanted), None) => Err(format!(
            "only for project {wanted} (the event has no project)"
        )),
    }
}

/// The event's attributes as `routes test` was told them.
fn attributes(args: &RoutesTestArgs, endpoint: &str) -> anyhow::Result<Attributes> {
    let mut attributes = Attributes::new();
    for pair in &args.attributes {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--attr {pair:?} is not NAME=VALUE"))?;
        attributes
            .entry(name.trim().to_owned())
            .or_default()
            .push(value.to_owned());
    }
    attributes.insert("type".into(), vec![args.event_type.clone()]);
    attributes.insert("endpoint".into(), vec![endpoint.to_owned()]);
    if let Some(project) = &args.project {
        let name = if project.parse::<i64>().is_ok() {
            "project_id"
        } else {
            "project"
        };
        attributes.insert(name.into(), vec![project.clone()]);
    }
    Ok(attributes)
}

/// The live silences of the running herald the admin flags point at.
async fn live_silences(args: &RoutesTestArgs) -> anyhow::Result<Vec<Silence>> {
    let list = AdminClient::new(&args.admin)?.get("/v1/silences").await?;
    let mut silences = Vec::new();
    for row in list["silences"].as_array().into_iter().flatten() {
        let texts: Vec<&str> = row["matchers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
            .collect();
        let time = |key: &str| -> anyhow::Result<DateTime<Utc>> {
            Ok(serde_json::from_value(row[key].clone())?)
        };
        silences.push(Silence {
            id: serde_json::from_value(row["id"].clone())?,
            matchers: Matchers::parse_all(texts).map_err(anyhow::Error::msg)?,
            starts_at: time("starts_at")?,
            ends_at: time("ends_at")?,
            action: MuteAction::parse(row["action"].as_str().unwrap_or_default())
                .unwrap_or_default(),
        });
    }
    Ok(silences)
}

/// What the gate's answer means for `routes test`: whether it is sent now.
fn explain(answer: Gate) -> (bool, String) {
    match answer {
        Gate::Send => (true, String::new()),
        Gate::Filtered { matcher } => (false, format!("filter: {matcher} does not hold")),
        Gate::Muted { by } => (false, format!("muted by {by} (dropped)")),
        Gate::Held { by, until } => (
            false,
            format!("held by {by} until {}, then sent", until.to_rfc3339()),
        ),
    }
}

pub async fn test(args: RoutesTestArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let at = match &args.at {
        None => Utc::now(),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--at {text:?} is not an RFC 3339 time: {e}"))?
            .with_timezone(&Utc),
    };
    let silences = if args.silences {
        live_silences(&args).await?
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    let mut reached = 0;
    for endpoint in &config.endpoints {
        let (sent, why) = match verdict(endpoint, &args.event_type, args.project.as_deref()) {
            Ok(()) => explain(gate::decide(
                &endpoint.route,
                &silences,
                &attributes(&args, &endpoint.id)?,
                at,
            )),
            Err(why) => (false, why),
        };
        if sent {
            reached += 1;
        }
        let answer = if sent { "yes" } else { "no" };
        rows.push(vec![endpoint.id.clone(), answer.to_owned(), why]);
    }
    print!(
        "{}",
        table::render(
            &["ENDPOINT", "RECEIVES", "WHY NOT"],
            &rows,
            "(no endpoints in the file)"
        )
    );
    println!(
        "{reached} endpoint(s) of the file would receive {}{} now; project webhooks (in the database) are not listed{}",
        args.event_type,
        args.project
            .as_deref()
            .map(|p| format!(" of project {p}"))
            .unwrap_or_default(),
        if args.silences {
            ""
        } else {
            "; silences not judged (--silences asks the running herald)"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::{EndpointSource, Ordering, Platform};

    fn endpoint(events: &[&str], resource: Option<&str>) -> Endpoint {
        Endpoint {
            id: "e".into(),
            source: EndpointSource::Config,
            platform: Platform::Slack,
            url: "https://hooks.slack.com/services/T/B/x"
                .parse()
                .expect("url"),
            secret: None,
            event_types: events.iter().map(|e| e.to_string()).collect(),
            project_id: None,
            project_resource: resource.map(str::to_owned),
            enabled: true,
            description: None,
            ordering: Ordering::Strict,
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

    #[test]
    fn the_type_the_project_and_enabled_decide() {
        let all = endpoint(&["*"], None);
        assert!(verdict(&all, "PIPELINE_FAILED", None).is_ok());
        let failures = endpoint(&["PIPELINE_FAILED"], Some("shop"));
        assert!(verdict(&failures, "PIPELINE_FAILED", Some("shop")).is_ok());
        assert!(verdict(&failures, "PIPELINE_FAILED", Some("blog"))
            .is_err_and(|why| why.contains("only for project shop")));
        assert!(verdict(&failures, "PIPELINE_FAILED", None).is_err());
        assert!(verdict(&failures, "ISSUE_CREATED", Some("shop"))
            .is_err_and(|why| why.contains("not subscribed")));
        let mut off = all.clone();
        off.enabled = false;
        assert!(verdict(&off, "x.y", None).is_err_and(|why| why.contains("disabled")));
    }
}

//! `herald routes test TYPE [--project P]`: which endpoints of the config
//! file an event would reach, and why each other one would not — the rules
//! fan-out applies (`herald_subscription`): enabled, subscribed to the type
//! (or `*`), and either global or filtering by the event's project.

use crate::cli::RoutesTestArgs;
use crate::endpoint::Endpoint;

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

pub fn test(args: RoutesTestArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let mut rows = Vec::new();
    let mut reached = 0;
    for endpoint in &config.endpoints {
        let (answer, why) = match verdict(endpoint, &args.event_type, args.project.as_deref()) {
            Ok(()) => {
                reached += 1;
                ("yes", String::new())
            }
            Err(why) => ("no", why),
        };
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
        "{reached} endpoint(s) of the file would receive {}{}; project webhooks (in the database) are not listed",
        args.event_type,
        args.project
            .as_deref()
            .map(|p| format!(" of project {p}"))
            .unwrap_or_default()
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

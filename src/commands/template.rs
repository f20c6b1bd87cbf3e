//! `herald template render --endpoint ID (--event FILE | --sample TYPE)`:
//! the body an endpoint of the config file would send for an event —
//! rendered exactly as `herald run` renders it (template, escaping,
//! fitting, fallback) — printed as JSON, with a line on standard error
//! saying whether its template was used, and if not, why.

use std::io::Read as _;

use anyhow::Context as _;

use crate::cli::TemplateRenderArgs;
use crate::events::Event;
use crate::formats;

fn event(args: &TemplateRenderArgs) -> anyhow::Result<Event> {
    if let Some(event_type) = &args.sample {
        return Ok(formats::samples::sample(event_type));
    }
    let path = args
        .event
        .as_ref()
        .context("give --event FILE or --sample TYPE")?;
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the event from standard input")?;
        text
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the event file {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a herald event (docs/event.schema.json)",
            path.display()
        )
    })
}

pub fn render(args: TemplateRenderArgs) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let Some(endpoint) = config.endpoints.iter().find(|e| e.id == args.endpoint) else {
        let known: Vec<&str> = config.endpoints.iter().map(|e| e.id.as_str()).collect();
        anyhow::bail!(
            "no endpoint `{}` in the config file (endpoints: {})",
            args.endpoint,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    };
    let event = event(&args)?;
    let (request, fallback) = formats::render_explained(endpoint, &event, chrono::Utc::now())?;
    match (&endpoint.template, fallback) {
        (None, _) => eprintln!("endpoint `{}` has no template: herald's own body", endpoint.id),
        (Some(_), None) => eprintln!("endpoint `{}`: rendered by its template", endpoint.id),
        (Some(_), Some(reason)) => eprintln!(
            "endpoint `{}`: its template was not used ({reason}); herald's own body, as `herald run` would send it",
            endpoint.id
        ),
    }
    let body: serde_json::Value =
        serde_json::from_slice(&request.body).context("the body is not JSON")?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

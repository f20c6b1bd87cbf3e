//! `herald check-config`: validate the config file — every problem at once,
//! each with file:line:column, endpoint and field — judge each endpoint's
//! destination exactly as `herald run` would (the same destination policy
//! and `--allow-private-networks`), and print the effective endpoints with
//! secrets and URL tokens masked.

use crate::cli::CheckConfigArgs;
use crate::config;

pub fn check_config(args: CheckConfigArgs) -> anyhow::Result<()> {
    let loaded = args.config.load()?;
    let policy = args.network.policy();
    let text = loaded
        .path
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    let file = loaded
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut refused = Vec::new();
    for (index, endpoint) in loaded.endpoints.iter().enumerate() {
        if !endpoint.enabled {
            continue;
        }
        // What `herald run` checks before using a config endpoint.
        if let Err(reason) = policy.check_endpoint(endpoint, true) {
            let at = config::locate(&text, &format!("endpoints[{index}].url"))
                .map(|p| format!(":{}:{}", p.line, p.column))
                .unwrap_or_default();
            refused.push(format!(
                "  - {file}{at}: endpoint `{}`: url: {reason}",
                endpoint.id
            ));
        }
    }
    anyhow::ensure!(
        refused.is_empty(),
        "config file {file} has {} endpoint(s) herald run would refuse:\n{}",
        refused.len(),
        refused.join("\n")
    );
    print!("{}", config::render_effective(&loaded));
    if loaded.endpoints.is_empty() {
        eprintln!(
            "warning: no global endpoints: only project webhooks from the database will receive events"
        );
    }
    Ok(())
}

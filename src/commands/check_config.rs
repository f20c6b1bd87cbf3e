//! `herald check-config`: validate the config file and print the effective
//! endpoints with secrets masked; fails listing every problem.

use crate::cli::ConfigArgs;
use crate::config;

pub fn check_config(args: ConfigArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    print!("{}", config::render_effective(&config));
    if config.endpoints.is_empty() {
        eprintln!(
            "warning: no global endpoints: only project webhooks from the database will receive events"
        );
    }
    Ok(())
}

//! Reloading the config file (SIGHUP, `POST /v1/reload`): the whole file is
//! validated first; only a valid file replaces the endpoints, atomically, in
//! one message to the delivery manager. A bad file keeps the old config.

use actix::Addr;
use tracing::{error, info};

use crate::actors::EndpointLeases;
use crate::config::{ConfigError, Source};
use crate::messages::delivery::SetEndpoints;
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the new config is invalid, the old one stays in effect: {0}")]
    Invalid(#[from] ConfigError),
    #[error("delivery is not running: {0}")]
    Delivery(#[from] actix::MailboxError),
}

/// Load `source` and, if valid, make its endpoints the delivery manager's.
/// Returns the number of endpoints now configured.
pub async fn reload(
    source: &Source,
    delivery: &Addr<EndpointLeases>,
    metrics: &Metrics,
    trigger: &'static str,
) -> Result<usize, ReloadError> {
    let config = match source.load() {
        Ok(config) => config,
        Err(e) => {
            metrics.config_loaded(false);
            error!(event = "config.reload_failed", trigger, path = %source.path.display(), error = %e, "keeping the previous config");
            return Err(e.into());
        }
    };
    let count = config.endpoints.len();
    delivery
        .send(SetEndpoints {
            endpoints: config.endpoints,
            links: config.links,
        })
        .await?;
    metrics.config_loaded(true);
    info!(event = "config.reloaded", trigger, path = %source.path.display(), endpoints = count);
    Ok(count)
}

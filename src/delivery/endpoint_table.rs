//! The endpoints a replica delivers, rebuilt at every sweep: the config
//! file's (enabled, with a URL the destination policy allows) and the
//! project webhooks (valid ones, enabled or not), with why the others
//! cannot be used. Pure: the `EndpointLeases` actor logs and acts on it.

use std::collections::HashMap;
use std::sync::Arc;

use super::destination::NetworkPolicy;
use super::project_webhook::endpoint_from_row;
use crate::endpoint::Endpoint;
use crate::presentation::LinkTemplates;
use crate::store::endpoints::ProjectWebhookRow;

#[derive(Debug, Default)]
pub struct EndpointTable {
    /// Every usable, enabled endpoint by id.
    pub endpoints: HashMap<String, Endpoint>,
    /// Valid project webhooks, enabled or not (for listings).
    pub project_webhooks: Vec<Endpoint>,
    /// Endpoints that cannot be used, with why.
    pub invalid: HashMap<String, String>,
}

impl EndpointTable {
    pub fn build(
        config_endpoints: &[Endpoint],
        webhooks: &[ProjectWebhookRow],
        network: &NetworkPolicy,
        links: &Arc<LinkTemplates>,
    ) -> EndpointTable {
        let mut table = EndpointTable::default();
        for endpoint in config_endpoints.iter().filter(|e| e.enabled) {
            // The scheme was checked when the file was read.
            match network.check_endpoint(endpoint, true) {
                Ok(()) => {
                    table
                        .endpoints
                        .insert(endpoint.id.clone(), endpoint.clone());
                }
                Err(reason) => {
                    table
                        .invalid
                        .insert(endpoint.id.clone(), format!("url: {reason}"));
                }
            }
        }
        for row in webhooks {
            match endpoint_from_row(row, network, links) {
                Ok(endpoint) => {
                    if endpoint.enabled {
                        table
                            .endpoints
                            .insert(endpoint.id.clone(), endpoint.clone());
                    }
                    table.project_webhooks.push(endpoint);
                }
                Err(reason) => {
                    table
                        .invalid
                        .insert(Endpoint::project_webhook_id(row.id), reason);
                }
            }
        }
        table
    }
}

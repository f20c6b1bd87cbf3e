//! A `project_webhook` row as an [`Endpoint`], or the reason it cannot be one.

use std::sync::Arc;

use super::destination::NetworkPolicy;
use crate::endpoint::{Endpoint, EndpointSource, Platform, Secret};
use crate::presentation::{LinkTemplates, Locale, Presentation};
use crate::signing::check_standard_secret;
use crate::store::endpoints::ProjectWebhookRow;

/// Validate a row: known type, parseable URL, a secret where one is needed
/// (a Standard Webhooks one for `generic`), and the destination policy
/// (https, a public address unless allowed).
/// It takes the config's link templates; its messages are in English.
pub fn endpoint_from_row(
    row: &ProjectWebhookRow,
    policy: &NetworkPolicy,
    links: &Arc<LinkTemplates>,
) -> Result<Endpoint, String> {
    let platform =
        Platform::parse(&row.platform).ok_or_else(|| format!("unknown type {:?}", row.platform))?;
    let url = url::Url::parse(&row.url).map_err(|e| format!("url: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("url: scheme {} is not http(s)", url.scheme()));
    }
    let secret = row
        .secret
        .clone()
        .filter(|s| !s.is_empty())
        .map(Secret::new);
    if platform.requires_secret() && secret.is_none() {
        return Err(format!("type {platform} needs a secret"));
    }
    if let (Platform::Generic, Some(secret)) = (platform, &secret) {
        check_standard_secret(secret).map_err(|e| format!("secret: {e}"))?;
    }
    let endpoint = Endpoint {
        id: Endpoint::project_webhook_id(row.id),
        source: EndpointSource::ProjectWebhook,
        platform,
        url,
        secret,
        event_types: row.event_types.clone(),
        project_id: Some(row.project_id),
        project_resource: None,
        enabled: row.enabled,
        description: (!row.title.is_empty()).then(|| row.title.clone()),
        ordering: crate::endpoint::Ordering::Strict,
        presentation: Presentation {
            locale: Locale::En,
            links: links.clone(),
        },
        direct_messages: false,
        route: Default::default(),
        retry: Default::default(),
        previous_secret: None,
        headers: Vec::new(),
        rate_limit: None,
        template: None,
    };
    // Written by host-app users: no plain-http opt-in.
    policy
        .check_endpoint(&endpoint, false)
        .map_err(|e| format!("url: {e}"))?;
    Ok(endpoint)
}

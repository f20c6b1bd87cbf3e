//! Importing Bytebase's project webhooks (opt-in: `--bytebase-import-webhooks`).
//!
//! Bytebase posts to its own project webhooks itself, so herald leaves them
//! alone unless asked. With the opt-in, every follower pass that re-reads
//! approvers also re-reads Bytebase's `project_webhook` table (small, read
//! whole) and mirrors each row into a native `project_webhook` row, which
//! herald then delivers to like any other (`project-webhook-<id>`): new
//! rows are added, changed rows updated, and rows deleted in Bytebase (or
//! of a deleted project, or no longer importable) removed.
//!
//! A row that cannot be imported (unknown type, no activity herald knows,
//! a direct-message webhook, whose URL Bytebase ignores) is skipped with one
//! `source.row_skipped` line, like any unmappable row.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use tracing::info;

use super::{FollowError, Follower, PassReport};
use crate::events::EventType;
use crate::sources::bytebase::model::{self, PayloadError};
use crate::store::bytebase::BbProject;
use crate::store::mirror::{self, kind, NativeWebhook};

/// `project_webhook.payload` (ProjectWebhook in project_webhook.proto).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ProjectWebhook {
    /// A `WebhookType` (common.proto): its name, or its number.
    #[serde(rename = "type")]
    platform: Value,
    title: String,
    url: String,
    /// `Activity.Type` names (or numbers).
    activities: Vec<Value>,
    direct_message: bool,
}

/// `WebhookType` (proto/store/store/common.proto) → herald's platform.
fn platform(value: &Value) -> Option<&'static str> {
    let named = match value {
        Value::String(name) => name.as_str(),
        Value::Number(n) => match n.as_i64()? {
            1 => "SLACK",
            2 => "DISCORD",
            3 => "TEAMS",
            4 => "DINGTALK",
            5 => "FEISHU",
            6 => "WECOM",
            7 => "LARK",
            8 => "GOOGLE_CHAT",
            _ => return None,
        },
        _ => return None,
    };
    Some(match named {
        "SLACK" => "slack",
        "DISCORD" => "discord",
        "TEAMS" => "teams",
        "DINGTALK" => "dingtalk",
        "FEISHU" => "feishu",
        "WECOM" => "wecom",
        "LARK" => "lark",
        "GOOGLE_CHAT" => "google_chat",
        _ => return None,
    })
}

/// `Activity.Type` (project_webhook.proto) → herald's event type; the
/// focused types share their names. Older, retired activity types are
/// not herald's and are left out.
fn event_type(value: &Value) -> Option<EventType> {
    match value {
        Value::String(name) => EventType::parse(name),
        Value::Number(n) => match n.as_i64()? {
            10 => Some(EventType::IssueCreated),
            11 => Some(EventType::IssueApprovalRequested),
            12 => Some(EventType::IssueSentBack),
            13 => Some(EventType::PipelineFailed),
            14 => Some(EventType::PipelineCompleted),
            _ => None,
        },
        _ => None,
    }
}

fn refused(field: &str, detail: &str) -> PayloadError {
    PayloadError {
        field: field.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A Bytebase project webhook as herald imports it (without its project's
/// local id), or why it is not imported.
fn imported(payload: &Value) -> Result<(&'static str, String, String, Vec<String>), PayloadError> {
    let webhook: ProjectWebhook = model::parse(payload)?;
    if webhook.direct_message {
        return Err(refused(
            "directMessage",
            "direct-message webhooks are not imported (Bytebase ignores their url): \
             configure an endpoint with direct_messages in herald.yaml",
        ));
    }
    let platform = platform(&webhook.platform).ok_or_else(|| {
        refused(
            "type",
            &format!("unknown webhook type {}", webhook.platform),
        )
    })?;
    if webhook.url.is_empty() {
        return Err(refused("url", "empty"));
    }
    let mut types: Vec<String> = webhook
        .activities
        .iter()
        .filter_map(event_type)
        .map(|t| t.as_str().to_owned())
        .collect();
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(refused("activities", "no activity herald announces"));
    }
    Ok((platform, webhook.title, webhook.url, types))
}

impl Follower {
    /// Mirror Bytebase's project webhooks into native ones. `projects` maps
    /// resource ids to local ids.
    pub(super) async fn import_webhooks(
        &mut self,
        tx: &mut PgConnection,
        bytebase_projects: &[BbProject],
        projects: &HashMap<String, i64>,
        report: &mut PassReport,
    ) -> Result<(), FollowError> {
        let rows = self.source(self.bytebase.project_webhooks()).await?;
        let deleted: HashSet<&str> = bytebase_projects
            .iter()
            .filter(|p| p.deleted)
            .map(|p| p.resource_id.as_str())
            .collect();
        let mut kept = HashSet::new();
        for row in rows {
            let key = (row.project.clone(), row.id);
            let Some(&project_id) = projects.get(&row.project) else {
                continue;
            };
            if deleted.contains(row.project.as_str()) {
                continue;
            }
            let (platform, title, url, event_types) = match imported(&row.payload) {
                Ok(webhook) => webhook,
                Err(error) => {
                    self.bad(report, "project_webhook", &key, &error);
                    continue;
                }
            };
            let webhook = NativeWebhook {
                project_id,
                platform,
                title,
                url,
                event_types,
            };
            let local = mirror::local_id(tx, kind::PROJECT_WEBHOOK, &key.0, key.1).await?;
            let (id, changed) = mirror::upsert_project_webhook(tx, local, &webhook).await?;
            mirror::set_row(tx, kind::PROJECT_WEBHOOK, &key.0, key.1, Some(id), true).await?;
            if changed {
                info!(
                    event = "source.webhook_imported",
                    source = "bytebase",
                    project = %key.0,
                    id = key.1,
                    endpoint_id = %crate::endpoint::Endpoint::project_webhook_id(id),
                    platform,
                    "a Bytebase project webhook is delivered to by herald too"
                );
            }
            kept.insert(key);
        }
        for row in mirror::live_rows(tx, kind::PROJECT_WEBHOOK).await? {
            if kept.contains(&(row.project.clone(), row.source_id)) {
                continue;
            }
            mirror::set_row(
                tx,
                kind::PROJECT_WEBHOOK,
                &row.project,
                row.source_id,
                None,
                false,
            )
            .await?;
            if let Some(local) = row.local_id {
                if mirror::delete_project_webhook(tx, local).await? {
                    info!(
                        event = "source.webhook_removed",
                        source = "bytebase",
                        project = %row.project,
                        id = row.source_id,
                        endpoint_id = %crate::endpoint::Endpoint::project_webhook_id(local),
                        "a Bytebase project webhook herald imported is gone or no longer importable"
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_webhook_maps_by_enum_name_or_number() {
        let (platform, title, url, types) = imported(&json!({
            "type": "SLACK", "title": "DBA", "url": "https://hooks.slack.com/services/T/B/x",
            "activities": ["PIPELINE_FAILED", "ISSUE_CREATED", "PIPELINE_FAILED"]
        }))
        .expect("imports");
        assert_eq!((platform, title.as_str()), ("slack", "DBA"));
        assert_eq!(url, "https://hooks.slack.com/services/T/B/x");
        assert_eq!(types, vec!["ISSUE_CREATED", "PIPELINE_FAILED"]);
        let (platform, _, _, types) = imported(&json!({
            "type": 8, "url": "https://chat.googleapis.com/v1/spaces/x", "activities": [14, 99]
        }))
        .expect("imports");
        assert_eq!(platform, "google_chat");
        assert_eq!(types, vec!["PIPELINE_COMPLETED"]);
    }

    #[test]
    fn what_cannot_be_imported_names_the_field() {
        let field = |payload: Value| imported(&payload).expect_err("refused").field;
        assert_eq!(
            field(
                json!({"type": "SLACK", "url": "https://x", "activities": ["ISSUE_CREATED"], "directMessage": true})
            ),
            "directMessage"
        );
        assert_eq!(
            field(
                json!({"type": "PAGERDUTY", "url": "https://x", "activities": ["ISSUE_CREATED"]})
            ),
            "type"
        );
        assert_eq!(
            field(json!({"type": "SLACK", "url": "https://x", "activities": ["bb.issue.created"]})),
            "activities"
        );
        assert_eq!(
            field(json!({"type": "SLACK", "activities": ["ISSUE_CREATED"]})),
            "url"
        );
        assert_eq!(field(json!({"type": "SLACK", "url": 7})), "url");
    }
}

//! Endpoint rows: config endpoints mirrored into `herald_endpoint` (so SQL
//! fan-out sees them), and project webhooks read from `project_webhook`.

use sqlx::Row;

use super::{Store, StoreError};
use crate::endpoint::Endpoint;

/// A `project_webhook` row as stored; turned into an [`Endpoint`] (and
/// validated) by the delivery side.
#[derive(Debug, Clone)]
pub struct ProjectWebhookRow {
    pub id: i64,
    pub project_id: i64,
    pub platform: String,
    pub title: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: Option<String>,
    pub enabled: bool,
}

/// An endpoint's health as recorded (for listings).
#[derive(Debug, Clone)]
pub struct EndpointHealthRow {
    pub endpoint_id: String,
    pub consecutive_failures: i32,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Store {
    /// Make `herald_endpoint` match the config's endpoints: upsert each,
    /// and mark every other row disabled (removed from the config).
    pub async fn sync_config_endpoints(&self, endpoints: &[Endpoint]) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let ids: Vec<String> = endpoints.iter().map(|e| e.id.clone()).collect();
        for endpoint in endpoints {
            sqlx::query(
                "INSERT INTO herald_endpoint (id, project_id, event_types, enabled)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE
                    SET project_id = EXCLUDED.project_id, event_types = EXCLUDED.event_types,
                        enabled = EXCLUDED.enabled, updated_at = now()",
            )
            .bind(&endpoint.id)
            .bind(endpoint.project_id)
            .bind(&endpoint.event_types)
            .bind(endpoint.enabled)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE herald_endpoint SET enabled = FALSE, updated_at = now()
              WHERE enabled AND NOT (id = ANY($1))",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every project webhook row.
    pub async fn project_webhooks(&self) -> Result<Vec<ProjectWebhookRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, project_id, type, title, url, event_types, secret, enabled
               FROM project_webhook ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ProjectWebhookRow {
                    id: row.try_get("id")?,
                    project_id: row.try_get("project_id")?,
                    platform: row.try_get("type")?,
                    title: row.try_get("title")?,
                    url: row.try_get("url")?,
                    event_types: row.try_get("event_types")?,
                    secret: row.try_get("secret")?,
                    enabled: row.try_get("enabled")?,
                })
            })
            .collect()
    }

    /// Health rows of every endpoint that has one.
    pub async fn endpoint_health(&self) -> Result<Vec<EndpointHealthRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT endpoint_id, consecutive_failures, disabled_reason, disabled_at
               FROM herald_endpoint_health ORDER BY endpoint_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EndpointHealthRow {
                    endpoint_id: row.try_get("endpoint_id")?,
                    consecutive_failures: row.try_get("consecutive_failures")?,
                    disabled_reason: row.try_get("disabled_reason")?,
                    disabled_at: row.try_get("disabled_at")?,
                })
            })
            .collect()
    }
}

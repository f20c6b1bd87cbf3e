//! Endpoint rows: config endpoints mirrored into `herald_endpoint` per
//! replica (so SQL fan-out sees every live replica's config), and project
//! webhooks read from `project_webhook`.

use sqlx::Row;

use super::{Store, StoreError};

fn millis(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}
use crate::endpoint::Endpoint;

/// A `project_webhook` row as stored; turned into an [`Endpoint`] (and
/// validated) by the delivery side. `Debug` masks the secret and the URL.
#[derive(Clone)]
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

impl std::fmt::Debug for ProjectWebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = url::Url::parse(&self.url)
            .map(|u| crate::endpoint::redacted_url(&u))
            .unwrap_or_else(|_| "(unparsable)".into());
        f.debug_struct("ProjectWebhookRow")
            .field("id", &self.id)
            .field("project_id", &self.project_id)
            .field("platform", &self.platform)
            .field("title", &self.title)
            .field("url", &url)
            .field("event_types", &self.event_types)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// An endpoint's lease and queue right now.
#[derive(Debug, Clone, Default)]
pub struct EndpointActivity {
    pub lease_holder: Option<String>,
    pub lease_epoch: Option<i64>,
    pub pending: i64,
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
    /// Mirror this replica's (`node_id`) config endpoints into
    /// `herald_endpoint` and mark the replica alive for `ttl`
    /// (`herald_config_node`): insert new rows, update changed ones (an
    /// unchanged row is not rewritten), drop this replica's rows for
    /// endpoints no longer in its config. Other replicas' rows are theirs:
    /// fan-out follows every live replica's config.
    pub async fn sync_config_endpoints(
        &self,
        node_id: &str,
        endpoints: &[Endpoint],
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        write_config_rows(&mut tx, node_id, endpoints).await?;
        heartbeat(&mut tx, node_id, ttl).await?;
        // Replicas gone for a day: nobody will renew them (the one with a
        // config seen alive last stays, standing in while none is).
        sqlx::query(
            "WITH gone AS (
                 DELETE FROM herald_config_node
                  WHERE expires_at < now() - interval '1 day'
                    AND node_id <> coalesce((SELECT n.node_id FROM herald_config_node n
                                              WHERE EXISTS (SELECT 1 FROM herald_endpoint e
                                                             WHERE e.node_id = n.node_id)
                                              ORDER BY n.expires_at DESC LIMIT 1), '')
                 RETURNING node_id)
             DELETE FROM herald_endpoint e USING gone WHERE e.node_id = gone.node_id",
        )
        .execute(&mut *tx)
        .await?;
        route_unrouted_events(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keep this replica's config alive for another `ttl` — one row, not
    /// one per endpoint — and fan out events emitted while no config was
    /// known (see [`route_unrouted_events`]). A heartbeat that had to be
    /// made anew (the replica was gone long enough to be cleaned up)
    /// writes `endpoints` again too.
    pub async fn renew_config_endpoints(
        &self,
        node_id: &str,
        endpoints: &[Endpoint],
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        if heartbeat(&mut tx, node_id, ttl).await? {
            write_config_rows(&mut tx, node_id, endpoints).await?;
        }
        route_unrouted_events(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// This replica's config rows: new ones inserted, changed ones updated (an
/// unchanged row is not rewritten), those no longer configured removed.
async fn write_config_rows(
    tx: &mut sqlx::PgConnection,
    node_id: &str,
    endpoints: &[Endpoint],
) -> Result<(), StoreError> {
    {
        let ids: Vec<String> = endpoints.iter().map(|e| e.id.clone()).collect();
        for endpoint in endpoints {
            sqlx::query(
                "INSERT INTO herald_endpoint
                        (id, node_id, project_id, event_types, enabled, expires_at, direct_messages,
                         project_resource_id)
                 VALUES ($1, $5, $2, $3, $4, now(), $6, $7)
                 ON CONFLICT (id, node_id) DO UPDATE
                    SET project_id = EXCLUDED.project_id, event_types = EXCLUDED.event_types,
                        project_resource_id = EXCLUDED.project_resource_id,
                        enabled = EXCLUDED.enabled, direct_messages = EXCLUDED.direct_messages,
                        updated_at = now()
                  WHERE (herald_endpoint.project_id, herald_endpoint.event_types,
                         herald_endpoint.project_resource_id, herald_endpoint.enabled,
                         herald_endpoint.direct_messages)
                        IS DISTINCT FROM (EXCLUDED.project_id, EXCLUDED.event_types,
                                          EXCLUDED.project_resource_id, EXCLUDED.enabled,
                                          EXCLUDED.direct_messages)",
            )
            .bind(&endpoint.id)
            .bind(endpoint.project_id)
            .bind(&endpoint.event_types)
            .bind(endpoint.enabled)
            .bind(node_id)
            .bind(endpoint.direct_messages)
            .bind(&endpoint.project_resource)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM herald_endpoint WHERE node_id = $1 AND NOT (id = ANY($2))")
            .bind(node_id)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

impl Store {
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
    /// Who holds each live lease, with its epoch, and each endpoint's
    /// pending deliveries: endpoint id → (holder, epoch, pending).
    pub async fn endpoint_activity(
        &self,
    ) -> Result<std::collections::HashMap<String, EndpointActivity>, StoreError> {
        let rows = sqlx::query(
            "SELECT coalesce(l.endpoint_id, p.endpoint_id) AS endpoint_id,
                    l.owner, l.epoch, coalesce(p.pending, 0) AS pending
               FROM (SELECT endpoint_id, owner, epoch FROM herald_endpoint_lease
                      WHERE expires_at > now()) l
               FULL JOIN (SELECT endpoint_id, count(*) AS pending FROM herald_delivery
                           WHERE state = 'pending' GROUP BY endpoint_id) p
                 ON p.endpoint_id = l.endpoint_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("endpoint_id")?,
                    EndpointActivity {
                        lease_holder: row.try_get("owner")?,
                        lease_epoch: row.try_get("epoch")?,
                        pending: row.try_get("pending")?,
                    },
                ))
            })
            .collect()
    }

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

/// Events emitted before any replica had registered its config
/// (`herald_unrouted_event`, migration 0053): give them their outbox rows
/// now, in emission order, to every endpoint that subscribes them (the
/// project webhooks' rows, written at emit time, are left as they are), and
/// forget them — in the caller's transaction, so exactly once. Returns the
/// outbox rows written.
/// This replica's config counts for another `ttl` (`herald_config_node`);
/// true when its row had to be made (it was not there).
async fn heartbeat(
    conn: &mut sqlx::PgConnection,
    node_id: &str,
    ttl: std::time::Duration,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO herald_config_node (node_id, expires_at)
         VALUES ($1, now() + $2::bigint * interval '1 millisecond')
         ON CONFLICT (node_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
         RETURNING xmax = 0",
    )
    .bind(node_id)
    .bind(millis(ttl))
    .fetch_one(conn)
    .await?)
}

async fn route_unrouted_events(conn: &mut sqlx::PgConnection) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "WITH taken AS (DELETE FROM herald_unrouted_event RETURNING event_id)
         INSERT INTO herald_delivery (event_id, endpoint_id, recipient)
         SELECT id, endpoint_id, recipient FROM (
         SELECT DISTINCT e.id, s.endpoint_id, r.recipient, e.seq
           FROM taken t
           JOIN herald_event e ON e.id = t.event_id
           JOIN herald_subscription s
             ON (s.project_id IS NULL OR s.project_id = e.project_id)
            AND (e.type = ANY (s.event_types) OR '*' = ANY (s.event_types))
          CROSS JOIN LATERAL (
                SELECT '' AS recipient WHERE NOT s.direct_messages
                UNION ALL
                SELECT herald_recipients(e.type, e.payload) WHERE s.direct_messages
              ) r
         ) fan_out
          ORDER BY seq, endpoint_id, recipient
         ON CONFLICT (event_id, endpoint_id, recipient) DO NOTHING",
    )
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

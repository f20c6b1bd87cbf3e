//! Endpoint leases (`herald_endpoint_lease`): which replica delivers which
//! endpoint. Taken with `INSERT … ON CONFLICT` when free or expired, renewed
//! by the owner, judged by the database clock so replicas' clocks don't
//! matter (River's leader-table model).

use std::time::Duration;

use super::{Store, StoreError};

/// A lease just taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquiredLease {
    /// The fencing token: every attempt record carries it.
    pub epoch: i64,
    /// Set when the lease was taken over from another replica.
    pub previous_owner: Option<String>,
}

fn interval(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Store {
    /// Take the lease of `endpoint_id` for `owner` if it is free, expired or
    /// already ours. Returns `None` when another replica holds it, else the
    /// lease: its epoch (the fencing token every record carries; a new one
    /// on every takeover) and the previous owner when it was taken over
    /// from another replica.
    pub async fn acquire_lease(
        &self,
        endpoint_id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<AcquiredLease>, StoreError> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(
            "WITH previous AS (
                 SELECT owner FROM herald_endpoint_lease WHERE endpoint_id = $1
             )
             INSERT INTO herald_endpoint_lease AS l (endpoint_id, owner, expires_at)
             VALUES ($1, $2, now() + make_interval(secs => $3))
             ON CONFLICT (endpoint_id) DO UPDATE
                SET owner = EXCLUDED.owner,
                    epoch = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > now()
                                 THEN l.epoch ELSE l.epoch + 1 END,
                    acquired_at = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > now()
                                       THEN l.acquired_at ELSE now() END,
                    expires_at = EXCLUDED.expires_at
              WHERE l.owner = EXCLUDED.owner OR l.expires_at < now()
             RETURNING l.epoch, (SELECT owner FROM previous)",
        )
        .bind(endpoint_id)
        .bind(owner)
        .bind(interval(ttl))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(epoch, previous)| AcquiredLease {
            epoch,
            previous_owner: previous.filter(|p| p != owner),
        }))
    }

    /// Extend the leases `owner` holds among `leases` (endpoint id, epoch);
    /// returns the ones renewed. Fenced: a lease is renewed only under the
    /// same owner **and** epoch and only while unexpired, so a renewal that
    /// lands after a release or a takeover revives nothing.
    pub async fn renew_leases(
        &self,
        owner: &str,
        leases: &[(String, i64)],
        ttl: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let (ids, epochs): (Vec<&str>, Vec<i64>) = leases
            .iter()
            .map(|(id, epoch)| (id.as_str(), *epoch))
            .unzip();
        Ok(sqlx::query_scalar(
            "UPDATE herald_endpoint_lease l
                SET expires_at = now() + make_interval(secs => $4)
               FROM unnest($2::text[], $3::bigint[]) AS held(endpoint_id, epoch)
              WHERE l.owner = $1 AND l.endpoint_id = held.endpoint_id
                AND l.epoch = held.epoch AND l.expires_at > now()
              RETURNING l.endpoint_id",
        )
        .bind(owner)
        .bind(ids)
        .bind(epochs)
        .bind(interval(ttl))
        .fetch_all(self.pool())
        .await?)
    }

    /// Give up leases (endpoint id, epoch), so another replica takes over
    /// at once; fenced like renewal. The rows stay, expired, so the next
    /// owner's epoch is higher.
    pub async fn release_leases(
        &self,
        owner: &str,
        leases: &[(String, i64)],
    ) -> Result<u64, StoreError> {
        let (ids, epochs): (Vec<&str>, Vec<i64>) = leases
            .iter()
            .map(|(id, epoch)| (id.as_str(), *epoch))
            .unzip();
        Ok(sqlx::query(
            "UPDATE herald_endpoint_lease l SET expires_at = now() - interval '1 millisecond'
               FROM unnest($2::text[], $3::bigint[]) AS held(endpoint_id, epoch)
              WHERE l.owner = $1 AND l.endpoint_id = held.endpoint_id
                AND l.epoch = held.epoch AND l.expires_at > now()",
        )
        .bind(owner)
        .bind(ids)
        .bind(epochs)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Give back every lease `owner` still holds (the last step of a
    /// graceful stop: nothing of this owner sends any more, and a give-back
    /// still in flight when the process ends must not leave a lease to
    /// expire).
    pub async fn release_owner_leases(&self, owner: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE herald_endpoint_lease SET expires_at = now() - interval '1 millisecond'
              WHERE owner = $1 AND expires_at > now()",
        )
        .bind(owner)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// How long until the lease of `endpoint_id` expires (database clock),
    /// if it is held.
    pub async fn lease_expires_in(
        &self,
        endpoint_id: &str,
    ) -> Result<Option<Duration>, StoreError> {
        let ms: Option<i64> = sqlx::query_scalar(
            "SELECT (extract(epoch FROM expires_at - now()) * 1000)::bigint
               FROM herald_endpoint_lease WHERE endpoint_id = $1 AND expires_at > now()",
        )
        .bind(endpoint_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(ms.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs())))
    }

    /// This replica is alive for another `ttl`; returns how many replicas
    /// are alive (this one included).
    pub async fn heartbeat_replica(&self, node_id: &str, ttl: Duration) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "WITH me AS (
                 INSERT INTO herald_replica (node_id, expires_at)
                 VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (node_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
             )
             SELECT 1 + count(*) FROM herald_replica WHERE node_id <> $1 AND expires_at > now()",
        )
        .bind(node_id)
        .bind(interval(ttl))
        .fetch_one(self.pool())
        .await?)
    }

    /// This replica stops: it no longer counts as alive.
    pub async fn leave_replicas(&self, node_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM herald_replica WHERE node_id = $1")
            .bind(node_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

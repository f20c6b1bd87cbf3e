-- A config endpoint may filter by project resource id (`project: shop`):
-- the id a Bytebase project is known by (herald's local ids are its own).
-- The subscription view resolves it at fan-out time; a resource id no
-- project has (yet) matches nothing, never everything.
ALTER TABLE herald_endpoint ADD COLUMN project_resource_id TEXT;

CREATE OR REPLACE VIEW herald_subscription AS
    SELECT DISTINCT e.id AS endpoint_id,
           CASE WHEN e.project_resource_id IS NULL THEN e.project_id
                ELSE coalesce((SELECT p.id FROM project p WHERE p.resource_id = e.project_resource_id), -1)
           END AS project_id,
           e.event_types, e.direct_messages
      FROM herald_endpoint e
     WHERE e.enabled
       AND (e.expires_at IS NULL
            OR e.expires_at > now()
            OR e.node_id = (SELECT node_id FROM herald_endpoint
                             WHERE expires_at IS NOT NULL
                             ORDER BY expires_at DESC LIMIT 1))
    UNION ALL
    SELECT 'project-webhook-' || id, project_id, event_types, false
      FROM project_webhook
     WHERE enabled;

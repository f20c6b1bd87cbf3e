-- Config liveness by one heartbeat row per replica (issue 27). Each replica
-- used to renew `expires_at` on every one of its herald_endpoint rows at
-- every sweep: ~400,000 dead rows in two idle hours, and the table scanned
-- per event. Now a replica's config rows are written when its config
-- changes only; its liveness is one row here, renewed at each sweep (an
-- update of one small row, HOT: nothing indexed changes). A config row
-- counts while its replica's row is alive — or, when none is, if its
-- replica is, of those with a config, the one seen alive last (so events
-- keep fanning out while every replica is down). herald_endpoint.expires_at now only marks a row
-- as a replica's (NULL: written by hand, never expires).
CREATE TABLE herald_config_node (
    node_id    TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO herald_config_node (node_id, expires_at)
SELECT node_id, max(expires_at) FROM herald_endpoint
 WHERE expires_at IS NOT NULL GROUP BY node_id;

DROP INDEX IF EXISTS herald_endpoint_expires_idx;

CREATE OR REPLACE VIEW herald_subscription AS
    SELECT DISTINCT e.id AS endpoint_id,
           CASE WHEN e.project_resource_id IS NULL THEN e.project_id
                ELSE coalesce((SELECT p.id FROM project p WHERE p.resource_id = e.project_resource_id), -1)
           END AS project_id,
           e.event_types, e.direct_messages
      FROM herald_endpoint e
     WHERE e.enabled
       AND (e.expires_at IS NULL
            OR EXISTS (SELECT 1 FROM herald_config_node n
                        WHERE n.node_id = e.node_id AND n.expires_at > now())
            OR e.node_id = (SELECT n.node_id FROM herald_config_node n
                             WHERE EXISTS (SELECT 1 FROM herald_endpoint c
                                            WHERE c.node_id = n.node_id)
                             ORDER BY n.expires_at DESC LIMIT 1))
    UNION ALL
    SELECT 'project-webhook-' || id, project_id, event_types, false
      FROM project_webhook
     WHERE enabled;

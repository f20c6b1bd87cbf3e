-- Config endpoints per replica. Each replica mirrors its own config file's
-- endpoints under its node id and keeps them alive while it runs
-- (expires_at, renewed by its outbox sweep). Fan-out subscribes an endpoint
-- when any live replica's config has it, or the most recently alive
-- replica's config has it (so events emitted while every replica is down
-- still get their outbox rows). A rolling config change therefore never
-- leaves an event without an outbox row for an endpoint some live replica
-- delivers. Rows written by hand (node_id '', expires_at NULL) never expire.
ALTER TABLE herald_endpoint ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE herald_endpoint ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE herald_endpoint DROP CONSTRAINT herald_endpoint_pkey;
ALTER TABLE herald_endpoint ADD PRIMARY KEY (id, node_id);
CREATE INDEX herald_endpoint_expires_idx ON herald_endpoint (expires_at DESC NULLS LAST);
-- Rows from before: nobody owns them now; the next replica to start
-- replaces them with its own.
UPDATE herald_endpoint SET node_id = '(before 0044)', expires_at = now();

CREATE OR REPLACE VIEW herald_subscription AS
    SELECT DISTINCT id AS endpoint_id, project_id, event_types
      FROM herald_endpoint
     WHERE enabled
       AND (expires_at IS NULL
            OR expires_at > now()
            OR node_id = (SELECT node_id FROM herald_endpoint
                           WHERE expires_at IS NOT NULL
                           ORDER BY expires_at DESC LIMIT 1))
    UNION ALL
    SELECT 'project-webhook-' || id, project_id, event_types
      FROM project_webhook
     WHERE enabled;

-- herald_emit writes one outbox row per endpoint even when several
-- replicas' rows subscribe it: redefined in 0046.

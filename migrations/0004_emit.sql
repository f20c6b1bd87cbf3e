-- Endpoints and event emission in SQL, so that an event and its outbox rows
-- are written in the caller's own transaction — herald's claims, and a host
-- application emitting custom events alike.

-- Global endpoints from herald's config file, mirrored here by herald at start
-- and on reload so fan-out can happen inside any transaction. Secrets and URLs
-- stay in the config file; only what fan-out needs is here.
CREATE TABLE herald_endpoint (
    id          TEXT PRIMARY KEY,
    -- NULL: events of every project (and events without a project).
    project_id  BIGINT,
    -- Subscribed event types; '*' subscribes to every type.
    event_types TEXT[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- FALSE when the config says `enabled: false` or the endpoint was removed
    -- from the config: no new outbox rows.
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every endpoint that may receive events: config endpoints and project
-- webhooks (as 'project-webhook-<id>').
CREATE VIEW herald_subscription AS
    SELECT id AS endpoint_id, project_id, event_types
      FROM herald_endpoint
     WHERE enabled
    UNION ALL
    SELECT 'project-webhook-' || id, project_id, event_types
      FROM project_webhook
     WHERE enabled;

-- Emit one event: write it to the event log and one outbox row per subscribed
-- endpoint, in the caller's transaction. `p_payload` holds the event's
-- project / issue / plan / rollout snapshots and its `data`. Returns the id.
CREATE FUNCTION herald_emit(
    p_type       TEXT,
    p_payload    JSONB,
    p_project_id BIGINT DEFAULT NULL,
    p_issue_id   BIGINT DEFAULT NULL,
    p_plan_id    BIGINT DEFAULT NULL,
    p_rollout_id BIGINT DEFAULT NULL,
    p_id         UUID DEFAULT gen_random_uuid()
) RETURNS UUID
LANGUAGE plpgsql AS $$
BEGIN
    IF p_type IS NULL OR p_type !~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' THEN
        RAISE EXCEPTION 'herald_emit: event type % is not a dotted name', p_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO herald_event (id, type, project_id, issue_id, plan_id, rollout_id, payload)
    VALUES (p_id, p_type, p_project_id, p_issue_id, p_plan_id, p_rollout_id,
            COALESCE(p_payload, '{}'::jsonb));
    INSERT INTO herald_delivery (event_id, endpoint_id)
    SELECT p_id, s.endpoint_id
      FROM herald_subscription s
     WHERE (s.project_id IS NULL OR s.project_id = p_project_id)
       AND (p_type = ANY (s.event_types) OR '*' = ANY (s.event_types))
     ORDER BY s.endpoint_id;
    RETURN p_id;
END $$;

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

-- herald_emit: rejects malformed snapshots (herald_payload_problem, 0041),
-- fills the snapshots a payload lacks from the ids given, and writes one
-- outbox row per endpoint even when several replicas' rows subscribe it.
CREATE OR REPLACE FUNCTION herald_emit(
    p_type       TEXT,
    p_payload    JSONB,
    p_project_id BIGINT DEFAULT NULL,
    p_issue_id   BIGINT DEFAULT NULL,
    p_plan_id    BIGINT DEFAULT NULL,
    p_rollout_id BIGINT DEFAULT NULL,
    p_id         UUID DEFAULT gen_random_uuid()
) RETURNS UUID
LANGUAGE plpgsql AS $$
DECLARE
    v_payload JSONB := COALESCE(p_payload, '{}'::jsonb);
    v_problem TEXT;
BEGIN
    IF p_type IS NULL OR length(p_type) > 128 OR p_type !~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' THEN
        RAISE EXCEPTION 'herald_emit: event type % is not a dotted name of at most 128 characters', left(p_type, 200)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_problem := herald_payload_problem(v_payload);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'herald_emit: %', v_problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'omit the snapshot and pass its id (p_project_id, p_issue_id, p_plan_id, p_rollout_id): herald fills it in';
    END IF;
    IF p_project_id IS NOT NULL AND jsonb_typeof(v_payload -> 'project') IS DISTINCT FROM 'object' THEN
        v_payload := v_payload || jsonb_build_object('project',
            (SELECT jsonb_build_object('id', id, 'resource_id', resource_id, 'title', title)
               FROM project WHERE id = p_project_id));
    END IF;
    IF p_issue_id IS NOT NULL AND jsonb_typeof(v_payload -> 'issue') IS DISTINCT FROM 'object' THEN
        v_payload := v_payload || jsonb_build_object('issue',
            (SELECT jsonb_build_object('id', i.id, 'title', i.title, 'creator',
                        jsonb_build_object('id', u.id, 'name', u.name, 'email', u.email,
                                           'phone', u.phone))
               FROM issue i JOIN app_user u ON u.id = i.creator_id
              WHERE i.id = p_issue_id));
    END IF;
    IF p_plan_id IS NOT NULL AND jsonb_typeof(v_payload -> 'plan') IS DISTINCT FROM 'object' THEN
        v_payload := v_payload || jsonb_build_object('plan',
            (SELECT jsonb_build_object('id', id, 'title', title) FROM plan WHERE id = p_plan_id));
    END IF;
    IF p_rollout_id IS NOT NULL AND jsonb_typeof(v_payload -> 'rollout') IS DISTINCT FROM 'object' THEN
        v_payload := v_payload || jsonb_build_object('rollout',
            (SELECT jsonb_build_object('id', id) FROM rollout WHERE id = p_rollout_id));
    END IF;
    INSERT INTO herald_event (id, type, project_id, issue_id, plan_id, rollout_id, payload)
    VALUES (p_id, p_type, p_project_id, p_issue_id, p_plan_id, p_rollout_id, v_payload);
    INSERT INTO herald_delivery (event_id, endpoint_id)
    SELECT DISTINCT p_id, s.endpoint_id
      FROM herald_subscription s
     WHERE (s.project_id IS NULL OR s.project_id = p_project_id)
       AND (p_type = ANY (s.event_types) OR '*' = ANY (s.event_types))
     ORDER BY 2;
    RETURN p_id;
END $$;

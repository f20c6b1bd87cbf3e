-- herald_emit validates the payload's snapshots and fills the missing ones
-- from the ids it is given, so that every outbox row can be decoded and a
-- custom event emitted with only p_project_id still names its project.

-- The first problem with a payload's `project` / `issue` / `plan` /
-- `rollout` snapshots, or NULL when they have the documented shapes
-- (docs/events.md). Absent and JSON null are fine.
CREATE FUNCTION herald_payload_problem(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
            'the payload must be a JSON object'
        WHEN jsonb_typeof(p -> 'project') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'project') = 'object'
                AND (p -> 'project' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'project' -> 'resource_id') = 'string'
                AND jsonb_typeof(p -> 'project' -> 'title') = 'string'), false) THEN
            'project must be {"id": integer, "resource_id": string, "title": string}'
        WHEN jsonb_typeof(p -> 'issue') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'issue') = 'object'
                AND (p -> 'issue' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'issue' -> 'title') = 'string'
                AND jsonb_typeof(p -> 'issue' -> 'creator') = 'object'
                AND (p -> 'issue' -> 'creator' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'issue' -> 'creator' -> 'name') = 'string'
                AND jsonb_typeof(p -> 'issue' -> 'creator' -> 'email') = 'string'
                AND coalesce(jsonb_typeof(p -> 'issue' -> 'creator' -> 'phone'), 'null')
                    IN ('null', 'string')), false) THEN
            'issue must be {"id": integer, "title": string, "creator": {"id": integer, "name": string, "email": string, "phone": string or null}}'
        WHEN jsonb_typeof(p -> 'plan') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'plan') = 'object'
                AND (p -> 'plan' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'plan' -> 'title') = 'string'), false) THEN
            'plan must be {"id": integer, "title": string}'
        WHEN jsonb_typeof(p -> 'rollout') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'rollout') = 'object'
                AND (p -> 'rollout' ->> 'id') ~ '^-?[0-9]{1,18}$'), false) THEN
            'rollout must be {"id": integer}'
    END
$$;

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
    IF p_type IS NULL OR p_type !~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$' THEN
        RAISE EXCEPTION 'herald_emit: event type % is not a dotted name', p_type
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_problem := herald_payload_problem(v_payload);
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION 'herald_emit: %', v_problem
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'omit the snapshot and pass its id (p_project_id, p_issue_id, p_plan_id, p_rollout_id): herald fills it in';
    END IF;
    -- Snapshots the payload lacks, from the ids.
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
    SELECT p_id, s.endpoint_id
      FROM herald_subscription s
     WHERE (s.project_id IS NULL OR s.project_id = p_project_id)
       AND (p_type = ANY (s.event_types) OR '*' = ANY (s.event_types))
     ORDER BY s.endpoint_id;
    RETURN p_id;
END $$;

-- Fan-out costs: one NOTIFY per endpoint per statement (not one pg_notify
-- call per row, each folded away only at commit), and an emit that reports
-- its outbox rows without a second query.

CREATE OR REPLACE FUNCTION herald_notify_delivery() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald', json_build_object(
        'table', 'herald_delivery',
        'op', TG_OP,
        'endpoint_id', endpoint_id)::text)
       FROM (SELECT DISTINCT endpoint_id FROM new_rows) AS e;
    RETURN NULL;
END $$;

DROP TRIGGER herald_delivery_notify ON herald_delivery;
CREATE TRIGGER herald_delivery_notify AFTER INSERT ON herald_delivery
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION herald_notify_delivery();

-- Emit one event (see docs/events.md): reject malformed snapshots
-- (herald_payload_problem, 0041), fill the snapshots a payload lacks from
-- the ids given, write the event and one outbox row per subscribed
-- endpoint (once, even when several replicas' configs subscribe it), in the
-- caller's transaction. Returns how many outbox rows it wrote;
-- herald_emit is the same, returning the event's id.
CREATE FUNCTION herald_emit_counted(
    p_type       TEXT,
    p_payload    JSONB,
    p_project_id BIGINT DEFAULT NULL,
    p_issue_id   BIGINT DEFAULT NULL,
    p_plan_id    BIGINT DEFAULT NULL,
    p_rollout_id BIGINT DEFAULT NULL,
    p_id         UUID DEFAULT gen_random_uuid()
) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    v_payload JSONB := COALESCE(p_payload, '{}'::jsonb);
    v_problem TEXT;
    v_deliveries BIGINT;
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
    GET DIAGNOSTICS v_deliveries = ROW_COUNT;
    RETURN v_deliveries;
END $$;

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
BEGIN
    PERFORM herald_emit_counted(p_type, p_payload, p_project_id, p_issue_id, p_plan_id,
                                p_rollout_id, p_id);
    RETURN p_id;
END $$;

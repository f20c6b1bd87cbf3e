-- Direct messages (docs/events.md, "Direct messages"): an endpoint with
-- direct_messages sends each event to people through an IM app's API,
-- one outbox row per recipient, so each recipient is delivered, retried,
-- failed and replayed on its own, exactly once across replicas (the
-- unique key now includes the recipient; '' for every other endpoint).
ALTER TABLE herald_endpoint ADD COLUMN direct_messages BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE herald_delivery ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
ALTER TABLE herald_delivery DROP CONSTRAINT herald_delivery_event_id_endpoint_id_key;
ALTER TABLE herald_delivery ADD CONSTRAINT herald_delivery_event_endpoint_recipient_key
    UNIQUE (event_id, endpoint_id, recipient);

CREATE OR REPLACE VIEW herald_subscription AS
    SELECT DISTINCT id AS endpoint_id, project_id, event_types, direct_messages
      FROM herald_endpoint
     WHERE enabled
       AND (expires_at IS NULL
            OR expires_at > now()
            OR node_id = (SELECT node_id FROM herald_endpoint
                           WHERE expires_at IS NOT NULL
                           ORDER BY expires_at DESC LIMIT 1))
    UNION ALL
    SELECT 'project-webhook-' || id, project_id, event_types, false
      FROM project_webhook
     WHERE enabled;

-- Who an event is sent to directly, as user ids: the approvers of an
-- approval request, the creator of a sent-back issue; nobody otherwise.
CREATE FUNCTION herald_recipients(p_type TEXT, p_payload JSONB) RETURNS SETOF TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT DISTINCT person ->> 'id'
      FROM jsonb_array_elements(
             CASE
               WHEN p_type = 'ISSUE_APPROVAL_REQUESTED'
                    AND jsonb_typeof(p_payload -> 'data' -> 'approvers') = 'array'
                 THEN p_payload -> 'data' -> 'approvers'
               WHEN p_type = 'ISSUE_SENT_BACK'
                    AND jsonb_typeof(p_payload -> 'data' -> 'creator') = 'object'
                 THEN jsonb_build_array(p_payload -> 'data' -> 'creator')
               ELSE '[]'::jsonb
             END) AS person
     WHERE jsonb_typeof(person) = 'object'
       AND person ->> 'id' ~ '^[0-9]{1,19}$'
$$;

-- herald_emit_counted as in 0046, with one row per recipient for direct
-- messages, and the people directory's handles in the issue creator it
-- fills in from p_issue_id (0049 gave them to herald's own events only).
CREATE OR REPLACE FUNCTION herald_emit_counted(
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
                                           'phone', u.phone)
                        || (SELECT CASE WHEN h = '{}'::jsonb THEN h
                                        ELSE jsonb_build_object('handles', h) END
                              FROM herald_user_handles(u.id) AS h))
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
    INSERT INTO herald_delivery (event_id, endpoint_id, recipient)
    SELECT DISTINCT p_id, s.endpoint_id, r.recipient
      FROM herald_subscription s
     CROSS JOIN LATERAL (
            SELECT '' AS recipient WHERE NOT s.direct_messages
            UNION ALL
            SELECT herald_recipients(p_type, v_payload) WHERE s.direct_messages
          ) r
     WHERE (s.project_id IS NULL OR s.project_id = p_project_id)
       AND (p_type = ANY (s.event_types) OR '*' = ANY (s.event_types))
     ORDER BY 2, 3;
    GET DIAGNOSTICS v_deliveries = ROW_COUNT;
    RETURN v_deliveries;
END $$;

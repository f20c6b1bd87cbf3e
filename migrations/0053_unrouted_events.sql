-- Events emitted before any replica has registered its config (a host that
-- starts emitting before herald first starts) found no config endpoint to
-- subscribe: they are remembered here and fanned out to the config
-- endpoints when a replica registers its config (or at its next sweep), in
-- the same transaction that forgets them — never dropped. Once any replica
-- has registered, the most recently alive replica's config always stands
-- in (herald_subscription, 0044), so nothing is remembered any more.
CREATE TABLE herald_unrouted_event (
    event_id   UUID PRIMARY KEY REFERENCES herald_event (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- herald_emit_counted as in 0050, remembering the event when no replica
-- has ever registered its config.
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
    -- No replica has ever registered its config: remember the event.
    IF NOT EXISTS (SELECT 1 FROM herald_endpoint WHERE expires_at IS NOT NULL) THEN
        INSERT INTO herald_unrouted_event (event_id) VALUES (p_id);
    END IF;
    RETURN v_deliveries;
END $$;

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

-- herald_emit, returning how many outbox rows it wrote as well.
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
    v_deliveries BIGINT;
BEGIN
    PERFORM herald_emit(p_type, p_payload, p_project_id, p_issue_id, p_plan_id, p_rollout_id, p_id);
    SELECT count(*) INTO v_deliveries FROM herald_delivery WHERE event_id = p_id;
    RETURN v_deliveries;
END $$;

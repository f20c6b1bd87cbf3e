-- Change notifications. Every payload is a small JSON object naming the table,
-- the operation and the ids a router needs; never the row itself (NOTIFY
-- payloads are capped at 8000 bytes). Triggers fire only on transitions that
-- matter, to keep the commit-time NOTIFY lock cheap. Channel: 'herald'.

CREATE FUNCTION herald_notify_task_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald', json_build_object(
        'table', 'task_run',
        'op', TG_OP,
        'id', NEW.id,
        'task_id', NEW.task_id,
        'plan_id', (SELECT t.plan_id FROM task t WHERE t.id = NEW.task_id),
        'status', NEW.status)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER task_run_notify_insert AFTER INSERT ON task_run
    FOR EACH ROW EXECUTE FUNCTION herald_notify_task_run();
CREATE TRIGGER task_run_notify_update AFTER UPDATE OF status ON task_run
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION herald_notify_task_run();

-- Issues: record each transition in herald_issue_transition, then notify.
CREATE FUNCTION herald_notify_issue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entered_step BOOLEAN;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO herald_issue_transition (issue_id, kind) VALUES (NEW.id, 'CREATED');
        entered_step := NEW.approval_step_role IS NOT NULL AND NEW.approval_status = 'PENDING';
    ELSE
        entered_step := NEW.approval_step_role IS NOT NULL
            AND NEW.approval_status = 'PENDING'
            AND (OLD.approval_step_role IS DISTINCT FROM NEW.approval_step_role
                 OR OLD.approval_status IS DISTINCT FROM NEW.approval_status);
        IF NEW.approval_status = 'REJECTED' AND OLD.approval_status IS DISTINCT FROM 'REJECTED' THEN
            INSERT INTO herald_issue_transition (issue_id, kind, approval_step_role)
                VALUES (NEW.id, 'SENT_BACK', NEW.approval_step_role);
        END IF;
        IF NEW.approval_status = 'APPROVED' AND OLD.approval_status IS DISTINCT FROM 'APPROVED' THEN
            INSERT INTO herald_issue_transition (issue_id, kind, approval_step_role)
                VALUES (NEW.id, 'APPROVED', NEW.approval_step_role);
        END IF;
    END IF;
    IF entered_step THEN
        INSERT INTO herald_issue_transition (issue_id, kind, approval_step_role)
            VALUES (NEW.id, 'APPROVAL_REQUESTED', NEW.approval_step_role);
    END IF;
    PERFORM pg_notify('herald', json_build_object(
        'table', 'issue',
        'op', TG_OP,
        'id', NEW.id,
        'project_id', NEW.project_id,
        'plan_id', NEW.plan_id,
        'approval_status', NEW.approval_status)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER issue_notify_insert AFTER INSERT ON issue
    FOR EACH ROW EXECUTE FUNCTION herald_notify_issue();
CREATE TRIGGER issue_notify_update AFTER UPDATE ON issue
    FOR EACH ROW WHEN (OLD.approval_status IS DISTINCT FROM NEW.approval_status
                       OR OLD.approval_step_role IS DISTINCT FROM NEW.approval_step_role
                       OR OLD.plan_id IS DISTINCT FROM NEW.plan_id)
    EXECUTE FUNCTION herald_notify_issue();

CREATE FUNCTION herald_notify_plan_check_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald', json_build_object(
        'table', 'plan_check_run',
        'op', TG_OP,
        'id', NEW.id,
        'plan_id', NEW.plan_id,
        'status', NEW.status)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER plan_check_run_notify_insert AFTER INSERT ON plan_check_run
    FOR EACH ROW EXECUTE FUNCTION herald_notify_plan_check_run();
CREATE TRIGGER plan_check_run_notify_update AFTER UPDATE OF status ON plan_check_run
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION herald_notify_plan_check_run();

-- Outbox: wake the endpoint's delivery actor. PostgreSQL folds identical
-- notifications of one transaction into one, so a batch of rows for the same
-- endpoint costs one notification.
CREATE FUNCTION herald_notify_delivery() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald', json_build_object(
        'table', 'herald_delivery',
        'op', TG_OP,
        'endpoint_id', NEW.endpoint_id)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER herald_delivery_notify AFTER INSERT ON herald_delivery
    FOR EACH ROW EXECUTE FUNCTION herald_notify_delivery();

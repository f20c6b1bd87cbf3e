-- Task-run notifications carry the run's `updated_at` after the change (the
-- status time stamped by 0042 on updates): plan supervisors keep per-plan
-- counters from notifications and place the failure window from this time,
-- without reading the plan again (issue: plans of 10,000 tasks).
CREATE OR REPLACE FUNCTION herald_notify_task_run() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('herald', json_build_object(
        'table', 'task_run',
        'op', TG_OP,
        'id', NEW.id,
        'task_id', NEW.task_id,
        'plan_id', (SELECT t.plan_id FROM task t WHERE t.id = NEW.task_id),
        'status', NEW.status,
        'updated_at', NEW.updated_at)::text);
    RETURN NULL;
END $$;

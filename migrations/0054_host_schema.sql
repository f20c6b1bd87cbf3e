-- The native host tables move into a schema of their own (the host schema,
-- default herald_host, set by herald as `herald.host_schema` for this
-- session); herald's own objects stay in herald's schema. Nothing of herald's
-- lives in `public`, so herald can share a database with any application
-- (Bytebase has tables named project, issue, plan, task, task_run, …).
-- herald's connections and functions use search_path = herald, host; the
-- functions are given that path after every migration pass.
DO $$
DECLARE
    host TEXT := current_setting('herald.host_schema', true);
    t    TEXT;
BEGIN
    IF host IS NULL OR host = '' THEN
        RAISE EXCEPTION 'herald.host_schema is not set: run migrations through herald (herald migrate)';
    END IF;
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', host);
    FOREACH t IN ARRAY ARRAY['project', 'app_user', 'project_member', 'app_user_handle', 'plan',
                             'issue', 'task', 'task_run', 'plan_check_run', 'rollout',
                             'project_webhook']
    LOOP
        IF to_regclass(format('%I.%I', current_schema(), t)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I.%I SET SCHEMA %I', current_schema(), t, host);
        END IF;
    END LOOP;
END $$;

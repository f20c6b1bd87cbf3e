-- Work rows (issue 22): what needs looking at is written by the host's own
-- transaction, so reconciliation reads pending work, never history.
--
-- herald_plan_work: one row per plan that ever had a task run.
--   * `run_seq` is the plan's run sequence. Every new task run is stamped
--     with the next value (`task_run.herald_seq`) under this row's lock, held
--     until the host's transaction commits: within a plan, sequence order is
--     commit order, whatever order the run ids were drawn in. Outcome claims
--     record the highest sequence they saw; a run with a greater one starts
--     the next generation.
--   * `due_at` says when the plan's outcome must be looked at (NULL: it is
--     settled until the next change). A new run sets it to now; herald sets
--     it to the failure window's deadline, or clears it, after reading the
--     plan — only if `version` is still the one it read.
-- herald_plan_change: one row per task-run status change, insert-only, so
--   a status update takes no lock another transaction could wait on (two
--   host transactions updating runs of one plan must never deadlock on a
--   herald row). herald deletes the rows up to the newest one its read saw.
-- herald_rollout_change: likewise, one row per change to a plan's rollout
--   conditions (issue, plan check or project settings), insert-only.

CREATE TABLE herald_plan_work (
    plan_id BIGINT PRIMARY KEY REFERENCES plan (id) ON DELETE CASCADE,
    run_seq BIGINT NOT NULL DEFAULT 0,
    version BIGINT NOT NULL DEFAULT 1,
    due_at  TIMESTAMPTZ
);
CREATE INDEX herald_plan_work_due_idx ON herald_plan_work (due_at) WHERE due_at IS NOT NULL;

-- No foreign keys: a key check would lock the plan row (FOR KEY SHARE).
CREATE TABLE herald_plan_change (
    id      BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL
);
CREATE INDEX herald_plan_change_plan_idx ON herald_plan_change (plan_id, id);

CREATE TABLE herald_rollout_change (
    id      BIGSERIAL PRIMARY KEY,
    plan_id BIGINT NOT NULL
);
CREATE INDEX herald_rollout_change_plan_idx ON herald_rollout_change (plan_id, id);

-- Runs from before this migration have no sequence: theirs is their id,
-- which is also what the claims made before it recorded.
ALTER TABLE task_run ADD COLUMN herald_seq BIGINT;
ALTER TABLE herald_plan_outcome RENAME COLUMN last_task_run_id TO last_run_seq;

-- A new run: the next sequence of its plan, and the plan is due. The
-- sequence is at least the run's id, so it stays above every run from
-- before this migration.
CREATE FUNCTION herald_stamp_task_run() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    plan BIGINT;
BEGIN
    SELECT t.plan_id INTO plan FROM task t WHERE t.id = NEW.task_id;
    IF plan IS NULL THEN
        RETURN NEW; -- the foreign key rejects the row
    END IF;
    INSERT INTO herald_plan_work AS w (plan_id, run_seq, due_at)
         VALUES (plan, NEW.id, clock_timestamp())
    ON CONFLICT (plan_id) DO UPDATE
            SET run_seq = GREATEST(w.run_seq + 1, NEW.id),
                version = w.version + 1,
                due_at = clock_timestamp()
      RETURNING w.run_seq INTO NEW.herald_seq;
    RETURN NEW;
END $$;

CREATE TRIGGER task_run_stamp BEFORE INSERT ON task_run
    FOR EACH ROW EXECUTE FUNCTION herald_stamp_task_run();

-- A status change is recorded for its plan (insert-only: no lock taken),
-- and notified. The notification carries the run's sequence (the
-- supervisors' counters place a run in its generation with it). One
-- function, so the run's plan is looked up once per change.
CREATE OR REPLACE FUNCTION herald_notify_task_run() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    plan BIGINT;
BEGIN
    SELECT t.plan_id INTO plan FROM task t WHERE t.id = NEW.task_id;
    IF TG_OP = 'UPDATE' AND plan IS NOT NULL THEN
        INSERT INTO herald_plan_change (plan_id) VALUES (plan);
    END IF;
    PERFORM pg_notify('herald', json_build_object(
        'table', 'task_run',
        'op', TG_OP,
        'id', NEW.id,
        'seq', COALESCE(NEW.herald_seq, NEW.id),
        'task_id', NEW.task_id,
        'plan_id', plan,
        'status', NEW.status,
        'updated_at', NEW.updated_at)::text);
    RETURN NULL;
END $$;

-- Rollout conditions: an issue's approval or plan, a plan check run, a
-- project's requirements.
CREATE FUNCTION herald_rollout_due(plan BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO herald_rollout_change (plan_id) VALUES (plan);
$$;

-- For issues and plan check runs alike: the row's plan (and, when an issue
-- moves, the plan it left).
CREATE FUNCTION herald_row_rollout_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' AND NEW.plan_id IS NOT NULL THEN
        PERFORM herald_rollout_due(NEW.plan_id);
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.plan_id IS NOT NULL
       AND (TG_OP = 'DELETE' OR OLD.plan_id IS DISTINCT FROM NEW.plan_id) THEN
        PERFORM herald_rollout_due(OLD.plan_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER issue_rollout_due_insert AFTER INSERT ON issue
    FOR EACH ROW EXECUTE FUNCTION herald_row_rollout_due();
CREATE TRIGGER issue_rollout_due_update AFTER UPDATE ON issue
    FOR EACH ROW WHEN (OLD.approval_status IS DISTINCT FROM NEW.approval_status
                       OR OLD.plan_id IS DISTINCT FROM NEW.plan_id)
    EXECUTE FUNCTION herald_row_rollout_due();
CREATE TRIGGER issue_rollout_due_delete AFTER DELETE ON issue
    FOR EACH ROW EXECUTE FUNCTION herald_row_rollout_due();
CREATE TRIGGER plan_check_run_rollout_due_insert AFTER INSERT ON plan_check_run
    FOR EACH ROW EXECUTE FUNCTION herald_row_rollout_due();
CREATE TRIGGER plan_check_run_rollout_due_update AFTER UPDATE ON plan_check_run
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.results IS DISTINCT FROM NEW.results)
    EXECUTE FUNCTION herald_row_rollout_due();

-- A project's requirements changed: its plans still without a rollout.
CREATE FUNCTION herald_project_rollout_due() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO herald_rollout_change (plan_id)
         SELECT p.id FROM plan p
          WHERE p.project_id = NEW.id
            AND NOT EXISTS (SELECT 1 FROM rollout r WHERE r.plan_id = p.id);
    RETURN NULL;
END $$;

CREATE TRIGGER project_rollout_due AFTER UPDATE ON project
    FOR EACH ROW WHEN (OLD.require_issue_approval IS DISTINCT FROM NEW.require_issue_approval
                       OR OLD.require_plan_check_no_error IS DISTINCT FROM NEW.require_plan_check_no_error)
    EXECUTE FUNCTION herald_project_rollout_due();

-- Work that was pending when this migration ran (read from history once,
-- here): plans whose current generation has runs, and plans with an issue
-- and no rollout. The decisions themselves are made by herald.
INSERT INTO herald_plan_work (plan_id, run_seq, due_at)
SELECT m.plan_id, m.last_run, clock_timestamp()
  FROM (SELECT t.plan_id, max(r.id) AS last_run
          FROM task_run r JOIN task t ON t.id = r.task_id
         GROUP BY t.plan_id) m
  LEFT JOIN LATERAL (SELECT o.last_run_seq FROM herald_plan_outcome o
                      WHERE o.plan_id = m.plan_id
                      ORDER BY o.generation DESC LIMIT 1) c ON TRUE
 WHERE m.last_run > COALESCE(c.last_run_seq, 0);

INSERT INTO herald_rollout_change (plan_id)
SELECT DISTINCT i.plan_id FROM issue i
 WHERE i.plan_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM rollout r WHERE r.plan_id = i.plan_id);

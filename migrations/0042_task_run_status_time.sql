-- The failure window opens at the time a task run's status changed, which
-- herald must be able to trust: a host that updates only `status` would
-- otherwise leave `updated_at` at the run's start, making a late failure
-- look as old as its run (and closing the window at once). Every status
-- change now stamps `updated_at` with the database clock, whatever the
-- host wrote.
CREATE FUNCTION herald_stamp_task_run_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END $$;

CREATE TRIGGER task_run_status_time BEFORE UPDATE OF status ON task_run
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION herald_stamp_task_run_status();

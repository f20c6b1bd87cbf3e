-- Plans that cannot flip with statistics (issue 27). After an ANALYZE taken
-- while nothing was pending, the planner served a delivery actor's queries
-- (endpoint X, state pending, oldest first) through the (state, id DESC)
-- index filtered by endpoint — reading every endpoint's pending rows per
-- claim — or through (endpoint_id, id DESC), reading the endpoint's whole
-- history. Now the hot path has exactly one usable index: the partial index
-- on pending rows (herald_delivery_pending_idx, 0002). The log's listing
-- indexes cover only finished rows, so no pending query can use them.
DROP INDEX IF EXISTS herald_delivery_state_idx;
DROP INDEX IF EXISTS herald_delivery_endpoint_idx;
-- The delivery log by endpoint (finished rows; pending ones come from the
-- pending index), and failures newest first (replay --all-failed, console).
CREATE INDEX herald_delivery_endpoint_finished_idx
    ON herald_delivery (endpoint_id, id DESC) WHERE state <> 'pending';
CREATE INDEX herald_delivery_failed_idx
    ON herald_delivery (id DESC) WHERE state = 'failed';

-- Rollout repair for a source that creates rollouts itself (Bytebase): when
-- herald finds a plan's rollout conditions hold, it records a request, due
-- after a grace period; if the source has not created the rollout by then,
-- one replica (the request row is claimed by pushing `due_at` ahead, SKIP
-- LOCKED) asks the source's API to create it. "Already exists" counts as
-- created. Failures are retried with backoff; the row says what happened.
CREATE TABLE herald_rollout_request (
    plan_id      BIGINT PRIMARY KEY REFERENCES plan (id) ON DELETE CASCADE,
    -- pending | created (by herald through the API) | exists (the source made it)
    -- | dropped (the source's conditions no longer hold: canceled, draft, deleted, not a database change)
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'created', 'exists', 'dropped')),
    due_at       TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    claimed_by   TEXT,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);
CREATE INDEX herald_rollout_request_due_idx ON herald_rollout_request (due_at) WHERE state = 'pending';

-- herald's own tables: every decision that must survive a crash lives here.

-- Issue transitions, recorded by the issue trigger (0003) at the moment they
-- happen, so that "once per transition" has a row to claim. herald marks a row
-- handled in the same transaction as the event it emits for it.
CREATE TABLE herald_issue_transition (
    id                 BIGSERIAL PRIMARY KEY,
    issue_id           BIGINT NOT NULL REFERENCES issue (id) ON DELETE CASCADE,
    kind               TEXT NOT NULL
        CHECK (kind IN ('CREATED', 'APPROVAL_REQUESTED', 'SENT_BACK', 'APPROVED')),
    approval_step_role TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    handled_at         TIMESTAMPTZ,
    handled_by         TEXT
);
-- Reconciliation: transitions nobody has handled yet.
CREATE INDEX herald_issue_transition_unhandled_idx
    ON herald_issue_transition (id) WHERE handled_at IS NULL;
CREATE INDEX herald_issue_transition_issue_idx ON herald_issue_transition (issue_id);

-- The event log: every event herald (or a host app) emitted. `id` is the
-- Standard Webhooks `webhook-id` and the receiver's deduplication key.
CREATE TABLE herald_event (
    id         UUID PRIMARY KEY,
    -- Emission order; deliveries to one endpoint go out in this order.
    seq        BIGSERIAL NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    project_id BIGINT,
    issue_id   BIGINT,
    plan_id    BIGINT,
    rollout_id BIGINT,
    payload    JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX herald_event_type_idx ON herald_event (type, created_at);

-- Outcome claims (one PIPELINE_FAILED or PIPELINE_COMPLETED per plan per run
-- generation). The primary key is the exactly-once decision across replicas.
CREATE TABLE herald_plan_outcome (
    plan_id          BIGINT NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    generation       INTEGER NOT NULL CHECK (generation >= 1),
    outcome          TEXT NOT NULL CHECK (outcome IN ('PIPELINE_FAILED', 'PIPELINE_COMPLETED')),
    event_id         UUID NOT NULL REFERENCES herald_event (id),
    -- The highest task run id of the plan when the claim was made: a task run
    -- with a greater id starts the next generation.
    last_task_run_id BIGINT NOT NULL,
    claimed_by       TEXT NOT NULL,
    claimed_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, generation)
);

-- The delivery outbox: one row per event x endpoint, written in the same
-- transaction as the decision that produced the event.
CREATE TABLE herald_delivery (
    id               BIGSERIAL PRIMARY KEY,
    event_id         UUID NOT NULL REFERENCES herald_event (id) ON DELETE CASCADE,
    endpoint_id      TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_http_status INTEGER,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at     TIMESTAMPTZ,
    UNIQUE (event_id, endpoint_id)
);
-- A delivery actor's queue: the oldest pending rows of its endpoint.
CREATE INDEX herald_delivery_pending_idx
    ON herald_delivery (endpoint_id, id) WHERE state = 'pending';
-- Listing deliveries (admin API / CLI) newest first, by endpoint or state.
CREATE INDEX herald_delivery_endpoint_idx ON herald_delivery (endpoint_id, id DESC);
CREATE INDEX herald_delivery_state_idx ON herald_delivery (state, id DESC);

-- The attempt log: one row per HTTP attempt.
CREATE TABLE herald_delivery_attempt (
    id               BIGSERIAL PRIMARY KEY,
    delivery_id      BIGINT NOT NULL REFERENCES herald_delivery (id) ON DELETE CASCADE,
    event_id         UUID NOT NULL,
    event_type       TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    url              TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    -- succeeded | failed
    status           TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    http_status      INTEGER,
    error            TEXT,
    latency_ms       INTEGER NOT NULL,
    response_excerpt TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    completed_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX herald_delivery_attempt_delivery_idx ON herald_delivery_attempt (delivery_id, id);

-- Endpoint ownership across replicas (River's leader-table model): taken with
-- INSERT ... ON CONFLICT, renewed by its owner, expired by the database clock.
CREATE TABLE herald_endpoint_lease (
    endpoint_id TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);

-- Endpoint health: consecutive failures and automatic disabling.
CREATE TABLE herald_endpoint_health (
    endpoint_id          TEXT PRIMARY KEY,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    failing_since        TIMESTAMPTZ,
    disabled_at          TIMESTAMPTZ,
    disabled_reason      TEXT,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

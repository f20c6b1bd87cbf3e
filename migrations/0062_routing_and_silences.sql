-- Who hears what, and when (issue 25): attribute filters, mute windows and
-- silences, decided by the delivery actor that holds the endpoint's lease
-- before a delivery's first attempt (src/routing/gate.rs), and recorded
-- under that lease, so no replica decides again what another decided.

-- What matchers look at besides the event's own fields: where the plan's
-- tasks run, and the issue's labels (the host writes them if it has them).
ALTER TABLE task ADD COLUMN environment TEXT;
ALTER TABLE issue ADD COLUMN labels TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE issue ADD COLUMN risk_level TEXT;

-- An event's stored attributes, taken when it is emitted (what the plan
-- looked like then): `{"instance": [...], "database": [...],
-- "environment": [...], "label": [...], "risk_level": [...]}`. For PIPELINE_FAILED, the failed
-- tasks only, so "failures in prod" means what failed in prod.
ALTER TABLE herald_event ADD COLUMN attributes JSONB NOT NULL DEFAULT '{}'::jsonb;

CREATE OR REPLACE FUNCTION herald_event_attributes() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_failed JSONB := NEW.payload #> '{data,failed_tasks}';
    v_tasks  JSONB := '{}'::jsonb;
    v_labels TEXT[];
    v_risk   TEXT;
BEGIN
    IF NEW.attributes <> '{}'::jsonb THEN
        RETURN NEW;
    END IF;
    IF NEW.plan_id IS NOT NULL THEN
        SELECT jsonb_build_object(
                   'instance', coalesce(jsonb_agg(DISTINCT t.instance), '[]'::jsonb),
                   'database', coalesce(jsonb_agg(DISTINCT t.database_name), '[]'::jsonb),
                   'environment', coalesce(jsonb_agg(DISTINCT t.environment)
                                               FILTER (WHERE t.environment IS NOT NULL), '[]'::jsonb))
          INTO v_tasks
          FROM task t
         WHERE t.plan_id = NEW.plan_id
           AND (jsonb_typeof(v_failed) IS DISTINCT FROM 'array'
                OR t.id IN (SELECT (f ->> 'task_id')::bigint
                              FROM jsonb_array_elements(v_failed) f
                             -- A host's custom event may carry anything here.
                             WHERE f ->> 'task_id' ~ '^[0-9]{1,18}$'));
    END IF;
    IF NEW.issue_id IS NOT NULL THEN
        SELECT labels, risk_level INTO v_labels, v_risk FROM issue WHERE id = NEW.issue_id;
    ELSIF NEW.plan_id IS NOT NULL THEN
        SELECT labels, risk_level INTO v_labels, v_risk
          FROM issue WHERE plan_id = NEW.plan_id ORDER BY id DESC LIMIT 1;
    END IF;
    NEW.attributes := v_tasks
        || jsonb_build_object('label', to_jsonb(coalesce(v_labels, '{}'::text[])))
        || CASE WHEN v_risk IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('risk_level', jsonb_build_array(v_risk)) END;
    RETURN NEW;
END $$;

CREATE TRIGGER herald_event_attributes BEFORE INSERT ON herald_event
    FOR EACH ROW EXECUTE FUNCTION herald_event_attributes();

-- Three more ends of a delivery: `filtered` (the endpoint's filter does not
-- want it), `muted` (dropped by a silence or mute window; replayable), and
-- `held` (set aside until `held_until`, then pending again — sent in order
-- with the others held). `gated_by` says which matcher, silence or window.
-- `ungated`: a replay is sent whatever the filters and mutes say.
-- NOT VALID: every existing row satisfies the narrower check it replaces,
-- so the outbox is not scanned (under this migration's lock) to prove it.
ALTER TABLE herald_delivery DROP CONSTRAINT herald_delivery_state_check;
ALTER TABLE herald_delivery ADD CONSTRAINT herald_delivery_state_check
    CHECK (state IN ('pending', 'delivered', 'failed', 'filtered', 'muted', 'held')) NOT VALID;
ALTER TABLE herald_delivery
    ADD COLUMN gated_by TEXT,
    ADD COLUMN held_until TIMESTAMPTZ,
    ADD COLUMN ungated BOOLEAN NOT NULL DEFAULT FALSE;
-- What the sweep releases: held rows whose mute has ended.
CREATE INDEX herald_delivery_held_idx ON herald_delivery (held_until) WHERE state = 'held';

-- Silences: ad-hoc, time-bounded mutes (API, CLI, console). Expiring one
-- early sets `ends_at` (and `expired_at`); rows are never edited otherwise.
CREATE TABLE herald_silence (
    id         UUID PRIMARY KEY DEFAULT herald_uuid_v7(),
    -- Alertmanager-syntax matchers, each `name op "value"`; all must hold.
    matchers   TEXT[] NOT NULL CHECK (cardinality(matchers) > 0),
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('drop', 'hold')),
    comment    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expired_at TIMESTAMPTZ,
    CHECK (ends_at > starts_at)
);
CREATE INDEX herald_silence_ends_idx ON herald_silence (ends_at);

-- Bumped by every change to the silences, and read with every batch of a
-- delivery actor's queue: a replica re-reads the silences only when it
-- changed, yet never decides on a list older than the batch it sends.
CREATE TABLE herald_silence_generation (
    one        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    generation BIGINT NOT NULL
);
INSERT INTO herald_silence_generation (one, generation) VALUES (TRUE, 0);

CREATE OR REPLACE FUNCTION herald_silence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE herald_silence_generation SET generation = generation + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER herald_silence_changed AFTER INSERT OR UPDATE OR DELETE ON herald_silence
    FOR EACH STATEMENT EXECUTE FUNCTION herald_silence_changed();

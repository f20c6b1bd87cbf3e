-- Seeing and resending what was sent (issue 24).
--
-- Each attempt keeps the request as herald sent it: its headers (secrets
-- masked before they reach this table) and its body (capped). A replay
-- (of a failed or a delivered delivery) gives the delivery a fresh retry
-- budget (`attempts` back to 0) while attempt numbers keep increasing:
-- `attempt_offset` counts the attempts before the latest replay, and an
-- attempt row's number is `attempt_offset + attempts`. Every replay is
-- recorded with who asked.
ALTER TABLE herald_delivery_attempt ADD COLUMN request_headers JSONB;
ALTER TABLE herald_delivery_attempt ADD COLUMN request_body TEXT;
ALTER TABLE herald_delivery ADD COLUMN attempt_offset INTEGER NOT NULL DEFAULT 0;

CREATE TABLE herald_delivery_replay (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  BIGINT NOT NULL REFERENCES herald_delivery (id) ON DELETE CASCADE,
    -- Who asked (the API caller's `requested_by`, or `admin-api`), and how:
    -- replay | recover
    requested_by TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('replay', 'recover')),
    -- The delivery's state when replayed (failed | delivered).
    from_state   TEXT NOT NULL,
    -- The number the replay's first attempt gets.
    first_attempt INTEGER NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX herald_delivery_replay_delivery_idx ON herald_delivery_replay (delivery_id, id);

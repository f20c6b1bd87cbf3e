-- Throttled attempts (429, 503 with Retry-After, platform rate-limit codes)
-- spend no attempt budget; a total age limit ends them instead. The age
-- counts from queued_at: the outbox insert, or the last replay.
ALTER TABLE herald_delivery
    ADD COLUMN throttled_attempts INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN queued_at TIMESTAMPTZ NOT NULL DEFAULT now();
UPDATE herald_delivery SET queued_at = created_at;

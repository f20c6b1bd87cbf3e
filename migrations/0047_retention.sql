-- History retention (--retain): finished deliveries (with their attempts)
-- and events nothing refers to any more are deleted in batches once older
-- than the retention. These indexes keep the scans cheap.
CREATE INDEX herald_delivery_finished_idx ON herald_delivery (completed_at)
    WHERE state <> 'pending';
CREATE INDEX herald_plan_outcome_event_idx ON herald_plan_outcome (event_id);
CREATE INDEX herald_event_created_idx ON herald_event (created_at);

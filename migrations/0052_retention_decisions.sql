-- Retention of decisions (--retain-decisions): claims superseded by a later
-- generation and handled issue transitions, oldest first.
CREATE INDEX herald_plan_outcome_claimed_idx ON herald_plan_outcome (claimed_at);
CREATE INDEX herald_issue_transition_handled_idx ON herald_issue_transition (handled_at)
    WHERE handled_at IS NOT NULL;

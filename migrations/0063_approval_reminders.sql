-- Approval reminders (issue 25): an approval still pending after an
-- interval is announced again, at most N times, exactly once per interval
-- across replicas: the primary key below is the claim.

-- Whether the issue is still open: reminders stop when it is done or
-- canceled (the Bytebase source mirrors Bytebase's issue status).
ALTER TABLE issue ADD COLUMN status TEXT NOT NULL DEFAULT 'OPEN'
    CHECK (status IN ('OPEN', 'DONE', 'CANCELED'));

-- What the reminder scan reads: issues waiting on an approval step. Its
-- cost follows the approvals pending, not the issues ever written.
CREATE INDEX issue_pending_approval_idx ON issue (id)
    WHERE approval_status = 'PENDING' AND approval_step_role IS NOT NULL;

-- Reminder `number` of the approval request announced by `transition_id`.
CREATE TABLE herald_approval_reminder (
    transition_id BIGINT NOT NULL REFERENCES herald_issue_transition (id) ON DELETE CASCADE,
    number        INTEGER NOT NULL CHECK (number >= 1),
    issue_id      BIGINT NOT NULL,
    event_id      UUID NOT NULL,
    node_id       TEXT NOT NULL,
    sent_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (transition_id, number)
);

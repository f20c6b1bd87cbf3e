-- Issue transitions carry a snapshot of what the event for them must say,
-- taken by the trigger at the moment of the transition: a transition handled
-- late (after a lost NOTIFY, by reconciliation) still reports the step's
-- required count and the rejection's approver and reason as they were, even
-- if the issue has moved on since. `event_id` records the event the claim
-- produced (set in the claiming transaction), for audits.

ALTER TABLE herald_issue_transition
    ADD COLUMN approval_required_count INTEGER,
    ADD COLUMN rejected_by             BIGINT,
    ADD COLUMN reject_reason           TEXT,
    ADD COLUMN event_id                UUID;

-- Same transitions and notification as 0003; only the snapshot columns are new.
CREATE OR REPLACE FUNCTION herald_notify_issue() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entered_step BOOLEAN;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO herald_issue_transition (issue_id, kind) VALUES (NEW.id, 'CREATED');
        entered_step := NEW.approval_step_role IS NOT NULL AND NEW.approval_status = 'PENDING';
    ELSE
        entered_step := NEW.approval_step_role IS NOT NULL
            AND NEW.approval_status = 'PENDING'
            AND (OLD.approval_step_role IS DISTINCT FROM NEW.approval_step_role
                 OR OLD.approval_status IS DISTINCT FROM NEW.approval_status);
        IF NEW.approval_status = 'REJECTED' AND OLD.approval_status IS DISTINCT FROM 'REJECTED' THEN
            INSERT INTO herald_issue_transition
                (issue_id, kind, approval_step_role, approval_required_count, rejected_by, reject_reason)
                VALUES (NEW.id, 'SENT_BACK', NEW.approval_step_role, NEW.approval_required_count,
                        NEW.rejected_by, NEW.reject_reason);
        END IF;
        IF NEW.approval_status = 'APPROVED' AND OLD.approval_status IS DISTINCT FROM 'APPROVED' THEN
            INSERT INTO herald_issue_transition
                (issue_id, kind, approval_step_role, approval_required_count)
                VALUES (NEW.id, 'APPROVED', NEW.approval_step_role, NEW.approval_required_count);
        END IF;
    END IF;
    IF entered_step THEN
        INSERT INTO herald_issue_transition
            (issue_id, kind, approval_step_role, approval_required_count)
            VALUES (NEW.id, 'APPROVAL_REQUESTED', NEW.approval_step_role, NEW.approval_required_count);
    END IF;
    PERFORM pg_notify('herald', json_build_object(
        'table', 'issue',
        'op', TG_OP,
        'id', NEW.id,
        'project_id', NEW.project_id,
        'plan_id', NEW.plan_id,
        'approval_status', NEW.approval_status)::text);
    RETURN NULL;
END $$;

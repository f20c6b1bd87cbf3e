-- The check herald_emit runs on a payload's snapshots (herald_emit itself,
-- which also fills missing snapshots from the ids it is given, is
-- redefined in 0046), so that every outbox row can be decoded.

-- The first problem with a payload's `project` / `issue` / `plan` /
-- `rollout` snapshots, or NULL when they have the documented shapes
-- (docs/events.md). Absent and JSON null are fine.
CREATE FUNCTION herald_payload_problem(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(p) IS DISTINCT FROM 'object' THEN
            'the payload must be a JSON object'
        WHEN jsonb_typeof(p -> 'project') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'project') = 'object'
                AND (p -> 'project' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'project' -> 'resource_id') = 'string'
                AND jsonb_typeof(p -> 'project' -> 'title') = 'string'), false) THEN
            'project must be {"id": integer, "resource_id": string, "title": string}'
        WHEN jsonb_typeof(p -> 'issue') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'issue') = 'object'
                AND (p -> 'issue' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'issue' -> 'title') = 'string'
                AND jsonb_typeof(p -> 'issue' -> 'creator') = 'object'
                AND (p -> 'issue' -> 'creator' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'issue' -> 'creator' -> 'name') = 'string'
                AND jsonb_typeof(p -> 'issue' -> 'creator' -> 'email') = 'string'
                AND coalesce(jsonb_typeof(p -> 'issue' -> 'creator' -> 'phone'), 'null')
                    IN ('null', 'string')), false) THEN
            'issue must be {"id": integer, "title": string, "creator": {"id": integer, "name": string, "email": string, "phone": string or null}}'
        WHEN jsonb_typeof(p -> 'plan') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'plan') = 'object'
                AND (p -> 'plan' ->> 'id') ~ '^-?[0-9]{1,18}$'
                AND jsonb_typeof(p -> 'plan' -> 'title') = 'string'), false) THEN
            'plan must be {"id": integer, "title": string}'
        WHEN jsonb_typeof(p -> 'rollout') NOT IN ('null') AND NOT coalesce((
                jsonb_typeof(p -> 'rollout') = 'object'
                AND (p -> 'rollout' ->> 'id') ~ '^-?[0-9]{1,18}$'), false) THEN
            'rollout must be {"id": integer}'
    END
$$;

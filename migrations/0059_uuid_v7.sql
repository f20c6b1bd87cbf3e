-- Event ids herald makes in SQL are UUIDv7 (RFC 9562), like those it makes
-- in Rust: sortable by time, as docs/events.md promises. PostgreSQL 15 has
-- no uuidv7(): a v4 with its first 48 bits replaced by the Unix time in
-- milliseconds and its version bits set to 7 (0111: bits 52 and 53 set on
-- top of v4's 0100).
CREATE OR REPLACE FUNCTION herald_uuid_v7() RETURNS UUID
LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(
            set_bit(
                overlay(uuid_send(gen_random_uuid())
                        PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                        FROM 1 FOR 6),
                52, 1),
            53, 1),
        'hex')::uuid
$$;

CREATE OR REPLACE FUNCTION herald_emit(
    p_type       TEXT,
    p_payload    JSONB,
    p_project_id BIGINT DEFAULT NULL,
    p_issue_id   BIGINT DEFAULT NULL,
    p_plan_id    BIGINT DEFAULT NULL,
    p_rollout_id BIGINT DEFAULT NULL,
    p_id         UUID DEFAULT herald_uuid_v7()
) RETURNS UUID
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM herald_emit_counted(p_type, p_payload, p_project_id, p_issue_id, p_plan_id,
                                p_rollout_id, p_id);
    RETURN p_id;
END $$;

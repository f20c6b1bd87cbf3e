-- A source herald follows instead of host triggers (the Bytebase source):
-- which of its rows herald mirrors into the native tables, under which
-- local id, and which it still follows; and, per table and project, the
-- highest id already read. Written only by the follower, in the same
-- transaction as the native rows it mirrors, so a crash never leaves one
-- without the other.

CREATE TABLE herald_source_row (
    -- plan | issue | task | task_run | plan_check_run | task_skip
    kind      TEXT NOT NULL,
    project   TEXT NOT NULL,
    source_id BIGINT NOT NULL,
    -- The native row (NULL: followed but not mirrored, e.g. a draft issue).
    local_id  BIGINT,
    -- Still followed: re-read on every pass until it can no longer change.
    live      BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (kind, project, source_id)
);
CREATE INDEX herald_source_row_live_idx ON herald_source_row (kind, project, source_id) WHERE live;
CREATE INDEX herald_source_row_local_idx ON herald_source_row (kind, local_id);

CREATE TABLE herald_source_cursor (
    -- plan | issue | task | task_run
    kind    TEXT NOT NULL,
    project TEXT NOT NULL,
    last_id BIGINT NOT NULL,
    PRIMARY KEY (kind, project)
);

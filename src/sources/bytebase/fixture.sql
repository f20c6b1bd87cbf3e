-- A Bytebase-shaped metadata database: the tables and columns herald's
-- Bytebase source reads, as Bytebase 3.17+ lays them out
-- (backend/migrator/migration/LATEST.sql and the 3.17–3.23 migrations in
-- bytebase/bytebase; jsonb payloads as described by proto/store/store/*.proto,
-- written by protojson: camelCase keys, enum names, int64 as strings, zero
-- values omitted). Used by the tests, `herald demo --source bytebase` and
-- herald-bench; never installed into a real Bytebase.
--
-- Since 3.17 (0006##per_project_auto_increment) plan, task, task_run and
-- issue ids are allocated per project (MAX(id)+1 under the project row's
-- lock), so ids of one project commit in order.

CREATE TABLE instance_change_history (
    id      BIGSERIAL PRIMARY KEY,
    version TEXT NOT NULL UNIQUE
);

CREATE TABLE setting (
    name  TEXT NOT NULL PRIMARY KEY,
    value JSONB NOT NULL
);

CREATE TABLE project (
    resource_id TEXT NOT NULL PRIMARY KEY,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    name        TEXT NOT NULL,
    -- Project (proto/store/store/project.proto): requireIssueApproval,
    -- requirePlanCheckNoError, …
    setting     JSONB NOT NULL DEFAULT '{}'
);

-- Read only with --bytebase-import-webhooks.
CREATE TABLE project_webhook (
    id          SERIAL PRIMARY KEY,
    resource_id TEXT NOT NULL DEFAULT gen_random_uuid()::text,
    project     TEXT NOT NULL REFERENCES project (resource_id),
    -- ProjectWebhook (proto/store/store/project_webhook.proto): type (a
    -- WebhookType name), title, url, activities[] (Activity.Type names),
    -- directMessage.
    payload     JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE principal (
    id            SERIAL PRIMARY KEY,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    profile       JSONB NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX idx_principal_unique_email ON principal (email);

CREATE TABLE user_group (
    id          TEXT NOT NULL PRIMARY KEY DEFAULT gen_random_uuid()::text,
    email       TEXT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- GroupPayload: {"members": [{"member": "users/{email}", "role": "MEMBER"}]}
    payload     JSONB NOT NULL DEFAULT '{}'
);

CREATE TABLE policy (
    enforce             BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    resource_type       TEXT NOT NULL,
    resource            TEXT NOT NULL,
    type                TEXT NOT NULL,
    -- IAM: IamPolicy {"bindings": [{"role": "roles/…", "members": ["users/{email}", "groups/{email}"]}]}
    payload             JSONB NOT NULL DEFAULT '{}',
    inherit_from_parent BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (resource_type, resource, type)
);

CREATE TABLE plan (
    id          BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE,
    creator     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    project     TEXT NOT NULL REFERENCES project (resource_id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- PlanConfig: specs[], hasRollout, approvalInputVersion (int64 as string)
    config      JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (project, id)
);
CREATE INDEX idx_plan_project ON plan (project);
CREATE INDEX idx_plan_config_has_rollout ON plan ((config->>'hasRollout'));

CREATE TABLE plan_check_run (
    id         SERIAL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    project    TEXT NOT NULL,
    plan_id    BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('AVAILABLE', 'RUNNING', 'DONE', 'FAILED', 'CANCELED')),
    -- PlanCheckRunResult: results[] {status SUCCESS|WARNING|ERROR, title, content, code}, error, approvalInputVersion
    result     JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, plan_id) REFERENCES plan (project, id)
);
CREATE UNIQUE INDEX idx_plan_check_run_unique_plan_id ON plan_check_run (project, plan_id);
CREATE INDEX idx_plan_check_run_active_status ON plan_check_run (status, id) WHERE status IN ('AVAILABLE', 'RUNNING');

CREATE TABLE task (
    id          BIGINT NOT NULL,
    project     TEXT NOT NULL REFERENCES project (resource_id),
    plan_id     BIGINT NOT NULL,
    instance    TEXT NOT NULL,
    environment TEXT,
    db_name     TEXT,
    type        TEXT NOT NULL,
    -- Task: skipped, skippedReason, specId, sheetSha256, …
    payload     JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, plan_id) REFERENCES plan (project, id)
);
CREATE INDEX idx_task_plan_id_environment ON task (project, plan_id, environment);

CREATE TABLE task_run (
    id         BIGINT NOT NULL,
    creator    TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    project    TEXT NOT NULL,
    task_id    BIGINT NOT NULL,
    attempt    INTEGER NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('PENDING', 'AVAILABLE', 'RUNNING', 'DONE', 'FAILED', 'CANCELED')),
    started_at TIMESTAMPTZ,
    run_at     TIMESTAMPTZ,
    -- TaskRunResult: detail (the error), …
    result     JSONB NOT NULL DEFAULT '{}',
    replica_id TEXT,
    payload    JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, task_id) REFERENCES task (project, id)
);
CREATE INDEX idx_task_run_task_id ON task_run (task_id);
CREATE UNIQUE INDEX uk_task_run_task_id_attempt ON task_run (project, task_id, attempt);
CREATE INDEX idx_task_run_active_status_id ON task_run (status, id) WHERE status IN ('PENDING', 'AVAILABLE', 'RUNNING');

CREATE TABLE issue (
    id          BIGINT NOT NULL,
    creator     TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    project     TEXT NOT NULL REFERENCES project (resource_id),
    plan_id     BIGINT,
    name        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('OPEN', 'DONE', 'CANCELED')),
    type        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- Issue: approval {approvalTemplate {flow {roles[]}}, approvers[] {status, principal}, approvalFindingDone, approvalInputVersion}, labels, riskLevel, draft
    payload     JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (project, id),
    FOREIGN KEY (project, plan_id) REFERENCES plan (project, id)
);
CREATE INDEX idx_issue_project ON issue (project);
CREATE UNIQUE INDEX idx_issue_unique_plan_id ON issue (project, plan_id);

CREATE TABLE issue_comment (
    resource_id TEXT NOT NULL PRIMARY KEY DEFAULT gen_random_uuid()::text,
    creator     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    project     TEXT NOT NULL,
    issue_id    BIGINT NOT NULL,
    -- IssueCommentPayload: comment, approval {status}
    payload     JSONB NOT NULL DEFAULT '{}',
    FOREIGN KEY (project, issue_id) REFERENCES issue (project, id)
);
CREATE INDEX idx_issue_comment_issue_id ON issue_comment (project, issue_id);

INSERT INTO instance_change_history (version) VALUES ('3.17.6'), ('3.23.5');

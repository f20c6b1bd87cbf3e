-- Pipeline tables: written by the host application (or by `herald demo` and the
-- tests). herald reads them and, for rollouts, writes one row per plan.

CREATE TABLE project (
    id                          BIGSERIAL PRIMARY KEY,
    resource_id                 TEXT NOT NULL UNIQUE,
    title                       TEXT NOT NULL,
    require_issue_approval      BOOLEAN NOT NULL DEFAULT FALSE,
    require_plan_check_no_error BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE app_user (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    -- Used for platforms that mention by phone number (DingTalk, WeCom).
    phone      TEXT,
    -- Soft delete: deleted users are never mentioned or listed as approvers.
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE project_member (
    project_id BIGINT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id, role)
);
-- Approvers of a step: members of a project holding a role.
CREATE INDEX project_member_role_idx ON project_member (project_id, role);

CREATE TABLE plan (
    id         BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX plan_project_idx ON plan (project_id);

CREATE TABLE issue (
    id                      BIGSERIAL PRIMARY KEY,
    project_id              BIGINT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    plan_id                 BIGINT REFERENCES plan (id) ON DELETE SET NULL,
    title                   TEXT NOT NULL,
    creator_id              BIGINT NOT NULL REFERENCES app_user (id),
    approval_status         TEXT NOT NULL DEFAULT 'PENDING'
        CHECK (approval_status IN ('PENDING', 'APPROVED', 'REJECTED')),
    -- The approval step the issue currently waits on (NULL: none).
    approval_step_role      TEXT,
    approval_required_count INTEGER CHECK (approval_required_count IS NULL OR approval_required_count > 0),
    -- Set together with approval_status = 'REJECTED'.
    rejected_by             BIGINT REFERENCES app_user (id),
    reject_reason           TEXT,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX issue_plan_idx ON issue (plan_id);
CREATE INDEX issue_project_idx ON issue (project_id);

CREATE TABLE task (
    id            BIGSERIAL PRIMARY KEY,
    plan_id       BIGINT NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    instance      TEXT NOT NULL,
    database_name TEXT NOT NULL
);
CREATE INDEX task_plan_idx ON task (plan_id);

CREATE TABLE task_run (
    id            BIGSERIAL PRIMARY KEY,
    task_id       BIGINT NOT NULL REFERENCES task (id) ON DELETE CASCADE,
    status        TEXT NOT NULL
        CHECK (status IN ('PENDING', 'RUNNING', 'DONE', 'FAILED', 'CANCELED', 'SKIPPED')),
    error_message TEXT,
    started_at    TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Latest run of a task: ORDER BY id DESC LIMIT 1.
CREATE INDEX task_run_task_latest_idx ON task_run (task_id, id DESC);

CREATE TABLE plan_check_run (
    id         BIGSERIAL PRIMARY KEY,
    plan_id    BIGINT NOT NULL REFERENCES plan (id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED')),
    -- [{"status": "SUCCESS"|"WARNING"|"ERROR", "title": "...", "content": "..."}]
    results    JSONB NOT NULL DEFAULT '[]'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Latest check run of a plan: ORDER BY id DESC LIMIT 1.
CREATE INDEX plan_check_run_plan_latest_idx ON plan_check_run (plan_id, id DESC);

CREATE TABLE rollout (
    id         BIGSERIAL PRIMARY KEY,
    -- At most one rollout per plan: this constraint is what makes automatic
    -- creation idempotent across replicas and against manual creation.
    plan_id    BIGINT NOT NULL UNIQUE REFERENCES plan (id) ON DELETE CASCADE,
    -- 'herald' when created automatically, otherwise whoever the host app names.
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE project_webhook (
    id          BIGSERIAL PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES project (id) ON DELETE CASCADE,
    -- generic | slack | discord | teams | feishu | lark | dingtalk | wecom | google_chat
    type        TEXT NOT NULL,
    title       TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL,
    -- Subscribed event types; '*' subscribes to every type.
    event_types TEXT[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Standard Webhooks secret (whsec_...), required for signed types.
    secret      TEXT,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX project_webhook_project_idx ON project_webhook (project_id);

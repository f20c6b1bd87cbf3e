//! The follower's writes: a source's rows mirrored into the native host
//! tables (whose triggers then record the work and notify, exactly as when a
//! host writes them), with the key map and cursors of migration 0055.
//!
//! Every write is conditional: a row is updated only if a mirrored column
//! differs (`IS DISTINCT FROM`), so re-reading an unchanged source row
//! writes nothing and fires no trigger.

use sqlx::PgConnection;

use super::StoreError;

/// The kinds of source rows (`herald_source_row.kind`).
pub mod kind {
    pub const PLAN: &str = "plan";
    pub const ISSUE: &str = "issue";
    pub const TASK: &str = "task";
    pub const TASK_RUN: &str = "task_run";
    pub const CHECK_RUN: &str = "plan_check_run";
    /// A skipped task's synthetic SKIPPED run.
    pub const TASK_SKIP: &str = "task_skip";
    /// An imported project webhook (`--bytebase-import-webhooks`).
    pub const PROJECT_WEBHOOK: &str = "project_webhook";
}

/// A source's project webhook as a native `project_webhook` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeWebhook {
    pub project_id: i64,
    pub platform: &'static str,
    pub title: String,
    pub url: String,
    pub event_types: Vec<String>,
}

/// One followed source row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    pub project: String,
    pub source_id: i64,
    pub local_id: Option<i64>,
}

/// Take the follower's lock for this transaction: one pass at a time
/// across replicas. `false`: another replica is mid-pass.
pub async fn try_lock_follower(conn: &mut PgConnection, source: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('herald.follow.' || $1))")
            .bind(source)
            .fetch_one(conn)
            .await?,
    )
}

/// Cursors `(kind, project) → last id read` (not the epoch).
pub async fn cursors(conn: &mut PgConnection) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT kind, project, last_id FROM herald_source_cursor WHERE kind <> 'epoch'",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn set_cursor(
    conn: &mut PgConnection,
    kind: &str,
    project: &str,
    last_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO herald_source_cursor (kind, project, last_id) VALUES ($1, $2, $3)
         ON CONFLICT (kind, project) DO UPDATE SET last_id = EXCLUDED.last_id
          WHERE herald_source_cursor.last_id < EXCLUDED.last_id",
    )
    .bind(kind)
    .bind(project)
    .bind(last_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The rows of `kind` still followed.
pub async fn live_rows(conn: &mut PgConnection, kind: &str) -> Result<Vec<SourceRow>, StoreError> {
    let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT project, source_id, local_id FROM herald_source_row WHERE live AND kind = $1
          ORDER BY project, source_id",
    )
    .bind(kind)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(project, source_id, local_id)| SourceRow {
            project,
            source_id,
            local_id,
        })
        .collect())
}

/// The local id a source row is mirrored under.
pub async fn local_id(
    conn: &mut PgConnection,
    kind: &str,
    project: &str,
    source_id: i64,
) -> Result<Option<i64>, StoreError> {
    let id: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT local_id FROM herald_source_row WHERE kind = $1 AND project = $2 AND source_id = $3",
    )
    .bind(kind)
    .bind(project)
    .bind(source_id)
    .fetch_optional(conn)
    .await?;
    Ok(id.flatten())
}

/// Record (or update) a followed source row.
pub async fn set_row(
    conn: &mut PgConnection,
    kind: &str,
    project: &str,
    source_id: i64,
    local_id: Option<i64>,
    live: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO herald_source_row (kind, project, source_id, local_id, live)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, project, source_id) DO UPDATE
            SET local_id = coalesce(EXCLUDED.local_id, herald_source_row.local_id), live = EXCLUDED.live
          WHERE herald_source_row.local_id IS DISTINCT FROM coalesce(EXCLUDED.local_id, herald_source_row.local_id)
             OR herald_source_row.live IS DISTINCT FROM EXCLUDED.live",
    )
    .bind(kind)
    .bind(project)
    .bind(source_id)
    .bind(local_id)
    .bind(live)
    .execute(conn)
    .await?;
    Ok(())
}

/// A project by resource id, with its rollout requirements; its local id.
pub async fn upsert_project(
    conn: &mut PgConnection,
    resource_id: &str,
    title: &str,
    require_approval: bool,
    require_checks: bool,
) -> Result<i64, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO project (resource_id, title, require_issue_approval, require_plan_check_no_error)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (resource_id) DO UPDATE
            SET title = EXCLUDED.title,
                require_issue_approval = EXCLUDED.require_issue_approval,
                require_plan_check_no_error = EXCLUDED.require_plan_check_no_error
          WHERE (project.title, project.require_issue_approval, project.require_plan_check_no_error)
                IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.require_issue_approval, EXCLUDED.require_plan_check_no_error)
         RETURNING id",
    )
    .bind(resource_id)
    .bind(title)
    .bind(require_approval)
    .bind(require_checks)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(id),
        None => Ok(
            sqlx::query_scalar("SELECT id FROM project WHERE resource_id = $1")
                .bind(resource_id)
                .fetch_one(conn)
                .await?,
        ),
    }
}

/// A person by e-mail; their local id.
pub async fn upsert_user(
    conn: &mut PgConnection,
    email: &str,
    name: &str,
    phone: Option<&str>,
    deleted: bool,
) -> Result<i64, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO app_user (name, email, phone, deleted) VALUES ($1, $2, $3, $4)
         ON CONFLICT (email) DO UPDATE
            SET name = EXCLUDED.name, phone = EXCLUDED.phone, deleted = EXCLUDED.deleted
          WHERE (app_user.name, app_user.phone, app_user.deleted)
                IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.phone, EXCLUDED.deleted)
         RETURNING id",
    )
    .bind(name)
    .bind(email)
    .bind(phone)
    .bind(deleted)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(id),
        None => Ok(
            sqlx::query_scalar("SELECT id FROM app_user WHERE email = $1")
                .bind(email)
                .fetch_one(conn)
                .await?,
        ),
    }
}

/// The local id of a person known only by e-mail (created, named by the
/// e-mail, if herald has not seen them: an issue's creator must exist).
pub async fn user_by_email(conn: &mut PgConnection, email: &str) -> Result<i64, StoreError> {
    let id: Option<i64> = sqlx::query_scalar("SELECT id FROM app_user WHERE email = $1")
        .bind(email)
        .fetch_optional(&mut *conn)
        .await?;
    match id {
        Some(id) => Ok(id),
        None => upsert_user(conn, email, email, None, false).await,
    }
}

/// Make `project`'s members exactly `members` (user id, role).
pub async fn set_members(
    conn: &mut PgConnection,
    project_id: i64,
    members: &[(i64, String)],
) -> Result<(), StoreError> {
    let (users, roles): (Vec<i64>, Vec<String>) = members.iter().cloned().unzip();
    sqlx::query(
        "DELETE FROM project_member m WHERE m.project_id = $1
            AND (m.user_id, m.role) NOT IN (SELECT * FROM unnest($2::bigint[], $3::text[]))",
    )
    .bind(project_id)
    .bind(&users)
    .bind(&roles)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO project_member (project_id, user_id, role)
         SELECT $1, u, r FROM unnest($2::bigint[], $3::text[]) AS m(u, r)
         ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(&users)
    .bind(&roles)
    .execute(conn)
    .await?;
    Ok(())
}

/// A plan: insert (`local` None) or update its title; its local id and
/// whether a row changed (the `upsert_*` functions all answer so).
pub async fn upsert_plan(
    conn: &mut PgConnection,
    local: Option<i64>,
    project_id: i64,
    title: &str,
) -> Result<(i64, bool), StoreError> {
    match local {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE plan SET title = $2 WHERE id = $1 AND title IS DISTINCT FROM $2",
            )
            .bind(id)
            .bind(title)
            .execute(conn)
            .await?;
            Ok((id, done.rows_affected() > 0))
        }
        None => Ok((
            sqlx::query_scalar("INSERT INTO plan (project_id, title) VALUES ($1, $2) RETURNING id")
                .bind(project_id)
                .bind(title)
                .fetch_one(conn)
                .await?,
            true,
        )),
    }
}

/// A task: insert or update; its local id.
pub async fn upsert_task(
    conn: &mut PgConnection,
    local: Option<i64>,
    plan_id: i64,
    name: &str,
    instance: &str,
    database: &str,
    environment: Option<&str>,
) -> Result<(i64, bool), StoreError> {
    match local {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE task SET name = $2, instance = $3, database_name = $4, environment = $5
                  WHERE id = $1
                    AND (name, instance, database_name, environment) IS DISTINCT FROM ($2, $3, $4, $5)",
            )
            .bind(id)
            .bind(name)
            .bind(instance)
            .bind(database)
            .bind(environment)
            .execute(conn)
            .await?;
            Ok((id, done.rows_affected() > 0))
        }
        None => Ok((
            sqlx::query_scalar(
                "INSERT INTO task (plan_id, name, instance, database_name, environment)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(plan_id)
            .bind(name)
            .bind(instance)
            .bind(database)
            .bind(environment)
            .fetch_one(conn)
            .await?,
            true,
        )),
    }
}

/// A task run as herald models it.
#[derive(Debug, Clone)]
pub struct NativeRun<'a> {
    pub task_id: i64,
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A task run: insert (a new attempt) or update its status; its local id.
pub async fn upsert_task_run(
    conn: &mut PgConnection,
    local: Option<i64>,
    run: &NativeRun<'_>,
) -> Result<(i64, bool), StoreError> {
    match local {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE task_run SET status = $2, error_message = $3, started_at = $4, updated_at = now()
                  WHERE id = $1 AND (status, error_message, started_at) IS DISTINCT FROM ($2, $3, $4)",
            )
            .bind(id)
            .bind(run.status)
            .bind(run.error)
            .bind(run.started_at)
            .execute(conn)
            .await?;
            Ok((id, done.rows_affected() > 0))
        }
        None => Ok((
            sqlx::query_scalar(
                "INSERT INTO task_run (task_id, status, error_message, started_at, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(run.task_id)
            .bind(run.status)
            .bind(run.error)
            .bind(run.started_at)
            .bind(run.created_at)
            .fetch_one(conn)
            .await?,
            true,
        )),
    }
}

/// A plan's check run: insert or update; its local id.
pub async fn upsert_check_run(
    conn: &mut PgConnection,
    local: Option<i64>,
    plan_id: i64,
    status: &str,
    results: &serde_json::Value,
) -> Result<(i64, bool), StoreError> {
    match local {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE plan_check_run SET status = $2, results = $3, updated_at = now()
                  WHERE id = $1 AND (status, results) IS DISTINCT FROM ($2, $3)",
            )
            .bind(id)
            .bind(status)
            .bind(results)
            .execute(conn)
            .await?;
            Ok((id, done.rows_affected() > 0))
        }
        None => Ok((sqlx::query_scalar(
            "INSERT INTO plan_check_run (plan_id, status, results) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(plan_id)
        .bind(status)
        .bind(results)
        .fetch_one(conn)
        .await?, true)),
    }
}

/// An issue as herald models it.
#[derive(Debug, Clone)]
pub struct NativeIssue<'a> {
    pub project_id: i64,
    pub plan_id: Option<i64>,
    pub title: &'a str,
    pub creator_id: i64,
    pub approval_status: &'a str,
    pub step_role: Option<&'a str>,
    pub rejected_by: Option<i64>,
    pub reject_reason: Option<&'a str>,
    /// OPEN | DONE | CANCELED.
    pub status: &'a str,
    pub labels: &'a [String],
    pub risk_level: Option<&'a str>,
}

/// An issue: insert or update its approval; its local id.
pub async fn upsert_issue(
    conn: &mut PgConnection,
    local: Option<i64>,
    issue: &NativeIssue<'_>,
) -> Result<(i64, bool), StoreError> {
    let required = issue.step_role.map(|_| 1);
    match local {
        Some(id) => {
            let done = sqlx::query(
                "UPDATE issue
                    SET plan_id = $2, title = $3, approval_status = $4, approval_step_role = $5,
                        approval_required_count = $6, rejected_by = $7, reject_reason = $8,
                        status = $9, labels = $10, risk_level = $11, updated_at = now()
                  WHERE id = $1
                    AND (plan_id, title, approval_status, approval_step_role, approval_required_count,
                         rejected_by, reject_reason, status, labels, risk_level)
                        IS DISTINCT FROM ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id)
            .bind(issue.plan_id)
            .bind(issue.title)
            .bind(issue.approval_status)
            .bind(issue.step_role)
            .bind(required)
            .bind(issue.rejected_by)
            .bind(issue.reject_reason)
            .bind(issue.status)
            .bind(issue.labels)
            .bind(issue.risk_level)
            .execute(conn)
            .await?;
            Ok((id, done.rows_affected() > 0))
        }
        None => Ok((sqlx::query_scalar(
            "INSERT INTO issue (project_id, plan_id, title, creator_id, approval_status,
                                approval_step_role, approval_required_count, rejected_by, reject_reason,
                                status, labels, risk_level)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(issue.project_id)
        .bind(issue.plan_id)
        .bind(issue.title)
        .bind(issue.creator_id)
        .bind(issue.approval_status)
        .bind(issue.step_role)
        .bind(required)
        .bind(issue.rejected_by)
        .bind(issue.reject_reason)
        .bind(issue.status)
        .bind(issue.labels)
        .bind(issue.risk_level)
        .fetch_one(conn)
        .await?, true)),
    }
}

/// The source created the plan's rollout: record it (`created_by` names
/// the source), unless one is recorded.
pub async fn record_rollout(
    conn: &mut PgConnection,
    plan_id: i64,
    created_by: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO rollout (plan_id, created_by) VALUES ($1, $2) ON CONFLICT (plan_id) DO NOTHING",
    )
    .bind(plan_id)
    .bind(created_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Record the issues' unhandled transitions as handled by `by` (the past
/// of an issue found open at first attach is not announced).
pub async fn mark_transitions_handled(
    conn: &mut PgConnection,
    issue_ids: &[i64],
    by: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE herald_issue_transition SET handled_at = now(), handled_by = $2
          WHERE issue_id = ANY ($1) AND handled_at IS NULL",
    )
    .bind(issue_ids)
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Has the plan a task whose latest run is not DONE or SKIPPED (or has
/// none yet)?
pub async fn plan_has_work(conn: &mut PgConnection, plan_id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM task t
              WHERE t.plan_id = $1
                AND coalesce((SELECT r.status FROM task_run r WHERE r.task_id = t.id
                               ORDER BY r.id DESC LIMIT 1), 'NONE') NOT IN ('DONE', 'SKIPPED'))",
    )
    .bind(plan_id)
    .fetch_one(conn)
    .await?)
}

/// The mirror epoch: bumped by every pass that writes (0: none yet).
pub async fn epoch(conn: &mut PgConnection) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce((SELECT last_id FROM herald_source_cursor WHERE kind = 'epoch' AND project = ''), 0)",
    )
    .fetch_one(conn)
    .await?)
}

/// Bump the mirror epoch from `from`; the new value.
pub async fn bump_epoch(conn: &mut PgConnection, from: i64) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO herald_source_cursor (kind, project, last_id) VALUES ('epoch', '', $1)
         ON CONFLICT (kind, project) DO UPDATE SET last_id = EXCLUDED.last_id",
    )
    .bind(from + 1)
    .execute(conn)
    .await?;
    Ok(from + 1)
}

/// Mirror a webhook under `local` (its id when mirrored before, even if
/// since removed); its id and whether anything was written.
pub async fn upsert_project_webhook(
    conn: &mut PgConnection,
    local: Option<i64>,
    webhook: &NativeWebhook,
) -> Result<(i64, bool), StoreError> {
    let written: Option<i64> = sqlx::query_scalar(
        "INSERT INTO project_webhook (id, project_id, type, title, url, event_types)
         VALUES (coalesce($1, nextval(pg_get_serial_sequence('project_webhook', 'id'))), $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE
            SET project_id = EXCLUDED.project_id, type = EXCLUDED.type, title = EXCLUDED.title,
                url = EXCLUDED.url, event_types = EXCLUDED.event_types
          WHERE (project_webhook.project_id, project_webhook.type, project_webhook.title,
                 project_webhook.url, project_webhook.event_types)
                IS DISTINCT FROM (EXCLUDED.project_id, EXCLUDED.type, EXCLUDED.title,
                                  EXCLUDED.url, EXCLUDED.event_types)
         RETURNING id",
    )
    .bind(local)
    .bind(webhook.project_id)
    .bind(webhook.platform)
    .bind(&webhook.title)
    .bind(&webhook.url)
    .bind(&webhook.event_types)
    .fetch_optional(&mut *conn)
    .await?;
    match (written, local) {
        (Some(id), _) => Ok((id, true)),
        (None, Some(id)) => Ok((id, false)),
        (None, None) => Err(StoreError::Database(sqlx::Error::RowNotFound)),
    }
}

/// Remove a mirrored webhook (its source row is gone or no longer imports).
pub async fn delete_project_webhook(conn: &mut PgConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM project_webhook WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

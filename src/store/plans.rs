//! Plans: reading a plan's state (tasks, latest runs, run generations) and
//! claiming its outcome — the claim, the event and its outbox rows in one
//! transaction. The generation rule is in [`crate::outcome`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{events, Store, StoreError};
use crate::events::{
    FailedTask, IssueRef, NewEvent, PipelineCompletedData, PipelineFailedData, PlanRef, ProjectRef,
    RolloutRef, UserRef,
};
use crate::outcome::{decide, ClaimReason, Decision, OutcomeKind, PlanFacts};
use crate::pipeline::TaskRunStatus;

/// The latest run of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRun {
    pub run_id: i64,
    pub status: TaskRunStatus,
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A task of a plan and its latest run (None: never run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub task_id: i64,
    pub name: String,
    pub instance: String,
    pub database: String,
    pub latest: Option<LatestRun>,
}

/// A plan as the supervisor sees it, read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanState {
    pub plan: PlanRef,
    pub project: ProjectRef,
    /// The highest claimed generation (0: none).
    pub claimed_generation: i32,
    /// `last_run_seq` of that claim (0: none): runs with a greater sequence
    /// are the current generation's.
    pub boundary: i64,
    /// The highest run sequence of the current generation (None: no runs
    /// yet).
    pub max_run_seq: Option<i64>,
    /// When the current generation's first run started (or was created).
    pub started_at: Option<DateTime<Utc>>,
    /// `updated_at` of the current generation's earliest FAILED run.
    pub first_failure_at: Option<DateTime<Utc>>,
    pub tasks: Vec<TaskState>,
    /// The database clock when the state was read.
    pub db_now: DateTime<Utc>,
    /// `herald_plan_work.version` when the state was read (None: no row).
    pub work_version: Option<i64>,
    /// The newest `herald_plan_change` when the state was read (None: none).
    pub change_id: Option<i64>,
}

impl PlanState {
    /// What to record once `decision` (made on this read) is acted on.
    pub fn settle(&self, decision: Decision) -> super::work::Settle {
        super::work::Settle {
            plan_id: self.plan.id,
            version: self.work_version,
            change_id: self.change_id,
            due: next_look(decision),
        }
    }
}

impl PlanState {
    /// The current (unclaimed) generation.
    pub fn generation(&self) -> i32 {
        self.claimed_generation + 1
    }

    pub fn facts(&self) -> PlanFacts {
        let statuses = || self.tasks.iter().filter_map(|t| t.latest.as_ref());
        PlanFacts {
            generation: self.generation(),
            active: self.max_run_seq.is_some(),
            tasks: self.tasks.len(),
            terminal: statuses().filter(|r| r.status.is_terminal()).count(),
            succeeded: statuses().filter(|r| r.status.is_success()).count(),
            failed: statuses()
                .filter(|r| r.status == TaskRunStatus::Failed)
                .count(),
            first_failure_at: self.first_failure_at,
        }
    }

    /// What to do now, at the database time of the read.
    pub fn decide(&self, window: Duration) -> Decision {
        decide(&self.facts(), window, self.db_now)
    }
}

/// A claim that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedOutcome {
    pub generation: i32,
    pub kind: OutcomeKind,
    pub reason: ClaimReason,
    pub event_id: Uuid,
    pub total_tasks: usize,
    pub failed_tasks: usize,
    /// Outbox rows written with the event.
    pub deliveries: u64,
}

/// What an attempt to claim a plan's outcome came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimResult {
    /// Claimed, and the event and outbox rows written, in one transaction.
    Claimed(ClaimedOutcome),
    /// The generation was claimed by someone else (another replica).
    Lost { generation: i32 },
    /// Read again under the lock, nothing is due: here is the fresh state.
    NotDue(PlanState),
    /// The plan's task rows are locked (a claim or a task-run insert is in
    /// flight): try again shortly.
    Busy,
    /// No such plan.
    UnknownPlan,
}

const PLAN_SQL: &str = "
SELECT p.id, p.title, pr.id AS project_id, pr.resource_id, pr.title AS project_title,
       COALESCE(o.generation, 0) AS claimed_generation,
       COALESCE(o.last_run_seq, 0) AS boundary,
       g.max_run_seq, g.started_at, g.first_failure_at,
       w.version AS work_version,
       (SELECT max(c.id) FROM herald_plan_change c WHERE c.plan_id = p.id) AS change_id,
       clock_timestamp() AS db_now
  FROM plan p
  JOIN project pr ON pr.id = p.project_id
  LEFT JOIN herald_plan_work w ON w.plan_id = p.id
  LEFT JOIN LATERAL (
        SELECT generation, last_run_seq FROM herald_plan_outcome
         WHERE plan_id = p.id ORDER BY generation DESC LIMIT 1) o ON TRUE
  LEFT JOIN LATERAL (
        SELECT max(COALESCE(r.herald_seq, r.id)) AS max_run_seq,
               min(COALESCE(r.started_at, r.created_at)) AS started_at,
               min(r.updated_at) FILTER (WHERE r.status = 'FAILED') AS first_failure_at
          FROM task_run r JOIN task t ON t.id = r.task_id
         WHERE t.plan_id = p.id
           AND COALESCE(r.herald_seq, r.id) > COALESCE(o.last_run_seq, 0)) g ON TRUE
 WHERE p.id = $1";

const TASKS_SQL: &str = "
SELECT t.id, t.name, t.instance, t.database_name,
       l.id AS run_id, l.status, l.error_message, l.updated_at
  FROM task t
  LEFT JOIN LATERAL (
        SELECT id, status, error_message, updated_at FROM task_run
         WHERE task_id = t.id ORDER BY id DESC LIMIT 1) l ON TRUE
 WHERE t.plan_id = $1
 ORDER BY t.id";

fn corrupt(column: &'static str, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        table: "task_run",
        column,
        detail: detail.to_string(),
    }
}

fn task_from_row(row: &PgRow) -> Result<TaskState, StoreError> {
    let run_id: Option<i64> = row.try_get("run_id")?;
    let latest = match run_id {
        None => None,
        Some(run_id) => {
            let status: String = row.try_get("status")?;
            Some(LatestRun {
                run_id,
                status: status.parse().map_err(|e| corrupt("status", e))?,
                error: row.try_get("error_message")?,
                updated_at: row.try_get("updated_at")?,
            })
        }
    };
    Ok(TaskState {
        task_id: row.try_get("id")?,
        name: row.try_get("name")?,
        instance: row.try_get("instance")?,
        database: row.try_get("database_name")?,
        latest,
    })
}

/// Read a plan's state on `conn`. None: no such plan.
pub async fn plan_state(
    conn: &mut PgConnection,
    plan_id: i64,
) -> Result<Option<PlanState>, StoreError> {
    let Some(row) = sqlx::query(PLAN_SQL)
        .bind(plan_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let tasks = sqlx::query(TASKS_SQL)
        .bind(plan_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(task_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(PlanState {
        plan: PlanRef {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
        },
        project: ProjectRef {
            id: row.try_get("project_id")?,
            resource_id: row.try_get("resource_id")?,
            title: row.try_get("project_title")?,
        },
        claimed_generation: row.try_get("claimed_generation")?,
        boundary: row.try_get("boundary")?,
        max_run_seq: row.try_get("max_run_seq")?,
        started_at: row.try_get("started_at")?,
        first_failure_at: row.try_get("first_failure_at")?,
        tasks,
        db_now: row.try_get("db_now")?,
        work_version: row.try_get("work_version")?,
        change_id: row.try_get("change_id")?,
    }))
}

/// The issue of a plan and the plan's rollout, for the event's snapshots.
async fn plan_refs(
    conn: &mut PgConnection,
    plan_id: i64,
) -> Result<(Option<IssueRef>, Option<RolloutRef>), StoreError> {
    let issue = sqlx::query(
        "SELECT i.id, i.title, u.id AS user_id, u.name, u.email, u.phone,
                herald_user_handles(u.id) AS handles
           FROM issue i JOIN app_user u ON u.id = i.creator_id
          WHERE i.plan_id = $1 ORDER BY i.id LIMIT 1",
    )
    .bind(plan_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| -> Result<IssueRef, sqlx::Error> {
        Ok(IssueRef {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            creator: UserRef {
                id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                email: row.try_get("email")?,
                phone: row.try_get("phone")?,
                handles: row
                    .try_get::<sqlx::types::Json<std::collections::BTreeMap<String, String>>, _>(
                        "handles",
                    )?
                    .0,
            },
        })
    })
    .transpose()?;
    let rollout = sqlx::query_scalar::<_, i64>("SELECT id FROM rollout WHERE plan_id = $1")
        .bind(plan_id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|id| RolloutRef { id });
    Ok((issue, rollout))
}

/// The event for `kind`, from `state` as read under the claim's lock.
fn outcome_event(state: &PlanState, kind: OutcomeKind) -> Result<(NewEvent, usize), StoreError> {
    let failed: Vec<FailedTask> = state
        .tasks
        .iter()
        .filter_map(|t| {
            let run = t.latest.as_ref()?;
            (run.status == TaskRunStatus::Failed).then(|| FailedTask {
                task_id: t.task_id,
                name: t.name.clone(),
                instance: t.instance.clone(),
                database: t.database.clone(),
                error: run.error.clone(),
                failed_at: run.updated_at,
            })
        })
        .collect();
    let failed_count = failed.len();
    let to_json = |e: serde_json::Error| StoreError::Corrupt {
        table: "herald_event",
        column: "payload",
        detail: e.to_string(),
    };
    let event = match kind {
        OutcomeKind::Failed => {
            let first_failure_at = state
                .first_failure_at
                .or_else(|| failed.iter().map(|f| f.failed_at).min())
                .unwrap_or(state.db_now);
            let data = PipelineFailedData {
                generation: state.generation(),
                failed_tasks: failed,
                first_failure_at,
            };
            NewEvent::typed(kind.event_type(), &data).map_err(to_json)?
        }
        OutcomeKind::Completed => {
            let completed_at = state
                .tasks
                .iter()
                .filter_map(|t| t.latest.as_ref().map(|r| r.updated_at))
                .max()
                .unwrap_or(state.db_now);
            let started_at = state.started_at.unwrap_or(completed_at).min(completed_at);
            let data = PipelineCompletedData {
                generation: state.generation(),
                total_tasks: state.tasks.len() as i64,
                started_at,
                completed_at,
                duration_seconds: (completed_at - started_at).num_seconds(),
            };
            NewEvent::typed(kind.event_type(), &data).map_err(to_json)?
        }
    };
    Ok((event, failed_count))
}

/// PostgreSQL's `lock_not_available` (from `NOWAIT`).
fn is_lock_not_available(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("55P03"))
}

impl Store {
    /// Read a plan's state. None: no such plan.
    pub async fn plan_state(&self, plan_id: i64) -> Result<Option<PlanState>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        plan_state(&mut conn, plan_id).await
    }

    /// Claim the outcome of `generation` of a plan if one is due, writing the
    /// claim, the event and its outbox rows in one transaction.
    ///
    /// Locks the plan's work row (`FOR UPDATE NOWAIT`: replicas claiming the
    /// same plan, and task-run writes, which hold it until they commit, are
    /// serialized without waiting), reads the state again, decides again,
    /// then writes. The `(plan_id, generation)` key settles any remaining
    /// race. Whatever it decides, the work row is settled in the same
    /// transaction (see [`Store::settle_plan_work`]).
    pub async fn claim_plan_outcome(
        &self,
        plan_id: i64,
        generation: i32,
        window: Duration,
        node_id: &str,
    ) -> Result<ClaimResult, StoreError> {
        let mut tx = self.pool().begin().await?;
        if !lock_plan_work(&mut tx, plan_id).await? {
            return Ok(ClaimResult::Busy);
        }
        let Some(state) = plan_state(&mut tx, plan_id).await? else {
            return Ok(ClaimResult::UnknownPlan);
        };
        if state.generation() > generation {
            return Ok(ClaimResult::Lost { generation });
        }
        let decision = state.decide(window);
        let Decision::Claim(kind, reason) = decision else {
            super::work::settle_plan_work(&mut tx, &state.settle(decision)).await?;
            tx.commit().await?;
            return Ok(ClaimResult::NotDue(state));
        };
        let (event, failed_tasks) = outcome_event(&state, kind)?;
        let (issue, rollout) = plan_refs(&mut tx, plan_id).await?;
        let event = NewEvent {
            project: Some(state.project.clone()),
            plan: Some(state.plan.clone()),
            issue,
            rollout,
            ..event
        };
        let deliveries = events::emit(&mut tx, &event).await?;
        let claimed = sqlx::query(
            "INSERT INTO herald_plan_outcome
                    (plan_id, generation, outcome, event_id, last_run_seq, claimed_by)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (plan_id, generation) DO NOTHING
             RETURNING plan_id",
        )
        .bind(plan_id)
        .bind(state.generation())
        .bind(kind.as_str())
        .bind(event.id)
        .bind(state.max_run_seq.unwrap_or(state.boundary))
        .bind(node_id)
        .fetch_optional(&mut *tx)
        .await?;
        if claimed.is_none() {
            // Dropping the transaction rolls the event and outbox rows back.
            return Ok(ClaimResult::Lost {
                generation: state.generation(),
            });
        }
        // Settled until a new run starts the next generation (a run
        // inserted after this commit gets a greater sequence), or a status
        // change the read did not see.
        sqlx::query(
            "UPDATE herald_plan_work SET run_seq = GREATEST(run_seq, $2) WHERE plan_id = $1",
        )
        .bind(plan_id)
        .bind(state.max_run_seq.unwrap_or(state.boundary))
        .execute(&mut *tx)
        .await?;
        super::work::settle_plan_work(&mut tx, &state.settle(Decision::Settled)).await?;
        tx.commit().await?;
        Ok(ClaimResult::Claimed(ClaimedOutcome {
            generation: state.generation(),
            kind,
            reason,
            event_id: event.id,
            total_tasks: state.tasks.len(),
            failed_tasks,
            deliveries,
        }))
    }
}

/// When a plan must be looked at again after `decision` (None: at its next
/// change).
pub fn next_look(decision: Decision) -> Option<DateTime<Utc>> {
    match decision {
        Decision::WindowOpen { deadline } => Some(deadline),
        Decision::Settled | Decision::Waiting | Decision::Claim(..) => None,
    }
}

/// Lock the plan's work row without waiting (false: a host transaction or
/// another claim holds it). A plan without one gets one: its runs are all
/// from before work rows existed, or its first run is being inserted (then
/// this waits for that insert, bounded by the lock timeout).
async fn lock_plan_work(conn: &mut PgConnection, plan_id: i64) -> Result<bool, StoreError> {
    let locked = sqlx::query("SELECT 1 FROM herald_plan_work WHERE plan_id = $1 FOR UPDATE NOWAIT")
        .bind(plan_id)
        .fetch_optional(&mut *conn)
        .await;
    match locked {
        Ok(Some(_)) => Ok(true),
        Ok(None) => {
            let created = sqlx::query(
                "INSERT INTO herald_plan_work (plan_id)
                 SELECT id FROM plan WHERE id = $1
                 ON CONFLICT (plan_id) DO NOTHING RETURNING plan_id",
            )
            .bind(plan_id)
            .fetch_optional(&mut *conn)
            .await?;
            // Not created: another transaction just did; try again shortly.
            // No such plan: the read that follows says so.
            Ok(created.is_some()
                || sqlx::query_scalar::<_, bool>(
                    "SELECT NOT EXISTS (SELECT 1 FROM plan WHERE id = $1)",
                )
                .bind(plan_id)
                .fetch_one(&mut *conn)
                .await?)
        }
        Err(e) if is_lock_not_available(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

//! One follow pass: read what changed in Bytebase, mirror it into herald's
//! native tables, in one transaction of herald's database.
//!
//! - **What is read** ([`crate::store::bytebase`]): per project, the rows
//!   of `plan`, `issue`, `task`, `task_run` above the project's cursor
//!   (Bytebase ≥ 3.17 allocates a project's ids under the project row's lock,
//!   so they commit in id order and a cursor misses nothing), plus the rows
//!   herald still follows (`herald_source_row.live`): open issues, active
//!   task runs, plans with work left, and those plans' tasks and check run.
//! - **What is written** ([`crate::store::mirror`]): the native rows, only
//!   where a mirrored column differs; the host triggers then record work and
//!   notify, and the core decides exactly as for a native host.
//! - **Across replicas**: the pass holds a transaction-scoped advisory lock;
//!   a replica that finds it taken skips its pass. Mirrored rows, the key
//!   map and the cursors commit together, so a crash mid-pass leaves
//!   nothing half-mirrored and the next pass (on any replica) redoes it.
//! - **First attach** mirrors open issues silently (their transitions are
//!   recorded as handled: Bytebase's past is not announced) and follows
//!   the task runs that are active; cursors start at Bytebase's newest ids.
//! - **Bad rows**: a payload that cannot be mapped is skipped with one
//!   `source.row_skipped` log line (table, key, field); the rest goes on.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::PgConnection;
use tracing::{info, warn};

use super::model::{self, PayloadError};

mod webhooks;
use crate::store::bytebase::{BbCheckRun, BbIssue, BbPlan, BbTask, BbTaskRun, BytebaseDb, Table};
use crate::store::mirror::{self, kind, NativeIssue, NativeRun};
use crate::store::{Store, StoreError};

/// `rollout.created_by` of rollouts Bytebase created.
pub const BYTEBASE_CREATOR: &str = "bytebase";

/// Settings of the follower.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// Rows read per project and table in one query.
    pub batch: i64,
    /// Approvers (IAM policies, groups, people) are re-read at least this
    /// often, and on every pass that sees a new issue.
    pub people_every: Duration,
    /// A rejection waits this long for its comment (the reason), which
    /// Bytebase may write in a later transaction.
    pub reason_grace: Duration,
    /// Import Bytebase's project webhooks as native ones (re-read as often
    /// as approvers); off by default: Bytebase posts to them itself.
    pub import_webhooks: bool,
}

impl Default for FollowConfig {
    fn default() -> Self {
        FollowConfig {
            batch: 500,
            people_every: Duration::from_secs(5),
            reason_grace: Duration::from_secs(2),
            import_webhooks: false,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Another replica held the follower's lock: nothing was done.
    pub skipped: bool,
    /// This was the first pass against this database.
    pub attached: bool,
    /// Source rows read.
    pub read: usize,
    /// Rows skipped as unmappable this pass.
    pub bad: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("reading Bytebase: {0}")]
    Source(StoreError),
    #[error("writing herald's mirror: {0}")]
    Mirror(#[from] StoreError),
    /// The database lacks tables or columns herald reads.
    #[error(
        "this Bytebase schema is not supported: missing {} (herald follows Bytebase {})",
        .missing.join(", "),
        super::SUPPORTED_VERSIONS
    )]
    Unsupported { missing: Vec<String> },
}

impl From<sqlx::Error> for FollowError {
    fn from(error: sqlx::Error) -> Self {
        FollowError::Mirror(StoreError::Database(error))
    }
}

type Key = (String, i64);

/// The follower's memory between passes (all of it may be lost: it only
/// saves work and log lines).
pub struct Follower {
    bytebase: BytebaseDb,
    store: Store,
    config: FollowConfig,
    /// Bad rows already logged: (table, project, id, field).
    logged: HashSet<(&'static str, String, i64, String)>,
    people_read_at: Option<Instant>,
    webhooks_read_at: Option<Instant>,
    /// Rejections seen without their comment yet, since when.
    rejected_since: HashMap<Key, Instant>,
    /// The schema was checked (once per process).
    checked: bool,
    /// What this replica last mirrored of each source row read in the last
    /// pass: its fingerprint and local id. A row read again unchanged costs
    /// no query in herald's database. Valid while no other replica has
    /// mirrored since (`epoch`); dropped after a failed pass.
    mirrored: HashMap<(&'static str, Key), (u64, i64)>,
    /// Rows seen this pass (the cache keeps only those).
    seen: HashSet<(&'static str, Key)>,
    /// The mirror epoch this replica's cache belongs to: every pass that
    /// writes bumps it, so a replica finding another value knows someone
    /// else mirrored and forgets its cache.
    epoch: i64,
}

/// A source row's fingerprint: anything herald mirrors from it, with
/// whatever else its mapping depends on.
fn fingerprint(value: &impl std::fmt::Debug) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{value:?}").hash(&mut hasher);
    hasher.finish()
}

/// What a pass gathered before writing.
#[derive(Default)]
struct Gathered {
    plans: Vec<BbPlan>,
    tasks: Vec<BbTask>,
    issues: Vec<BbIssue>,
    runs: Vec<BbTaskRun>,
    checks: Vec<BbCheckRun>,
    new_issue: bool,
}

impl Follower {
    pub fn new(bytebase: BytebaseDb, store: Store, config: FollowConfig) -> Self {
        Follower {
            bytebase,
            store,
            config,
            logged: HashSet::new(),
            people_read_at: None,
            webhooks_read_at: None,
            rejected_since: HashMap::new(),
            checked: false,
            mirrored: HashMap::new(),
            seen: HashSet::new(),
            epoch: 0,
        }
    }

    /// The local id of a source row, from the cache or the key map.
    async fn local(
        &mut self,
        tx: &mut PgConnection,
        kind: &'static str,
        key: &Key,
    ) -> Result<Option<i64>, FollowError> {
        self.seen.insert((kind, key.clone()));
        if let Some((_, id)) = self.mirrored.get(&(kind, key.clone())) {
            return Ok(Some(*id));
        }
        Ok(mirror::local_id(tx, kind, &key.0, key.1).await?)
    }

    /// The local id of a row mirrored with this fingerprint already.
    fn unchanged(&mut self, kind: &'static str, key: &Key, fingerprint: u64) -> Option<i64> {
        self.seen.insert((kind, key.clone()));
        match self.mirrored.get(&(kind, key.clone())) {
            Some((known, id)) if *known == fingerprint => Some(*id),
            _ => None,
        }
    }

    fn remember(&mut self, kind: &'static str, key: &Key, fingerprint: u64, local: i64) {
        self.seen.insert((kind, key.clone()));
        self.mirrored
            .insert((kind, key.clone()), (fingerprint, local));
    }

    /// Check that the database has every table and column herald reads;
    /// returns Bytebase's schema version.
    pub async fn check_schema(&mut self) -> Result<Option<String>, FollowError> {
        let missing = self
            .bytebase
            .missing_columns(self.config.import_webhooks)
            .await
            .map_err(FollowError::Source)?;
        if !missing.is_empty() {
            return Err(FollowError::Unsupported { missing });
        }
        let version = self
            .bytebase
            .schema_version()
            .await
            .map_err(FollowError::Source)?;
        if !self.checked {
            info!(
                event = "source.schema_checked",
                source = "bytebase",
                version = version.as_deref().unwrap_or("unknown")
            );
        }
        self.checked = true;
        Ok(version)
    }

    pub fn bytebase(&self) -> &BytebaseDb {
        &self.bytebase
    }

    fn bad(
        &mut self,
        report: &mut PassReport,
        table: &'static str,
        key: &Key,
        error: &PayloadError,
    ) {
        report.bad += 1;
        if self
            .logged
            .insert((table, key.0.clone(), key.1, error.field.clone()))
        {
            warn!(
                event = "source.row_skipped",
                source = "bytebase",
                table,
                project = %key.0,
                id = key.1,
                field = %error.field,
                error = %error.detail,
                "a Bytebase row herald cannot map is skipped; the rest goes on"
            );
        }
    }

    /// One pass. Bytebase errors and herald errors are told apart.
    pub async fn pass(&mut self) -> Result<PassReport, FollowError> {
        if !self.checked {
            self.check_schema().await?;
        }
        self.seen.clear();
        let result = self.pass_locked().await;
        match &result {
            Ok(report) if !report.skipped => {
                let seen = std::mem::take(&mut self.seen);
                self.mirrored.retain(|key, _| seen.contains(key));
            }
            Ok(_) => {}
            // What the cache says may not have committed.
            Err(_) => {
                self.mirrored.clear();
                self.webhooks_read_at = None;
            }
        }
        result
    }

    async fn pass_locked(&mut self) -> Result<PassReport, FollowError> {
        let mut tx = self.store.pool().begin().await?;
        if !mirror::try_lock_follower(&mut tx, "bytebase").await? {
            return Ok(PassReport {
                skipped: true,
                ..PassReport::default()
            });
        }
        let mut report = PassReport::default();
        let epoch = mirror::epoch(&mut tx).await?;
        if epoch != self.epoch {
            self.mirrored.clear();
            self.epoch = epoch;
        }
        let projects = self
            .bytebase
            .projects()
            .await
            .map_err(FollowError::Source)?;
        let mut local_projects = HashMap::new();
        for project in &projects {
            let key = (project.resource_id.clone(), 0);
            let setting: model::ProjectSetting = match model::parse(&project.setting) {
                Ok(setting) => setting,
                Err(error) => {
                    self.bad(&mut report, "project", &key, &error);
                    continue;
                }
            };
            let id = mirror::upsert_project(
                &mut tx,
                &project.resource_id,
                &project.name,
                setting.require_issue_approval,
                setting.require_plan_check_no_error,
            )
            .await?;
            local_projects.insert(project.resource_id.clone(), id);
        }
        if self.config.import_webhooks
            && self
                .webhooks_read_at
                .map_or(true, |at| at.elapsed() >= self.config.people_every)
        {
            self.import_webhooks(&mut tx, &projects, &local_projects, &mut report)
                .await?;
            self.webhooks_read_at = Some(Instant::now());
        }
        let names: Vec<String> = local_projects.keys().cloned().collect();
        let mut cursors: HashMap<(String, String), i64> = mirror::cursors(&mut tx)
            .await?
            .into_iter()
            .map(|(k, p, id)| ((k, p), id))
            .collect();
        let read_cursors = cursors.clone();
        report.attached = cursors.is_empty();
        let mut attach_issues = Vec::new();
        if report.attached {
            attach_issues = self.attach(&mut tx, &names, &mut cursors).await?;
        }
        // New projects have no history: everything in them is new.
        for table in Table::ALL {
            for project in &names {
                cursors
                    .entry((table.name().to_owned(), project.clone()))
                    .or_insert(0);
            }
        }
        let mut gathered = self
            .gather(&mut tx, &names, &mut cursors, report.attached)
            .await?;
        gathered.issues.extend(attach_issues.iter().cloned());
        report.read = gathered.plans.len()
            + gathered.tasks.len()
            + gathered.issues.len()
            + gathered.runs.len()
            + gathered.checks.len();
        let (attached_issue_ids, wrote) = self
            .apply(&mut tx, &local_projects, gathered, &mut report)
            .await?;
        if report.attached {
            // Bytebase's past is not announced.
            let silent: Vec<i64> = attach_issues
                .iter()
                .filter_map(|i| attached_issue_ids.get(&(i.project.clone(), i.id)).copied())
                .collect();
            mirror::mark_transitions_handled(&mut tx, &silent, "attach").await?;
            info!(
                event = "source.attached",
                source = "bytebase",
                projects = names.len(),
                open_issues = silent.len()
            );
        }
        for ((table, project), last) in &cursors {
            if read_cursors.get(&(table.clone(), project.clone())) != Some(last) {
                mirror::set_cursor(&mut tx, table, project, *last).await?;
            }
        }
        if wrote {
            self.epoch = mirror::bump_epoch(&mut tx, self.epoch).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// First attach: cursors at Bytebase's newest ids; follow the open
    /// issues and the active task runs. Returns the open issues.
    async fn attach(
        &mut self,
        tx: &mut PgConnection,
        projects: &[String],
        cursors: &mut HashMap<(String, String), i64>,
    ) -> Result<Vec<BbIssue>, FollowError> {
        for table in Table::ALL {
            let highest = self
                .bytebase
                .max_ids(table, projects)
                .await
                .map_err(FollowError::Source)?;
            for (project, last) in highest {
                cursors.insert((table.name().to_owned(), project), last);
            }
        }
        let issues = self
            .bytebase
            .open_issues()
            .await
            .map_err(FollowError::Source)?;
        let active = self
            .bytebase
            .active_runs()
            .await
            .map_err(FollowError::Source)?;
        for run in &active {
            mirror::set_row(tx, kind::TASK_RUN, &run.project, run.id, None, true).await?;
        }
        Ok(issues)
    }

    /// Read the new rows above the cursors (advancing them) and the rows
    /// still followed, with the parents they need.
    async fn gather(
        &mut self,
        tx: &mut PgConnection,
        projects: &[String],
        cursors: &mut HashMap<(String, String), i64>,
        attached: bool,
    ) -> Result<Gathered, FollowError> {
        let mut gathered = Gathered::default();
        let plans: Vec<BbPlan> = self.read_new(Table::Plan, projects, cursors).await?;
        let issues: Vec<BbIssue> = self.read_new(Table::Issue, projects, cursors).await?;
        let tasks: Vec<BbTask> = self.read_new(Table::Task, projects, cursors).await?;
        let runs: Vec<BbTaskRun> = self.read_new(Table::TaskRun, projects, cursors).await?;
        gathered.new_issue = !issues.is_empty();

        let live_runs = keys(mirror::live_rows(tx, kind::TASK_RUN).await?);
        let live_issues = keys(mirror::live_rows(tx, kind::ISSUE).await?);
        let live_plans = keys(mirror::live_rows(tx, kind::PLAN).await?);
        let mut runs_all: Vec<BbTaskRun> = self
            .source(self.bytebase.by_keys(Table::TaskRun, &live_runs))
            .await?;
        runs_all.extend(runs);
        let mut issues_all: Vec<BbIssue> = self
            .source(self.bytebase.by_keys(Table::Issue, &live_issues))
            .await?;
        issues_all.extend(issues);

        // Plans: new ones, followed ones, and the parents of new tasks,
        // runs and issues herald has not mirrored yet.
        let mut plan_keys: HashSet<Key> = live_plans.into_iter().collect();
        plan_keys.extend(plans.iter().map(|p| (p.project.clone(), p.id)));
        let mut task_keys: HashSet<Key> = tasks.iter().map(|t| (t.project.clone(), t.id)).collect();
        let mut missing_tasks = Vec::new();
        for run in &runs_all {
            let key = (run.project.clone(), run.task_id);
            if !task_keys.contains(&key) && self.local(tx, kind::TASK, &key).await?.is_none() {
                missing_tasks.push(key.clone());
            }
            task_keys.insert(key);
        }
        let mut tasks_all = tasks;
        tasks_all.extend(
            self.source(self.bytebase.by_keys::<BbTask>(Table::Task, &missing_tasks))
                .await?,
        );
        for task in &tasks_all {
            plan_keys.insert((task.project.clone(), task.plan_id));
        }
        for issue in &issues_all {
            if let Some(plan) = issue.plan_id {
                plan_keys.insert((issue.project.clone(), plan));
            }
        }
        let plan_keys: Vec<Key> = {
            let mut keys: Vec<Key> = plan_keys.into_iter().collect();
            keys.sort();
            keys
        };
        let known: HashSet<Key> = plans.iter().map(|p| (p.project.clone(), p.id)).collect();
        let reread: Vec<Key> = plan_keys
            .iter()
            .filter(|k| !known.contains(*k))
            .cloned()
            .collect();
        let mut plans_all = plans;
        plans_all.extend(
            self.source(self.bytebase.by_keys::<BbPlan>(Table::Plan, &reread))
                .await?,
        );
        // Every task of those plans (skips; tasks created with the rollout).
        let mut seen: HashSet<Key> = tasks_all
            .iter()
            .map(|t| (t.project.clone(), t.id))
            .collect();
        for task in self.source(self.bytebase.tasks_of(&plan_keys)).await? {
            if seen.insert((task.project.clone(), task.id)) {
                tasks_all.push(task);
            }
        }
        // Tasks herald mirrors for the first time bring their latest run (a
        // plan joined mid-way must not look unstarted) — except, at attach,
        // the finished runs of plans with nothing active: that is the past.
        let plan_of: HashMap<Key, Key> = tasks_all
            .iter()
            .map(|t| ((t.project.clone(), t.id), (t.project.clone(), t.plan_id)))
            .collect();
        let active_plans: HashSet<Key> = runs_all
            .iter()
            .filter(|r| !model::is_terminal_run(&r.status))
            .filter_map(|r| plan_of.get(&(r.project.clone(), r.task_id)).cloned())
            .collect();
        let mut new_tasks = Vec::new();
        for task in &tasks_all {
            let key = (task.project.clone(), task.id);
            if self.local(tx, kind::TASK, &key).await?.is_none() {
                new_tasks.push(key);
            }
        }
        let have: HashSet<Key> = runs_all.iter().map(|r| (r.project.clone(), r.id)).collect();
        for run in self.source(self.bytebase.latest_runs(&new_tasks)).await? {
            let plan = plan_of.get(&(run.project.clone(), run.task_id));
            let wanted = !model::is_terminal_run(&run.status)
                || !attached
                || plan.is_some_and(|p| active_plans.contains(p));
            if wanted && !have.contains(&(run.project.clone(), run.id)) {
                runs_all.push(run);
            }
        }
        gathered.checks = self.source(self.bytebase.check_runs_of(&plan_keys)).await?;
        gathered.plans = plans_all;
        gathered.tasks = tasks_all;
        gathered.issues = issues_all;
        runs_all.sort_by(|a, b| (&a.project, a.id).cmp(&(&b.project, b.id)));
        runs_all.dedup_by(|a, b| a.project == b.project && a.id == b.id);
        gathered.runs = runs_all;
        Ok(gathered)
    }

    async fn source<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, FollowError> {
        read.await.map_err(FollowError::Source)
    }

    /// New rows of `table` above each project's cursor, all pages.
    async fn read_new<T>(
        &self,
        table: Table,
        projects: &[String],
        cursors: &mut HashMap<(String, String), i64>,
    ) -> Result<Vec<T>, FollowError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin + HasKey,
    {
        let mut all = Vec::new();
        let mut pending: Vec<String> = projects.to_vec();
        while !pending.is_empty() {
            let page: Vec<(String, i64)> = pending
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        cursors
                            .get(&(table.name().to_owned(), p.clone()))
                            .copied()
                            .unwrap_or(0),
                    )
                })
                .collect();
            let rows: Vec<T> = self
                .source(self.bytebase.new_rows(table, &page, self.config.batch))
                .await?;
            let mut counts: HashMap<String, i64> = HashMap::new();
            for row in &rows {
                let (project, id) = row.key();
                *counts.entry(project.clone()).or_default() += 1;
                let cursor = cursors
                    .entry((table.name().to_owned(), project))
                    .or_insert(0);
                *cursor = (*cursor).max(id);
            }
            pending.retain(|p| counts.get(p).copied().unwrap_or(0) >= self.config.batch);
            all.extend(rows);
        }
        Ok(all)
    }

    /// Write what was gathered. Returns the local ids of the issues
    /// mirrored, by source key.
    async fn apply(
        &mut self,
        tx: &mut PgConnection,
        projects: &HashMap<String, i64>,
        gathered: Gathered,
        report: &mut PassReport,
    ) -> Result<(HashMap<Key, i64>, bool), FollowError> {
        // Plans whose rows (or whose children's) changed: their liveness is
        // decided again.
        let mut touched: HashSet<Key> = HashSet::new();
        let mut wrote = false;
        // Plans.
        let mut plan_ids: HashMap<Key, i64> = HashMap::new();
        let mut plan_versions: HashMap<Key, i64> = HashMap::new();
        let mut rollouts = Vec::new();
        let mut deleted_plans = HashSet::new();
        for plan in &gathered.plans {
            let key = (plan.project.clone(), plan.id);
            let Some(&project_id) = projects.get(&plan.project) else {
                continue;
            };
            let config: model::PlanConfig = match model::parse(&plan.config) {
                Ok(config) => config,
                Err(error) => {
                    self.bad(report, "plan", &key, &error);
                    continue;
                }
            };
            let print = fingerprint(plan);
            let id = match self.unchanged(kind::PLAN, &key, print) {
                Some(id) => id,
                None => {
                    let local = self.local(tx, kind::PLAN, &key).await?;
                    let (id, changed) =
                        mirror::upsert_plan(tx, local, project_id, &plan.name).await?;
                    if local.is_none() {
                        mirror::set_row(tx, kind::PLAN, &plan.project, plan.id, Some(id), true)
                            .await?;
                    }
                    if config.has_rollout {
                        rollouts.push(id);
                    }
                    self.remember(kind::PLAN, &key, print, id);
                    touched.insert(key.clone());
                    wrote |= changed;
                    id
                }
            };
            if plan.deleted {
                deleted_plans.insert(key.clone());
            }
            plan_versions.insert(key.clone(), config.approval_input_version);
            plan_ids.insert(key, id);
        }
        // Tasks (and the SKIPPED run of a skipped task).
        let mut task_ids: HashMap<Key, i64> = HashMap::new();
        let mut skipped = Vec::new();
        for task in &gathered.tasks {
            let key = (task.project.clone(), task.id);
            let Some(&plan_id) = plan_ids.get(&(task.project.clone(), task.plan_id)) else {
                continue;
            };
            let payload: model::TaskPayload = match model::parse(&task.payload) {
                Ok(payload) => payload,
                Err(error) => {
                    self.bad(report, "task", &key, &error);
                    continue;
                }
            };
            let print = fingerprint(&(task, plan_id));
            if let Some(id) = self.unchanged(kind::TASK, &key, print) {
                task_ids.insert(key, id);
                continue;
            }
            let local = self.local(tx, kind::TASK, &key).await?;
            let (id, changed) = mirror::upsert_task(
                tx,
                local,
                plan_id,
                &model::task_name(&task.instance, task.db_name.as_deref()),
                &task.instance,
                task.db_name.as_deref().unwrap_or(""),
                task.environment
                    .as_deref()
                    .map(|e| e.strip_prefix("environments/").unwrap_or(e)),
            )
            .await?;
            if local.is_none() {
                mirror::set_row(tx, kind::TASK, &task.project, task.id, Some(id), false).await?;
            }
            if payload.skipped {
                skipped.push((key.clone(), id));
            }
            self.remember(kind::TASK, &key, print, id);
            touched.insert((task.project.clone(), task.plan_id));
            wrote |= changed;
            task_ids.insert(key, id);
        }
        // Check runs.
        for check in &gathered.checks {
            let key = (check.project.clone(), check.id);
            let plan_key = (check.project.clone(), check.plan_id);
            let Some(&plan_id) = plan_ids.get(&plan_key) else {
                continue;
            };
            let result: model::PlanCheckRunResult = match model::parse(&check.result) {
                Ok(result) => result,
                Err(error) => {
                    self.bad(report, "plan_check_run", &key, &error);
                    continue;
                }
            };
            let version = plan_versions.get(&plan_key).copied().unwrap_or(0);
            let Some((status, results)) = model::check_run(&check.status, &result, version) else {
                continue;
            };
            let print = fingerprint(&(check, version));
            if self.unchanged(kind::CHECK_RUN, &key, print).is_some() {
                continue;
            }
            let local = self.local(tx, kind::CHECK_RUN, &key).await?;
            let (id, changed) =
                mirror::upsert_check_run(tx, local, plan_id, status, &results).await?;
            self.remember(kind::CHECK_RUN, &key, print, id);
            wrote |= changed;
            if local.is_none() {
                mirror::set_row(
                    tx,
                    kind::CHECK_RUN,
                    &check.project,
                    check.id,
                    Some(id),
                    false,
                )
                .await?;
            }
        }
        // People, before the issues whose events name them.
        let stale = self
            .people_read_at
            .map_or(true, |at| at.elapsed() >= self.config.people_every);
        if gathered.new_issue || stale {
            self.read_people(tx, projects, report).await?;
        }
        let (issue_ids, issue_plans, issues_written) = self
            .apply_issues(
                tx,
                projects,
                &gathered.issues,
                &plan_ids,
                &plan_versions,
                report,
            )
            .await?;
        wrote |= issues_written > 0;
        touched.extend(issue_plans);
        let plan_of_task: HashMap<Key, Key> = gathered
            .tasks
            .iter()
            .map(|t| ((t.project.clone(), t.id), (t.project.clone(), t.plan_id)))
            .collect();
        // Task runs, oldest first: a retry's new attempt after the old one.
        for run in &gathered.runs {
            let key = (run.project.clone(), run.id);
            let Some(&task_id) = task_ids.get(&(run.project.clone(), run.task_id)) else {
                continue;
            };
            let result: model::TaskRunResult = match model::parse(&run.result) {
                Ok(result) => result,
                Err(error) => {
                    self.bad(report, "task_run", &key, &error);
                    continue;
                }
            };
            let Some(status) = model::task_run_status(&run.status) else {
                let error = PayloadError {
                    field: "status".into(),
                    detail: format!("unknown task run status {:?}", run.status),
                };
                self.bad(report, "task_run", &key, &error);
                continue;
            };
            let error = (status == "FAILED")
                .then_some(result.detail.as_str())
                .filter(|d| !d.is_empty());
            let print = fingerprint(&(run, task_id));
            if self.unchanged(kind::TASK_RUN, &key, print).is_some() {
                continue;
            }
            let local = self.local(tx, kind::TASK_RUN, &key).await?;
            let (id, changed) = mirror::upsert_task_run(
                tx,
                local,
                &NativeRun {
                    task_id,
                    status,
                    error,
                    started_at: run.started_at,
                    created_at: run.created_at,
                },
            )
            .await?;
            mirror::set_row(
                tx,
                kind::TASK_RUN,
                &run.project,
                run.id,
                Some(id),
                !model::is_terminal_run(&run.status),
            )
            .await?;
            self.remember(kind::TASK_RUN, &key, print, id);
            if let Some(plan) = plan_of_task.get(&(run.project.clone(), run.task_id)) {
                touched.insert(plan.clone());
            }
            wrote |= changed;
        }
        for ((project, task), task_id) in skipped {
            if mirror::local_id(tx, kind::TASK_SKIP, &project, task)
                .await?
                .is_none()
            {
                let (id, changed) = mirror::upsert_task_run(
                    tx,
                    None,
                    &NativeRun {
                        task_id,
                        status: "SKIPPED",
                        error: None,
                        started_at: None,
                        created_at: chrono::Utc::now(),
                    },
                )
                .await?;
                wrote |= changed;
                mirror::set_row(tx, kind::TASK_SKIP, &project, task, Some(id), false).await?;
            }
        }
        for plan in rollouts {
            mirror::record_rollout(tx, plan, BYTEBASE_CREATOR).await?;
        }
        // A plan is followed while it is not deleted and has an open issue
        // or a task not yet done.
        let open_plans: HashSet<Key> = gathered
            .issues
            .iter()
            .filter(|i| i.status == "OPEN")
            .filter_map(|i| i.plan_id.map(|p| (i.project.clone(), p)))
            .collect();
        for (key, id) in &plan_ids {
            if !touched.contains(key) {
                continue;
            }
            let live = !deleted_plans.contains(key)
                && (open_plans.contains(key) || mirror::plan_has_work(tx, *id).await?);
            mirror::set_row(tx, kind::PLAN, &key.0, key.1, Some(*id), live).await?;
        }
        Ok((issue_ids, wrote))
    }

    async fn apply_issues(
        &mut self,
        tx: &mut PgConnection,
        projects: &HashMap<String, i64>,
        issues: &[BbIssue],
        plan_ids: &HashMap<Key, i64>,
        plan_versions: &HashMap<Key, i64>,
        report: &mut PassReport,
    ) -> Result<(HashMap<Key, i64>, HashSet<Key>, usize), FollowError> {
        let mut parsed = Vec::new();
        for issue in issues {
            let key = (issue.project.clone(), issue.id);
            match model::parse::<model::IssuePayload>(&issue.payload) {
                Ok(payload) => parsed.push((issue, key, payload)),
                Err(error) => self.bad(report, "issue", &key, &error),
            }
        }
        let rejected: Vec<Key> = parsed
            .iter()
            .filter(|(i, _, p)| {
                let version = i
                    .plan_id
                    .and_then(|plan| plan_versions.get(&(i.project.clone(), plan)).copied())
                    .unwrap_or(0);
                model::approval(p, version).status == "REJECTED"
            })
            .map(|(_, key, _)| key.clone())
            .collect();
        let mut reasons: HashMap<Key, String> = HashMap::new();
        for (project, id, payload) in self
            .source(self.bytebase.rejection_comments(&rejected))
            .await?
        {
            if let Ok(comment) = model::parse::<model::CommentPayload>(&payload) {
                reasons.insert((project, id), comment.comment);
            }
        }
        let mut ids = HashMap::new();
        let mut touched = HashSet::new();
        let mut written = 0;
        for (issue, key, payload) in parsed {
            let Some(&project_id) = projects.get(&issue.project) else {
                continue;
            };
            let open = issue.status == "OPEN";
            if payload.draft {
                let local = mirror::local_id(tx, kind::ISSUE, &issue.project, issue.id).await?;
                // Announced at submission, not before.
                mirror::set_row(tx, kind::ISSUE, &issue.project, issue.id, local, open).await?;
                continue;
            }
            let plan_key = issue.plan_id.map(|p| (issue.project.clone(), p));
            let version = plan_key
                .as_ref()
                .and_then(|k| plan_versions.get(k).copied())
                .unwrap_or(0);
            let approval = model::approval(&payload, version);
            let reason = reasons.get(&key).map(String::as_str);
            let print = fingerprint(&(issue, version, reason));
            if let Some(id) = self.unchanged(kind::ISSUE, &key, print) {
                ids.insert(key, id);
                continue;
            }
            let local = self.local(tx, kind::ISSUE, &key).await?;
            if approval.status == "REJECTED" && reason.is_none() {
                let since = *self
                    .rejected_since
                    .entry(key.clone())
                    .or_insert_with(Instant::now);
                if since.elapsed() < self.config.reason_grace {
                    // Keep following; write once the reason is there.
                    mirror::set_row(tx, kind::ISSUE, &issue.project, issue.id, local, true).await?;
                    continue;
                }
            } else {
                self.rejected_since.remove(&key);
            }
            let creator_id = mirror::user_by_email(tx, &issue.creator).await?;
            let rejected_by = match approval.rejected_by.as_deref() {
                Some(email) => Some(mirror::user_by_email(tx, email).await?),
                None => None,
            };
            let (id, changed) = mirror::upsert_issue(
                tx,
                local,
                &NativeIssue {
                    project_id,
                    plan_id: plan_key.and_then(|k| plan_ids.get(&k).copied()),
                    title: &issue.name,
                    creator_id,
                    approval_status: approval.status,
                    step_role: approval.step_role.as_deref(),
                    rejected_by,
                    reject_reason: if approval.status == "REJECTED" {
                        reason
                    } else {
                        None
                    },
                    status: &issue.status,
                    labels: &payload.labels,
                    risk_level: Some(payload.risk_level.as_str())
                        .filter(|r| !r.is_empty() && *r != "RISK_LEVEL_UNSPECIFIED"),
                },
            )
            .await?;
            mirror::set_row(tx, kind::ISSUE, &issue.project, issue.id, Some(id), open).await?;
            self.remember(kind::ISSUE, &key, print, id);
            if let Some(plan) = issue.plan_id {
                touched.insert((issue.project.clone(), plan));
            }
            if changed {
                written += 1;
            }
            ids.insert(key, id);
        }
        Ok((ids, touched, written))
    }

    /// Approvers: for each project, the members of each role from the
    /// project's and the workspace's IAM bindings, groups expanded (the
    /// `allUsers` member is not: a role granted to everyone would mention
    /// everyone).
    async fn read_people(
        &mut self,
        tx: &mut PgConnection,
        projects: &HashMap<String, i64>,
        report: &mut PassReport,
    ) -> Result<(), FollowError> {
        let policies = self.source(self.bytebase.iam_policies()).await?;
        let mut workspace: Vec<model::Binding> = Vec::new();
        let mut by_project: HashMap<String, Vec<model::Binding>> = HashMap::new();
        for (resource_type, resource, payload) in policies {
            let policy: model::IamPolicy = match model::parse(&payload) {
                Ok(policy) => policy,
                Err(error) => {
                    self.bad(report, "policy", &(resource.clone(), 0), &error);
                    continue;
                }
            };
            if resource_type == "WORKSPACE" {
                workspace.extend(policy.bindings);
            } else if let Some(project) = resource.strip_prefix("projects/") {
                by_project
                    .entry(project.to_owned())
                    .or_default()
                    .extend(policy.bindings);
            }
        }
        let groups: Vec<String> = workspace
            .iter()
            .chain(by_project.values().flatten())
            .flat_map(|b| b.members.iter())
            .filter_map(|m| m.strip_prefix("groups/"))
            .map(str::to_owned)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut group_members: HashMap<String, Vec<String>> = HashMap::new();
        for (email, payload) in self.source(self.bytebase.groups(&groups)).await? {
            match model::parse::<model::GroupPayload>(&payload) {
                Ok(group) => {
                    group_members.insert(
                        email,
                        group
                            .members
                            .iter()
                            .filter_map(|m| model::user_email(&m.member).map(str::to_owned))
                            .collect(),
                    );
                }
                Err(error) => self.bad(report, "user_group", &(email, 0), &error),
            }
        }
        let expand = |binding: &model::Binding| -> Vec<(String, String)> {
            binding
                .members
                .iter()
                .flat_map(|member| {
                    if let Some(email) = model::user_email(member) {
                        vec![email.to_owned()]
                    } else if let Some(group) = member.strip_prefix("groups/") {
                        group_members.get(group).cloned().unwrap_or_default()
                    } else {
                        Vec::new()
                    }
                })
                .map(|email| (email, binding.role.clone()))
                .collect()
        };
        let workspace_members: Vec<(String, String)> = workspace.iter().flat_map(expand).collect();
        let mut wanted: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for project in projects.keys() {
            let mut members = workspace_members.clone();
            if let Some(bindings) = by_project.get(project) {
                members.extend(bindings.iter().flat_map(expand));
            }
            wanted.insert(project.clone(), members);
        }
        let emails: Vec<String> = wanted
            .values()
            .flatten()
            .map(|(email, _)| email.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut users = HashMap::new();
        for person in self.source(self.bytebase.principals(&emails)).await? {
            let phone = Some(person.phone.as_str()).filter(|p| !p.is_empty());
            let id =
                mirror::upsert_user(tx, &person.email, &person.name, phone, person.deleted).await?;
            users.insert(person.email.clone(), id);
        }
        for (project, members) in wanted {
            let Some(&project_id) = projects.get(&project) else {
                continue;
            };
            let mut rows: Vec<(i64, String)> = members
                .into_iter()
                .filter_map(|(email, role)| users.get(&email).map(|id| (*id, role)))
                .collect();
            rows.sort();
            rows.dedup();
            mirror::set_members(tx, project_id, &rows).await?;
        }
        self.people_read_at = Some(Instant::now());
        Ok(())
    }
}

/// A source row's `(project, id)`.
pub trait HasKey {
    fn key(&self) -> Key;
}

macro_rules! has_key {
    ($($t:ty),*) => {$(
        impl HasKey for $t {
            fn key(&self) -> Key {
                (self.project.clone(), self.id)
            }
        }
    )*};
}
has_key!(BbPlan, BbTask, BbTaskRun, BbIssue);

fn keys(rows: Vec<mirror::SourceRow>) -> Vec<Key> {
    rows.into_iter().map(|r| (r.project, r.source_id)).collect()
}

//! The `DeliveryActor`: one per endpoint this replica holds the lease of.
//!
//! - Owns: the endpoint's queue — the pending outbox rows, sent one at a
//!   time in outbox order (a single drain loop; [`Wake`]s while it runs only
//!   set a flag, so sends never overlap).
//! - Takes: [`Wake`] (new rows, a replay, a re-enable), [`UpdateEndpoint`],
//!   [`Drain`] (start no new attempt; once the one in flight is recorded,
//!   answer [`Drained`] and stop).
//! - Emits: [`LeaseLost`] to the manager when recording shows another
//!   replica took the endpoint over; then it stops. [`Drained`].
//! - An attempt starts only while the lease has room for it and its record
//!   ([`LeaseTiming::may_start`]); the attempt as a whole is bounded by the
//!   request timeout plus an eighth. Each step marks [`Progress`], which
//!   the manager's watchdog reads before renewing the lease.
//! - Strict order: while the head delivery waits for its retry, the rest of
//!   the endpoint's queue waits too. A delivery the platform rejects for
//!   good fails at once; after the last attempt (or past the age limit) it
//!   is `failed` too (replayable), and the queue moves on. What happens
//!   after each attempt is decided by [`verdict::decide`].
//! - Restart: nothing to rebuild — the outbox is the queue.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use tracing::{debug, info, warn};

use crate::delivery::attempt;
use crate::delivery::http::HttpSender;
pub use crate::delivery::lease_clock::{LeaseClock, Progress};
use crate::delivery::ownership::LeaseTiming;
use crate::delivery::pace::Pace;
use crate::delivery::recorder::Recorder;
use crate::delivery::silence_book::SilenceBook;
use crate::delivery::verdict::{self, Decision, FailKind, History};
use crate::delivery::DeliveryConfig;
use crate::endpoint::{redacted_url, Endpoint, Ordering as SendOrder};
use crate::events::Event;
use crate::messages::delivery::{Drain, Drained, LeaseLost, UpdateEndpoint, Wake};
use crate::metrics::Metrics;
use crate::routing::{self, Gate};
use crate::store::outbox::{AttemptRecord, NextStep, PendingDelivery, Recorded};
use crate::store::text::RecordText;
use crate::store::{Store, StoreError};

/// Why a drain loop ended.
enum DrainEnd {
    /// The queue is empty.
    Idle,
    /// The head delivery is not due for this long (database clock).
    Wait(Duration),
    LeaseLost,
    /// Asked to drain: no attempt is in flight any more.
    Drained,
    /// The endpoint is disabled; pending rows wait for a re-enable.
    Disabled(String),
    Store(StoreError),
}

/// The endpoint as last configured, shared by the actor and its drain loop
/// so that a new URL, secret or type applies from the next attempt, even
/// in the middle of a backlog.
#[derive(Clone)]
struct EndpointCell(Arc<RwLock<Arc<Endpoint>>>);

impl EndpointCell {
    fn new(endpoint: Endpoint) -> Self {
        EndpointCell(Arc::new(RwLock::new(Arc::new(endpoint))))
    }

    fn get(&self) -> Arc<Endpoint> {
        match self.0.read() {
            Ok(endpoint) => endpoint.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, endpoint: Endpoint) {
        match self.0.write() {
            Ok(mut current) => *current = Arc::new(endpoint),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(endpoint),
        }
    }
}

/// What herald last wrote of the endpoint's health, so that a success is
/// written only when it changes something (after failures, or first).
const HEALTH_UNKNOWN: u8 = 0;
const HEALTH_CLEAN: u8 = 1;
const HEALTH_FAILING: u8 = 2;

/// What a drain loop needs, cloned out of the actor.
#[derive(Clone)]
struct Sender {
    /// Writes attempt records, batched with other endpoints'.
    recorder: Recorder,
    /// The silences the gate judges by.
    silences: SilenceBook,
    /// The endpoint's rate limit's bucket (None: no limit), made anew,
    /// empty, when the limit changes.
    pace: Arc<std::sync::Mutex<Option<Arc<Pace>>>>,
    /// [`HEALTH_UNKNOWN`], [`HEALTH_CLEAN`] or [`HEALTH_FAILING`].
    health: Arc<AtomicU8>,
    endpoint: EndpointCell,
    /// The endpoint's id (never changes for an actor).
    endpoint_id: Arc<str>,
    owner: String,
    store: Store,
    client: HttpSender,
    config: Arc<DeliveryConfig>,
    metrics: Arc<Metrics>,
    lease: LeaseClock,
    timing: LeaseTiming,
    progress: Progress,
    /// Set by [`Drain`]: start no new attempt.
    draining: Arc<std::sync::atomic::AtomicBool>,
}

impl Sender {
    /// The bucket for the endpoint's current rate limit, if it has one.
    fn pace(&self, endpoint: &Endpoint) -> Option<Arc<Pace>> {
        let limit = endpoint.rate_limit?;
        let mut pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        match &*pace {
            Some(current) if current.limit() == limit => Some(current.clone()),
            _ => {
                let fresh = Arc::new(Pace::new(limit, Instant::now()));
                *pace = Some(fresh.clone());
                Some(fresh)
            }
        }
    }

    fn drain_requested(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether the next attempt may start; `Some` ends the drain loop
    /// instead (drained, the lease gone, or not enough of it left yet:
    /// wait for the next renewal).
    fn before_attempt(&self) -> Option<DrainEnd> {
        if self.drain_requested() {
            return Some(DrainEnd::Drained);
        }
        if !self.lease.is_valid() {
            return Some(DrainEnd::LeaseLost);
        }
        if !self.timing.may_start(self.lease.left()) {
            debug!(event = "delivery.lease_short", endpoint_id = %self.endpoint_id, left_ms = self.lease.left().as_millis() as u64);
            return Some(DrainEnd::Wait(self.timing.renew_every / 4));
        }
        None
    }
}

/// The manager's addresses a delivery actor answers to.
#[derive(Clone)]
pub struct ManagerRecipients {
    pub lease_lost: Recipient<LeaseLost>,
    pub drained: Recipient<Drained>,
}

pub struct DeliveryActor {
    sender: Sender,
    manager: ManagerRecipients,
    draining: bool,
    woken: bool,
    timer: Option<SpawnHandle>,
    /// `delivery.paused` was logged and no drain has got past the check
    /// since: log a state change once, not once per event.
    paused_logged: bool,
    /// Drains in a row that ended on a store error (the retry backs off).
    store_failures: u32,
}

impl DeliveryActor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: Endpoint,
        owner: String,
        store: Store,
        client: HttpSender,
        config: Arc<DeliveryConfig>,
        metrics: Arc<Metrics>,
        lease: LeaseClock,
        progress: Progress,
        manager: ManagerRecipients,
        recorder: Recorder,
        silences: SilenceBook,
    ) -> Self {
        let timing = config.lease_timing();
        DeliveryActor {
            sender: Sender {
                recorder,
                silences,
                pace: Default::default(),
                health: Arc::new(AtomicU8::new(HEALTH_UNKNOWN)),
                endpoint_id: endpoint.id.as_str().into(),
                endpoint: EndpointCell::new(endpoint),
                owner,
                store,
                client,
                config,
                metrics,
                lease,
                timing,
                progress,
                draining: Default::default(),
            },
            manager,
            draining: false,
            woken: false,
            timer: None,
            paused_logged: false,
            store_failures: 0,
        }
    }

    fn start_drain(&mut self, ctx: &mut Context<Self>) {
        if self.draining {
            self.woken = true;
            return;
        }
        self.draining = true;
        self.woken = false;
        // Woken while waiting for the head's due time (a backoff): look at
        // the head alone before reading a batch with its payloads.
        let head_first = self.timer.is_some();
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let sender = self.sender.clone();
        ctx.spawn(
            async move { sender.drain(head_first).await }
                .into_actor(self)
                .map(|end, actor, ctx| actor.drained(end, ctx)),
        );
    }

    /// Asked to drain and nothing in flight: answer and stop.
    fn finish_drain(&mut self, ctx: &mut Context<Self>) {
        self.manager.drained.do_send(Drained {
            endpoint_id: self.sender.endpoint_id.to_string(),
            epoch: self.sender.lease.epoch(),
        });
        ctx.stop();
    }

    fn drained(&mut self, end: DrainEnd, ctx: &mut Context<Self>) {
        self.draining = false;
        let endpoint_id = self.sender.endpoint_id.to_string();
        if self.sender.drain_requested() && !matches!(end, DrainEnd::LeaseLost) {
            return self.finish_drain(ctx);
        }
        if !matches!(end, DrainEnd::Disabled(_)) {
            self.paused_logged = false;
        }
        if !matches!(end, DrainEnd::Store(_)) {
            self.store_failures = 0;
        }
        match end {
            DrainEnd::Idle => {
                if self.woken {
                    self.start_drain(ctx);
                }
            }
            DrainEnd::Wait(wait) => {
                debug!(event = "delivery.waiting", endpoint_id = %endpoint_id, wait_ms = wait.as_millis() as u64);
                self.timer = Some(ctx.run_later(wait, |actor, ctx| {
                    actor.timer = None;
                    actor.start_drain(ctx);
                }));
            }
            DrainEnd::LeaseLost => {
                warn!(event = "lease.lost", endpoint_id = %endpoint_id, "another replica owns this endpoint now; stopping its delivery here");
                self.manager.lease_lost.do_send(LeaseLost {
                    endpoint_id,
                    epoch: self.sender.lease.epoch(),
                });
                ctx.stop();
            }
            // Only while asked to drain (handled above).
            DrainEnd::Drained => self.finish_drain(ctx),
            DrainEnd::Disabled(reason) => {
                if !self.paused_logged {
                    self.paused_logged = true;
                    info!(event = "delivery.paused", endpoint_id = %endpoint_id, reason = %reason, "endpoint is disabled; its deliveries wait until it is enabled");
                }
            }
            DrainEnd::Store(error) => {
                let delay = Duration::from_millis(500)
                    .saturating_mul(2u32.saturating_pow(self.store_failures.min(6)))
                    .min(Duration::from_secs(30));
                self.store_failures = self.store_failures.saturating_add(1);
                warn!(event = "delivery.store_error", endpoint_id = %endpoint_id, error = %error, retry_in_ms = delay.as_millis() as u64, "retrying with backoff");
                self.timer = Some(ctx.run_later(delay, |actor, ctx| {
                    actor.timer = None;
                    actor.start_drain(ctx);
                }));
            }
        }
    }
}

impl Actor for DeliveryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        info!(event = "delivery.started", endpoint_id = %self.sender.endpoint_id);
        self.start_drain(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        info!(event = "delivery.stopped", endpoint_id = %self.sender.endpoint_id);
    }
}

impl Handler<Wake> for DeliveryActor {
    type Result = ();
    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        if self.sender.drain_requested() {
            return;
        }
        self.start_drain(ctx);
    }
}

impl Handler<Drain> for DeliveryActor {
    type Result = ();
    fn handle(&mut self, _: Drain, ctx: &mut Self::Context) {
        self.sender.draining.store(true, Ordering::Release);
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        // A running drain loop stops before its next attempt and answers
        // from `drained`; an idle actor answers now.
        if !self.draining {
            self.finish_drain(ctx);
        }
    }
}

impl Handler<UpdateEndpoint> for DeliveryActor {
    type Result = ();
    fn handle(&mut self, update: UpdateEndpoint, ctx: &mut Self::Context) {
        self.sender.endpoint.set(update.0);
        if !self.sender.drain_requested() {
            self.start_drain(ctx);
        }
    }
}

impl Sender {
    async fn drain(self, head_first: bool) -> DrainEnd {
        match self.endpoint.get().ordering {
            SendOrder::Strict if head_first => {
                let head = self.store.bounded(
                    "reading the head of the queue",
                    self.store.head_due_in(&self.endpoint_id),
                );
                match self.progress.step(head).await {
                    Ok(None) => DrainEnd::Idle,
                    Ok(Some(wait)) if !wait.is_zero() => DrainEnd::Wait(wait),
                    Ok(Some(_)) => self.drain_in_order().await,
                    Err(e) => DrainEnd::Store(e),
                }
            }
            SendOrder::Strict => self.drain_in_order().await,
            unordered => self.drain_unordered(unordered.concurrency()).await,
        }
    }

    /// Before each outbox read: `Some` ends the drain loop (asked to
    /// drain, the endpoint disabled, a store error).
    async fn stop_or_disabled(&self) -> Option<DrainEnd> {
        if self.drain_requested() {
            return Some(DrainEnd::Drained);
        }
        let disabled = self.store.bounded(
            "checking whether the endpoint is disabled",
            self.store.endpoint_disabled(&self.endpoint_id),
        );
        match self.progress.step(disabled).await {
            Ok(Some(reason)) => Some(DrainEnd::Disabled(reason)),
            Ok(None) => None,
            Err(e) => Some(DrainEnd::Store(e)),
        }
    }

    /// `ordering: none`: the due deliveries, up to `concurrency` at once;
    /// a delivery waiting for its retry holds up no other.
    async fn drain_unordered(self, concurrency: usize) -> DrainEnd {
        use futures_util::StreamExt as _;
        let id = &*self.endpoint_id;
        loop {
            if let Some(end) = self.stop_or_disabled().await {
                return end;
            }
            // Rate-limited and no token yet: wait here rather than read
            // deliveries none of which may go.
            if let Some(pace) = self.pace(&self.endpoint.get()) {
                let wait = pace.ready_in(Instant::now());
                if !wait.is_zero() {
                    return DrainEnd::Wait(wait);
                }
            }
            let due = self.store.bounded(
                "reading due deliveries",
                self.store.due_deliveries(id, self.config.batch_size),
            );
            let batch = match self.progress.step(due).await {
                Ok(batch) => batch,
                Err(e) => return DrainEnd::Store(e),
            };
            if batch.is_empty() {
                return match self
                    .store
                    .bounded(
                        "reading when the next delivery is due",
                        self.store.next_due_in(id),
                    )
                    .await
                {
                    Ok(Some(wait)) => DrainEnd::Wait(wait),
                    Ok(None) => DrainEnd::Idle,
                    Err(e) => DrainEnd::Store(e),
                };
            }
            let sender = &self;
            let ends: Vec<Result<Option<DrainEnd>, StoreError>> = futures_util::stream::iter(batch)
                .map(|delivery| async move {
                    if let Some(end) = sender.before_attempt() {
                        return Ok(Some(end));
                    }
                    sender.gate_then_attempt(&delivery).await
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for end in ends {
                match end {
                    // A retry waits on its own row's due time.
                    Ok(None | Some(DrainEnd::Wait(_))) => {}
                    // The rest of the batch was still sent (and recorded).
                    Ok(Some(DrainEnd::Drained)) => return DrainEnd::Drained,
                    Ok(Some(end)) => return end,
                    Err(e) => return DrainEnd::Store(e),
                }
            }
        }
    }

    async fn drain_in_order(self) -> DrainEnd {
        let id = &*self.endpoint_id;
        loop {
            if let Some(end) = self.stop_or_disabled().await {
                return end;
            }
            // Rate-limited and no token yet: no batch to read.
            if let Some(pace) = self.pace(&self.endpoint.get()) {
                let wait = pace.ready_in(Instant::now());
                if !wait.is_zero() {
                    return DrainEnd::Wait(wait);
                }
            }
            let read_at = Instant::now();
            let pending = self.store.bounded(
                "reading pending deliveries",
                self.store.pending_deliveries(id, self.config.batch_size),
            );
            let batch = match self.progress.step(pending).await {
                Ok(batch) => batch,
                Err(e) => return DrainEnd::Store(e),
            };
            if batch.is_empty() {
                return DrainEnd::Idle;
            }
            for delivery in batch {
                // Due times are the database's, measured from the read.
                let elapsed = read_at.elapsed();
                if delivery.due_in > elapsed {
                    return DrainEnd::Wait(delivery.due_in - elapsed);
                }
                if let Some(end) = self.before_attempt() {
                    return end;
                }
                let step = self.progress.step(self.gate_then_attempt(&delivery)).await;
                match step {
                    Ok(None) => {}
                    Ok(Some(end)) => return end,
                    Err(e) => return DrainEnd::Store(e),
                }
            }
        }
    }

    /// One delivery at the head: failed if its event cannot be decoded;
    /// before its first attempt, the gate (filters, silences, mute
    /// windows) may filter, mute or hold it instead; else an attempt.
    /// `Some` ends the drain.
    async fn gate_then_attempt(
        &self,
        delivery: &PendingDelivery,
    ) -> Result<Option<DrainEnd>, StoreError> {
        let event = match &delivery.event {
            Ok(event) => event,
            Err(reason) => return self.fail_undecodable(delivery, reason).await,
        };
        if delivery.gated {
            let endpoint = self.endpoint.get();
            let silences = self
                .store
                .bounded(
                    "reading the silences",
                    self.silences.at(&self.store, delivery.silence_generation),
                )
                .await?;
            // Nothing can filter or mute: no attributes to build.
            if !endpoint.route.is_empty() || !silences.is_empty() {
                let attributes =
                    routing::attributes::of_event(event, &delivery.attributes, &endpoint.id);
                let gate = routing::gate::decide(
                    &endpoint.route,
                    &silences,
                    &attributes,
                    delivery.read_at,
                );
                if gate != Gate::Send {
                    return self.record_gate(delivery, &gate).await;
                }
            }
        }
        // The endpoint's rate limit: the head waits for a token.
        if let Some(pace) = self.pace(&self.endpoint.get()) {
            if let Err(wait) = pace.take(Instant::now()) {
                debug!(event = "delivery.paced", endpoint_id = %self.endpoint_id, wait_ms = wait.as_millis() as u64);
                return Ok(Some(DrainEnd::Wait(wait)));
            }
        }
        self.attempt(delivery, event).await
    }

    /// Write what the gate decided (fenced by the lease, like an attempt).
    async fn record_gate(
        &self,
        delivery: &PendingDelivery,
        gate: &Gate,
    ) -> Result<Option<DrainEnd>, StoreError> {
        let id = &*self.endpoint_id;
        let recorded = self
            .store
            .bounded(
                "recording the gate's decision",
                self.store
                    .record_gate(delivery.id, id, &self.owner, self.lease.epoch(), gate),
            )
            .await?;
        match recorded {
            Recorded::Yes => {}
            Recorded::LeaseLost => return Ok(Some(DrainEnd::LeaseLost)),
            Recorded::NotPending => return Ok(None),
        }
        let state = match gate {
            Gate::Send => return Ok(None),
            Gate::Filtered { matcher } => {
                debug!(event = "delivery.filtered", endpoint_id = %id, delivery_id = delivery.id, event_id = %delivery.event_id, matcher = %matcher);
                "filtered"
            }
            Gate::Muted { by } => {
                info!(event = "delivery.muted", endpoint_id = %id, delivery_id = delivery.id, event_id = %delivery.event_id, muted_by = %by, "not sent (the mute drops); replay it to send it");
                "muted"
            }
            Gate::Held { by, until } => {
                info!(event = "delivery.held", endpoint_id = %id, delivery_id = delivery.id, event_id = %delivery.event_id, muted_by = %by, until = %until.to_rfc3339(), "sent when the mute ends");
                "held"
            }
        };
        self.metrics
            .deliveries
            .with_label_values(&[state, id])
            .inc();
        Ok(None)
    }

    /// A row whose event cannot be decoded: failed with the reason, so the
    /// rows behind it are delivered.
    async fn fail_undecodable(
        &self,
        delivery: &PendingDelivery,
        reason: &str,
    ) -> Result<Option<DrainEnd>, StoreError> {
        let endpoint = self.endpoint.get();
        let error = format!("the event cannot be decoded: {reason}");
        let record = AttemptRecord {
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            event_type: delivery.event_type.clone(),
            endpoint_id: endpoint.id.clone(),
            url: redacted_url(&endpoint.url),
            attempt: delivery.attempts + 1,
            succeeded: false,
            throttled: false,
            http_status: None,
            error: Some(RecordText::error(&error)),
            latency_ms: 0,
            response_excerpt: None,
            started_at: self.now(),
            request_headers: None,
            request_body: None,
        };
        match self.record(record, NextStep::Failed).await {
            Recorded::Yes => {
                self.metrics
                    .deliveries
                    .with_label_values(&["failed", &endpoint.id])
                    .inc();
                warn!(event = "delivery.undecodable", endpoint_id = %endpoint.id, delivery_id = delivery.id, event_id = %delivery.event_id, error = %error, "failed without sending; the endpoint's queue moves on. Fix the event row, then replay the delivery");
                Ok(None)
            }
            Recorded::LeaseLost => Ok(Some(DrainEnd::LeaseLost)),
            Recorded::NotPending => Ok(None),
        }
    }

    /// Write an attempt's record, again and again until it is written or
    /// provably cannot be (the lease is gone): a message whose record
    /// failed is never sent again for that. From the third failure the
    /// record drops the receiver's text (a fallback should that text be
    /// what cannot be written); the outcome itself is always kept.
    async fn record(&self, mut record: AttemptRecord, next: NextStep) -> Recorded {
        let mut delay = Duration::from_millis(50);
        let mut failures = 0u32;
        loop {
            match self
                .recorder
                .record(&self.owner, self.lease.epoch(), record.clone(), next)
                .await
            {
                Ok(recorded) => {
                    if failures > 0 {
                        info!(event = "delivery.record_written", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, failures, "the attempt's record is written after failing; nothing is sent again");
                    }
                    return recorded;
                }
                Err(error) => {
                    failures += 1;
                    if failures == 1 {
                        warn!(event = "delivery.record_retry", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, error = %error, "the attempt's record is written again (the message is not resent)");
                    }
                    if failures == 3 {
                        record.response_excerpt = None;
                        record.request_body = None;
                        record.error = record
                            .error
                            .as_ref()
                            .map(|_| RecordText::error("the error text could not be recorded"));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// herald's wall clock (signatures, the attempt log's start time), with
    /// the configured skew (tests); never used to decide what is due.
    fn now(&self) -> chrono::DateTime<Utc> {
        Utc::now() + self.config.clock_skew
    }

    /// One attempt at the head delivery; `Some` ends the drain.
    async fn attempt(
        &self,
        delivery: &PendingDelivery,
        event: &Arc<Event>,
    ) -> Result<Option<DrainEnd>, StoreError> {
        // The endpoint as configured now: a rotated secret or a new URL
        // applies from this attempt.
        let endpoint = &*self.endpoint.get();
        let attempt = delivery.attempts + 1;
        let started_at = self.now();
        let (outcome, render_error, judged) = attempt::send(
            &self.client,
            self.endpoint.get(),
            event.clone(),
            delivery.recipient.clone(),
            started_at,
            attempt::Limits {
                request: self.config.request_timeout,
                attempt: self.timing.attempt_bound(),
                body: self.config.response_body_limit,
            },
        )
        .await;
        let result = attempt::result(
            outcome.as_ref(),
            render_error.as_deref(),
            judged.as_ref(),
            self.now(),
        );
        let history = History {
            attempts: delivery.attempts.max(0) as u32,
            throttled: delivery.throttled_attempts.max(0) as u32,
            age: delivery.age,
        };
        let decision = if endpoint.retry.is_empty() {
            verdict::decide(endpoint.platform, result, history, &self.config.retry)
        } else {
            let policy = endpoint.retry.apply(&self.config.retry);
            verdict::decide(endpoint.platform, result, history, &policy)
        };
        let next = match &decision {
            Decision::Delivered => NextStep::Delivered,
            Decision::Retry { after, .. } => NextStep::RetryIn(*after),
            Decision::Failed { .. } => NextStep::Failed,
        };
        let latency = outcome.as_ref().map(|o| o.latency).unwrap_or_default();
        let sent = outcome.as_ref().and_then(|o| o.request.as_ref());
        let record = AttemptRecord {
            delivery_id: delivery.id,
            event_id: event.id,
            event_type: event.event_type.clone(),
            endpoint_id: endpoint.id.clone(),
            url: redacted_url(&endpoint.url),
            attempt,
            succeeded: decision == Decision::Delivered,
            throttled: decision.throttled(),
            http_status: outcome.as_ref().and_then(|o| o.status),
            error: decision.error().map(RecordText::error),
            latency_ms: latency.as_millis().min(i32::MAX as u128) as i32,
            response_excerpt: outcome.as_ref().and_then(|o| o.body_excerpt.clone()),
            started_at,
            request_headers: sent.map(|r| r.headers_json()),
            request_body: sent.map(|r| r.body.clone()),
        };
        match self.record(record.clone(), next).await {
            Recorded::Yes => {}
            Recorded::LeaseLost => return Ok(Some(DrainEnd::LeaseLost)),
            // Another replica recorded it after a takeover: ours is not news.
            Recorded::NotPending => return Ok(None),
        }
        self.observe(&record, &decision, latency);
        let (delivered, gone) = match &decision {
            Decision::Delivered => (true, None),
            Decision::Retry { after, .. } => return Ok(Some(DrainEnd::Wait(*after))),
            Decision::Failed {
                kind: FailKind::Gone,
                ..
            } => (
                false,
                Some(RecordText::error("the endpoint answered 410 Gone")),
            ),
            Decision::Failed {
                kind: FailKind::Refused,
                reason,
            } => (
                false,
                Some(RecordText::error(&format!(
                    "destination refused by policy: {reason}"
                ))),
            ),
            Decision::Failed { .. } => (false, None),
        };
        // A success after successes changes nothing: no write.
        if delivered && self.health.load(Ordering::Acquire) == HEALTH_CLEAN {
            return Ok(None);
        }
        let health = self
            .store
            .bounded(
                "updating the endpoint's health",
                self.store.update_endpoint_health(
                    &endpoint.id,
                    delivered,
                    self.config.disable_after,
                    gone.as_ref(),
                ),
            )
            .await?;
        self.health.store(
            if delivered {
                HEALTH_CLEAN
            } else {
                HEALTH_FAILING
            },
            Ordering::Release,
        );
        if health.disabled {
            warn!(
                event = "endpoint.disabled",
                endpoint_id = %endpoint.id,
                consecutive_failures = health.consecutive_failures,
                reason = gone.as_ref().map_or("too many consecutive failed deliveries", RecordText::as_str),
                "re-enable with POST /v1/endpoints/{}/enable once the receiver is fixed; its deliveries wait",
                endpoint.id
            );
            return Ok(Some(DrainEnd::Disabled("disabled after failures".into())));
        }
        Ok(None)
    }

    fn observe(&self, record: &AttemptRecord, decision: &Decision, latency: Duration) {
        let m = &self.metrics;
        let result = if record.succeeded {
            "succeeded"
        } else {
            "failed"
        };
        let endpoint = record.endpoint_id.as_str();
        m.delivery_attempts
            .with_label_values(&[result, endpoint])
            .inc();
        m.delivery_latency.observe(latency.as_secs_f64());
        let error = record.error.as_ref().map_or("", RecordText::as_str);
        match decision {
            Decision::Delivered => {
                m.deliveries
                    .with_label_values(&["delivered", endpoint])
                    .inc();
                debug!(event = "delivery.delivered", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, event_id = %record.event_id, attempt = record.attempt, latency_ms = record.latency_ms);
            }
            Decision::Failed {
                kind: FailKind::Rejected,
                ..
            } => {
                m.deliveries.with_label_values(&["failed", endpoint]).inc();
                warn!(event = "delivery.rejected", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, event_id = %record.event_id, attempt = record.attempt, http_status = record.http_status, error, "the platform refused this message and retrying cannot help; the queue moves on. Replay it with POST /v1/deliveries/{}/replay once the cause is fixed", record.delivery_id);
            }
            Decision::Failed { kind, .. } => {
                m.deliveries.with_label_values(&["failed", endpoint]).inc();
                let why = match kind {
                    FailKind::Expired => "past the age limit",
                    FailKind::Gone => "the endpoint is gone",
                    FailKind::Refused => "the destination is refused by policy",
                    _ => "no attempts left",
                };
                warn!(event = "delivery.failed", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, event_id = %record.event_id, attempt = record.attempt, http_status = record.http_status, error, "{why}; replay it with POST /v1/deliveries/{}/replay", record.delivery_id);
            }
            Decision::Retry {
                after,
                throttled: true,
                ..
            } => {
                info!(event = "attempt.throttled", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, event_id = %record.event_id, attempt = record.attempt, http_status = record.http_status, error, retry_in_ms = after.as_millis() as u64);
            }
            Decision::Retry { after, .. } => {
                info!(event = "attempt.failed", endpoint_id = %record.endpoint_id, delivery_id = record.delivery_id, event_id = %record.event_id, attempt = record.attempt, http_status = record.http_status, error, retry_in_ms = after.as_millis() as u64);
            }
        }
    }
}

impl Handler<crate::messages::StopActor> for DeliveryActor {
    type Result = ();
    fn handle(&mut self, _: crate::messages::StopActor, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

//! Group commit of attempt records across endpoints: one recorder per
//! replica takes the records of every delivery actor and writes whatever
//! has queued up in one statement (`Store::record_attempts`: one commit,
//! one WAL flush), answering each record on its own.
//!
//! No waiting window: a lone record is written at once; under load the
//! records that arrive while a batch is being written form the next batch.
//! Each delivery actor waits for its own answer before its next send, so
//! the crash bound stays "at most the one message in flight per endpoint",
//! with synchronous records.
//!
//! A batch that fails is written again record by record, so one record
//! that cannot be written fails alone. The recorder has its own
//! connections (the `Store` it is started with), so it never waits behind
//! the shared pool.

use tokio::sync::{mpsc, oneshot};
use tracing::warn;

use crate::store::outbox::{AttemptRecord, NextStep, Recorded};
use crate::store::records::FencedRecord;
use crate::store::{Store, StoreError};

/// Most records written by one statement.
pub const MAX_BATCH: usize = 512;

struct Job {
    record: FencedRecord,
    reply: oneshot::Sender<Result<Recorded, String>>,
}

/// A handle on the replica's recorder. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::Sender<Job>,
}

impl Recorder {
    /// Start the recorder on the current actix system.
    pub fn start(store: Store) -> Recorder {
        let (jobs, queue) = mpsc::channel(4 * MAX_BATCH);
        actix_rt::spawn(run(store, queue));
        Recorder { jobs }
    }

    /// Record one attempt under `owner`'s lease of `epoch`; resolves when
    /// its batch has committed.
    pub async fn record(
        &self,
        owner: &str,
        epoch: i64,
        record: AttemptRecord,
        next: NextStep,
    ) -> Result<Recorded, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            record: FencedRecord {
                owner: owner.to_owned(),
                epoch,
                record,
                next,
            },
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Setup("the recorder has stopped".into()))?;
        match answer.await {
            Ok(Ok(recorded)) => Ok(recorded),
            Ok(Err(error)) => Err(StoreError::Setup(format!("recording failed: {error}"))),
            Err(_) => Err(StoreError::Setup("the recorder has stopped".into())),
        }
    }
}

async fn run(store: Store, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (batch, replies): (Vec<FencedRecord>, Vec<_>) =
            jobs.into_iter().map(|j| (j.record, j.reply)).unzip();
        let failure = match store
            .bounded("recording attempts", store.record_attempts(&batch))
            .await
        {
            Ok(answers) if answers.len() == replies.len() => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
                continue;
            }
            Ok(answers) => format!("{} answers for {} records", answers.len(), batch.len()),
            Err(error) => error.to_string(),
        };
        // One bad record must not fail the others: each is written alone,
        // and only the ones that fail alone are answered with an error
        // (their actors write them again; they never resend for it).
        warn!(event = "delivery.record_failed", records = batch.len(), error = %failure, "writing the batch's records one by one");
        for (record, reply) in batch.into_iter().zip(replies) {
            let answer = match store
                .bounded(
                    "recording an attempt",
                    store.record_attempts(std::slice::from_ref(&record)),
                )
                .await
            {
                Ok(mut answers) if answers.len() == 1 => answers.pop().ok_or_else(String::new),
                Ok(answers) => Err(format!("{} answers for 1 record", answers.len())),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = &answer {
                warn!(event = "delivery.record_failed", records = 1, delivery_id = record.record.delivery_id, endpoint_id = %record.record.endpoint_id, error = %error, "its delivery actor writes it again");
            }
            let _ = reply.send(answer);
        }
    }
}

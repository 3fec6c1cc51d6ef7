//! Group commit of callbacks.
//!
//! Callbacks that arrive together are written together: a writer takes every callback waiting in the queue
//! (up to [`MAX_BATCH`]), records and decides each exactly as alone ([`Store::record_callbacks`], the same
//! rules as `record_callback`), commits ONE transaction, and only then answers each waiting request. No
//! callback is answered before the commit that holds it. There is no wait window: a lone callback is
//! written at once, and under load the batch is whatever queued up during the previous commit.
//!
//! When a batch fails (for instance a PostgreSQL deadlock between two batches), nothing of it was committed,
//! and its callbacks are retried one by one, each in its own transaction, so one bad callback fails alone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::store::{Applied, CallbackIn, Store, StoreError};

/// The most callbacks in one transaction (`LIPA_INGEST_MAX_BATCH` lowers it; 1 turns group commit off,
/// which is how BENCHMARKS.md measures the "before").
pub const MAX_BATCH: usize = 256;

fn max_batch() -> usize {
    std::env::var("LIPA_INGEST_MAX_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=MAX_BATCH).contains(n))
        .unwrap_or(MAX_BATCH)
}

type Reply<O> = oneshot::Sender<Result<O, StoreError>>;

/// A unit of work's batch function: all of `jobs` in one transaction (all or none), one answer per job.
#[async_trait::async_trait]
pub trait BatchWork: Send + Sync + 'static {
    type In: Send + Sync + 'static;
    type Out: Send + 'static;
    async fn batch(&self, jobs: &[Self::In]) -> Result<Vec<Self::Out>, StoreError>;
    /// One job alone, in its own transaction (after its batch failed): by default a batch of one.
    async fn one(&self, job: &Self::In) -> Result<Self::Out, StoreError> {
        let mut out = self.batch(std::slice::from_ref(job)).await?;
        out.pop().ok_or_else(|| StoreError::Corrupt("a batch of one gave no answer".into()))
    }
}

/// A queue in front of group-commit writers for the work `W`. Cheap to clone.
pub struct GroupCommit<W: BatchWork> {
    queue: mpsc::Sender<(W::In, Reply<W::Out>)>,
}

impl<W: BatchWork> Clone for GroupCommit<W> {
    fn clone(&self) -> Self {
        GroupCommit { queue: self.queue.clone() }
    }
}

type Rx<W> = Arc<Mutex<mpsc::Receiver<(<W as BatchWork>::In, Reply<<W as BatchWork>::Out>)>>>;

impl<W: BatchWork> GroupCommit<W> {
    /// Start `writers` writer tasks (a few for PostgreSQL, whose batches commit in parallel). They stop when
    /// every handle is gone.
    pub fn start(work: Arc<W>, writers: usize) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        let max = max_batch();
        let writers = std::env::var("LIPA_INGEST_WRITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(writers);
        for _ in 0..writers.clamp(1, 64) {
            tokio::spawn(writer(work.clone(), rx.clone(), max));
        }
        GroupCommit { queue }
    }

    /// Start the one writer on a thread of its own (SQLite). A batch is several round trips to SQLite's
    /// worker thread; a writer task on the shared runtime waits, after each, behind whatever HTTP work is
    /// queued (measured: about 0.4 ms per round trip at 32 connections), while a thread of its own is
    /// woken directly. The thread ends when every handle is gone.
    pub fn start_dedicated(work: Arc<W>, name: &str) -> std::io::Result<Self> {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        let max = max_batch();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new().name(name.into()).spawn(move || runtime.block_on(writer(work, rx, max)))?;
        Ok(GroupCommit { queue })
    }

    /// Queue a job; returns once the transaction holding it has committed.
    pub async fn record(&self, job: W::In) -> Result<W::Out, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?;
        answer.await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }
}

/// STK callbacks: [`Store::record_callbacks`].
pub struct Callbacks(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl BatchWork for Callbacks {
    type In = CallbackIn;
    type Out = Applied;
    async fn batch(&self, jobs: &[CallbackIn]) -> Result<Vec<Applied>, StoreError> {
        self.0.record_callbacks(jobs).await
    }
    async fn one(&self, c: &CallbackIn) -> Result<Applied, StoreError> {
        self.0.record_callback(c.secret.as_str(), &c.raw_body, c.outcome.as_ref(), c.now).await
    }
}

/// The queue in front of the callback writers.
pub type Ingest = GroupCommit<Callbacks>;

impl GroupCommit<Callbacks> {
    /// Start the STK callback writers (see [`GroupCommit::start`]).
    pub fn start_callbacks(store: Arc<dyn Store>, writers: usize) -> Ingest {
        GroupCommit::start(Arc::new(Callbacks(store)), writers)
    }

    /// Start the STK callback writer on a thread of its own (see [`GroupCommit::start_dedicated`]).
    pub fn start_callbacks_dedicated(store: Arc<dyn Store>) -> std::io::Result<Ingest> {
        GroupCommit::start_dedicated(Arc::new(Callbacks(store)), "lipa-ingest")
    }
}

async fn writer<W: BatchWork>(work: Arc<W>, rx: Rx<W>, max: usize) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let (jobs, replies): (Vec<W::In>, Vec<Reply<W::Out>>) = batch.into_iter().unzip();
        match work.batch(&jobs).await {
            Ok(applied) => {
                for (reply, a) in replies.into_iter().zip(applied) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) if jobs.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = jobs.len(), "a batch failed; retrying its items one by one");
                for (job, reply) in jobs.iter().zip(replies) {
                    let _ = reply.send(work.one(job).await);
                }
            }
        }
    }
}

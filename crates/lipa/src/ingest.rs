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

type Reply = oneshot::Sender<Result<Applied, StoreError>>;

/// The queue in front of the callback writers. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<(CallbackIn, Reply)>,
}

impl Ingest {
    /// Start `writers` writer tasks (a few for PostgreSQL, whose batches commit in parallel). They stop when
    /// every `Ingest` handle is gone.
    pub fn start(store: Arc<dyn Store>, writers: usize) -> Ingest {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        let max = max_batch();
        let writers = std::env::var("LIPA_INGEST_WRITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(writers);
        for _ in 0..writers.clamp(1, 64) {
            tokio::spawn(writer(store.clone(), rx.clone(), max));
        }
        Ingest { queue }
    }

    /// Start the one writer on a thread of its own (SQLite). A batch is several round trips to SQLite's
    /// worker thread; a writer task on the shared runtime waits, after each, behind whatever HTTP work is
    /// queued (measured: about 0.4 ms per round trip at 32 connections), while a thread of its own is
    /// woken directly. The thread ends when every `Ingest` handle is gone.
    pub fn start_dedicated(store: Arc<dyn Store>) -> std::io::Result<Ingest> {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        let rx = Arc::new(Mutex::new(rx));
        let max = max_batch();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::Builder::new()
            .name("lipa-ingest".into())
            .spawn(move || runtime.block_on(writer(store, rx, max)))?;
        Ok(Ingest { queue })
    }

    /// Record a callback durably and apply it; returns once its transaction has committed.
    pub async fn record(&self, callback: CallbackIn) -> Result<Applied, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((callback, reply)).await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?;
        answer.await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }
}

async fn writer(store: Arc<dyn Store>, rx: Arc<Mutex<mpsc::Receiver<(CallbackIn, Reply)>>>, max: usize) {
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
        let (callbacks, replies): (Vec<CallbackIn>, Vec<Reply>) = batch.into_iter().unzip();
        match store.record_callbacks(&callbacks).await {
            Ok(applied) => {
                for (reply, a) in replies.into_iter().zip(applied) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) if callbacks.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = callbacks.len(), "a callback batch failed; retrying its callbacks one by one");
                for (c, reply) in callbacks.into_iter().zip(replies) {
                    let r = store.record_callback(&c.secret, &c.raw_body, c.outcome.as_ref(), c.now).await;
                    let _ = reply.send(r);
                }
            }
        }
    }
}

//! Group commit of money-out answers (results, queue timeouts, Transaction Status answers, balance reads):
//! answers that arrive together are kept and decided in ONE transaction, and each request is answered only
//! once the transaction holding it has committed — the same scheme as `ingest` for STK callbacks. A batch
//! that fails is retried answer by answer, so one bad answer fails alone.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::store::money_out::{ResultApplied, ResultIn};
use crate::store::{Store, StoreError};

/// The most answers in one transaction.
pub const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<ResultApplied, StoreError>>;
type Queue = Arc<Mutex<mpsc::Receiver<(ResultIn, Reply)>>>;

/// The queue in front of the answer writer. Cheap to clone.
#[derive(Clone)]
pub struct ResultQueue {
    queue: mpsc::Sender<(ResultIn, Reply)>,
}

impl ResultQueue {
    /// Start the writer task; it stops when every handle is gone.
    pub fn start(store: Arc<dyn Store>) -> ResultQueue {
        let (queue, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(store, Arc::new(Mutex::new(rx))));
        ResultQueue { queue }
    }

    /// Keep an answer durably and apply it; returns once its transaction has committed.
    pub async fn record(&self, answer: ResultIn) -> Result<ResultApplied, StoreError> {
        let (reply, done) = oneshot::channel();
        self.queue.send((answer, reply)).await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?;
        done.await.map_err(|_| StoreError::Db(sqlx::Error::PoolClosed))?
    }
}

async fn writer(store: Arc<dyn Store>, rx: Queue) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            match rx.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let (answers, replies): (Vec<ResultIn>, Vec<Reply>) = batch.into_iter().unzip();
        match store.record_money_out_results(&answers).await {
            Ok(applied) => {
                for (reply, a) in replies.into_iter().zip(applied) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) if answers.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = answers.len(), "a money-out answer batch failed; retrying one by one");
                for (a, reply) in answers.into_iter().zip(replies) {
                    let r = store.record_money_out_results(std::slice::from_ref(&a)).await;
                    let _ = reply.send(r.map(|mut v| v.pop().unwrap_or_default()));
                }
            }
        }
    }
}

//! Group commit of money-out answers (results, queue timeouts, Transaction Status answers, balance reads):
//! the same queue as STK callbacks and C2B confirmations (`ingest::GroupCommit`) — answers that arrive together
//! are kept and decided in ONE transaction, each request is answered only once its transaction has committed,
//! and a batch that fails is retried answer by answer, so one bad answer fails alone.

use std::sync::Arc;

use crate::ingest::{BatchWork, GroupCommit};
use crate::store::money_out::{ResultApplied, ResultIn};
use crate::store::{Store, StoreError};

/// The store's side of the queue.
pub struct Results(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl BatchWork for Results {
    type In = ResultIn;
    type Out = ResultApplied;
    async fn batch(&self, jobs: &[ResultIn]) -> Result<Vec<ResultApplied>, StoreError> {
        self.0.record_money_out_results(jobs).await
    }
}

/// The queue in front of the answer writer. Cheap to clone.
pub type ResultQueue = GroupCommit<Results>;

/// Start the one writer task; it stops when every handle is gone.
pub fn start(store: Arc<dyn Store>) -> ResultQueue {
    GroupCommit::start(Arc::new(Results(store)), 1)
}

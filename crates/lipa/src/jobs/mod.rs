//! Background work. Each job claims what is due from the store (with a lease, so several instances can run
//! it), does it, and writes the result back.

pub mod money_out;
pub mod reconcile;
pub mod upkeep;
pub mod webhooks;

use std::future::Future;

use tokio::sync::watch;

use crate::app::AppState;

/// Run `pass` until `stop`: again at once when it claimed a whole `batch` (more may be due right now),
/// otherwise after the worker tick (`LIPA_WORKER_TICK`). A pass that fails is logged as `{what} pass failed`
/// and tried again after the tick.
async fn run_passes<F, Fut>(state: &AppState, mut stop: watch::Receiver<bool>, batch: i64, what: &str, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    loop {
        match pass().await {
            Ok(n) if n as i64 == batch => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "{what} pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(state.cfg.worker_tick) => {}
            _ = stop.changed() => return,
        }
    }
}

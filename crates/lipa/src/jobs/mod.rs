//! Background work. Each job claims what is due from the store (with a lease, so several instances can run
//! it), does it, and writes the result back.

pub mod money_out;
pub mod reconcile;
pub mod upkeep;
pub mod webhooks;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::app::AppState;

/// How long claimed work is ours before another worker may take it over: longer than a check or a webhook
/// attempt can take (`webhooks::TIMEOUT`), so live work never loses its row.
const LEASE: Duration = Duration::from_secs(60);
/// The most rows one pass claims.
const BATCH: i64 = 32;

/// The end of the lease of what is claimed at `now` (Unix ms).
fn lease_until(now: i64) -> i64 {
    now + LEASE.as_millis() as i64
}

/// The wait before the next check after `attempts` checks: `LIPA_RECONCILE_AFTER` (at least 1 s), doubled
/// per attempt, at most `max`.
fn backoff(state: &AppState, attempts: i64, max: Duration) -> Duration {
    let base = state.cfg.reconcile_after.max(Duration::from_secs(1));
    base.saturating_mul(1u32 << attempts.clamp(0, 10) as u32).min(max)
}

/// Run `pass` until `stop`: again at once when it claimed a whole [`BATCH`] (more may be due right now),
/// otherwise after the worker tick (`LIPA_WORKER_TICK`). A pass that fails is logged as `{what} pass failed`
/// and tried again after the tick.
async fn run_passes<F, Fut>(state: &AppState, mut stop: watch::Receiver<bool>, what: &str, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    loop {
        match pass().await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "{what} pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(state.cfg.worker_tick) => {}
            _ = stop.changed() => return,
        }
    }
}

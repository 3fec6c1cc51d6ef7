//! Upkeep: what keeps the database from growing without bound, every [`EVERY`] (and once at start).
//!
//! - expired admin sessions are deleted;
//! - raw callback bodies older than `LIPA_CALLBACK_RETENTION` (default 90 days) are deleted: a payment's
//!   callback keeps its line in the history (what it said was applied to the payment long ago), the body
//!   goes; a callback for an unknown secret goes altogether.
//!
//! Every instance may run it: each step is an idempotent delete, a few thousand rows at a time.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::{now_ms, AppState};

/// How often upkeep runs.
pub const EVERY: Duration = Duration::from_secs(600);
/// Rows per statement, and statements per run (the rest waits for the next run).
const CHUNK: i64 = 2000;
const MAX_CHUNKS: usize = 50;

pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = sweep(&state, now_ms()).await {
            tracing::warn!(error = %e, "upkeep pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub callback_bodies: u64,
}

/// One pass, as of `now` (Unix ms).
pub async fn sweep(state: &AppState, now: i64) -> anyhow::Result<Swept> {
    let mut out = Swept { sessions: state.store.delete_admin_sessions(Some(now)).await?, ..Swept::default() };
    if let Some(keep) = state.cfg.hardening.callback_retention {
        let before = now.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
        for _ in 0..MAX_CHUNKS {
            let n = state.store.expire_callback_bodies(before, CHUNK).await?;
            out.callback_bodies += n;
            if n < CHUNK as u64 {
                break;
            }
        }
    }
    if out != Swept::default() {
        tracing::info!(sessions = out.sessions, callback_bodies = out.callback_bodies, "upkeep: expired data deleted");
    }
    Ok(out)
}

//! Reconciliation of money out: no payout or refund stays `pending` forever.
//!
//! Due rows are claimed with a lease (PostgreSQL: `SKIP LOCKED`), so several instances never work on the
//! same one. A B2C request not known to have reached Daraja is sent again — safe, because its
//! OriginatorConversationID makes a second copy a refused duplicate. A reversal is never sent again. A
//! request Daraja accepted whose result has not come is asked about with Transaction Status, with backoff.
//! Past `LIPA_PENDING_MAX_AGE` with no answer, it goes to `needs_review`.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::{now_ms, AppState};
use crate::domain::money_out::{give_up, Method, MoneyOut, SendState};
use crate::money_out::send;

const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let state = &state;
    super::run_passes(state, stop, "money-out reconciliation", move || run_once(state)).await
}

/// One pass: claim what is due and check it. Returns how many rows were claimed.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    if state.money_out.initiator.is_none() {
        return Ok(0);
    }
    let now = now_ms();
    let due = state.store.claim_due_money_out(now, super::lease_until(now), super::BATCH).await?;
    let n = due.len();
    let checks = due.into_iter().map(|m| {
        let state = state.clone();
        async move {
            let id = m.id.clone();
            if let Err(e) = check(&state, m).await {
                tracing::error!(id = %id, error = ?e, "money-out check failed");
            }
        }
    });
    futures::future::join_all(checks).await;
    Ok(n)
}

fn backoff(state: &AppState, attempts: i64) -> i64 {
    super::backoff(state, attempts, MAX_BACKOFF).as_millis() as i64
}

async fn check(state: &AppState, m: MoneyOut) -> Result<(), crate::error::ApiError> {
    let now = now_ms();
    let too_old = now - m.created_at > state.cfg.pending_max_age.as_millis() as i64;
    if too_old {
        let why = match m.send_state {
            SendState::Accepted => "no result came, and Transaction Status did not settle it",
            SendState::Sending => "the reversal may have been sent, and no answer came",
            SendState::Queued => "Daraja never confirmed taking the request",
        };
        tracing::warn!(id = %m.id, why, "money out unsettled: needs review");
        state.store.money_out_change(&m.id, &give_up(&m, why), now).await?;
        return Ok(());
    }
    match (m.send_state, m.draft.method) {
        // Not known to have reached Daraja: a B2C resend is refused if the first one got there.
        (SendState::Queued, _) | (SendState::Sending, Method::B2c) => {
            send::send(state, m).await?;
        }
        // A reversal that may have gone out has no id of ours to ask about: its result may still come.
        (SendState::Sending, Method::Reversal) => {
            state.store.money_out_retry_at(&m.id, now + backoff(state, m.check_attempts), true, now).await?;
        }
        (SendState::Accepted, _) => {
            send::ask_status(state, &m).await?;
            state.store.money_out_retry_at(&m.id, now + backoff(state, m.check_attempts), true, now).await?;
        }
    }
    Ok(())
}

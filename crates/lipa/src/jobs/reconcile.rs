//! Reconciliation: no payment stays `pending` forever.
//!
//! A pending payment whose callback has not come after `LIPA_RECONCILE_AFTER` is asked about with STK Query,
//! again and again with backoff while Daraja says "being processed". A final answer settles it. Past
//! `LIPA_PENDING_MAX_AGE` with no answer it goes to `needs_review`. A push whose fate is unknown has no
//! CheckoutRequestID to ask about: its callback (which reaches its own secret URL) may still settle it;
//! otherwise it too goes to `needs_review` — it is never pushed again.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::{now_ms, AppState};
use crate::domain::{Outcome, Payment, PushState, Source};
use crate::payments::query_outcome;

const MAX_BACKOFF: Duration = Duration::from_secs(120);

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let state = &state;
    super::run_passes(state, stop, "reconciliation", move || run_once(state)).await
}

/// One pass: claim what is due and check it. Returns how many payments were claimed.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let now = now_ms();
    let due = state.store.claim_due_checks(now, super::lease_until(now), super::BATCH).await?;
    let n = due.len();
    let checks = due.into_iter().map(|p| {
        let state = state.clone();
        async move {
            let id = p.id.clone();
            if let Err(e) = check(&state, p).await {
                tracing::error!(payment_id = %id, error = %e, "reconciliation check failed");
            }
        }
    });
    futures::future::join_all(checks).await;
    Ok(n)
}

async fn check(state: &AppState, p: Payment) -> anyhow::Result<()> {
    let now = now_ms();
    let deadline = p.created_at + state.cfg.pending_max_age.as_millis() as i64;
    let expired = now >= deadline;
    let p = &p;
    let settle = |outcome: Outcome| async move {
        let applied = state.store.apply_outcome(&p.id, Source::Timer, &outcome, now).await?;
        if let Some(d) = applied.decision {
            tracing::info!(payment_id = %p.id, status = d.status.as_str(), "reconciliation settled the payment");
            state.metrics.settled("timer", p.created_at);
        }
        anyhow::Ok(())
    };
    let later = |note: String| async move {
        let next = (now + super::backoff(state, p.check_attempts, MAX_BACKOFF).as_millis() as i64)
            .min(deadline.max(now + 1000));
        state.store.reschedule_check(&p.id, next, &note, now).await?;
        anyhow::Ok(())
    };
    match (p.push_state, p.checkout_request_id.as_deref()) {
        (PushState::AwaitingPhone, _) => {
            if expired {
                settle(Outcome::Abandoned).await
            } else {
                later("waiting for the customer to enter a phone number".into()).await
            }
        }
        (PushState::Accepted, Some(checkout)) | (PushState::Unknown | PushState::Sending, Some(checkout)) => {
            let answer = state.daraja.stk_query(checkout).await;
            if let Err(e) = &answer {
                state.metrics.daraja_error("query", e);
            }
            match answer {
                Ok(daraja::StkQueryStatus::Final { result_code, result_desc, .. }) => {
                    state
                        .store
                        .append_log(&p.id, "query", &format!("final: {} {}", result_code.as_str(), result_desc), now)
                        .await?;
                    let outcome = query_outcome(checkout, &result_code, &result_desc);
                    let applied = state.store.apply_outcome(&p.id, Source::Query, &outcome, now).await?;
                    if let Some(d) = applied.decision {
                        tracing::info!(payment_id = %p.id, status = d.status.as_str(), "STK Query settled the payment");
                        state.metrics.settled("query", p.created_at);
                    }
                    Ok(())
                }
                Ok(_) if expired => {
                    settle(Outcome::Unresolved { why: "still \"being processed\" at LIPA_PENDING_MAX_AGE".into() })
                        .await
                }
                Ok(_) => later("STK Query: the transaction is being processed".into()).await,
                Err(e) if expired => {
                    settle(Outcome::Unresolved {
                        why: format!("no final answer by LIPA_PENDING_MAX_AGE (last query: {e})"),
                    })
                    .await
                }
                Err(e) => later(format!("STK Query failed: {e}")).await,
            }
        }
        (_, _) if expired => {
            settle(Outcome::Unresolved {
                why: "the push's outcome is unknown and no callback came by LIPA_PENDING_MAX_AGE".into(),
            })
            .await
        }
        (_, _) => later("push outcome unknown: waiting for a callback".into()).await,
    }
}

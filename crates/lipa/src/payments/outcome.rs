//! Daraja's answers as domain outcomes: an STK callback (kept raw, group-committed, then applied) and an
//! STK Query's final answer.

use super::PaymentError;
use crate::app::{now_ms, AppState};
use crate::domain::{Outcome, PaymentStatus};
use crate::store::CallbackIn;

/// What became of a callback, as the metrics name it.
pub type CallbackResult = &'static str;

/// Keep a callback for the payment whose secret is in its URL and apply what it says. Returns once the
/// transaction holding it has committed (group commit, `ingest`): only then may Daraja be answered.
/// `applied`, `no_change`, `unparseable` or `unknown_secret`.
pub async fn record_callback(state: &AppState, secret: String, body: &[u8]) -> Result<CallbackResult, PaymentError> {
    let mut outcome = callback_outcome(body);
    if state.cfg.security.confirm_success_by_query {
        outcome = outcome.map(Outcome::to_confirm);
    }
    let applied = state
        .ingest
        .record(CallbackIn { secret: secret.into(), raw_body: body.to_vec(), outcome: outcome.clone(), now: now_ms() })
        .await?;
    Ok(match (&applied.payment, &applied.decision) {
        (Some(p), Some(d)) => {
            tracing::info!(payment_id = %p.id, status = d.status.as_str(), "callback settled the payment");
            if d.status != PaymentStatus::Pending {
                state.metrics.settled("callback", p.created_at);
            }
            "applied"
        }
        (Some(p), None) => {
            tracing::info!(payment_id = %p.id, "callback recorded (no change)");
            if outcome.is_some() {
                "no_change"
            } else {
                "unparseable"
            }
        }
        (None, _) => {
            // Strangers can send these by the thousand: one line a second at most.
            if let Some(skipped) = state.limits.quiet.allow("unknown_secret") {
                tracing::warn!(skipped, "callback for an unknown secret recorded (kept truncated; see README)");
            }
            "unknown_secret"
        }
    })
}

/// Read a callback body; `None` when it is not an STK callback at all (it is still kept).
pub fn callback_outcome(body: &[u8]) -> Option<Outcome> {
    let cb = daraja::callback::StkCallback::from_slice(body).ok()?;
    // 4999 and the like: "still processing" is news, not an answer; STK Query settles it later.
    if !cb.is_final() {
        return None;
    }
    // The body is kept as sent; the text taken from it loses any NUL (PostgreSQL text cannot hold one).
    let clean = |s: String| if s.contains('\0') { s.replace('\0', "") } else { s };
    Some(match cb.outcome {
        daraja::callback::CallbackOutcome::Success(d) => Outcome::Succeeded {
            checkout_request_id: Some(clean(cb.checkout_request_id)),
            receipt: d.receipt.map(clean),
            amount: d.amount,
            phone: d.phone.map(clean),
            result_desc: clean(cb.result_desc),
        },
        daraja::callback::CallbackOutcome::Failure { code, description, reason } => Outcome::Failed {
            checkout_request_id: Some(clean(cb.checkout_request_id)),
            result_code: clean(code.as_str().to_string()),
            result_desc: clean(description),
            reason,
        },
    })
}

/// An STK Query's final answer as an outcome.
pub fn query_outcome(checkout_request_id: &str, code: &daraja::ResultCode, desc: &str) -> Outcome {
    if code.is_success() {
        Outcome::Succeeded {
            checkout_request_id: Some(checkout_request_id.to_string()),
            receipt: None,
            amount: None,
            phone: None,
            result_desc: desc.to_string(),
        }
    } else {
        Outcome::Failed {
            checkout_request_id: Some(checkout_request_id.to_string()),
            result_code: code.as_str().to_string(),
            result_desc: desc.to_string(),
            reason: code.reason(),
        }
    }
}

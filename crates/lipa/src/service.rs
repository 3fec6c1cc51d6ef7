//! The work between routes and the store that talks to Daraja: sending a push and turning Daraja's
//! answers into domain outcomes.

use std::time::Duration;

use crate::app::{now_ms, AppState};
use crate::domain::{account_reference, Outcome, Payment, PushFields, PushState, PushTarget, Source};
use crate::error::ApiError;
use crate::store::{Created, NewPayment, StoreError};

/// How often a push refused before processing (spike arrest, connection refused) is tried again. Only
/// those: anything that may have reached the phone is never sent twice.
const PUSH_TRIES: u32 = 3;

/// How many account references are tried for one payment before giving up (each is another code).
const ACCOUNT_REFERENCE_TRIES: u32 = 8;

/// Store a new payment with an account reference (`AccountReference` for Daraja, the paybill account
/// number) derived from its reference with the configured length, trying another one while a pending payment
/// holds it. The database decides who holds what (a partial unique index), so two instances never hand out
/// the same one.
pub async fn create_payment(state: &AppState, mut new: NewPayment) -> Result<Created, StoreError> {
    let mut attempt = 0;
    loop {
        new.payment.account_reference = account_reference(&new.payment.reference, state.cfg.reference_max_len, attempt);
        match state.store.create_payment(new.clone()).await {
            Err(StoreError::AccountReferenceTaken) if attempt + 1 < ACCOUNT_REFERENCE_TRIES => attempt += 1,
            Ok(Created::Replay { payment, same_request }) => {
                let payment = replayed(state, payment).await?;
                return Ok(Created::Replay { payment, same_request });
            }
            other => return other,
        }
    }
}

/// How long a reused idempotency key waits for the first request's push to leave `sending`.
const REPLAY_WAIT: Duration = Duration::from_secs(5);

/// The answer for a reused idempotency key: the payment it made, once its push has left `sending` (a racing
/// twin waits for the first request's answer rather than inventing its own). The wait is short: the first
/// request may have died with its instance, and then the payment stays as it is (its push is never sent
/// again; reconciliation settles it).
async fn replayed(state: &AppState, mut payment: Payment) -> Result<Payment, StoreError> {
    let deadline = std::time::Instant::now() + REPLAY_WAIT;
    while payment.push_state == PushState::Sending && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        payment = state.store.get_payment(&payment.id).await?.ok_or(StoreError::NotFound)?;
    }
    Ok(payment)
}

/// Send the STK push of a payment in `sending` and record what became of it. Its phone, amount and
/// account reference are read back from the payment; [`send_push_with`] takes phone and amount as validated.
pub async fn send_push(state: &AppState, p: Payment) -> Result<Payment, ApiError> {
    let fields = PushFields::of(&p, state.cfg.reference_max_len)
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::Internal(format!("payment {} has no phone to push to", p.id)))?;
    push(state, p, fields).await
}

/// [`send_push`] with phone and amount as the request gave them, validated (no parsing again); the
/// account reference is the one derived when the payment was stored.
pub async fn send_push_with(state: &AppState, p: Payment, target: PushTarget) -> Result<Payment, ApiError> {
    let fields = target.with_reference_of(&p, state.cfg.reference_max_len).map_err(ApiError::Internal)?;
    push(state, p, fields).await
}

async fn push(state: &AppState, p: Payment, fields: PushFields) -> Result<Payment, ApiError> {
    let push = daraja::StkPush {
        phone: fields.phone,
        amount: fields.amount,
        reference: fields.reference,
        description: daraja::TransactionDesc::new(&p.description),
        callback_url: state.callback_url(&p.callback_secret),
    };
    let mut attempt = 0;
    let result = loop {
        attempt += 1;
        match state.daraja.stk_push(&push).await {
            Err(e) if e.is_retry_safe() && attempt < PUSH_TRIES => {
                tracing::warn!(payment_id = %p.id, error = %e, attempt, "push refused before processing; trying again");
                tokio::time::sleep(Duration::from_millis(300 * 2u64.pow(attempt))).await;
            }
            other => break other,
        }
    };
    let now = now_ms();
    if let Err(e) = &result {
        state.metrics.daraja_error("push", e);
    }
    let after = match result {
        Ok(accepted) => {
            tracing::info!(payment_id = %p.id, checkout_request_id = %accepted.checkout_request_id, "push accepted");
            let next = now + state.cfg.reconcile_after.as_millis() as i64;
            state
                .store
                .push_accepted(&p.id, &accepted.checkout_request_id, &accepted.merchant_request_id, next, now)
                .await?
        }
        Err(e) if matches!(e, daraja::Error::OutcomeUnknown { .. } | daraja::Error::UnexpectedResponse { .. }) => {
            tracing::warn!(payment_id = %p.id, error = %e, "push outcome unknown; it will not be sent again");
            let next = now + state.cfg.reconcile_after.as_millis() as i64;
            state.store.push_unknown(&p.id, &e.to_string(), next, now).await?
        }
        Err(e) => {
            tracing::warn!(payment_id = %p.id, error = %e, "push refused");
            let code = e.error_code().unwrap_or("refused").to_string();
            let outcome = Outcome::PushRejected { code, message: e.to_string() };
            let applied = state.store.apply_outcome(&p.id, Source::Push, &outcome, now).await?;
            state.metrics.settled("push", p.created_at);
            applied.payment
        }
    };
    // The store hands back the payment it wrote; it is read again only when this call did not change it.
    match after {
        Some(p) => Ok(p),
        None => state.store.get_payment(&p.id).await?.ok_or(ApiError::NotFound("payment")),
    }
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

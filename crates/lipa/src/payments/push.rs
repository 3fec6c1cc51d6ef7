//! The one STK push of a payment. Three endings, each one statement in the store: accepted, refused before
//! processing, or fate unknown (never sent again; reconciliation settles it).

use std::time::Duration;

use super::PaymentError;
use crate::app::{now_ms, AppState};
use crate::domain::{Outcome, Payment, PushFields, PushTarget, Source};

/// How often a push refused before processing (spike arrest, connection refused) is tried again. Only
/// those: anything that may have reached the phone is never sent twice.
const PUSH_TRIES: u32 = 3;

/// Send the STK push of a payment in `sending` and record what became of it. Its phone, amount and
/// account reference are read back from the payment; [`send_push_with`] takes phone and amount as validated.
pub async fn send_push(state: &AppState, p: Payment) -> Result<Payment, PaymentError> {
    let fields = PushFields::of(&p, state.cfg.reference_max_len)
        .map_err(PaymentError::Internal)?
        .ok_or_else(|| PaymentError::Internal(format!("payment {} has no phone to push to", p.id)))?;
    push(state, p, fields).await
}

/// [`send_push`] with phone and amount as the request gave them, validated (no parsing again); the
/// account reference is the one derived when the payment was stored.
pub(super) async fn send_push_with(state: &AppState, p: Payment, target: PushTarget) -> Result<Payment, PaymentError> {
    let fields = target.with_reference_of(&p, state.cfg.reference_max_len).map_err(PaymentError::Internal)?;
    push(state, p, fields).await
}

/// Set the phone of a payment waiting for one (the checkout page) and send its one push. The store lets
/// exactly one caller move the payment out of `awaiting_phone`; any other (a second tab, a double submit)
/// sends nothing. The push runs in its own task: a customer who closes the page mid-request must not cut it
/// in half. A failed push is logged, not returned: the page shows the payment as it now is.
pub async fn push_to_phone(state: &AppState, id: &str, phone: &daraja::Msisdn) -> Result<(), PaymentError> {
    if let Some(p) = state.store.set_phone_for_push(id, phone.as_str(), now_ms()).await? {
        let st = state.clone();
        let sent = tokio::spawn(async move { send_push(&st, p).await }).await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(payment_id = %id, error = ?e, "checkout push failed"),
            Err(e) => tracing::error!(payment_id = %id, error = %e, "checkout push task failed"),
        }
    }
    Ok(())
}

async fn push(state: &AppState, p: Payment, fields: PushFields) -> Result<Payment, PaymentError> {
    let push = daraja::StkPush {
        phone: fields.phone,
        amount: fields.amount,
        reference: fields.reference,
        description: daraja::TransactionDesc::new(&p.description),
        callback_url: state.callback_url(p.callback_secret.as_str()),
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
        None => state.store.get_payment(&p.id).await?.ok_or(PaymentError::NotFound),
    }
}

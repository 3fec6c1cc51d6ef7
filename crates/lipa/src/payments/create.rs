//! Creating a payment: the pending guard, idempotency and the account reference are decided here, for
//! every way a payment is made.

use sha2::{Digest, Sha256};

use super::PaymentError;
use crate::app::{now_ms, AppState};
use crate::domain::{account_reference, Payment, PaymentDraft, PushState, PushTarget};
use crate::store::{Created as Stored, Idempotency, NewPayment, StoreError};

/// How long a reused idempotency key waits for the first request's push to leave `sending`.
const REPLAY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The answer for a reused idempotency key: the payment it made, once its push has left `sending` (a racing
/// twin waits for the first request's answer rather than inventing its own). The wait is short: the first
/// request may have died with its instance, and then the payment stays as it is (its push is never sent
/// again; reconciliation settles it).
async fn replayed(state: &AppState, mut payment: Payment) -> Result<Payment, PaymentError> {
    let deadline = std::time::Instant::now() + REPLAY_WAIT;
    while payment.push_state == PushState::Sending && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        payment = state.store.get_payment(&payment.id).await?.ok_or(StoreError::NotFound)?;
    }
    Ok(payment)
}

/// How many account references are tried for one payment before giving up (each is another code).
const ACCOUNT_REFERENCE_TRIES: u32 = 8;

/// Who asks for the payment; this decides its idempotency and whose it is.
pub enum Origin<'a> {
    /// `POST /v1/payments` with this API key. With an `Idempotency-Key`, `body` is the request as sent: the
    /// same key with the same JSON (however its keys are ordered or spaced) is the same payment.
    Api { key_id: String, idempotency_key: Option<String>, body: &'a [u8] },
    /// "Try again" on the checkout page of this failed payment: once per failed payment.
    CheckoutRetry { after: &'a str },
    /// The demo shop (simulator mode).
    Shop,
}

/// A payment to make: what it is for, the push fields as the request validated them (a phone was given),
/// and who asks.
pub struct PaymentRequest<'a> {
    pub draft: PaymentDraft,
    pub push: Option<PushTarget>,
    pub origin: Origin<'a>,
}

/// The payment a request made, or the one an earlier request with the same idempotency key made.
pub struct Created {
    pub payment: Payment,
    /// True when this request made it (false: a replay).
    pub new: bool,
}

/// Make a payment. The store enforces the idempotency key and the pending guard (one open payment per
/// reference, when `LIPA_PENDING_GUARD` is on) in one transaction. A new payment with a phone has its one
/// push sent before this returns; one without waits on the checkout page for the customer's number.
pub async fn create(state: &AppState, req: PaymentRequest<'_>) -> Result<Created, PaymentError> {
    let guard = state.cfg.pending_guard.then(|| req.draft.reference.clone());
    let (api_key_id, idempotency) = match &req.origin {
        Origin::Api { key_id, idempotency_key, body } => (
            Some(key_id.clone()),
            idempotency_key.clone().map(|key| Idempotency { key, request_hash: request_hash(body) }),
        ),
        // No API key made it; the key namespace "" belongs to lipa's own pages.
        Origin::CheckoutRetry { after } => {
            (None, Some(Idempotency { key: format!("checkout-retry:{after}"), request_hash: "checkout-retry".into() }))
        }
        Origin::Shop => (None, None),
    };
    let payment = Payment::new_pending(
        req.draft,
        now_ms(),
        state.cfg.reconcile_after.as_millis() as i64,
        state.cfg.pending_max_age.as_millis() as i64,
    );
    let new = NewPayment { payment, pending_guard: guard, api_key_id, idempotency };
    let payment = match store_with_account_reference(state, new).await? {
        Stored::Replay { same_request: false, .. } => return Err(PaymentError::IdempotencyKeyReused),
        Stored::Replay { payment, .. } => return Ok(Created { payment: replayed(state, payment).await?, new: false }),
        Stored::New(p) => p,
    };
    if let Origin::CheckoutRetry { after } = req.origin {
        let note = format!("the customer chose Try again: new payment {}", payment.id);
        state.store.append_log(after, "checkout", &note, now_ms()).await?;
    }
    // A new payment is this request's: its push goes out with the fields just validated.
    let payment = match (payment.push_state, req.push) {
        (PushState::Sending, Some(target)) => super::push::send_push_with(state, payment, target).await?,
        (PushState::Sending, None) => super::push::send_push(state, payment).await?,
        _ => payment,
    };
    Ok(Created { payment, new: true })
}

/// The same JSON however its keys are ordered or spaced (serde_json's map is sorted), hashed.
pub(crate) fn request_hash(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body).map(|v| v.to_string()).unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Store a new payment with an account reference (`AccountReference` for Daraja, the paybill account
/// number) derived from its reference with the configured length, trying another one while a pending payment
/// holds it. The database decides who holds what (a partial unique index), so two instances never hand out
/// the same one.
async fn store_with_account_reference(state: &AppState, mut new: NewPayment) -> Result<Stored, StoreError> {
    let mut attempt = 0;
    loop {
        new.payment.account_reference = account_reference(&new.payment.reference, state.cfg.reference_max_len, attempt);
        match state.store.create_payment(new.clone()).await {
            Err(StoreError::AccountReferenceTaken) if attempt + 1 < ACCOUNT_REFERENCE_TRIES => attempt += 1,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_json_hashes_the_same() {
        assert_eq!(request_hash(br#"{"a":1,"b":2}"#), request_hash(br#"{ "b": 2, "a": 1 }"#));
        assert_ne!(request_hash(br#"{"a":1}"#), request_hash(br#"{"a":2}"#));
    }
}

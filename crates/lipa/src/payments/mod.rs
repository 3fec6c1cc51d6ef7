//! The payments service: the one place that creates a payment (for the API, the checkout page's "Try
//! again" and the demo shop alike), sends its STK push, turns Daraja's callbacks and query answers into
//! outcomes, and resolves a review. Routes parse a request, call in here and render what comes back; jobs
//! call in here too. Nothing here knows HTTP: failures are a [`PaymentError`], which the routes map to
//! their answers in one place each (`error::ApiError`, `routes::pages::PageError`).
//!
//! Split by job: [`create`](self::create()) (guard, idempotency, account reference), [`push`] (the one push of
//! a payment), [`outcome`] (callbacks and query answers), [`resolve`](self::resolve()) (an operator's decision).

pub(crate) mod create;
mod outcome;
mod push;
mod resolve;

pub use self::create::{create, Created, Origin, PaymentRequest};
pub use self::outcome::{callback_outcome, query_outcome, record_callback, CallbackResult};
pub use self::push::{push_to_phone, send_push};
pub use self::resolve::resolve;

use crate::store::StoreError;

/// Why the payments service could not do what was asked. No HTTP in here: the routes decide the answers.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The idempotency key was used before with another request.
    #[error("this idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// The reference already has a pending payment (the pending guard).
    #[error("a payment for this reference is already pending")]
    ReferencePending,
    /// Every account reference derived from the reference is held by a pending payment.
    #[error("every account reference derived from this reference is held by a pending payment")]
    AccountReferenceUnavailable,
    #[error("no such payment")]
    NotFound,
    /// The database failed; internal.
    #[error(transparent)]
    Store(StoreError),
    /// Anything else that is not the caller's fault (a stored row that no longer reads).
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for PaymentError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ReferencePending => PaymentError::ReferencePending,
            StoreError::AccountReferenceTaken => PaymentError::AccountReferenceUnavailable,
            StoreError::NotFound => PaymentError::NotFound,
            other => PaymentError::Store(other),
        }
    }
}

//! Creating a payout or a refund: committed first, then sent (a replay of an idempotency key is answered as
//! it stands, never sent again). The API and the admin dashboard both come through here.

use crate::api::money_out::{PayoutRequest, RefundRequest};
use crate::app::{now_ms, AppState};
use crate::domain::money_out::{Draft, Method, MoneyOut, Object};
use crate::error::ApiError;
use crate::store::money_out::{MoneyOutCreated, NewPayout, NewRefund};
use crate::store::Idempotency;

use super::{send, RefundMethod};

fn first_check_ms(state: &AppState) -> i64 {
    state.cfg.reconcile_after.as_millis() as i64
}

/// A new row goes out now; a replay is answered as it stands.
async fn created(state: &AppState, c: MoneyOutCreated) -> Result<MoneyOut, ApiError> {
    match c {
        MoneyOutCreated::Replay { same_request: false, .. } => Err(ApiError::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used with a different request body".into(),
        }),
        MoneyOutCreated::Replay { object, .. } => Ok(object),
        MoneyOutCreated::New(m) => send::send(state, m).await,
    }
}

pub async fn payout(
    state: &AppState,
    req: PayoutRequest,
    api_key_id: Option<String>,
    idempotency: Option<Idempotency>,
) -> Result<MoneyOut, ApiError> {
    state.money_out.initiator()?;
    let draft = Draft {
        object: Object::Payout,
        amount: req.amount,
        phone: Some(req.phone),
        kind: req.kind,
        method: Method::B2c,
        remarks: req.remarks,
        metadata: req.metadata,
        payment_id: None,
        original_receipt: None,
    };
    let payout = MoneyOut::new_pending(draft, now_ms(), first_check_ms(state));
    let c = state.store.create_payout(NewPayout { payout, api_key_id, idempotency }).await?;
    created(state, c).await
}

pub async fn refund(
    state: &AppState,
    payment_id: String,
    req: RefundRequest,
    api_key_id: Option<String>,
    idempotency: Option<Idempotency>,
) -> Result<MoneyOut, ApiError> {
    state.money_out.initiator()?;
    let method = match state.money_out.refund_method {
        RefundMethod::Reversal => Method::Reversal,
        RefundMethod::B2c => Method::B2c,
    };
    let new = NewRefund {
        payment_id,
        amount: req.amount,
        reason: req.reason,
        metadata: req.metadata,
        method,
        first_check_ms: first_check_ms(state),
        now: now_ms(),
        api_key_id,
        idempotency,
    };
    let c = state.store.create_refund(new).await?;
    created(state, c).await
}

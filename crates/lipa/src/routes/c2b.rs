//! `POST /callbacks/c2b/{secret}/validation` and `/confirmation`: where Daraja tells lipa about a payment
//! made from the SIM menu or by QR.
//!
//! A confirmation is committed (group commit, deduplicated by `TransID`, matched) before it is
//! acknowledged with `{"ResultCode":0,"ResultDesc":"Success"}`; a duplicate is acknowledged and changes
//! nothing; only a failure to store answers 500, so that it is sent again. A validation is answered per
//! `LIPA_C2B_VALIDATION`, its raw body kept. A wrong secret gets the same answers and changes nothing.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use daraja::c2b::{C2bNotification, ConfirmationAck, RejectReason, ValidationAnswer};
use sha2::{Digest, Sha256};

use super::callbacks::Inbound;
use crate::app::{now_ms, AppState};
use crate::domain::c2b::ValidationRule;
use crate::error::ApiError;
use crate::store::c2b::{C2bEffect, C2bIn, ValidationIn};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/callbacks/c2b/{secret}/validation", post(validation))
        .route("/callbacks/c2b/{secret}/confirmation", post(confirmation))
}

/// The installation's secret, compared by digest so the time taken says nothing about it.
fn secret_ok(state: &AppState, given: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(state.c2b_secret.as_bytes())
}

async fn confirmation(State(state): State<AppState>, call: Inbound) -> Result<Json<ConfirmationAck>, ApiError> {
    if call.refused(&state, "c2b_confirmation_rejected").is_some() {
        return Ok(Json(ConfirmationAck::default()));
    }
    if !secret_ok(&state, &call.secret) {
        if let Some(skipped) = state.limits.quiet.allow("c2b_unknown_secret") {
            tracing::warn!(skipped, "C2B confirmation with a wrong secret: acknowledged, not recorded");
        }
        return Ok(Json(ConfirmationAck::default()));
    }
    let notification = C2bNotification::from_slice(&call.body).ok();
    let applied = state.c2b.record(C2bIn { raw_body: call.body.to_vec(), notification, now: now_ms() }).await?;
    match (applied.effect, &applied.payment) {
        (C2bEffect::Matched | C2bEffect::New, Some(p)) => {
            tracing::info!(payment_id = %p.id, status = p.status.as_str(), effect = ?applied.effect, "C2B confirmation applied");
            state.metrics.settled("c2b", p.created_at);
        }
        (effect, _) => tracing::info!(effect = ?effect, "C2B confirmation recorded (no change)"),
    }
    Ok(Json(ConfirmationAck::default()))
}

async fn validation(State(state): State<AppState>, call: Inbound) -> Result<Json<ValidationAnswer>, ApiError> {
    let refused = call.refused(&state, "c2b_validation_rejected").is_some();
    if refused || !secret_ok(&state, &call.secret) {
        return Ok(Json(ValidationAnswer::accept()));
    }
    let rule = state.cfg.c2b.validation;
    let (answer, trans_id, payment_id) = match C2bNotification::from_slice(&call.body) {
        Err(_) if rule == ValidationRule::Off => (ValidationAnswer::accept(), None, None),
        Err(_) => (ValidationAnswer::Reject(RejectReason::OtherError), None, None),
        Ok(n) => {
            let open = match rule {
                ValidationRule::Off => None,
                _ => state.store.open_payment_for_account(n.account()).await?,
            };
            let amount = n.amount_kes().and_then(|a| i64::try_from(a).ok());
            (rule.answer(open.as_ref(), amount), Some(n.trans_id.clone()), open.map(|p| p.id))
        }
    };
    let result_code = match &answer {
        ValidationAnswer::Accept { .. } => "0".to_string(),
        ValidationAnswer::Reject(r) => r.code().to_string(),
    };
    // Kept before it is answered, like every body from Safaricom.
    let kept = ValidationIn { trans_id, raw_body: call.body.to_vec(), result_code, payment_id, now: now_ms() };
    state.store.record_c2b_validation(&kept).await?;
    Ok(Json(answer))
}

//! `POST /callbacks/stk/{secret}`: where Daraja reports the customer's answer.
//!
//! The raw body is committed before we answer, and every body we kept gets Daraja's
//! `{"ResultCode":0,"ResultDesc":"Accepted"}` — duplicates, late ones, unparseable ones, and ones whose
//! secret matches nothing (which therefore learn nothing). Only a failure to store answers 500, so that a
//! sender that retries sends it again.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::body_error;
use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::service;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/stk/{secret}", post(stk_callback))
}

pub fn accepted() -> Json<Value> {
    Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}

async fn stk_callback(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(body_error)?;
    let outcome = service::callback_outcome(&body);
    let applied = state
        .store
        .record_callback(&secret, &body, outcome.as_ref(), now_ms())
        .await?;
    match (&applied.payment, &applied.decision) {
        (Some(p), Some(d)) => tracing::info!(payment_id = %p.id, status = d.status.as_str(), "callback settled the payment"),
        (Some(p), None) => tracing::info!(payment_id = %p.id, "callback recorded (no change)"),
        (None, _) => tracing::warn!("callback for an unknown secret recorded"),
    }
    Ok(accepted())
}

//! `POST /callbacks/stk/{secret}`: where Daraja reports the customer's answer.
//!
//! The raw body is committed before we answer, and every body we kept gets Daraja's
//! `{"ResultCode":0,"ResultDesc":"Accepted"}` — duplicates, late ones, unparseable ones, and ones whose
//! secret matches nothing (which therefore learn nothing). Only a failure to store answers 500, so that a
//! sender that retries sends it again.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{body_error, path_and_sender, Sender};
use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::payments;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/stk/{secret}", post(stk_callback))
}

pub fn accepted() -> Json<Value> {
    Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}

/// A POST from Safaricom to one of lipa's callback URLs (STK, C2B, results): the secret in its path and its
/// raw body (a body too large is 413, one broken off 400), with what tells where it came from.
pub struct Inbound {
    pub secret: String,
    pub body: Bytes,
    sender: Sender,
}

impl<S: Send + Sync> FromRequest<S> for Inbound {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (secret, sender, req) = path_and_sender(req, state).await?;
        let body = Bytes::from_request(req, state).await.map_err(|e| body_error(e).into_response())?;
        Ok(Inbound { secret, body, sender })
    }
}

impl Inbound {
    /// When `LIPA_CALLBACK_ALLOWLIST` is set and the request comes from elsewhere: who sent it (logged, at
    /// most a few times a minute under `quiet_key`). Every endpoint Safaricom calls asks this first; a
    /// refused body is answered like any other and never applied.
    pub fn refused(&self, state: &AppState, quiet_key: &'static str) -> Option<String> {
        let sec = &state.cfg.security;
        if sec.callback_allowlist.is_empty() {
            return None;
        }
        let client = self.sender.client_ip(state);
        if sec.callback_source_allowed(client) {
            return None;
        }
        let who = client.map(|ip| ip.to_string()).unwrap_or_else(|| "an unknown address".into());
        if let Some(skipped) = state.limits.quiet.allow(quiet_key) {
            tracing::warn!(source = %who, skipped, endpoint = quiet_key, "request from an address outside LIPA_CALLBACK_ALLOWLIST not applied");
        }
        Some(who)
    }
}

async fn stk_callback(State(state): State<AppState>, call: Inbound) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    if let Some(who) = call.refused(&state, "callback_rejected") {
        // Kept and answered like any other callback (the sender learns nothing), never applied.
        let why = format!("source {who} is not in LIPA_CALLBACK_ALLOWLIST");
        state.store.record_rejected_callback(&call.secret, &call.body, &why, now_ms()).await?;
        state.metrics.callback("rejected", started.elapsed());
        return Ok(accepted());
    }
    // Answered only once the transaction holding this callback has committed (group commit).
    let result = payments::record_callback(&state, call.secret, &call.body).await?;
    state.metrics.callback(result, started.elapsed());
    Ok(accepted())
}

//! `POST /callbacks/stk/{secret}`: where Daraja reports the customer's answer.
//!
//! The raw body is committed before we answer, and every body we kept gets Daraja's
//! `{"ResultCode":0,"ResultDesc":"Accepted"}` — duplicates, late ones, unparseable ones, and ones whose
//! secret matches nothing (which therefore learn nothing). Only a failure to store answers 500, so that a
//! sender that retries sends it again.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use std::net::SocketAddr;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::body_error;
use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::payments;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/stk/{secret}", post(stk_callback))
}

pub fn accepted() -> Json<Value> {
    Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))
}

/// When `LIPA_CALLBACK_ALLOWLIST` is set and the request comes from elsewhere: who sent it (logged, at most
/// a few times a minute under `quiet_key`). Every endpoint Safaricom calls (STK, C2B, results) asks this
/// first; a refused body is answered like any other and never applied.
pub fn refused_source(
    state: &AppState,
    headers: &HeaderMap,
    ext: &Extensions,
    quiet_key: &'static str,
) -> Option<String> {
    let sec = &state.cfg.security;
    if sec.callback_allowlist.is_empty() {
        return None;
    }
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = crate::security::client_ip(peer, headers, &sec.trusted_proxies);
    if sec.callback_source_allowed(client) {
        return None;
    }
    let who = client.map(|ip| ip.to_string()).unwrap_or_else(|| "an unknown address".into());
    if let Some(skipped) = state.limits.quiet.allow(quiet_key) {
        tracing::warn!(source = %who, skipped, endpoint = quiet_key, "request from an address outside LIPA_CALLBACK_ALLOWLIST not applied");
    }
    Some(who)
}

async fn stk_callback(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let body = body.map_err(body_error)?;
    if let Some(who) = refused_source(&state, &headers, &ext, "callback_rejected") {
        // Kept and answered like any other callback (the sender learns nothing), never applied.
        let why = format!("source {who} is not in LIPA_CALLBACK_ALLOWLIST");
        state.store.record_rejected_callback(&secret, &body, &why, now_ms()).await?;
        state.metrics.callback("rejected", started.elapsed());
        return Ok(accepted());
    }
    // Answered only once the transaction holding this callback has committed (group commit).
    let result = payments::record_callback(&state, secret, &body).await?;
    state.metrics.callback(result, started.elapsed());
    Ok(accepted())
}

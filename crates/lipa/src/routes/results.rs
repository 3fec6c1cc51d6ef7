//! `POST /callbacks/result/{secret}` and `/callbacks/timeout/{secret}`: where Daraja reports what became of
//! a payout, a refund, a Transaction Status query or a balance read. The raw body is committed (group
//! commit) before Daraja gets its acknowledgement; every kept body is acknowledged, whatever it says.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::body_error;
use super::callbacks::{accepted, refused_source};
use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::store::money_out::ResultIn;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/result/{secret}", post(result)).route("/callbacks/timeout/{secret}", post(timeout))
}

async fn result(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    record(&state, secret, false, (&headers, &ext), body).await
}

async fn timeout(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    record(&state, secret, true, (&headers, &ext), body).await
}

async fn record(
    state: &AppState,
    secret: String,
    timeout: bool,
    (headers, ext): (&HeaderMap, &Extensions),
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(body_error)?;
    if refused_source(state, headers, ext, "result_rejected").is_some() {
        return Ok(accepted());
    }
    let answer = ResultIn { secret, timeout, raw_body: body.to_vec(), now: now_ms() };
    let applied = state.money_out.results.record(answer).await?;
    match &applied.object {
        Some(m) if applied.changed => {
            tracing::info!(id = %m.id, status = m.status.as_str(), timeout, "money-out answer settled it")
        }
        Some(m) => tracing::info!(id = %m.id, timeout, "money-out answer recorded"),
        None if applied.balance => tracing::debug!("balance result recorded"),
        None => {
            if let Some(skipped) = state.limits.quiet.allow("unknown_result_secret") {
                tracing::warn!(skipped, "money-out answer for an unknown secret recorded (kept truncated)");
            }
        }
    }
    Ok(accepted())
}

//! `POST /callbacks/result/{secret}` and `/callbacks/timeout/{secret}`: where Daraja reports what became of
//! a payout, a refund, a Transaction Status query or a balance read. The raw body is committed (group
//! commit) before Daraja gets its acknowledgement; every kept body is acknowledged, whatever it says.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::Value;

use super::callbacks::{accepted, Inbound};
use crate::app::{now_ms, AppState};
use crate::error::ApiError;
use crate::store::money_out::ResultIn;

pub fn router() -> Router<AppState> {
    Router::new().route("/callbacks/result/{secret}", post(result)).route("/callbacks/timeout/{secret}", post(timeout))
}

async fn result(State(state): State<AppState>, call: Inbound) -> Result<Json<Value>, ApiError> {
    record(&state, call, false).await
}

async fn timeout(State(state): State<AppState>, call: Inbound) -> Result<Json<Value>, ApiError> {
    record(&state, call, true).await
}

async fn record(state: &AppState, call: Inbound, timeout: bool) -> Result<Json<Value>, ApiError> {
    if call.refused(state, "result_rejected").is_some() {
        return Ok(accepted());
    }
    let answer = ResultIn { secret: call.secret.into(), timeout, raw_body: call.body.to_vec(), now: now_ms() };
    let applied = state.money_out.results.record(answer).await?;
    match &applied.object {
        Some(m) if applied.changed => {
            tracing::info!(id = %m.id, status = m.outcome.status.as_str(), timeout, "money-out answer settled it")
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

//! `/healthz`: the process answers. `/readyz`: the database answers and a Daraja token can be had.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let db = state.store.ping().await.map_err(|e| e.to_string());
    // A failure is remembered for a few seconds: probes cannot turn into a flood of OAuth requests.
    let token = state
        .limits
        .probe
        .check(|| async { state.daraja.access_token().await.map(|_| ()).map_err(|e| e.to_string()) })
        .await;
    let ok = db.is_ok() && token.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (
        status,
        Json(
            json!({ "status": if ok { "ready" } else { "not_ready" }, "database": show(&db), "daraja_token": show(&token) }),
        ),
    )
}

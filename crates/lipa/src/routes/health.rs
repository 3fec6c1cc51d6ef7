//! `/healthz`: the process answers. `/readyz`: the database answers and a Daraja token can be had.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct Health {
    #[schema(inline)]
    status: Ok,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum Ok {
    #[schema(rename = "ok")]
    Ok,
}

/// The process is up
#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz", security(()),
    responses((status = 200, description = "Up.", body = inline(Health))))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The database answers and a Daraja token can be had
#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz", security(()),
    responses(
        (status = 200, description = "Ready.", body = Object),
        (status = 503, description = "Not ready; says which part failed.", body = Object),
    ))]
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

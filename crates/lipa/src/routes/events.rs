//! `GET /v1/events`: the event log (the webhook outbox).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::ApiKey;
use super::page_limit;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{Event, EventFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list))
        .route("/v1/events/{id}", get(fetch))
        .route("/v1/events/{id}/redeliver", post(redeliver))
}

pub const EVENT_TYPES: &[&str] = &["payment.succeeded", "payment.failed", "payment.needs_review"];

/// The event as merchants see it (and as webhooks carry it).
pub fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "object": "event",
        "type": e.event_type,
        "created": e.created_at / 1000,
        "data": e.data,
    })
}

/// The event as the API shows it: the webhook body plus its delivery state.
pub fn event_api_json(e: &Event) -> Value {
    let mut v = event_json(e);
    let status = match (e.delivered_at, e.failed_at) {
        (Some(_), _) => "delivered",
        (None, Some(_)) => "failed",
        (None, None) => "pending",
    };
    let time = |ms: Option<i64>| ms.map(crate::domain::payment::rfc3339);
    v["delivery"] = json!({
        "status": status,
        "attempts": e.attempts,
        "delivered_at": time(e.delivered_at),
        "failed_at": time(e.failed_at),
        "next_attempt_at": if status == "pending" { time(e.next_attempt_at) } else { None },
    });
    v
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    payment_id: Option<String>,
    limit: Option<String>,
    starting_after: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _key: ApiKey,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let event_type = q.event_type.filter(|s| !s.is_empty());
    if let Some(t) = &event_type {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(ApiError::invalid(
                "invalid_type",
                "type",
                format!("type must be one of {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    let starting_after = q.starting_after.filter(|s| !s.is_empty());
    if let Some(after) = &starting_after {
        if state.store.get_event(after).await?.is_none() {
            return Err(ApiError::invalid("invalid_cursor", "starting_after", "starting_after names no event"));
        }
    }
    let filter = EventFilter {
        event_type,
        payment_id: q.payment_id.filter(|s| !s.is_empty()),
        starting_after,
        limit: page_limit(q.limit.as_deref())?,
    };
    let page = state.store.list_events(&filter).await?;
    let data: Vec<Value> = page.data.iter().map(event_api_json).collect();
    Ok(Json(json!({ "object": "list", "data": data, "has_more": page.has_more })))
}

async fn fetch(State(state): State<AppState>, _key: ApiKey, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let e = state.store.get_event(&id).await?.ok_or(ApiError::NotFound("event"))?;
    Ok(Json(event_api_json(&e)))
}

async fn redeliver(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let e = state.store.get_event(&id).await?.ok_or(ApiError::NotFound("event"))?;
    state.store.schedule_delivery(&e.id, crate::app::now_ms()).await?;
    let e = state.store.get_event(&id).await?.ok_or(ApiError::NotFound("event"))?;
    Ok((StatusCode::ACCEPTED, Json(event_api_json(&e))))
}

//! `GET /v1/events`: the event log (the webhook outbox).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiKey;
use super::list::{Cursor, Paging};
use crate::api;
use crate::api::error::{ListErrors, LookupErrors};
use crate::api::{EventList, EventType};
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::{self, EventFilter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(fetch)).routes(routes!(redeliver))
}

/// An event as the API shows it: the webhook body plus its delivery state.
fn event_object(e: &store::Event) -> api::Event {
    api::Event::webhook(&e.id, &e.event_type, e.created_at, &e.data).with_delivery(
        e.attempts,
        e.delivered_at,
        e.failed_at,
        e.next_attempt_at,
    )
}

/// The event with this id, or 404.
async fn find(state: &AppState, id: &str) -> Result<store::Event, ApiError> {
    state.store.get_event(id).await?.ok_or(ApiError::NotFound("event"))
}

/// `GET /v1/events` filters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only events of this type.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<EventType>)]
    event_type: Option<String>,
    /// Only events of this payment (or payout, or refund: its po_… or re_… id).
    payment_id: Option<String>,
}

/// List events, newest first
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    operation_id = "listEvents",
    params(ListQuery, Paging),
    responses(
        (status = 200, description = "A page of events.", body = EventList),
        ListErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _key: ApiKey,
    Query(q): Query<ListQuery>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let event_type = q.event_type.filter(|s| !s.is_empty());
    if let Some(t) = &event_type {
        if EventType::parse(t).is_none() {
            let all: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            return Err(ApiError::invalid("invalid_type", "type", format!("type must be one of {}", all.join(", "))));
        }
    }
    let starting_after = paging.checked_after(&state, Cursor::Event).await?;
    let filter = EventFilter {
        event_type,
        payment_id: q.payment_id.filter(|s| !s.is_empty()),
        starting_after,
        limit: paging.limit()?,
    };
    let page = state.store.list_events(&filter).await?;
    let data = page.data.iter().map(event_object).collect();
    Ok(Json(api::to_json(&EventList { object: api::ListObject::Value, data, has_more: page.has_more })))
}

/// Get an event
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    operation_id = "getEvent",
    params(("id" = String, Path, description = "The event id (evt_…).")),
    responses(
        (status = 200, description = "The event and its delivery state.", body = api::Event),
        LookupErrors,
    ),
)]
async fn fetch(State(state): State<AppState>, _key: ApiKey, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let e = find(&state, &id).await?;
    Ok(Json(api::to_json(&event_object(&e))))
}

/// Deliver an event again
///
/// Schedules the webhook now, with a fresh retry window (also for an event lipa gave up on).
#[utoipa::path(
    post,
    path = "/v1/events/{id}/redeliver",
    tag = "events",
    operation_id = "redeliverEvent",
    params(("id" = String, Path, description = "The event id (evt_…).")),
    responses(
        (status = 202, description = "Scheduled; the event and its delivery state.", body = api::Event),
        LookupErrors,
    ),
)]
async fn redeliver(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let e = find(&state, &id).await?;
    state.store.schedule_delivery(&e.id, crate::app::now_ms()).await?;
    let e = find(&state, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(api::to_json(&event_object(&e)))))
}

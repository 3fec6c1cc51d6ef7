//! `POST /v1/payments`, `GET /v1/payments/{id}`, `GET /v1/payments`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiKey;
use super::list::{self, Cursor, Paging};
use super::ApiPost;
use crate::api::error::{ListErrors, LookupErrors};
use crate::api::{self, CreatePayment, ErrorBody, PaymentList};
use crate::app::AppState;
use crate::domain::{Payment, PaymentStatus, PushState};
use crate::error::ApiError;
use crate::payments;
use crate::store::PaymentFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(fetch))
}

/// The payment object with its checkout URL when the customer still has to type a phone number.
pub fn payment_object(state: &AppState, p: &Payment) -> api::Payment {
    let waiting = p.push_state == PushState::AwaitingPhone && p.status == PaymentStatus::Pending;
    api::Payment::with_checkout_url(p, waiting.then(|| state.checkout_url(&p.id)))
}

/// The payment object as JSON (keys in the order lipa has always sent them).
pub fn payment_json(state: &AppState, p: &Payment) -> Value {
    api::to_json(&payment_object(state, p))
}

/// Create a payment (sends the STK push)
///
/// Validates everything before any call to Daraja. The same Idempotency-Key with the same body gives the
/// same answer and no second push; with another body, 409 idempotency_key_reused. A second payment for a
/// reference that has one pending is 409 payment_pending. The reference is kept whole (at most 64
/// characters); the account_reference sent to Daraja is derived from it, unique among pending payments.
#[utoipa::path(
    post,
    path = "/v1/payments",
    tag = "payments",
    operation_id = "createPayment",
    request_body = CreatePayment,
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "Any string up to 255 characters: a retry with the same key and body sends no second push."),
    ),
    responses(
        (status = 201, description = "The payment (pending).", body = api::Payment),
        (status = 400, description = "A field is missing or wrong; `field` names it.", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key.", body = ErrorBody),
        (status = 409, description = "idempotency_key_reused, payment_pending, or account_reference_unavailable (every \
         account reference derived from this reference is held by a pending payment).", body = ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB.", body = ErrorBody),
        (status = 429, description = "An abuse limit; see Retry-After.", body = ErrorBody),
        (status = 503, description = "Not available right now.", body = ErrorBody),
    ),
)]
async fn create(
    State(state): State<AppState>,
    ApiKey(key_id): ApiKey,
    post: ApiPost,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (draft, push) = CreatePayment::parse(&post.body)?.validate_for_push(state.cfg.reference_max_len)?;
    let idempotency_key = post.idempotency_key()?;
    let origin = payments::Origin::Api { key_id, idempotency_key, body: &post.body };
    let payment = payments::create(&state, payments::PaymentRequest { draft, push, origin }).await?.payment;
    Ok((StatusCode::CREATED, Json(payment_json(&state, &payment))))
}

/// Get a payment
#[utoipa::path(
    get,
    path = "/v1/payments/{id}",
    tag = "payments",
    operation_id = "getPayment",
    params(("id" = String, Path, description = "The payment id (pay_…).")),
    responses(
        (status = 200, description = "The payment.", body = api::Payment),
        LookupErrors,
    ),
)]
async fn fetch(State(state): State<AppState>, _key: ApiKey, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = state.store.get_payment(&id).await?.ok_or(ApiError::NotFound("payment"))?;
    Ok(Json(payment_json(&state, &p)))
}

/// `GET /v1/payments` filters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only payments with this status.
    #[param(value_type = Option<PaymentStatus>)]
    status: Option<String>,
    /// Only payments for this reference (your whole order reference, exactly as sent).
    reference: Option<String>,
    /// Only payments with this account reference, ignoring case: what M-Pesa showed the customer and prints
    /// on statements.
    account_reference: Option<String>,
    /// Only payments to this phone (any format).
    phone: Option<String>,
    /// Only payments paid through this channel: stk (a prompt) or c2b (the paybill or till).
    #[param(value_type = Option<api::Channel>)]
    channel: Option<String>,
}

/// List payments, newest first
#[utoipa::path(
    get,
    path = "/v1/payments",
    tag = "payments",
    operation_id = "listPayments",
    params(ListQuery, Paging),
    responses(
        (status = 200, description = "A page of payments.", body = PaymentList),
        ListErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _key: ApiKey,
    Query(q): Query<ListQuery>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let status = list::status(q.status.as_deref())?;
    let phone = list::phone(q.phone.as_deref())?;
    let channel = list::filter(q.channel.as_deref(), |c| {
        api::Channel::parse(c)
            .map(|c| c.as_str().to_string())
            .ok_or_else(|| ApiError::invalid("invalid_channel", "channel", "channel must be stk or c2b"))
    })?;
    let starting_after = paging.checked_after(&state, Cursor::Payment).await?;
    let filter = PaymentFilter {
        status,
        reference: q.reference.filter(|s| !s.is_empty()),
        account_reference: q.account_reference.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        phone,
        channel,
        starting_after,
        limit: paging.limit()?,
        ..Default::default()
    };
    let page = state.store.list_payments(&filter).await?;
    let data = page.data.iter().map(|p| payment_object(&state, p)).collect();
    Ok(Json(api::to_json(&PaymentList { object: api::ListObject::Value, data, has_more: page.has_more })))
}

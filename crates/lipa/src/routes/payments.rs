//! `POST /v1/payments`, `GET /v1/payments/{id}`, `GET /v1/payments`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiKey;
use super::{body_error, page_limit};
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

/// The `Idempotency-Key` header, checked (the payments service decides what it means).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
        ApiError::Invalid {
            code: "invalid_idempotency_key",
            message: "Idempotency-Key must be 1 to 255 visible characters".into(),
            field: None,
        }
    })?;
    Ok(Some(key.to_string()))
}

/// The `Idempotency-Key` header with the hash of the request it came with (payouts and refunds).
pub(crate) fn idempotency(headers: &HeaderMap, body: &[u8]) -> Result<Option<crate::store::Idempotency>, ApiError> {
    let request_hash = crate::payments::create::request_hash(body);
    Ok(idempotency_key(headers)?.map(|key| crate::store::Idempotency { key, request_hash }))
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
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(body_error)?;
    let (draft, push) = CreatePayment::parse(&body)?.validate_for_push(state.cfg.reference_max_len)?;
    let idempotency_key = idempotency_key(&headers)?;
    let origin = payments::Origin::Api { key_id, idempotency_key, body: &body };
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
    /// 1 to 100 (default 10).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The last id of the previous page.
    starting_after: Option<String>,
}

/// List payments, newest first
#[utoipa::path(
    get,
    path = "/v1/payments",
    tag = "payments",
    operation_id = "listPayments",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of payments.", body = PaymentList),
        ListErrors,
    ),
)]
async fn list(
    State(state): State<AppState>,
    _key: ApiKey,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            PaymentStatus::parse(s)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "invalid_status",
                        "status",
                        "status must be pending, succeeded, failed or needs_review",
                    )
                })?
                .as_str()
                .to_string(),
        ),
    };
    let phone = match q.phone.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            daraja::Msisdn::parse(s)
                .map_err(|e| ApiError::invalid("invalid_phone", "phone", format!("phone: {e}")))?
                .as_str()
                .to_string(),
        ),
    };
    let channel = match q.channel.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => Some(
            api::Channel::parse(c)
                .ok_or_else(|| ApiError::invalid("invalid_channel", "channel", "channel must be stk or c2b"))?
                .as_str()
                .to_string(),
        ),
    };
    let starting_after = q.starting_after.filter(|s| !s.is_empty());
    if let Some(after) = &starting_after {
        if state.store.get_payment(after).await?.is_none() {
            return Err(ApiError::invalid("invalid_cursor", "starting_after", "starting_after names no payment"));
        }
    }
    let filter = PaymentFilter {
        status,
        reference: q.reference.filter(|s| !s.is_empty()),
        account_reference: q.account_reference.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
        phone,
        channel,
        starting_after,
        limit: page_limit(q.limit.as_deref())?,
        ..Default::default()
    };
    let page = state.store.list_payments(&filter).await?;
    let data = page.data.iter().map(|p| payment_object(&state, p)).collect();
    Ok(Json(api::to_json(&PaymentList { object: api::ListObject::Value, data, has_more: page.has_more })))
}

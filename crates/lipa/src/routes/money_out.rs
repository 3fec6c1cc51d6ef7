//! `/v1/payouts`, `/v1/refunds`, `/v1/payments/{id}/refunds` and `/v1/balance`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::ApiKey;
use super::list::{self, Paging};
use super::ApiPost;
use crate::api::error::{ListErrors, LookupErrors};
use crate::api::money_out::{
    object_json, Balance, CreatePayout, CreateRefund, Payout, PayoutList, PayoutRequest, Refund, RefundList,
    RefundRequest,
};
use crate::api::{self, ErrorBody, ListObject};
use crate::app::AppState;
use crate::domain::money_out::{MoneyOut, Object};
use crate::domain::PaymentStatus;
use crate::error::ApiError;
use crate::money_out::{balance, create};
use crate::store::money_out::MoneyOutFilter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payout, list_payouts))
        .routes(routes!(get_payout))
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
        .routes(routes!(get_balance))
}

/// Create a payout (B2C)
///
/// Committed as pending before the B2C request goes out; its id is the request's OriginatorConversationID,
/// so it can never be paid twice. The same Idempotency-Key with the same body gives the same payout.
#[utoipa::path(post, path = "/v1/payouts", tag = "money out", operation_id = "createPayout",
    request_body = CreatePayout,
    params(("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body pays nothing more.")),
    responses(
        (status = 201, description = "The payout (pending).", body = Payout),
        (status = 400, description = "A field is missing or wrong; `field` names it.", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key.", body = ErrorBody),
        (status = 409, description = "idempotency_key_reused.", body = ErrorBody),
        (status = 503, description = "Money out is not configured.", body = ErrorBody),
    ))]
async fn create_payout(
    State(state): State<AppState>,
    ApiKey(key_id): ApiKey,
    post: ApiPost,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = PayoutRequest::parse(&post.body)?;
    let m = create::payout(&state, req, Some(key_id), post.idempotency()?).await?;
    Ok((StatusCode::CREATED, Json(object_json(&m))))
}

async fn find(state: &AppState, id: &str, object: Object) -> Result<MoneyOut, ApiError> {
    match state.store.get_money_out(id).await? {
        Some(m) if m.draft.object == object => Ok(m),
        _ => Err(ApiError::NotFound(object.as_str())),
    }
}

/// Get a payout
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "money out", operation_id = "getPayout",
    params(("id" = String, Path, description = "The payout id (po_…).")),
    responses((status = 200, description = "The payout.", body = Payout), LookupErrors))]
async fn get_payout(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(object_json(&find(&state, &id, Object::Payout).await?)))
}

/// `GET /v1/payouts` filters.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only payouts with this status.
    #[param(value_type = Option<PaymentStatus>)]
    status: Option<String>,
    /// Only payouts to this phone (any format).
    phone: Option<String>,
}

fn filter(q: ListQuery, paging: Paging, object: Object) -> Result<MoneyOutFilter, ApiError> {
    Ok(MoneyOutFilter {
        object: object.as_str().to_string(),
        status: list::status(q.status.as_deref())?,
        phone: list::phone(q.phone.as_deref())?,
        payment_id: None,
        starting_after: paging.after(),
        limit: paging.limit()?,
    })
}

/// List payouts, newest first
#[utoipa::path(get, path = "/v1/payouts", tag = "money out", operation_id = "listPayouts", params(ListQuery, Paging),
    responses((status = 200, description = "A page of payouts.", body = PayoutList), ListErrors))]
async fn list_payouts(
    State(state): State<AppState>,
    _key: ApiKey,
    Query(q): Query<ListQuery>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let page = state.store.list_money_out(&filter(q, paging, Object::Payout)?).await?;
    let data = page.data.iter().map(Payout::of).collect();
    Ok(Json(api::to_json(&PayoutList { object: ListObject::Value, data, has_more: page.has_more })))
}

/// Refund a payment
///
/// Only a succeeded payment; the amount defaults to what is left. Its refunds (pending ones included) never
/// add up to more than it paid: 409 refund_exceeds_payment otherwise. LIPA_REFUND_METHOD decides how the
/// money goes back: reversal of the payment's receipt (default) or b2c to the payer.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "money out", operation_id = "createRefund",
    request_body = CreateRefund,
    params(("id" = String, Path, description = "The payment id (pay_…)."),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key and body refunds nothing more.")),
    responses(
        (status = 201, description = "The refund (pending).", body = Refund),
        (status = 400, description = "A field is wrong; `field` names it.", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key.", body = ErrorBody),
        (status = 404, description = "No such payment.", body = ErrorBody),
        (status = 409, description = "refund_exceeds_payment, payment_not_refundable, refund_unavailable, \
         refund_below_minimum or idempotency_key_reused.", body = ErrorBody),
        (status = 503, description = "Money out is not configured.", body = ErrorBody),
    ))]
async fn create_refund(
    State(state): State<AppState>,
    ApiKey(key_id): ApiKey,
    Path(payment_id): Path<String>,
    post: ApiPost,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req = RefundRequest::parse(&post.body)?;
    let m = create::refund(&state, payment_id, req, Some(key_id), post.idempotency()?).await?;
    Ok((StatusCode::CREATED, Json(object_json(&m))))
}

/// Get a refund
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "money out", operation_id = "getRefund",
    params(("id" = String, Path, description = "The refund id (re_…).")),
    responses((status = 200, description = "The refund.", body = Refund), LookupErrors))]
async fn get_refund(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(object_json(&find(&state, &id, Object::Refund).await?)))
}

/// List a payment's refunds, newest first
#[utoipa::path(get, path = "/v1/payments/{id}/refunds", tag = "money out", operation_id = "listRefunds",
    params(("id" = String, Path, description = "The payment id (pay_…)."), ListQuery, Paging),
    responses((status = 200, description = "A page of refunds.", body = RefundList), LookupErrors))]
async fn list_refunds(
    State(state): State<AppState>,
    _key: ApiKey,
    Path(payment_id): Path<String>,
    Query(q): Query<ListQuery>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    if state.store.get_payment(&payment_id).await?.is_none() {
        return Err(ApiError::NotFound("payment"));
    }
    let mut f = filter(q, paging, Object::Refund)?;
    f.payment_id = Some(payment_id);
    let page = state.store.list_money_out(&f).await?;
    let data = page.data.iter().map(Refund::of).collect();
    Ok(Json(api::to_json(&RefundList { object: ListObject::Value, data, has_more: page.has_more })))
}

/// Read the balances (Account Balance)
///
/// Asks Daraja and waits (at most 20 s) for its asynchronous answer. Money in integer cents.
#[utoipa::path(get, path = "/v1/balance", tag = "money out", operation_id = "getBalance",
    responses(
        (status = 200, description = "The accounts of the B2C shortcode.", body = Balance),
        (status = 401, description = "Missing or unknown API key.", body = ErrorBody),
        (status = 503, description = "Not configured, refused, or no answer in time.", body = ErrorBody),
    ))]
async fn get_balance(State(state): State<AppState>, _key: ApiKey) -> Result<Json<Value>, ApiError> {
    Ok(Json(api::to_json(&balance::read(&state).await?)))
}

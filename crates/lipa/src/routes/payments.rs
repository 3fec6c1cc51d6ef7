//! `POST /v1/payments`, `GET /v1/payments/{id}`, `GET /v1/payments`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::auth::ApiKey;
use super::{body_error, page_limit};
use crate::app::{now_ms, AppState};
use crate::domain::{Payment, PaymentDraft, PaymentStatus, PushState};
use crate::error::ApiError;
use crate::service;
use crate::store::{Created, Idempotency, NewPayment, PaymentFilter};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/payments", get(list).post(create)).route("/v1/payments/{id}", get(fetch))
}

/// The payment object with its checkout URL when the customer still has to type a phone number.
pub fn payment_json(state: &AppState, p: &Payment) -> Value {
    let mut v = p.to_api_json();
    if p.push_state == PushState::AwaitingPhone && p.status == PaymentStatus::Pending {
        v["checkout_url"] = state.checkout_url(&p.id).into();
    } else {
        v["checkout_url"] = Value::Null;
    }
    v
}

const MAX_METADATA: usize = 4096;

/// Check every field before anything is stored or sent to Daraja; the first problem names its field.
pub fn validate(body: &[u8], reference_max_len: usize) -> Result<PaymentDraft, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Invalid {
        code: "invalid_json",
        message: format!("the body is not valid JSON: {e}"),
        field: None,
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::Invalid {
            code: "invalid_json",
            message: "the body must be a JSON object".into(),
            field: None,
        });
    };
    let amount = match obj.get("amount") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("missing_amount", "amount", "amount is required: whole KES from 1 to 250000"))
        }
        Some(Value::Number(n)) => match n.as_i64() {
            Some(a) => a,
            None => {
                return Err(ApiError::invalid(
                    "invalid_amount",
                    "amount",
                    format!("amount {n} is not a whole number: M-Pesa takes whole KES from 1 to 250000"),
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::invalid("invalid_amount", "amount", "amount must be a JSON number of whole KES"))
        }
    };
    daraja::Amount::try_from(amount).map_err(|_| {
        ApiError::invalid(
            "invalid_amount",
            "amount",
            format!("amount {amount} is out of range: whole KES from 1 to 250000"),
        )
    })?;
    let phone = match obj.get("phone") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            daraja::Msisdn::parse(s)
                .map_err(|e| {
                    ApiError::invalid(
                        "invalid_phone",
                        "phone",
                        format!("phone {s:?} is not a Kenyan mobile number: {e}"),
                    )
                })?
                .as_str()
                .to_string(),
        ),
        Some(_) => {
            return Err(ApiError::invalid("invalid_phone", "phone", "phone must be a string such as \"0712 345 678\""))
        }
    };
    let reference = match obj.get("reference") {
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "missing_reference",
                "reference",
                "reference is required (your order number)",
            ))
        }
        Some(Value::String(s)) => daraja::AccountReference::new(s, reference_max_len)
            .map_err(|e| ApiError::invalid("invalid_reference", "reference", format!("reference: {e}")))?
            .as_str()
            .to_string(),
        Some(_) => return Err(ApiError::invalid("invalid_reference", "reference", "reference must be a string")),
    };
    let description = match obj.get("description") {
        None | Some(Value::Null) => reference.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => reference.clone(),
        Some(Value::String(s)) if s.chars().count() > 200 => {
            return Err(ApiError::invalid(
                "invalid_description",
                "description",
                "description is longer than 200 characters",
            ))
        }
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(ApiError::invalid("invalid_description", "description", "description must be a string")),
    };
    let metadata = match obj.get("metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) if v.to_string().len() <= MAX_METADATA => v.clone(),
        Some(Value::Object(_)) => {
            return Err(ApiError::invalid(
                "invalid_metadata",
                "metadata",
                format!("metadata is larger than {MAX_METADATA} bytes"),
            ))
        }
        Some(_) => return Err(ApiError::invalid("invalid_metadata", "metadata", "metadata must be a JSON object")),
    };
    let return_url = match obj.get("return_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match url::Url::parse(s) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && s.len() <= 2048 => Some(s.clone()),
            _ => {
                return Err(ApiError::invalid("invalid_return_url", "return_url", "return_url must be an http(s) URL"))
            }
        },
        Some(_) => return Err(ApiError::invalid("invalid_return_url", "return_url", "return_url must be a string")),
    };
    Ok(PaymentDraft { amount, phone, reference, description, metadata, return_url })
}

fn idempotency(headers: &HeaderMap, body: &[u8]) -> Result<Option<Idempotency>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
        ApiError::Invalid {
            code: "invalid_idempotency_key",
            message: "Idempotency-Key must be 1 to 255 visible characters".into(),
            field: None,
        }
    })?;
    // The same JSON however its keys are ordered or spaced: serde_json's map is sorted.
    let canonical = serde_json::from_slice::<Value>(body).map(|v| v.to_string()).unwrap_or_default();
    Ok(Some(Idempotency { key: key.to_string(), request_hash: hex::encode(Sha256::digest(canonical.as_bytes())) }))
}

async fn create(
    State(state): State<AppState>,
    ApiKey(key_id): ApiKey,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = body.map_err(body_error)?;
    let req = validate(&body, state.cfg.reference_max_len)?;
    let idem = idempotency(&headers, &body)?;
    let guard = state.cfg.pending_guard.then(|| req.reference.clone());
    let payment = Payment::new_pending(
        req,
        now_ms(),
        state.cfg.reconcile_after.as_millis() as i64,
        state.cfg.pending_max_age.as_millis() as i64,
    );
    let new = NewPayment { payment, pending_guard: guard, api_key_id: Some(key_id), idempotency: idem };
    let payment = match state.store.create_payment(new).await? {
        Created::Replay { same_request: false, .. } => {
            return Err(ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with a different request body".into(),
            })
        }
        Created::Replay { payment, .. } => payment,
        Created::New(p) if p.push_state == PushState::Sending => service::send_push(&state, p).await?,
        Created::New(p) => p,
    };
    Ok((StatusCode::CREATED, Json(payment_json(&state, &payment))))
}

async fn fetch(State(state): State<AppState>, _key: ApiKey, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = state.store.get_payment(&id).await?.ok_or(ApiError::NotFound("payment"))?;
    Ok(Json(payment_json(&state, &p)))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    reference: Option<String>,
    phone: Option<String>,
    limit: Option<String>,
    starting_after: Option<String>,
}

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
    let starting_after = q.starting_after.filter(|s| !s.is_empty());
    if let Some(after) = &starting_after {
        if state.store.get_payment(after).await?.is_none() {
            return Err(ApiError::invalid("invalid_cursor", "starting_after", "starting_after names no payment"));
        }
    }
    let filter = PaymentFilter {
        status,
        reference: q.reference.filter(|s| !s.is_empty()),
        phone,
        starting_after,
        limit: page_limit(q.limit.as_deref())?,
        ..Default::default()
    };
    let page = state.store.list_payments(&filter).await?;
    let data: Vec<Value> = page.data.iter().map(|p| payment_json(&state, p)).collect();
    Ok(Json(json!({ "object": "list", "data": data, "has_more": page.has_more })))
}

//! One error type for the HTTP API: client mistakes become 4xx JSON naming the field; anything internal is
//! logged once and answered with an opaque 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::payments::PaymentError;
use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// 400/422-class input problems: a machine code, a message and the field at fault.
    Invalid {
        code: &'static str,
        message: String,
        field: Option<&'static str>,
    },
    Unauthorized,
    NotFound(&'static str),
    Conflict {
        code: &'static str,
        message: String,
    },
    TooLarge,
    /// 429 with `Retry-After` (whole seconds).
    RateLimited {
        message: String,
        retry_after: u64,
    },
    Unavailable(String),
    Internal(String),
}

impl ApiError {
    pub fn invalid(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid { code, message: message.into(), field: Some(field) }
    }
}

impl From<crate::api::Invalid> for ApiError {
    fn from(e: crate::api::Invalid) -> Self {
        ApiError::Invalid { code: e.code, message: e.message, field: e.field }
    }
}

impl From<crate::outbound::NotConfigured> for ApiError {
    fn from(e: crate::outbound::NotConfigured) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused { code, message } => ApiError::Conflict { code, message },
            e => PaymentError::from(e).into(),
        }
    }
}

/// The one place where the payments service's errors become API answers.
impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::IdempotencyKeyReused => ApiError::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used with a different request body".into(),
            },
            PaymentError::ReferencePending => ApiError::Conflict {
                code: "payment_pending",
                message: "a payment for this reference is already pending; wait for it to finish".into(),
            },
            // Only after every derived account reference was taken (see `payments::create`).
            PaymentError::AccountReferenceUnavailable => ApiError::Conflict {
                code: "account_reference_unavailable",
                message: "every account reference derived from this reference is held by a pending payment; \
                          try again when one of them has finished"
                    .into(),
            },
            PaymentError::NotFound => ApiError::NotFound("payment"),
            PaymentError::Store(e) => ApiError::Internal(e.to_string()),
            PaymentError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let (status, code, message, field) = match self {
            ApiError::Invalid { code, message, field } => (StatusCode::BAD_REQUEST, code, message, field),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or invalid API key: send Authorization: Bearer <key>".into(),
                None,
            ),
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", format!("no such {what}"), None),
            ApiError::Conflict { code, message } => (StatusCode::CONFLICT, code, message, None),
            ApiError::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is too large".into(), None)
            }
            ApiError::RateLimited { message, .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m, None),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error".into(), None)
            }
        };
        let body = crate::api::ErrorBody {
            error: crate::api::ErrorDetail { code: code.to_string(), message, field: field.map(str::to_string) },
        };
        let mut resp = (status, Json(crate::api::to_json(&body))).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        resp
    }
}

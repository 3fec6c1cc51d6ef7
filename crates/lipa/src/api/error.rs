//! The error body of every 4xx/5xx answer: `{"error": {"code", "message", "field"}}`.

use serde::Serialize;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A machine code, e.g. invalid_phone, missing_amount, invalid_amount, invalid_reference, invalid_json,
    /// invalid_limit, invalid_cursor, invalid_status, invalid_type, idempotency_key_reused, payment_pending,
    /// unauthorized, not_found, body_too_large, rate_limited, unavailable, internal_error.
    #[schema(example = "invalid_phone")]
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The errors of reading one resource by id.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum LookupErrors {
    /// Missing or unknown API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// No such payment or event.
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The errors of a list with filters.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ListErrors {
    /// A filter is wrong; `field` names it.
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// Missing or unknown API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

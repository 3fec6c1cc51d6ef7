//! The merchant API's boundary: the request and response types of every `/v1` route and of errors, with
//! their JSON shape (serde) and their schema (utoipa). `/openapi.json` is generated from these types and
//! the routes that use them (`routes::openapi`), so the document cannot drift from what is served.
//!
//! Routes turn domain values into these types; nothing here talks to the store or Daraja.

pub mod error;
pub mod events;
pub mod money_out;
pub mod payments;

pub use error::{ErrorBody, ErrorDetail};
pub use events::{Delivery, Event, EventList, EventType};
pub use payments::{Channel, CreatePayment, FailureReason, Payment, PaymentList, Resolution, ResolutionOutcome};

/// A request the API cannot take: a machine code, a message, and the field at fault. (The HTTP error type,
/// `error::ApiError`, wraps it; this module depends on nothing but the domain.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
    pub field: Option<&'static str>,
}

impl Invalid {
    pub fn field(code: &'static str, field: &'static str, message: impl Into<String>) -> Self {
        Invalid { code, message: message.into(), field: Some(field) }
    }
}

/// A JSON value with its object keys in sorted order: the byte order lipa has always answered with (a
/// `serde_json::Map` without `preserve_order` is sorted), whatever the field order of the Rust type.
pub fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// `object: "list"` and friends: a constant string field with a one-value schema.
macro_rules! constant {
    ($name:ident, $value:literal) => {
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
        pub enum $name {
            #[default]
            #[serde(rename = $value)]
            #[schema(rename = $value)]
            Value,
        }
    };
}
pub(crate) use constant;

constant!(ListObject, "list");

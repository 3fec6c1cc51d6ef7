//! HTTP routes, one file per resource.

pub mod admin;
pub mod auth;
pub mod c2b;
pub mod callbacks;
pub mod checkout;
pub mod docs;
pub mod events;
pub mod health;
pub mod metrics;
pub mod money_out;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod results;
pub mod shop;

use axum::extract::rejection::BytesRejection;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// Every route of the gateway, with the body limit, the metrics and the request log around them.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(self::openapi::router())
        .merge(self::docs::router())
        .merge(self::results::router())
        .merge(self::callbacks::router())
        .merge(self::c2b::router())
        .merge(self::metrics::router())
        .merge(self::pages::router())
        .merge(self::checkout::router())
        .merge(self::shop::router())
        .merge(self::admin::router())
        .layer(DefaultBodyLimit::max(crate::app::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), crate::metrics::track))
        .with_state(state);
    crate::request_log::layer(routes)
}

/// A body that could not be read: too large, or broken off.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge
    } else {
        ApiError::Invalid { code: "invalid_body", message: e.body_text(), field: None }
    }
}

/// `limit` query parameter: 1–100, default 10.
pub fn page_limit(limit: Option<&str>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(10),
        Some(s) => {
            s.parse::<i64>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
                ApiError::invalid("invalid_limit", "limit", "limit must be a whole number from 1 to 100")
            })
        }
    }
}

//! HTTP routes, one file per resource.

pub mod admin;
pub mod auth;
pub mod c2b;
pub mod callbacks;
pub mod checkout;
pub mod docs;
pub mod events;
pub mod health;
pub mod list;
pub mod metrics;
pub mod money_out;
pub mod openapi;
pub mod pages;
pub mod payments;
pub mod results;
pub mod shop;

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// Every route of the gateway, with the body limit, the metrics and the request span around them (the request
/// id and the input checks go around the whole app: `boundary::apply`).
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
    crate::request_log::trace(routes)
}

/// A body that could not be read: too large, or broken off.
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge
    } else {
        ApiError::Invalid { code: "invalid_body", message: e.body_text(), field: None }
    }
}

/// Who sent a request (its headers and connection), kept by the extractors that also read its body.
pub struct Sender {
    pub headers: HeaderMap,
    ext: Extensions,
}

impl Sender {
    /// The client, as the limits and the callback allowlist see it (see [`pages::client_ip`]).
    pub fn client_ip(&self, state: &AppState) -> Option<IpAddr> {
        pages::client_ip(state, &self.headers, &self.ext)
    }
}

/// A request taken apart for an extractor that reads its body: the `{…}` parameter of its path, who sent it,
/// and the request again, for the body.
pub async fn path_and_sender<S: Send + Sync>(req: Request, state: &S) -> Result<(String, Sender, Request), Response> {
    let (mut parts, body) = req.into_parts();
    let Path(param) =
        Path::<String>::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
    let sender = Sender { headers: parts.headers.clone(), ext: parts.extensions.clone() };
    Ok((param, sender, Request::from_parts(parts, body)))
}

/// The body of a `/v1` POST (a body too large is 413, one broken off 400) with the request's headers.
pub struct ApiPost {
    pub body: Bytes,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequest<S> for ApiPost {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state).await.map_err(body_error)?;
        Ok(ApiPost { body, headers })
    }
}

impl ApiPost {
    /// The `Idempotency-Key` header, checked (the payments service decides what it means).
    pub fn idempotency_key(&self) -> Result<Option<String>, ApiError> {
        let Some(v) = self.headers.get("idempotency-key") else { return Ok(None) };
        let key = v.to_str().ok().map(str::trim).filter(|k| !k.is_empty() && k.len() <= 255).ok_or_else(|| {
            ApiError::Invalid {
                code: "invalid_idempotency_key",
                message: "Idempotency-Key must be 1 to 255 visible characters".into(),
                field: None,
            }
        })?;
        Ok(Some(key.to_string()))
    }

    /// The `Idempotency-Key` header with the hash of this body (payouts and refunds).
    pub fn idempotency(&self) -> Result<Option<crate::store::Idempotency>, ApiError> {
        let hash =
            |key| crate::store::Idempotency { key, request_hash: crate::payments::create::request_hash(&self.body) };
        Ok(self.idempotency_key()?.map(hash))
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

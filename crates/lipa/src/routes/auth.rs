//! `Authorization: Bearer <api key>` for the merchant API (the keys themselves: `auth::keys`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::error::ApiError;

/// The id of the API key that made the request.
pub struct ApiKey(pub String);

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 200)
            .ok_or(ApiError::Unauthorized)?;
        match crate::auth::keys::key_id(state.store.as_ref(), &state.keys, key).await? {
            Some(id) => {
                if let Err(refused) = state.limits.api(&id) {
                    state.metrics.rate_limited(refused.limit);
                    let secs = refused.retry_after_secs();
                    return Err(ApiError::RateLimited {
                        message: format!(
                            "too many requests for this API key (LIPA_RATE_LIMIT_API per minute): try again in {secs} s"
                        ),
                        retry_after: secs,
                    });
                }
                Ok(ApiKey(id))
            }
            None => Err(ApiError::Unauthorized),
        }
    }
}

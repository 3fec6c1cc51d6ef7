//! `Authorization: Bearer <api key>` for the merchant API. Keys are stored only as SHA-256 hashes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::app::AppState;
use crate::domain::ids::hash_key;
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
        let hash = hash_key(key);
        let id = match state.keys.get(&hash) {
            Some(id) => Some(id),
            None => {
                let found = state.store.api_key_by_hash(&hash).await?;
                if let Some(id) = &found {
                    state.keys.put(hash, id.clone());
                }
                found
            }
        };
        match id {
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

/// How long a key found in the database is trusted without asking again: a key revoked in the database
/// (`revoked_at`) stops working within this time on every instance.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// The API keys this instance has recently found valid, by hash, so that the merchant API's hot path does
/// not read the `api_keys` table on every request. Only keys that exist are kept (an unknown key is looked
/// up every time, so a new key works at once); at most [`KeyCache::MAX`] of them.
#[derive(Default)]
pub struct KeyCache {
    found: Mutex<HashMap<String, (String, Instant)>>,
}

impl KeyCache {
    const MAX: usize = 1024;

    pub fn get(&self, hash: &str) -> Option<String> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found.get(hash).filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL).map(|(id, _)| id.clone())
    }

    pub fn put(&self, hash: String, id: String) {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        if found.len() >= Self::MAX {
            found.retain(|_, (_, at)| at.elapsed() < KEY_CACHE_TTL);
            if found.len() >= Self::MAX {
                found.clear();
            }
        }
        found.insert(hash, (id, Instant::now()));
    }
}

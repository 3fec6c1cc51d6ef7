//! API keys: stored only as SHA-256 hashes; the keys this instance recently found valid are cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::ids::hash_key;
use crate::store::{Store, StoreError};

/// The id of the API key `key`, if it is one that works: from the cache, or from the database (and then
/// cached).
pub async fn key_id(store: &dyn Store, cache: &KeyCache, key: &str) -> Result<Option<String>, StoreError> {
    let hash = hash_key(key);
    if let Some(id) = cache.get(&hash) {
        return Ok(Some(id));
    }
    let found = store.api_key_by_hash(&hash).await?;
    if let Some(id) = &found {
        cache.put(hash, id.clone());
    }
    Ok(found)
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

//! One Daraja token for every instance that shares a database.
//!
//! Safaricom's portal says a new token invalidates the previous one, so instances that each fetched their
//! own would knock each other out. The token lives in the store; an instance that finds it missing or due
//! for refresh takes a short lease and fetches it, while the others wait for it to appear and use it.
//!
//! Each instance keeps the token it last read or stored in memory until the token's `refresh_at`, so a
//! push does not read the database for it. That is safe because every instance shares that instant: nobody
//! fetches a new token before it, unless Daraja refused the old one, and then the instance that is refused
//! drops its copy ([`TokenStore::invalidate`]), reads the database again and retries once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use daraja::{BoxFuture, CachedToken, InMemoryTokenStore, TokenStore, TokenStoreResult};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::store::Store;

/// How long one instance may take to fetch a token before another may try.
const LEASE: Duration = Duration::from_secs(15);
/// How long an instance waits for another's fetch before it fetches itself.
const WAIT: Duration = Duration::from_secs(20);

pub struct DbTokenStore {
    store: Arc<dyn Store>,
    /// This process, as a lease owner.
    owner: String,
    token_key: String,
    lease_key: String,
    /// The token as this instance last read or stored it.
    memo: InMemoryTokenStore,
}

impl DbTokenStore {
    /// `credentials` identifies the Daraja app (base URL, consumer key and secret): a token is only shared
    /// by instances with the same credentials, so a changed key or secret never reuses an old token.
    pub fn new(store: Arc<dyn Store>, credentials: &str) -> Self {
        use sha2::{Digest, Sha256};
        let fp = hex::encode(&Sha256::digest(credentials.as_bytes())[..8]);
        Self {
            store,
            owner: crate::domain::ids::event_id().replace("evt_", "inst_"),
            token_key: format!("daraja.token.{fp}"),
            lease_key: format!("daraja.token.{fp}.refresh"),
            memo: InMemoryTokenStore::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    access_token: String,
    obtained_at: i64,
    refresh_at: i64,
    expires_at: i64,
}

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn decode(v: &str) -> Option<CachedToken> {
    let s: Stored = serde_json::from_str(v).ok()?;
    Some(CachedToken {
        access_token: SecretString::from(s.access_token),
        obtained_at: ts(s.obtained_at),
        refresh_at: ts(s.refresh_at),
        expires_at: ts(s.expires_at),
    })
}

fn encode(t: &CachedToken) -> String {
    serde_json::to_string(&Stored {
        access_token: t.access_token.expose_secret().to_string(),
        obtained_at: t.obtained_at.as_millisecond(),
        refresh_at: t.refresh_at.as_millisecond(),
        expires_at: t.expires_at.as_millisecond(),
    })
    .unwrap_or_default()
}

impl DbTokenStore {
    async fn read(&self) -> TokenStoreResult<Option<CachedToken>> {
        let token = self.store.kv_get(&self.token_key).await?.and_then(|(v, _)| decode(&v));
        if let Some(t) = &token {
            // A read that began before this instance stored a new token must not put the older one back.
            self.memo.keep_newer(t.clone());
        }
        Ok(token)
    }

    /// The token in memory, while it is fresh.
    async fn remembered(&self, now: jiff::Timestamp) -> TokenStoreResult<Option<CachedToken>> {
        Ok(self.memo.get().await?.filter(|t| t.is_fresh(now)))
    }
}

impl TokenStore for DbTokenStore {
    fn get(&self) -> BoxFuture<'_, TokenStoreResult<Option<CachedToken>>> {
        Box::pin(async move {
            if let Some(t) = self.remembered(jiff::Timestamp::now()).await? {
                return Ok(Some(t));
            }
            let started = Instant::now();
            loop {
                let current = self.read().await?;
                let now = jiff::Timestamp::now();
                if let Some(t) = &current {
                    if t.is_fresh(now) {
                        return Ok(current);
                    }
                }
                // Missing or due: the instance holding the lease fetches; the others wait for its token.
                let now_ms = now.as_millisecond();
                let until = now_ms + LEASE.as_millis() as i64;
                if self.store.try_lease(&self.lease_key, &self.owner, until, now_ms).await? || started.elapsed() > WAIT
                {
                    return Ok(current);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    fn put(&self, token: CachedToken) -> BoxFuture<'_, TokenStoreResult<()>> {
        Box::pin(async move {
            self.store.kv_put(&self.token_key, &encode(&token), Some(token.expires_at.as_millisecond())).await?;
            self.memo.put(token).await?;
            self.store.release_lease(&self.lease_key, &self.owner).await?;
            Ok(())
        })
    }

    fn invalidate<'a>(&'a self, refused: &'a CachedToken) -> BoxFuture<'a, TokenStoreResult<()>> {
        Box::pin(async move {
            self.memo.invalidate(refused).await?;
            self.store.kv_delete_if(&self.token_key, &encode(refused)).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> CachedToken {
        let now = jiff::Timestamp::now();
        CachedToken {
            access_token: text.to_owned().into(),
            obtained_at: now,
            refresh_at: now + jiff::SignedDuration::from_mins(50),
            expires_at: now + jiff::SignedDuration::from_mins(60),
        }
    }

    async fn text(tokens: &DbTokenStore) -> Option<String> {
        tokens.get().await.unwrap().map(|t| t.access_token.expose_secret().to_owned())
    }

    /// A push takes the token from memory; the database is read again only once Daraja refused that token
    /// (here another instance has meanwhile stored a new one in the shared database).
    #[tokio::test]
    async fn the_token_is_kept_in_memory_until_daraja_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(dir.path().join("t.db").to_str().unwrap()).await.unwrap();
        let tokens = DbTokenStore::new(store.clone(), "creds");
        assert_eq!(text(&tokens).await, None, "nothing stored yet: the caller fetches");
        tokens.put(token("first")).await.unwrap();
        assert_eq!(text(&tokens).await.as_deref(), Some("first"));

        // Another instance writes a new token into the database behind this one's back.
        let other = DbTokenStore::new(store.clone(), "creds");
        other.put(token("second")).await.unwrap();
        assert_eq!(text(&tokens).await.as_deref(), Some("first"), "read from memory, not the database");

        // Daraja refuses "first": dropped from memory, and the database's token is read.
        tokens.invalidate(&token("first")).await.unwrap();
        assert_eq!(text(&tokens).await.as_deref(), Some("second"));
        // Refusing a token this instance does not hold keeps the one it holds.
        tokens.invalidate(&token("neither")).await.unwrap();
        assert_eq!(text(&tokens).await.as_deref(), Some("second"));
    }
}

//! Where the OAuth access token is kept between requests.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use crate::error::BoxError;

/// A boxed, `Send` future, so that [`TokenStore`] stays object-safe without extra crates.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An OAuth access token together with its lifetime.
///
/// ```
/// use daraja::{CachedToken, SecretString};
/// let now: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
/// let t = CachedToken {
///     access_token: SecretString::from("abc"),
///     obtained_at: now,
///     refresh_at: now + jiff::SignedDuration::from_mins(50),
///     expires_at: now + jiff::SignedDuration::from_secs(3599),
/// };
/// assert!(t.is_fresh(now));
/// assert!(!t.is_fresh(now + jiff::SignedDuration::from_mins(50)));
/// ```
#[derive(Clone)]
pub struct CachedToken {
    /// The bearer token.
    pub access_token: SecretString,
    /// When Daraja issued it (by the client's clock).
    pub obtained_at: jiff::Timestamp,
    /// From this instant on the client fetches a new token instead of using this one.
    pub refresh_at: jiff::Timestamp,
    /// `obtained_at + expires_in`, as reported by Daraja.
    pub expires_at: jiff::Timestamp,
}

impl CachedToken {
    /// `true` while the token may still be used (`now < refresh_at`).
    pub fn is_fresh(&self, now: jiff::Timestamp) -> bool {
        now < self.refresh_at
    }
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("access_token", &"[redacted]")
            .field("obtained_at", &self.obtained_at)
            .field("refresh_at", &self.refresh_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Keeps the current OAuth token, shared by every clone of a [`Client`](crate::Client).
///
/// The default, [`InMemoryTokenStore`], serves one process. When several gateway instances
/// must share ONE token (Safaricom is said to invalidate the previous token whenever a new one is
/// issued), implement this trait on top of their shared database and pass it with
/// [`Config::with_token_store`](crate::Config::with_token_store).
///
/// How the client uses it:
/// 1. [`get`](TokenStore::get); if the token is fresh (`now < refresh_at`), use it.
/// 2. Otherwise take the client's refresh lock (one refresh in flight per process), call `get`
///    again (another task — or another instance — may have refreshed meanwhile), and only if it
///    is still missing or stale fetch a new token and [`put`](TokenStore::put) it.
/// 3. When Daraja answers "Invalid Access Token", call [`invalidate`](TokenStore::invalidate)
///    with the refused token, then go to 2. `invalidate` must only drop the stored token if it
///    is still the refused one, so that a token another caller just fetched survives.
///
/// Errors from the store surface as [`Error::TokenStore`](crate::Error::TokenStore).
///
/// ```
/// use std::sync::Mutex;
/// use daraja::{BoxFuture, CachedToken, TokenStore};
/// use daraja::token::TokenStoreResult;
///
/// /// Stand-in for a table `oauth_token(access_token, obtained_at, refresh_at, expires_at)`.
/// #[derive(Default)]
/// struct Db(Mutex<Option<CachedToken>>);
///
/// impl TokenStore for Db {
///     fn get(&self) -> BoxFuture<'_, TokenStoreResult<Option<CachedToken>>> {
///         Box::pin(async move { Ok(self.0.lock().unwrap().clone()) })
///     }
///     fn put(&self, token: CachedToken) -> BoxFuture<'_, TokenStoreResult<()>> {
///         Box::pin(async move { *self.0.lock().unwrap() = Some(token); Ok(()) })
///     }
///     fn invalidate<'a>(&'a self, refused: &'a CachedToken) -> BoxFuture<'a, TokenStoreResult<()>> {
///         Box::pin(async move {
///             let mut slot = self.0.lock().unwrap();
///             // UPDATE … WHERE access_token = $refused
///             if slot.as_ref().is_some_and(|t| t.obtained_at == refused.obtained_at) {
///                 *slot = None;
///             }
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait TokenStore: Send + Sync + 'static {
    /// The stored token, fresh or not, if any.
    fn get(&self) -> BoxFuture<'_, TokenStoreResult<Option<CachedToken>>>;
    /// Stores a newly fetched token, replacing any previous one.
    fn put(&self, token: CachedToken) -> BoxFuture<'_, TokenStoreResult<()>>;
    /// Drops the stored token if it is (still) `refused`.
    fn invalidate<'a>(&'a self, refused: &'a CachedToken) -> BoxFuture<'a, TokenStoreResult<()>>;
}

/// Result type of [`TokenStore`] methods.
pub type TokenStoreResult<T> = Result<T, BoxError>;

/// The default [`TokenStore`]: one token in memory, shared by all clones of the client.
///
/// ```
/// let store = daraja::InMemoryTokenStore::new();
/// # let _ = store;
/// ```
#[derive(Default)]
pub struct InMemoryTokenStore {
    slot: Mutex<Option<CachedToken>>,
}

impl InMemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `token` unless the store already holds one obtained later (a copy read from a shared store
    /// that was already replaced here).
    ///
    /// ```
    /// # use daraja::{CachedToken, InMemoryTokenStore, TokenStore};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let at = |s: i64, text: &str| {
    ///     let t = jiff::Timestamp::from_second(s).unwrap();
    ///     CachedToken { access_token: text.to_owned().into(), obtained_at: t, refresh_at: t, expires_at: t }
    /// };
    /// let store = InMemoryTokenStore::new();
    /// store.keep_newer(at(200, "new"));
    /// store.keep_newer(at(100, "old"));
    /// let kept = store.get().await.unwrap().unwrap();
    /// assert_eq!(secrecy::ExposeSecret::expose_secret(&kept.access_token), "new");
    /// # });
    /// ```
    pub fn keep_newer(&self, token: CachedToken) {
        let mut slot = self.lock();
        if slot.as_ref().is_none_or(|held| held.obtained_at <= token.obtained_at) {
            *slot = Some(token);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CachedToken>> {
        // A panic while holding this lock cannot leave the Option half-written.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for InMemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryTokenStore").field("token", &*self.lock()).finish()
    }
}

impl TokenStore for InMemoryTokenStore {
    fn get(&self) -> BoxFuture<'_, TokenStoreResult<Option<CachedToken>>> {
        let t = self.lock().clone();
        Box::pin(async move { Ok(t) })
    }

    fn put(&self, token: CachedToken) -> BoxFuture<'_, TokenStoreResult<()>> {
        *self.lock() = Some(token);
        Box::pin(async { Ok(()) })
    }

    fn invalidate<'a>(&'a self, refused: &'a CachedToken) -> BoxFuture<'a, TokenStoreResult<()>> {
        let mut slot = self.lock();
        if slot.as_ref().is_some_and(|t| t.access_token.expose_secret() == refused.access_token.expose_secret()) {
            *slot = None;
        }
        drop(slot);
        Box::pin(async { Ok(()) })
    }
}

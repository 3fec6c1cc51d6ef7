//! The HTTP client: OAuth token cache, STK push, STK query.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock::StkCredentials;
use crate::config::Config;
use crate::error::Error;
use crate::result_code::ResultCode;
use crate::token::CachedToken;
use crate::types::{AccountReference, Amount, InvalidInput, Msisdn, TransactionDesc};

const STK_PUSH_PATH: &str = "/mpesa/stkpush/v1/processrequest";
const STK_QUERY_PATH: &str = "/mpesa/stkpushquery/v1/query";
const OAUTH_PATH: &str = "/oauth/v1/generate?grant_type=client_credentials";
const EXCERPT_CHARS: usize = 200;

mod stk;
mod wire;

pub use self::stk::{StkPush, StkPushAccepted, StkQueryStatus};
use self::wire::*;

/// A Daraja client. Cheap to clone (one `Arc` inside); all clones share the HTTP connection
/// pool, the OAuth token and the OAuth request counter, and can be used from many tasks at once.
///
/// The client never retries an STK push by itself, with one exception: when Daraja answers
/// "Invalid Access Token" (the push was refused before processing), it drops the token, fetches
/// one new token and sends the push once more.
///
/// ```no_run
/// use daraja::{AccountReference, Amount, Client, Config, Environment, Msisdn, StkPush, StkQueryStatus, TransactionDesc};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = Client::new(Config::new(
///     Environment::Sandbox,
///     std::env::var("MPESA_CONSUMER_KEY")?,
///     std::env::var("MPESA_CONSUMER_SECRET")?,
///     "174379",
///     std::env::var("MPESA_PASSKEY")?,
/// ))?;
///
/// let accepted = client
///     .stk_push(&StkPush {
///         phone: Msisdn::parse("0708374149")?,
///         amount: Amount::new(1)?,
///         reference: AccountReference::new("ORDER-42", AccountReference::MAX_LEN)?,
///         description: TransactionDesc::new("Order 42"),
///         callback_url: "https://example.com/callback/4f9c2e".into(),
///     })
///     .await?;
///
/// match client.stk_query(&accepted.checkout_request_id).await? {
///     StkQueryStatus::Pending => println!("waiting for the customer"),
///     StkQueryStatus::Final { result_code, result_desc, .. } => println!("{result_code}: {result_desc}"),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    http: reqwest::Client,
    base: String,
    /// Held while one task fetches a token, so concurrent callers wait for it instead of
    /// fetching their own.
    refresh_lock: tokio::sync::Mutex<()>,
    oauth_requests: AtomicU64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("oauth_requests", &self.oauth_requests())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Validates the configuration and builds the HTTP client (rustls). Makes no request.
    pub fn new(config: Config) -> Result<Client, Error> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("lipa-daraja/", env!("CARGO_PKG_VERSION")))
            // Daraja never redirects; following one would re-send a push or a payout, bearer token and
            // all, to wherever the answer points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidInput { field: "http_client", reason: e.to_string() })?;
        let base = config.environment.base_url().as_str().trim_end_matches('/').to_owned();
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                base,
                refresh_lock: tokio::sync::Mutex::new(()),
                oauth_requests: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// How many OAuth token requests this client (all clones together) has sent.
    pub fn oauth_requests(&self) -> u64 {
        self.inner.oauth_requests.load(Ordering::Relaxed)
    }

    pub(crate) fn check_callback_url(&self, raw: &str) -> Result<(), InvalidInput> {
        let err = |reason: &str| InvalidInput::new("callback_url", reason);
        let url = url::Url::parse(raw.trim()).map_err(|_| err("callback URL is not a valid URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(err("callback URL must be an http(s) URL with a host"));
        }
        if self.inner.config.environment.is_production() {
            if url.scheme() != "https" {
                return Err(err("production callback URLs must use https"));
            }
            let lower = raw.to_ascii_lowercase();
            for word in ["m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query"] {
                if lower.contains(word) {
                    return Err(InvalidInput::new(
                        "callback_url",
                        format!("Safaricom refuses callback URLs containing {word:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A valid OAuth access token: the cached one while it is fresh, else one fetched by exactly one
    /// task at a time. Readiness checks and configuration doctors use it to prove the credentials work.
    ///
    /// ```no_run
    /// # async fn run(client: daraja::Client) -> Result<(), daraja::Error> {
    /// let _token = client.access_token().await?; // the credentials are good
    /// # Ok(()) }
    /// ```
    pub async fn access_token(&self) -> Result<SecretString, Error> {
        Ok(self.token().await?.access_token)
    }

    /// Returns a fresh token: from the store, or fetched by exactly one task at a time.
    async fn token(&self) -> Result<CachedToken, Error> {
        let inner = &self.inner;
        let store = &inner.config.token_store;
        if let Some(t) = store.get().await.map_err(Error::TokenStore)? {
            if t.is_fresh(inner.config.clock.now()) {
                return Ok(t);
            }
        }
        let _guard = inner.refresh_lock.lock().await;
        // Whoever held the lock before us may have stored a new token already.
        if let Some(t) = store.get().await.map_err(Error::TokenStore)? {
            if t.is_fresh(inner.config.clock.now()) {
                return Ok(t);
            }
        }
        let t = self.fetch_token().await?;
        store.put(t.clone()).await.map_err(Error::TokenStore)?;
        Ok(t)
    }

    async fn fetch_token(&self) -> Result<CachedToken, Error> {
        let inner = &self.inner;
        let c = &inner.config;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            c.consumer_key.expose_secret(),
            c.consumer_secret.expose_secret()
        ));
        let mut header = HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| Error::InvalidInput {
            field: "consumer_key",
            reason: "consumer key/secret contain characters not allowed in a header".into(),
        })?;
        header.set_sensitive(true);
        let url = format!("{}{}", inner.base, OAUTH_PATH);
        inner.oauth_requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("fetching a new Daraja OAuth token");
        // Whatever goes wrong here, the actual request has not been sent yet: retry-safe.
        let not_sent = |e: reqwest::Error| Error::TransportBeforeSend {
            message: format!("fetching OAuth token: {}", error_chain(&e)),
        };
        let resp = inner.http.get(url).header(AUTHORIZATION, header).send().await.map_err(not_sent)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(not_sent)?;
        if !(200..300).contains(&status) {
            let env = ErrorEnvelope::parse(&bytes);
            if let Some(e) = env.as_ref().and_then(|e| e.rate_limited(status)) {
                return Err(e);
            }
            return Err(match env {
                Some(env) => {
                    Error::Auth { http_status: Some(status), error_code: Some(env.code), message: env.message }
                }
                None => Error::Auth {
                    http_status: Some(status),
                    error_code: None,
                    message: format!("unexpected answer: {}", self.excerpt(&bytes)),
                },
            });
        }
        let bad = |why: &str| Error::Auth { http_status: Some(status), error_code: None, message: why.to_owned() };
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad("token answer is not JSON"))?;
        let access_token = v
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("token answer has no access_token"))?;
        let expires_in = match v.get("expires_in") {
            // Not documented as optional; the documented lifetime is one hour.
            None | Some(Value::Null) => 3599,
            Some(raw) => parse_expires_in(raw).ok_or_else(|| bad("token answer has an invalid expires_in"))?,
        };
        let now = c.clock.now();
        let lifetime = Duration::from_secs(expires_in);
        let usable = c.token_refresh_after.min(lifetime.saturating_sub(c.token_expiry_margin));
        Ok(CachedToken {
            access_token: access_token.to_owned().into(),
            obtained_at: now,
            refresh_at: now.saturating_add(usable).unwrap_or(now),
            expires_at: now.saturating_add(lifetime).unwrap_or(now),
        })
    }

    /// POSTs `body` with a bearer token. On "Invalid Access Token" drops that token, fetches a
    /// new one and sends once more.
    pub(crate) async fn post_with_token(&self, path: &str, body: &Value) -> Result<(u16, Vec<u8>), Error> {
        let store = &self.inner.config.token_store;
        let token = self.token().await?;
        let (status, bytes) = self.post(path, body, &token).await?;
        if !is_invalid_token(status, &bytes) {
            return Ok((status, bytes));
        }
        tracing::info!("Daraja refused the access token; fetching a new one and retrying once");
        store.invalidate(&token).await.map_err(Error::TokenStore)?;
        let token = self.token().await?;
        let (status, bytes) = self.post(path, body, &token).await?;
        if is_invalid_token(status, &bytes) {
            store.invalidate(&token).await.map_err(Error::TokenStore)?;
            return Err(Error::InvalidToken);
        }
        Ok((status, bytes))
    }

    async fn post(&self, path: &str, body: &Value, token: &CachedToken) -> Result<(u16, Vec<u8>), Error> {
        let inner = &self.inner;
        let payload =
            serde_json::to_vec(body).map_err(|e| Error::InvalidInput { field: "body", reason: e.to_string() })?;
        let resp = inner
            .http
            .post(format!("{}{}", inner.base, path))
            .bearer_auth(token.access_token.expose_secret())
            .header(CONTENT_TYPE, "application/json")
            .body(payload)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    Error::TransportBeforeSend { message: error_chain(&e) }
                } else {
                    // Timeout or dropped connection: the request may have been received.
                    Error::OutcomeUnknown { message: error_chain(&e) }
                }
            })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| Error::OutcomeUnknown {
            message: format!("reading the answer (HTTP {status}): {}", error_chain(&e)),
        })?;
        Ok((status, bytes.to_vec()))
    }

    /// POSTs `body` to a request Daraja takes for later processing and reads the synchronous answer as
    /// `A`: an HTTP error is Daraja's error, a `ResponseCode` other than `"0"` a rejection.
    pub(crate) async fn post_for_acceptance<A>(&self, path: &str, body: &Value) -> Result<A, Error>
    where
        A: serde::de::DeserializeOwned + Acknowledgement,
    {
        let (status, bytes) = self.post_with_token(path, body).await?;
        if !(200..300).contains(&status) {
            return Err(self.error_from_answer(status, &bytes));
        }
        let accepted: A = self.answer_as(status, &bytes)?;
        let (code, description) = accepted.response();
        if code.trim() != "0" {
            return Err(rejected(status, code.to_owned(), description.to_owned()));
        }
        Ok(accepted)
    }

    pub(crate) fn error_from_answer(&self, status: u16, bytes: &[u8]) -> Error {
        match ErrorEnvelope::parse(bytes) {
            Some(env)
                if env.code == crate::error::DUPLICATE_ORIGINATOR_CODE
                    && env.message.to_ascii_lowercase().contains("duplicate") =>
            {
                Error::DuplicateOriginatorConversationId {
                    http_status: status,
                    message: env.message,
                    request_id: env.request_id,
                }
            }
            Some(env) => env.rate_limited(status).unwrap_or(Error::Rejected {
                http_status: status,
                error_code: env.code,
                message: env.message,
                request_id: env.request_id,
            }),
            None if status == 429 => Error::RateLimited { error_code: "429".into(), message: self.excerpt(bytes) },
            None => Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(bytes) },
        }
    }

    /// The start of a body for an error message, with every configured secret blanked out.
    /// A 2xx answer's body read as `T`; `UnexpectedResponse` (with an excerpt) when it is not that JSON.
    pub(crate) fn answer_as<T: serde::de::DeserializeOwned>(&self, status: u16, bytes: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(bytes)
            .map_err(|_| Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(bytes) })
    }

    pub(crate) fn excerpt(&self, bytes: &[u8]) -> String {
        let c = &self.inner.config;
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        for secret in [&c.passkey, &c.consumer_secret, &c.consumer_key] {
            let secret = secret.expose_secret();
            if secret.len() >= 4 {
                s = s.replace(secret, "[redacted]");
            }
        }
        let mut out: String = s.chars().map(|ch| if ch.is_control() { ' ' } else { ch }).take(EXCERPT_CHARS).collect();
        if s.chars().count() > EXCERPT_CHARS {
            out.push('…');
        }
        out
    }
}

/// A synchronous "accepted for processing" answer: its `ResponseCode` and `ResponseDescription`.
pub(crate) trait Acknowledgement {
    fn response(&self) -> (&str, &str);
}

/// Daraja answered a request it takes for later processing with a `ResponseCode` that is not success.
pub(crate) fn rejected(status: u16, code: String, description: String) -> Error {
    Error::Rejected { http_status: status, error_code: code, message: description, request_id: None }
}

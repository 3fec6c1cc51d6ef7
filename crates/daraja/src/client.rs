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

/// One STK push (M-Pesa Express) request. All fields are already validated by their types,
/// except `callback_url`, which [`Client::stk_push`] checks (http(s); in production https and
/// none of the words Safaricom refuses).
///
/// ```
/// use daraja::{AccountReference, Amount, Msisdn, StkPush, TransactionDesc};
/// let push = StkPush {
///     phone: Msisdn::parse("0708 374 149")?,
///     amount: Amount::new(800)?,
///     reference: AccountReference::new("ORDER-42", AccountReference::MAX_LEN)?,
///     description: TransactionDesc::new("Order 42"),
///     callback_url: "https://shop.example/hooks/cb/4f9c2e".to_owned(),
/// };
/// # let _ = push;
/// # Ok::<(), daraja::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StkPush {
    /// Who pays and gets the prompt (`PartyA` and `PhoneNumber`).
    pub phone: Msisdn,
    /// Whole KES.
    pub amount: Amount,
    /// Shown in the prompt (`AccountReference`).
    pub reference: AccountReference,
    /// `TransactionDesc`.
    pub description: TransactionDesc,
    /// Where Daraja POSTs the result (`CallBackURL`).
    pub callback_url: String,
}

/// Daraja accepted an STK push: the prompt is on its way to the phone. The result comes later,
/// by callback or [`Client::stk_query`] with `checkout_request_id`.
///
/// (De)serializes in Daraja's wire format (`MerchantRequestID`, `CheckoutRequestID`, …).
///
/// ```
/// let a: daraja::StkPushAccepted = serde_json::from_str(r#"{"MerchantRequestID":"2654-4b64-97ff-b827b542881d3130",
///   "CheckoutRequestID":"ws_CO_1007202409152617172396192","ResponseCode":"0",
///   "ResponseDescription":"Success. Request accepted for processing",
///   "CustomerMessage":"Success. Request accepted for processing"}"#).unwrap();
/// assert_eq!(a.checkout_request_id, "ws_CO_1007202409152617172396192");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StkPushAccepted {
    /// `MerchantRequestID`.
    #[serde(rename = "MerchantRequestID")]
    pub merchant_request_id: String,
    /// `CheckoutRequestID`: store it, it identifies the payment from now on.
    #[serde(rename = "CheckoutRequestID")]
    pub checkout_request_id: String,
    /// `ResponseCode` (`"0"`).
    #[serde(rename = "ResponseCode", deserialize_with = "string_or_number")]
    pub response_code: String,
    /// `ResponseDescription`.
    #[serde(rename = "ResponseDescription", default)]
    pub response_description: String,
    /// `CustomerMessage`.
    #[serde(rename = "CustomerMessage", default)]
    pub customer_message: String,
}

/// The answer of [`Client::stk_query`].
///
/// ```
/// use daraja::StkQueryStatus;
/// let s = StkQueryStatus::Pending;
/// assert!(!s.is_final());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StkQueryStatus {
    /// The customer has not answered yet (Daraja's HTTP 500 "The transaction is being
    /// processed", a missing `ResultCode`, or result 4999).
    Pending,
    /// The payment has an outcome.
    Final {
        /// `ResultCode` (0 = paid). Use [`ResultCode::reason`] for failures.
        result_code: ResultCode,
        /// `ResultDesc`.
        result_desc: String,
        /// `MerchantRequestID`, if present.
        merchant_request_id: Option<String>,
        /// `CheckoutRequestID`.
        checkout_request_id: String,
    },
}

impl StkQueryStatus {
    /// `true` for [`StkQueryStatus::Final`].
    pub fn is_final(&self) -> bool {
        matches!(self, StkQueryStatus::Final { .. })
    }
}

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

    /// A `Timestamp`/`Password` pair for this client's shortcode and passkey, from one read of
    /// the configured clock.
    pub fn stk_credentials(&self) -> StkCredentials {
        let c = &self.inner.config;
        StkCredentials::at(c.clock.now(), &c.shortcode, &c.passkey)
    }

    /// Sends an STK push: the customer gets a prompt to enter their M-Pesa PIN.
    ///
    /// Paybill (`CustomerPayBillOnline`, `PartyB` = shortcode) unless a till number is
    /// configured (`CustomerBuyGoodsOnline`, `PartyB` = till). On [`Error::OutcomeUnknown`] or
    /// [`Error::UnexpectedResponse`] do not push again: the prompt may already be on the phone.
    pub async fn stk_push(&self, push: &StkPush) -> Result<StkPushAccepted, Error> {
        self.check_callback_url(&push.callback_url)?;
        let c = &self.inner.config;
        let creds = self.stk_credentials();
        let (transaction_type, party_b) = match &c.till_number {
            Some(till) => ("CustomerBuyGoodsOnline", till.as_str()),
            None => ("CustomerPayBillOnline", c.shortcode.as_str()),
        };
        // Numeric fields go out as JSON numbers, as in Safaricom's own sample request.
        let body = json!({
            "BusinessShortCode": digits_as_number(&c.shortcode),
            "Password": creds.password.expose_secret(),
            "Timestamp": creds.timestamp,
            "TransactionType": transaction_type,
            "Amount": push.amount.get(),
            "PartyA": digits_as_number(push.phone.as_str()),
            "PartyB": digits_as_number(party_b),
            "PhoneNumber": digits_as_number(push.phone.as_str()),
            "CallBackURL": push.callback_url,
            "AccountReference": push.reference.as_str(),
            "TransactionDesc": push.description.as_str(),
        });
        let (status, bytes) = self.post_with_token(STK_PUSH_PATH, &body).await?;
        if !(200..300).contains(&status) {
            return Err(self.error_from_answer(status, &bytes));
        }
        let accepted: StkPushAccepted = serde_json::from_slice(&bytes)
            .map_err(|_| Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(&bytes) })?;
        if accepted.response_code.trim() != "0" {
            return Err(Error::Rejected {
                http_status: status,
                error_code: accepted.response_code,
                message: accepted.response_description,
                request_id: None,
            });
        }
        Ok(accepted)
    }

    /// Asks Daraja what became of an STK push.
    ///
    /// "The transaction is being processed" (HTTP 500, `500.001.1001`) is
    /// [`StkQueryStatus::Pending`]; the same error code with any other message (e.g. "Wrong
    /// credentials") is an [`Error::Rejected`].
    pub async fn stk_query(&self, checkout_request_id: &str) -> Result<StkQueryStatus, Error> {
        let id = checkout_request_id.trim();
        if id.is_empty() || id.len() > 100 || id.chars().any(char::is_control) {
            return Err(Error::InvalidInput {
                field: "checkout_request_id",
                reason: "checkout request id must be 1 to 100 printable characters".into(),
            });
        }
        let c = &self.inner.config;
        let creds = self.stk_credentials();
        let body = json!({
            "BusinessShortCode": digits_as_number(&c.shortcode),
            "Password": creds.password.expose_secret(),
            "Timestamp": creds.timestamp,
            "CheckoutRequestID": id,
        });
        let (status, bytes) = self.post_with_token(STK_QUERY_PATH, &body).await?;
        if !(200..300).contains(&status) {
            if let Some(env) = ErrorEnvelope::parse(&bytes) {
                if env.code == "500.001.1001" && env.message.to_ascii_lowercase().contains("being processed") {
                    return Ok(StkQueryStatus::Pending);
                }
            }
            return Err(self.error_from_answer(status, &bytes));
        }
        let unexpected = || Error::UnexpectedResponse { http_status: status, excerpt: self.excerpt(&bytes) };
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| unexpected())?;
        if !v.is_object() {
            return Err(unexpected());
        }
        if let Some(code) = text(v.get("ResponseCode")) {
            if code != "0" {
                return Err(Error::Rejected {
                    http_status: status,
                    error_code: code,
                    message: text(v.get("ResponseDescription")).unwrap_or_default(),
                    request_id: None,
                });
            }
        }
        let result_code = match v.get("ResultCode") {
            None | Some(Value::Null) => return Ok(StkQueryStatus::Pending),
            Some(raw) => serde_json::from_value::<ResultCode>(raw.clone()).map_err(|_| unexpected())?,
        };
        if result_code.is_still_processing() || result_code.as_str().is_empty() {
            return Ok(StkQueryStatus::Pending);
        }
        Ok(StkQueryStatus::Final {
            result_code,
            result_desc: text(v.get("ResultDesc")).unwrap_or_default(),
            merchant_request_id: text(v.get("MerchantRequestID")).filter(|s| !s.is_empty()),
            checkout_request_id: text(v.get("CheckoutRequestID"))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| id.to_owned()),
        })
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

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

fn digits_as_number(s: &str) -> Value {
    match s.parse::<u64>() {
        Ok(n) if !s.starts_with('0') => json!(n),
        _ => json!(s),
    }
}

fn parse_expires_in(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            let f = n.as_f64()?;
            // Whole, non-negative and small: the cast is exact.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            (f >= 0.0 && f.fract() == 0.0 && f < 1e12).then_some(f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = Value::deserialize(d)?;
    text(Some(&v)).ok_or_else(|| serde::de::Error::custom("expected a string or a number"))
}

/// Either of Daraja's error envelopes, normalized.
struct ErrorEnvelope {
    code: String,
    message: String,
    request_id: Option<String>,
}

impl ErrorEnvelope {
    fn parse(bytes: &[u8]) -> Option<ErrorEnvelope> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if let Some(code) = text(v.get("errorCode")).filter(|c| !c.is_empty()) {
            return Some(ErrorEnvelope {
                code,
                message: text(v.get("errorMessage")).unwrap_or_default(),
                request_id: text(v.get("requestId")).filter(|s| !s.is_empty()),
            });
        }
        // The API gateway's own envelope, e.g. on rate limits:
        // {"fault":{"faultstring":"…","detail":{"errorcode":"policies.ratelimit.SpikeArrestViolation"}}}
        let fault = v.get("fault")?;
        let message = text(fault.get("faultstring")).unwrap_or_default();
        let code = text(fault.get("detail").and_then(|d| d.get("errorcode")))
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "fault".to_owned());
        Some(ErrorEnvelope { code, message, request_id: None })
    }

    fn is_invalid_token(&self) -> bool {
        // "Invalid Access Token - Invalid API call as no apiproduct match found" is about the app's
        // products (e.g. C2B v1 vs v2), not the token: a new token would be refused the same way.
        if self.code == "401.003.01" || self.message.to_ascii_lowercase().contains("apiproduct") {
            return false;
        }
        matches!(self.code.as_str(), "404.001.03" | "400.003.01")
            || self.code.to_ascii_lowercase().contains("invalidaccesstoken")
            || self.message.to_ascii_lowercase().contains("invalid access token")
    }

    fn rate_limited(&self, status: u16) -> Option<Error> {
        let code = self.code.to_ascii_lowercase();
        let limited = matches!(self.code.as_str(), "500.003.02" | "500.003.03")
            || code.contains("ratelimit")
            || code.contains("spikearrest")
            || code.contains("quota")
            || status == 429;
        limited.then(|| Error::RateLimited { error_code: self.code.clone(), message: self.message.clone() })
    }
}

fn is_invalid_token(status: u16, bytes: &[u8]) -> bool {
    if (200..300).contains(&status) {
        return false;
    }
    match ErrorEnvelope::parse(bytes) {
        Some(env) => env.is_invalid_token(),
        // The gateway has been seen to answer a bad bearer token with a bare 401.
        None => status == 401,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        let e = ErrorEnvelope::parse(
            br#"{"requestId":"r","errorCode":"404.001.03","errorMessage":"Invalid Access Token"}"#,
        )
        .unwrap();
        assert!(e.is_invalid_token());
        let f = ErrorEnvelope::parse(br#"{"fault":{"faultstring":"Spike arrest violation. Allowed rate : 5ps","detail":{"errorcode":"policies.ratelimit.SpikeArrestViolation"}}}"#).unwrap();
        assert!(f.rate_limited(500).is_some());
        assert!(!f.is_invalid_token());
        let f = ErrorEnvelope::parse(br#"{"fault":{"faultstring":"Invalid Access Token","detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}"#).unwrap();
        assert!(f.is_invalid_token());
        assert!(ErrorEnvelope::parse(b"<html>").is_none());
        assert!(is_invalid_token(401, b""));
        assert!(!is_invalid_token(500, b""));
    }

    #[test]
    fn expires_in_forms() {
        assert_eq!(parse_expires_in(&json!("3599")), Some(3599));
        assert_eq!(parse_expires_in(&json!(3599)), Some(3599));
        assert_eq!(parse_expires_in(&json!(3599.0)), Some(3599));
        assert_eq!(parse_expires_in(&json!(-1)), None);
        assert_eq!(parse_expires_in(&json!("soon")), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(digits_as_number("174379"), json!(174379));
        assert_eq!(digits_as_number("254708374149"), json!(254_708_374_149_u64));
    }
}

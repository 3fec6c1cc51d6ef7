//! The one error type of this crate.

use crate::types::InvalidInput;

/// Daraja's error code for a duplicate `OriginatorConversationID` (also used for other internal errors).
pub(crate) const DUPLICATE_ORIGINATOR_CODE: &str = "500.002.1001";

/// Boxed error returned by a [`TokenStore`](crate::TokenStore) implementation.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong talking to Daraja, split by what the caller can do about it.
///
/// The most important question after a failed STK push is "may I send it again?":
/// [`Error::is_retry_safe`] answers it. Only when Daraja surely did not act on the request
/// (connection never made, rate limited, token refused) is a retry safe; after
/// [`Error::OutcomeUnknown`] the customer may already be looking at a prompt — resolve the
/// payment with [`Client::stk_query`](crate::Client::stk_query) instead of pushing again.
///
/// No variant ever contains a secret (keys, passkey, password, token).
///
/// ```
/// # async fn demo(client: daraja::Client, push: daraja::StkPush) {
/// match client.stk_push(&push).await {
///     Ok(accepted) => println!("prompt sent: {}", accepted.checkout_request_id),
///     Err(e) if e.is_retry_safe() => println!("not sent, try again later: {e}"),
///     Err(daraja::Error::OutcomeUnknown { .. }) => println!("maybe sent: query it, do not push again"),
///     Err(e) => println!("failed: {e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input (configuration or request) is invalid; nothing was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// Daraja answered with an error envelope (bad request, wrong credentials, merchant does not
    /// exist, subscriber locked …). The request was not processed.
    #[error("Daraja rejected the request (HTTP {http_status}, {error_code}): {message}")]
    Rejected {
        /// HTTP status of the answer.
        http_status: u16,
        /// Daraja's `errorCode` (e.g. `400.002.02`, `500.001.1001`) or the API gateway's fault code.
        error_code: String,
        /// Daraja's `errorMessage`.
        message: String,
        /// Daraja's `requestId`, if any (quote it to Safaricom support).
        request_id: Option<String>,
    },

    /// Daraja refused a B2C v3 request because its `OriginatorConversationID` was used before
    /// (`500.002.1001 Duplicate OriginatorConversationID`). The first request with that id is the
    /// one that counts: ask Transaction Status about it; never send the money under a new id.
    #[error("Daraja refused a duplicate OriginatorConversationID (HTTP {http_status}): {message}")]
    DuplicateOriginatorConversationId {
        /// HTTP status of the answer.
        http_status: u16,
        /// Daraja's `errorMessage`.
        message: String,
        /// Daraja's `requestId`, if any.
        request_id: Option<String>,
    },

    /// Daraja refused the access token twice in a row (after one automatic refresh and retry).
    #[error("Daraja refused the access token (Invalid Access Token) even after a refresh")]
    InvalidToken,

    /// Rate limited (`500.003.02` spike arrest / system busy, `500.003.03` quota, HTTP 429, or the
    /// API gateway's rate-limit fault). Refused before processing: safe to retry with backoff.
    #[error("Daraja rate limit ({error_code}): {message}")]
    RateLimited {
        /// The error code reported.
        error_code: String,
        /// The message reported.
        message: String,
    },

    /// The request never reached Daraja (DNS failure, connection refused, connect timeout, or the
    /// OAuth token could not be fetched over the network). Safe to retry.
    #[error("could not reach Daraja, request not sent: {message}")]
    TransportBeforeSend {
        /// Description of the transport failure.
        message: String,
    },

    /// The request was (possibly) sent but no answer was read: timeout or connection dropped.
    /// Daraja may have acted on it. Do **not** retry an STK push; query it instead.
    #[error("request sent but its outcome is unknown: {message}")]
    OutcomeUnknown {
        /// Description of the transport failure.
        message: String,
    },

    /// Daraja answered with something this client does not understand. For an STK push with a
    /// 2xx status the push may have been accepted.
    #[error("unexpected response from Daraja (HTTP {http_status}): {excerpt}")]
    UnexpectedResponse {
        /// HTTP status of the answer.
        http_status: u16,
        /// The start of the body (at most 200 characters, known secrets redacted).
        excerpt: String,
    },

    /// Fetching the OAuth token failed (wrong consumer key/secret, unexpected answer).
    #[error("OAuth token request failed{}: {message}", http_status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Auth {
        /// HTTP status of the OAuth answer, if one was received.
        http_status: Option<u16>,
        /// Daraja's `errorCode` (e.g. `400.008.01`), if any.
        error_code: Option<String>,
        /// What went wrong.
        message: String,
    },

    /// The configured [`TokenStore`](crate::TokenStore) failed. The request was not sent.
    #[error("token store failed: {0}")]
    TokenStore(#[source] BoxError),

    /// The app has no Daraja product for the API version called (`401.003.01` "no apiproduct match
    /// found"), e.g. C2B v2 called by an app that only has the C2B v1 product. Nothing was done;
    /// configure the version named in `configure` (or add the missing product to the app).
    #[error(
        "Daraja has no {api} {tried} product for this app ({error_code}: {message}): configure {api} \
         {configure} instead, or add the {api} {tried} product to the app on the Daraja portal"
    )]
    WrongApiVersion {
        /// Which API, e.g. `C2B`.
        api: &'static str,
        /// The version that was called (`v1`, `v2`).
        tried: &'static str,
        /// The version to configure instead.
        configure: &'static str,
        /// Daraja's error code (`401.003.01`, or the API gateway's fault code for a path that is gone).
        error_code: String,
        /// Daraja's message.
        message: String,
    },

    /// C2B URLs are already registered for this shortcode (`500.003.1001` "Urls are already
    /// registered"): production accepts one registration per shortcode.
    #[error(
        "C2B URLs are already registered for shortcode {short_code} ({message}); production registers \
         once: to change them, delete them on the Daraja portal (Self Services > URL Management, approved \
         by two M-PESA org portal operators) or email apisupport@safaricom.co.ke, then register again"
    )]
    C2bUrlsAlreadyRegistered {
        /// The shortcode.
        short_code: String,
        /// Daraja's message.
        message: String,
        /// Daraja's `requestId`, if any (quote it to Safaricom support).
        request_id: Option<String>,
    },
}

impl Error {
    /// `true` when Daraja certainly did not act on the request and trying again later may work:
    /// [`RateLimited`](Error::RateLimited), [`TransportBeforeSend`](Error::TransportBeforeSend),
    /// [`InvalidToken`](Error::InvalidToken), [`TokenStore`](Error::TokenStore), and
    /// [`Auth`](Error::Auth) failures with an HTTP status of 5xx (the OAuth endpoint was down; the
    /// request itself was never sent). Everything else is either permanent
    /// ([`InvalidInput`](Error::InvalidInput), [`Rejected`](Error::Rejected), other `Auth`) or
    /// unsafe for a push ([`OutcomeUnknown`](Error::OutcomeUnknown),
    /// [`UnexpectedResponse`](Error::UnexpectedResponse)).
    ///
    /// ```
    /// let e = daraja::Error::RateLimited { error_code: "500.003.02".into(), message: "Spike Arrest Violation".into() };
    /// assert!(e.is_retry_safe());
    /// let e = daraja::Error::OutcomeUnknown { message: "timed out".into() };
    /// assert!(!e.is_retry_safe());
    /// ```
    pub fn is_retry_safe(&self) -> bool {
        match self {
            Error::RateLimited { .. } | Error::TransportBeforeSend { .. } | Error::InvalidToken => true,
            Error::Auth { http_status, .. } => matches!(http_status, Some(s) if *s >= 500),
            Error::TokenStore(_) => true,
            Error::InvalidInput { .. }
            | Error::Rejected { .. }
            | Error::DuplicateOriginatorConversationId { .. }
            | Error::OutcomeUnknown { .. }
            | Error::UnexpectedResponse { .. }
            | Error::WrongApiVersion { .. }
            | Error::C2bUrlsAlreadyRegistered { .. } => false,
        }
    }

    /// Daraja's error code, when the error carries one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Rejected { error_code, .. }
            | Error::RateLimited { error_code, .. }
            | Error::WrongApiVersion { error_code, .. } => Some(error_code),
            Error::C2bUrlsAlreadyRegistered { .. } => Some("500.003.1001"),
            Error::Auth { error_code, .. } => error_code.as_deref(),
            Error::DuplicateOriginatorConversationId { .. } => Some(DUPLICATE_ORIGINATOR_CODE),
            _ => None,
        }
    }
}

impl From<InvalidInput> for Error {
    fn from(e: InvalidInput) -> Self {
        Error::InvalidInput { field: e.field, reason: e.reason }
    }
}

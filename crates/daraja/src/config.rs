//! Client configuration.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::clock::{Clock, SystemClock};
use crate::token::{InMemoryTokenStore, TokenStore};
use crate::types::InvalidInput;

const SANDBOX_URL: &str = "https://sandbox.safaricom.co.ke";
const PRODUCTION_URL: &str = "https://api.safaricom.co.ke";
/// The public sandbox passkey: refusing it in production catches a classic copy-paste mistake.
const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";

/// Which Daraja to talk to.
///
/// ```
/// use daraja::Environment;
/// assert_eq!(Environment::Sandbox.base_url().as_str(), "https://sandbox.safaricom.co.ke/");
/// let sim: Environment = "http://127.0.0.1:9000".parse().unwrap();
/// assert_eq!(sim, Environment::Custom("http://127.0.0.1:9000".parse().unwrap()));
/// assert_eq!("production".parse::<Environment>().unwrap(), Environment::Production);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Environment {
    /// `https://sandbox.safaricom.co.ke`
    Sandbox,
    /// `https://api.safaricom.co.ke`
    Production,
    /// Any base URL, e.g. a local simulator. A path prefix is kept (`http://host/daraja`).
    Custom(url::Url),
}

impl Environment {
    /// The base URL requests are made against.
    pub fn base_url(&self) -> url::Url {
        match self {
            Environment::Sandbox => url::Url::parse(SANDBOX_URL).expect("constant URL"),
            Environment::Production => url::Url::parse(PRODUCTION_URL).expect("constant URL"),
            Environment::Custom(url) => url.clone(),
        }
    }

    /// `true` only for [`Environment::Production`] (stricter checks apply there).
    pub fn is_production(&self) -> bool {
        matches!(self, Environment::Production)
    }
}

/// Parses `sandbox`, `production` (case-insensitive) or an `http(s)://` base URL.
impl FromStr for Environment {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("sandbox") {
            return Ok(Environment::Sandbox);
        }
        if t.eq_ignore_ascii_case("production") {
            return Ok(Environment::Production);
        }
        match url::Url::parse(t) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(Environment::Custom(u)),
            _ => {
                Err(InvalidInput::new("environment", "expected \"sandbox\", \"production\" or an http(s):// base URL"))
            }
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Environment::Sandbox => f.write_str("sandbox"),
            Environment::Production => f.write_str("production"),
            Environment::Custom(u) => f.write_str(u.as_str()),
        }
    }
}

/// Everything a [`Client`](crate::Client) needs. Build with [`Config::new`] and the `with_*` setters;
/// [`Client::new`](crate::Client::new) validates it.
///
/// Defaults: paybill (no till), connect timeout 5 s, request timeout 30 s, token refreshed after
/// 50 minutes (or `expires_in − 60 s` if that is sooner), [`SystemClock`], in-memory token store.
///
/// `Debug` never shows the consumer key, consumer secret or passkey.
///
/// ```
/// use std::time::Duration;
/// use daraja::{Config, Environment};
/// let config = Config::new(
///     Environment::Sandbox,
///     "consumer-key",
///     "consumer-secret",
///     "174379",
///     "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
/// )
/// .with_till_number("5678901")
/// .with_timeouts(Duration::from_secs(3), Duration::from_secs(20));
/// assert!(!format!("{config:?}").contains("consumer-secret"));
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) environment: Environment,
    pub(crate) consumer_key: SecretString,
    pub(crate) consumer_secret: SecretString,
    pub(crate) shortcode: String,
    pub(crate) passkey: SecretString,
    pub(crate) till_number: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) token_refresh_after: Duration,
    pub(crate) token_expiry_margin: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) token_store: Arc<dyn TokenStore>,
}

impl Config {
    /// A paybill configuration with default timeouts.
    ///
    /// `shortcode` is the `BusinessShortCode` (5–7 digits; for a till, the head-office/store number).
    pub fn new(
        environment: Environment,
        consumer_key: impl Into<SecretString>,
        consumer_secret: impl Into<SecretString>,
        shortcode: impl Into<String>,
        passkey: impl Into<SecretString>,
    ) -> Config {
        Config {
            environment,
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            shortcode: shortcode.into().trim().to_owned(),
            passkey: passkey.into(),
            till_number: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            token_refresh_after: Duration::from_secs(50 * 60),
            token_expiry_margin: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            token_store: Arc::new(InMemoryTokenStore::new()),
        }
    }

    /// Buy goods: pushes use `CustomerBuyGoodsOnline` with `PartyB` = this till number
    /// (without it: `CustomerPayBillOnline`, `PartyB` = shortcode).
    pub fn with_till_number(mut self, till_number: impl Into<String>) -> Config {
        self.till_number = Some(till_number.into().trim().to_owned());
        self
    }

    /// Connect timeout (before anything is sent) and whole-request timeout.
    pub fn with_timeouts(mut self, connect: Duration, request: Duration) -> Config {
        self.connect_timeout = connect;
        self.request_timeout = request;
        self
    }

    /// When to fetch a new OAuth token: `refresh_after` after it was issued (default 50 min), but
    /// never later than `expires_in − margin` (default margin 60 s).
    pub fn with_token_refresh(mut self, refresh_after: Duration, margin: Duration) -> Config {
        self.token_refresh_after = refresh_after;
        self.token_expiry_margin = margin;
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Config {
        self.clock = clock;
        self
    }

    /// Replaces where the OAuth token is kept, e.g. a database shared by several gateway
    /// instances. See [`TokenStore`].
    pub fn with_token_store(mut self, store: Arc<dyn TokenStore>) -> Config {
        self.token_store = store;
        self
    }

    /// The environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The `BusinessShortCode`.
    pub fn shortcode(&self) -> &str {
        &self.shortcode
    }

    /// The till number, for buy goods.
    pub fn till_number(&self) -> Option<&str> {
        self.till_number.as_deref()
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidInput> {
        if !is_digits(&self.shortcode, 5..=7) {
            return Err(InvalidInput::new("shortcode", "business shortcode must be 5 to 7 digits"));
        }
        if let Some(till) = &self.till_number {
            if !is_digits(till, 5..=8) {
                return Err(InvalidInput::new("till_number", "till number must be 5 to 8 digits"));
            }
        }
        if self.consumer_key.expose_secret().trim().is_empty() {
            return Err(InvalidInput::new("consumer_key", "consumer key is empty"));
        }
        if self.consumer_secret.expose_secret().trim().is_empty() {
            return Err(InvalidInput::new("consumer_secret", "consumer secret is empty"));
        }
        if self.passkey.expose_secret().trim().is_empty() {
            return Err(InvalidInput::new("passkey", "passkey is empty"));
        }
        if self.environment.is_production() && self.passkey.expose_secret() == SANDBOX_PASSKEY {
            return Err(InvalidInput::new("passkey", "the public sandbox passkey cannot be used in production"));
        }
        if let Environment::Custom(u) = &self.environment {
            if !matches!(u.scheme(), "http" | "https") {
                return Err(InvalidInput::new("environment", "base URL must be http:// or https://"));
            }
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(InvalidInput::new("timeouts", "timeouts must be positive"));
        }
        Ok(())
    }
}

fn is_digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("environment", &self.environment)
            .field("consumer_key", &"[redacted]")
            .field("consumer_secret", &"[redacted]")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"[redacted]")
            .field("till_number", &self.till_number)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("token_refresh_after", &self.token_refresh_after)
            .field("token_expiry_margin", &self.token_expiry_margin)
            .finish_non_exhaustive()
    }
}

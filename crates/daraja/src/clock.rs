//! Clocks, the EAT `Timestamp` and the STK `Password`.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use jiff::tz::TimeZone;
use secrecy::{ExposeSecret, SecretString};

/// A source of the current time. Inject your own in tests; [`SystemClock`] is the default.
///
/// The client reads the clock for the STK `Timestamp` (exactly once per request) and for
/// token expiry.
///
/// ```
/// use daraja::Clock;
/// struct Fixed(jiff::Timestamp);
/// impl Clock for Fixed {
///     fn now(&self) -> jiff::Timestamp { self.0 }
/// }
/// let clock = Fixed("2021-06-28T06:24:08Z".parse().unwrap());
/// assert_eq!(daraja::daraja_timestamp(clock.now()), "20210628092408");
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> jiff::Timestamp;
}

/// The operating system's clock ([`jiff::Timestamp::now`]).
///
/// ```
/// use daraja::{Clock, SystemClock};
/// assert!(SystemClock.now() > "2024-01-01T00:00:00Z".parse().unwrap());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

pub(crate) fn nairobi() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        // The tz database is bundled into the binary, so this lookup does not depend on the
        // host. East Africa Time has been UTC+3 without DST since 1942; the fixed offset is
        // only a fallback should the bundle ever miss the zone.
        TimeZone::get("Africa/Nairobi").unwrap_or_else(|_| TimeZone::fixed(jiff::tz::offset(3)))
    })
}

/// Formats an instant as Daraja's `Timestamp`: `YYYYMMDDHHmmss` in East Africa Time
/// (Africa/Nairobi), whatever the host's time zone.
///
/// ```
/// let t: jiff::Timestamp = "2021-06-28T06:24:08Z".parse().unwrap();
/// assert_eq!(daraja::daraja_timestamp(t), "20210628092408");
/// ```
pub fn daraja_timestamp(now: jiff::Timestamp) -> String {
    let dt = now.to_zoned_datetime(nairobi().clone()).datetime();
    format!("{:04}{:02}{:02}{:02}{:02}{:02}", dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second())
}

/// Computes the STK `Password`: standard base64 of `shortcode + passkey + timestamp`.
///
/// The result reveals the passkey to anyone who decodes it, so it is returned as a secret.
///
/// ```
/// use secrecy::ExposeSecret;
/// let passkey = daraja::SecretString::from("bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919");
/// let p = daraja::stk_password("174379", &passkey, "20210628092408");
/// assert_eq!(
///     p.expose_secret(),
///     "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4"
/// );
/// ```
pub fn stk_password(shortcode: &str, passkey: &SecretString, timestamp: &str) -> SecretString {
    let mut raw = String::with_capacity(shortcode.len() + passkey.expose_secret().len() + 14);
    raw.push_str(shortcode);
    raw.push_str(passkey.expose_secret());
    raw.push_str(timestamp);
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(raw.as_bytes()))
}

/// A matching `Timestamp` and `Password` pair for one STK request, made from one clock read.
///
/// ```
/// use secrecy::ExposeSecret;
/// let passkey = daraja::SecretString::from("pk");
/// let t: jiff::Timestamp = "2021-06-28T06:24:08Z".parse().unwrap();
/// let c = daraja::StkCredentials::at(t, "174379", &passkey);
/// assert_eq!(c.timestamp, "20210628092408");
/// assert_eq!(c.password.expose_secret(), &daraja::stk_password("174379", &passkey, "20210628092408").expose_secret().to_owned());
/// ```
#[derive(Clone)]
pub struct StkCredentials {
    /// `YYYYMMDDHHmmss` in East Africa Time.
    pub timestamp: String,
    /// base64(shortcode + passkey + timestamp).
    pub password: SecretString,
}

impl StkCredentials {
    /// Builds the pair for the instant `now`.
    pub fn at(now: jiff::Timestamp, shortcode: &str, passkey: &SecretString) -> StkCredentials {
        let timestamp = daraja_timestamp(now);
        let password = stk_password(shortcode, passkey, &timestamp);
        StkCredentials { timestamp, password }
    }
}

impl fmt::Debug for StkCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StkCredentials").field("timestamp", &self.timestamp).field("password", &"[redacted]").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_sample_password() {
        let passkey = SecretString::from("bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919");
        let c = StkCredentials::at("2021-06-28T06:24:08Z".parse().unwrap(), "174379", &passkey);
        assert_eq!(c.timestamp, "20210628092408");
        let decoded = base64::engine::general_purpose::STANDARD.decode(c.password.expose_secret()).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "174379bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c91920210628092408"
        );
        assert!(!format!("{c:?}").contains(c.password.expose_secret()));
    }

    #[test]
    fn day_rollover_in_eat() {
        // 22:30 UTC on New Year's Eve is already 01:30 on 1 January in Nairobi.
        let t: jiff::Timestamp = "2023-12-31T22:30:00Z".parse().unwrap();
        assert_eq!(daraja_timestamp(t), "20240101013000");
    }
}

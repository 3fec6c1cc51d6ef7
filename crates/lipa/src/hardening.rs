//! Settings that bound what an anonymous client can make a running lipa do: slow connections, admin login
//! attempts, how long raw callback bodies are kept. Every one has a safe default (README: Operations).

use std::time::Duration;

use crate::source::{parse_duration, ConfigError, Source};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardening {
    /// A client must send a request's whole head within this time, counted from when the connection
    /// opens or from the end of the previous answer, so it also ends idle keep-alive connections
    /// (`LIPA_HEADER_TIMEOUT`, default 10 s).
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this time (`LIPA_IDLE_TIMEOUT`,
    /// default 5 s). The header timeout runs while a connection waits for its next request too, so an idle
    /// connection lives at most the shorter of the two.
    pub idle_timeout: Duration,
    /// A request body must arrive within this time (`LIPA_BODY_TIMEOUT`, default 30 s): 408 otherwise.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the kernel's backlog (`LIPA_MAX_CONNECTIONS`, default 1024).
    pub max_connections: usize,
    /// Admin sign-in attempts per client address per minute (`LIPA_ADMIN_LOGIN_IP_LIMIT`, default 10).
    pub admin_login_ip_per_minute: u32,
    /// Admin sign-in attempts per minute from everyone together (`LIPA_ADMIN_LOGIN_LIMIT`, default 60).
    pub admin_login_per_minute: u32,
    /// Raw callback bodies older than this are deleted (`LIPA_CALLBACK_RETENTION`, default 90 days;
    /// `off` keeps them forever). The callback's line in the payment's history stays.
    pub callback_retention: Option<Duration>,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            admin_login_ip_per_minute: 10,
            admin_login_per_minute: 60,
            callback_retention: Some(Duration::from_secs(90 * 24 * 3600)),
        }
    }
}

impl Hardening {
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let d = Hardening::default();
        let positive = |name: &str, default: Duration| {
            src.parsed(
                name,
                default,
                |v| parse_duration(v).filter(|t| !t.is_zero() && *t <= Duration::from_secs(24 * 3600)),
                "must be a duration from 1ms to 24h (try 10s)",
            )
        };
        let count = |name: &str, default: u32| src.limit(name, default);
        let max_connections = src.parsed(
            "LIPA_MAX_CONNECTIONS",
            d.max_connections,
            |v| v.parse::<usize>().ok().filter(|n| (1..=1_000_000).contains(n)),
            "must be a whole number from 1 to 1000000",
        )?;
        let callback_retention = src.parsed(
            "LIPA_CALLBACK_RETENTION",
            d.callback_retention,
            |v| {
                if v.eq_ignore_ascii_case("off") {
                    Some(None)
                } else {
                    parse_days(v).or_else(|| parse_duration(v)).filter(|t| !t.is_zero()).map(Some)
                }
            },
            "must be a duration (90d, 720h) or off",
        )?;
        Ok(Hardening {
            header_timeout: positive("LIPA_HEADER_TIMEOUT", d.header_timeout)?,
            idle_timeout: positive("LIPA_IDLE_TIMEOUT", d.idle_timeout)?,
            body_timeout: positive("LIPA_BODY_TIMEOUT", d.body_timeout)?,
            max_connections,
            admin_login_ip_per_minute: count("LIPA_ADMIN_LOGIN_IP_LIMIT", d.admin_login_ip_per_minute)?,
            admin_login_per_minute: count("LIPA_ADMIN_LOGIN_LIMIT", d.admin_login_per_minute)?,
            callback_retention,
        })
    }
}

/// `90d` → 90 days (whole days only).
fn parse_days(s: &str) -> Option<Duration> {
    let days: u64 = s.trim().strip_suffix('d')?.trim().parse().ok()?;
    (days <= 100 * 365).then(|| Duration::from_secs(days * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<Hardening, ConfigError> {
        Hardening::from_source(&Source::from_pairs(pairs))
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(read(&[]).unwrap(), Hardening::default());
        let h = read(&[
            ("LIPA_HEADER_TIMEOUT", "2s"),
            ("LIPA_MAX_CONNECTIONS", "8"),
            ("LIPA_CALLBACK_RETENTION", "30d"),
            ("LIPA_ADMIN_LOGIN_LIMIT", "off"),
        ])
        .unwrap();
        assert_eq!(h.header_timeout, Duration::from_secs(2));
        assert_eq!(h.max_connections, 8);
        assert_eq!(h.callback_retention, Some(Duration::from_secs(30 * 86400)));
        assert_eq!(h.admin_login_per_minute, 0);
        assert_eq!(read(&[("LIPA_CALLBACK_RETENTION", "off")]).unwrap().callback_retention, None);
        assert!(read(&[("LIPA_HEADER_TIMEOUT", "0s")]).is_err());
        assert!(read(&[("LIPA_MAX_CONNECTIONS", "0")]).is_err());
        assert!(read(&[("LIPA_CALLBACK_RETENTION", "soon")]).is_err());
        assert!(read(&[("LIPA_IDLE_TIMEOUT", "100000000000000000000")]).is_err());
    }
}

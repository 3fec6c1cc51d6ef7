//! Security and operations settings, and who a request comes from.
//!
//! - Abuse limits (`LIPA_RATE_LIMIT_API`, `LIPA_CHECKOUT_*`): see [`crate::limits`].
//! - Callback source allowlist (`LIPA_CALLBACK_ALLOWLIST`) and the proxies whose `X-Forwarded-For` is
//!   believed (`LIPA_TRUSTED_PROXIES`).
//! - Confirming a success callback by STK Query before it counts (`LIPA_CONFIRM_SUCCESS_BY_QUERY`).
//! - The `/metrics` bearer token (`LIPA_METRICS_TOKEN`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderMap;
use secrecy::SecretString;

use crate::source::{parse_duration, ConfigError, Source};

/// An IP address or a CIDR block (`196.201.214.0/24`, `2001:db8::/32`, `10.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 client.
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// A comma-separated list of IPs and CIDR blocks.
pub fn parse_nets(name: &str, value: &str) -> Result<Vec<IpNet>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<IpNet>().map_err(|e| ConfigError(format!("{name}: {e}"))))
        .collect()
}

/// The client's address: the peer, or — only when the peer is a trusted proxy — the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy (read from the right: the left part is whatever the
/// client chose to send).
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?.ip());
    if !trusted.iter().any(|n| n.contains(peer)) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(canonical(ip)),
                // A garbled chain cannot be believed past this point: the proxy itself is the client.
                Err(_) => return Some(peer),
            }
        }
    }
    for ip in hops.iter().rev() {
        if !trusted.iter().any(|n| n.contains(*ip)) {
            return Some(*ip);
        }
    }
    Some(hops.first().copied().unwrap_or(peer))
}

/// The settings of this module and of [`crate::limits`], read with the rest of the configuration.
#[derive(Clone)]
pub struct Settings {
    /// Merchant API requests per API key per minute; 0 = no limit (the default).
    pub api_per_minute: u32,
    /// The least time between two checkout prompts to one phone.
    pub checkout_phone_cooldown: Duration,
    /// Checkout prompts per phone per hour; 0 = no limit.
    pub checkout_phone_per_hour: u32,
    /// Checkout phone submissions per client IP per minute; 0 = no limit.
    pub checkout_ip_per_minute: u32,
    /// Callbacks are applied only from these sources (empty: from anywhere).
    pub callback_allowlist: Vec<IpNet>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A success callback settles nothing by itself; an STK Query answer of 0 does.
    pub confirm_success_by_query: bool,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_per_minute: 0,
            checkout_phone_cooldown: Duration::from_secs(5),
            checkout_phone_per_hour: 10,
            checkout_ip_per_minute: 30,
            callback_allowlist: Vec::new(),
            trusted_proxies: Vec::new(),
            confirm_success_by_query: false,
            metrics_token: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_per_minute", &self.api_per_minute)
            .field("checkout_phone_cooldown", &self.checkout_phone_cooldown)
            .field("checkout_phone_per_hour", &self.checkout_phone_per_hour)
            .field("checkout_ip_per_minute", &self.checkout_ip_per_minute)
            .field("callback_allowlist", &self.callback_allowlist)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("confirm_success_by_query", &self.confirm_success_by_query)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Settings {
    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let d = Settings::default();
        let count = |name: &str, default: u32| src.limit(name, default);
        let cooldown = src.parsed(
            "LIPA_CHECKOUT_PHONE_COOLDOWN",
            d.checkout_phone_cooldown,
            |v| if v.eq_ignore_ascii_case("off") { Some(Duration::ZERO) } else { parse_duration(v) },
            "is not a duration (try 30s or 2m)",
        )?;
        Ok(Settings {
            api_per_minute: count("LIPA_RATE_LIMIT_API", d.api_per_minute)?,
            checkout_phone_cooldown: cooldown,
            checkout_phone_per_hour: count("LIPA_CHECKOUT_PHONE_LIMIT", d.checkout_phone_per_hour)?,
            checkout_ip_per_minute: count("LIPA_CHECKOUT_IP_LIMIT", d.checkout_ip_per_minute)?,
            callback_allowlist: parse_nets(
                "LIPA_CALLBACK_ALLOWLIST",
                &src.get("LIPA_CALLBACK_ALLOWLIST").unwrap_or_default(),
            )?,
            trusted_proxies: parse_nets("LIPA_TRUSTED_PROXIES", &src.get("LIPA_TRUSTED_PROXIES").unwrap_or_default())?,
            confirm_success_by_query: src.flag("LIPA_CONFIRM_SUCCESS_BY_QUERY", d.confirm_success_by_query)?,
            metrics_token: src.get("LIPA_METRICS_TOKEN").map(SecretString::from),
        })
    }

    /// May a callback from this address be applied?
    pub fn callback_source_allowed(&self, client: Option<IpAddr>) -> bool {
        if self.callback_allowlist.is_empty() {
            return true;
        }
        client.is_some_and(|ip| self.callback_allowlist.iter().any(|n| n.contains(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        assert!(net("196.201.214.0/24").contains("196.201.214.200".parse().unwrap()));
        assert!(!net("196.201.214.0/24").contains("196.201.213.200".parse().unwrap()));
        assert!(net("10.0.0.1").contains("::ffff:10.0.0.1".parse().unwrap()));
        assert!(net("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(net("2001:db8::/32").contains("2001:db8::1".parse().unwrap()));
        assert!(!net("2001:db8::/32").contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = vec![net("10.0.0.0/8")];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 196.201.214.200, 10.0.0.7".parse().unwrap());
        let proxy: SocketAddr = "10.0.0.2:5000".parse().unwrap();
        let stranger: SocketAddr = "5.5.5.5:5000".parse().unwrap();
        assert_eq!(client_ip(Some(proxy), &h, &trusted), Some("196.201.214.200".parse().unwrap()));
        assert_eq!(client_ip(Some(stranger), &h, &trusted), Some("5.5.5.5".parse().unwrap()));
        assert_eq!(client_ip(Some(proxy), &HeaderMap::new(), &trusted), Some("10.0.0.2".parse().unwrap()));
        h.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(client_ip(Some(proxy), &h, &trusted), Some("10.0.0.2".parse().unwrap()));
    }
}

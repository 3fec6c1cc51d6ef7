//! Abuse limits, as in-memory token buckets.
//!
//! Each instance keeps its own buckets: behind a load balancer with N instances a client may get up to N
//! times a limit. That is the trade for not writing to the database on every request (the API limit is
//! meant for thousands of requests a second); the limits are there to stop floods and prompt spam, not to
//! meter exactly.
//!
//! - merchant API: `LIPA_RATE_LIMIT_API` requests per API key per minute (default off);
//! - checkout page: `LIPA_CHECKOUT_IP_LIMIT` phone submissions per client IP per minute,
//!   `LIPA_CHECKOUT_PHONE_COOLDOWN` between two prompts to one phone, `LIPA_CHECKOUT_PHONE_LIMIT` prompts
//!   per phone per hour.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::security::Settings;

/// Entries are dropped once the map holds this many (full buckets first): memory stays bounded whatever
/// a flood of distinct keys does.
const MAX_ENTRIES: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of `capacity` tokens, refilled at `capacity` per `window`, one per key.
pub struct RateLimiter<K> {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// `None` when `capacity` is 0 (no limit).
    pub fn new(capacity: u32, window: Duration) -> Option<Self> {
        (capacity > 0 && !window.is_zero()).then(|| RateLimiter {
            capacity: f64::from(capacity),
            per_sec: f64::from(capacity) / window.as_secs_f64(),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Take a token for `key`, or say how long until one is there.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(key) {
            let (cap, rate) = (self.capacity, self.per_sec);
            map.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < cap);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        let b = map.entry(key.clone()).or_insert(Bucket { tokens: self.capacity, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * self.per_sec).min(self.capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
        }
    }
}

/// Why a request was refused, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    /// `api_key`, `checkout_ip`, `checkout_phone_cooldown` or `checkout_phone` (a metrics label).
    pub limit: &'static str,
}

impl Refused {
    /// Whole seconds for `Retry-After`, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// All the limits of one instance.
pub struct Limits {
    api: Option<RateLimiter<String>>,
    checkout_ip: Option<RateLimiter<IpAddr>>,
    checkout_phone: Option<RateLimiter<String>>,
    cooldown: Duration,
    last_prompt: Mutex<HashMap<String, Instant>>,
}

impl Limits {
    pub fn new(s: &Settings) -> Self {
        Limits {
            api: RateLimiter::new(s.api_per_minute, Duration::from_secs(60)),
            checkout_ip: RateLimiter::new(s.checkout_ip_per_minute, Duration::from_secs(60)),
            checkout_phone: RateLimiter::new(s.checkout_phone_per_hour, Duration::from_secs(3600)),
            cooldown: s.checkout_phone_cooldown,
            last_prompt: Mutex::new(HashMap::new()),
        }
    }

    /// One merchant API request by this key.
    pub fn api(&self, key_id: &str) -> Result<(), Refused> {
        match &self.api {
            None => Ok(()),
            Some(l) => l
                .take(&key_id.to_string(), Instant::now())
                .map_err(|retry_after| Refused { retry_after, limit: "api_key" }),
        }
    }

    /// The checkout page is about to send a prompt to `phone` for a client at `ip`.
    pub fn checkout_prompt(&self, ip: Option<IpAddr>, phone: &str) -> Result<(), Refused> {
        let now = Instant::now();
        if let (Some(l), Some(ip)) = (&self.checkout_ip, ip) {
            l.take(&ip, now).map_err(|retry_after| Refused { retry_after, limit: "checkout_ip" })?;
        }
        if !self.cooldown.is_zero() {
            let mut last = self.last_prompt.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = last.get(phone) {
                let since = now.saturating_duration_since(*at);
                if since < self.cooldown {
                    return Err(Refused { retry_after: self.cooldown - since, limit: "checkout_phone_cooldown" });
                }
            }
            if last.len() >= MAX_ENTRIES {
                let cooldown = self.cooldown;
                last.retain(|_, at| now.saturating_duration_since(*at) < cooldown);
            }
            last.insert(phone.to_string(), now);
        }
        if let Some(l) = &self.checkout_phone {
            l.take(&phone.to_string(), now).map_err(|retry_after| Refused { retry_after, limit: "checkout_phone" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_over_its_window() {
        let l = RateLimiter::new(2, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        assert!(l.take(&"k", t0).is_ok());
        assert!(l.take(&"k", t0).is_ok());
        let wait = l.take(&"k", t0).unwrap_err();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(l.take(&"other", t0).is_ok(), "keys are independent");
        assert!(l.take(&"k", t0 + Duration::from_secs(31)).is_ok());
        assert!(RateLimiter::<&str>::new(0, Duration::from_secs(60)).is_none());
    }

    #[test]
    fn checkout_cooldown_then_hourly_limit() {
        let s = Settings {
            checkout_phone_cooldown: Duration::from_secs(30),
            checkout_phone_per_hour: 1,
            checkout_ip_per_minute: 0,
            ..Settings::default()
        };
        let l = Limits::new(&s);
        assert!(l.checkout_prompt(None, "254712345678").is_ok());
        let r = l.checkout_prompt(None, "254712345678").unwrap_err();
        assert_eq!(r.limit, "checkout_phone_cooldown");
        assert!(r.retry_after_secs() <= 30);
        assert!(l.checkout_prompt(None, "254712345679").is_ok());
        assert!(l.api("key").is_ok(), "the API limit is off by default");
    }
}

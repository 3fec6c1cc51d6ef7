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
    /// `api_key`, `checkout_ip`, `checkout_phone_cooldown`, `checkout_phone`, `admin_login_ip` or
    /// `admin_login` (a metrics label).
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
    admin_login_ip: Option<RateLimiter<IpAddr>>,
    admin_login_all: Option<RateLimiter<()>>,
    /// One admin password hash at a time: a burst of sign-ins takes one core, never all of them.
    pub admin_hashing: tokio::sync::Semaphore,
    /// `/readyz`: a failed Daraja token request is remembered for [`PROBE_FAILURE_TTL`].
    pub probe: ProbeCache,
    /// Log lines a stranger can cause (unknown callbacks, refused sign-ins): at most one a second each.
    pub quiet: LogThrottle,
}

/// At most one log line per second per kind, saying how many were left out: a flood cannot fill the disk
/// with logs. (The metrics still count every one.)
#[derive(Default)]
pub struct LogThrottle {
    last: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl LogThrottle {
    /// `Some(lines left out since the last one)` when a line of `kind` may be written now.
    pub fn allow(&self, kind: &'static str) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match last.get_mut(kind) {
            Some((at, skipped)) if now.saturating_duration_since(*at) < Duration::from_secs(1) => {
                *skipped += 1;
                None
            }
            Some((at, skipped)) => {
                let n = *skipped;
                (*at, *skipped) = (now, 0);
                Some(n)
            }
            None => {
                last.insert(kind, (now, 0));
                Some(0)
            }
        }
    }
}

/// How long `/readyz` repeats a failed Daraja token answer instead of asking Daraja again.
pub const PROBE_FAILURE_TTL: Duration = Duration::from_secs(15);

/// The last failed token request of `/readyz`, so that probes cannot hammer Daraja's OAuth endpoint (and
/// get the app blocked): at most one request per [`PROBE_FAILURE_TTL`] while the credentials are bad, one
/// at a time.
#[derive(Default)]
pub struct ProbeCache {
    failed: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl ProbeCache {
    /// The token check: a failure less than [`PROBE_FAILURE_TTL`] old is answered again; otherwise `fetch`
    /// runs (one caller at a time) and a failure is remembered.
    pub async fn check<F, Fut>(&self, fetch: F) -> Result<(), String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut failed = self.failed.lock().await;
        if let Some((at, e)) = failed.as_ref() {
            if at.elapsed() < PROBE_FAILURE_TTL {
                return Err(e.clone());
            }
        }
        let r = fetch().await;
        *failed = r.as_ref().err().map(|e| (Instant::now(), e.clone()));
        r
    }
}

impl Limits {
    pub fn new(s: &Settings) -> Self {
        Limits {
            api: RateLimiter::new(s.api_per_minute, Duration::from_secs(60)),
            checkout_ip: RateLimiter::new(s.checkout_ip_per_minute, Duration::from_secs(60)),
            checkout_phone: RateLimiter::new(s.checkout_phone_per_hour, Duration::from_secs(3600)),
            cooldown: s.checkout_phone_cooldown,
            last_prompt: Mutex::new(HashMap::new()),
            admin_login_ip: None,
            admin_login_all: None,
            admin_hashing: tokio::sync::Semaphore::new(1),
            probe: ProbeCache::default(),
            quiet: LogThrottle::default(),
        }
    }

    /// The admin sign-in limits (`LIPA_ADMIN_LOGIN_IP_LIMIT`, `LIPA_ADMIN_LOGIN_LIMIT` per minute).
    pub fn with_admin_login(mut self, h: &crate::hardening::Hardening) -> Self {
        self.admin_login_ip = RateLimiter::new(h.admin_login_ip_per_minute, Duration::from_secs(60));
        self.admin_login_all = RateLimiter::new(h.admin_login_per_minute, Duration::from_secs(60));
        self
    }

    /// One admin sign-in attempt from `ip`: refused when this client, or everyone together, tried too often.
    pub fn admin_login(&self, ip: Option<IpAddr>) -> Result<(), Refused> {
        let now = Instant::now();
        if let (Some(l), Some(ip)) = (&self.admin_login_ip, ip) {
            l.take(&ip, now).map_err(|retry_after| Refused { retry_after, limit: "admin_login_ip" })?;
        }
        if let Some(l) = &self.admin_login_all {
            l.take(&(), now).map_err(|retry_after| Refused { retry_after, limit: "admin_login" })?;
        }
        Ok(())
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

    #[test]
    fn log_throttle_says_what_it_left_out() {
        let t = LogThrottle::default();
        assert_eq!(t.allow("a"), Some(0));
        assert_eq!(t.allow("a"), None);
        assert_eq!(t.allow("a"), None);
        assert_eq!(t.allow("b"), Some(0), "kinds are independent");
        t.last.lock().unwrap().get_mut("a").unwrap().0 -= Duration::from_secs(2);
        assert_eq!(t.allow("a"), Some(2));
    }

    #[test]
    fn admin_login_per_client_then_globally() {
        let h = crate::hardening::Hardening {
            admin_login_ip_per_minute: 2,
            admin_login_per_minute: 3,
            ..Default::default()
        };
        let l = Limits::new(&Settings::default()).with_admin_login(&h);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(l.admin_login(Some(a)).is_ok());
        assert!(l.admin_login(Some(a)).is_ok());
        assert_eq!(l.admin_login(Some(a)).unwrap_err().limit, "admin_login_ip");
        assert!(l.admin_login(Some(b)).is_ok(), "another client has its own allowance");
        let r = l.admin_login(Some(b)).unwrap_err();
        assert_eq!(r.limit, "admin_login", "but the global one is spent");
        assert!(r.retry_after_secs() >= 1);
    }
}

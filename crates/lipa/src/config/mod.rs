//! Configuration from the environment and an optional `lipa.toml`; the environment wins.
//!
//! The names are the ones in PRODUCT.md (`MPESA_*` follow the seed guide). `lipa.toml` holds the same
//! names, in upper or lower case, as a flat table: `mpesa_env = "sandbox"`.

pub mod c2b;
pub mod money_out;

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

// Where values come from and how they are read (its own module, so that `security` can read its settings
// without depending on this one).
pub use crate::source::{parse_duration, ConfigError, Source};

pub const SANDBOX_SHORTCODE: &str = "174379";
pub const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The merchant name outside production when `LIPA_MERCHANT_NAME` is unset: the simulator's default too
/// (`daraja_sim::DEFAULT_MERCHANT_NAME`; a test keeps the two equal), so the handset prompt and the pages agree.
pub const DEFAULT_MERCHANT_NAME: &str = "LIPA DEMO SHOP";

/// Words Daraja refuses in callback URLs.
pub const FORBIDDEN_CALLBACK_WORDS: &[&str] = &["m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Simulator,
    Sandbox,
    Production,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulator => "simulator",
            Self::Sandbox => "sandbox",
            Self::Production => "production",
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub mode: Mode,
    /// `MPESA_ENV` was set (false: the mode was inferred from whether credentials are present).
    pub mode_explicit: bool,
    pub consumer_key: Option<SecretString>,
    pub consumer_secret: Option<SecretString>,
    pub shortcode: String,
    pub passkey: SecretString,
    pub till_number: Option<String>,
    pub base_url: Option<String>,
    pub public_url: Option<String>,
    pub database_url: String,
    pub listen: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<SecretString>,
    /// The first retry delay after a failed webhook attempt; later ones double (`LIPA_WEBHOOK_RETRY_BASE`).
    pub webhook_retry_base: Duration,
    /// How long lipa keeps retrying an event before it gives up (`LIPA_WEBHOOK_GIVE_UP_AFTER`).
    pub webhook_give_up_after: Duration,
    pub merchant_name: String,
    /// How customers reach the merchant, shown on the checkout page (`LIPA_MERCHANT_CONTACT`: a phone,
    /// WhatsApp number or email address, as free text).
    pub merchant_contact: Option<String>,
    pub reconcile_after: Duration,
    pub pending_max_age: Duration,
    pub reference_max_len: usize,
    pub admin_password: Option<SecretString>,
    /// One pending payment per reference (PRODUCT.md: on by default). `LIPA_PENDING_GUARD=off` turns it off.
    pub pending_guard: bool,
    /// Simulator mode: how long the simulator's test numbers take to answer (`LIPA_SIM_RESULT_DELAY`).
    pub sim_result_delay: Duration,
    /// Simulator mode: how long an unanswered handset prompt lives (`LIPA_SIM_PROMPT_TIMEOUT`).
    pub sim_prompt_timeout: Duration,
    /// How often the reconciliation worker looks for due work (`LIPA_WORKER_TICK`).
    pub worker_tick: Duration,
    /// Client timeout for Daraja calls (`LIPA_DARAJA_TIMEOUT`).
    pub daraja_timeout: Duration,
    pub json_logs: bool,
    /// Abuse limits, callback protection, the metrics token (`crate::security`).
    pub security: crate::security::Settings,
    /// Connection timeouts and caps, admin login limits, callback body retention (`crate::hardening`).
    pub hardening: crate::hardening::Hardening,
    /// C2B: version, validation rule, default action (`crate::c2b`).
    pub c2b: c2b::C2bSettings,
    /// Payouts, refunds and the balance (`MPESA_INITIATOR_*`, `MPESA_B2C_*`, …).
    pub money_out: money_out::Settings,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("consumer_key", &redacted(&self.consumer_key))
            .field("consumer_secret", &redacted(&self.consumer_secret))
            .field("shortcode", &self.shortcode)
            .field("passkey", &"[redacted]")
            .field("till_number", &self.till_number)
            .field("base_url", &self.base_url)
            .field("public_url", &self.public_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("webhook_url", &self.webhook_url.as_deref().map(redact_url))
            .field("webhook_secret", &redacted(&self.webhook_secret))
            .field("merchant_name", &self.merchant_name)
            .field("reconcile_after", &self.reconcile_after)
            .field("pending_max_age", &self.pending_max_age)
            .field("reference_max_len", &self.reference_max_len)
            .field("admin_password", &redacted(&self.admin_password))
            .field("pending_guard", &self.pending_guard)
            .field("hardening", &self.hardening)
            .field("c2b", &self.c2b)
            .field("money_out", &self.money_out)
            .finish_non_exhaustive()
    }
}

/// How a secret setting shows in `Debug`: whether it is set, never what it is.
fn redacted(s: &Option<SecretString>) -> &'static str {
    if s.is_some() {
        "[redacted]"
    } else {
        "none"
    }
}

/// A database URL with its password hidden.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Source::load()?)
    }

    fn read(src: &Source) -> Result<Self, ConfigError> {
        let secret = |name: &str| src.get(name).map(SecretString::from);
        let duration = |name: &str, default: Duration| {
            src.parsed(name, default, parse_duration, "is not a duration (try 45s, 15m or 500ms)")
        };
        let has_credentials = src.get("MPESA_CONSUMER_KEY").is_some() || src.get("MPESA_CONSUMER_SECRET").is_some();
        let mode = match src.get("MPESA_ENV").map(|m| m.to_ascii_lowercase()) {
            None if has_credentials => Mode::Sandbox,
            None => Mode::Simulator,
            Some(m) => match m.as_str() {
                "simulator" | "sim" => Mode::Simulator,
                "sandbox" => Mode::Sandbox,
                "production" => Mode::Production,
                _ => return Err(ConfigError(format!("MPESA_ENV={m:?}: use simulator, sandbox or production"))),
            },
        };
        let reference_max_len = src.parsed(
            "LIPA_REFERENCE_MAX_LEN",
            12,
            |v| v.parse::<usize>().ok().filter(|n| (1..=100).contains(n)),
            "must be a number from 1 to 100",
        )?;
        // Production has no default for these: the sandbox's (or a demo name) must not reach customers.
        let outside_production = |name: &str, default: &str| {
            src.get(name).unwrap_or_else(|| if mode == Mode::Production { String::new() } else { default.into() })
        };
        let public_url = src.get("LIPA_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string());
        let cfg = Config {
            mode,
            mode_explicit: src.get("MPESA_ENV").is_some(),
            consumer_key: secret("MPESA_CONSUMER_KEY"),
            consumer_secret: secret("MPESA_CONSUMER_SECRET"),
            shortcode: outside_production("MPESA_SHORTCODE", SANDBOX_SHORTCODE),
            passkey: SecretString::from(outside_production("MPESA_PASSKEY", SANDBOX_PASSKEY)),
            till_number: src.get("MPESA_TILL_NUMBER"),
            base_url: src.get("MPESA_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
            public_url,
            database_url: src.get("LIPA_DATABASE_URL").unwrap_or_else(|| "sqlite://lipa.db".into()),
            listen: src.get("LIPA_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            webhook_url: src.get("LIPA_WEBHOOK_URL"),
            webhook_secret: secret("LIPA_WEBHOOK_SECRET"),
            webhook_retry_base: duration("LIPA_WEBHOOK_RETRY_BASE", Duration::from_secs(10))?,
            webhook_give_up_after: duration("LIPA_WEBHOOK_GIVE_UP_AFTER", Duration::from_secs(3 * 24 * 3600))?,
            // Production has no default: customers must not see a demo name (see `problems`). Elsewhere the
            // simulator's default, so the handset prompt and the pages agree.
            merchant_name: outside_production("LIPA_MERCHANT_NAME", DEFAULT_MERCHANT_NAME),
            merchant_contact: src.get("LIPA_MERCHANT_CONTACT").map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
            reconcile_after: duration("LIPA_RECONCILE_AFTER", Duration::from_secs(45))?,
            pending_max_age: duration("LIPA_PENDING_MAX_AGE", Duration::from_secs(15 * 60))?,
            reference_max_len,
            admin_password: secret("LIPA_ADMIN_PASSWORD"),
            pending_guard: src.flag("LIPA_PENDING_GUARD", true)?,
            sim_result_delay: duration("LIPA_SIM_RESULT_DELAY", Duration::from_secs(1))?,
            sim_prompt_timeout: duration("LIPA_SIM_PROMPT_TIMEOUT", Duration::from_secs(60))?,
            worker_tick: duration("LIPA_WORKER_TICK", Duration::from_millis(500))?,
            daraja_timeout: duration("LIPA_DARAJA_TIMEOUT", Duration::from_secs(30))?,
            json_logs: src.get("LIPA_LOG_FORMAT").is_some_and(|v| v.eq_ignore_ascii_case("json")),
            security: crate::security::Settings::from_source(src)?,
            hardening: crate::hardening::Hardening::from_source(src)?,
            c2b: c2b::C2bSettings::from_source(src)?,
            money_out: money_out::Settings::from_source(src)?,
        };
        Ok(cfg)
    }

    /// The configuration as written, without refusing what [`Config::problems`] finds (`lipa doctor`
    /// reports those one by one). Values that cannot be read at all are still errors.
    pub fn from_source_unchecked(src: &Source) -> Result<Self, ConfigError> {
        Self::read(src)
    }

    pub fn from_source(src: &Source) -> Result<Self, ConfigError> {
        let cfg = Self::read(src)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Refuse what cannot work, and in production everything unsafe — each with its fix.
    fn check(&self) -> Result<(), ConfigError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(format!(
                "lipa cannot start in {} mode:\n  - {}",
                self.mode.as_str(),
                problems.join("\n  - ")
            )))
        }
    }

    /// Everything that cannot work, and in production everything unsafe — each with its fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.pending_max_age <= self.reconcile_after {
            problems.push(format!(
                "LIPA_PENDING_MAX_AGE ({:?}) must be longer than LIPA_RECONCILE_AFTER ({:?})",
                self.pending_max_age, self.reconcile_after
            ));
        }
        if let Some(problem) = self.simulator_problem() {
            problems.push(problem);
        }
        problems.extend(self.money_out.problems(self.mode));
        if self.mode != Mode::Simulator && (self.consumer_key.is_none() || self.consumer_secret.is_none()) {
            problems.push(format!(
                "MPESA_ENV={} needs MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET (from your app on the Daraja portal)",
                self.mode.as_str()
            ));
        }
        if self.mode == Mode::Production {
            let required = [
                ("MPESA_SHORTCODE", self.shortcode.is_empty()),
                ("MPESA_PASSKEY", self.passkey.expose_secret().is_empty()),
                ("LIPA_PUBLIC_URL", self.public_url.is_none()),
            ];
            if self.merchant_name.is_empty() {
                problems.push(
                    "production needs LIPA_MERCHANT_NAME: the shop name your customers see on the checkout page \
                     (use the name Safaricom registered for your shortcode, which their M-Pesa prompt shows)"
                        .into(),
                );
            }
            for (name, missing) in required {
                if missing {
                    problems.push(format!("production needs {name}"));
                }
            }
            if self.shortcode == SANDBOX_SHORTCODE {
                problems.push("MPESA_SHORTCODE is the sandbox shortcode 174379: set your production shortcode".into());
            }
            if self.passkey.expose_secret() == SANDBOX_PASSKEY {
                problems.push(
                    "MPESA_PASSKEY is the public sandbox passkey: set the passkey Safaricom sent for your shortcode"
                        .into(),
                );
            }
            if let Some(url) = &self.public_url {
                if !url.starts_with("https://") {
                    problems.push(format!(
                        "LIPA_PUBLIC_URL ({url}) is not HTTPS: Daraja sends production callbacks only to HTTPS URLs"
                    ));
                }
            }
            if self.base_url.is_some() {
                problems.push("MPESA_BASE_URL is set: production talks to Safaricom's own URL only; unset it".into());
            }
        }
        if let Some(url) = &self.public_url {
            if url::Url::parse(url).is_err() {
                problems.push(format!("LIPA_PUBLIC_URL ({url}) is not a URL"));
            }
            let callback = format!("{url}/callbacks/stk/").to_ascii_lowercase();
            for word in FORBIDDEN_CALLBACK_WORDS {
                if callback.contains(word) {
                    problems.push(format!(
                        "the callback URL {url}/callbacks/stk/… contains \"{word}\", which Daraja forbids in callback URLs: choose a host and path without it"
                    ));
                    break;
                }
            }
        }
        if let Some(url) = &self.webhook_url {
            if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                problems.push(format!("LIPA_WEBHOOK_URL ({}) is not an http(s) URL", redact_url(url)));
            }
            if self.webhook_secret.is_none() {
                problems.push(
                    "LIPA_WEBHOOK_URL is set but LIPA_WEBHOOK_SECRET is not: set a long random secret (e.g. `openssl rand -hex 32`) \
                     that your site uses to verify the Lipa-Signature header"
                        .into(),
                );
            }
        }
        if self.webhook_retry_base.is_zero() {
            problems.push("LIPA_WEBHOOK_RETRY_BASE must be longer than 0".into());
        }
        problems
    }

    /// Fails closed: the simulator (a fake Daraja, a demo shop) runs only when this build has it, and,
    /// when nobody asked for it with `MPESA_ENV=simulator`, only on a loopback address.
    fn simulator_problem(&self) -> Option<String> {
        if self.mode != Mode::Simulator {
            return None;
        }
        if !cfg!(feature = "sim") {
            return Some(
                "this lipa was built without the Daraja simulator (cargo feature `sim`), so it needs M-Pesa \
                 credentials: set MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET (with MPESA_ENV=sandbox or \
                 production), or use a build with the default features to run the simulator"
                    .into(),
            );
        }
        if self.mode_explicit || is_loopback(&self.listen) {
            return None;
        }
        Some(format!(
            "no M-Pesa credentials are set and LIPA_LISTEN={} is not a loopback address: lipa will not serve its \
             simulator (a fake Daraja and a demo shop) there by accident. Either set MPESA_CONSUMER_KEY and \
             MPESA_CONSUMER_SECRET (and MPESA_ENV=sandbox or production) to use Daraja, or set MPESA_ENV=simulator \
             to run the simulator on this address on purpose (or listen on 127.0.0.1)",
            self.listen
        ))
    }
}

/// Whether a listen address (`127.0.0.1:8080`, `[::1]:80`, `localhost:8080`) is reachable from this machine
/// only.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(addr) = listen.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_source(&Source::from_pairs(pairs))
    }

    #[test]
    #[cfg(feature = "sim")]
    fn no_credentials_means_simulator() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.mode, Mode::Simulator);
        assert_eq!(c.reconcile_after, Duration::from_secs(45));
        assert_eq!(c.reference_max_len, 12);
        // The gateway's pages and the simulator's prompt show one default name.
        assert_eq!(c.merchant_name, DEFAULT_MERCHANT_NAME);
        assert_eq!(DEFAULT_MERCHANT_NAME, daraja_sim::DEFAULT_MERCHANT_NAME);
        assert_eq!(c.merchant_name, daraja_sim::SimConfig::default().merchant_name);
        let sandbox = cfg(&[("MPESA_CONSUMER_KEY", "k"), ("MPESA_CONSUMER_SECRET", "s")]).unwrap();
        assert_eq!(sandbox.merchant_name, daraja_sim::DEFAULT_MERCHANT_NAME);
    }

    #[test]
    fn production_refuses_unsafe_settings() {
        let err = cfg(&[
            ("MPESA_ENV", "production"),
            ("MPESA_CONSUMER_KEY", "k"),
            ("MPESA_CONSUMER_SECRET", "s"),
            ("MPESA_SHORTCODE", "174379"),
            ("MPESA_PASSKEY", SANDBOX_PASSKEY),
            ("LIPA_PUBLIC_URL", "http://pay.example.com/mpesa"),
        ])
        .unwrap_err()
        .0;
        assert!(err.contains("sandbox shortcode"), "{err}");
        assert!(err.contains("sandbox passkey"), "{err}");
        assert!(err.contains("not HTTPS"), "{err}");
        assert!(err.contains("\"mpesa\""), "{err}");
        assert!(!err.contains(SANDBOX_PASSKEY), "the passkey must not be printed: {err}");
        let ok = cfg(&[
            ("MPESA_ENV", "production"),
            ("MPESA_CONSUMER_KEY", "k"),
            ("MPESA_CONSUMER_SECRET", "s"),
            ("MPESA_SHORTCODE", "600123"),
            ("MPESA_PASSKEY", "secretpasskey"),
            ("LIPA_PUBLIC_URL", "https://pay.example.com"),
            ("LIPA_MERCHANT_NAME", "ANGAZE"),
        ]);
        assert!(ok.is_ok(), "{:?}", ok.err());
        let no_name = cfg(&[
            ("MPESA_ENV", "production"),
            ("MPESA_CONSUMER_KEY", "k"),
            ("MPESA_CONSUMER_SECRET", "s"),
            ("MPESA_SHORTCODE", "600123"),
            ("MPESA_PASSKEY", "secretpasskey"),
            ("LIPA_PUBLIC_URL", "https://pay.example.com"),
        ])
        .unwrap_err()
        .0;
        assert!(no_name.contains("production needs LIPA_MERCHANT_NAME"), "{no_name}");
        let dbg = format!("{:?}", ok.unwrap());
        assert!(!dbg.contains("secretpasskey"));
    }

    #[test]
    #[cfg(feature = "sim")]
    fn simulator_without_credentials_only_on_loopback_or_on_purpose() {
        for listen in ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "127.0.0.2:80"] {
            let c = cfg(&[("LIPA_LISTEN", listen)]).unwrap();
            assert_eq!(c.mode, Mode::Simulator, "{listen}");
        }
        for listen in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:8080", "pay.example.com:80"] {
            let err = cfg(&[("LIPA_LISTEN", listen)]).unwrap_err().0;
            assert!(err.contains("MPESA_CONSUMER_KEY") && err.contains("MPESA_ENV=simulator"), "{listen}: {err}");
            assert!(err.contains(listen), "{err}");
        }
        let c = cfg(&[("LIPA_LISTEN", "0.0.0.0:8080"), ("MPESA_ENV", "simulator")]).unwrap();
        assert_eq!(c.mode, Mode::Simulator);
        let c = cfg(&[("LIPA_LISTEN", "0.0.0.0:8080"), ("MPESA_CONSUMER_KEY", "k"), ("MPESA_CONSUMER_SECRET", "s")])
            .unwrap();
        assert_eq!(c.mode, Mode::Sandbox);
    }

    #[test]
    #[cfg(not(feature = "sim"))]
    fn a_build_without_the_simulator_refuses_simulator_mode() {
        for env in [&[][..], &[("MPESA_ENV", "simulator")][..]] {
            let err = cfg(env).unwrap_err().0;
            assert!(err.contains("cargo feature `sim`") && err.contains("MPESA_CONSUMER_KEY"), "{err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("soon"), None);
    }
}

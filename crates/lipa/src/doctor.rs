//! `lipa doctor`: checks a configuration end to end and explains each problem with its fix.
//!
//! It reads the configuration without refusing it (so that every problem is reported, not only the
//! first), then asks the real thing: the database (reachable, schema brought up to date as `serve`
//! would), Daraja's OAuth (the credentials get a token), an STK Query on a made-up CheckoutRequestID (a
//! "Wrong credentials" answer means shortcode and passkey do not belong together; "not found"/invalid id
//! means they do), and the `Date` header of Daraja's answer (the host clock; the STK password carries a
//! timestamp). Secrets are never printed.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, Mode, Source, SANDBOX_PASSKEY, SANDBOX_SHORTCODE};

mod money_out;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Error,
}

#[derive(Debug, Clone)]
pub struct Finding {
    /// What was checked: `configuration`, `database`, `credentials`, `shortcode and passkey`, `clock`,
    /// `callback URL`, `webhooks`, `metrics`.
    pub check: &'static str,
    pub level: Level,
    /// What was found, in plain words.
    pub message: String,
    /// What to do about it.
    pub fix: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    fn push(&mut self, check: &'static str, level: Level, message: impl Into<String>, fix: Option<&str>) {
        self.findings.push(Finding { check, level, message: message.into(), fix: fix.map(str::to_string) });
    }

    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.push(check, Level::Ok, message, None);
    }

    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Error)
    }

    /// The findings of one check.
    pub fn about(&self, check: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.check == check).collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            let tag = match x.level {
                Level::Ok => "ok   ",
                Level::Warn => "WARN ",
                Level::Error => "ERROR",
            };
            writeln!(f, "[{tag}] {}: {}", x.check, x.message)?;
            if let Some(fix) = &x.fix {
                writeln!(f, "        fix: {fix}")?;
            }
        }
        let errors = self.findings.iter().filter(|x| x.level == Level::Error).count();
        let warnings = self.findings.iter().filter(|x| x.level == Level::Warn).count();
        if errors == 0 && warnings == 0 {
            writeln!(f, "\nAll checks passed.")
        } else {
            writeln!(f, "\n{errors} error(s), {warnings} warning(s).")
        }
    }
}

/// A made-up CheckoutRequestID: Daraja knows no such request, so any answer other than a credentials
/// error means the credentials are good.
const DUMMY_CHECKOUT: &str = "ws_CO_00000000000000000000";

/// Run every check against the configuration in `src`.
pub async fn run(src: &Source) -> Report {
    let mut r = Report::default();
    let cfg = match Config::from_source_unchecked(src) {
        Ok(c) => c,
        Err(e) => {
            r.push(
                "configuration",
                Level::Error,
                e.0,
                Some("correct the setting named above and run lipa doctor again"),
            );
            return r;
        }
    };
    let problems = cfg.problems();
    if problems.is_empty() {
        r.ok("configuration", format!("{} mode; every setting can be read", cfg.mode.as_str()));
    }
    for p in problems {
        // Each message names the setting and what it must be.
        r.push("configuration", Level::Error, p, Some("change that setting as described, then run lipa doctor again"));
    }
    check_production_secrets(&cfg, &mut r);
    check_callback_url(&cfg, &mut r);
    check_webhooks(&cfg, &mut r);
    check_database(&cfg, &mut r).await;
    if cfg.mode == Mode::Simulator {
        r.ok(
            "credentials",
            "simulator mode: lipa answers as Daraja itself, so there are no Safaricom credentials to check",
        );
        money_out::check(&cfg, None, &mut r).await;
    } else {
        let client = check_daraja(&cfg, &mut r).await;
        money_out::check(&cfg, client.as_ref(), &mut r).await;
    }
    if cfg.mode == Mode::Production && cfg.security.metrics_token.is_none() {
        r.push(
            "metrics",
            Level::Warn,
            "/metrics is open to anyone who can reach lipa (it shows payment counts, not payment data)",
            Some("set LIPA_METRICS_TOKEN and give Prometheus the same value as a bearer token, or keep /metrics off the public network"),
        );
    }
    r
}

fn check_production_secrets(cfg: &Config, r: &mut Report) {
    if cfg.mode != Mode::Production {
        return;
    }
    // `problems()` already refuses these; said again here under their own name, with the fix.
    if cfg.shortcode == SANDBOX_SHORTCODE || cfg.passkey.expose_secret() == SANDBOX_PASSKEY {
        r.push(
            "sandbox values in production",
            Level::Error,
            "the sandbox shortcode 174379 or its public passkey is configured in production: no real money would arrive",
            Some("set MPESA_SHORTCODE to your paybill/till's store number and MPESA_PASSKEY to the passkey Safaricom emailed for it at go-live"),
        );
    } else {
        r.ok("sandbox values in production", "neither the sandbox shortcode nor its passkey is used");
    }
}

fn private_host(host: &url::Host<&str>) -> bool {
    let ip = match host {
        url::Host::Domain(d) => {
            let d = d.to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local") || d.ends_with(".internal");
        }
        url::Host::Ipv4(v4) => IpAddr::V4(*v4),
        url::Host::Ipv6(v6) => IpAddr::V6(*v6),
    };
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn check_callback_url(cfg: &Config, r: &mut Report) {
    const CHECK: &str = "callback URL";
    if cfg.mode == Mode::Simulator {
        r.ok(CHECK, "simulator mode: callbacks come back on the same port, no public URL is needed");
        return;
    }
    let Some(public) = &cfg.public_url else {
        r.push(
            CHECK,
            Level::Error,
            "LIPA_PUBLIC_URL is not set, so Daraja would be told to call back to the listen address, which it cannot reach",
            Some("set LIPA_PUBLIC_URL to the public https:// address of this gateway (e.g. https://pay.example.com)"),
        );
        return;
    };
    let Ok(url) = url::Url::parse(public) else {
        return;
    }; // reported by the configuration check
    let sample = format!("{public}/callbacks/stk/0123456789abcdef");
    let lower = sample.to_ascii_lowercase();
    let forbidden = crate::config::FORBIDDEN_CALLBACK_WORDS.iter().find(|w| lower.contains(**w));
    let mut fine = true;
    if let Some(word) = forbidden {
        fine = false;
        r.push(
            CHECK,
            Level::Error,
            format!("{sample} contains \"{word}\", and Daraja refuses callback URLs with that word"),
            Some(
                "serve lipa under a host name and path without M-PESA, mpesa, Safaricom, exe, exec, cmd, SQL or query",
            ),
        );
    }
    if url.scheme() != "https" {
        fine = false;
        let level = if cfg.mode == Mode::Production { Level::Error } else { Level::Warn };
        r.push(
            CHECK,
            level,
            format!("{public} is not HTTPS; Daraja sends production callbacks only to HTTPS URLs"),
            Some("put lipa behind a TLS-terminating proxy and set LIPA_PUBLIC_URL=https://…"),
        );
    }
    // A Daraja that is itself on this machine or network (a simulator at MPESA_BASE_URL) can reach a
    // local callback URL: said, not failed.
    let local_daraja = cfg
        .base_url
        .as_deref()
        .and_then(|b| url::Url::parse(b).ok())
        .is_some_and(|b| b.host().is_some_and(|h| private_host(&h)));
    if url.host().is_some_and(|h| private_host(&h)) && local_daraja {
        fine = false;
        r.ok(
            CHECK,
            format!(
                "{public} is a local address; Daraja here is also local (MPESA_BASE_URL={}), so it can call back",
                cfg.base_url.as_deref().unwrap_or_default()
            ),
        );
    } else if url.host().is_some_and(|h| private_host(&h)) {
        fine = false;
        r.push(
            CHECK,
            Level::Error,
            format!("{public} is a local or private address that Daraja, on the internet, cannot reach"),
            Some("use the public host name of this gateway (for a laptop, a tunnel such as `cloudflared tunnel` gives one)"),
        );
    }
    if fine {
        r.ok(CHECK, format!("{public}/callbacks/stk/<secret> is public HTTPS and free of forbidden words"));
    }
}

fn check_webhooks(cfg: &Config, r: &mut Report) {
    const CHECK: &str = "webhooks";
    match (&cfg.webhook_url, &cfg.webhook_secret) {
        (Some(_), Some(secret)) if secret.expose_secret().len() < 16 => r.push(
            CHECK,
            Level::Warn,
            "LIPA_WEBHOOK_SECRET is shorter than 16 characters: easy to guess",
            Some("use a long random value, e.g. `openssl rand -hex 32`, in lipa and in your site"),
        ),
        (Some(url), Some(_)) => {
            r.ok(CHECK, format!("events are signed and sent to {}", crate::config::redact_url(url)))
        }
        (Some(_), None) => {} // an error of the configuration check, which says what to do
        (None, Some(_)) => r.push(
            CHECK,
            Level::Warn,
            "LIPA_WEBHOOK_SECRET is set but LIPA_WEBHOOK_URL is not, so no events are sent",
            Some("set LIPA_WEBHOOK_URL to your site's webhook endpoint, or remove LIPA_WEBHOOK_SECRET"),
        ),
        (None, None) => r.ok(CHECK, "no webhook URL: your site follows payments through the API"),
    }
}

async fn check_database(cfg: &Config, r: &mut Report) {
    const CHECK: &str = "database";
    let shown = crate::config::redact_url(&cfg.database_url);
    let opened = tokio::time::timeout(Duration::from_secs(15), crate::store::open(&cfg.database_url)).await;
    match opened {
        Err(_) => r.push(
            CHECK,
            Level::Error,
            format!("{shown} did not answer within 15 s"),
            Some("check that the database server runs and that this host may connect to it (LIPA_DATABASE_URL)"),
        ),
        Ok(Err(crate::store::StoreError::Migrate(e))) => r.push(
            CHECK,
            Level::Error,
            format!("{shown} is reachable but its schema could not be brought up to date: {e}"),
            Some("the database may belong to a newer lipa, or a migration was changed by hand; restore it or use an empty database"),
        ),
        Ok(Err(e)) => r.push(
            CHECK,
            Level::Error,
            format!("cannot open {shown}: {e}"),
            Some("check LIPA_DATABASE_URL (sqlite://path or postgres://user:password@host/db), the password, and that the server runs"),
        ),
        Ok(Ok(store)) => {
            match store.ping().await {
                Ok(()) => r.ok(CHECK, format!("{shown} is reachable and its schema is up to date")),
                Err(e) => r.push(CHECK, Level::Error, format!("{shown} opened but does not answer: {e}"), Some("check the database server")),
            }
            check_c2b(cfg, store.as_ref(), r).await;
        }
    }
}

/// Are the C2B URLs registered, and with which version?
async fn check_c2b(cfg: &Config, store: &dyn crate::store::Store, r: &mut Report) {
    const CHECK: &str = "c2b";
    let version = cfg.c2b.version;
    let number = crate::c2b::Collect::of(cfg);
    let last = crate::c2b::last_registration(store).await;
    match (last, cfg.mode) {
        (Some(note), _) if note.starts_with("registered") => r.ok(
            CHECK,
            format!(
                "C2B URLs {note} (MPESA_C2B_VERSION={version}, shortcode {}, LIPA_C2B_VALIDATION={})",
                number.number(),
                cfg.c2b.validation.as_str()
            ),
        ),
        (Some(note), _) => r.push(
            CHECK,
            Level::Warn,
            format!("the last C2B URL registration {note}"),
            Some("run `lipa c2b register` and follow what it says (or set MPESA_C2B_VERSION to the other version)"),
        ),
        (None, Mode::Production) => r.push(
            CHECK,
            Level::Warn,
            format!("no C2B URL registration is recorded for shortcode {} ({version})", number.number()),
            Some("run `lipa c2b register` once, so that paybill, till and QR payments reach lipa"),
        ),
        (None, _) => r.ok(
            CHECK,
            format!("`lipa serve` registers the C2B URLs ({version}) for shortcode {} at start", number.number()),
        ),
    }
}

fn environment(cfg: &Config) -> Result<daraja::Environment, String> {
    match (&cfg.base_url, cfg.mode) {
        (Some(url), _) => {
            url::Url::parse(url).map(daraja::Environment::Custom).map_err(|e| format!("MPESA_BASE_URL: {e}"))
        }
        (None, Mode::Production) => Ok(daraja::Environment::Production),
        (None, _) => Ok(daraja::Environment::Sandbox),
    }
}

/// Check the credentials, shortcode and passkey; the client when the credentials got a token.
async fn check_daraja(cfg: &Config, r: &mut Report) -> Option<daraja::Client> {
    let env = match environment(cfg) {
        Ok(e) => e,
        Err(e) => {
            r.push("credentials", Level::Error, e, Some("set MPESA_BASE_URL to an http(s) URL, or unset it"));
            return None;
        }
    };
    let base = env.base_url();
    let (Some(key), Some(secret)) = (cfg.consumer_key.clone(), cfg.consumer_secret.clone()) else {
        r.push(
            "credentials",
            Level::Error,
            "MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET are needed to talk to Daraja",
            Some("copy them from your app on developer.safaricom.co.ke (My Apps)"),
        );
        return None;
    };
    check_clock(&base, r).await;
    // A fresh in-memory token: this proves the configured credentials, not a token some instance cached.
    let dcfg =
        daraja::Config::new(env, key, secret, cfg.shortcode.clone(), SecretString::from(cfg.passkey.expose_secret()))
            .with_timeouts(Duration::from_secs(5), Duration::from_secs(20));
    let client = match daraja::Client::new(dcfg) {
        Ok(c) => c,
        Err(e) => {
            r.push(
                "credentials",
                Level::Error,
                format!("the Daraja settings are invalid: {e}"),
                Some("correct MPESA_SHORTCODE / MPESA_PASSKEY"),
            );
            return None;
        }
    };
    match client.access_token().await {
        Ok(_) => r.ok("credentials", format!("the consumer key and secret got an access token from {base}")),
        Err(daraja::Error::Auth { http_status, error_code, message }) if http_status.is_some_and(|s| s < 500) => {
            r.push(
                "credentials",
                Level::Error,
                format!(
                    "Daraja refused the consumer key and secret (HTTP {}{}): {message}",
                    http_status.unwrap_or_default(),
                    error_code.map(|c| format!(", {c}")).unwrap_or_default()
                ),
                Some(
                    "copy MPESA_CONSUMER_KEY and MPESA_CONSUMER_SECRET again from your app on developer.safaricom.co.ke \
                     (no spaces; a sandbox app's keys do not work in production and the other way round)",
                ),
            );
            return None;
        }
        Err(e) => {
            r.push(
                "credentials",
                Level::Error,
                format!("could not get an access token from {base}: {e}"),
                Some("check that this host can reach Daraja (DNS, firewall, proxy) and that MPESA_BASE_URL, if set, is right"),
            );
            return None;
        }
    }
    const CHECK: &str = "shortcode and passkey";
    match client.stk_query(DUMMY_CHECKOUT).await {
        Err(daraja::Error::Rejected { message, .. }) if message.to_ascii_lowercase().contains("wrong credentials") => r.push(
            CHECK,
            Level::Error,
            format!(
                "Daraja answered \"Wrong credentials\" for shortcode {}: the passkey does not belong to this shortcode",
                cfg.shortcode
            ),
            Some(
                "set MPESA_PASSKEY to the Lipa Na M-Pesa Online passkey Safaricom sent for MPESA_SHORTCODE \
                 (sandbox: shortcode 174379 with the public test passkey from the Daraja portal)",
            ),
        ),
        Err(daraja::Error::Rejected { message, .. }) if message.to_ascii_lowercase().contains("merchant does not exist") => {
            r.push(
                CHECK,
                Level::Error,
                format!("Daraja does not know shortcode {} (\"Merchant does not exist\")", cfg.shortcode),
                Some("set MPESA_SHORTCODE to the store number (paybill, or the head office number of a till) your app is linked to"),
            )
        }
        Ok(_) | Err(daraja::Error::Rejected { .. }) => r.ok(
            CHECK,
            format!("Daraja accepted shortcode {} with this passkey (it only said the test request does not exist)", cfg.shortcode),
        ),
        Err(e) => r.push(
            CHECK,
            Level::Warn,
            format!("could not tell whether shortcode and passkey match: {e}"),
            Some("run lipa doctor again; if it persists, check the network to Daraja"),
        ),
    }
    Some(client)
}

/// Compare the host clock with the `Date` header of Daraja's answer to a request that needs no
/// credentials (the OAuth endpoint without them): the STK password holds a timestamp Daraja checks.
async fn check_clock(base: &url::Url, r: &mut Report) {
    const CHECK: &str = "clock";
    let url = format!("{}/oauth/v1/generate?grant_type=client_credentials", base.as_str().trim_end_matches('/'));
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(h) => h,
        Err(_) => return,
    };
    let answer = match http.get(&url).send().await {
        Ok(a) => a,
        Err(e) => {
            r.push(
                CHECK,
                Level::Warn,
                format!("could not compare the clock: Daraja did not answer ({e})"),
                Some("check that this host can reach Daraja"),
            );
            return;
        }
    };
    let now = jiff::Timestamp::now();
    let date = answer
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(v).ok());
    let Some(date) = date else {
        r.push(CHECK, Level::Warn, "Daraja's answer carried no readable Date header; the clock was not compared", None);
        return;
    };
    let skew = (now.as_second() - date.as_second()).abs();
    let fix = "synchronise the host clock (e.g. `timedatectl set-ntp true`); the time zone does not matter, lipa makes EAT timestamps itself";
    if skew > 300 {
        r.push(CHECK, Level::Error, format!("the host clock is {skew} s off Daraja's"), Some(fix));
    } else if skew > 30 {
        r.push(CHECK, Level::Warn, format!("the host clock is {skew} s off Daraja's"), Some(fix));
    } else {
        r.ok(CHECK, format!("the host clock agrees with Daraja's within {skew} s"));
    }
}

//! The admin login, beyond its pages (`routes::admin`):
//!
//! - **the password** is `LIPA_ADMIN_PASSWORD`, stretched at startup ([`setup`]) and dropped from the
//!   configuration; in simulator mode without one, a random one is made and printed in the banner;
//! - **attempts are limited**: per client address and for everyone together (`LIPA_ADMIN_LOGIN_IP_LIMIT`,
//!   `LIPA_ADMIN_LOGIN_LIMIT` per minute), answered `429` with `Retry-After`, and the slow password hash
//!   runs one at a time, so a flood of guesses costs one core at most and never the checkout's latency;
//! - **sessions end with the password**: at start, lipa checks the configured password against the
//!   verifier it stored last time (a salted PBKDF2 hash in the `kv` table, key [`PASSWORD_CHECK_KEY`]);
//!   when the password changed, or the admin is off, or the password is one made up at start (simulator
//!   mode), every stored session is deleted. A running instance without an admin accepts no session;
//! - **expired sessions are swept** by the upkeep job (`jobs::upkeep`).

use std::net::IpAddr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::password::{pbkdf2_sha256, AdminAuth, PBKDF2_ITERATIONS};
use crate::config::{Config, Mode};
use crate::limits::Limits;
use crate::store::Store;

/// The admin login for a configuration, taking the plain password out of it (it is not kept). Returns the
/// hash and, when one was generated (simulator mode without `LIPA_ADMIN_PASSWORD`), the password to print.
pub fn setup(cfg: &mut Config) -> (Option<Arc<AdminAuth>>, Option<String>) {
    match cfg.admin_password.take() {
        Some(pw) => (Some(Arc::new(AdminAuth::from_password(pw.expose_secret(), PBKDF2_ITERATIONS))), None),
        None if cfg.mode == Mode::Simulator => {
            let pw = hex::encode(rand::random::<[u8; 12]>());
            // 96 random bits need no stretching; a person's password does.
            (Some(Arc::new(AdminAuth::from_password(&pw, 1))), Some(pw))
        }
        None => (None, None),
    }
}

/// Where the verifier of the configured admin password is kept.
pub const PASSWORD_CHECK_KEY: &str = "admin_password_check";

/// May this sign-in attempt go ahead? `Err(seconds to wait)` when a limit is reached (logged with the
/// client's address).
pub fn login_allowed(limits: &Limits, client: Option<IpAddr>) -> Result<(), u64> {
    limits.admin_login(client).map_err(|refused| {
        let who = client.map(|ip| ip.to_string()).unwrap_or_else(|| "an unknown address".into());
        if let Some(skipped) = limits.quiet.allow("admin_login_refused") {
            tracing::warn!(client = %who, limit = refused.limit, skipped, "admin sign-in refused: too many attempts");
        }
        refused.retry_after_secs()
    })
}

/// Check a candidate password: one hash at a time, off the async threads.
pub async fn verify(limits: &Limits, auth: Arc<AdminAuth>, password: String) -> bool {
    let Ok(_one_at_a_time) = limits.admin_hashing.acquire().await else { return false };
    tokio::task::spawn_blocking(move || auth.verify(&password)).await.unwrap_or(false)
}

/// At start: end every stored session unless the admin is on with the same configured password as when
/// they were made. `configured` is `LIPA_ADMIN_PASSWORD` (None when the admin is off or the password was
/// made up at start).
pub async fn on_start(store: &dyn Store, configured: Option<&SecretString>, admin_on: bool) -> anyhow::Result<()> {
    let stored = store.kv_get(PASSWORD_CHECK_KEY).await?.map(|(v, _)| v);
    let same = match (configured, admin_on, &stored) {
        (Some(pw), true, Some(check)) => {
            let (pw, check) = (pw.expose_secret().to_string(), check.clone());
            tokio::task::spawn_blocking(move || verifier_matches(&check, &pw)).await.unwrap_or(false)
        }
        _ => false,
    };
    if same {
        return Ok(());
    }
    let ended = store.delete_admin_sessions(None).await?;
    if ended > 0 {
        tracing::info!(sessions = ended, "admin sessions ended: the admin password changed or the admin is off");
    }
    match (configured, admin_on) {
        (Some(pw), true) => {
            let pw = pw.expose_secret().to_string();
            let check = tokio::task::spawn_blocking(move || make_verifier(&pw)).await?;
            store.kv_put(PASSWORD_CHECK_KEY, &check, None).await?;
        }
        _ => {
            if let Some(old) = stored {
                store.kv_delete_if(PASSWORD_CHECK_KEY, &old).await?;
            }
        }
    }
    Ok(())
}

/// `pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>`.
fn make_verifier(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    let hash = pbkdf2_sha256(password.as_bytes(), &salt, PBKDF2_ITERATIONS);
    format!("pbkdf2-sha256${PBKDF2_ITERATIONS}${}${}", hex::encode(salt), hex::encode(hash))
}

fn verifier_matches(check: &str, password: &str) -> bool {
    let mut parts = check.split('$');
    let (Some("pbkdf2-sha256"), Some(iterations), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Ok(iterations), Ok(salt), Ok(hash)) = (iterations.parse::<u32>(), hex::decode(salt), hex::decode(hash)) else {
        return false;
    };
    if !(1..=10_000_000).contains(&iterations) {
        return false;
    }
    let got = pbkdf2_sha256(password.as_bytes(), &salt, iterations);
    super::password::same_bytes(&got, &hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_round_trip() {
        let v = make_verifier("correct horse");
        assert!(verifier_matches(&v, "correct horse"));
        assert!(!verifier_matches(&v, "correct horse "));
        assert!(!verifier_matches("pbkdf2-sha256$x$00$00", "a"));
        assert!(!verifier_matches("", "a"));
        assert!(!v.contains("correct"));
    }
}

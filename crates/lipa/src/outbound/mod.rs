//! What a running gateway holds to send money out: the initiator (its credential encrypted once), the
//! disbursement app's client, and the group commit of results. The flows that use it are in `money_out`.

pub mod results;

use std::fmt;
use std::sync::Arc;

use crate::config::money_out::RefundMethod;
use crate::config::Config;
use crate::store::Store;

/// Money out is not configured (production without an initiator).
#[derive(Debug, Clone, Copy)]
pub struct NotConfigured;

impl fmt::Display for NotConfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("money out is not configured: set MPESA_INITIATOR_NAME and MPESA_INITIATOR_PASSWORD")
    }
}

/// The initiator as Daraja's money-out APIs take it: its name and its encrypted password.
#[derive(Clone)]
pub struct Initiator {
    pub name: String,
    /// base64(RSA(password)): as good as the password to whoever can replay it. Never shown.
    credential: String,
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Initiator").field("name", &self.name).field("credential", &"[redacted]").finish()
    }
}

impl Initiator {
    pub fn credential(&self) -> &str {
        &self.credential
    }
}

/// What a running gateway needs to send money out. Cheap to share.
pub struct Outbound {
    /// None: money out is not configured (production without an initiator).
    pub initiator: Option<Initiator>,
    pub b2c_shortcode: String,
    /// The collecting shortcode: the receiver party of a reversal.
    pub shortcode: String,
    /// The Daraja app of disbursement (the main one unless MPESA_B2C_CONSUMER_KEY names another).
    pub client: daraja::Client,
    pub refund_method: RefundMethod,
    pub results: results::ResultQueue,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("initiator", &self.initiator)
            .field("b2c_shortcode", &self.b2c_shortcode)
            .field("refund_method", &self.refund_method)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Put it together at start: the credential is encrypted once. `client` is the B2C app's client.
    pub fn new(cfg: &Config, client: daraja::Client, store: Arc<dyn Store>) -> anyhow::Result<Outbound> {
        let s = &cfg.money_out;
        let initiator = match s.initiator(cfg.mode) {
            None => None,
            Some((name, password)) => {
                let cert = s.certificate(cfg.mode).map_err(anyhow::Error::msg)?;
                let credential = crate::config::money_out::credential(&cert, &password).map_err(anyhow::Error::msg)?;
                Some(Initiator { name, credential })
            }
        };
        Ok(Outbound {
            initiator,
            b2c_shortcode: s.b2c_shortcode.clone().unwrap_or_else(|| cfg.shortcode.clone()),
            shortcode: cfg.shortcode.clone(),
            client,
            refund_method: s.refund_method,
            results: results::start(store),
        })
    }

    /// The initiator, or why there is none (a 503 that says how to set one up).
    pub fn initiator(&self) -> Result<&Initiator, NotConfigured> {
        self.initiator.as_ref().ok_or(NotConfigured)
    }
}

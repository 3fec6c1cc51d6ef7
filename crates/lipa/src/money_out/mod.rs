//! Money out: payouts (B2C), refunds (Transaction Reversal or B2C), Transaction Status and Account Balance.
//!
//! A payout or refund is committed (pending, queued) before anything is sent. A B2C request carries the
//! row's id as its OriginatorConversationID, so sending it again — after a crash between the commit and the
//! send — is refused by Daraja as a duplicate and can never pay twice; a reversal, which has no such id, is
//! marked `sending` first and never sent again. Every answer (result, queue timeout, status) is committed
//! through a group commit before Daraja gets its acknowledgement. A result that does not come is asked for
//! with Transaction Status (`jobs::money_out`); what stays unknown goes to `needs_review`.

pub mod balance;
pub mod create;
pub mod send;

pub use crate::config::money_out as settings;
pub use crate::config::money_out::{RefundMethod, Settings};
pub use crate::outbound::{results, Initiator, NotConfigured, Outbound};

use daraja::ExposeSecret;

use crate::config::Mode;

/// The Daraja client of a separate disbursement app (`MPESA_B2C_CONSUMER_KEY`/`_SECRET`); None: the main one.
pub fn b2c_client(
    cfg: &crate::config::Config,
    environment: &daraja::Environment,
    store: &std::sync::Arc<dyn crate::store::Store>,
) -> anyhow::Result<Option<daraja::Client>> {
    let s = &cfg.money_out;
    let (Some(key), Some(secret)) = (s.b2c_consumer_key.clone(), s.b2c_consumer_secret.clone()) else {
        return Ok(None);
    };
    let credentials = format!("{}|{}|{}", environment.base_url(), key.expose_secret(), secret.expose_secret());
    let dcfg = daraja::Config::new(environment.clone(), key, secret, cfg.shortcode.clone(), cfg.passkey.clone())
        .with_timeouts(std::time::Duration::from_secs(5), cfg.daraja_timeout)
        .with_token_store(std::sync::Arc::new(crate::token::DbTokenStore::new(store.clone(), &credentials)));
    Ok(Some(daraja::Client::new(dcfg).map_err(|e| anyhow::anyhow!("the B2C Daraja client is invalid: {e}"))?))
}

/// Whether this mode may run money out with no configuration at all.
pub fn works_unconfigured(mode: Mode) -> bool {
    mode != Mode::Production
}

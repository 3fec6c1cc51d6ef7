//! C2B — money in from the SIM menu and by QR: the settings (`MPESA_C2B_VERSION`, `LIPA_C2B_VALIDATION`,
//! `LIPA_C2B_DEFAULT_ACTION`), the installation's callback secret, registering the validation and
//! confirmation URLs with Daraja (`lipa c2b register`, and `serve` at start outside production), and the
//! Dynamic QR code of a payment. The matching rules are in `domain::c2b`; the endpoints in `routes::c2b`.

use daraja::c2b::RegisterUrls;

pub use crate::config::c2b::C2bSettings;
use crate::config::Config;
use crate::store::c2b::{C2bApplied, C2bIn};
use crate::store::Store;

/// How customers pay the collecting shortcode: a paybill (with an account number) or a till (buy goods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collect {
    PayBill(String),
    BuyGoods(String),
}

impl Collect {
    /// `MPESA_TILL_NUMBER` when set (buy goods), otherwise `MPESA_SHORTCODE` (pay bill).
    pub fn of(cfg: &Config) -> Collect {
        match &cfg.till_number {
            Some(till) => Collect::BuyGoods(till.clone()),
            None => Collect::PayBill(cfg.shortcode.clone()),
        }
    }

    /// The number customers type.
    pub fn number(&self) -> &str {
        match self {
            Collect::PayBill(n) | Collect::BuyGoods(n) => n,
        }
    }

    pub fn is_paybill(&self) -> bool {
        matches!(self, Collect::PayBill(_))
    }
}

/// The `kv` key of the installation's C2B callback secret.
const SECRET_KEY: &str = "c2b_callback_secret";

/// The installation's C2B callback secret: made once (the first call) and kept in the database, so that
/// every instance and every restart registers and accepts the same URLs.
pub async fn secret(store: &dyn Store) -> anyhow::Result<String> {
    let fresh = crate::domain::ids::callback_secret();
    Ok(store.c2b_secret(SECRET_KEY, &fresh).await?)
}

/// The URLs to register: `{base}/callbacks/c2b/{secret}/validation` and `…/confirmation`.
pub fn urls(public_base: &str, secret: &str) -> (String, String) {
    let base = format!("{}/callbacks/c2b/{secret}", public_base.trim_end_matches('/'));
    (format!("{base}/validation"), format!("{base}/confirmation"))
}

/// What `lipa c2b register` and `serve` register.
pub fn registration(cfg: &Config, public_base: &str, secret: &str) -> RegisterUrls {
    let (validation_url, confirmation_url) = urls(public_base, secret);
    RegisterUrls {
        version: cfg.c2b.version,
        short_code: Collect::of(cfg).number().to_string(),
        response_type: cfg.c2b.default_action,
        confirmation_url,
        validation_url,
    }
}

/// The registration as a person reads it (the secret part of the URLs hidden).
pub fn describe(reg: &RegisterUrls, secret: &str) -> String {
    let hide = |u: &str| u.replace(secret, "<secret>");
    format!(
        "C2B {} registration for shortcode {}:\n  ValidationURL:   {}\n  ConfirmationURL: {}\n  ResponseType:    {} \
         (what Safaricom does when lipa does not answer a validation in time)",
        reg.version,
        reg.short_code,
        hide(&reg.validation_url),
        hide(&reg.confirmation_url),
        reg.response_type
    )
}

/// What a failed registration means and how to fix it.
pub fn explain(e: &daraja::Error, reg: &RegisterUrls) -> String {
    match e {
        daraja::Error::C2bUrlsAlreadyRegistered { .. } => format!(
            "Daraja says URLs are already registered for shortcode {}. In production a shortcode registers its C2B \
             URLs once; to change them, delete the old registration on the Daraja portal (or ask Safaricom support \
             at apisupport@safaricom.co.ke to reset it), then run `lipa c2b register` again. If the registered \
             URLs already are the ones above, nothing needs to change.",
            reg.short_code
        ),
        daraja::Error::WrongApiVersion { .. } => format!(
            "Daraja refused C2B {}: the app's product is the other version. Set MPESA_C2B_VERSION={} and register \
             again.",
            reg.version,
            reg.version.other()
        ),
        other => format!("registering the C2B URLs failed: {other}"),
    }
}

/// Register the URLs now; the answer is logged in the `kv` table (`lipa doctor` shows it).
pub async fn register(
    store: &dyn Store,
    daraja: &daraja::Client,
    reg: &RegisterUrls,
) -> Result<daraja::c2b::C2bAccepted, daraja::Error> {
    let result = daraja.c2b_register_urls(reg).await;
    let note = match &result {
        Ok(_) => format!("registered {} {} at {}", reg.version, reg.short_code, crate::now_ms()),
        Err(e) => format!("failed {} {}: {}", reg.version, reg.short_code, e),
    };
    if let Err(e) = store.kv_put(REGISTERED_KEY, &note, None).await {
        tracing::warn!(error = %e, "could not record the C2B registration");
    }
    result
}

/// The `kv` key where the last registration's outcome is kept (`registered v2 600987 at <ms>`).
pub const REGISTERED_KEY: &str = "c2b_registration";

/// The last registration recorded, as `lipa doctor` reports it.
pub async fn last_registration(store: &dyn Store) -> Option<String> {
    store.kv_get(REGISTERED_KEY).await.ok().flatten().map(|(v, _)| v)
}

/// The PNG of a payment's Dynamic QR code (pay bill with its account reference, or buy goods).
pub async fn qr_png(
    daraja: &daraja::Client,
    cfg: &Config,
    p: &crate::domain::Payment,
) -> Result<Vec<u8>, anyhow::Error> {
    let collect = Collect::of(cfg);
    let qr = daraja::DynamicQr {
        merchant_name: cfg.merchant_name.clone(),
        ref_no: p.account_reference.clone(),
        amount: daraja::Amount::try_from(p.amount).map_err(|e| anyhow::anyhow!("amount: {e}"))?,
        trx_code: if collect.is_paybill() { daraja::QrTrxCode::PayBill } else { daraja::QrTrxCode::BuyGoods },
        cpi: collect.number().to_string(),
        size: 300,
    };
    let image = daraja.dynamic_qr(&qr).await?;
    image.png().ok_or_else(|| anyhow::anyhow!("Daraja's QRCode is not a PNG"))
}

/// `lipa c2b register`: show what will be registered, register it, explain a refusal.
pub async fn register_command(cfg: &Config) -> anyhow::Result<()> {
    use anyhow::Context;
    if cfg.mode == crate::config::Mode::Simulator && cfg.base_url.is_none() {
        anyhow::bail!(
            "simulator mode: `lipa serve` registers the C2B URLs with its built-in simulator at every start. To \
             register with a standalone simulator (`lipa sim`), set MPESA_BASE_URL to it"
        );
    }
    let public = cfg.public_url.as_deref().context(
        "set LIPA_PUBLIC_URL to the public https base of this gateway: Daraja calls {LIPA_PUBLIC_URL}/callbacks/c2b/…",
    )?;
    let store = crate::store::open(&cfg.database_url).await?;
    let secret = secret(store.as_ref()).await?;
    let reg = registration(cfg, public, &secret);
    println!("{}", describe(&reg, &secret));
    let client = client(cfg)?;
    match register(store.as_ref(), &client, &reg).await {
        Ok(a) => {
            println!("Registered: Daraja answered {} {}.", a.response_code, a.response_description);
            Ok(())
        }
        Err(e) => anyhow::bail!("{}", explain(&e, &reg)),
    }
}

/// A Daraja client for a command (no shared token: one request).
fn client(cfg: &Config) -> anyhow::Result<daraja::Client> {
    use anyhow::Context;
    use secrecy::SecretString;
    let env = match (&cfg.base_url, cfg.mode) {
        (Some(url), _) => daraja::Environment::Custom(url::Url::parse(url).context("MPESA_BASE_URL")?),
        (None, crate::config::Mode::Production) => daraja::Environment::Production,
        (None, _) => daraja::Environment::Sandbox,
    };
    let simulated = cfg.mode == crate::config::Mode::Simulator;
    let credential = |value: &Option<SecretString>, name: &str| match (value, simulated) {
        (Some(v), _) => Ok(v.clone()),
        (None, true) => Ok(SecretString::from("lipa-simulator")),
        (None, false) => Err(anyhow::anyhow!("{name} is missing")),
    };
    let key = credential(&cfg.consumer_key, "MPESA_CONSUMER_KEY")?;
    let secret = credential(&cfg.consumer_secret, "MPESA_CONSUMER_SECRET")?;
    let dcfg = daraja::Config::new(env, key, secret, cfg.shortcode.clone(), cfg.passkey.clone())
        .with_timeouts(std::time::Duration::from_secs(5), cfg.daraja_timeout);
    daraja::Client::new(dcfg).context("the Daraja client configuration is invalid")
}

/// C2B confirmations, group-committed like STK callbacks (see `ingest`).
pub struct Confirmations(pub std::sync::Arc<dyn Store>);

#[async_trait::async_trait]
impl crate::ingest::BatchWork for Confirmations {
    type In = C2bIn;
    type Out = C2bApplied;
    async fn batch(&self, jobs: &[C2bIn]) -> Result<Vec<C2bApplied>, crate::store::StoreError> {
        self.0.record_c2b_confirmations(jobs).await
    }
}

/// The queue in front of the confirmation writers.
pub type ConfirmationQueue = crate::ingest::GroupCommit<Confirmations>;

/// Start the confirmation writers: on a thread of its own for SQLite, two tasks for PostgreSQL.
pub fn start_queue(store: std::sync::Arc<dyn Store>, postgres: bool) -> std::io::Result<ConfirmationQueue> {
    let work = std::sync::Arc::new(Confirmations(store));
    if postgres {
        Ok(crate::ingest::GroupCommit::start(work, 2))
    } else {
        crate::ingest::GroupCommit::start_dedicated(work, "lipa-c2b")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::c2b::ValidationRule;
    use crate::source::Source;
    use daraja::c2b::{C2bVersion, ResponseType};

    #[test]
    fn settings_read_and_refuse() {
        let src = Source::from_pairs;
        assert_eq!(C2bSettings::from_source(&src(&[])).unwrap(), C2bSettings::default());
        let s = C2bSettings::from_source(&src(&[
            ("MPESA_C2B_VERSION", "v1"),
            ("LIPA_C2B_VALIDATION", "exact"),
            ("LIPA_C2B_DEFAULT_ACTION", "Cancelled"),
        ]))
        .unwrap();
        assert_eq!(
            (s.version, s.validation, s.default_action),
            (C2bVersion::V1, ValidationRule::Exact, ResponseType::Cancelled)
        );
        assert!(C2bSettings::from_source(&src(&[("LIPA_C2B_VALIDATION", "strict")])).is_err());
        assert!(C2bSettings::from_source(&src(&[("MPESA_C2B_VERSION", "v3")])).is_err());
    }

    #[test]
    fn urls_are_under_the_public_base() {
        let (v, c) = urls("https://pay.example/", "ab12");
        assert_eq!(v, "https://pay.example/callbacks/c2b/ab12/validation");
        assert_eq!(c, "https://pay.example/callbacks/c2b/ab12/confirmation");
    }
}

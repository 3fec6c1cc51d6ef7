//! What a simulator is started with: its Daraja settings and the faults it injects.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The public Daraja sandbox passkey (paired with shortcode 174379).
pub const SANDBOX_PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
/// The public Daraja sandbox shortcode.
pub const SANDBOX_SHORTCODE: &str = "174379";
/// The Daraja sandbox's test initiator, the simulator's default.
pub const SANDBOX_INITIATOR_NAME: &str = "testapi";
/// The Daraja sandbox test initiator's password, the simulator's default.
pub const SANDBOX_INITIATOR_PASSWORD: &str = "Safaricom999!*!";

/// How the simulator behaves. `Default` gives the public sandbox credentials, any consumer key/secret,
/// a one-second result delay and a one-minute prompt timeout.
#[derive(Clone)]
pub struct SimConfig {
    /// The only BusinessShortCode that exists (others get "Merchant does not exist").
    pub shortcode: String,
    /// The passkey the Password must be made with.
    pub passkey: String,
    /// Required consumer key for OAuth; `None` accepts any.
    pub consumer_key: Option<String>,
    /// Required consumer secret for OAuth; `None` accepts any.
    pub consumer_secret: Option<String>,
    /// The till number that `CustomerBuyGoodsOnline` pushes must name as PartyB.
    pub till_number: Option<String>,
    /// Turn the simulator's warnings (uncertain Daraja rules) into Daraja-style `400.002.02` errors.
    pub strict: bool,
    /// How long test numbers (and `auto_outcome`) take to answer.
    pub result_delay: Duration,
    /// How long a handset prompt waits for a person before it fails with 1037.
    pub prompt_timeout: Duration,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Merchant name shown in the handset prompt.
    pub merchant_name: String,
    /// Result code used for non-test numbers instead of waiting on the handset.
    pub auto_outcome: Option<i64>,
    /// Injected faults.
    pub faults: Faults,
    /// A new token invalidates every earlier one, as Safaricom's portal says Daraja does (unverified, so off
    /// by default). Several gateway instances that each fetch their own token then knock each other out.
    pub single_token: bool,
    /// The initiator name B2C, Reversal, Transaction Status and Account Balance must give
    /// (default: the sandbox's `testapi`).
    pub initiator_name: String,
    /// The initiator password the SecurityCredential must decrypt to with the simulator's TEST key
    /// (default: the sandbox's `Safaricom999!*!`).
    pub initiator_password: String,
    /// A B2C shortcode accepted as PartyA besides `shortcode` (default `600000`).
    pub b2c_shortcode: String,
    /// Opening balance of the Utility account (which B2C pays from), in cents (default KES 1,000,000).
    pub utility_balance_cents: i64,
    /// C2B: production registration rules, the app's C2B product, external validation and its timeout.
    pub c2b: C2bSimConfig,
}

/// The merchant name in the handset prompt when none is configured. `lipa serve` in simulator mode uses the
/// same one on its pages, so the prompt and the checkout page agree.
pub const DEFAULT_MERCHANT_NAME: &str = "LIPA DEMO SHOP";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            shortcode: SANDBOX_SHORTCODE.to_owned(),
            passkey: SANDBOX_PASSKEY.to_owned(),
            consumer_key: None,
            consumer_secret: None,
            till_number: None,
            strict: false,
            result_delay: Duration::from_secs(1),
            prompt_timeout: Duration::from_secs(60),
            token_ttl: Duration::from_secs(3599),
            merchant_name: DEFAULT_MERCHANT_NAME.to_owned(),
            auto_outcome: None,
            faults: Faults::default(),
            single_token: false,
            initiator_name: SANDBOX_INITIATOR_NAME.to_owned(),
            initiator_password: SANDBOX_INITIATOR_PASSWORD.to_owned(),
            b2c_shortcode: "600000".to_owned(),
            utility_balance_cents: 100_000_000,
            c2b: Default::default(),
        }
    }
}

// Secrets never appear in Debug output.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("SimConfig")
            .field("shortcode", &self.shortcode)
            .field("passkey", &"[redacted]")
            .field("consumer_key", &redact(&self.consumer_key))
            .field("consumer_secret", &redact(&self.consumer_secret))
            .field("till_number", &self.till_number)
            .field("strict", &self.strict)
            .field("result_delay", &self.result_delay)
            .field("prompt_timeout", &self.prompt_timeout)
            .field("token_ttl", &self.token_ttl)
            .field("merchant_name", &self.merchant_name)
            .field("auto_outcome", &self.auto_outcome)
            .field("faults", &self.faults)
            .field("single_token", &self.single_token)
            .field("initiator_name", &self.initiator_name)
            .field("initiator_password", &"[redacted]")
            .field("b2c_shortcode", &self.b2c_shortcode)
            .field("utility_balance_cents", &self.utility_balance_cents)
            .field("c2b", &self.c2b)
            .finish()
    }
}

/// Injected faults. Shares are probabilities between 0.0 and 1.0, drawn independently per request
/// or callback. Serialized as JSON for `POST /sim/api/faults` (missing fields take their defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Extra latency added to every Daraja API answer (OAuth, push, query), in milliseconds.
    pub latency_ms: u64,
    /// Share of STK pushes refused with HTTP 500 `500.003.02` "Spike Arrest Violation" (nothing recorded).
    pub spike_arrest: f64,
    /// Share of STK pushes that are recorded (the prompt goes out, the callback follows) but whose
    /// HTTP answer never comes: the client times out after sending.
    pub hang: f64,
    /// Share of callbacks never sent.
    pub drop_callback: f64,
    /// Share of callbacks sent twice.
    pub duplicate_callback: f64,
    /// Share of callbacks sent late (after `late_callback_ms`), so they can arrive out of order.
    pub late_callback: f64,
    /// Extra delay of late callbacks, in milliseconds.
    pub late_callback_ms: u64,
    /// Reseeds the random generator when set, for reproducible fault sequences.
    pub seed: Option<u64>,
    /// Share of money-out requests (B2C, Reversal, Status, Balance) that time out in Daraja's queue:
    /// never processed (no money moves, no result), a notice goes to their `QueueTimeOutURL` instead.
    pub queue_timeout: f64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            latency_ms: 0,
            spike_arrest: 0.0,
            hang: 0.0,
            drop_callback: 0.0,
            duplicate_callback: 0.0,
            late_callback: 0.0,
            late_callback_ms: 5_000,
            seed: None,
            queue_timeout: 0.0,
        }
    }
}

/// A C2B product version: the path called (`/mpesa/c2b/v1/…`, `/mpesa/c2b/v2/…`) and, for a
/// registration, how callbacks carry the payer's number (v1: SHA-256, v2: masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum C2bVersion {
    /// `/mpesa/c2b/v1/…`
    V1,
    /// `/mpesa/c2b/v2/…`
    V2,
}

impl C2bVersion {
    /// `"v1"` or `"v2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            C2bVersion::V1 => "v1",
            C2bVersion::V2 => "v2",
        }
    }
}

/// C2B settings of a simulator.
///
/// ```
/// use std::time::Duration;
/// use daraja_sim::{C2bSimConfig, C2bVersion, SimConfig, Simulator};
/// // Production's registration rule, an app with only the C2B v1 product, a 2 s validation budget.
/// let sim = Simulator::new(SimConfig {
///     c2b: C2bSimConfig {
///         production_rules: true,
///         product: Some(C2bVersion::V1),
///         validation_timeout: Duration::from_secs(2),
///         ..C2bSimConfig::default()
///     },
///     ..SimConfig::default()
/// });
/// assert!(sim.c2b_registrations().is_empty());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct C2bSimConfig {
    /// Production rules: `registerurl` for a shortcode that already has URLs answers
    /// `500.003.1001 Urls are already registered` (the sandbox replaces them).
    pub production_rules: bool,
    /// The C2B product the app has: calls to the other version answer `401.003.01` ("no apiproduct
    /// match found"). `None` (default) accepts both.
    pub product: Option<C2bVersion>,
    /// Safaricom enabled external validation for the shortcodes: each payment is first POSTed to the
    /// validation URL (default). When off, only the confirmation is sent.
    pub external_validation: bool,
    /// How long a validation URL has to answer before the registered `ResponseType` applies.
    pub validation_timeout: Duration,
}

impl Default for C2bSimConfig {
    fn default() -> Self {
        C2bSimConfig {
            production_rules: false,
            product: None,
            external_validation: true,
            validation_timeout: Duration::from_secs(8),
        }
    }
}

/// The deterministic test numbers, as (number, outcome) rows.
pub(crate) const TEST_NUMBERS: &[(&str, &str)] = &[
    ("0708374149 (Daraja sandbox MSISDN)", "0 success, receipt issued, after the result delay"),
    ("0700000000", "0 success, receipt issued, after the result delay"),
    ("0700000001", "1 insufficient balance"),
    ("0700000017", "17 rule limited"),
    ("0700001019", "1019 transaction expired"),
    ("0700001001", "1001 unable to lock subscriber"),
    ("0700001032", "1032 cancelled by user"),
    ("0700001037", "1037 DS timeout, user cannot be reached"),
    ("0700002001", "2001 wrong PIN (initiator information invalid)"),
    ("0700009999", "9999 error sending the push"),
    ("0700002040", "B2C payouts: 2040 recipient not registered (other 07000CCCCC numbers fail payouts with CCCCC too)"),
    ("07000CCCCC", "result code CCCCC (any five digits), after the result delay"),
    ("any other valid number", "waits on the virtual handset /sim/handset: PIN (any 4 digits but 0000) = success, 0000 = 2001 wrong PIN, Cancel = 1032, no answer = 1037 after the prompt timeout (or --auto-outcome)"),
];

//! C2B: customers paying a paybill or till. Daraja's `registerurl` and `simulate` (v1 and v2), the
//! validation then confirmation requests POSTed to the registered URLs, the default action when
//! validation does not answer in time, and the handset's SIM menu (`/sim/api/c2b/pay`).

mod api;
mod control;
mod flow;

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sim::CallbackAttempt;

pub(crate) use api::routes as api_routes;
pub(crate) use control::routes as control_routes;

/// How many C2B payments the simulator remembers.
const PAYMENT_CAPACITY: usize = 10_000;

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

/// Command-line options for C2B (flattened into [`SimArgs`](crate::SimArgs)).
#[derive(clap::Args, Clone, Debug)]
pub struct C2bArgs {
    /// C2B registerurl follows production rules: a shortcode registers once, then "Urls are already
    /// registered" (500.003.1001). Without it, registering again replaces the URLs, as in the sandbox.
    #[arg(long)]
    pub production_rules: bool,

    /// The C2B product version the app has; calls to the other version answer 401.003.01 (default: both).
    #[arg(long, value_enum, value_name = "VERSION")]
    pub c2b_product: Option<C2bVersion>,

    /// Send C2B confirmations only: external validation is not enabled for the shortcodes.
    #[arg(long)]
    pub no_c2b_validation: bool,

    /// How long a C2B validation URL has to answer before the registered ResponseType applies.
    #[arg(long, default_value = "8s", value_parser = crate::cli::parse_duration)]
    pub c2b_validation_timeout: Duration,
}

impl C2bArgs {
    /// The C2B configuration these options describe.
    pub fn to_config(&self) -> C2bSimConfig {
        C2bSimConfig {
            production_rules: self.production_rules,
            product: self.c2b_product,
            external_validation: !self.no_c2b_validation,
            validation_timeout: self.c2b_validation_timeout,
        }
    }
}

/// Registered C2B URLs of one shortcode.
#[derive(Clone, Debug, Serialize)]
pub struct C2bRegistration {
    /// The paybill or till.
    pub short_code: String,
    /// The version registered with (decides the MSISDN shape of the callbacks).
    pub version: C2bVersion,
    /// `Completed` or `Cancelled`: what happens when validation does not answer in time.
    pub response_type: String,
    /// ConfirmationURL.
    pub confirmation_url: String,
    /// ValidationURL.
    pub validation_url: String,
    /// Unix ms.
    pub registered_at_ms: i64,
}

/// Where a C2B payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum C2bStatus {
    /// Waiting for the validation answer.
    Validating,
    /// Money moved; the confirmation is (being) sent.
    Completed,
    /// The validation URL refused it (`result_code` C2B00011–C2B00016).
    Rejected,
    /// Validation did not answer in time and the registered ResponseType is `Cancelled`.
    Cancelled,
}

/// One C2B payment as the simulator saw it.
#[derive(Clone, Debug, Serialize)]
pub struct C2bPaymentView {
    /// `TransID`: the M-Pesa receipt.
    pub trans_id: String,
    /// Paybill or till paid.
    pub short_code: String,
    /// `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    pub command_id: String,
    /// Whole KES.
    pub amount: u64,
    /// `TransTime` (`YYYYMMDDHHmmss`, EAT).
    pub trans_time: String,
    /// The payer (`2547…`).
    pub phone: String,
    /// Account number (empty for a till).
    pub bill_ref_number: String,
    /// `simulate` (Daraja API), `sim_menu` (handset) or `qr` (handset, scanned).
    pub source: String,
    /// Where it stands.
    pub status: C2bStatus,
    /// `0`, or the C2B000xx code the validation answered.
    pub result_code: Option<String>,
    /// Who decided: `validation` (the URL answered), `default_action` (no answer in time),
    /// `no_validation` (external validation off), `not_registered` (no URLs for the shortcode).
    pub decided_by: Option<String>,
    /// What the payer's phone shows.
    pub message: Option<String>,
    /// The version of the registration used (`None` when nothing is registered).
    pub version: Option<C2bVersion>,
    /// The validation body sent, if any.
    pub validation_payload: Option<Value>,
    /// The validation URL's answer, if it came in time.
    pub validation_answer: Option<Value>,
    /// Every validation delivery attempt.
    pub validation_attempts: Vec<CallbackAttempt>,
    /// The confirmation body, once completed with URLs registered.
    pub confirmation_payload: Option<Value>,
    /// Every confirmation delivery attempt.
    pub confirmation_attempts: Vec<CallbackAttempt>,
    /// Warnings raised by the request.
    pub warnings: Vec<String>,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// C2B state of one simulator.
#[derive(Default)]
pub(crate) struct C2bState {
    registrations: Mutex<HashMap<String, C2bRegistration>>,
    payments: Mutex<VecDeque<C2bPaymentView>>,
    /// Utility account balance per shortcode (whole KES), for `OrgAccountBalance`.
    balances: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl C2bState {
    fn registration(&self, short_code: &str) -> Option<C2bRegistration> {
        lock(&self.registrations).get(short_code).cloned()
    }

    fn insert_payment(&self, p: C2bPaymentView) {
        let mut list = lock(&self.payments);
        if list.len() >= PAYMENT_CAPACITY {
            list.pop_front();
        }
        list.push_back(p);
    }

    fn update<R>(&self, trans_id: &str, f: impl FnOnce(&mut C2bPaymentView) -> R) -> Option<R> {
        lock(&self.payments).iter_mut().rev().find(|p| p.trans_id == trans_id).map(f)
    }

    fn credit(&self, short_code: &str, amount: u64) -> u64 {
        let mut balances = lock(&self.balances);
        let b = balances.entry(short_code.to_owned()).or_insert(0);
        *b += amount;
        *b
    }
}

impl crate::sim::Simulator {
    /// The C2B URLs registered, by shortcode.
    pub fn c2b_registrations(&self) -> Vec<C2bRegistration> {
        let mut list: Vec<_> = lock(&self.inner.c2b.registrations).values().cloned().collect();
        list.sort_by(|a, b| a.short_code.cmp(&b.short_code));
        list
    }

    /// Forgets the C2B URLs of a shortcode (the portal's URL Management); `true` if there were any.
    pub fn c2b_unregister(&self, short_code: &str) -> bool {
        lock(&self.inner.c2b.registrations).remove(short_code).is_some()
    }

    /// Every C2B payment remembered, newest first.
    pub fn c2b_payments(&self) -> Vec<C2bPaymentView> {
        lock(&self.inner.c2b.payments).iter().rev().cloned().collect()
    }

    /// One C2B payment by `TransID`.
    pub fn c2b_payment(&self, trans_id: &str) -> Option<C2bPaymentView> {
        lock(&self.inner.c2b.payments).iter().rev().find(|p| p.trans_id == trans_id).cloned()
    }
}

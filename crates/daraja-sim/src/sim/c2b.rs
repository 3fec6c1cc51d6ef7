//! The C2B state the simulator holds: registered URLs, payments, balances per shortcode. What is done
//! with it is in `crate::c2b`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use super::CallbackAttempt;
use crate::config::C2bVersion;

/// How many C2B payments the simulator remembers.
const PAYMENT_CAPACITY: usize = 10_000;

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
    pub(crate) registrations: Mutex<HashMap<String, C2bRegistration>>,
    pub(crate) payments: Mutex<VecDeque<C2bPaymentView>>,
    /// Utility account balance per shortcode (whole KES), for `OrgAccountBalance`.
    pub(crate) balances: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl C2bState {
    pub(crate) fn registration(&self, short_code: &str) -> Option<C2bRegistration> {
        lock(&self.registrations).get(short_code).cloned()
    }

    pub(crate) fn insert_payment(&self, p: C2bPaymentView) {
        let mut list = lock(&self.payments);
        if list.len() >= PAYMENT_CAPACITY {
            list.pop_front();
        }
        list.push_back(p);
    }

    pub(crate) fn update<R>(&self, trans_id: &str, f: impl FnOnce(&mut C2bPaymentView) -> R) -> Option<R> {
        lock(&self.payments).iter_mut().rev().find(|p| p.trans_id == trans_id).map(f)
    }

    pub(crate) fn credit(&self, short_code: &str, amount: u64) -> u64 {
        let mut balances = lock(&self.balances);
        let b = balances.entry(short_code.to_owned()).or_insert(0);
        *b += amount;
        *b
    }
}

//! The money-out state the simulator holds: the organisation's accounts in cents, the TEST key that
//! SecurityCredentials are checked with, and the record of every money-out request. What is done with it
//! is in `crate::accounts` and `crate::settle`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use serde::Serialize;
use serde_json::Value;

use super::CallbackAttempt;

/// The simulator's self-signed certificate (PEM), served at `/sim/certificate.pem`: encrypt the
/// initiator password with its public key. A TEST certificate; see `keys/README.md`.
pub const SIM_CERTIFICATE_PEM: &str = include_str!("../../keys/certificate.pem");
/// The matching private key: a TEST key, committed on purpose, protecting nothing.
const SIM_TEST_PRIVATE_KEY_PEM: &str = include_str!("../../keys/test-only-private-key.pem");

const REQUEST_CAPACITY: usize = 10_000;

/// The organisation's accounts, in integer cents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// `Working Account`, `Utility Account`, `Charges Paid Account`, `Organization Settlement Account`.
    pub name: String,
    /// Always `KES`.
    pub currency: String,
    /// What can be spent.
    pub available_cents: i64,
}

/// The account names, in the order Daraja lists them.
pub const ACCOUNT_NAMES: [&str; 4] =
    ["Working Account", "Utility Account", "Charges Paid Account", "Organization Settlement Account"];
pub(crate) const UTILITY: usize = 1;
pub(crate) const CHARGES: usize = 2;

/// Which money-out API a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyOutKind {
    /// B2C payment, `/mpesa/b2c/v1/…` or `/v3/…`.
    B2c,
    /// Transaction Reversal.
    Reversal,
    /// Transaction Status query.
    TransactionStatus,
    /// Account Balance query.
    AccountBalance,
}

/// One accepted money-out request and, once decided, its result.
#[derive(Clone, Debug, Serialize)]
pub struct MoneyOutView {
    /// Which API.
    pub kind: MoneyOutKind,
    /// The caller's (v3) or the simulator's id.
    pub originator_conversation_id: String,
    /// `AG_…`.
    pub conversation_id: String,
    /// `BusinessPayment`, `TransactionReversal`, …
    pub command_id: String,
    /// Whole shillings (B2C, Reversal), else 0.
    pub amount: u64,
    /// The recipient's MSISDN (B2C), else empty.
    pub phone: String,
    /// The receipt a Reversal or Transaction Status names.
    pub transaction_id: Option<String>,
    /// Where the result goes.
    pub result_url: String,
    /// Where a queue timeout would go.
    pub queue_timeout_url: String,
    /// Result code once decided (`0`, `1`, `2001`, `R000002`, …), or `queue_timeout` when the request
    /// timed out in the queue (fault `queue_timeout`).
    pub result_code: Option<String>,
    /// Result description once decided.
    pub result_desc: Option<String>,
    /// The receipt of the money movement (successful B2C or Reversal).
    pub receipt: Option<String>,
    /// Recipient's name as reported in the result.
    pub recipient_name: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms, once decided.
    pub completed_at_ms: Option<i64>,
    /// The `Result` body sent (once decided).
    pub result_payload: Option<Value>,
    /// Every delivery attempt of the result.
    pub callbacks: Vec<CallbackAttempt>,
}

#[derive(Default)]
pub(crate) struct MoneyState {
    pub(crate) balances: [i64; 4],
    pub(crate) originator_ids: HashSet<String>,
    pub(crate) by_id: HashMap<String, MoneyOutView>,
    order: VecDeque<String>,
    /// Receipts already reversed.
    pub(crate) reversed: HashSet<String>,
}

impl MoneyState {
    pub(crate) fn insert(&mut self, view: MoneyOutView) {
        if self.order.len() >= REQUEST_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(view.originator_conversation_id.clone());
        self.by_id.insert(view.originator_conversation_id.clone(), view);
    }

    pub(crate) fn newest_first(&self) -> Vec<MoneyOutView> {
        self.order.iter().rev().filter_map(|id| self.by_id.get(id).cloned()).collect()
    }
}

/// The money-out part of the simulator's state.
pub(crate) struct MoneyOut {
    key: Option<RsaPrivateKey>,
    pub(crate) state: Mutex<MoneyState>,
}

impl MoneyOut {
    pub(crate) fn new(opening_utility_cents: i64) -> MoneyOut {
        let der = BASE64
            .decode(SIM_TEST_PRIVATE_KEY_PEM.lines().filter(|l| !l.starts_with("-----")).collect::<String>())
            .ok();
        let key = der.and_then(|d| RsaPrivateKey::from_pkcs8_der(&d).ok());
        let mut state = MoneyState::default();
        state.balances[UTILITY] = opening_utility_cents;
        MoneyOut { key, state: Mutex::new(state) }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MoneyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `true` when `credential` is base64 of the RSA PKCS#1 v1.5 encryption of `password` with the
    /// simulator's certificate.
    pub(crate) fn credential_ok(&self, credential: &str, password: &str) -> bool {
        let Some(key) = &self.key else { return false };
        let Ok(cipher) = BASE64.decode(credential.trim()) else { return false };
        key.decrypt(Pkcs1v15Encrypt, &cipher).is_ok_and(|plain| plain == password.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_key_matches_the_certificate() {
        let money = MoneyOut::new(0);
        assert!(money.key.is_some());
        // The key decrypts what the certificate's public key encrypts (PKCS#1 v1.5).
        let cert_der =
            BASE64.decode(SIM_CERTIFICATE_PEM.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap();
        assert!(!cert_der.is_empty());
        let public = money.key.as_ref().unwrap().to_public_key();
        let cipher = public.encrypt(&mut rand::thread_rng(), Pkcs1v15Encrypt, b"pw").unwrap();
        assert!(money.credential_ok(&BASE64.encode(cipher), "pw"));
        assert!(!money.credential_ok("pw", "pw"));
        assert!(!money.credential_ok("", "pw"));
    }
}

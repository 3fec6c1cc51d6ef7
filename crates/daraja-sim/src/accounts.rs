//! Money out in the simulator: the organisation's accounts, the simulator's TEST key pair that
//! SecurityCredentials are checked with, and the record of every B2C / Reversal / Transaction Status /
//! Account Balance request with its result.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use serde::Serialize;
use serde_json::Value;

use crate::sim::{CallbackAttempt, Simulator};

/// The simulator's self-signed certificate (PEM), served at `/sim/certificate.pem`: encrypt the
/// initiator password with its public key. A TEST certificate; see `keys/README.md`.
pub const SIM_CERTIFICATE_PEM: &str = include_str!("../keys/certificate.pem");
/// The matching private key: a TEST key, committed on purpose, protecting nothing.
const SIM_TEST_PRIVATE_KEY_PEM: &str = include_str!("../keys/test-only-private-key.pem");
/// The Daraja sandbox's test initiator, the simulator's default.
pub const SANDBOX_INITIATOR_NAME: &str = "testapi";
/// The Daraja sandbox test initiator's password, the simulator's default.
pub const SANDBOX_INITIATOR_PASSWORD: &str = "Safaricom999!*!";

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

/// What a B2C payment of `amount` shillings costs the organisation in charges, in cents (a
/// simplified tariff: free up to 100, then 5 / 9 / 11 / 13 shillings by band).
pub fn b2c_charge_cents(amount: u64) -> i64 {
    let kes = match amount {
        0..=100 => 0,
        101..=1_500 => 5,
        1_501..=5_000 => 9,
        5_001..=20_000 => 11,
        _ => 13,
    };
    kes * 100
}

impl Simulator {
    /// The simulator's certificate (PEM): what a client encrypts the initiator password with.
    pub fn certificate_pem(&self) -> &'static str {
        SIM_CERTIFICATE_PEM
    }

    /// The organisation's accounts now.
    pub fn accounts(&self) -> Vec<AccountView> {
        let state = self.inner.money.lock();
        ACCOUNT_NAMES
            .iter()
            .zip(state.balances)
            .map(|(name, cents)| AccountView {
                name: (*name).to_owned(),
                currency: "KES".into(),
                available_cents: cents,
            })
            .collect()
    }

    /// Sets one account's balance (cents); `false` for an unknown account name.
    pub fn set_account_balance(&self, name: &str, cents: i64) -> bool {
        let Some(i) = ACCOUNT_NAMES.iter().position(|n| n.eq_ignore_ascii_case(name.trim())) else {
            return false;
        };
        self.inner.money.lock().balances[i] = cents;
        true
    }

    /// Every money-out request remembered, newest first.
    pub fn money_out(&self) -> Vec<MoneyOutView> {
        self.inner.money.lock().newest_first()
    }

    /// One money-out request by its OriginatorConversationID.
    pub fn money_out_request(&self, originator_conversation_id: &str) -> Option<MoneyOutView> {
        self.inner.money.lock().by_id.get(originator_conversation_id).cloned()
    }

    /// Successful B2C payments to `phone` (`2547…`), newest first: the money the handset shows arriving.
    pub fn received(&self, phone: &str) -> Vec<MoneyOutView> {
        self.money_out()
            .into_iter()
            .filter(|m| m.kind == MoneyOutKind::B2c && m.phone == phone && m.result_code.as_deref() == Some("0"))
            .collect()
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

    #[test]
    fn charges() {
        assert_eq!(b2c_charge_cents(10), 0);
        assert_eq!(b2c_charge_cents(1_500), 500);
        assert_eq!(b2c_charge_cents(250_000), 1_300);
    }
}

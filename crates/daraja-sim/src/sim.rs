//! The simulator's state: tokens, transactions, outcomes, callbacks and the log.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{Faults, SimConfig};
use crate::util;

const LOG_CAPACITY: usize = 1000;
const TX_CAPACITY: usize = 10_000;
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_EXCERPT: usize = 500;

/// Whether a push still waits for its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Awaiting the customer (or the test number's delay).
    Pending,
    /// Decided; the callback has been (or is being) sent.
    Final,
}

/// What decides a push's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decider {
    /// A deterministic test number: the code is fixed by the number.
    TestNumber,
    /// `SimConfig::auto_outcome`.
    AutoOutcome,
    /// A person on the virtual handset (or the prompt timeout).
    Handset,
    /// Wrong TransactionType/PartyB combination: fails with 2028.
    ProductAssignment,
}

/// One delivery attempt of a callback.
#[derive(Clone, Debug, Serialize)]
pub struct CallbackAttempt {
    /// When the attempt finished (Unix ms).
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// The first characters of the receiver's body.
    pub body: Option<String>,
    /// Transport error (connect refused, timeout, …).
    pub error: Option<String>,
    /// Fault applied: `dropped` (never sent), `duplicate` (second copy), `late`.
    pub fault: Option<String>,
}

/// A snapshot of one STK push.
#[derive(Clone, Debug, Serialize)]
pub struct TransactionView {
    /// `ws_CO_…`
    pub checkout_request_id: String,
    /// The MerchantRequestID answered to the push.
    pub merchant_request_id: String,
    /// PhoneNumber (who gets the prompt).
    pub phone: String,
    /// PartyA (who pays).
    pub party_a: String,
    /// PartyB.
    pub party_b: String,
    /// `CustomerPayBillOnline` or `CustomerBuyGoodsOnline`.
    pub transaction_type: String,
    /// Whole KES charged.
    pub amount: u64,
    /// AccountReference.
    pub reference: String,
    /// TransactionDesc.
    pub description: String,
    /// CallBackURL.
    pub callback_url: String,
    /// The prompt shown on the handset.
    pub prompt: String,
    /// Pending or final.
    pub state: TxState,
    /// Who decides the outcome.
    pub decided_by: Decider,
    /// Set once final.
    pub result_code: Option<i64>,
    /// Set once final.
    pub result_desc: Option<String>,
    /// M-Pesa receipt, on success.
    pub receipt: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms, once final.
    pub completed_at_ms: Option<i64>,
    /// Warnings raised by the push (uncertain Daraja rules).
    pub warnings: Vec<String>,
    /// The callback body sent (once final).
    pub callback_payload: Option<Value>,
    /// Every delivery attempt with what the receiver answered.
    pub callbacks: Vec<CallbackAttempt>,
}

/// Kind of log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// An API request and its answer.
    Request,
    /// A warning about a rule production Daraja may enforce.
    Warning,
    /// An outcome decided.
    Outcome,
    /// A callback attempt.
    Callback,
    /// A fault injected.
    Fault,
}

/// One entry of the bounded request/callback log.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    /// Increasing sequence number.
    pub seq: u64,
    /// Unix ms.
    pub at_ms: i64,
    /// EAT wall clock, for people.
    pub at: String,
    /// What this is.
    pub kind: LogKind,
    /// What happened.
    pub message: String,
    /// The push concerned, if any.
    pub checkout_request_id: Option<String>,
}

/// Why a push could not be completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompleteError {
    /// No such CheckoutRequestID.
    NotFound,
    /// The outcome was already decided.
    AlreadyFinal,
}

impl std::fmt::Display for CompleteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompleteError::NotFound => f.write_str("unknown CheckoutRequestID"),
            CompleteError::AlreadyFinal => f.write_str("the transaction is already final"),
        }
    }
}

impl std::error::Error for CompleteError {}

#[derive(Default)]
struct TxStore {
    by_id: HashMap<String, TransactionView>,
    order: VecDeque<String>,
}

pub(crate) struct Inner {
    pub(crate) config: SimConfig,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    oauth_requests: AtomicU64,
    tokens: Mutex<HashMap<String, Instant>>,
    txs: Mutex<TxStore>,
    log: Mutex<VecDeque<LogEntry>>,
    log_seq: AtomicU64,
    http: reqwest::Client,
    pub(crate) money: crate::accounts::MoneyOut,
    /// C2B registrations and payments (`crate::c2b`).
    pub(crate) c2b: crate::c2b::C2bState,
}

/// The simulator. Cheap to clone (an `Arc` inside); every clone shares the same state.
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data behind; keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Daraja's ResultDesc for a result code.
pub(crate) fn result_desc(code: i64) -> String {
    match code {
        0 => "The service request is processed successfully.",
        1 => "The balance is insufficient for the transaction.",
        2 => "Declined due to limit rule: less than the minimum transaction amount.",
        3 => "Declined due to limit rule: greater than the maximum transaction amount.",
        4 => "Declined due to limit rule: would exceed daily transfer limit.",
        8 => "Declined due to limit rule: would exceed the maximum balance.",
        17 => "Rule limited.",
        1001 => "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        1019 => "Transaction has expired",
        1025 => "An error occurred while sending a push request",
        1032 => "Request cancelled by user",
        1036 => "SMSC ACK timeout",
        1037 => "DS timeout user cannot be reached",
        2001 => "The initiator information is invalid.",
        2028 => "The request is not permitted according to product assignment",
        4999 => "The transaction is still under processing",
        8006 => "The security credential is locked",
        9999 => "Error occurred while sending a push request",
        other => return format!("Simulated result {other}"),
    }
    .to_owned()
}

/// The outcome a test number stands for, if it is one.
pub(crate) fn test_number_outcome(phone: &str) -> Option<i64> {
    match phone {
        "254708374149" | "254700000000" => Some(0),
        p if p.len() == 12 && p.starts_with("2547000") => p[7..].parse().ok(),
        _ => None,
    }
}

/// What the push handler hands over once the request is valid.
pub(crate) struct NewPush {
    pub phone: String,
    pub party_a: String,
    pub party_b: String,
    pub transaction_type: String,
    pub amount: u64,
    pub reference: String,
    pub description: String,
    pub callback_url: String,
    pub warnings: Vec<String>,
    pub product_ok: bool,
}

impl Simulator {
    /// A simulator with `config`. Needs no runtime until its router serves requests.
    pub fn new(config: SimConfig) -> Simulator {
        let rng = match config.faults.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let http =
            reqwest::Client::builder().timeout(CALLBACK_TIMEOUT).user_agent("daraja-sim").build().unwrap_or_default();
        Simulator {
            inner: Arc::new(Inner {
                faults: Mutex::new(config.faults.clone()),
                money: crate::accounts::MoneyOut::new(config.utility_balance_cents),
                config,
                rng: Mutex::new(rng),
                oauth_requests: AtomicU64::new(0),
                tokens: Mutex::new(HashMap::new()),
                txs: Mutex::new(TxStore::default()),
                log: Mutex::new(VecDeque::new()),
                log_seq: AtomicU64::new(0),
                http,
                c2b: Default::default(),
            }),
        }
    }

    /// The configuration this simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// How many requests reached `/oauth/v1/generate` (successful or not).
    pub fn oauth_requests(&self) -> u64 {
        self.inner.oauth_requests.load(Ordering::Relaxed)
    }

    /// Replace the injected faults (a `seed` reseeds the random generator).
    pub fn set_faults(&self, faults: Faults) {
        if let Some(seed) = faults.seed {
            *lock(&self.inner.rng) = StdRng::seed_from_u64(seed);
        }
        self.log(LogKind::Fault, format!("faults set: {}", serde_json::to_string(&faults).unwrap_or_default()), None);
        *lock(&self.inner.faults) = faults;
    }

    /// The injected faults now in force.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    /// Every push still remembered, newest first.
    pub fn transactions(&self) -> Vec<TransactionView> {
        let txs = lock(&self.inner.txs);
        txs.order.iter().rev().filter_map(|id| txs.by_id.get(id).cloned()).collect()
    }

    /// One push by CheckoutRequestID.
    pub fn transaction(&self, checkout_request_id: &str) -> Option<TransactionView> {
        lock(&self.inner.txs).by_id.get(checkout_request_id).cloned()
    }

    /// The most recent log entries (oldest first).
    pub fn log_entries(&self) -> Vec<LogEntry> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// Decide a pending push with `result_code` now; the callback follows asynchronously.
    pub fn complete(&self, checkout_request_id: &str, result_code: i64) -> Result<TransactionView, CompleteError> {
        let view = {
            let mut txs = lock(&self.inner.txs);
            let tx = txs.by_id.get_mut(checkout_request_id).ok_or(CompleteError::NotFound)?;
            if tx.state == TxState::Final {
                return Err(CompleteError::AlreadyFinal);
            }
            let now = util::now_ms();
            let desc = result_desc(result_code);
            let mut callback = json!({
                "MerchantRequestID": tx.merchant_request_id,
                "CheckoutRequestID": tx.checkout_request_id,
                "ResultCode": result_code,
                "ResultDesc": desc,
            });
            if result_code == 0 {
                let receipt = util::receipt(&mut *lock(&self.inner.rng));
                let date: u64 = util::eat_compact(util::now_eat()).parse().unwrap_or(0);
                let phone: u64 = tx.phone.parse().unwrap_or(0);
                callback["CallbackMetadata"] = json!({"Item": [
                    {"Name": "Amount", "Value": tx.amount as f64},
                    {"Name": "MpesaReceiptNumber", "Value": receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": date},
                    {"Name": "PhoneNumber", "Value": phone},
                ]});
                tx.receipt = Some(receipt);
            }
            tx.state = TxState::Final;
            tx.result_code = Some(result_code);
            tx.result_desc = Some(desc);
            tx.completed_at_ms = Some(now);
            tx.callback_payload = Some(json!({"Body": {"stkCallback": callback}}));
            tx.clone()
        };
        self.log(
            LogKind::Outcome,
            format!(
                "{} -> {} {}{}",
                view.checkout_request_id,
                result_code,
                view.result_desc.as_deref().unwrap_or(""),
                view.receipt.as_deref().map(|r| format!(" (receipt {r})")).unwrap_or_default()
            ),
            Some(&view.checkout_request_id),
        );
        let sim = self.clone();
        let id = view.checkout_request_id.clone();
        let url = view.callback_url.clone();
        let payload = view.callback_payload.clone().unwrap_or(Value::Null);
        // Faults are drawn now, so a later change of faults does not affect this callback.
        let plan = self.callback_faults();
        tokio::spawn(async move { sim.deliver(id, url, payload, plan).await });
        Ok(view)
    }

    pub(crate) fn log(&self, kind: LogKind, message: String, checkout_request_id: Option<&str>) {
        match kind {
            LogKind::Warning => tracing::warn!(checkout_request_id, "{message}"),
            _ => tracing::info!(checkout_request_id, kind = ?kind, "{message}"),
        }
        let at_ms = util::now_ms();
        let entry = LogEntry {
            seq: self.inner.log_seq.fetch_add(1, Ordering::Relaxed) + 1,
            at_ms,
            at: util::eat_display(at_ms),
            kind,
            message,
            checkout_request_id: checkout_request_id.map(str::to_owned),
        };
        let mut log = lock(&self.inner.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(entry);
    }

    pub(crate) fn count_oauth(&self) {
        self.inner.oauth_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn issue_token(&self) -> String {
        let token = util::access_token(&mut *lock(&self.inner.rng));
        let now = Instant::now();
        let mut tokens = lock(&self.inner.tokens);
        if self.inner.config.single_token {
            tokens.clear();
        } else {
            tokens.retain(|_, exp| *exp > now);
        }
        tokens.insert(token.clone(), now + self.inner.config.token_ttl);
        token
    }

    pub(crate) fn token_valid(&self, token: &str) -> bool {
        lock(&self.inner.tokens).get(token).is_some_and(|exp| *exp > Instant::now())
    }

    /// Draws `true` with probability `share`.
    pub(crate) fn roll(&self, share: f64) -> bool {
        if share <= 0.0 || share.is_nan() {
            return false;
        }
        lock(&self.inner.rng).gen_bool(share.min(1.0))
    }

    pub(crate) fn request_id(&self) -> String {
        util::request_id(&mut *lock(&self.inner.rng))
    }

    /// A new M-Pesa receipt (`TransID`).
    pub(crate) fn receipt(&self) -> String {
        util::receipt(&mut *lock(&self.inner.rng))
    }

    pub(crate) fn prompt_text(&self, amount: u64, reference: &str) -> String {
        format!("Pay KES {amount} to {}? Account {reference}. Enter M-Pesa PIN.", self.inner.config.merchant_name)
    }

    /// Records an accepted push, or refuses it when the subscriber already has one pending.
    pub(crate) fn accept_push(&self, push: NewPush) -> Result<TransactionView, ()> {
        let config = &self.inner.config;
        let (decided_by, scripted) = if !push.product_ok {
            (Decider::ProductAssignment, Some(2028))
        } else if let Some(code) = test_number_outcome(&push.phone) {
            (Decider::TestNumber, Some(code))
        } else if let Some(code) = config.auto_outcome {
            (Decider::AutoOutcome, Some(code))
        } else {
            (Decider::Handset, None)
        };
        let prompt = self.prompt_text(push.amount, &push.reference);
        // Safaricom cannot send prompts longer than 182 characters (result 1025).
        let scripted = if prompt.chars().count() > 182 && decided_by != Decider::ProductAssignment {
            Some(1025)
        } else {
            scripted
        };
        let view = {
            let mut txs = lock(&self.inner.txs);
            // A real phone shows one prompt at a time, so a handset number is locked while its prompt is
            // open (Daraja's "Unable to lock subscriber"). Test numbers and automatic outcomes are like
            // test cards: many payments may use one at once.
            if decided_by == Decider::Handset
                && txs.by_id.values().any(|t| t.state == TxState::Pending && t.phone == push.phone)
            {
                return Err(());
            }
            let (checkout_request_id, merchant_request_id) = {
                let mut rng = lock(&self.inner.rng);
                let mut id = util::checkout_request_id(&mut *rng);
                while txs.by_id.contains_key(&id) {
                    id = util::checkout_request_id(&mut *rng);
                }
                (id, util::request_id(&mut *rng))
            };
            let view = TransactionView {
                checkout_request_id: checkout_request_id.clone(),
                merchant_request_id,
                phone: push.phone,
                party_a: push.party_a,
                party_b: push.party_b,
                transaction_type: push.transaction_type,
                amount: push.amount,
                reference: push.reference,
                description: push.description,
                callback_url: push.callback_url,
                prompt,
                state: TxState::Pending,
                decided_by,
                result_code: None,
                result_desc: None,
                receipt: None,
                created_at_ms: util::now_ms(),
                completed_at_ms: None,
                warnings: push.warnings,
                callback_payload: None,
                callbacks: Vec::new(),
            };
            if txs.order.len() >= TX_CAPACITY {
                // Forget the oldest decided push; pending ones must stay queryable.
                if let Some(pos) =
                    txs.order.iter().position(|id| txs.by_id.get(id).is_none_or(|t| t.state == TxState::Final))
                {
                    if let Some(old) = txs.order.remove(pos) {
                        txs.by_id.remove(&old);
                    }
                }
            }
            txs.order.push_back(checkout_request_id.clone());
            txs.by_id.insert(checkout_request_id, view.clone());
            view
        };
        let weak = Arc::downgrade(&self.inner);
        let id = view.checkout_request_id.clone();
        let (delay, code) = match scripted {
            Some(code) => (config.result_delay, code),
            None => (config.prompt_timeout, 1037),
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            complete_if_alive(weak, &id, code);
        });
        Ok(view)
    }

    pub(crate) fn callback_faults(&self) -> (bool, bool, Option<Duration>) {
        let f = self.faults();
        let dropped = self.roll(f.drop_callback);
        let duplicate = self.roll(f.duplicate_callback);
        let late = self.roll(f.late_callback).then(|| Duration::from_millis(f.late_callback_ms));
        (dropped, duplicate, late)
    }

    async fn deliver(
        self,
        id: String,
        url: String,
        payload: Value,
        (dropped, duplicate, late): (bool, bool, Option<Duration>),
    ) {
        if dropped {
            self.log(LogKind::Fault, format!("callback dropped (fault) for {id}"), Some(&id));
            self.record_attempt(
                &id,
                CallbackAttempt {
                    at_ms: util::now_ms(),
                    status: None,
                    body: None,
                    error: None,
                    fault: Some("dropped".into()),
                },
            );
            return;
        }
        if let Some(extra) = late {
            self.log(
                LogKind::Fault,
                format!("callback for {id} held back {} ms (fault)", extra.as_millis()),
                Some(&id),
            );
            tokio::time::sleep(extra).await;
        }
        let copies = if duplicate { 2 } else { 1 };
        for copy in 0..copies {
            let fault = if copy == 1 {
                Some("duplicate".to_owned())
            } else if late.is_some() {
                Some("late".to_owned())
            } else {
                None
            };
            let attempt = self.post_callback(&url, &payload, fault).await;
            let msg = match (&attempt.status, &attempt.error) {
                (Some(s), _) => format!("callback to {url} answered {s}: {}", attempt.body.as_deref().unwrap_or("")),
                (None, Some(e)) => format!("callback to {url} failed: {e}"),
                _ => format!("callback to {url}"),
            };
            self.log(LogKind::Callback, msg, Some(&id));
            self.record_attempt(&id, attempt);
        }
    }

    pub(crate) async fn post_callback(&self, url: &str, payload: &Value, fault: Option<String>) -> CallbackAttempt {
        let result = self.inner.http.post(url).json(payload).send().await;
        let (status, body, error) = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
                (Some(status), Some(excerpt), None)
            }
            Err(e) => (None, None, Some(error_chain(&e))),
        };
        CallbackAttempt { at_ms: util::now_ms(), status, body, error, fault }
    }

    fn record_attempt(&self, id: &str, attempt: CallbackAttempt) {
        if let Some(tx) = lock(&self.inner.txs).by_id.get_mut(id) {
            tx.callbacks.push(attempt);
        }
    }
}

fn complete_if_alive(weak: Weak<Inner>, id: &str, code: i64) {
    if let Some(inner) = weak.upgrade() {
        let sim = Simulator { inner };
        // Already decided by the handset or the control API: nothing to do.
        let _ = sim.complete(id, code);
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers() {
        assert_eq!(test_number_outcome("254708374149"), Some(0));
        assert_eq!(test_number_outcome("254700000000"), Some(0));
        assert_eq!(test_number_outcome("254700001032"), Some(1032));
        assert_eq!(test_number_outcome("254700000001"), Some(1));
        assert_eq!(test_number_outcome("254700000017"), Some(17));
        assert_eq!(test_number_outcome("254700009999"), Some(9999));
        assert_eq!(test_number_outcome("254712345678"), None);
    }
}

//! The simulator's state: tokens, transactions, outcomes, callbacks and the log.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::config::{Faults, SimConfig};
use crate::util;

pub(crate) mod c2b;
mod deliver;
pub(crate) mod money;
mod stk;
mod types;

pub(crate) use self::deliver::Delivery;
pub(crate) use self::stk::{result_desc, test_number_outcome, NewPush};
pub use self::types::{CallbackAttempt, CompleteError, Decider, LogEntry, LogKind, TransactionView, TxState};

const LOG_CAPACITY: usize = 1000;
const TX_CAPACITY: usize = 10_000;
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_EXCERPT: usize = 500;

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
    pub(crate) money: money::MoneyOut,
    /// C2B registrations and payments (`crate::c2b`).
    pub(crate) c2b: c2b::C2bState,
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
                money: money::MoneyOut::new(config.utility_balance_cents),
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
}

//! What the simulator shows of its pushes and its log, and how a push ends.

use serde::Serialize;
use serde_json::Value;

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

impl CallbackAttempt {
    /// An attempt the fault injection dropped: nothing was sent.
    pub(crate) fn dropped() -> CallbackAttempt {
        CallbackAttempt {
            at_ms: crate::util::now_ms(),
            status: None,
            body: None,
            error: None,
            fault: Some(DROPPED.into()),
        }
    }

    /// Whether the fault injection dropped it (nothing was sent, nothing answered).
    pub fn was_dropped(&self) -> bool {
        self.fault.as_deref() == Some(DROPPED)
    }
}

/// The `fault` of an attempt that was dropped.
const DROPPED: &str = "dropped";

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

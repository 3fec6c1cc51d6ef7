//! The store's money-out units of work (payouts, refunds, their results, balance reads), written once for
//! both databases: `impl<DB: Backend> MoneyOutStore for SqlStore<DB>` holds the SQL (`money_out_sql.rs`).

use async_trait::async_trait;

use super::{Idempotency, Page, Result};
use crate::domain::ids::Secret;
use crate::domain::money_out::{Change, Method, MoneyOut, Path};

/// A payout to create.
#[derive(Debug, Clone)]
pub struct NewPayout {
    pub payout: MoneyOut,
    pub api_key_id: Option<String>,
    pub idempotency: Option<Idempotency>,
}

/// A refund to create: its amount (None: what is left) and recipient are decided in the transaction that
/// checks what the payment's refunds already hold.
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment_id: String,
    pub amount: Option<i64>,
    pub reason: String,
    pub metadata: serde_json::Value,
    pub method: Method,
    /// The first resend or Transaction Status check, ms after creation.
    pub first_check_ms: i64,
    pub now: i64,
    pub api_key_id: Option<String>,
    pub idempotency: Option<Idempotency>,
}

#[derive(Debug)]
pub enum MoneyOutCreated {
    New(MoneyOut),
    /// The idempotency key was used before: what it made, and whether the request was the same.
    Replay {
        object: MoneyOut,
        same_request: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct MoneyOutFilter {
    /// `payout` or `refund`.
    pub object: String,
    pub status: Option<String>,
    pub phone: Option<String>,
    pub payment_id: Option<String>,
    pub starting_after: Option<String>,
    pub limit: i64,
}

/// One answer from Daraja to record (see [`MoneyOutStore::record_money_out_results`]).
#[derive(Debug, Clone)]
pub struct ResultIn {
    pub secret: Secret,
    /// `true`: it came to a QueueTimeOutURL.
    pub timeout: bool,
    pub raw_body: Vec<u8>,
    pub now: i64,
}

/// What one recorded answer did.
#[derive(Debug, Clone)]
pub struct ResultApplied {
    /// The payout or refund after it (None: the secret named none).
    pub object: Option<MoneyOut>,
    /// The answer changed its status.
    pub changed: bool,
    /// It was the answer of a balance read.
    pub balance: bool,
}

/// One answer as kept, for a payout's or refund's history.
#[derive(Debug, Clone)]
pub struct ResultRecord {
    pub at: i64,
    pub path: String,
    pub note: String,
    pub raw_body: Vec<u8>,
}

#[async_trait]
pub trait MoneyOutStore {
    /// Store a payout (and claim its idempotency key) in one transaction, before anything is sent.
    async fn create_payout(&self, new: NewPayout) -> Result<MoneyOutCreated>;
    /// Store a refund of a succeeded payment in one transaction that locks the payment and checks that its
    /// refunds (pending, succeeded or under review) never add up to more than it paid. Refused with
    /// [`super::StoreError::Refused`] (`refund_exceeds_payment`, `payment_not_refundable`, …).
    async fn create_refund(&self, new: NewRefund) -> Result<MoneyOutCreated>;
    async fn get_money_out(&self, id: &str) -> Result<Option<MoneyOut>>;
    async fn list_money_out(&self, filter: &MoneyOutFilter) -> Result<Page<MoneyOut>>;
    /// A reversal is about to go out: from here on it is never sent again. False when it is not queued.
    async fn money_out_sending(&self, id: &str, next_check_at: i64, now: i64) -> Result<bool>;
    /// Daraja accepted the request; the result is awaited until `next_check_at`.
    async fn money_out_accepted(
        &self,
        id: &str,
        originator_conversation_id: &str,
        conversation_id: Option<&str>,
        next_check_at: i64,
        now: i64,
    ) -> Result<Option<MoneyOut>>;
    /// Put a pending row back with its next check time (releasing its lease); `attempted` counts a check.
    async fn money_out_retry_at(&self, id: &str, next_check_at: i64, attempted: bool, now: i64) -> Result<()>;
    /// Apply a change decided without an answer from Daraja (refused before processing, given up) to a row
    /// that is still pending: its event and, for a refund, the payment's refunded amount — one transaction.
    async fn money_out_change(&self, id: &str, change: &Change, now: i64) -> Result<Option<MoneyOut>>;
    /// Group commit of answers: each is kept raw and decided, all in ONE transaction, in order.
    async fn record_money_out_results(&self, batch: &[ResultIn]) -> Result<Vec<ResultApplied>>;
    /// Claim pending rows whose check is due, leasing them until `lease_until` (PostgreSQL: SKIP LOCKED).
    async fn claim_due_money_out(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MoneyOut>>;
    /// Every answer kept for a payout or refund, oldest first.
    async fn money_out_results(&self, id: &str) -> Result<Vec<ResultRecord>>;
    /// A balance read was asked with this secret in its URLs.
    async fn balance_requested(&self, secret: &str, now: i64) -> Result<()>;
    /// The result of a balance read, once received.
    async fn balance_result(&self, secret: &str) -> Result<Option<Vec<u8>>>;
}

/// A payout's or refund's row as read.
pub const MONEY_OUT_COLUMNS: &str = "id, object, status, amount, phone, kind, method, remarks, metadata, \
     payment_id, original_receipt, send_state, callback_secret, query_secret, originator_conversation_id, \
     conversation_id, mpesa_receipt, recipient_name, result_code, result_desc, failure_reason, review_reason, \
     created_at, updated_at, completed_at, check_attempts, next_check_at";

#[derive(sqlx::FromRow)]
pub struct MoneyOutRow {
    id: String,
    object: String,
    status: String,
    amount: i64,
    phone: Option<String>,
    kind: String,
    method: String,
    remarks: String,
    metadata: String,
    payment_id: Option<String>,
    original_receipt: Option<String>,
    send_state: String,
    callback_secret: String,
    query_secret: String,
    originator_conversation_id: Option<String>,
    conversation_id: Option<String>,
    mpesa_receipt: Option<String>,
    recipient_name: Option<String>,
    result_code: Option<String>,
    result_desc: Option<String>,
    failure_reason: Option<String>,
    review_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    check_attempts: i64,
    next_check_at: Option<i64>,
}

impl TryFrom<MoneyOutRow> for MoneyOut {
    type Error = super::StoreError;

    fn try_from(r: MoneyOutRow) -> Result<Self> {
        use crate::domain::money_out::{Draft, Object, SendState};
        use crate::domain::PaymentStatus;
        let corrupt = |what: &str, v: &str| super::StoreError::Corrupt(format!("{} has {what} {v:?}", r.id));
        let object = Object::parse(&r.object).ok_or_else(|| corrupt("object", &r.object))?;
        let status = PaymentStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))?;
        let method = Method::parse(&r.method).ok_or_else(|| corrupt("method", &r.method))?;
        let send_state = SendState::parse(&r.send_state).ok_or_else(|| corrupt("send_state", &r.send_state))?;
        Ok(MoneyOut {
            draft: Draft {
                object,
                amount: r.amount,
                phone: r.phone,
                kind: r.kind,
                method,
                remarks: r.remarks,
                metadata: serde_json::from_str(&r.metadata).unwrap_or(serde_json::Value::Null),
                payment_id: r.payment_id,
                original_receipt: r.original_receipt,
            },
            outcome: Change {
                status,
                mpesa_receipt: r.mpesa_receipt,
                recipient_name: r.recipient_name,
                result_code: r.result_code,
                result_desc: r.result_desc,
                failure_reason: r.failure_reason,
                review_reason: r.review_reason,
                completed_at: r.completed_at,
                next_check_at: r.next_check_at,
            },
            send_state,
            id: r.id,
            callback_secret: r.callback_secret.into(),
            query_secret: r.query_secret.into(),
            originator_conversation_id: r.originator_conversation_id,
            conversation_id: r.conversation_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            check_attempts: r.check_attempts,
        })
    }
}

/// Which path an answer took, from the secret it matched and the URL it came to.
pub fn path_of(matched_query_secret: bool, timeout: bool) -> Path {
    match (matched_query_secret, timeout) {
        (false, false) => Path::Result,
        (false, true) => Path::Timeout,
        (true, false) => Path::Status,
        (true, true) => Path::StatusTimeout,
    }
}

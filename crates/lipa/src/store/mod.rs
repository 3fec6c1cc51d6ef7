//! Durable state behind one trait of whole units of work. Each method is one transaction; routes and jobs
//! never see SQL, and the store applies the domain's decisions without making business rules of its own.

mod apply;
pub mod c2b;
mod callbacks;
mod events;
mod held;
mod history;
mod kv;
pub mod money_out;
mod money_out_sql;
mod money_out_tx;
mod payments;
pub mod postgres;
mod query;
mod rows;
mod sql;
pub mod sqlite;
mod stats;
pub mod upkeep;

use async_trait::async_trait;

use crate::domain::{Decision, Outcome, Payment, Source};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another payment for this reference is still pending (the double-prompt guard).
    #[error("a payment for this reference is already pending")]
    ReferencePending,
    /// Another pending payment holds this account reference: derive another one and try again.
    #[error("another pending payment has this account reference")]
    AccountReferenceTaken,
    #[error("not found")]
    NotFound,
    /// A rule of money out refused the request (`refund_exceeds_payment`, …): a 409 with this code.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A payment about to be created, validated.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub payment: Payment,
    /// Set when the double-prompt guard is on: the reference that may have only one pending payment.
    pub pending_guard: Option<String>,
    pub api_key_id: Option<String>,
    pub idempotency: Option<Idempotency>,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: String,
}

#[derive(Debug)]
pub enum Created {
    New(Payment),
    /// The idempotency key was used before: the payment it made, and whether the request was the same.
    Replay {
        payment: Payment,
        same_request: bool,
    },
}

#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub status: Option<String>,
    pub reference: Option<String>,
    /// Only the payments with this account reference (ignoring case), e.g. from an M-Pesa statement.
    pub account_reference: Option<String>,
    pub phone: Option<String>,
    /// `stk` or `c2b`.
    pub channel: Option<String>,
    pub starting_after: Option<String>,
    pub limit: i64,
    /// Created at or after this Unix ms (the admin's date filter).
    pub created_from: Option<i64>,
    /// Created before this Unix ms.
    pub created_before: Option<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub payment_id: Option<String>,
    pub starting_after: Option<String>,
    pub limit: i64,
}

#[derive(Debug)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// The page of a query that asked for `limit + 1` rows: the extra row only says that there are more.
    fn of<R>(rows: Vec<R>, limit: i64, to: impl FnMut(R) -> Result<T>) -> Result<Self> {
        let has_more = rows.len() as i64 > limit;
        let data = rows.into_iter().take(limit as usize).map(to).collect::<Result<Vec<_>>>()?;
        Ok(Page { data, has_more })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub payment_id: String,
    pub created_at: i64,
    pub data: serde_json::Value,
    pub delivered_at: Option<i64>,
    pub attempts: i64,
    /// When the webhook worker should next try (None once delivered or given up).
    pub next_attempt_at: Option<i64>,
    /// When lipa gave up delivering it (its retry window ran out).
    pub failed_at: Option<i64>,
    /// Failed attempts in a row since it was (re)scheduled: the backoff exponent.
    pub failures: i64,
    /// When the current retry window began: its creation, or the last redeliver.
    pub retry_from: i64,
}

/// One webhook attempt, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookAttempt {
    pub event_id: String,
    pub payment_id: String,
    pub at: i64,
    /// The receiver's URL without credentials or query string.
    pub url: String,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// `delivered`, `retry` or `gave_up`.
    pub outcome: String,
}

/// What an attempt decided for its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Try again at this time (Unix ms).
    RetryAt(i64),
    /// The retry window ran out.
    GaveUp,
}

impl DeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::RetryAt(_) => "retry",
            Self::GaveUp => "gave_up",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LogEntry {
    pub at: i64,
    pub kind: String,
    pub detail: String,
}

/// Payments created in one time bucket, by status, and the KES they collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsBucket {
    /// Unix ms at which the bucket starts.
    pub start: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub needs_review: i64,
    pub pending: i64,
    /// Whole KES of the succeeded payments.
    pub collected: i64,
}

/// Queue depths and failure counts for `/metrics`, read from the database (the same on every instance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpsCounts {
    /// Pending payments whose check (STK Query or timer) is due.
    pub checks_due: i64,
    /// Events neither delivered nor given up.
    pub webhooks_queued: i64,
    /// Events lipa gave up delivering.
    pub webhooks_gave_up: i64,
    /// Webhook attempts that did not deliver.
    pub webhook_failed_attempts: i64,
}

/// One callback to record (see [`Store::record_callbacks`]).
#[derive(Debug, Clone)]
pub struct CallbackIn {
    pub secret: crate::domain::ids::Secret,
    pub raw_body: Vec<u8>,
    pub outcome: Option<Outcome>,
    pub now: i64,
}

/// What one applied answer did.
#[derive(Debug)]
pub struct Applied {
    /// The payment after the change (None when the callback's secret matched no payment).
    pub payment: Option<Payment>,
    pub decision: Option<Decision>,
    pub event_id: Option<String>,
}

#[async_trait]
pub trait Store: upkeep::Upkeep + c2b::C2bStore + money_out::MoneyOutStore + Send + Sync + 'static {
    /// Create a payment (and claim its idempotency key) in one transaction.
    async fn create_payment(&self, new: NewPayment) -> Result<Created>;
    async fn get_payment(&self, id: &str) -> Result<Option<Payment>>;
    async fn list_payments(&self, filter: &PaymentFilter) -> Result<Page<Payment>>;
    /// Daraja accepted the push. Returns the payment as it now is (None: no such payment).
    async fn push_accepted(
        &self,
        id: &str,
        checkout_request_id: &str,
        merchant_request_id: &str,
        next_check_at: i64,
        now: i64,
    ) -> Result<Option<Payment>>;
    /// The push may have reached Daraja; it is never sent again. Returns the payment when this call changed
    /// it (None: it had already left `sending`).
    async fn push_unknown(&self, id: &str, why: &str, next_check_at: i64, now: i64) -> Result<Option<Payment>>;
    /// The customer typed a phone on the checkout page: set it and move to `sending`, once.
    /// Returns the payment when this call set it (false when a phone was already there).
    async fn set_phone_for_push(&self, id: &str, phone: &str, now: i64) -> Result<Option<Payment>>;
    /// Apply an answer about a payment (query result, refused push, timer) through the domain's rules.
    async fn apply_outcome(&self, id: &str, source: Source, outcome: &Outcome, now: i64) -> Result<Applied>;
    /// Record a callback body durably and, when it belongs to a payment, apply it — one transaction.
    async fn record_callback(
        &self,
        secret: &str,
        raw_body: &[u8],
        outcome: Option<&Outcome>,
        now: i64,
    ) -> Result<Applied>;
    /// Group commit of callbacks: each is recorded and decided exactly as by `record_callback`, in order, and
    /// all of them are committed in ONE transaction (all or none). One `Applied` per callback.
    async fn record_callbacks(&self, batch: &[CallbackIn]) -> Result<Vec<Applied>>;
    /// Keep a callback that will not be applied (its source is not allowed): the raw body and why, in the
    /// callbacks table and the payment's log — one transaction. The payment does not change.
    async fn record_rejected_callback(&self, secret: &str, raw_body: &[u8], why: &str, now: i64) -> Result<()>;
    /// Queue depths and failure counts for `/metrics`.
    async fn ops_counts(&self, now: i64) -> Result<OpsCounts>;
    /// Claim pending payments whose check is due, leasing them until `lease_until`.
    async fn claim_due_checks(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Payment>>;
    /// Put a claimed payment back with its next check time.
    async fn reschedule_check(&self, id: &str, next_check_at: i64, note: &str, now: i64) -> Result<()>;
    async fn list_events(&self, filter: &EventFilter) -> Result<Page<Event>>;
    async fn get_event(&self, id: &str) -> Result<Option<Event>>;
    /// Queue an event for (re)delivery at `at`.
    async fn schedule_delivery(&self, event_id: &str, at: i64) -> Result<()>;
    /// Claim undelivered events whose attempt is due, leasing them to `owner` until `lease_until`
    /// (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances never claim the same event at once).
    async fn claim_due_events(&self, now: i64, lease_until: i64, owner: &str, limit: i64) -> Result<Vec<Event>>;
    /// Record an attempt (webhook_attempts and the payment's log) and, while `owner` still holds the
    /// event's lease, apply its outcome — one transaction. False when the lease was lost (e.g. a redeliver
    /// came meanwhile): the attempt is recorded, the event's new schedule stands.
    async fn record_webhook_attempt(
        &self,
        owner: &str,
        attempt: &WebhookAttempt,
        outcome: DeliveryOutcome,
    ) -> Result<bool>;
    /// Every attempt for an event, oldest first.
    async fn webhook_attempts(&self, event_id: &str) -> Result<Vec<WebhookAttempt>>;
    async fn payment_log(&self, payment_id: &str) -> Result<Vec<LogEntry>>;
    async fn append_log(&self, payment_id: &str, kind: &str, detail: &str, now: i64) -> Result<()>;
    async fn create_api_key(&self, id: &str, key_hash: &str, name: &str, now: i64) -> Result<()>;
    /// The key's id when the hash belongs to a key that is not revoked.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>>;
    async fn ping(&self) -> Result<()>;
    /// Count payments by status (metrics, dashboard).
    async fn count_by_status(&self) -> Result<Vec<(String, i64)>>;
    /// Payments created since `since`, counted per time bucket of `bucket_ms` (buckets start at multiples
    /// of `bucket_ms` after shifting times by `offset_ms`, e.g. +3 h for days in Nairobi). Empty buckets
    /// are left out.
    async fn payment_stats(&self, since: i64, bucket_ms: i64, offset_ms: i64) -> Result<Vec<StatsBucket>>;
    /// An operator settles a `needs_review` payment (`Outcome::Resolved`): the note is logged, the status
    /// changes and its event is written — one transaction. `decision` is None when the payment was not
    /// under review (nothing changed).
    async fn resolve_review(&self, id: &str, outcome: &Outcome, now: i64) -> Result<Applied>;
    /// A small shared value (the Daraja token, …): its text and expiry.
    async fn kv_get(&self, key: &str) -> Result<Option<(String, Option<i64>)>>;
    async fn kv_put(&self, key: &str, value: &str, expires_at: Option<i64>) -> Result<()>;
    /// Delete the value only while it still is `value` (compare-and-delete).
    async fn kv_delete_if(&self, key: &str, value: &str) -> Result<()>;
    /// Take or renew the lease named `key` for `owner` until `until`: true when it is now ours. A lease whose
    /// time has passed may be taken by anyone, so work held by an instance that died is taken over.
    async fn try_lease(&self, key: &str, owner: &str, until: i64, now: i64) -> Result<bool>;
    async fn release_lease(&self, key: &str, owner: &str) -> Result<()>;
}

/// Open the store named by a database URL: `sqlite://path` (or a bare path) or `postgres://…`.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    }
}

//! The one SQL implementation of [`Store`], generic over the database: [`SqlStore<DB>`] for SQLite and
//! PostgreSQL. The SQL is the common dialect of both; what differs is the small [`Backend`] trait,
//! implemented in `sqlite.rs` and `postgres.rs`: how a write transaction begins (`BEGIN IMMEDIATE` takes
//! SQLite's write lock up front), the row-locking suffixes only PostgreSQL has (SQLite has one writer at a
//! time, so it needs none), SQLite's `INDEXED BY` for the due-check queries, and the callback path's batch
//! (each database has its own cheapest way to lock and write many rows in few round trips).
//!
//! The methods live by concern: `payments.rs`, `callbacks.rs`, `events.rs` (events and webhook
//! deliveries), `history.rs` (a payment's log), `upkeep.rs` (API keys, admin sessions, retention), `kv.rs`
//! (shared values and leases), `stats.rs`, `c2b.rs` and money out (`money_out_sql.rs`, `money_out_tx.rs`);
//! each is a plain `impl<DB: Backend> SqlStore<DB>`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::{Database, Pool};

use super::apply::Writes;
use super::held::{HeldPool, HeldTx};
use super::money_out::MoneyOutRow;
use super::query::{sql, Binds, On, Reads, Run};
use super::rows::{EventRow, LogRow, PaymentRow, WebhookAttemptRow, PAYMENT_COLUMNS};
use super::*;

/// The store on one database: held write connections (see `held.rs`) and a pool of readers.
pub struct SqlStore<DB: Database> {
    pub(super) writer: HeldPool<DB>,
    pub(super) reader: Pool<DB>,
    /// Background work tied to the store (SQLite's WAL checkpointer) runs while this lives.
    pub(super) _alive: Arc<()>,
}

/// One callback of a batch: its secret, raw body, parsed outcome (None: unparseable) and arrival time.
pub type CallbackItem<'a> = (&'a str, &'a [u8], Option<&'a Outcome>, i64);

/// What differs between the databases. The SQL everywhere else is written once.
///
/// The supertraits are what the generic code asks of sqlx (see `query.rs`): statements run, the values it
/// binds and the rows it reads.
pub trait Backend:
    Run
    + for<'q> Binds<'q, i64>
    + for<'q> Binds<'q, Option<i64>>
    + for<'q> Binds<'q, String>
    + for<'q> Binds<'q, &'q str>
    + for<'q> Binds<'q, Option<&'q str>>
    + for<'q> Binds<'q, &'q [u8]>
    + for<'q> Binds<'q, Vec<u8>>
    + Reads<PaymentRow>
    + Reads<EventRow>
    + Reads<LogRow>
    + Reads<WebhookAttemptRow>
    + Reads<MoneyOutRow>
    + Reads<(i64,)>
    + Reads<(Option<Vec<u8>>,)>
    + Reads<(String,)>
    + Reads<(String, String)>
    + Reads<(String, i64)>
    + Reads<(String, Option<i64>)>
    + Reads<(String, String, i64, Option<i64>)>
    + Reads<(String, i64, Option<String>, Option<String>)>
    + Reads<(i64, String, String)>
    + Reads<(i64, String, Vec<u8>)>
    + Reads<(i64, String, String, Vec<u8>)>
    + Reads<(i64, i64, String, Option<i64>, Option<String>)>
    + Reads<(i64, i64, i64, i64)>
    + Reads<(i64, i64, i64, i64, i64, i64)>
{
    /// How a write transaction begins.
    const BEGIN: &'static str;
    /// Appended to a `SELECT` whose rows the transaction changes next.
    const FOR_UPDATE: &'static str;
    /// Appended to the `SELECT` that claims due work, so that instances never claim the same row at once.
    const SKIP_LOCKED: &'static str;
    /// Put after `FROM payments` in the due-check queries.
    const DUE_INDEX: &'static str;

    /// How many rows a statement changed (each database's result has its own method for it).
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Record a batch of callbacks and apply them, committed before this returns (all or none), as
    /// [`Store::record_callbacks`] says.
    fn record_callbacks<'a>(
        store: &'a SqlStore<Self>,
        batch: &'a [CallbackItem<'a>],
    ) -> impl Future<Output = Result<Vec<Applied>>> + Send + 'a;

    /// Lock (or, on SQLite, read under the write lock) the payments with these callback secrets, in `seq`
    /// order, inside the transaction.
    fn lock_by_secrets<'a>(
        tx: &'a mut HeldTx<Self>,
        secrets: &'a [&'a str],
    ) -> impl Future<Output = Result<HashMap<String, Payment>>> + Send + 'a;

    /// Write what a unit of work decided: callbacks, changed payments, events and log lines.
    fn write_rows<'a>(
        tx: &'a mut HeldTx<Self>,
        w: &'a Writes<'a>,
        changed: &'a [&'a Payment],
    ) -> impl Future<Output = Result<()>> + Send + 'a;
}

#[async_trait]
impl<DB: Backend> Store for SqlStore<DB> {
    async fn create_payment(&self, new: NewPayment) -> Result<Created> {
        self.create(new).await
    }
    async fn get_payment(&self, id: &str) -> Result<Option<Payment>> {
        self.payment(id).await
    }
    async fn list_payments(&self, filter: &PaymentFilter) -> Result<Page<Payment>> {
        self.payments(filter).await
    }
    async fn push_accepted(
        &self,
        id: &str,
        checkout: &str,
        merchant: &str,
        next: i64,
        now: i64,
    ) -> Result<Option<Payment>> {
        self.accepted(id, checkout, merchant, next, now).await
    }
    async fn push_unknown(&self, id: &str, why: &str, next_check_at: i64, now: i64) -> Result<Option<Payment>> {
        self.unknown(id, why, next_check_at, now).await
    }
    async fn set_phone_for_push(&self, id: &str, phone: &str, now: i64) -> Result<Option<Payment>> {
        self.set_phone(id, phone, now).await
    }
    async fn apply_outcome(&self, id: &str, source: Source, outcome: &Outcome, now: i64) -> Result<Applied> {
        self.apply(id, source, outcome, now).await
    }
    async fn record_callback(&self, secret: &str, body: &[u8], outcome: Option<&Outcome>, now: i64) -> Result<Applied> {
        let mut applied = DB::record_callbacks(self, &[(secret, body, outcome, now)]).await?;
        applied.pop().ok_or(StoreError::NotFound)
    }
    async fn record_callbacks(&self, batch: &[CallbackIn]) -> Result<Vec<Applied>> {
        // Group commit: each callback decided as alone, all committed together.
        let items: Vec<CallbackItem> =
            batch.iter().map(|c| (c.secret.as_str(), c.raw_body.as_slice(), c.outcome.as_ref(), c.now)).collect();
        DB::record_callbacks(self, &items).await
    }
    async fn record_rejected_callback(&self, secret: &str, raw_body: &[u8], why: &str, now: i64) -> Result<()> {
        self.rejected_callback(secret, raw_body, why, now).await
    }
    async fn ops_counts(&self, now: i64) -> Result<OpsCounts> {
        self.counts(now).await
    }
    async fn claim_due_checks(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Payment>> {
        self.due_checks(now, lease_until, limit).await
    }
    async fn reschedule_check(&self, id: &str, next_check_at: i64, note: &str, now: i64) -> Result<()> {
        self.reschedule(id, next_check_at, note, now).await
    }
    async fn list_events(&self, filter: &EventFilter) -> Result<Page<Event>> {
        self.events(filter).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<Event>> {
        self.event(id).await
    }
    async fn schedule_delivery(&self, event_id: &str, at: i64) -> Result<()> {
        self.schedule(event_id, at).await
    }
    async fn claim_due_events(&self, now: i64, lease_until: i64, owner: &str, limit: i64) -> Result<Vec<Event>> {
        self.due_events(now, lease_until, owner, limit).await
    }
    async fn record_webhook_attempt(&self, owner: &str, a: &WebhookAttempt, outcome: DeliveryOutcome) -> Result<bool> {
        self.attempted(owner, a, outcome).await
    }
    async fn webhook_attempts(&self, event_id: &str) -> Result<Vec<WebhookAttempt>> {
        self.attempts(event_id).await
    }
    async fn payment_log(&self, payment_id: &str) -> Result<Vec<LogEntry>> {
        self.history(payment_id).await
    }
    async fn append_log(&self, payment_id: &str, kind: &str, detail: &str, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        Self::log_tx(&mut tx, payment_id, kind, detail, now).await?;
        Ok(tx.commit().await?)
    }
    async fn create_api_key(&self, id: &str, key_hash: &str, name: &str, now: i64) -> Result<()> {
        self.new_api_key(id, key_hash, name, now).await
    }
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>> {
        self.api_key(key_hash).await
    }
    async fn ping(&self) -> Result<()> {
        sql::<DB>("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }
    async fn count_by_status(&self) -> Result<Vec<(String, i64)>> {
        self.by_status().await
    }
    async fn payment_stats(&self, since: i64, bucket_ms: i64, offset_ms: i64) -> Result<Vec<StatsBucket>> {
        self.stats(since, bucket_ms, offset_ms).await
    }
    async fn resolve_review(&self, id: &str, outcome: &Outcome, now: i64) -> Result<Applied> {
        self.resolve(id, outcome, now).await
    }
    async fn kv_get(&self, key: &str) -> Result<Option<(String, Option<i64>)>> {
        self.value(key).await
    }
    async fn kv_put(&self, key: &str, value: &str, expires_at: Option<i64>) -> Result<()> {
        self.put_value(key, value, expires_at).await
    }
    async fn kv_delete_if(&self, key: &str, value: &str) -> Result<()> {
        self.delete_value(key, value).await
    }
    async fn try_lease(&self, key: &str, owner: &str, until: i64, now: i64) -> Result<bool> {
        self.lease(key, owner, until, now).await
    }
    async fn release_lease(&self, key: &str, owner: &str) -> Result<()> {
        self.release(key, owner).await
    }
}

/// The helpers every concern shares: transactions, reading or locking a payment, a log line, an event.
impl<DB: Backend> SqlStore<DB> {
    /// A write transaction, begun.
    pub(super) async fn write_tx(&self) -> Result<HeldTx<DB>> {
        Ok(self.writer.begin(DB::BEGIN).await?)
    }

    /// The `columns` of the row of `table` whose `column` is `value`, read with `lock` appended:
    /// `DB::FOR_UPDATE` locks it for the rest of the transaction, "" only reads it.
    pub(super) async fn row_by<'a, Row, T>(
        on: impl Into<On<'a, DB>>,
        (columns, table): (&str, &str),
        column: &str,
        value: &str,
        lock: &str,
    ) -> Result<Option<T>>
    where
        DB: Reads<Row>,
        T: TryFrom<Row, Error = StoreError>,
    {
        let q = format!("SELECT {columns} FROM {table} WHERE {column} = $1{lock}");
        let row: Option<Row> = sql::<DB>(&q).bind(value).fetch_optional(on.into()).await?;
        row.map(T::try_from).transpose()
    }

    /// The payment whose `column` is `value` (see [`Self::row_by`] for `lock`).
    pub(super) async fn payment_by<'a>(
        on: impl Into<On<'a, DB>>,
        column: &str,
        value: &str,
        lock: &str,
    ) -> Result<Option<Payment>> {
        Self::row_by::<PaymentRow, Payment>(on, (PAYMENT_COLUMNS, "payments"), column, value, lock).await
    }

    /// A line of a payment's history, inside the caller's transaction.
    pub(super) async fn log_tx(
        tx: &mut HeldTx<DB>,
        payment_id: &str,
        kind: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        sql::<DB>("INSERT INTO payment_log (payment_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
            .bind(payment_id)
            .bind(now)
            .bind(kind)
            .bind(detail)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// A new event of `object_id` (a payment, payout or refund), due for delivery at once, inside the
    /// caller's transaction. Its id.
    pub(super) async fn event_tx(
        tx: &mut HeldTx<DB>,
        event_type: &str,
        object_id: &str,
        data: &str,
        now: i64,
    ) -> Result<String> {
        let id = crate::domain::ids::event_id();
        sql::<DB>(
            "INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(id.as_str())
        .bind(event_type)
        .bind(object_id)
        .bind(now)
        .bind(data)
        .execute(&mut **tx)
        .await?;
        Ok(id)
    }
}

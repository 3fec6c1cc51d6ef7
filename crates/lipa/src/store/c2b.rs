//! The store's C2B part: confirmations recorded (deduplicated by `TransID`) and matched to payments,
//! validations kept, the installation's callback secret. Written once, generic over the database: each store
//! says how its write transactions begin and how it locks rows ([`SqlBackend`]); the SQL is the dialect both
//! databases share.

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Type};

use super::held::HeldPool;
use super::rows::{PaymentRow, PAYMENT_COLUMNS};
use super::Result;
use crate::domain::c2b::{self as rules, C2bPaid};
use crate::domain::{EventType, Payment};

/// One confirmation to record: the raw body and what it says (None: it could not be read).
#[derive(Debug, Clone)]
pub struct C2bIn {
    pub raw_body: Vec<u8>,
    pub notification: Option<daraja::c2b::C2bNotification>,
    pub now: i64,
}

/// What a confirmation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum C2bEffect {
    /// Kept; the body could not be read.
    Unparseable,
    /// This `TransID` was recorded before: nothing changed.
    Duplicate,
    /// It settled an open payment (succeeded, or needs_review on another amount).
    Matched,
    /// No open payment: it became a new one.
    New,
}

#[derive(Debug, Clone)]
pub struct C2bApplied {
    pub effect: C2bEffect,
    /// The payment as it now is (Matched, New).
    pub payment: Option<Payment>,
    pub event_id: Option<String>,
}

/// A validation request as received and what lipa answered.
#[derive(Debug, Clone)]
pub struct ValidationIn {
    pub trans_id: Option<String>,
    pub raw_body: Vec<u8>,
    pub result_code: String,
    pub payment_id: Option<String>,
    pub now: i64,
}

#[async_trait]
pub trait C2bStore {
    /// The value under `key`, writing `fresh` first when there is none (the first caller wins).
    async fn c2b_secret(&self, key: &str, fresh: &str) -> Result<String>;
    /// Record confirmations and match each, in order, in ONE transaction (all or none): a `TransID` seen
    /// before changes nothing; otherwise the open payment the account number names settles, or a new payment
    /// is made — each change with its event and history line.
    async fn record_c2b_confirmations(&self, batch: &[C2bIn]) -> Result<Vec<C2bApplied>>;
    /// The open payment an account number names (its account reference, else its whole reference; trimmed,
    /// ignoring case).
    async fn open_payment_for_account(&self, account: &str) -> Result<Option<Payment>>;
    async fn record_c2b_validation(&self, v: &ValidationIn) -> Result<()>;
}

/// What the generic C2B code needs of a store.
pub trait SqlBackend: Send + Sync {
    type DB: Database;
    /// How a write transaction begins.
    const BEGIN: &'static str;
    /// The row-lock suffix of a SELECT that decides a change (empty where there is one writer).
    const LOCK: &'static str;
    fn writer(&self) -> &HeldPool<Self::DB>;
    fn reader(&self) -> &sqlx::Pool<Self::DB>;
}

impl SqlBackend for super::sqlite::SqliteStore {
    type DB = sqlx::Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const LOCK: &'static str = "";
    fn writer(&self) -> &HeldPool<sqlx::Sqlite> {
        &self.writer
    }
    fn reader(&self) -> &sqlx::Pool<sqlx::Sqlite> {
        &self.reader
    }
}

impl SqlBackend for super::postgres::PgStore {
    type DB = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";
    const LOCK: &'static str = " FOR UPDATE";
    fn writer(&self) -> &HeldPool<sqlx::Postgres> {
        &self.writer
    }
    fn reader(&self) -> &sqlx::Pool<sqlx::Postgres> {
        &self.reader
    }
}

/// How many of the latest known phones a v1 (hashed) number is compared with when it pays no open payment.
const KNOWN_PHONES: i64 = 2000;

#[async_trait]
impl<S, DB> C2bStore for S
where
    S: SqlBackend<DB = DB>,
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'r> PaymentRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    async fn c2b_secret(&self, key: &str, fresh: &str) -> Result<String> {
        let mut c = self.writer().conn().await?;
        sqlx::query("INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING")
            .bind(key.to_string())
            .bind(fresh.to_string())
            .execute(&mut *c)
            .await?;
        let (v,): (String,) =
            sqlx::query_as("SELECT v FROM kv WHERE k = $1").bind(key.to_string()).fetch_one(&mut *c).await?;
        Ok(v)
    }

    async fn record_c2b_confirmations(&self, batch: &[C2bIn]) -> Result<Vec<C2bApplied>> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        let mut out = Vec::with_capacity(batch.len());
        for c in batch {
            out.push(confirm::<DB>(&mut *tx, S::LOCK, c).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn open_payment_for_account(&self, account: &str) -> Result<Option<Payment>> {
        let mut c = self.reader().acquire().await?;
        find_open::<DB>(&mut *c, "", account).await
    }

    async fn record_c2b_validation(&self, v: &ValidationIn) -> Result<()> {
        sqlx::query(
            "INSERT INTO c2b_validations (trans_id, raw_body, received_at, result_code, payment_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(v.trans_id.clone())
        .bind(v.raw_body.clone())
        .bind(v.now)
        .bind(v.result_code.clone())
        .bind(v.payment_id.clone())
        .execute(&mut *self.writer().conn().await?)
        .await?;
        Ok(())
    }
}

/// The open payment `account` names, locked with `lock`: by account reference first, then by reference.
async fn find_open<DB>(conn: &mut DB::Connection, lock: &str, account: &str) -> Result<Option<Payment>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'r> PaymentRow: FromRow<'r, DB::Row>,
{
    let account = account.trim();
    if account.is_empty() {
        return Ok(None);
    }
    for column in ["account_reference", "reference"] {
        let q = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'pending' AND UPPER({column}) = UPPER($1) \
             ORDER BY seq LIMIT 1{lock}"
        );
        let row: Option<PaymentRow> = sqlx::query_as(&q).bind(account.to_string()).fetch_optional(&mut *conn).await?;
        if let Some(row) = row {
            return Payment::try_from(row).map(Some);
        }
    }
    Ok(None)
}

/// Record one confirmation and apply it inside the caller's transaction.
async fn confirm<DB>(conn: &mut DB::Connection, lock: &str, c: &C2bIn) -> Result<C2bApplied>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'r> PaymentRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    let Some(n) = &c.notification else {
        sqlx::query("INSERT INTO c2b_transactions (raw_body, received_at, note) VALUES ($1, $2, $3)")
            .bind(c.raw_body.clone())
            .bind(c.now)
            .bind("unparseable body".to_string())
            .execute(&mut *conn)
            .await?;
        return Ok(C2bApplied { effect: C2bEffect::Unparseable, payment: None, event_id: None });
    };
    let mut paid = C2bPaid::of(n);
    let recorded: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO c2b_transactions (trans_id, raw_body, received_at, amount, account, short_code, msisdn, \
         payer_name, trans_time, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (trans_id) DO NOTHING RETURNING seq",
    )
    .bind(paid.trans_id.clone())
    .bind(c.raw_body.clone())
    .bind(c.now)
    .bind(paid.amount)
    .bind(paid.account.clone())
    .bind(paid.short_code.clone())
    .bind(n.msisdn.as_wire().to_string())
    .bind(paid.payer_name.clone())
    .bind(n.trans_time.clone())
    .bind("recorded".to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((seq,)) = recorded else {
        return Ok(C2bApplied { effect: C2bEffect::Duplicate, payment: None, event_id: None });
    };
    let open = find_open::<DB>(conn, lock, &paid.account).await?;
    // v1 sends a SHA-256 of the payer's number: a phone lipa knows is matched by hashing it.
    if paid.payer_phone.is_none() {
        if let Some(phone) = open.as_ref().and_then(|p| p.phone.clone()) {
            if rules::payer_is(&n.msisdn, &phone) {
                paid.payer_phone = Some(phone);
            }
        } else if matches!(n.msisdn, daraja::c2b::C2bMsisdn::Hashed(_)) {
            let known: Vec<(String,)> =
                sqlx::query_as("SELECT phone FROM payments WHERE phone IS NOT NULL ORDER BY seq DESC LIMIT $1")
                    .bind(KNOWN_PHONES)
                    .fetch_all(&mut *conn)
                    .await?;
            paid.payer_phone = known.into_iter().map(|(p,)| p).find(|p| rules::payer_is(&n.msisdn, p));
        }
    }
    let (effect, p) = match &open {
        Some(before) => {
            let p = rules::settle(before, &paid, c.now);
            sqlx::query(
                "UPDATE payments SET status = $1, channel = $2, payer_name = $3, paid_amount = $4, phone = $5, \
                 mpesa_receipt = $6, result_code = $7, result_desc = $8, failure_reason = NULL, review_reason = $9, \
                 updated_at = $10, completed_at = $11, lease_until = NULL WHERE id = $12",
            )
            .bind(p.status.as_str().to_string())
            .bind(p.channel.as_str().to_string())
            .bind(p.payer_name.clone())
            .bind(p.paid_amount)
            .bind(p.phone.clone())
            .bind(p.mpesa_receipt.clone())
            .bind(p.result_code.clone())
            .bind(p.result_desc.clone())
            .bind(p.review_reason.clone())
            .bind(p.updated_at)
            .bind(p.completed_at)
            .bind(p.id.clone())
            .execute(&mut *conn)
            .await?;
            (C2bEffect::Matched, p)
        }
        None => {
            let p = rules::unmatched_payment(&paid, c.now);
            sqlx::query(
                "INSERT INTO payments (id, status, amount, phone, reference, description, metadata, push_state, \
                 callback_secret, created_at, updated_at, completed_at, account_reference, channel, payer_name, \
                 paid_amount, mpesa_receipt, result_code, result_desc, review_reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)",
            )
            .bind(p.id.clone())
            .bind(p.status.as_str().to_string())
            .bind(p.amount)
            .bind(p.phone.clone())
            .bind(p.reference.clone())
            .bind(p.description.clone())
            .bind(p.metadata.to_string())
            .bind(p.push_state.as_str().to_string())
            .bind(p.callback_secret.clone())
            .bind(p.created_at)
            .bind(p.updated_at)
            .bind(p.completed_at)
            .bind(p.account_reference.clone())
            .bind(p.channel.as_str().to_string())
            .bind(p.payer_name.clone())
            .bind(p.paid_amount)
            .bind(p.mpesa_receipt.clone())
            .bind(p.result_code.clone())
            .bind(p.result_desc.clone())
            .bind(p.review_reason.clone())
            .execute(&mut *conn)
            .await?;
            (C2bEffect::New, p)
        }
    };
    let note = match effect {
        C2bEffect::Matched => "matched",
        _ => "new payment",
    };
    sqlx::query("UPDATE c2b_transactions SET payment_id = $1, payer_phone = $2, note = $3 WHERE seq = $4")
        .bind(p.id.clone())
        .bind(paid.payer_phone.clone())
        .bind(note.to_string())
        .bind(seq)
        .execute(&mut *conn)
        .await?;
    let event_id = match EventType::for_status(p.status) {
        Some(ev) => {
            let id = crate::domain::ids::event_id();
            let data = crate::api::to_json(&crate::api::Payment::of(&p)).to_string();
            sqlx::query(
                "INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id.clone())
            .bind(ev.as_str().to_string())
            .bind(p.id.clone())
            .bind(c.now)
            .bind(data)
            .bind(c.now)
            .execute(&mut *conn)
            .await?;
            Some(id)
        }
        None => None,
    };
    let payer = match (&paid.payer_name, &paid.payer_phone) {
        (Some(name), Some(phone)) => format!(" from {name} ({phone})"),
        (Some(name), None) => format!(" from {name} ({})", n.msisdn.as_wire()),
        (None, Some(phone)) => format!(" from {phone}"),
        (None, None) => String::new(),
    };
    let amount =
        paid.amount.map(|a| format!("KES {a}")).unwrap_or_else(|| format!("{:?} (unreadable)", n.trans_amount));
    let what = match effect {
        C2bEffect::Matched => format!("paid this payment ({})", p.status.as_str()),
        _ => "matched no open payment: recorded as a new payment".into(),
    };
    let detail = format!(
        "C2B confirmation {}: {amount} to {} account {:?}{payer}; {what}\n{}",
        paid.trans_id,
        paid.short_code,
        paid.account,
        String::from_utf8_lossy(&c.raw_body)
    );
    sqlx::query("INSERT INTO payment_log (payment_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
        .bind(p.id.clone())
        .bind(c.now)
        .bind("c2b".to_string())
        .bind(detail)
        .execute(&mut *conn)
        .await?;
    Ok(C2bApplied { effect, payment: Some(p), event_id })
}

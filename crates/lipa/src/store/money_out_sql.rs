//! The SQL of [`MoneyOutStore`], once for both databases: a blanket impl over [`Pools`], generic in the
//! sqlx database. Each method is one transaction on the backend's held write connections.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::held::{HeldPool, HeldTx};
use super::money_out::*;
use super::{Page, Result, StoreError};
use crate::domain::money_out::{decide, Change, Draft, MoneyOut, Object, SendState};
use crate::domain::PaymentStatus;

/// Where a backend's connections are and how it locks.
pub trait Pools: Send + Sync + 'static {
    type DB: Database;
    /// `BEGIN`, or SQLite's `BEGIN IMMEDIATE` (which takes its one write lock at once).
    const BEGIN: &'static str;
    /// ` FOR UPDATE` on PostgreSQL; nothing on SQLite (one writer).
    const FOR_UPDATE: &'static str;
    /// ` FOR UPDATE SKIP LOCKED` on PostgreSQL; nothing on SQLite.
    const SKIP_LOCKED: &'static str;
    fn writer(&self) -> &HeldPool<Self::DB>;
    fn reader(&self) -> &sqlx::Pool<Self::DB>;
}

impl Pools for super::sqlite::SqliteStore {
    type DB = sqlx::Sqlite;
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    fn writer(&self) -> &HeldPool<sqlx::Sqlite> {
        &self.writer
    }
    fn reader(&self) -> &sqlx::SqlitePool {
        &self.reader
    }
}

impl Pools for super::postgres::PgStore {
    type DB = sqlx::Postgres;
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    fn writer(&self) -> &HeldPool<sqlx::Postgres> {
        &self.writer
    }
    fn reader(&self) -> &sqlx::PgPool {
        &self.reader
    }
}

/// The most bytes kept of an answer whose secret named nothing.
const STRAY_BODY_MAX: usize = 1024;

fn refused(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Refused { code, message: message.into() }
}

type Conn<DB> = <DB as Database>::Connection;

#[async_trait]
impl<S> MoneyOutStore for S
where
    S: Pools,
    for<'c> &'c mut Conn<S::DB>: Executor<'c, Database = S::DB>,
    for<'c> &'c sqlx::Pool<S::DB>: Executor<'c, Database = S::DB>,
    for<'q> <S::DB as Database>::Arguments<'q>: IntoArguments<'q, S::DB>,
    for<'r> MoneyOutRow: sqlx::FromRow<'r, <S::DB as Database>::Row>,
    for<'q> &'q str: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> Option<&'q str>: Encode<'q, S::DB>,
    for<'q> &'q [u8]: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> i64: Encode<'q, S::DB> + Type<S::DB>,
    for<'q> Option<i64>: Encode<'q, S::DB>,
    for<'r> String: Decode<'r, S::DB> + Type<S::DB>,
    for<'r> Option<String>: Decode<'r, S::DB>,
    for<'r> i64: Decode<'r, S::DB>,
    for<'r> Vec<u8>: Decode<'r, S::DB> + Type<S::DB>,
    for<'r> Option<Vec<u8>>: Decode<'r, S::DB>,
    usize: ColumnIndex<<S::DB as Database>::Row>,
{
    async fn create_payout(&self, new: NewPayout) -> Result<MoneyOutCreated> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        if let Some(found) = Sql::<S::DB>::replay(&mut tx, new.api_key_id.as_deref(), new.idempotency.as_ref()).await? {
            tx.commit().await?;
            return Ok(found);
        }
        Sql::<S::DB>::insert(&mut tx, &new.payout, new.api_key_id.as_deref()).await?;
        if !Sql::<S::DB>::claim_key(&mut tx, new.api_key_id.as_deref(), new.idempotency.as_ref(), &new.payout).await? {
            drop(tx);
            return self.replay_after_race(new.api_key_id.as_deref(), new.idempotency.as_ref()).await;
        }
        tx.commit().await?;
        Ok(MoneyOutCreated::New(new.payout))
    }

    async fn create_refund(&self, new: NewRefund) -> Result<MoneyOutCreated> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        if let Some(found) = Sql::<S::DB>::replay(&mut tx, new.api_key_id.as_deref(), new.idempotency.as_ref()).await? {
            tx.commit().await?;
            return Ok(found);
        }
        let refund = match Sql::<S::DB>::refund_row(&mut tx, &new, S::FOR_UPDATE).await {
            Ok(r) => r,
            // Nothing was written: committing releases the payment's lock at once.
            Err(e @ (StoreError::Refused { .. } | StoreError::NotFound)) => {
                tx.commit().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        Sql::<S::DB>::insert(&mut tx, &refund, new.api_key_id.as_deref()).await?;
        Sql::<S::DB>::log_payment(
            &mut tx,
            &refund,
            &format!("refund {} of KES {} created", refund.id, refund.amount),
            new.now,
        )
        .await?;
        if !Sql::<S::DB>::claim_key(&mut tx, new.api_key_id.as_deref(), new.idempotency.as_ref(), &refund).await? {
            drop(tx);
            return self.replay_after_race(new.api_key_id.as_deref(), new.idempotency.as_ref()).await;
        }
        tx.commit().await?;
        Ok(MoneyOutCreated::New(refund))
    }

    async fn get_money_out(&self, id: &str) -> Result<Option<MoneyOut>> {
        let q = format!("SELECT {MONEY_OUT_COLUMNS} FROM money_out WHERE id = $1");
        let row: Option<MoneyOutRow> = sqlx::query_as(&q).bind(id).fetch_optional(self.reader()).await?;
        row.map(MoneyOut::try_from).transpose()
    }

    async fn list_money_out(&self, f: &MoneyOutFilter) -> Result<Page<MoneyOut>> {
        let q = format!(
            "SELECT {MONEY_OUT_COLUMNS} FROM money_out WHERE object = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR status = $2) AND (CAST($3 AS TEXT) IS NULL OR phone = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR payment_id = $4) \
             AND (CAST($5 AS TEXT) IS NULL OR seq < (SELECT seq FROM money_out WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6"
        );
        let rows: Vec<MoneyOutRow> = sqlx::query_as(&q)
            .bind(f.object.as_str())
            .bind(f.status.as_deref())
            .bind(f.phone.as_deref())
            .bind(f.payment_id.as_deref())
            .bind(f.starting_after.as_deref())
            .bind(f.limit + 1)
            .fetch_all(self.reader())
            .await?;
        let has_more = rows.len() as i64 > f.limit;
        let data = rows.into_iter().take(f.limit as usize).map(MoneyOut::try_from).collect::<Result<Vec<_>>>()?;
        Ok(Page { data, has_more })
    }

    async fn money_out_sending(&self, id: &str, next_check_at: i64, now: i64) -> Result<bool> {
        let mut conn = self.writer().conn().await?;
        let done: Option<(String,)> = sqlx::query_as(
            "UPDATE money_out SET send_state = 'sending', next_check_at = $1, updated_at = $2 \
             WHERE id = $3 AND send_state = 'queued' AND status = 'pending' RETURNING id",
        )
        .bind(next_check_at)
        .bind(now)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(done.is_some())
    }

    async fn money_out_accepted(
        &self,
        id: &str,
        originator_conversation_id: &str,
        conversation_id: Option<&str>,
        next_check_at: i64,
        now: i64,
    ) -> Result<Option<MoneyOut>> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        // A result may already have settled it (it can come before the acknowledgement): only the ids are kept.
        sqlx::query(
            "UPDATE money_out SET send_state = 'accepted', originator_conversation_id = $1, \
             conversation_id = COALESCE($2, conversation_id), updated_at = $3, lease_until = NULL, \
             next_check_at = CASE WHEN status = 'pending' THEN $4 ELSE next_check_at END WHERE id = $5",
        )
        .bind(originator_conversation_id)
        .bind(conversation_id)
        .bind(now)
        .bind(next_check_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let found = Sql::<S::DB>::lock(&mut tx, "id", id, "").await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn money_out_retry_at(&self, id: &str, next_check_at: i64, attempted: bool, now: i64) -> Result<()> {
        let mut conn = self.writer().conn().await?;
        sqlx::query(
            "UPDATE money_out SET next_check_at = $1, check_attempts = check_attempts + $2, lease_until = NULL, \
             updated_at = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(next_check_at)
        .bind(i64::from(attempted))
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn money_out_change(&self, id: &str, change: &Change, now: i64) -> Result<Option<MoneyOut>> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        let Some(before) = Sql::<S::DB>::lock(&mut tx, "id", id, S::FOR_UPDATE).await? else { return Ok(None) };
        if before.status != PaymentStatus::Pending {
            return Ok(None);
        }
        let after = change.apply(&before, now);
        Sql::<S::DB>::write_change(&mut tx, &before, &after, now).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    async fn record_money_out_results(&self, batch: &[ResultIn]) -> Result<Vec<ResultApplied>> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        let mut out = Vec::with_capacity(batch.len());
        for item in batch {
            out.push(Sql::<S::DB>::record_one(&mut tx, item, S::FOR_UPDATE).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn claim_due_money_out(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MoneyOut>> {
        let mut tx = self.writer().begin(S::BEGIN).await?;
        let q = format!(
            "UPDATE money_out SET lease_until = $1 WHERE id IN (SELECT id FROM money_out WHERE status = 'pending' \
             AND next_check_at <= $2 AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_check_at \
             LIMIT $3{}) RETURNING {MONEY_OUT_COLUMNS}",
            S::SKIP_LOCKED
        );
        let rows: Vec<MoneyOutRow> =
            sqlx::query_as(&q).bind(lease_until).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.into_iter().map(MoneyOut::try_from).collect()
    }

    async fn money_out_results(&self, id: &str) -> Result<Vec<ResultRecord>> {
        let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT received_at, path, note, raw_body FROM money_out_results WHERE object_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(self.reader())
        .await?;
        Ok(rows.into_iter().map(|(at, path, note, raw_body)| ResultRecord { at, path, note, raw_body }).collect())
    }

    async fn balance_requested(&self, secret: &str, now: i64) -> Result<()> {
        let mut conn = self.writer().conn().await?;
        // Reads older than a day are of no use to anyone: dropped as new ones come.
        sqlx::query("DELETE FROM balance_reads WHERE requested_at < $1")
            .bind(now - 86_400_000)
            .execute(&mut *conn)
            .await?;
        sqlx::query("INSERT INTO balance_reads (secret, requested_at) VALUES ($1, $2)")
            .bind(secret)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn balance_result(&self, secret: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> = sqlx::query_as("SELECT raw_body FROM balance_reads WHERE secret = $1")
            .bind(secret)
            .fetch_optional(self.reader())
            .await?;
        Ok(row.and_then(|(b,)| b))
    }
}

/// The idempotency-key race lost: another request claimed the key first and has committed; its object.
#[async_trait]
trait ReplayAfterRace {
    async fn replay_after_race(&self, key_id: Option<&str>, idem: Option<&Idempotency>) -> Result<MoneyOutCreated>;
}

#[async_trait]
impl<S: MoneyOutStore + Pools> ReplayAfterRace for S
where
    for<'c> &'c sqlx::Pool<S::DB>: Executor<'c, Database = S::DB>,
    for<'q> <S::DB as Database>::Arguments<'q>: IntoArguments<'q, S::DB>,
    for<'q> &'q str: Encode<'q, S::DB> + Type<S::DB>,
    for<'r> String: Decode<'r, S::DB> + Type<S::DB>,
    usize: ColumnIndex<<S::DB as Database>::Row>,
{
    async fn replay_after_race(&self, key_id: Option<&str>, idem: Option<&Idempotency>) -> Result<MoneyOutCreated> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else {
            return Err(StoreError::Corrupt("an idempotency key was lost without one".into()));
        };
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT request_hash, object_id FROM money_out_idempotency WHERE key_id = $1 AND idem_key = $2",
        )
        .bind(key_id)
        .bind(idem.key.as_str())
        .fetch_optional(self.reader())
        .await?;
        let (hash, id) = row.ok_or_else(|| StoreError::Corrupt("a claimed idempotency key is missing".into()))?;
        let object = self.get_money_out(&id).await?.ok_or(StoreError::NotFound)?;
        Ok(MoneyOutCreated::Replay { object, same_request: hash == idem.request_hash })
    }
}

use super::Idempotency;

/// The statements the units of work are made of, generic in the database.
struct Sql<DB>(std::marker::PhantomData<DB>);

impl<DB: Database> Sql<DB>
where
    for<'c> &'c mut Conn<DB>: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'r> MoneyOutRow: sqlx::FromRow<'r, DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'r> String: Decode<'r, DB> + Type<DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// The refund a request makes, decided under the payment's lock: what is left, the method's needs.
    async fn refund_row(tx: &mut HeldTx<DB>, new: &NewRefund, for_update: &str) -> Result<MoneyOut> {
        // The payment is locked (PostgreSQL) or the database is (SQLite's one writer) until the refund is in.
        let q = format!("SELECT status, amount, phone, mpesa_receipt FROM payments WHERE id = $1{}", for_update);
        let payment: Option<(String, i64, Option<String>, Option<String>)> =
            sqlx::query_as(&q).bind(new.payment_id.as_str()).fetch_optional(&mut **tx).await?;
        let Some((status, paid, phone, receipt)) = payment else { return Err(StoreError::NotFound) };
        if status != PaymentStatus::Succeeded.as_str() {
            return Err(refused(
                "payment_not_refundable",
                format!("only a succeeded payment can be refunded; this one is {status}"),
            ));
        }
        let held: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM money_out WHERE payment_id = $1 AND object = 'refund' \
             AND status <> 'failed'",
        )
        .bind(new.payment_id.as_str())
        .fetch_one(&mut **tx)
        .await?;
        let left = paid - held;
        let amount = new.amount.unwrap_or(left);
        if amount > left || left <= 0 {
            return Err(refused(
                "refund_exceeds_payment",
                format!("the payment's refunds would add up to more than its KES {paid}: KES {left} is left to refund"),
            ));
        }
        let method = new.method;
        let (kind, original_receipt) = match method {
            crate::domain::money_out::Method::Reversal => match receipt {
                Some(r) => ("reversal".to_string(), Some(r)),
                None => {
                    return Err(refused(
                        "refund_unavailable",
                        "this payment has no M-Pesa receipt to reverse; set LIPA_REFUND_METHOD=b2c to pay it back",
                    ))
                }
            },
            crate::domain::money_out::Method::B2c => {
                if phone.is_none() {
                    return Err(refused("refund_unavailable", "this payment has no phone to pay back"));
                }
                if amount < crate::domain::money_out::MIN_AMOUNT {
                    return Err(refused("refund_below_minimum", "a B2C refund is at least KES 10"));
                }
                ("business".to_string(), None)
            }
        };
        let draft = Draft {
            object: Object::Refund,
            amount,
            phone,
            kind,
            method,
            remarks: new.reason.clone(),
            metadata: new.metadata.clone(),
            payment_id: Some(new.payment_id.clone()),
            original_receipt,
        };
        Ok(MoneyOut::new_pending(draft, new.now, new.first_check_ms))
    }

    /// The row by a column (`id`, `callback_secret` or `query_secret`), locked with `lock` inside the transaction.
    async fn lock(tx: &mut HeldTx<DB>, column: &str, value: &str, lock: &str) -> Result<Option<MoneyOut>> {
        let q = format!("SELECT {MONEY_OUT_COLUMNS} FROM money_out WHERE {column} = $1{lock}");
        let row: Option<MoneyOutRow> = sqlx::query_as(&q).bind(value).fetch_optional(&mut **tx).await?;
        row.map(MoneyOut::try_from).transpose()
    }

    async fn replay(
        tx: &mut HeldTx<DB>,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> Result<Option<MoneyOutCreated>> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else { return Ok(None) };
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT request_hash, object_id FROM money_out_idempotency WHERE key_id = $1 AND idem_key = $2",
        )
        .bind(key_id)
        .bind(idem.key.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let Some((hash, id)) = row else { return Ok(None) };
        let object = Self::lock(tx, "id", &id, "").await?.ok_or(StoreError::NotFound)?;
        Ok(Some(MoneyOutCreated::Replay { object, same_request: hash == idem.request_hash }))
    }

    /// Claim the idempotency key for `m`; false when another request holds it (ON CONFLICT waits for it).
    async fn claim_key(
        tx: &mut HeldTx<DB>,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
        m: &MoneyOut,
    ) -> Result<bool> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else { return Ok(true) };
        let done: Option<(String,)> = sqlx::query_as(
            "INSERT INTO money_out_idempotency (key_id, idem_key, request_hash, object_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING object_id",
        )
        .bind(key_id)
        .bind(idem.key.as_str())
        .bind(idem.request_hash.as_str())
        .bind(m.id.as_str())
        .bind(m.created_at)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(done.is_some())
    }

    async fn insert(tx: &mut HeldTx<DB>, m: &MoneyOut, api_key_id: Option<&str>) -> Result<()> {
        let metadata = m.metadata.to_string();
        sqlx::query(
            "INSERT INTO money_out (id, object, status, amount, phone, kind, method, remarks, metadata, payment_id, \
             original_receipt, send_state, callback_secret, query_secret, originator_conversation_id, api_key_id, \
             created_at, updated_at, next_check_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18)",
        )
        .bind(m.id.as_str())
        .bind(m.object.as_str())
        .bind(m.status.as_str())
        .bind(m.amount)
        .bind(m.phone.as_deref())
        .bind(m.kind.as_str())
        .bind(m.method.as_str())
        .bind(m.remarks.as_str())
        .bind(metadata.as_str())
        .bind(m.payment_id.as_deref())
        .bind(m.original_receipt.as_deref())
        .bind(SendState::Queued.as_str())
        .bind(m.callback_secret.as_str())
        .bind(m.query_secret.as_str())
        .bind(m.originator_conversation_id.as_deref())
        .bind(api_key_id)
        .bind(m.created_at)
        .bind(m.next_check_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A refund's line in its payment's history.
    async fn log_payment(tx: &mut HeldTx<DB>, m: &MoneyOut, detail: &str, now: i64) -> Result<()> {
        let Some(payment_id) = m.payment_id.as_deref() else { return Ok(()) };
        sqlx::query("INSERT INTO payment_log (payment_id, at, kind, detail) VALUES ($1, $2, 'refund', $3)")
            .bind(payment_id)
            .bind(now)
            .bind(detail)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Write a decided change: the row, its event when the status changed, and a refund's effect on its
    /// payment's `refunded_amount` (what succeeded refunds gave back).
    async fn write_change(tx: &mut HeldTx<DB>, before: &MoneyOut, after: &MoneyOut, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE money_out SET status = $1, mpesa_receipt = $2, recipient_name = $3, result_code = $4, \
             result_desc = $5, failure_reason = $6, review_reason = $7, completed_at = $8, next_check_at = $9, \
             updated_at = $10, lease_until = NULL WHERE id = $11",
        )
        .bind(after.status.as_str())
        .bind(after.mpesa_receipt.as_deref())
        .bind(after.recipient_name.as_deref())
        .bind(after.result_code.as_deref())
        .bind(after.result_desc.as_deref())
        .bind(after.failure_reason.as_deref())
        .bind(after.review_reason.as_deref())
        .bind(after.completed_at)
        .bind(after.next_check_at)
        .bind(now)
        .bind(after.id.as_str())
        .execute(&mut **tx)
        .await?;
        if before.status == after.status {
            return Ok(());
        }
        if let Some(ty) = after.event_type() {
            let data = crate::api::money_out::object_json(after).to_string();
            sqlx::query(
                "INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $4)",
            )
            .bind(crate::domain::ids::event_id().as_str())
            .bind(ty.as_str())
            .bind(after.id.as_str())
            .bind(now)
            .bind(data.as_str())
            .execute(&mut **tx)
            .await?;
        }
        if let Some(payment_id) = after.payment_id.as_deref() {
            let counted = |m: &MoneyOut| if m.status == PaymentStatus::Succeeded { m.amount } else { 0 };
            let delta = counted(after) - counted(before);
            if delta != 0 {
                sqlx::query("UPDATE payments SET refunded_amount = refunded_amount + $1 WHERE id = $2")
                    .bind(delta)
                    .bind(payment_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Self::log_payment(tx, after, &format!("refund {} {}", after.id, after.status.as_str()), now).await?;
        }
        Ok(())
    }

    /// Keep one answer raw and apply it to what its secret names.
    async fn record_one(tx: &mut HeldTx<DB>, item: &ResultIn, for_update: &str) -> Result<ResultApplied> {
        let by_main = Self::lock(tx, "callback_secret", &item.secret, for_update).await?;
        let (found, by_query) = match by_main {
            Some(m) => (Some(m), false),
            None => (Self::lock(tx, "query_secret", &item.secret, for_update).await?, true),
        };
        let Some(before) = found else {
            let done: Option<(String,)> = sqlx::query_as(
                "UPDATE balance_reads SET raw_body = $1, received_at = $2 WHERE secret = $3 AND raw_body IS NULL \
                 RETURNING secret",
            )
            .bind(item.raw_body.as_slice())
            .bind(item.now)
            .bind(item.secret.as_str())
            .fetch_optional(&mut **tx)
            .await?;
            let balance = done.is_some();
            let (body, note) = if balance {
                (&item.raw_body[..0], "balance read".to_string())
            } else {
                let cut = item.raw_body.len().min(STRAY_BODY_MAX);
                (&item.raw_body[..cut], format!("unknown secret ({} bytes)", item.raw_body.len()))
            };
            if !balance {
                Self::keep(tx, None, if item.timeout { "timeout" } else { "result" }, body, &note, item.now).await?;
            }
            return Ok(ResultApplied { object: None, changed: false, balance });
        };
        let path = path_of(by_query, item.timeout);
        let parsed = daraja::DarajaResult::parse(&item.raw_body).ok();
        let change = decide(&before, path, parsed.as_ref(), item.now);
        let note = match (&parsed, &change) {
            (None, _) => "unparseable".to_string(),
            (Some(_), None) => "recorded (no change)".to_string(),
            (Some(_), Some(c)) if c.status == before.status => "applied (still pending)".to_string(),
            (Some(_), Some(c)) => format!("applied: {}", c.status.as_str()),
        };
        Self::keep(tx, Some(&before.id), path.as_str(), &item.raw_body, &note, item.now).await?;
        let Some(change) = change else {
            return Ok(ResultApplied { object: Some(before), changed: false, balance: false });
        };
        let after = change.apply(&before, item.now);
        Self::write_change(tx, &before, &after, item.now).await?;
        let changed = after.status != before.status;
        Ok(ResultApplied { object: Some(after), changed, balance: false })
    }

    async fn keep(
        tx: &mut HeldTx<DB>,
        object_id: Option<&str>,
        path: &str,
        body: &[u8],
        note: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO money_out_results (object_id, path, raw_body, received_at, note) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(object_id)
        .bind(path)
        .bind(body)
        .bind(now)
        .bind(note)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

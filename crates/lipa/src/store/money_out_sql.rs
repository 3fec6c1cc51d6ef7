//! The SQL of [`MoneyOutStore`], once for both databases: a blanket impl over [`Pools`], generic in the
//! sqlx database. Each method is one transaction on the backend's held write connections.

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

use super::held::HeldPool;
use super::money_out::*;
use super::money_out_tx::{Conn, Sql};
use super::{Page, Result, StoreError};
use crate::domain::money_out::{Change, MoneyOut};
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

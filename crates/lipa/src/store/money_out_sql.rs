//! The SQL of [`MoneyOutStore`], once for both databases like the rest of [`SqlStore`]. Each method is one
//! transaction on the held write connections; the statements they are made of are in `money_out_tx.rs`.

use async_trait::async_trait;

use super::held::HeldTx;
use super::money_out::*;
use super::query::sql;
use super::sql::{Backend, SqlStore};
use super::{Idempotency, Page, Result, StoreError};
use crate::domain::money_out::{Change, MoneyOut};
use crate::domain::PaymentStatus;

#[async_trait]
impl<DB: Backend> MoneyOutStore for SqlStore<DB> {
    async fn create_payout(&self, new: NewPayout) -> Result<MoneyOutCreated> {
        let (key_id, idem) = (new.api_key_id.as_deref(), new.idempotency.as_ref());
        let mut tx = match self.begin_create(key_id, idem).await? {
            Ok(tx) => tx,
            Err(replay) => return Ok(replay),
        };
        Self::insert_money_out(&mut tx, &new.payout, key_id).await?;
        self.claim_and_commit(tx, key_id, idem, new.payout).await
    }

    async fn create_refund(&self, new: NewRefund) -> Result<MoneyOutCreated> {
        let (key_id, idem) = (new.api_key_id.as_deref(), new.idempotency.as_ref());
        let mut tx = match self.begin_create(key_id, idem).await? {
            Ok(tx) => tx,
            Err(replay) => return Ok(replay),
        };
        let refund = match Self::refund_row(&mut tx, &new).await {
            Ok(r) => r,
            // Nothing was written: committing releases the payment's lock at once.
            Err(e @ (StoreError::Refused { .. } | StoreError::NotFound)) => {
                tx.commit().await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        Self::insert_money_out(&mut tx, &refund, key_id).await?;
        Self::log_refund(
            &mut tx,
            &refund,
            &format!("refund {} of KES {} created", refund.id, refund.draft.amount),
            new.now,
        )
        .await?;
        self.claim_and_commit(tx, key_id, idem, refund).await
    }

    async fn get_money_out(&self, id: &str) -> Result<Option<MoneyOut>> {
        Self::money_out_by(&self.reader, "id", id, "").await
    }

    async fn list_money_out(&self, f: &MoneyOutFilter) -> Result<Page<MoneyOut>> {
        let q = format!(
            "SELECT {MONEY_OUT_COLUMNS} FROM money_out WHERE object = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR status = $2) AND (CAST($3 AS TEXT) IS NULL OR phone = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR payment_id = $4) \
             AND (CAST($5 AS TEXT) IS NULL OR seq < (SELECT seq FROM money_out WHERE id = $5)) \
             ORDER BY seq DESC LIMIT $6"
        );
        let rows: Vec<MoneyOutRow> = sql::<DB>(&q)
            .bind(f.object.as_str())
            .bind(f.status.as_deref())
            .bind(f.phone.as_deref())
            .bind(f.payment_id.as_deref())
            .bind(f.starting_after.as_deref())
            .bind(f.limit + 1)
            .fetch_all(&self.reader)
            .await?;
        Page::of(rows, f.limit, MoneyOut::try_from)
    }

    async fn money_out_sending(&self, id: &str, next_check_at: i64, now: i64) -> Result<bool> {
        let done: Option<(String,)> = sql::<DB>(
            "UPDATE money_out SET send_state = 'sending', next_check_at = $1, updated_at = $2 \
             WHERE id = $3 AND send_state = 'queued' AND status = 'pending' RETURNING id",
        )
        .bind(next_check_at)
        .bind(now)
        .bind(id)
        .fetch_optional(&self.writer)
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
        let mut tx = self.write_tx().await?;
        // A result may already have settled it (it can come before the acknowledgement): only the ids are kept.
        sql::<DB>(
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
        let found = Self::money_out_by(&mut *tx, "id", id, "").await?;
        tx.commit().await?;
        Ok(found)
    }

    async fn money_out_retry_at(&self, id: &str, next_check_at: i64, attempted: bool, now: i64) -> Result<()> {
        sql::<DB>(
            "UPDATE money_out SET next_check_at = $1, check_attempts = check_attempts + $2, lease_until = NULL, \
             updated_at = $3 WHERE id = $4 AND status = 'pending'",
        )
        .bind(next_check_at)
        .bind(i64::from(attempted))
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn money_out_change(&self, id: &str, change: &Change, now: i64) -> Result<Option<MoneyOut>> {
        let mut tx = self.write_tx().await?;
        let Some(before) = Self::money_out_by(&mut *tx, "id", id, DB::FOR_UPDATE).await? else { return Ok(None) };
        if before.outcome.status != PaymentStatus::Pending {
            return Ok(None);
        }
        let after = change.apply(&before, now);
        Self::write_change(&mut tx, &before, &after, now).await?;
        tx.commit().await?;
        Ok(Some(after))
    }

    async fn record_money_out_results(&self, batch: &[ResultIn]) -> Result<Vec<ResultApplied>> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(batch.len());
        for item in batch {
            out.push(Self::record_result(&mut tx, item).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn claim_due_money_out(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<MoneyOut>> {
        let mut tx = self.write_tx().await?;
        let q = format!(
            "UPDATE money_out SET lease_until = $1 WHERE id IN (SELECT id FROM money_out WHERE status = 'pending' \
             AND next_check_at <= $2 AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_check_at \
             LIMIT $3{}) RETURNING {MONEY_OUT_COLUMNS}",
            DB::SKIP_LOCKED
        );
        let rows: Vec<MoneyOutRow> = sql::<DB>(&q).bind(lease_until).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.into_iter().map(MoneyOut::try_from).collect()
    }

    async fn money_out_results(&self, id: &str) -> Result<Vec<ResultRecord>> {
        let rows: Vec<(i64, String, String, Vec<u8>)> = sql::<DB>(
            "SELECT received_at, path, note, raw_body FROM money_out_results WHERE object_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|(at, path, note, raw_body)| ResultRecord { at, path, note, raw_body }).collect())
    }

    async fn balance_requested(&self, secret: &str, now: i64) -> Result<()> {
        let mut conn = self.writer.conn().await?;
        // Reads older than a day are of no use to anyone: dropped as new ones come.
        sql::<DB>("DELETE FROM balance_reads WHERE requested_at < $1")
            .bind(now - 86_400_000)
            .execute(&mut *conn)
            .await?;
        sql::<DB>("INSERT INTO balance_reads (secret, requested_at) VALUES ($1, $2)")
            .bind(secret)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn balance_result(&self, secret: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Option<Vec<u8>>,)> = sql::<DB>("SELECT raw_body FROM balance_reads WHERE secret = $1")
            .bind(secret)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.and_then(|(b,)| b))
    }
}

impl<DB: Backend> SqlStore<DB> {
    /// The write transaction of a new payout or refund, or (Err) what an earlier request with the same
    /// idempotency key made.
    async fn begin_create(
        &self,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> Result<std::result::Result<HeldTx<DB>, MoneyOutCreated>> {
        let mut tx = self.write_tx().await?;
        match Self::money_out_replay(&mut tx, key_id, idem).await? {
            Some(found) => {
                tx.commit().await?;
                Ok(Err(found))
            }
            None => Ok(Ok(tx)),
        }
    }

    /// Claim the request's idempotency key for the new `m` and commit; when another request claimed the key
    /// first, nothing is written and the answer is what that request made.
    async fn claim_and_commit(
        &self,
        mut tx: HeldTx<DB>,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
        m: MoneyOut,
    ) -> Result<MoneyOutCreated> {
        if !Self::claim_money_out_key(&mut tx, key_id, idem, &m).await? {
            drop(tx);
            return self.replay_after_race(key_id, idem).await;
        }
        tx.commit().await?;
        Ok(MoneyOutCreated::New(m))
    }

    /// The idempotency-key race lost: another request claimed the key first and has committed; its object.
    async fn replay_after_race(&self, key_id: Option<&str>, idem: Option<&Idempotency>) -> Result<MoneyOutCreated> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else {
            return Err(StoreError::Corrupt("an idempotency key was lost without one".into()));
        };
        let row = Self::key_claim(&self.reader, key_id, idem).await?;
        let (hash, id) = row.ok_or_else(|| StoreError::Corrupt("a claimed idempotency key is missing".into()))?;
        let object = self.get_money_out(&id).await?.ok_or(StoreError::NotFound)?;
        Ok(MoneyOutCreated::Replay { object, same_request: hash == idem.request_hash })
    }
}

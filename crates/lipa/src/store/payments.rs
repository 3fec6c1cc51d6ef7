//! Payments: creating one (with its idempotency key), reading them, the push's answers, decisions by
//! query, timer or operator, and the due checks of reconciliation.

use super::apply::Writes;
use super::held::HeldTx;
use super::query::{sql, Sql};
use super::rows::{violates, PaymentRow, PAYMENT_COLUMNS};
use super::sql::{Backend, SqlStore};
use super::*;
use crate::domain::{decide, history};

impl<DB: Backend> SqlStore<DB> {
    /// The payment row is its own "created" history entry (see `history.rs`). A reused idempotency key
    /// answers with the payment it made as it is now; waiting for its push is the caller's business.
    pub(super) async fn create(&self, new: NewPayment) -> Result<Created> {
        let insert = Self::insert_payment(&new.payment, new.pending_guard.as_deref(), new.api_key_id.as_deref());
        let ins_err = |e: sqlx::Error| {
            if violates(&e, "pending_guard") {
                StoreError::ReferencePending
            } else if violates(&e, "account_reference") {
                StoreError::AccountReferenceTaken
            } else {
                e.into()
            }
        };
        let Some(idem) = &new.idempotency else {
            // No idempotency key: one statement, one commit.
            insert.execute(&self.writer).await.map_err(ins_err)?;
            return Ok(Created::New(new.payment));
        };
        let (p, key_id) = (&new.payment, new.api_key_id.as_deref().unwrap_or_default());
        let claimed_by = "SELECT request_hash, payment_id FROM idempotency_keys WHERE key_id = $1 AND idem_key = $2";
        let mut tx = self.write_tx().await?;
        let found: Option<(String, String)> =
            sql::<DB>(claimed_by).bind(key_id).bind(idem.key.as_str()).fetch_optional(&mut *tx).await?;
        if let Some((hash, payment_id)) = found {
            drop(tx);
            return self.replay(&payment_id, hash == idem.request_hash).await;
        }
        // Claimed first, so that a racing twin waits on this key, not on the reference guard.
        let claimed = sql::<DB>(
            "INSERT INTO idempotency_keys (key_id, idem_key, request_hash, payment_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(key_id)
        .bind(idem.key.as_str())
        .bind(idem.request_hash.as_str())
        .bind(p.id.as_str())
        .bind(p.created_at)
        .execute(&mut *tx)
        .await;
        match claimed {
            Ok(_) => {}
            Err(e) if violates(&e, "idempotency_keys") => {
                drop(tx);
                let (hash, payment_id): (String, String) =
                    sql::<DB>(claimed_by).bind(key_id).bind(idem.key.as_str()).fetch_one(&self.writer).await?;
                return self.replay(&payment_id, hash == idem.request_hash).await;
            }
            Err(e) => return Err(e.into()),
        }
        insert.execute(&mut *tx).await.map_err(ins_err)?;
        tx.commit().await?;
        Ok(Created::New(new.payment))
    }

    /// A new payment's row, as the payment is (a C2B payment is written already settled).
    pub(super) fn insert_payment<'q>(
        p: &'q Payment,
        pending_guard: Option<&'q str>,
        api_key_id: Option<&'q str>,
    ) -> Sql<'q, DB> {
        sql::<DB>(
            "INSERT INTO payments (id, status, amount, phone, reference, description, metadata, return_url, \
             push_state, callback_secret, pending_guard, api_key_id, created_at, updated_at, next_check_at, \
             account_reference, completed_at, channel, payer_name, paid_amount, mpesa_receipt, result_code, \
             result_desc, review_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $23, $24)",
        )
        .bind(p.id.as_str())
        .bind(p.status.as_str())
        .bind(p.amount)
        .bind(p.phone.as_deref())
        .bind(p.reference.as_str())
        .bind(p.description.as_str())
        .bind(p.metadata.to_string())
        .bind(p.return_url.as_deref())
        .bind(p.push_state.as_str())
        .bind(p.callback_secret.as_str())
        .bind(pending_guard)
        .bind(api_key_id)
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.next_check_at)
        .bind(p.account_reference.as_str())
        .bind(p.completed_at)
        .bind(p.channel.as_str())
        .bind(p.payer_name.as_deref())
        .bind(p.paid_amount)
        .bind(p.mpesa_receipt.as_deref())
        .bind(p.result_code.as_deref())
        .bind(p.result_desc.as_deref())
        .bind(p.review_reason.as_deref())
    }

    async fn replay(&self, payment_id: &str, same_request: bool) -> Result<Created> {
        let payment = self.payment(payment_id).await?.ok_or(StoreError::NotFound)?;
        Ok(Created::Replay { payment, same_request })
    }

    pub(super) async fn payment(&self, id: &str) -> Result<Option<Payment>> {
        Self::payment_by(&self.reader, "id", id, "").await
    }

    pub(super) async fn payments(&self, f: &PaymentFilter) -> Result<Page<Payment>> {
        let q = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments \
             WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR reference = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR phone = $3) \
             AND (CAST($4 AS TEXT) IS NULL OR seq < (SELECT seq FROM payments WHERE id = $4)) \
             AND (CAST($6 AS BIGINT) IS NULL OR created_at >= $6) \
             AND (CAST($7 AS BIGINT) IS NULL OR created_at < $7) \
             AND (CAST($8 AS TEXT) IS NULL OR UPPER(account_reference) = UPPER($8)) \
             AND (CAST($9 AS TEXT) IS NULL OR channel = $9) \
             ORDER BY seq DESC LIMIT $5"
        );
        let rows: Vec<PaymentRow> = sql::<DB>(&q)
            .bind(f.status.as_deref())
            .bind(f.reference.as_deref())
            .bind(f.phone.as_deref())
            .bind(f.starting_after.as_deref())
            .bind(f.limit + 1)
            .bind(f.created_from)
            .bind(f.created_before)
            .bind(f.account_reference.as_deref())
            .bind(f.channel.as_deref())
            .fetch_all(&self.reader)
            .await?;
        Page::of(rows, f.limit, Payment::try_from)
    }

    /// One statement, one commit: the row is also the history's "push accepted" line.
    pub(super) async fn accepted(
        &self,
        id: &str,
        checkout_request_id: &str,
        merchant_request_id: &str,
        next_check_at: i64,
        now: i64,
    ) -> Result<Option<Payment>> {
        let q = format!(
            "UPDATE payments SET push_state = 'accepted', checkout_request_id = $1, merchant_request_id = $2, \
             next_check_at = CASE WHEN status = 'pending' THEN $3 ELSE next_check_at END, updated_at = $4, \
             push_accepted_at = $4 WHERE id = $5 RETURNING {PAYMENT_COLUMNS}"
        );
        let row: Option<PaymentRow> = sql::<DB>(&q)
            .bind(checkout_request_id)
            .bind(merchant_request_id)
            .bind(next_check_at)
            .bind(now)
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        row.map(Payment::try_from).transpose()
    }

    pub(super) async fn unknown(&self, id: &str, why: &str, next_check_at: i64, now: i64) -> Result<Option<Payment>> {
        let q = format!(
            "UPDATE payments SET push_state = 'unknown', next_check_at = $1, updated_at = $2 \
             WHERE id = $3 AND push_state = 'sending' RETURNING {PAYMENT_COLUMNS}"
        );
        let mut tx = self.write_tx().await?;
        let row: Option<PaymentRow> =
            sql::<DB>(&q).bind(next_check_at).bind(now).bind(id).fetch_optional(&mut *tx).await?;
        Self::log_tx(&mut tx, id, "push", &history::push_unknown(why), now).await?;
        tx.commit().await?;
        row.map(Payment::try_from).transpose()
    }

    pub(super) async fn set_phone(&self, id: &str, phone: &str, now: i64) -> Result<Option<Payment>> {
        let q = format!(
            "UPDATE payments SET phone = $1, push_state = 'sending', updated_at = $2 \
             WHERE id = $3 AND status = 'pending' AND push_state = 'awaiting_phone' RETURNING {PAYMENT_COLUMNS}"
        );
        let mut tx = self.write_tx().await?;
        let row: Option<PaymentRow> = sql::<DB>(&q).bind(phone).bind(now).bind(id).fetch_optional(&mut *tx).await?;
        if row.is_some() {
            Self::log_tx(&mut tx, id, "checkout", history::PHONE_ENTERED, now).await?;
        }
        tx.commit().await?;
        row.map(Payment::try_from).transpose()
    }

    pub(super) async fn apply(&self, id: &str, source: Source, outcome: &Outcome, now: i64) -> Result<Applied> {
        let mut tx = self.write_tx().await?;
        let p = Self::payment_by(&mut *tx, "id", id, DB::FOR_UPDATE).await?.ok_or(StoreError::NotFound)?;
        let applied = Self::apply_tx(&mut tx, &p, source, outcome, now).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// An operator's resolution, its note in the history; nothing changes when the payment is not under
    /// review.
    pub(super) async fn resolve(&self, id: &str, outcome: &Outcome, now: i64) -> Result<Applied> {
        let mut tx = self.write_tx().await?;
        let p = Self::payment_by(&mut *tx, "id", id, DB::FOR_UPDATE).await?.ok_or(StoreError::NotFound)?;
        if decide(&p, outcome).is_none() {
            return Ok(Applied { payment: Some(p), decision: None, event_id: None });
        }
        let applied = Self::apply_tx(&mut tx, &p, Source::Operator, outcome, now).await?;
        let detail = history::resolution(outcome, &p, applied.payment.as_ref());
        Self::log_tx(&mut tx, &p.id, "review", &detail, now).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Apply an answer to a locked payment and write what it did, inside the caller's transaction.
    async fn apply_tx(
        tx: &mut HeldTx<DB>,
        p: &Payment,
        source: Source,
        outcome: &Outcome,
        now: i64,
    ) -> Result<Applied> {
        let mut p = p.clone();
        let mut w = Writes::default();
        let applied = w.apply(&mut p, source, outcome, now);
        // Only an operator's decision carries a resolution; the callback path never writes one.
        let resolved = applied.decision.as_ref().is_some_and(|d| d.resolution.is_some());
        if let (true, Some(r)) = (resolved, p.resolution.as_ref()) {
            sql::<DB>(
                "UPDATE payments SET resolution_outcome = $1, resolved_by = $2, resolved_at = $3, \
                 resolution_note = $4, dismissed_receipt = $5 WHERE id = $6",
            )
            .bind(r.outcome.as_str())
            .bind(r.by.as_str())
            .bind(r.at)
            .bind(r.note.as_str())
            .bind(r.dismissed_receipt.as_deref())
            .bind(p.id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        let changed: Vec<&Payment> = if w.changed.is_empty() { vec![] } else { vec![&p] };
        DB::write_rows(tx, &w, &changed).await?;
        Ok(applied)
    }

    pub(super) async fn due_checks(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Payment>> {
        let q = format!(
            "UPDATE payments SET lease_until = $1 WHERE id IN (\
             SELECT id FROM payments{} WHERE status = 'pending' AND next_check_at <= $2 \
             AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_check_at LIMIT $3{}) \
             RETURNING {PAYMENT_COLUMNS}",
            DB::DUE_INDEX,
            DB::SKIP_LOCKED
        );
        let mut tx = self.write_tx().await?;
        let rows: Vec<PaymentRow> = sql::<DB>(&q).bind(lease_until).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        rows.into_iter().map(Payment::try_from).collect()
    }

    /// Put a claimed payment back with its next check time; the note is the check's history line.
    pub(super) async fn reschedule(&self, id: &str, next_check_at: i64, note: &str, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sql::<DB>(
            "UPDATE payments SET next_check_at = $1, check_attempts = check_attempts + 1, lease_until = NULL \
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(next_check_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Self::log_tx(&mut tx, id, "query", note, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

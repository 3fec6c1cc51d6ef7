//! The statements [`super::money_out::MoneyOutStore`]'s units of work are made of, for any [`Backend`], each
//! run inside the caller's transaction.

use super::held::HeldTx;
use super::money_out::*;
use super::query::{sql, On};
use super::sql::{Backend, SqlStore};
use super::upkeep::STRAY_BODY_MAX;
use super::{Idempotency, Result, StoreError};
use crate::domain::money_out::{decide, Draft, MoneyOut, Object, SendState};
use crate::domain::PaymentStatus;

fn refused(code: &'static str, message: impl Into<String>) -> StoreError {
    StoreError::Refused { code, message: message.into() }
}

impl<DB: Backend> SqlStore<DB> {
    /// The refund a request makes, decided under the payment's lock: what is left, the method's needs.
    pub(super) async fn refund_row(tx: &mut HeldTx<DB>, new: &NewRefund) -> Result<MoneyOut> {
        // The payment is locked (PostgreSQL) or the database is (SQLite's one writer) until the refund is in.
        let q = format!("SELECT status, amount, phone, mpesa_receipt FROM payments WHERE id = $1{}", DB::FOR_UPDATE);
        let payment: Option<(String, i64, Option<String>, Option<String>)> =
            sql::<DB>(&q).bind(new.payment_id.as_str()).fetch_optional(&mut **tx).await?;
        let Some((status, paid, phone, receipt)) = payment else { return Err(StoreError::NotFound) };
        if status != PaymentStatus::Succeeded.as_str() {
            return Err(refused(
                "payment_not_refundable",
                format!("only a succeeded payment can be refunded; this one is {status}"),
            ));
        }
        let (held,): (i64,) = sql::<DB>(
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

    /// The row by a column (`id`, `callback_secret` or `query_secret`; see [`Self::row_by`] for `lock`).
    pub(super) async fn money_out_by<'a>(
        on: impl Into<On<'a, DB>>,
        column: &str,
        value: &str,
        lock: &str,
    ) -> Result<Option<MoneyOut>> {
        Self::row_by::<MoneyOutRow, MoneyOut>(on, (MONEY_OUT_COLUMNS, "money_out"), column, value, lock).await
    }

    pub(super) async fn money_out_replay(
        tx: &mut HeldTx<DB>,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
    ) -> Result<Option<MoneyOutCreated>> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else { return Ok(None) };
        let Some((hash, id)) = Self::key_claim(&mut **tx, key_id, idem).await? else { return Ok(None) };
        let object = Self::money_out_by(&mut **tx, "id", &id, "").await?.ok_or(StoreError::NotFound)?;
        Ok(Some(MoneyOutCreated::Replay { object, same_request: hash == idem.request_hash }))
    }

    /// Who claimed an idempotency key: the request's hash and the object it made.
    pub(super) async fn key_claim<'a>(
        on: impl Into<On<'a, DB>>,
        key_id: &'a str,
        idem: &'a Idempotency,
    ) -> Result<Option<(String, String)>> {
        let q = "SELECT request_hash, object_id FROM money_out_idempotency WHERE key_id = $1 AND idem_key = $2";
        Ok(sql::<DB>(q).bind(key_id).bind(idem.key.as_str()).fetch_optional(on).await?)
    }

    /// Claim the idempotency key for `m`; false when another request holds it (ON CONFLICT waits for it).
    pub(super) async fn claim_money_out_key(
        tx: &mut HeldTx<DB>,
        key_id: Option<&str>,
        idem: Option<&Idempotency>,
        m: &MoneyOut,
    ) -> Result<bool> {
        let (Some(key_id), Some(idem)) = (key_id, idem) else { return Ok(true) };
        let done: Option<(String,)> = sql::<DB>(
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

    pub(super) async fn insert_money_out(tx: &mut HeldTx<DB>, m: &MoneyOut, api_key_id: Option<&str>) -> Result<()> {
        let metadata = m.draft.metadata.to_string();
        sql::<DB>(
            "INSERT INTO money_out (id, object, status, amount, phone, kind, method, remarks, metadata, payment_id, \
             original_receipt, send_state, callback_secret, query_secret, originator_conversation_id, api_key_id, \
             created_at, updated_at, next_check_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18)",
        )
        .bind(m.id.as_str())
        .bind(m.draft.object.as_str())
        .bind(m.outcome.status.as_str())
        .bind(m.draft.amount)
        .bind(m.draft.phone.as_deref())
        .bind(m.draft.kind.as_str())
        .bind(m.draft.method.as_str())
        .bind(m.draft.remarks.as_str())
        .bind(metadata.as_str())
        .bind(m.draft.payment_id.as_deref())
        .bind(m.draft.original_receipt.as_deref())
        .bind(SendState::Queued.as_str())
        .bind(m.callback_secret.as_str())
        .bind(m.query_secret.as_str())
        .bind(m.originator_conversation_id.as_deref())
        .bind(api_key_id)
        .bind(m.created_at)
        .bind(m.outcome.next_check_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// A refund's line in its payment's history.
    pub(super) async fn log_refund(tx: &mut HeldTx<DB>, m: &MoneyOut, detail: &str, now: i64) -> Result<()> {
        match m.draft.payment_id.as_deref() {
            Some(payment_id) => Self::log_tx(tx, payment_id, "refund", detail, now).await,
            None => Ok(()),
        }
    }

    /// Write a decided change: the row, its event when the status changed, and a refund's effect on its
    /// payment's `refunded_amount` (what succeeded refunds gave back).
    pub(super) async fn write_change(tx: &mut HeldTx<DB>, before: &MoneyOut, after: &MoneyOut, now: i64) -> Result<()> {
        let o = &after.outcome;
        sql::<DB>(
            "UPDATE money_out SET status = $1, mpesa_receipt = $2, recipient_name = $3, result_code = $4, \
             result_desc = $5, failure_reason = $6, review_reason = $7, completed_at = $8, next_check_at = $9, \
             updated_at = $10, lease_until = NULL WHERE id = $11",
        )
        .bind(o.status.as_str())
        .bind(o.mpesa_receipt.as_deref())
        .bind(o.recipient_name.as_deref())
        .bind(o.result_code.as_deref())
        .bind(o.result_desc.as_deref())
        .bind(o.failure_reason.as_deref())
        .bind(o.review_reason.as_deref())
        .bind(o.completed_at)
        .bind(o.next_check_at)
        .bind(now)
        .bind(after.id.as_str())
        .execute(&mut **tx)
        .await?;
        if before.outcome.status == after.outcome.status {
            return Ok(());
        }
        if let Some(ty) = after.event_type() {
            let data = crate::api::money_out::object_json(after).to_string();
            Self::event_tx(tx, ty.as_str(), &after.id, &data, now).await?;
        }
        if let Some(payment_id) = after.draft.payment_id.as_deref() {
            let counted = |m: &MoneyOut| if m.outcome.status == PaymentStatus::Succeeded { m.draft.amount } else { 0 };
            let delta = counted(after) - counted(before);
            if delta != 0 {
                sql::<DB>("UPDATE payments SET refunded_amount = refunded_amount + $1 WHERE id = $2")
                    .bind(delta)
                    .bind(payment_id)
                    .execute(&mut **tx)
                    .await?;
            }
            Self::log_refund(tx, after, &format!("refund {} {}", after.id, after.outcome.status.as_str()), now).await?;
        }
        Ok(())
    }

    /// Keep one answer raw and apply it to what its secret names.
    pub(super) async fn record_result(tx: &mut HeldTx<DB>, item: &ResultIn) -> Result<ResultApplied> {
        let by_main = Self::money_out_by(&mut **tx, "callback_secret", item.secret.as_str(), DB::FOR_UPDATE).await?;
        let (found, by_query) = match by_main {
            Some(m) => (Some(m), false),
            None => (Self::money_out_by(&mut **tx, "query_secret", item.secret.as_str(), DB::FOR_UPDATE).await?, true),
        };
        let Some(before) = found else {
            let done: Option<(String,)> = sql::<DB>(
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
                Self::keep_result(tx, None, if item.timeout { "timeout" } else { "result" }, body, &note, item.now)
                    .await?;
            }
            return Ok(ResultApplied { object: None, changed: false, balance });
        };
        let path = path_of(by_query, item.timeout);
        let parsed = daraja::DarajaResult::parse(&item.raw_body).ok();
        let change = decide(&before, path, parsed.as_ref(), item.now);
        let note = match (&parsed, &change) {
            (None, _) => "unparseable".to_string(),
            (Some(_), None) => "recorded (no change)".to_string(),
            (Some(_), Some(c)) if c.status == before.outcome.status => "applied (still pending)".to_string(),
            (Some(_), Some(c)) => format!("applied: {}", c.status.as_str()),
        };
        Self::keep_result(tx, Some(&before.id), path.as_str(), &item.raw_body, &note, item.now).await?;
        let Some(change) = change else {
            return Ok(ResultApplied { object: Some(before), changed: false, balance: false });
        };
        let after = change.apply(&before, item.now);
        Self::write_change(tx, &before, &after, item.now).await?;
        let changed = after.outcome.status != before.outcome.status;
        Ok(ResultApplied { object: Some(after), changed, balance: false })
    }

    async fn keep_result(
        tx: &mut HeldTx<DB>,
        object_id: Option<&str>,
        path: &str,
        body: &[u8],
        note: &str,
        now: i64,
    ) -> Result<()> {
        sql::<DB>(
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

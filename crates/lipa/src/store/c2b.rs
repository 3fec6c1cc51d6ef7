//! The store's C2B part: confirmations recorded (deduplicated by `TransID`) and matched to payments,
//! validations kept, the installation's callback secret. Written once, generic over the database like the
//! rest of [`SqlStore`]: how a write transaction begins and how rows are locked are the [`Backend`]'s.

use async_trait::async_trait;

use super::held::HeldTx;
use super::query::sql;
use super::rows::{PaymentRow, PAYMENT_COLUMNS};
use super::sql::{Backend, SqlStore};
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

/// How many of the latest known phones a v1 (hashed) number is compared with when it pays no open payment.
const KNOWN_PHONES: i64 = 2000;

#[async_trait]
impl<DB: Backend> C2bStore for SqlStore<DB> {
    async fn c2b_secret(&self, key: &str, fresh: &str) -> Result<String> {
        let mut c = self.writer.conn().await?;
        sql::<DB>("INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING")
            .bind(key)
            .bind(fresh)
            .execute(&mut *c)
            .await?;
        let (v,): (String,) = sql::<DB>("SELECT v FROM kv WHERE k = $1").bind(key).fetch_one(&mut *c).await?;
        Ok(v)
    }

    async fn record_c2b_confirmations(&self, batch: &[C2bIn]) -> Result<Vec<C2bApplied>> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(batch.len());
        for c in batch {
            out.push(Self::confirm(&mut tx, c).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn open_payment_for_account(&self, account: &str) -> Result<Option<Payment>> {
        let mut c = self.reader.acquire().await?;
        Self::find_open(&mut *c, "", account).await
    }

    async fn record_c2b_validation(&self, v: &ValidationIn) -> Result<()> {
        sql::<DB>(
            "INSERT INTO c2b_validations (trans_id, raw_body, received_at, result_code, payment_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(v.trans_id.as_deref())
        .bind(v.raw_body.as_slice())
        .bind(v.now)
        .bind(v.result_code.as_str())
        .bind(v.payment_id.as_deref())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

impl<DB: Backend> SqlStore<DB> {
    /// The open payment `account` names, locked with `lock`: by account reference first, then by reference.
    async fn find_open(conn: &mut DB::Connection, lock: &str, account: &str) -> Result<Option<Payment>> {
        let account = account.trim();
        if account.is_empty() {
            return Ok(None);
        }
        for column in ["account_reference", "reference"] {
            let q = format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE status = 'pending' AND UPPER({column}) = UPPER($1) \
                 ORDER BY seq LIMIT 1{lock}"
            );
            let row: Option<PaymentRow> = sql::<DB>(&q).bind(account).fetch_optional(&mut *conn).await?;
            if let Some(row) = row {
                return Payment::try_from(row).map(Some);
            }
        }
        Ok(None)
    }

    /// Record one confirmation and apply it inside the caller's transaction.
    async fn confirm(tx: &mut HeldTx<DB>, c: &C2bIn) -> Result<C2bApplied> {
        let Some(n) = &c.notification else {
            sql::<DB>("INSERT INTO c2b_transactions (raw_body, received_at, note) VALUES ($1, $2, $3)")
                .bind(c.raw_body.as_slice())
                .bind(c.now)
                .bind("unparseable body")
                .execute(&mut **tx)
                .await?;
            return Ok(C2bApplied { effect: C2bEffect::Unparseable, payment: None, event_id: None });
        };
        let mut paid = C2bPaid::of(n);
        let recorded: Option<(i64,)> = sql::<DB>(
            "INSERT INTO c2b_transactions (trans_id, raw_body, received_at, amount, account, short_code, msisdn, \
             payer_name, trans_time, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (trans_id) DO NOTHING RETURNING seq",
        )
        .bind(paid.trans_id.as_str())
        .bind(c.raw_body.as_slice())
        .bind(c.now)
        .bind(paid.amount)
        .bind(paid.account.as_str())
        .bind(paid.short_code.as_str())
        .bind(n.msisdn.as_wire())
        .bind(paid.payer_name.as_deref())
        .bind(n.trans_time.as_str())
        .bind("recorded")
        .fetch_optional(&mut **tx)
        .await?;
        let Some((seq,)) = recorded else {
            return Ok(C2bApplied { effect: C2bEffect::Duplicate, payment: None, event_id: None });
        };
        let open = Self::find_open(&mut **tx, DB::FOR_UPDATE, &paid.account).await?;
        // v1 sends a SHA-256 of the payer's number: a phone lipa knows is matched by hashing it.
        if paid.payer_phone.is_none() {
            if let Some(phone) = open.as_ref().and_then(|p| p.phone.clone()) {
                if rules::payer_is(&n.msisdn, &phone) {
                    paid.payer_phone = Some(phone);
                }
            } else if matches!(n.msisdn, daraja::c2b::C2bMsisdn::Hashed(_)) {
                let known: Vec<(String,)> =
                    sql::<DB>("SELECT phone FROM payments WHERE phone IS NOT NULL ORDER BY seq DESC LIMIT $1")
                        .bind(KNOWN_PHONES)
                        .fetch_all(&mut **tx)
                        .await?;
                paid.payer_phone = known.into_iter().map(|(p,)| p).find(|p| rules::payer_is(&n.msisdn, p));
            }
        }
        let (effect, p) = match &open {
            Some(before) => {
                let p = rules::settle(before, &paid, c.now);
                sql::<DB>(
                    "UPDATE payments SET status = $1, channel = $2, payer_name = $3, paid_amount = $4, phone = $5, \
                     mpesa_receipt = $6, result_code = $7, result_desc = $8, failure_reason = NULL, \
                     review_reason = $9, updated_at = $10, completed_at = $11, lease_until = NULL WHERE id = $12",
                )
                .bind(p.status.as_str())
                .bind(p.channel.as_str())
                .bind(p.payer_name.as_deref())
                .bind(p.paid_amount)
                .bind(p.phone.as_deref())
                .bind(p.mpesa_receipt.as_deref())
                .bind(p.result_code.as_deref())
                .bind(p.result_desc.as_deref())
                .bind(p.review_reason.as_deref())
                .bind(p.updated_at)
                .bind(p.completed_at)
                .bind(p.id.as_str())
                .execute(&mut **tx)
                .await?;
                (C2bEffect::Matched, p)
            }
            None => {
                let p = rules::unmatched_payment(&paid, c.now);
                Self::insert_payment(&p, None, None).execute(&mut **tx).await?;
                (C2bEffect::New, p)
            }
        };
        let note = match effect {
            C2bEffect::Matched => "matched",
            _ => "new payment",
        };
        sql::<DB>("UPDATE c2b_transactions SET payment_id = $1, payer_phone = $2, note = $3 WHERE seq = $4")
            .bind(p.id.as_str())
            .bind(paid.payer_phone.as_deref())
            .bind(note)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
        let event_id = match EventType::for_status(p.status) {
            Some(ev) => {
                let data = crate::api::to_json(&crate::api::Payment::of(&p)).to_string();
                Some(Self::event_tx(tx, ev.as_str(), &p.id, &data, c.now).await?)
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
        Self::log_tx(tx, &p.id, "c2b", &detail, c.now).await?;
        Ok(C2bApplied { effect, payment: Some(p), event_id })
    }
}

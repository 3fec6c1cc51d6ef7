//! Callbacks: every body Daraja sends is kept raw and, when it belongs to a payment, decided by the domain's
//! rules in the same transaction. The hot path is a batch (group commit, see `ingest.rs`); its locking
//! and writing statements are each database's own (see [`Backend`]).

use std::collections::HashMap;

use super::apply::Writes;
use super::held::HeldTx;
use super::query::sql;
use super::sql::{Backend, CallbackItem, SqlStore};
use super::upkeep::{stray_row, STRAY_KEEP, TRIM_STRAYS};
use super::*;

impl<DB: Backend> SqlStore<DB> {
    /// The batch in the transaction `tx` (begun by the backend), committed before this returns.
    pub(super) async fn record_callbacks_locked(
        mut tx: HeldTx<DB>,
        batch: &[CallbackItem<'_>],
    ) -> Result<Vec<Applied>> {
        let secrets = secrets_of(batch);
        let mut payments = DB::lock_by_secrets(&mut tx, &secrets).await?;
        if secrets.iter().any(|s| !payments.contains_key(*s)) {
            // Strangers' callbacks: only the newest few are kept, each cut short (see `upkeep.rs`).
            sql::<DB>(TRIM_STRAYS).bind(STRAY_KEEP - 1).execute(&mut *tx).await?;
        }
        let (w, out) = decide_batch(&mut payments, batch);
        let changed = changed_rows(&w, &payments);
        DB::write_rows(&mut tx, &w, &changed).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Keep a callback that will not be applied: its raw body and why, as the payment's history line.
    pub(super) async fn rejected_callback(&self, secret: &str, raw_body: &[u8], why: &str, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let payment = Self::payment_by(&mut *tx, "callback_secret", secret, DB::FOR_UPDATE).await?;
        let raw_body = match &payment {
            Some(_) => raw_body,
            None => {
                sql::<DB>(TRIM_STRAYS).bind(STRAY_KEEP - 1).execute(&mut *tx).await?;
                stray_row(raw_body).0
            }
        };
        sql::<DB>("INSERT INTO callbacks (payment_id, raw_body, received_at, note) VALUES ($1, $2, $3, $4)")
            .bind(payment.as_ref().map(|p| p.id.as_str()))
            .bind(raw_body)
            .bind(now)
            .bind(format!("rejected: {why}"))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The distinct secrets of a batch, sorted.
pub(super) fn secrets_of<'a>(batch: &[CallbackItem<'a>]) -> Vec<&'a str> {
    let mut secrets: Vec<&str> = batch.iter().map(|c| c.0).collect();
    secrets.sort_unstable();
    secrets.dedup();
    secrets
}

/// Decide each callback, in order, as alone against the rows in memory (a duplicate later in the batch
/// sees the first one's effect), gathering what to write. The callback row itself is the payment's history
/// entry (see `history.rs`).
pub(super) fn decide_batch<'a>(
    payments: &mut HashMap<String, Payment>,
    batch: &[CallbackItem<'a>],
) -> (Writes<'a>, Vec<Applied>) {
    let mut w = Writes::default();
    let mut out = Vec::with_capacity(batch.len());
    for &(secret, raw_body, outcome, now) in batch {
        let payment = payments.get_mut(secret);
        let (raw_body, note) = match (&payment, outcome) {
            (None, _) => stray_row(raw_body),
            (Some(_), None) => (raw_body, "unparseable body".to_string()),
            (Some(_), Some(_)) => (raw_body, "parsed".to_string()),
        };
        w.callbacks.push((payment.as_ref().map(|p| p.id.clone()), raw_body, now, note));
        out.push(match (payment, outcome) {
            (Some(p), Some(o)) => w.apply(p, Source::Callback, o, now),
            (Some(p), None) => Applied { payment: Some(p.clone()), decision: None, event_id: None },
            (None, _) => Applied { payment: None, decision: None, event_id: None },
        });
    }
    (w, out)
}

/// The changed payments as they now are, in the order they first changed.
pub(super) fn changed_rows<'p>(w: &Writes<'_>, payments: &'p HashMap<String, Payment>) -> Vec<&'p Payment> {
    let by_id: HashMap<&str, &Payment> = payments.values().map(|p| (p.id.as_str(), p)).collect();
    w.changed.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect()
}

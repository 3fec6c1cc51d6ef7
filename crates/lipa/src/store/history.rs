//! A payment's history: the log table plus the rows that already tell their part of the story — the payment
//! row (created, push accepted), the callbacks as received and the events — so the hot callback path writes
//! no extra lines. The words are the domain's (`domain::history`).

use super::query::sql;
use super::rows::LogRow;
use super::sql::{Backend, SqlStore};
use super::*;
use crate::domain::history;

/// The payment row's part: created at, amount, reference, push accepted at, CheckoutRequestID.
type PaymentFacts = (i64, i64, String, Option<i64>, Option<String>);

impl<DB: Backend> SqlStore<DB> {
    pub(super) async fn history(&self, payment_id: &str) -> Result<Vec<LogEntry>> {
        let logs: Vec<LogRow> =
            sql::<DB>("SELECT at, kind, detail FROM payment_log WHERE payment_id = $1 ORDER BY seq")
                .bind(payment_id)
                .fetch_all(&self.reader)
                .await?;
        let facts: Option<PaymentFacts> = sql::<DB>(
            "SELECT created_at, amount, reference, push_accepted_at, checkout_request_id FROM payments WHERE id = $1",
        )
        .bind(payment_id)
        .fetch_optional(&self.reader)
        .await?;
        let callbacks: Vec<(i64, String, Vec<u8>)> =
            sql::<DB>("SELECT received_at, note, raw_body FROM callbacks WHERE payment_id = $1 ORDER BY seq")
                .bind(payment_id)
                .fetch_all(&self.reader)
                .await?;
        let events: Vec<(i64, String, String)> =
            sql::<DB>("SELECT created_at, type, id FROM events WHERE payment_id = $1 ORDER BY seq")
                .bind(payment_id)
                .fetch_all(&self.reader)
                .await?;
        let mut logs: Vec<LogEntry> = logs.into_iter().map(LogEntry::from).collect();
        if let Some(facts) = facts {
            add_payment_lines(&mut logs, facts);
        }
        // Same instant: the callback first, then what it caused (log lines), then the event.
        let mut all: Vec<(i64, u8, usize, LogEntry)> = Vec::new();
        for (i, (at, note, raw)) in callbacks.into_iter().enumerate() {
            all.push((at, 0, i, LogEntry { at, kind: "callback".into(), detail: history::callback(&note, &raw) }));
        }
        for (i, e) in logs.into_iter().enumerate() {
            all.push((e.at, 1, i, e));
        }
        for (i, (at, ty, id)) in events.into_iter().enumerate() {
            all.push((at, 2, i, LogEntry { at, kind: "event".into(), detail: history::event(&ty, &id) }));
        }
        all.sort_by_key(|(at, order, i, _)| (*at, *order, *i));
        Ok(all.into_iter().map(|(.., e)| e).collect())
    }
}

/// The payment row as the "created" and "push accepted" lines (databases written before this kept log
/// lines for them: those stay, and are not doubled).
fn add_payment_lines(logs: &mut Vec<LogEntry>, (at, amount, reference, accepted_at, checkout): PaymentFacts) {
    if !logs.iter().any(|e| e.kind == "created") {
        logs.insert(0, LogEntry { at, kind: "created".into(), detail: history::created(amount, &reference) });
    }
    let logged = logs.iter().any(|e| e.kind == "push" && history::is_push_accepted(&e.detail));
    if let (Some(at), Some(checkout), false) = (accepted_at, checkout, logged) {
        let i = logs.iter().position(|e| e.at > at).unwrap_or(logs.len());
        logs.insert(i, LogEntry { at, kind: "push".into(), detail: history::push_accepted(&checkout) });
    }
}

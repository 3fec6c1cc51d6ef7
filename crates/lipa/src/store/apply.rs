//! Applying answers in memory, then writing what they did with one statement per table.
//!
//! The payment is locked (or, on SQLite, the write lock is held) before anything is decided, so the row in
//! hand IS the row in the database: the payment after a decision is computed here rather than read back with
//! `UPDATE … RETURNING`, and a batch of callbacks is decided one after the other against the same in-memory
//! rows (a duplicate later in the batch sees the first one's effect) and then written together.

use std::collections::HashSet;

use super::Applied;
use crate::domain::{decide, Decision, Outcome, Payment, PaymentStatus, Source};

/// The most rows in one multi-row statement (far below both databases' bind limits).
pub const CHUNK: usize = 128;

/// Multi-row statements with up to this many rows stay in sqlx's prepared-statement cache; longer ones are
/// prepared for their one use (their text depends on the row count, and they would crowd out the rest).
pub const CACHED_ROWS: usize = 4;

/// One callback row to insert: payment id, raw body, received at, note.
pub type CallbackRow<'a> = (Option<String>, &'a [u8], i64, String);

/// What a unit of work writes, gathered while its answers are decided.
#[derive(Default)]
pub struct Writes<'a> {
    pub callbacks: Vec<CallbackRow<'a>>,
    /// Ids of the payments that changed, in the order they first changed.
    pub changed: Vec<String>,
    changed_set: HashSet<String>,
    /// id, type, payment id, created at, data.
    pub events: Vec<(String, &'static str, String, i64, String)>,
    /// payment id, at, kind, detail.
    pub logs: Vec<(String, i64, &'static str, String)>,
}

impl<'a> Writes<'a> {
    /// Decide an answer about `p` (the current, locked row) by the domain's rules and update `p` in place.
    pub fn apply(&mut self, p: &mut Payment, source: Source, outcome: &Outcome, now: i64) -> Applied {
        let Some(d) = decide(p, outcome) else {
            self.logs.push((p.id.clone(), now, source.as_str(), "no change (duplicate or late answer)".into()));
            return Applied { payment: Some(p.clone()), decision: None, event_id: None };
        };
        *p = after(p, &d, now);
        if self.changed_set.insert(p.id.clone()) {
            self.changed.push(p.id.clone());
        }
        if d.check_now && d.status == PaymentStatus::Pending {
            let detail = "success reported; STK Query is asked to confirm it".to_string();
            self.logs.push((p.id.clone(), now, source.as_str(), detail));
        }
        let event_id = d.event().map(|ev| {
            let id = crate::domain::ids::event_id();
            self.events.push((id.clone(), ev.as_str(), p.id.clone(), now, p.to_api_json().to_string()));
            id
        });
        Applied { payment: Some(p.clone()), decision: Some(d), event_id }
    }
}

/// The payment as the decision leaves it: exactly what the former `UPDATE … SET x = COALESCE(…)` produced.
pub fn after(p: &Payment, d: &Decision, now: i64) -> Payment {
    let keep = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
    Payment {
        status: d.status,
        checkout_request_id: keep(&p.checkout_request_id, &d.checkout_request_id),
        mpesa_receipt: keep(&d.mpesa_receipt, &p.mpesa_receipt),
        result_code: keep(&d.result_code, &p.result_code),
        result_desc: keep(&d.result_desc, &p.result_desc),
        failure_reason: keep(&d.failure_reason, &p.failure_reason),
        review_reason: keep(&d.review_reason, &p.review_reason),
        updated_at: now,
        completed_at: if d.status.is_terminal() { p.completed_at.or(Some(now)) } else { p.completed_at },
        next_check_at: if d.check_now { Some(now) } else { p.next_check_at },
        ..p.clone()
    }
}

/// `($1, $2, $3), ($4, $5, $6)` for `rows` rows of `cols` placeholders; `(?, ?, ?), (?, ?, ?)` when not
/// `numbered`. SQLite gets the anonymous `?`: it resolves each `$n` by a linear search of the names seen
/// so far (quadratic in a long multi-row statement, and sqlx asks each parameter's name again to bind it).
pub fn placeholders(rows: usize, cols: usize, numbered: bool) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            if numbered {
                s.push('$');
                s.push_str(&(r * cols + c + 1).to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

/// `$1, $2, $3` (or `?, ?, ?`): an `IN (…)` list.
pub fn placeholder_list(n: usize, numbered: bool) -> String {
    (1..=n).map(|i| if numbered { format!("${i}") } else { "?".into() }).collect::<Vec<_>>().join(", ")
}

/// The payment columns a decision can change, set from a `VALUES` list joined on `column1` = id.
pub const UPDATE_FROM_VALUES: &str = "UPDATE payments SET status = v.column2, checkout_request_id = v.column3, \
     mpesa_receipt = v.column4, result_code = v.column5, result_desc = v.column6, failure_reason = v.column7, \
     review_reason = v.column8, updated_at = v.column9, completed_at = v.column10, next_check_at = v.column11, \
     lease_until = NULL FROM (VALUES ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(placeholders(1, 1, true), "($1)");
        assert_eq!(placeholders(2, 3, true), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(placeholders(2, 2, false), "(?, ?), (?, ?)");
        assert_eq!(placeholder_list(3, true), "$1, $2, $3");
        assert_eq!(placeholder_list(2, false), "?, ?");
    }
}

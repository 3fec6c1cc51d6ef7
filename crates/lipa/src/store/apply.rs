//! Applying answers in memory, then writing what they did with one statement per table.
//!
//! The payment is locked (or, on SQLite, the write lock is held) before anything is decided, so the row in
//! hand IS the row in the database: the payment after a decision is computed here rather than read back with
//! `UPDATE … RETURNING`, and a batch of callbacks is decided one after the other against the same in-memory
//! rows (a duplicate later in the batch sees the first one's effect) and then written together.

use std::collections::HashSet;

use super::Applied;
use crate::domain::{decide_from, history, Decision, Outcome, Payment, PaymentStatus, Source};

/// The most rows in one multi-row statement (far below SQLite's bind limit).
pub const CHUNK: usize = 128;

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
        let Some(d) = decide_from(p, source, outcome) else {
            self.logs.push((p.id.clone(), now, source.as_str(), history::NO_CHANGE.into()));
            return Applied { payment: Some(p.clone()), decision: None, event_id: None };
        };
        *p = after(p, &d, now);
        if self.changed_set.insert(p.id.clone()) {
            self.changed.push(p.id.clone());
        }
        if d.check_now && d.status == PaymentStatus::Pending {
            self.logs.push((p.id.clone(), now, source.as_str(), history::SUCCESS_TO_CONFIRM.into()));
        }
        let event_id = d.event().map(|ev| {
            let id = crate::domain::ids::event_id();
            self.events.push((
                id.clone(),
                ev.as_str(),
                p.id.clone(),
                now,
                crate::api::to_json(&crate::api::Payment::of(p)).to_string(),
            ));
            id
        });
        Applied { payment: Some(p.clone()), decision: Some(d), event_id }
    }
}

/// The payment as the decision leaves it: exactly what the former `UPDATE … SET x = COALESCE(…)` produced.
pub fn after(p: &Payment, d: &Decision, now: i64) -> Payment {
    let keep = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
    let mut out = Payment {
        status: d.status,
        checkout_request_id: keep(&p.checkout_request_id, &d.checkout_request_id),
        mpesa_receipt: keep(&d.mpesa_receipt, &p.mpesa_receipt),
        result_code: keep(&d.result_code, &p.result_code),
        result_desc: keep(&d.result_desc, &p.result_desc),
        failure_reason: d.failure_reason.or(p.failure_reason),
        review_reason: keep(&d.review_reason, &p.review_reason),
        updated_at: now,
        completed_at: if d.status.is_terminal() { p.completed_at.or(Some(now)) } else { p.completed_at },
        next_check_at: if d.check_now { Some(now) } else { p.next_check_at },
        ..p.clone()
    };
    if let Some(r) = &d.resolution {
        // The fields that contradict the operator's decision leave the payment (see `Decision::resolution`).
        let success_result = out.result_code.as_deref() == Some("0");
        if r.outcome == PaymentStatus::Failed {
            out.mpesa_receipt = None;
            if success_result {
                (out.result_code, out.result_desc) = (None, None);
            }
        } else {
            out.failure_reason = None;
            if !success_result {
                (out.result_code, out.result_desc) = (None, None);
            }
        }
        out.resolution = Some(crate::domain::Resolution { at: now, ..r.clone() });
    }
    out
}

/// `(?, ?, ?), (?, ?, ?)` for `rows` rows of `cols` placeholders (SQLite's multi-row `VALUES`). Anonymous
/// `?` rather than `$n`: SQLite resolves each `$n` by a linear search of the names seen so far (quadratic in
/// a long statement), and sqlx binds anonymous ones in order across the statements of one query.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let row = format!("({})", vec!["?"; cols].join(", "));
    vec![row; rows].join(", ")
}

/// `?, ?, ?`: an `IN (…)` list.
pub fn placeholder_list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rows_of_columns() {
        assert_eq!(placeholders(1, 1), "(?)");
        assert_eq!(placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(placeholder_list(3), "?, ?, ?");
    }
}

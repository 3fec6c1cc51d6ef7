//! The words of a payment's history (the admin's timeline). The store keeps facts — rows of callbacks,
//! events, attempts and a few log lines — and these functions say what each one means. No I/O here.

use super::{Outcome, Payment};

/// A decision that changed nothing: the answer came again, or after the payment was settled.
pub const NO_CHANGE: &str = "no change (duplicate or late answer)";

/// A success that must be confirmed by STK Query before the payment is settled.
pub const SUCCESS_TO_CONFIRM: &str = "success reported; STK Query is asked to confirm it";

/// The checkout page got the customer's phone and the push is about to go.
pub const PHONE_ENTERED: &str = "the customer entered a phone number";

/// The payment row as its "created" line.
pub fn created(amount: i64, reference: &str) -> String {
    format!("created: KES {amount} ref {reference}")
}

/// The payment row as its "push accepted" line.
pub fn push_accepted(checkout_request_id: &str) -> String {
    format!("accepted: CheckoutRequestID {checkout_request_id}")
}

/// Whether a push line is the "push accepted" one (older databases logged it as a line of its own).
pub fn is_push_accepted(detail: &str) -> bool {
    detail.starts_with("accepted")
}

/// A push that may have reached Daraja.
pub fn push_unknown(why: &str) -> String {
    format!("outcome unknown, never resent: {why}")
}

/// A callback as received, from its stored note (`parsed`, `unparseable body`, `rejected: …`, or what the
/// store says of a stranger's callback) and its raw body, shown whole (at most 64 KiB).
pub fn callback(note: &str, raw_body: &[u8]) -> String {
    let body = String::from_utf8_lossy(raw_body);
    match note {
        "parsed" => body.into_owned(),
        "unparseable body" => format!("a body that could not be parsed (kept):\n{body}"),
        other => match other.strip_prefix("rejected: ") {
            Some(why) => format!("rejected, not applied: {why}\n{body}"),
            None => other.to_string(),
        },
    }
}

/// An event written to the outbox.
pub fn event(event_type: &str, event_id: &str) -> String {
    format!("{event_type} ({event_id})")
}

/// What became of an event after one webhook attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Tried again this many ms later.
    RetryIn(i64),
    GaveUp,
}

/// One webhook attempt: where it went, what answered, and what comes next.
pub fn webhook_attempt(
    event_id: &str,
    url: &str,
    http_status: Option<i64>,
    error: Option<&str>,
    duration_ms: i64,
    then: AfterAttempt,
) -> String {
    let answer = match (http_status, error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(e)) => e.to_string(),
        (None, None) => "no answer".into(),
    };
    let then = match then {
        AfterAttempt::Delivered => "delivered".to_string(),
        AfterAttempt::RetryIn(ms) => format!("retry in {} ms", ms.max(0)),
        AfterAttempt::GaveUp => "gave up: the retry window ran out".to_string(),
    };
    format!("{event_id} to {url}: {answer} in {duration_ms} ms; {then}")
}

/// An operator's resolution of a payment under review, and what it took off the payment's fields.
pub fn resolution(outcome: &Outcome, before: &Payment, after: Option<&Payment>) -> String {
    let cleared = after.map(|after| cleared_by_resolution(before, after)).unwrap_or_default();
    match outcome {
        Outcome::Resolved { succeeded, note, by } => format!(
            "resolved by an operator as {}: {note} (by {by}){cleared}",
            if *succeeded { "succeeded" } else { "failed" }
        ),
        other => format!("resolved by an operator: {other:?}"),
    }
}

/// What a resolution took off the payment (the evidence stays on record).
fn cleared_by_resolution(before: &Payment, after: &Payment) -> String {
    let mut gone = Vec::new();
    if before.mpesa_receipt.is_some() && after.mpesa_receipt.is_none() {
        gone.push(format!("receipt {}", before.mpesa_receipt.as_deref().unwrap_or_default()));
    }
    if before.result_code.is_some() && after.result_code.is_none() {
        gone.push(format!(
            "result {} ({})",
            before.result_code.as_deref().unwrap_or_default(),
            before.result_desc.as_deref().unwrap_or_default()
        ));
    }
    if before.failure_reason.is_some() && before.failure_reason != after.failure_reason {
        gone.push(format!("failure reason {}", before.failure_reason.map(|r| r.as_str()).unwrap_or_default()));
    }
    if gone.is_empty() {
        String::new()
    } else {
        format!("; taken off the payment's fields: {}", gone.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_read_by_their_note() {
        assert_eq!(callback("parsed", b"{x}"), "{x}");
        assert_eq!(callback("unparseable body", b"<"), "a body that could not be parsed (kept):\n<");
        assert_eq!(callback("rejected: not from Safaricom", b"{}"), "rejected, not applied: not from Safaricom\n{}");
        assert_eq!(callback("unknown secret", b"{}"), "unknown secret");
    }

    #[test]
    fn webhook_attempts_say_what_answered_and_what_next() {
        let line = webhook_attempt("evt_1", "https://x/h", Some(500), None, 12, AfterAttempt::RetryIn(-5));
        assert_eq!(line, "evt_1 to https://x/h: HTTP 500 in 12 ms; retry in 0 ms");
        let line = webhook_attempt("evt_1", "u", None, Some("timeout"), 3, AfterAttempt::GaveUp);
        assert_eq!(line, "evt_1 to u: timeout in 3 ms; gave up: the retry window ran out");
    }
}

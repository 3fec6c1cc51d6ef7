//! Money out — payouts (B2C) and refunds (Transaction Reversal, or B2C back to the payer) — as pure rules:
//! the stored shape, how a request is sent safely again, and what each answer from Daraja changes. No I/O.

use super::payment::PaymentStatus;

/// Payouts and refunds live in one table; `object` tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Payout,
    Refund,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payout => "payout",
            Self::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "payout" => Some(Self::Payout),
            "refund" => Some(Self::Refund),
            _ => None,
        }
    }
}

/// How the money goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// B2C v3, whose OriginatorConversationID is the row's id: a resend is refused by Daraja, never paid.
    B2c,
    /// Transaction Reversal of a payment's receipt: Daraja has no id of ours to refuse a resend with, so a
    /// reversal whose send may have happened is never sent again.
    Reversal,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::B2c => "b2c",
            Self::Reversal => "reversal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "b2c" => Some(Self::B2c),
            "reversal" => Some(Self::Reversal),
            _ => None,
        }
    }
}

/// Where the request to Daraja stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendState {
    /// Committed; not known to have been sent (it may have been, if a crash came between).
    Queued,
    /// A reversal is being sent, or was and its answer was lost: never sent again.
    Sending,
    /// Daraja accepted it for processing: the result comes to the ResultURL.
    Accepted,
}

impl SendState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Accepted => "accepted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(Self::Queued),
            "sending" => Some(Self::Sending),
            "accepted" => Some(Self::Accepted),
            _ => None,
        }
    }
}

/// The kinds of B2C payment (`CommandID`), in the API's words.
pub const KINDS: [&str; 3] = ["business", "salary", "promotion"];

/// What the API calls a B2C kind, as Daraja's `CommandID`.
pub fn command_of(kind: &str) -> daraja::B2cCommand {
    match kind {
        "salary" => daraja::B2cCommand::SalaryPayment,
        "promotion" => daraja::B2cCommand::PromotionPayment,
        _ => daraja::B2cCommand::BusinessPayment,
    }
}

/// Payout amounts Daraja takes, whole KES.
pub const MIN_AMOUNT: i64 = 10;
pub const MAX_AMOUNT: i64 = 250_000;

/// A payout or a refund as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MoneyOut {
    pub id: String,
    /// What was asked for.
    pub draft: Draft,
    /// Where it stands: the fields an answer changes.
    pub outcome: Change,
    pub send_state: SendState,
    pub callback_secret: super::ids::Secret,
    pub query_secret: super::ids::Secret,
    pub originator_conversation_id: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub check_attempts: i64,
}

/// A new money-out row, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub object: Object,
    pub amount: i64,
    /// The recipient (254…); for a reversal, the payer of the payment when known.
    pub phone: Option<String>,
    /// `business`, `salary` or `promotion` (B2C); `reversal` for a reversal.
    pub kind: String,
    pub method: Method,
    pub remarks: String,
    pub metadata: serde_json::Value,
    /// Refunds: the payment refunded.
    pub payment_id: Option<String>,
    /// Reversal refunds: the receipt reversed.
    pub original_receipt: Option<String>,
}

impl MoneyOut {
    /// A pending row, queued; its first check (resend or Transaction Status) after `first_check_ms`.
    pub fn new_pending(d: Draft, now: i64, first_check_ms: i64) -> MoneyOut {
        let id = match d.object {
            Object::Payout => super::ids::payout_id(),
            Object::Refund => super::ids::refund_id(),
        };
        MoneyOut {
            originator_conversation_id: (d.method == Method::B2c).then(|| id.clone()),
            id,
            draft: d,
            outcome: Change {
                status: PaymentStatus::Pending,
                mpesa_receipt: None,
                recipient_name: None,
                result_code: None,
                result_desc: None,
                failure_reason: None,
                review_reason: None,
                completed_at: None,
                next_check_at: Some(now + first_check_ms),
            },
            send_state: SendState::Queued,
            callback_secret: super::ids::Secret::random(),
            query_secret: super::ids::Secret::random(),
            conversation_id: None,
            created_at: now,
            updated_at: now,
            check_attempts: 0,
        }
    }

    /// The event type of this row's current status (`payout.succeeded`, `refund.needs_review`, …).
    pub fn event_type(&self) -> Option<String> {
        let status = self.outcome.status;
        status.is_terminal().then(|| format!("{}.{}", self.draft.object.as_str(), status.as_str()))
    }
}

/// Which URL an answer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The request's own ResultURL.
    Result,
    /// The request's own QueueTimeOutURL.
    Timeout,
    /// The ResultURL of a Transaction Status query about it.
    Status,
    /// The QueueTimeOutURL of a Transaction Status query about it.
    StatusTimeout,
}

impl Path {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Result => "result",
            Self::Timeout => "timeout",
            Self::Status => "status",
            Self::StatusTimeout => "status_timeout",
        }
    }
}

/// What an answer changes: the fields to write. None from [`decide`]: nothing changes (a duplicate, a late
/// answer that agrees, news that is not an answer).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub status: PaymentStatus,
    pub mpesa_receipt: Option<String>,
    pub recipient_name: Option<String>,
    pub result_code: Option<String>,
    pub result_desc: Option<String>,
    pub failure_reason: Option<String>,
    pub review_reason: Option<String>,
    pub completed_at: Option<i64>,
    pub next_check_at: Option<i64>,
}

impl Change {
    pub fn apply(&self, m: &MoneyOut, now: i64) -> MoneyOut {
        MoneyOut { outcome: self.clone(), updated_at: now, ..m.clone() }
    }
}

/// The status a Transaction Status answer reports, in our words; None while it is still being processed.
enum Reported {
    Completed,
    Failed(String),
}

fn reported(status: &str) -> Option<Reported> {
    match status.trim().to_ascii_lowercase().as_str() {
        "completed" => Some(Reported::Completed),
        "pending" | "" => None,
        "expired" => Some(Reported::Failed("error".into())),
        _ => Some(Reported::Failed("rejected".into())),
    }
}

/// What an answer changes. `result` is None for a body that is not a result (kept, changes nothing).
pub fn decide(m: &MoneyOut, path: Path, result: Option<&daraja::DarajaResult>, now: i64) -> Option<Change> {
    let r = result?;
    let code = r.result_code.as_str().to_string();
    let desc = r.result_desc.clone();
    // The answer in the shape of a final result: success (with its receipt and name) or a failure reason.
    let answer: Result<(Option<String>, Option<String>), String> = match path {
        Path::Timeout | Path::StatusTimeout => {
            // Not processed in Daraja's queue: nothing is known; Transaction Status is asked at once.
            return (m.outcome.status == PaymentStatus::Pending)
                .then(|| Change { next_check_at: Some(now), ..m.outcome.clone() });
        }
        Path::Result if r.is_success() => {
            if let Some(cents) = r.amount() {
                if cents != m.draft.amount * 100 && m.outcome.status == PaymentStatus::Pending {
                    let why = format!("Daraja reported KES {}, not KES {}", cents as f64 / 100.0, m.draft.amount);
                    return Some(review(m, why, &code, &desc));
                }
            }
            Ok((r.receipt().or_else(|| r.transaction_id.clone()), r.recipient_name()))
        }
        Path::Result => Err(daraja::ResultFailure::from_code(&r.result_code).as_reason().to_string()),
        Path::Status if r.is_success() => match r.transaction_status().as_deref().and_then(reported) {
            None => return None,
            Some(Reported::Completed) => Ok((r.text("ReceiptNo").or_else(|| r.receipt()), party_name(r))),
            Some(Reported::Failed(reason)) => Err(reason),
        },
        Path::Status => {
            // The query itself failed: not found is the one answer that says something about the request.
            if code == "R000002" && m.outcome.status == PaymentStatus::Pending {
                return Some(review(m, "Transaction Status does not know this request".into(), &code, &desc));
            }
            return None;
        }
    };
    match (m.outcome.status, answer) {
        (PaymentStatus::Pending | PaymentStatus::NeedsReview, Ok((receipt, name))) => Some(Change {
            status: PaymentStatus::Succeeded,
            mpesa_receipt: receipt,
            recipient_name: name,
            result_code: Some(code),
            result_desc: Some(desc),
            failure_reason: None,
            review_reason: None,
            completed_at: Some(now),
            next_check_at: None,
        }),
        (PaymentStatus::Pending | PaymentStatus::NeedsReview, Err(reason)) => Some(Change {
            status: PaymentStatus::Failed,
            result_code: Some(code),
            result_desc: Some(desc),
            failure_reason: Some(reason),
            review_reason: None,
            completed_at: Some(now),
            next_check_at: None,
            ..m.outcome.clone()
        }),
        // Reported failed, now paid: never silently either way.
        (PaymentStatus::Failed, Ok(_)) => {
            Some(review(m, "a success came after the failure it had been given".into(), &code, &desc))
        }
        // A duplicate or a late answer that agrees, or a failure after success (e.g. a second reversal of the
        // same receipt refused as already reversed): the success stands.
        _ => None,
    }
}

fn review(m: &MoneyOut, why: String, code: &str, desc: &str) -> Change {
    Change {
        status: PaymentStatus::NeedsReview,
        result_code: Some(code.to_string()),
        result_desc: Some(desc.to_string()),
        review_reason: Some(why),
        completed_at: None,
        next_check_at: None,
        ..m.outcome.clone()
    }
}

/// The recipient's name from a Transaction Status answer (`CreditPartyName` is "2547… - NAME").
fn party_name(r: &daraja::DarajaResult) -> Option<String> {
    let raw = r.text("CreditPartyName")?;
    Some(raw.split_once(" - ").map(|(_, n)| n.trim().to_string()).unwrap_or(raw))
}

/// The row moved to `needs_review` because nothing settled it: it is never left pending forever.
pub fn give_up(m: &MoneyOut, why: &str) -> Change {
    Change {
        status: PaymentStatus::NeedsReview,
        review_reason: Some(why.to_string()),
        next_check_at: None,
        completed_at: None,
        ..m.outcome.clone()
    }
}

/// Refused by Daraja before processing (nothing was paid): failed.
pub fn refused(m: &MoneyOut, code: &str, message: &str, reason: &str, now: i64) -> Change {
    Change {
        status: PaymentStatus::Failed,
        result_code: Some(code.to_string()),
        result_desc: Some(message.to_string()),
        failure_reason: Some(reason.to_string()),
        completed_at: Some(now),
        next_check_at: None,
        ..m.outcome.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payout() -> MoneyOut {
        MoneyOut::new_pending(
            Draft {
                object: Object::Payout,
                amount: 1200,
                phone: Some("254712345678".into()),
                kind: "business".into(),
                method: Method::B2c,
                remarks: "x".into(),
                metadata: serde_json::json!({}),
                payment_id: None,
                original_receipt: None,
            },
            0,
            1000,
        )
    }

    fn fixture(name: &str) -> daraja::DarajaResult {
        let path = format!("{}/tests/fixtures/money_out/{name}", env!("CARGO_MANIFEST_DIR"));
        daraja::DarajaResult::parse(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn debug_output_hides_the_callback_secrets() {
        let m = payout();
        let shown = format!("{m:?}");
        assert!(shown.contains(&m.id) && shown.contains("Secret(hidden)"), "{shown}");
        assert!(!shown.contains(m.callback_secret.as_str()) && !shown.contains(m.query_secret.as_str()), "{shown}");
        let p = crate::domain::payment::Payment::new_pending(
            crate::domain::payment::PaymentDraft::for_test(100, Some("254708374149"), "R-1"),
            0,
            1000,
            1000,
        );
        let shown = format!("{p:?}");
        assert!(shown.contains(&p.id) && !shown.contains(p.callback_secret.as_str()), "{shown}");
    }

    #[test]
    fn ids_are_the_originator_conversation_id_of_b2c() {
        let p = payout();
        assert!(p.id.starts_with("po_"));
        assert_eq!(p.originator_conversation_id.as_deref(), Some(p.id.as_str()));
    }

    #[test]
    fn every_result_fixture_decides() {
        let p = payout();
        let ok = decide(&p, Path::Result, Some(&fixture("b2c_result_success.json")), 5).unwrap();
        assert_eq!((ok.status, ok.mpesa_receipt.as_deref()), (PaymentStatus::Succeeded, Some("TFB7QW3N2K")));
        assert_eq!(ok.recipient_name.as_deref(), Some("JANE WANJIRU MUTHONI"));
        for (file, reason) in [
            ("b2c_result_failure_2001.json", "invalid_initiator"),
            ("b2c_result_failure_2040_unregistered.json", "unregistered_recipient"),
            ("b2c_result_failure_insufficient_funds.json", "insufficient_funds"),
        ] {
            let c = decide(&p, Path::Result, Some(&fixture(file)), 5).unwrap();
            assert_eq!((c.status, c.failure_reason.as_deref()), (PaymentStatus::Failed, Some(reason)), "{file}");
        }
        // A duplicate success changes nothing; a success after a failure goes to review.
        let done = ok.apply(&p, 5);
        assert!(decide(&done, Path::Result, Some(&fixture("b2c_result_success.json")), 6).is_none());
        let failed = decide(&p, Path::Result, Some(&fixture("b2c_result_failure_2001.json")), 5).unwrap().apply(&p, 5);
        let late = decide(&failed, Path::Result, Some(&fixture("b2c_result_success.json")), 6).unwrap();
        assert_eq!(late.status, PaymentStatus::NeedsReview);
        // A queue timeout asks Transaction Status now; a Transaction Status answer settles.
        let t = decide(&p, Path::Timeout, Some(&fixture("b2c_queue_timeout_ASSUMED.json")), 9).unwrap();
        assert_eq!((t.status, t.next_check_at), (PaymentStatus::Pending, Some(9)));
        let s = decide(&p, Path::Status, Some(&fixture("transaction_status_result_b2c.json")), 9).unwrap();
        assert_eq!((s.status, s.mpesa_receipt.as_deref()), (PaymentStatus::Succeeded, Some("TFB7QW3N2K")));
        let f = decide(&p, Path::Status, Some(&fixture("transaction_status_result_failure.json")), 9);
        assert!(!matches!(f, Some(c) if c.status == PaymentStatus::Succeeded));
    }
}

//! The payment state machine.
//!
//! A payment starts `pending` and ends `succeeded`, `failed` or `needs_review`. Every answer about a
//! payment — a callback, an STK Query result, the push being refused, the push's fate being unknown for too
//! long — is turned into an [`Outcome`] and handed to [`decide`], which says what changes. Terminal statuses
//! never change silently: the only move out of a terminal status is to `needs_review`, and it is an event.

use super::failure::FailureReason;
use serde::Serialize;

/// pending → succeeded | failed | needs_review. A terminal status only ever moves to needs_review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    NeedsReview,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::NeedsReview => "needs_review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "needs_review" => Self::NeedsReview,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        self != Self::Pending
    }
}

/// Where the STK push of a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushState {
    /// No phone yet: the customer types it on the checkout page.
    AwaitingPhone,
    /// Written before the push is sent. Seen after a crash it means the fate of the push is unknown.
    Sending,
    /// Daraja accepted the push and gave a CheckoutRequestID.
    Accepted,
    /// Daraja refused the push; no prompt was shown.
    Rejected,
    /// The request may have reached Daraja but no answer came: never sent again.
    Unknown,
}

impl PushState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPhone => "awaiting_phone",
            Self::Sending => "sending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "awaiting_phone" => Self::AwaitingPhone,
            "sending" => Self::Sending,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => Self::Unknown,
        }
    }
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub id: String,
    pub status: PaymentStatus,
    pub amount: i64,
    /// What the succeeded refunds of this payment gave back, whole KES.
    pub refunded_amount: i64,
    pub phone: Option<String>,
    pub reference: String,
    /// What Daraja gets as `AccountReference` (and a customer types as the paybill account number): derived
    /// from `reference` (see [`account_reference`]), at most `LIPA_REFERENCE_MAX_LEN` characters, unique
    /// among pending payments (the database enforces it).
    pub account_reference: String,
    pub description: String,
    pub metadata: serde_json::Value,
    pub return_url: Option<String>,
    pub checkout_request_id: Option<String>,
    pub merchant_request_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub result_code: Option<String>,
    pub result_desc: Option<String>,
    /// Why it failed, in the API's words (`cancelled`, `timeout`, …).
    pub failure_reason: Option<FailureReason>,
    pub review_reason: Option<String>,
    pub push_state: PushState,
    pub callback_secret: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
    pub check_attempts: i64,
    pub next_check_at: Option<i64>,
    /// An operator's decision about a payment that was under review.
    pub resolution: Option<Resolution>,
    /// How it was paid: `stk` (a prompt) or `c2b` (the paybill or till, from the SIM menu or by QR).
    pub channel: super::c2b::Channel,
    /// C2B: the payer's name as Daraja gives it.
    pub payer_name: Option<String>,
    /// C2B: the whole KES actually received (differs from `amount` on a payment under review).
    pub paid_amount: Option<i64>,
}

/// How an operator settled a payment under review: the status they chose, who, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// `Succeeded` or `Failed`.
    pub outcome: PaymentStatus,
    pub by: String,
    /// Unix ms.
    pub at: i64,
    pub note: String,
    /// Resolved as failed: the receipt the payment carried, which the operator decided was not a payment.
    /// It leaves the payment's fields (a shop must not read it as paid) and stays in its history; the same
    /// success reported again is then not news. Never in the API.
    pub dismissed_receipt: Option<String>,
}

/// The `AccountReference` for a merchant's `reference`, at most `max_len` characters. Attempt 0 is the
/// reference itself when it fits (trimmed); otherwise, and for every later attempt (another pending payment
/// holds the earlier one), the first letters and digits of the reference, upper case, followed by a short
/// code derived from the whole reference and the attempt (letters and digits that cannot be misread), so
/// `WNJ-2024-000123-LONG` and `WNJ-2024-000124-LONG` get different account references.
pub fn account_reference(reference: &str, max_len: usize, attempt: u32) -> String {
    let max_len = max_len.max(1);
    let trimmed = reference.trim();
    if attempt == 0 && trimmed.chars().count() <= max_len {
        return trimmed.to_string();
    }
    const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let code_len = max_len.min(4);
    let head: String = trimmed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(max_len - code_len)
        .collect();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{trimmed}\n{attempt}").as_bytes());
    let code: String = digest.iter().take(code_len).map(|b| ALPHABET[(*b & 31) as usize] as char).collect();
    format!("{head}{code}")
}

/// What a new payment is made of, validated; everything else starts empty.
#[derive(Debug, Clone)]
pub struct PaymentDraft {
    pub amount: i64,
    /// `None`: the customer types it on the checkout page.
    pub phone: Option<String>,
    pub reference: String,
    pub description: String,
    pub metadata: serde_json::Value,
    pub return_url: Option<String>,
}

impl Payment {
    /// A new pending payment. With a phone its push is about to be sent (first check after
    /// `reconcile_after_ms`); without one it waits for the customer, who has `max_age_ms` to type it.
    pub fn new_pending(draft: PaymentDraft, now: i64, reconcile_after_ms: i64, max_age_ms: i64) -> Payment {
        let (push_state, first_check) = match draft.phone {
            Some(_) => (PushState::Sending, now + reconcile_after_ms),
            None => (PushState::AwaitingPhone, now + max_age_ms),
        };
        Payment {
            id: super::ids::payment_id(),
            status: PaymentStatus::Pending,
            amount: draft.amount,
            refunded_amount: 0,
            phone: draft.phone,
            // The caller derives the final one (with the configured length) before storing the payment.
            account_reference: account_reference(&draft.reference, daraja::AccountReference::MAX_LEN, 0),
            reference: draft.reference,
            description: draft.description,
            metadata: draft.metadata,
            return_url: draft.return_url,
            checkout_request_id: None,
            merchant_request_id: None,
            mpesa_receipt: None,
            result_code: None,
            result_desc: None,
            failure_reason: None,
            review_reason: None,
            push_state,
            callback_secret: super::ids::callback_secret(),
            created_at: now,
            updated_at: now,
            completed_at: None,
            check_attempts: 0,
            next_check_at: Some(first_check),
            resolution: None,
            channel: super::c2b::Channel::Stk,
            payer_name: None,
            paid_amount: None,
        }
    }
}

/// Unix milliseconds as RFC 3339 UTC, e.g. `2026-11-28T09:15:02.123Z`.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// Who told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Callback,
    Query,
    Push,
    Timer,
    /// A person on the admin dashboard.
    Operator,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Query => "query",
            Self::Push => "push",
            Self::Timer => "timer",
            Self::Operator => "operator",
        }
    }
}

/// An answer about a payment, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The customer paid. Amount and phone as reported (a callback may omit them; a query never has them).
    Succeeded {
        checkout_request_id: Option<String>,
        receipt: Option<String>,
        amount: Option<i64>,
        phone: Option<String>,
        result_desc: String,
    },
    /// The customer did not pay.
    Failed {
        checkout_request_id: Option<String>,
        result_code: String,
        result_desc: String,
        reason: daraja::FailureReason,
    },
    /// Daraja refused the push itself (no prompt was shown).
    PushRejected { code: String, message: String },
    /// The push may or may not have reached the phone and no answer came in time.
    Unresolved { why: String },
    /// A customer who was never sent a push (no phone given) ran out of time.
    Abandoned,
    /// An operator looked at a payment under review and settled it (only a `needs_review` payment moves).
    /// `by` names the operator (the admin dashboard says `admin`).
    Resolved { succeeded: bool, note: String, by: String },
    /// A success callback while `LIPA_CONFIRM_SUCCESS_BY_QUERY` is on: its receipt is kept and the payment
    /// stays pending until an STK Query answers 0 (then [`Outcome::Succeeded`]). Mismatches still go to review.
    SuccessToConfirm {
        checkout_request_id: Option<String>,
        receipt: Option<String>,
        amount: Option<i64>,
        phone: Option<String>,
        result_desc: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Succeeded,
    Failed,
    NeedsReview,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "payment.succeeded",
            Self::Failed => "payment.failed",
            Self::NeedsReview => "payment.needs_review",
        }
    }

    pub fn for_status(status: PaymentStatus) -> Option<Self> {
        match status {
            PaymentStatus::Pending => None,
            PaymentStatus::Succeeded => Some(Self::Succeeded),
            PaymentStatus::Failed => Some(Self::Failed),
            PaymentStatus::NeedsReview => Some(Self::NeedsReview),
        }
    }
}

/// What changes. Fields left `None` keep their stored value.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: PaymentStatus,
    pub checkout_request_id: Option<String>,
    pub mpesa_receipt: Option<String>,
    pub result_code: Option<String>,
    pub result_desc: Option<String>,
    pub failure_reason: Option<FailureReason>,
    pub review_reason: Option<String>,
    /// Ask Daraja about the payment now (STK Query), rather than at its scheduled time.
    pub check_now: bool,
    /// An operator's resolution (its `at` is when the decision is applied). The payment's fields that
    /// contradict it are cleared: a failed one keeps no receipt and no success result; a succeeded one no
    /// failure reason or failure result. What they said stays in the history and the raw callbacks.
    pub resolution: Option<Resolution>,
}

impl Decision {
    fn to(status: PaymentStatus) -> Self {
        Self {
            status,
            checkout_request_id: None,
            mpesa_receipt: None,
            result_code: None,
            result_desc: None,
            failure_reason: None,
            review_reason: None,
            check_now: false,
            resolution: None,
        }
    }

    fn review(why: impl Into<String>) -> Self {
        Self { review_reason: Some(why.into()), ..Self::to(PaymentStatus::NeedsReview) }
    }

    pub fn event(&self) -> Option<EventType> {
        EventType::for_status(self.status)
    }
}

/// [`decide`], knowing who told us. A success CALLBACK is trusted only when it reports the paid amount and
/// that amount is the payment's: a callback whose `Amount` is missing or is not a whole, non-negative
/// number of KES (`"abc"`, `799.99`, `-800`, `true`, `null`, `1e30`, two `Amount` items that disagree)
/// sends a pending payment to `needs_review`, exactly like a different amount — with
/// `LIPA_CONFIRM_SUCCESS_BY_QUERY` on too. (An STK Query answer never carries an amount; it is not held to
/// this rule.)
pub fn decide_from(p: &Payment, source: Source, outcome: &Outcome) -> Option<Decision> {
    if source == Source::Callback && p.status == PaymentStatus::Pending {
        if let Outcome::Succeeded { checkout_request_id, receipt, amount: None, result_desc, .. }
        | Outcome::SuccessToConfirm { checkout_request_id, receipt, amount: None, result_desc, .. } = outcome
        {
            if matches!((&p.checkout_request_id, checkout_request_id), (Some(ours), Some(theirs)) if ours != theirs) {
                return Some(Decision::review("callback names another CheckoutRequestID"));
            }
            let mut d = Decision::review(format!(
                "the success callback reported no usable paid amount (the payment is KES {})",
                p.amount
            ));
            d.checkout_request_id = checkout_request_id.clone();
            d.mpesa_receipt = receipt.clone();
            d.result_code = Some("0".into());
            d.result_desc = Some(result_desc.clone());
            return Some(d);
        }
    }
    decide(p, outcome)
}

/// Decide what an outcome does to a payment. `None`: nothing changes (a duplicate, a late echo of what we
/// already know, or news about a payment already under review). Callbacks go through [`decide_from`].
pub fn decide(p: &Payment, outcome: &Outcome) -> Option<Decision> {
    // An answer that names another checkout request than the one this payment got is not about it.
    let names_other = |id: &Option<String>| match (&p.checkout_request_id, id) {
        (Some(ours), Some(theirs)) => ours != theirs,
        _ => false,
    };
    match (p.status, outcome) {
        // The one way out of review: a person decided, and the payment says so (`resolution`).
        (PaymentStatus::NeedsReview, Outcome::Resolved { succeeded, note, by }) => {
            let outcome = if *succeeded { PaymentStatus::Succeeded } else { PaymentStatus::Failed };
            let resolution = Resolution {
                outcome,
                by: by.clone(),
                at: 0,
                note: note.clone(),
                dismissed_receipt: if *succeeded { None } else { p.mpesa_receipt.clone() },
            };
            Some(Decision {
                // Not an M-Pesa reason: a person decided (Daraja's answers stay in the history).
                failure_reason: (!*succeeded).then_some(FailureReason::ResolvedFailed),
                resolution: Some(resolution),
                ..Decision::to(outcome)
            })
        }
        (_, Outcome::Resolved { .. }) => None,
        (PaymentStatus::NeedsReview, _) => None,

        (status, Outcome::SuccessToConfirm { checkout_request_id, receipt, amount, phone, result_desc }) => {
            let success = Outcome::Succeeded {
                checkout_request_id: checkout_request_id.clone(),
                receipt: receipt.clone(),
                amount: *amount,
                phone: phone.clone(),
                result_desc: result_desc.clone(),
            };
            if status != PaymentStatus::Pending {
                // After the fact it means what any success means (a duplicate, or a reason for review).
                return decide(p, &success);
            }
            match (receipt, &p.mpesa_receipt) {
                (Some(r), Some(ours)) if r != ours => {
                    return Some(Decision::review(format!("a second success with another receipt ({r}) after {ours}")))
                }
                (Some(_), Some(_)) => return None,
                _ => {}
            }
            let mut d = decide(p, &success)?;
            if d.status == PaymentStatus::Succeeded {
                // Recorded, not believed yet: STK Query decides.
                d.status = PaymentStatus::Pending;
                d.result_code = None;
                d.result_desc = None;
                d.check_now = true;
            }
            Some(d)
        }

        // A success was reported but STK Query says otherwise: a person must look.
        (PaymentStatus::Pending, Outcome::Failed { result_code, .. }) if p.mpesa_receipt.is_some() => {
            Some(Decision::review(format!(
                "a success was reported (receipt {}) but then result {result_code}: not confirmed",
                p.mpesa_receipt.as_deref().unwrap_or_default()
            )))
        }

        (PaymentStatus::Pending, Outcome::Succeeded { checkout_request_id, receipt, amount, phone, result_desc }) => {
            if names_other(checkout_request_id) {
                return Some(Decision::review("callback names another CheckoutRequestID"));
            }
            let mut d = if amount.is_some_and(|a| a != p.amount) {
                Decision::review(format!(
                    "paid amount {} differs from the payment's {}",
                    amount.unwrap_or_default(),
                    p.amount
                ))
            } else if phone
                .as_deref()
                // Only a full MSISDN is compared: some Daraja products report masked numbers.
                .filter(|ph| ph.len() == 12 && ph.bytes().all(|b| b.is_ascii_digit()))
                .is_some_and(|ph| Some(ph) != p.phone.as_deref())
            {
                Decision::review("paying phone differs from the payment's")
            } else {
                Decision::to(PaymentStatus::Succeeded)
            };
            d.checkout_request_id = checkout_request_id.clone();
            d.mpesa_receipt = receipt.clone();
            d.result_code = Some("0".into());
            d.result_desc = Some(result_desc.clone());
            Some(d)
        }
        (PaymentStatus::Pending, Outcome::Failed { checkout_request_id, result_code, result_desc, reason }) => {
            if names_other(checkout_request_id) {
                return Some(Decision::review("callback names another CheckoutRequestID"));
            }
            Some(Decision {
                checkout_request_id: checkout_request_id.clone(),
                result_code: Some(result_code.clone()),
                result_desc: Some(result_desc.clone()),
                failure_reason: Some((*reason).into()),
                ..Decision::to(PaymentStatus::Failed)
            })
        }
        (PaymentStatus::Pending, Outcome::PushRejected { code, message }) => Some(Decision {
            result_code: Some(code.clone()),
            result_desc: Some(message.clone()),
            failure_reason: Some(daraja::FailureReason::Rejected.into()),
            ..Decision::to(PaymentStatus::Failed)
        }),
        (PaymentStatus::Pending, Outcome::Unresolved { why }) => Some(Decision::review(why.clone())),
        (PaymentStatus::Pending, Outcome::Abandoned) => Some(Decision {
            result_desc: Some("The customer did not enter a phone number in time".into()),
            failure_reason: Some(daraja::FailureReason::Timeout.into()),
            ..Decision::to(PaymentStatus::Failed)
        }),

        // Paid from the SIM menu or by QR, and now the prompt reports a success too: the customer paid twice.
        (PaymentStatus::Succeeded, Outcome::Succeeded { receipt, .. })
            if p.channel == super::c2b::Channel::C2b && receipt.as_ref() != p.mpesa_receipt.as_ref() =>
        {
            Some(Decision::review(super::c2b::PAID_TWICE))
        }
        // Already paid: the same success again is a duplicate; another receipt is a second charge.
        (PaymentStatus::Succeeded, Outcome::Succeeded { receipt, .. }) => match (receipt, &p.mpesa_receipt) {
            (Some(r), Some(ours)) if r != ours => {
                Some(Decision::review(format!("a second success with another receipt ({r}) after {ours}")))
            }
            _ => None,
        },
        // A failure after the money arrived does not take the money back: keep the success.
        (PaymentStatus::Succeeded, _) => None,

        // The success an operator already looked at and resolved as failed, reported again: not news.
        (PaymentStatus::Failed, Outcome::Succeeded { receipt: Some(r), .. })
            if p.resolution.as_ref().and_then(|res| res.dismissed_receipt.as_ref()) == Some(r) =>
        {
            None
        }
        // Failed, then a success arrives: the customer may have paid after all. A person must look.
        (PaymentStatus::Failed, Outcome::Succeeded { receipt, .. }) => {
            let mut d = Decision::review("a success arrived after the payment had failed");
            d.mpesa_receipt = receipt.clone();
            Some(d)
        }
        (PaymentStatus::Failed, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Payment {
        Payment {
            id: "pay_1".into(),
            status: PaymentStatus::Pending,
            amount: 800,
            refunded_amount: 0,
            phone: Some("254712345678".into()),
            reference: "A1".into(),
            account_reference: "A1".into(),
            description: "d".into(),
            metadata: serde_json::Value::Null,
            return_url: None,
            checkout_request_id: Some("ws_CO_1".into()),
            merchant_request_id: None,
            mpesa_receipt: None,
            result_code: None,
            result_desc: None,
            failure_reason: None,
            review_reason: None,
            push_state: PushState::Accepted,
            callback_secret: "s".into(),
            created_at: 0,
            updated_at: 0,
            completed_at: None,
            check_attempts: 0,
            next_check_at: None,
            resolution: None,
            channel: crate::domain::c2b::Channel::Stk,
            payer_name: None,
            paid_amount: None,
        }
    }

    fn success(amount: i64, receipt: &str) -> Outcome {
        Outcome::Succeeded {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: Some(receipt.into()),
            amount: Some(amount),
            phone: Some("254712345678".into()),
            result_desc: "ok".into(),
        }
    }

    fn failure(code: &str, reason: &str) -> Outcome {
        Outcome::Failed {
            checkout_request_id: Some("ws_CO_1".into()),
            result_code: code.into(),
            result_desc: "x".into(),
            reason: reason.parse().unwrap(),
        }
    }

    fn apply(p: &mut Payment, d: &Decision) {
        p.status = d.status;
        if d.mpesa_receipt.is_some() {
            p.mpesa_receipt = d.mpesa_receipt.clone();
        }
    }

    #[test]
    fn success_settles_and_duplicate_is_a_no_op() {
        let mut p = pending();
        let d = decide(&p, &success(800, "R1")).unwrap();
        assert_eq!(d.status, PaymentStatus::Succeeded);
        assert_eq!(d.event(), Some(EventType::Succeeded));
        apply(&mut p, &d);
        assert_eq!(decide(&p, &success(800, "R1")), None);
        assert_eq!(decide(&p, &failure("1032", "cancelled")), None);
        assert_eq!(decide(&p, &success(800, "R2")).unwrap().status, PaymentStatus::NeedsReview);
    }

    #[test]
    fn mismatches_go_to_review() {
        let p = pending();
        assert_eq!(decide(&p, &success(1, "R1")).unwrap().status, PaymentStatus::NeedsReview);
        let other_phone = Outcome::Succeeded {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: Some("R".into()),
            amount: Some(800),
            phone: Some("254799999999".into()),
            result_desc: "ok".into(),
        };
        assert_eq!(decide(&p, &other_phone).unwrap().status, PaymentStatus::NeedsReview);
        let masked = Outcome::Succeeded {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: Some("R".into()),
            amount: Some(800),
            phone: Some("2547 ***** 678".into()),
            result_desc: "ok".into(),
        };
        assert_eq!(decide(&p, &masked).unwrap().status, PaymentStatus::Succeeded);
        let other_id = Outcome::Failed {
            checkout_request_id: Some("ws_CO_2".into()),
            result_code: "1032".into(),
            result_desc: "x".into(),
            reason: daraja::FailureReason::Cancelled,
        };
        assert_eq!(decide(&p, &other_id).unwrap().status, PaymentStatus::NeedsReview);
    }

    #[test]
    fn late_success_after_failure_needs_review_and_review_is_sticky() {
        let mut p = pending();
        let d = decide(&p, &failure("1032", "cancelled")).unwrap();
        assert_eq!(d.failure_reason, Some(daraja::FailureReason::Cancelled.into()));
        apply(&mut p, &d);
        assert_eq!(decide(&p, &failure("1032", "cancelled")), None);
        let d = decide(&p, &success(800, "R1")).unwrap();
        assert_eq!(d.status, PaymentStatus::NeedsReview);
        apply(&mut p, &d);
        assert_eq!(decide(&p, &success(800, "R1")), None);
        assert_eq!(decide(&p, &failure("1", "insufficient_funds")), None);
    }

    #[test]
    fn rejected_and_unresolved() {
        let p = pending();
        let d = decide(&p, &Outcome::PushRejected { code: "400.002.02".into(), message: "m".into() }).unwrap();
        assert_eq!((d.status, d.failure_reason), (PaymentStatus::Failed, Some(daraja::FailureReason::Rejected.into())));
        let d = decide(&p, &Outcome::Unresolved { why: "w".into() }).unwrap();
        assert_eq!(d.status, PaymentStatus::NeedsReview);
    }

    #[test]
    fn only_a_review_can_be_resolved() {
        let mut p = pending();
        let ok =
            Outcome::Resolved { succeeded: true, note: "paid, receipt seen in the portal".into(), by: "admin".into() };
        let no = Outcome::Resolved { succeeded: false, note: "not paid".into(), by: "admin".into() };
        assert_eq!(decide(&p, &ok), None, "a pending payment is not resolved by hand");
        p.status = PaymentStatus::NeedsReview;
        let d = decide(&p, &ok).unwrap();
        assert_eq!((d.status, d.event()), (PaymentStatus::Succeeded, Some(EventType::Succeeded)));
        let d = decide(&p, &no).unwrap();
        assert_eq!((d.status, d.event()), (PaymentStatus::Failed, Some(EventType::Failed)));
        assert_eq!(d.failure_reason, Some(FailureReason::ResolvedFailed));
        let r = d.resolution.as_ref().unwrap();
        assert_eq!((r.outcome, r.by.as_str(), r.note.as_str()), (PaymentStatus::Failed, "admin", "not paid"));
        p.status = PaymentStatus::Succeeded;
        assert_eq!(decide(&p, &no), None, "a settled payment is not changed by hand");
        p.status = PaymentStatus::Failed;
        assert_eq!(decide(&p, &ok), None);
    }
    #[test]
    fn account_references_fit_and_differ() {
        assert_eq!(account_reference(" ORDER-A1042 ", 12, 0), "ORDER-A1042");
        let a = account_reference("WNJ-2024-000123-LONG", 12, 0);
        let b = account_reference("WNJ-2024-000124-LONG", 12, 0);
        assert!(a.len() == 12 && a.starts_with("WNJ20240"), "{a}");
        assert_ne!(a, b);
        assert_eq!(a, account_reference("WNJ-2024-000123-LONG", 12, 0), "the same reference, the same first try");
        assert_ne!(account_reference("ORDER-A1042", 12, 1), "ORDER-A1042", "a later try is another one");
        for n in 1..=20 {
            let r = account_reference("a-very-long-reference-with-more-than-twenty", n, 3);
            assert!(r.chars().count() <= n && !r.is_empty(), "{n}: {r}");
        }
    }

    #[test]
    fn the_dismissed_success_is_not_news() {
        let mut p = pending();
        p.status = PaymentStatus::Failed;
        p.resolution = Some(Resolution {
            outcome: PaymentStatus::Failed,
            by: "admin".into(),
            at: 1,
            note: "n".into(),
            dismissed_receipt: Some("R1".into()),
        });
        assert_eq!(decide(&p, &success(800, "R1")), None);
        assert_eq!(decide(&p, &success(800, "R2")).unwrap().status, PaymentStatus::NeedsReview);
    }

    #[test]
    fn a_success_callback_without_a_usable_amount_goes_to_review() {
        // `amount: None` is what the daraja crate reports for a missing or malformed `Amount`.
        let no_amount = Outcome::Succeeded {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: Some("LGR019G3J2".into()),
            amount: None,
            phone: None,
            result_desc: "ok".into(),
        };
        let d = decide_from(&pending(), Source::Callback, &no_amount).unwrap();
        assert_eq!(d.status, PaymentStatus::NeedsReview);
        assert_eq!(d.mpesa_receipt.as_deref(), Some("LGR019G3J2"));
        assert!(d.review_reason.unwrap().contains("no usable paid amount"));
        // The same with confirmation by query on.
        let to_confirm = Outcome::SuccessToConfirm {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: None,
            amount: None,
            phone: None,
            result_desc: "ok".into(),
        };
        assert_eq!(decide_from(&pending(), Source::Callback, &to_confirm).unwrap().status, PaymentStatus::NeedsReview);
        // An STK Query answer never has an amount: it still settles the payment.
        assert_eq!(decide_from(&pending(), Source::Query, &no_amount).unwrap().status, PaymentStatus::Succeeded);
        // The right amount from a callback succeeds.
        let mut right = no_amount.clone();
        if let Outcome::Succeeded { amount, .. } = &mut right {
            *amount = Some(800);
        }
        assert_eq!(decide_from(&pending(), Source::Callback, &right).unwrap().status, PaymentStatus::Succeeded);
    }

    #[test]
    fn a_success_to_confirm_waits_for_the_query() {
        let mut p = pending();
        let reported = Outcome::SuccessToConfirm {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: Some("R1".into()),
            amount: Some(800),
            phone: Some("254712345678".into()),
            result_desc: "ok".into(),
        };
        let d = decide(&p, &reported).unwrap();
        assert_eq!((d.status, d.event(), d.check_now), (PaymentStatus::Pending, None, true));
        assert_eq!(d.mpesa_receipt.as_deref(), Some("R1"));
        p.mpesa_receipt = Some("R1".into());
        assert_eq!(decide(&p, &reported), None, "the same report again changes nothing");
        let confirmed = Outcome::Succeeded {
            checkout_request_id: Some("ws_CO_1".into()),
            receipt: None,
            amount: None,
            phone: None,
            result_desc: "ok".into(),
        };
        assert_eq!(decide(&p, &confirmed).unwrap().status, PaymentStatus::Succeeded);
        let d = decide(&p, &failure("1032", "cancelled")).unwrap();
        assert_eq!(d.status, PaymentStatus::NeedsReview, "a contradicted success is not a plain failure");
        let mut wrong_amount = reported.clone();
        if let Outcome::SuccessToConfirm { amount, .. } = &mut wrong_amount {
            *amount = Some(1);
        }
        assert_eq!(decide(&pending(), &wrong_amount).unwrap().status, PaymentStatus::NeedsReview);
    }
}

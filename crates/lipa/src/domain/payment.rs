//! The payment state machine.
//!
//! A payment starts `pending` and ends `succeeded`, `failed` or `needs_review`. Every answer about a
//! payment — a callback, an STK Query result, the push being refused, the push's fate being unknown for too
//! long — is turned into an [`Outcome`] and handed to [`decide`](super::decide), which says what changes.
//! Terminal statuses never change silently: the only move out of a terminal status is to `needs_review`, and it is an event.

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
    pub callback_secret: super::ids::Secret,
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

#[cfg(test)]
impl PaymentDraft {
    /// A draft with this amount, phone and reference (for tests).
    pub(crate) fn for_test(amount: i64, phone: Option<&str>, reference: &str) -> Self {
        PaymentDraft {
            amount,
            phone: phone.map(Into::into),
            reference: reference.into(),
            description: "d".into(),
            metadata: serde_json::Value::Null,
            return_url: None,
        }
    }
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
            callback_secret: super::ids::Secret::random(),
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

impl Outcome {
    /// A success as `LIPA_CONFIRM_SUCCESS_BY_QUERY` takes it: [`Outcome::SuccessToConfirm`], with the same
    /// fields. Any other outcome stays as it is.
    pub fn to_confirm(self) -> Self {
        match self {
            Outcome::Succeeded { checkout_request_id, receipt, amount, phone, result_desc } => {
                Outcome::SuccessToConfirm { checkout_request_id, receipt, amount, phone, result_desc }
            }
            other => other,
        }
    }

    /// A success with these fields and the result description `ok` (for tests).
    #[cfg(test)]
    pub(crate) fn success_for_test(
        checkout_request_id: Option<&str>,
        receipt: Option<&str>,
        amount: Option<i64>,
        phone: Option<&str>,
    ) -> Self {
        Outcome::Succeeded {
            checkout_request_id: checkout_request_id.map(Into::into),
            receipt: receipt.map(Into::into),
            amount,
            phone: phone.map(Into::into),
            result_desc: "ok".into(),
        }
    }
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
    pub(super) fn to(status: PaymentStatus) -> Self {
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

    pub(super) fn review(why: impl Into<String>) -> Self {
        Self { review_reason: Some(why.into()), ..Self::to(PaymentStatus::NeedsReview) }
    }

    pub fn event(&self) -> Option<EventType> {
        EventType::for_status(self.status)
    }
}

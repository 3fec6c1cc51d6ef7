//! C2B rules: how a payment made from the SIM menu or by QR (a Daraja confirmation) is matched to an open
//! payment, what it does to it, and what a validation answers. No I/O here.
//!
//! A confirmation settles the **open** (`pending`) payment whose `account_reference` — or, failing that,
//! whole `reference` — equals its account number (trimmed, ignoring case): the same amount succeeds through
//! the `c2b` channel; another amount sends it to `needs_review` (`amount_mismatch`, with `paid_amount`). A
//! confirmation that matches no open payment becomes a new `succeeded` payment whose reference is the
//! account number.

use serde::Serialize;

use super::payment::{Payment, PaymentStatus, PushState};

/// `review_reason` of a payment paid with another amount than asked.
pub const AMOUNT_MISMATCH: &str = "amount_mismatch";
/// `review_reason` of a payment paid by C2B and then by the prompt too.
pub const PAID_TWICE: &str = "paid_twice";

/// How a payment was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Lipa Na M-Pesa Online: a prompt on the customer's phone.
    Stk,
    /// The paybill or till, from the SIM menu or by scanning the QR code.
    C2b,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stk => "stk",
            Self::C2b => "c2b",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stk" => Some(Self::Stk),
            "c2b" => Some(Self::C2b),
            _ => None,
        }
    }
}

/// `LIPA_C2B_VALIDATION`: what lipa answers Daraja's validation requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValidationRule {
    /// Accept everything (default).
    #[default]
    Off,
    /// Refuse (`C2B00012`) an account number that names no open payment.
    Reference,
    /// Also refuse (`C2B00013`) an amount that differs from that payment's.
    Exact,
}

impl ValidationRule {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" => Some(Self::Off),
            "reference" => Some(Self::Reference),
            "exact" => Some(Self::Exact),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Reference => "reference",
            Self::Exact => "exact",
        }
    }

    /// The answer to a validation for `amount` (None: unreadable) given the open payment the account names.
    pub fn answer(self, open: Option<&Payment>, amount: Option<i64>) -> daraja::c2b::ValidationAnswer {
        use daraja::c2b::{RejectReason, ValidationAnswer};
        match (self, open) {
            (Self::Off, _) => ValidationAnswer::accept(),
            (_, None) => ValidationAnswer::Reject(RejectReason::InvalidAccountNumber),
            (Self::Exact, Some(p)) if amount != Some(p.amount) => ValidationAnswer::Reject(RejectReason::InvalidAmount),
            (_, Some(p)) => ValidationAnswer::Accept { third_party_trans_id: Some(p.id.clone()) },
        }
    }
}

/// A confirmation, as far as matching needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct C2bPaid {
    /// `TransID`: the M-Pesa receipt.
    pub trans_id: String,
    /// Whole KES (None: a fraction or unreadable).
    pub amount: Option<i64>,
    /// The account number, trimmed.
    pub account: String,
    pub short_code: String,
    pub payer_name: Option<String>,
    /// The payer's full number when Daraja gave it or a known phone's hash matched.
    pub payer_phone: Option<String>,
}

impl C2bPaid {
    pub fn of(n: &daraja::c2b::C2bNotification) -> Self {
        let payer_phone = match &n.msisdn {
            daraja::c2b::C2bMsisdn::Plain(m) => Some(m.as_str().to_string()),
            _ => None,
        };
        C2bPaid {
            trans_id: n.trans_id.trim().to_string(),
            amount: n.amount_kes().and_then(|a| i64::try_from(a).ok()),
            account: n.account().to_string(),
            short_code: n.business_short_code.trim().to_string(),
            payer_name: n.payer_name(),
            payer_phone,
        }
    }
}

/// Does this notification's number (hashed, masked or plain) belong to `phone` (`2547…`)?
pub fn payer_is(msisdn: &daraja::c2b::C2bMsisdn, phone: &str) -> bool {
    daraja::Msisdn::parse(phone).is_ok_and(|m| msisdn.is(&m))
}

/// The open payment after a confirmation paid it: `succeeded` when the amount is the payment's, otherwise
/// `needs_review` (`amount_mismatch`). The receipt is the `TransID`.
pub fn settle(p: &Payment, paid: &C2bPaid, now: i64) -> Payment {
    let same_amount = paid.amount == Some(p.amount);
    let (status, result_desc, review_reason) = if same_amount {
        (PaymentStatus::Succeeded, "Paid by M-Pesa C2B".to_string(), None)
    } else {
        let received = paid.amount.map(|a| format!("KES {a}")).unwrap_or_else(|| "an unreadable amount".into());
        (PaymentStatus::NeedsReview, format!("Paid {received} by M-Pesa C2B"), Some(AMOUNT_MISMATCH.to_string()))
    };
    Payment {
        status,
        channel: Channel::C2b,
        payer_name: paid.payer_name.clone(),
        paid_amount: paid.amount,
        refunded_amount: 0,
        phone: p.phone.clone().or_else(|| paid.payer_phone.clone()),
        mpesa_receipt: Some(paid.trans_id.clone()),
        result_code: Some("0".into()),
        result_desc: Some(result_desc),
        failure_reason: None,
        review_reason,
        updated_at: now,
        completed_at: Some(now),
        ..p.clone()
    }
}

/// A confirmation that matches no open payment: a new payment, `succeeded` (or `needs_review` when the
/// amount cannot be read), whose reference is the account number (the `TransID` when there is none, e.g.
/// a till).
pub fn unmatched_payment(paid: &C2bPaid, now: i64) -> Payment {
    let reference = if paid.account.is_empty() { paid.trans_id.clone() } else { paid.account.clone() };
    let reference: String = reference.chars().take(super::MAX_REFERENCE).collect();
    let (status, amount, review_reason) = match paid.amount {
        Some(a) => (PaymentStatus::Succeeded, a, None),
        None => (PaymentStatus::NeedsReview, 0, Some(AMOUNT_MISMATCH.to_string())),
    };
    let description = if paid.account.is_empty() {
        format!("M-Pesa payment to {}", paid.short_code)
    } else {
        format!("M-Pesa payment to {}, account {}", paid.short_code, paid.account)
    };
    Payment {
        id: super::ids::payment_id(),
        status,
        amount,
        phone: paid.payer_phone.clone(),
        account_reference: reference.clone(),
        reference,
        description,
        metadata: serde_json::json!({}),
        return_url: None,
        checkout_request_id: None,
        merchant_request_id: None,
        mpesa_receipt: Some(paid.trans_id.clone()),
        result_code: Some("0".into()),
        result_desc: Some("Paid by M-Pesa C2B".into()),
        failure_reason: None,
        review_reason,
        // No prompt was ever sent for it.
        push_state: PushState::Rejected,
        callback_secret: super::ids::Secret::random(),
        created_at: now,
        updated_at: now,
        completed_at: Some(now),
        check_attempts: 0,
        next_check_at: None,
        resolution: None,
        channel: Channel::C2b,
        payer_name: paid.payer_name.clone(),
        paid_amount: paid.amount,
        refunded_amount: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{decide, Outcome, PaymentDraft};

    fn open(amount: i64) -> Payment {
        Payment::new_pending(PaymentDraft::for_test(amount, None, "INV-1"), 0, 1, 2)
    }

    fn paid(amount: Option<i64>) -> C2bPaid {
        C2bPaid {
            trans_id: "TFB4K2M7QZ".into(),
            amount,
            account: "inv-1".into(),
            short_code: "600987".into(),
            payer_name: Some("JANE MUTHONI".into()),
            payer_phone: None,
        }
    }

    #[test]
    fn the_same_amount_succeeds_another_goes_to_review() {
        let p = settle(&open(150), &paid(Some(150)), 9);
        assert_eq!((p.status, p.channel, p.paid_amount), (PaymentStatus::Succeeded, Channel::C2b, Some(150)));
        assert_eq!(p.mpesa_receipt.as_deref(), Some("TFB4K2M7QZ"));
        let p = settle(&open(150), &paid(Some(100)), 9);
        assert_eq!((p.status, p.review_reason.as_deref()), (PaymentStatus::NeedsReview, Some(AMOUNT_MISMATCH)));
        assert_eq!(p.paid_amount, Some(100));
    }

    #[test]
    fn an_stk_success_after_a_c2b_payment_is_paid_twice() {
        let p = settle(&open(150), &paid(Some(150)), 9);
        let stk = |receipt| Outcome::success_for_test(None, Some(receipt), Some(150), None);
        let d = decide(&p, &stk("TFB4K2OTHER")).expect("not ignored");
        assert_eq!((d.status, d.review_reason.as_deref()), (PaymentStatus::NeedsReview, Some(PAID_TWICE)));
        // The same receipt again is the same payment, not a second one.
        assert_eq!(decide(&p, &stk("TFB4K2M7QZ")), None);
    }

    #[test]
    fn validation_rules() {
        use daraja::c2b::{RejectReason, ValidationAnswer};
        let p = open(150);
        assert!(ValidationRule::Off.answer(None, Some(1)).is_accept());
        let refused = ValidationAnswer::Reject(RejectReason::InvalidAccountNumber);
        assert_eq!(ValidationRule::Reference.answer(None, Some(150)), refused);
        assert!(ValidationRule::Reference.answer(Some(&p), Some(1)).is_accept());
        let amount = ValidationAnswer::Reject(RejectReason::InvalidAmount);
        assert_eq!(ValidationRule::Exact.answer(Some(&p), Some(1)), amount);
        assert!(ValidationRule::Exact.answer(Some(&p), Some(150)).is_accept());
    }

    #[test]
    fn an_unmatched_payment_is_a_new_success_named_by_its_account() {
        let p = unmatched_payment(&paid(Some(70)), 5);
        assert_eq!((p.status, p.amount, p.reference.as_str()), (PaymentStatus::Succeeded, 70, "inv-1"));
        assert_eq!(p.channel, Channel::C2b);
    }
}

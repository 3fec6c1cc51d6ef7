//! [`decide`]: what an answer about a payment changes — the transition table of the payment state machine
//! (see `payment.rs` for the states).

use super::failure::FailureReason;
use super::payment::*;

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
        let draft = PaymentDraft::for_test(800, Some("254712345678"), "A1");
        Payment {
            id: "pay_1".into(),
            checkout_request_id: Some("ws_CO_1".into()),
            push_state: PushState::Accepted,
            next_check_at: None,
            ..Payment::new_pending(draft, 0, 0, 0)
        }
    }

    /// A success about our checkout request, paid from our phone.
    fn success(amount: i64, receipt: &str) -> Outcome {
        paid_from("254712345678", amount, receipt)
    }

    fn paid_from(phone: &str, amount: i64, receipt: &str) -> Outcome {
        Outcome::success_for_test(Some("ws_CO_1"), Some(receipt), Some(amount), Some(phone))
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
        let other_phone = paid_from("254799999999", 800, "R");
        assert_eq!(decide(&p, &other_phone).unwrap().status, PaymentStatus::NeedsReview);
        let masked = paid_from("2547 ***** 678", 800, "R");
        assert_eq!(decide(&p, &masked).unwrap().status, PaymentStatus::Succeeded);
        let mut other_id = failure("1032", "cancelled");
        if let Outcome::Failed { checkout_request_id, .. } = &mut other_id {
            *checkout_request_id = Some("ws_CO_2".into());
        }
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
        let no_amount = Outcome::success_for_test(Some("ws_CO_1"), Some("LGR019G3J2"), None, None);
        let d = decide_from(&pending(), Source::Callback, &no_amount).unwrap();
        assert_eq!(d.status, PaymentStatus::NeedsReview);
        assert_eq!(d.mpesa_receipt.as_deref(), Some("LGR019G3J2"));
        assert!(d.review_reason.unwrap().contains("no usable paid amount"));
        // The same with confirmation by query on.
        let to_confirm = Outcome::success_for_test(Some("ws_CO_1"), None, None, None).to_confirm();
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
        let reported = success(800, "R1").to_confirm();
        let d = decide(&p, &reported).unwrap();
        assert_eq!((d.status, d.event(), d.check_now), (PaymentStatus::Pending, None, true));
        assert_eq!(d.mpesa_receipt.as_deref(), Some("R1"));
        p.mpesa_receipt = Some("R1".into());
        assert_eq!(decide(&p, &reported), None, "the same report again changes nothing");
        let confirmed = Outcome::success_for_test(Some("ws_CO_1"), None, None, None);
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

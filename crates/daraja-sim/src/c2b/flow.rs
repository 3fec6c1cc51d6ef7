//! One C2B payment: validation (with the default action when it does not answer in time), then the
//! confirmation, each POSTed to the registered URL with Daraja's body and the injected faults.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::{C2bPaymentView, C2bRegistration, C2bStatus, C2bVersion};
use crate::sim::{CallbackAttempt, Delivery, LogKind, Simulator};
use crate::util;

pub(crate) const PAYBILL: &str = "CustomerPayBillOnline";
pub(crate) const BUY_GOODS: &str = "CustomerBuyGoodsOnline";

/// The payer's name the simulator reports (v2 gives the first name only).
const NAME: (&str, &str, &str) = ("JOHN", "KAMAU", "DOE");

/// A payment about to be made.
pub(crate) struct NewC2bPayment {
    pub(crate) short_code: String,
    pub(crate) command_id: &'static str,
    pub(crate) amount: u64,
    pub(crate) phone: String,
    pub(crate) bill_ref_number: String,
    pub(crate) source: &'static str,
    pub(crate) warnings: Vec<String>,
}

/// The validation and confirmation body (the same shape for both).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NotificationBody<'a> {
    transaction_type: &'a str,
    #[serde(rename = "TransID")]
    trans_id: &'a str,
    trans_time: &'a str,
    trans_amount: String,
    business_short_code: &'a str,
    bill_ref_number: &'a str,
    invoice_number: &'a str,
    org_account_balance: String,
    #[serde(rename = "ThirdPartyTransID")]
    third_party_trans_id: &'a str,
    #[serde(rename = "MSISDN")]
    msisdn: String,
    first_name: &'a str,
    middle_name: &'a str,
    last_name: &'a str,
}

/// `MSISDN` as a callback to a `version` registration carries it: v2 `2547 ***** 678`, v1 the
/// lowercase hex SHA-256 of the 12-digit number.
pub(crate) fn wire_msisdn(phone: &str, version: C2bVersion) -> String {
    match version {
        C2bVersion::V1 => Sha256::digest(phone.as_bytes()).iter().map(|b| format!("{b:02x}")).collect(),
        C2bVersion::V2 if phone.len() == 12 => format!("{} ***** {}", &phone[..4], &phone[9..]),
        C2bVersion::V2 => "*****".to_owned(),
    }
}

fn body(p: &C2bPaymentView, version: C2bVersion, balance: Option<u64>, third_party: &str) -> Value {
    let v1 = version == C2bVersion::V1;
    let b = NotificationBody {
        transaction_type: if p.command_id == BUY_GOODS { "Buy Goods" } else { "Pay Bill" },
        trans_id: &p.trans_id,
        trans_time: &p.trans_time,
        trans_amount: format!("{}.00", p.amount),
        business_short_code: &p.short_code,
        bill_ref_number: &p.bill_ref_number,
        invoice_number: "",
        org_account_balance: balance.map(|b| format!("{b}.00")).unwrap_or_default(),
        third_party_trans_id: third_party,
        msisdn: wire_msisdn(&p.phone, version),
        first_name: NAME.0,
        middle_name: if v1 { NAME.1 } else { "" },
        last_name: if v1 { NAME.2 } else { "" },
    };
    serde_json::to_value(b).unwrap_or(Value::Null)
}

/// The validation URL's answer, read the way Daraja reads it.
enum Answer {
    Accept(String),
    Reject(String),
    Unusable(String),
}

fn read_answer(attempt: &CallbackAttempt) -> (Answer, Option<Value>) {
    let Some(status) = attempt.status else {
        return (Answer::Unusable(attempt.error.clone().unwrap_or_else(|| "no answer".into())), None);
    };
    let json: Option<Value> = attempt.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
    if !(200..300).contains(&status) {
        return (Answer::Unusable(format!("HTTP {status}")), json);
    }
    let code = match json.as_ref().and_then(|j| j.get("ResultCode")) {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return (Answer::Unusable("no ResultCode in the answer".into()), json),
    };
    let answer = if !code.is_empty() && code.bytes().all(|b| b == b'0') {
        let third = json.as_ref().and_then(|j| j.get("ThirdPartyTransID")).and_then(Value::as_str).unwrap_or("");
        Answer::Accept(third.to_owned())
    } else if matches!(code.as_str(), "C2B00011" | "C2B00012" | "C2B00013" | "C2B00014" | "C2B00015" | "C2B00016") {
        Answer::Reject(code)
    } else {
        Answer::Unusable(format!("unknown ResultCode {code:?}"))
    };
    (answer, json)
}

fn reject_meaning(code: &str) -> &'static str {
    match code {
        "C2B00011" => "Invalid MSISDN",
        "C2B00012" => "Invalid Account Number",
        "C2B00013" => "Invalid Amount",
        "C2B00014" => "Invalid KYC Details",
        "C2B00015" => "Invalid Shortcode",
        _ => "Other Error",
    }
}

impl Simulator {
    /// Makes a C2B payment: records it, runs validation up to its decision (at most the validation
    /// timeout), and sends the confirmation in the background. Returns the payment as decided.
    pub(crate) async fn c2b_pay(&self, new: NewC2bPayment) -> C2bPaymentView {
        let state = &self.inner.c2b;
        let registration = state.registration(&new.short_code);
        let trans_id = self.receipt();
        let view = C2bPaymentView {
            trans_id: trans_id.clone(),
            short_code: new.short_code,
            command_id: new.command_id.to_owned(),
            amount: new.amount,
            trans_time: util::eat_compact(util::now_eat()),
            phone: new.phone,
            bill_ref_number: new.bill_ref_number,
            source: new.source.to_owned(),
            status: C2bStatus::Validating,
            result_code: None,
            decided_by: None,
            message: None,
            version: registration.as_ref().map(|r| r.version),
            validation_payload: None,
            validation_answer: None,
            validation_attempts: Vec::new(),
            confirmation_payload: None,
            confirmation_attempts: Vec::new(),
            warnings: new.warnings,
            created_at_ms: util::now_ms(),
        };
        for w in &view.warnings {
            self.log(LogKind::Warning, w.clone(), Some(&trans_id));
        }
        self.log(
            LogKind::Request,
            format!(
                "C2B {} KES {} from {} to {} account {:?} ({})",
                trans_id, view.amount, view.phone, view.short_code, view.bill_ref_number, view.source
            ),
            Some(&trans_id),
        );
        state.insert_payment(view.clone());

        let Some(reg) = registration else {
            self.log(
                LogKind::Outcome,
                format!("no C2B URLs registered for {}: the money moved but nobody was told", view.short_code),
                Some(&trans_id),
            );
            return self.c2b_decide(&view, None, "not_registered", Ok(String::new()));
        };

        if !self.config().c2b.external_validation {
            return self.c2b_decide(&view, Some(&reg), "no_validation", Ok(String::new()));
        }
        let payload = body(&view, reg.version, None, "");
        state.update(&trans_id, |p| p.validation_payload = Some(payload.clone()));
        let (tx, rx) = oneshot::channel();
        let plan = self.callback_faults();
        let sim = self.clone();
        let (id, url) = (trans_id.clone(), reg.validation_url.clone());
        tokio::spawn(async move { sim.c2b_send(&id, &url, &payload, plan, true, Some(tx)).await });
        let timeout = self.config().c2b.validation_timeout;
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok((answer, json))) => {
                state.update(&trans_id, |p| p.validation_answer = json);
                answer
            }
            Ok(Err(_)) => Answer::Unusable("the validation request was dropped (fault)".into()),
            Err(_) => Answer::Unusable(format!("no answer within {} ms", timeout.as_millis())),
        };
        match outcome {
            Answer::Accept(third) => self.c2b_decide(&view, Some(&reg), "validation", Ok(third)),
            Answer::Reject(code) => self.c2b_decide(&view, Some(&reg), "validation", Err(code)),
            Answer::Unusable(why) => {
                self.log(
                    LogKind::Warning,
                    format!(
                        "C2B validation of {trans_id} to {}: {why}; the registered ResponseType {} applies",
                        reg.validation_url, reg.response_type
                    ),
                    Some(&trans_id),
                );
                if reg.response_type == "Cancelled" {
                    self.c2b_decide(&view, Some(&reg), "default_action", Err(String::new()))
                } else {
                    self.c2b_decide(&view, Some(&reg), "default_action", Ok(String::new()))
                }
            }
        }
    }

    /// Settles a payment: `Ok(third_party_trans_id)` completes it (and sends the confirmation when
    /// URLs are registered); `Err(code)` rejects it with a C2B000xx code, or cancels it when empty.
    fn c2b_decide(
        &self,
        view: &C2bPaymentView,
        reg: Option<&C2bRegistration>,
        decided_by: &str,
        outcome: Result<String, String>,
    ) -> C2bPaymentView {
        let merchant = self.config().merchant_name.clone();
        let now = util::now_ms();
        let when = format!(
            "on {} at {}",
            util::eat_display(now).get(..10).unwrap_or(""),
            util::eat_display(now).get(11..16).unwrap_or("")
        );
        let (status, code, message, confirmation) = match outcome {
            Ok(third) => {
                let balance = self.inner.c2b.credit(&view.short_code, view.amount);
                let message = if view.command_id == BUY_GOODS {
                    format!("{} Confirmed. Ksh{}.00 paid to {merchant} {when}.", view.trans_id, view.amount)
                } else {
                    format!(
                        "{} Confirmed. Ksh{}.00 sent to {merchant} for account {} {when}.",
                        view.trans_id, view.amount, view.bill_ref_number
                    )
                };
                let confirmation = reg.map(|r| (r.clone(), body(view, r.version, Some(balance), &third)));
                (C2bStatus::Completed, "0".to_owned(), message, confirmation)
            }
            Err(code) if code.is_empty() => {
                let message = format!(
                    "Failed. {merchant} did not confirm the payment of Ksh{}.00 in time. No money was taken.",
                    view.amount
                );
                (C2bStatus::Cancelled, String::new(), message, None)
            }
            Err(code) => {
                let message = format!(
                    "Failed. {merchant} declined the payment of Ksh{}.00: {}. No money was taken.",
                    view.amount,
                    reject_meaning(&code)
                );
                (C2bStatus::Rejected, code, message, None)
            }
        };
        self.log(
            LogKind::Outcome,
            format!("C2B {} -> {status:?} ({decided_by}) {code}", view.trans_id),
            Some(&view.trans_id),
        );
        let updated = self
            .inner
            .c2b
            .update(&view.trans_id, |p| {
                p.status = status;
                p.result_code = Some(code).filter(|c| !c.is_empty());
                p.decided_by = Some(decided_by.to_owned());
                p.message = Some(message);
                p.confirmation_payload = confirmation.as_ref().map(|(_, b)| b.clone());
                p.clone()
            })
            .unwrap_or_else(|| view.clone());
        if let Some((reg, payload)) = confirmation {
            let plan = self.callback_faults();
            let sim = self.clone();
            let id = view.trans_id.clone();
            tokio::spawn(async move { sim.c2b_send(&id, &reg.confirmation_url, &payload, plan, false, None).await });
        }
        updated
    }

    /// POSTs a validation (`validation` = true) or confirmation with the fault plan; the first
    /// answer of a validation goes to `first`.
    async fn c2b_send(
        &self,
        id: &str,
        url: &str,
        payload: &Value,
        faults: (bool, bool, Option<Duration>),
        validation: bool,
        mut first: Option<oneshot::Sender<(Answer, Option<Value>)>>,
    ) {
        let what = if validation { "validation" } else { "confirmation" };
        let names = Delivery {
            log_id: Some(id),
            dropped: format!("C2B {what} for {id} dropped (fault)"),
            held: format!("C2B {what} for {id}"),
            attempt: format!("C2B {what} to {url}"),
            with_body: true,
        };
        self.deliver_with_faults(url, payload, faults, names, |attempt| {
            // A dropped request has no answer: `first` goes unsent, and the validation hears nothing.
            if !attempt.was_dropped() {
                if let Some(tx) = first.take() {
                    let _ = tx.send(read_answer(&attempt));
                }
            }
            self.inner.c2b.update(id, |p| {
                if validation {
                    p.validation_attempts.push(attempt);
                } else {
                    p.confirmation_attempts.push(attempt);
                }
            });
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msisdn_shapes() {
        assert_eq!(wire_msisdn("254712345678", C2bVersion::V2), "2547 ***** 678");
        assert_eq!(
            wire_msisdn("254712345678", C2bVersion::V1),
            "7132104d6aae9c3fac82095a42c2817952bca48e09d98d5bf4ac08218982fb90"
        );
    }
}

//! Deciding money-out results: B2C moves money out of the Utility account (and charges into the
//! Charges Paid account), reversals take a payment back, Transaction Status and Account Balance report;
//! each result is POSTed to the request's ResultURL through the callback fault options.

use std::sync::Arc;

use rand::Rng as _;
use serde_json::{json, Value};

use crate::accounts::{b2c_charge_cents, MoneyOutKind, MoneyOutView, ACCOUNT_NAMES, CHARGES, UTILITY};
use crate::sim::{result_desc, test_number_outcome, CallbackAttempt, Delivery, LogKind, Simulator, TxState};
use crate::util;

/// `MoneyOutView::result_code` of a request that timed out in the queue (never processed).
pub const QUEUE_TIMEOUT: &str = "queue_timeout";

/// What the synchronous checks found, for the result.
pub(crate) struct Plan {
    /// The initiator name matched and the SecurityCredential decrypted to its password.
    pub initiator_ok: bool,
    /// PartyA / ReceiverParty is one of the simulator's shortcodes.
    pub party_ok: bool,
    pub party: String,
    pub occasion: String,
}

/// Names for recipients, picked by phone number so a number always has the same one.
const NAMES: &[&str] =
    &["JANE WANJIRU", "JOHN KAMAU", "MARY ACHIENG", "PETER OTIENO", "GRACE NJERI", "DAVID KIPROTICH"];

fn name_for(phone: &str) -> &'static str {
    let sum: usize = phone.bytes().map(usize::from).sum();
    NAMES[sum % NAMES.len()]
}

fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (cents / 100).abs(), (cents % 100).abs())
}

/// Money as a JSON number (`483120.5`), as Daraja sends balances.
fn money_number(cents: i64) -> Value {
    // Display precision only; the exact value is in the cents the simulator keeps.
    #[allow(clippy::cast_precision_loss)]
    let v = cents as f64 / 100.0;
    json!(v)
}

fn code_json(code: &str) -> Value {
    match code.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(code),
    }
}

fn reversal_desc(code: &str) -> String {
    match code {
        "R000001" => "The transaction has already been reversed.".into(),
        "R000002" => "The OriginalTransactionID is invalid.".into(),
        other => other.parse().map(result_desc).unwrap_or_else(|_| format!("Simulated result {other}")),
    }
}

impl Simulator {
    pub(crate) fn conversation_id(&self) -> String {
        let mut rng = rand::thread_rng();
        let hex: String = (0..20).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect();
        format!("AG_{}_{hex}", util::now_eat().strftime("%Y%m%d"))
    }

    /// After the result delay, decides request `id` and sends its result.
    pub(crate) fn schedule_result(&self, id: String, plan: Plan) {
        let weak = Arc::downgrade(&self.inner);
        let delay = self.config().result_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(inner) = weak.upgrade() else { return };
            let sim = Simulator { inner };
            if sim.roll(sim.faults().queue_timeout) {
                if let Some((url, payload)) = sim.queue_timeout(&id) {
                    sim.deliver_result(id, url, payload, (false, false, None)).await;
                }
                return;
            }
            if let Some((url, payload)) = sim.decide(&id, &plan) {
                let plan = sim.callback_faults();
                sim.deliver_result(id, url, payload, plan).await;
            }
        });
    }

    /// Marks request `id` as timed out in the queue (nothing processed) and returns the notice for its
    /// QueueTimeOutURL. Daraja's body is undocumented; this is the generic Result envelope with
    /// `ResultType` 1, as `fixtures/b2c_queue_timeout_ASSUMED.json` guesses.
    fn queue_timeout(&self, id: &str) -> Option<(String, Value)> {
        let desc = "The service request timed out.";
        let mut state = self.inner.money.lock();
        let view = state.by_id.get_mut(id)?;
        let payload = json!({"Result": {
            "ResultType": 1,
            "ResultCode": 1,
            "ResultDesc": desc,
            "OriginatorConversationID": view.originator_conversation_id,
            "ConversationID": view.conversation_id,
        }});
        view.result_code = Some(QUEUE_TIMEOUT.into());
        view.result_desc = Some(desc.into());
        view.completed_at_ms = Some(util::now_ms());
        view.result_payload = Some(payload.clone());
        let url = view.queue_timeout_url.clone();
        drop(state);
        self.log(LogKind::Fault, format!("{id} timed out in the queue (fault); notice to QueueTimeOutURL"), None);
        Some((url, payload))
    }

    /// Decides the result (moving money), records it, and returns where to send what.
    fn decide(&self, id: &str, plan: &Plan) -> Option<(String, Value)> {
        let config = self.config();
        let stk = self.transactions();
        let now_ms = util::now_ms();
        let mut guard = self.inner.money.lock();
        let state = &mut *guard;
        let view = state.by_id.get(id)?.clone();
        let mut receipt: Option<String> = None;
        let mut name: Option<String> = None;
        let mut phone: Option<String> = None;
        let mut params: Vec<(&str, Value)> = Vec::new();
        let completed = util::now_eat();
        let reference_url = |kind: &str| format!("https://internalsandbox.safaricom.co.ke/mpesa/{kind}/v1/submit");
        let mut reference = vec![json!({"Key": "QueueTimeoutURL", "Value": reference_url("b2cresults")})];
        let code: String = match view.kind {
            MoneyOutKind::B2c => {
                let amount_cents = i64::try_from(view.amount).unwrap_or(i64::MAX / 2).saturating_mul(100);
                let scripted = test_number_outcome(&view.phone).or(config.auto_outcome).unwrap_or(0);
                let code = if !plan.initiator_ok {
                    2001
                } else if !plan.party_ok {
                    2028
                } else if view.amount < 10 {
                    2
                } else if view.amount > 250_000 {
                    3
                } else if scripted != 0 {
                    scripted
                } else if state.balances[UTILITY] < amount_cents {
                    1
                } else {
                    0
                };
                if code == 0 {
                    state.balances[UTILITY] -= amount_cents;
                    state.balances[CHARGES] -= b2c_charge_cents(view.amount);
                    let r = util::receipt(&mut rand::thread_rng());
                    let who = name_for(&view.phone);
                    params = vec![
                        ("TransactionAmount", json!(view.amount)),
                        ("TransactionReceipt", json!(r)),
                        ("ReceiverPartyPublicName", json!(format!("{} - {who}", view.phone))),
                        ("TransactionCompletedDateTime", json!(completed.strftime("%d.%m.%Y %H:%M:%S").to_string())),
                        ("B2CUtilityAccountAvailableFunds", money_number(state.balances[UTILITY])),
                        ("B2CWorkingAccountAvailableFunds", money_number(state.balances[0])),
                        ("B2CRecipientIsRegisteredCustomer", json!("Y")),
                        ("B2CChargesPaidAccountAvailableFunds", money_number(state.balances[CHARGES])),
                    ];
                    receipt = Some(r);
                    name = Some(who.to_owned());
                }
                code.to_string()
            }
            MoneyOutKind::Reversal => {
                reference = vec![json!({"Key": "QueueTimeoutURL", "Value": reference_url("reversalresults")})];
                let tid = view.transaction_id.clone().unwrap_or_default();
                let original = stk.iter().find(|t| t.receipt.as_deref() == Some(tid.as_str()));
                let amount_cents = i64::try_from(view.amount).unwrap_or(i64::MAX / 2).saturating_mul(100);
                let code = if !plan.initiator_ok {
                    "2001".to_owned()
                } else if !plan.party_ok {
                    "2028".to_owned()
                } else if original.is_none() {
                    "R000002".to_owned()
                } else if state.reversed.contains(&tid) {
                    "R000001".to_owned()
                } else if original.is_some_and(|o| view.amount > o.amount) {
                    "3".to_owned()
                } else if state.balances[UTILITY] < amount_cents {
                    "1".to_owned()
                } else {
                    "0".to_owned()
                };
                if let (Some(o), "0") = (original, code.as_str()) {
                    state.balances[UTILITY] -= amount_cents;
                    state.reversed.insert(tid.clone());
                    let r = util::receipt(&mut rand::thread_rng());
                    let balance = state.balances[UTILITY];
                    params = vec![
                        (
                            "DebitAccountBalance",
                            json!(format!("Utility Account|KES|{0}|{0}|0.00|0.00", money(balance))),
                        ),
                        ("Amount", json!(view.amount)),
                        ("TransCompletedTime", json!(util::eat_compact(completed).parse::<u64>().unwrap_or(0))),
                        ("OriginalTransactionID", json!(tid)),
                        ("Charge", json!(0)),
                        ("CreditPartyPublicName", json!(format!("{} - {}", o.phone, name_for(&o.phone)))),
                        ("DebitPartyPublicName", json!(format!("{} - {}", plan.party, config.merchant_name))),
                    ];
                    receipt = Some(r);
                    name = Some(name_for(&o.phone).to_owned());
                    phone = Some(o.phone.clone());
                }
                code
            }
            MoneyOutKind::TransactionStatus => {
                reference = vec![json!({"Key": "Occasion", "Value": plan.occasion})];
                let key = view.transaction_id.clone().unwrap_or_default();
                if !plan.initiator_ok {
                    "2001".to_owned()
                } else if let Some(found) = state
                    .by_id
                    .get(&key)
                    .filter(|m| matches!(m.kind, MoneyOutKind::B2c | MoneyOutKind::Reversal))
                    .or_else(|| state.by_id.values().find(|m| m.receipt.as_deref() == Some(key.as_str())))
                {
                    params = status_of_payout(found, &plan.party, &config.merchant_name);
                    "0".to_owned()
                } else if let Some(tx) = stk.iter().find(|t| t.receipt.as_deref() == Some(key.as_str())) {
                    let when = json!(util::eat_compact(completed).parse::<u64>().unwrap_or(0));
                    params = vec![
                        ("DebitPartyName", json!(format!("{} - {}", tx.phone, name_for(&tx.phone)))),
                        ("CreditPartyName", json!(format!("{} - {}", plan.party, config.merchant_name))),
                        ("OriginatorConversationID", json!(tx.merchant_request_id)),
                        ("InitiatedTime", when.clone()),
                        ("DebitAccountType", json!("MMF Account For Customer")),
                        ("ReasonType", json!("Pay Bill Online")),
                        ("TransactionStatus", json!(if tx.state == TxState::Final { "Completed" } else { "Pending" })),
                        ("FinalisedTime", when),
                        ("Amount", json!(tx.amount)),
                        ("ConversationID", json!(tx.checkout_request_id)),
                        ("ReceiptNo", json!(key)),
                    ];
                    "0".to_owned()
                } else {
                    // Not a transaction the simulator knows (a request that never reached it).
                    "R000002".to_owned()
                }
            }
            MoneyOutKind::AccountBalance => {
                reference = vec![json!({"Key": "QueueTimeoutURL", "Value": reference_url("abresults")})];
                let bo = json!(util::eat_compact(completed).parse::<u64>().unwrap_or(0));
                if plan.initiator_ok && plan.party_ok {
                    let accounts: Vec<String> = ACCOUNT_NAMES
                        .iter()
                        .zip(state.balances)
                        .map(|(n, c)| format!("{n}|KES|{0}|{0}|0.00|0.00", money(c)))
                        .collect();
                    params = vec![("AccountBalance", json!(accounts.join("&"))), ("BOCompletedTime", bo)];
                    "0".to_owned()
                } else {
                    params = vec![("BOCompletedTime", bo)];
                    if plan.initiator_ok { "2028" } else { "2001" }.to_owned()
                }
            }
        };
        let desc = if code == "0" {
            result_desc(0)
        } else if view.kind == MoneyOutKind::TransactionStatus && code == "R000002" {
            "The transaction could not be found.".to_owned()
        } else {
            reversal_desc(&code)
        };
        let mut result = json!({
            "ResultType": 0,
            "ResultCode": code_json(&code),
            "ResultDesc": desc,
            "OriginatorConversationID": view.originator_conversation_id,
            "ConversationID": view.conversation_id,
            "TransactionID": receipt.clone().unwrap_or_else(|| "TFB0000000".into()),
        });
        if !params.is_empty() {
            // One item goes out as a single object, as Daraja does.
            let items: Vec<Value> = params.into_iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
            result["ResultParameters"] = json!({
                "ResultParameter": if items.len() == 1 { items[0].clone() } else { Value::Array(items) }
            });
        }
        result["ReferenceData"] =
            json!({"ReferenceItem": if reference.len() == 1 { reference[0].clone() } else { Value::Array(reference) }});
        let payload = json!({ "Result": result });
        let stored = state.by_id.get_mut(id)?;
        stored.result_code = Some(code.clone());
        stored.result_desc = Some(desc.clone());
        stored.receipt = receipt;
        stored.recipient_name = name;
        if let Some(p) = phone {
            stored.phone = p;
        }
        stored.completed_at_ms = Some(now_ms);
        stored.result_payload = Some(payload.clone());
        let url = stored.result_url.clone();
        drop(guard);
        self.log(LogKind::Outcome, format!("{id} -> {code} {desc}"), None);
        Some((url, payload))
    }

    async fn deliver_result(
        self,
        id: String,
        url: String,
        payload: Value,
        faults: (bool, bool, Option<std::time::Duration>),
    ) {
        let names = Delivery {
            log_id: None,
            dropped: format!("result dropped (fault) for {id}"),
            held: format!("result for {id}"),
            attempt: format!("result {id} to {url}"),
            with_body: false,
        };
        self.deliver_with_faults(&url, &payload, faults, names, |attempt| self.record_result_attempt(&id, attempt))
            .await;
    }

    fn record_result_attempt(&self, id: &str, attempt: CallbackAttempt) {
        if let Some(m) = self.inner.money.lock().by_id.get_mut(id) {
            m.callbacks.push(attempt);
        }
    }
}

/// Transaction Status parameters for a B2C payment or a reversal the simulator knows.
fn status_of_payout(m: &MoneyOutView, shortcode: &str, merchant: &str) -> Vec<(&'static str, Value)> {
    let status = match m.result_code.as_deref() {
        None => "Pending",
        Some("0") => "Completed",
        Some(QUEUE_TIMEOUT) => "Expired",
        Some(_) => "Declined",
    };
    let when = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_zoned_datetime(util::eat()).datetime().strftime("%Y%m%d%H%M%S").to_string())
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut p = vec![
        ("DebitPartyName", json!(format!("{shortcode} - {merchant}"))),
        ("CreditPartyName", json!(format!("{} - {}", m.phone, name_for(&m.phone)))),
        ("OriginatorConversationID", json!(m.originator_conversation_id)),
        ("InitiatedTime", json!(when(m.created_at_ms))),
        ("DebitAccountType", json!("Utility Account")),
        ("DebitPartyCharges", json!(format!("Fee For B2C Payment|KES|{}", money(b2c_charge_cents(m.amount))))),
        ("ReasonType", json!("Business Payment to Customer via API")),
        ("TransactionStatus", json!(status)),
        ("FinalisedTime", json!(m.completed_at_ms.map(when).unwrap_or(0))),
        ("Amount", json!(m.amount)),
        ("ConversationID", json!(m.conversation_id)),
    ];
    if m.kind == MoneyOutKind::Reversal {
        for (key, value) in &mut p {
            match *key {
                "ReasonType" => *value = json!("Reversal"),
                "DebitPartyCharges" => *value = json!(format!("Reversal Charge|KES|{}", money(0))),
                _ => {}
            }
        }
        p.push(("OriginalTransactionID", json!(m.transaction_id)));
    }
    match (&m.receipt, &m.result_desc) {
        (Some(r), _) => p.push(("ReceiptNo", json!(r))),
        (None, Some(desc)) => p.push(("TransactionReason", json!(desc))),
        (None, None) => {}
    }
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn money_text() {
        assert_eq!(super::money(48_312_050), "483120.50");
        assert_eq!(super::money(-34_000), "-340.00");
        assert_eq!(super::money(-5), "-0.05");
    }
}

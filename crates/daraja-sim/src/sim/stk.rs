//! STK pushes: accepting one, deciding it (test numbers, the handset, the control API, time), and
//! delivering its callback (with the injected faults, `super::deliver`).

use super::*;

/// Daraja's ResultDesc for a result code.
pub(crate) fn result_desc(code: i64) -> String {
    match code {
        0 => "The service request is processed successfully.",
        1 => "The balance is insufficient for the transaction.",
        2 => "Declined due to limit rule: less than the minimum transaction amount.",
        3 => "Declined due to limit rule: greater than the maximum transaction amount.",
        4 => "Declined due to limit rule: would exceed daily transfer limit.",
        8 => "Declined due to limit rule: would exceed the maximum balance.",
        17 => "Rule limited.",
        1001 => "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        1019 => "Transaction has expired",
        1025 => "An error occurred while sending a push request",
        1032 => "Request cancelled by user",
        1036 => "SMSC ACK timeout",
        1037 => "DS timeout user cannot be reached",
        2001 => "The initiator information is invalid.",
        2028 => "The request is not permitted according to product assignment",
        4999 => "The transaction is still under processing",
        8006 => "The security credential is locked",
        9999 => "Error occurred while sending a push request",
        other => return format!("Simulated result {other}"),
    }
    .to_owned()
}

/// The outcome a test number stands for, if it is one.
pub(crate) fn test_number_outcome(phone: &str) -> Option<i64> {
    match phone {
        "254708374149" | "254700000000" => Some(0),
        p if p.len() == 12 && p.starts_with("2547000") => p[7..].parse().ok(),
        _ => None,
    }
}

/// What the push handler hands over once the request is valid.
pub(crate) struct NewPush {
    pub phone: String,
    pub party_a: String,
    pub party_b: String,
    pub transaction_type: String,
    pub amount: u64,
    pub reference: String,
    pub description: String,
    pub callback_url: String,
    pub warnings: Vec<String>,
    pub product_ok: bool,
}

impl Simulator {
    /// Decide a pending push with `result_code` now; the callback follows asynchronously.
    pub fn complete(&self, checkout_request_id: &str, result_code: i64) -> Result<TransactionView, CompleteError> {
        let view = {
            let mut txs = lock(&self.inner.txs);
            let tx = txs.by_id.get_mut(checkout_request_id).ok_or(CompleteError::NotFound)?;
            if tx.state == TxState::Final {
                return Err(CompleteError::AlreadyFinal);
            }
            let now = util::now_ms();
            let desc = result_desc(result_code);
            let mut callback = json!({
                "MerchantRequestID": tx.merchant_request_id,
                "CheckoutRequestID": tx.checkout_request_id,
                "ResultCode": result_code,
                "ResultDesc": desc,
            });
            if result_code == 0 {
                let receipt = util::receipt(&mut *lock(&self.inner.rng));
                let date: u64 = util::eat_compact(util::now_eat()).parse().unwrap_or(0);
                let phone: u64 = tx.phone.parse().unwrap_or(0);
                callback["CallbackMetadata"] = json!({"Item": [
                    {"Name": "Amount", "Value": tx.amount as f64},
                    {"Name": "MpesaReceiptNumber", "Value": receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": date},
                    {"Name": "PhoneNumber", "Value": phone},
                ]});
                tx.receipt = Some(receipt);
            }
            tx.state = TxState::Final;
            tx.result_code = Some(result_code);
            tx.result_desc = Some(desc);
            tx.completed_at_ms = Some(now);
            tx.callback_payload = Some(json!({"Body": {"stkCallback": callback}}));
            tx.clone()
        };
        self.log(
            LogKind::Outcome,
            format!(
                "{} -> {} {}{}",
                view.checkout_request_id,
                result_code,
                view.result_desc.as_deref().unwrap_or(""),
                view.receipt.as_deref().map(|r| format!(" (receipt {r})")).unwrap_or_default()
            ),
            Some(&view.checkout_request_id),
        );
        let sim = self.clone();
        let id = view.checkout_request_id.clone();
        let url = view.callback_url.clone();
        let payload = view.callback_payload.clone().unwrap_or(Value::Null);
        // Faults are drawn now, so a later change of faults does not affect this callback.
        let plan = self.callback_faults();
        tokio::spawn(async move { sim.deliver(id, url, payload, plan).await });
        Ok(view)
    }

    /// Records an accepted push, or refuses it when the subscriber already has one pending.
    pub(crate) fn accept_push(&self, push: NewPush) -> Result<TransactionView, ()> {
        let config = &self.inner.config;
        let (decided_by, scripted) = if !push.product_ok {
            (Decider::ProductAssignment, Some(2028))
        } else if let Some(code) = test_number_outcome(&push.phone) {
            (Decider::TestNumber, Some(code))
        } else if let Some(code) = config.auto_outcome {
            (Decider::AutoOutcome, Some(code))
        } else {
            (Decider::Handset, None)
        };
        let prompt = self.prompt_text(push.amount, &push.reference);
        // Safaricom cannot send prompts longer than 182 characters (result 1025).
        let scripted = if prompt.chars().count() > 182 && decided_by != Decider::ProductAssignment {
            Some(1025)
        } else {
            scripted
        };
        let view = {
            let mut txs = lock(&self.inner.txs);
            // A real phone shows one prompt at a time, so a handset number is locked while its prompt is
            // open (Daraja's "Unable to lock subscriber"). Test numbers and automatic outcomes are like
            // test cards: many payments may use one at once.
            if decided_by == Decider::Handset
                && txs.by_id.values().any(|t| t.state == TxState::Pending && t.phone == push.phone)
            {
                return Err(());
            }
            let (checkout_request_id, merchant_request_id) = {
                let mut rng = lock(&self.inner.rng);
                let mut id = util::checkout_request_id(&mut *rng);
                while txs.by_id.contains_key(&id) {
                    id = util::checkout_request_id(&mut *rng);
                }
                (id, util::request_id(&mut *rng))
            };
            let view = TransactionView {
                checkout_request_id: checkout_request_id.clone(),
                merchant_request_id,
                phone: push.phone,
                party_a: push.party_a,
                party_b: push.party_b,
                transaction_type: push.transaction_type,
                amount: push.amount,
                reference: push.reference,
                description: push.description,
                callback_url: push.callback_url,
                prompt,
                state: TxState::Pending,
                decided_by,
                result_code: None,
                result_desc: None,
                receipt: None,
                created_at_ms: util::now_ms(),
                completed_at_ms: None,
                warnings: push.warnings,
                callback_payload: None,
                callbacks: Vec::new(),
            };
            if txs.order.len() >= TX_CAPACITY {
                // Forget the oldest decided push; pending ones must stay queryable.
                if let Some(pos) =
                    txs.order.iter().position(|id| txs.by_id.get(id).is_none_or(|t| t.state == TxState::Final))
                {
                    if let Some(old) = txs.order.remove(pos) {
                        txs.by_id.remove(&old);
                    }
                }
            }
            txs.order.push_back(checkout_request_id.clone());
            txs.by_id.insert(checkout_request_id, view.clone());
            view
        };
        let weak = Arc::downgrade(&self.inner);
        let id = view.checkout_request_id.clone();
        let (delay, code) = match scripted {
            Some(code) => (config.result_delay, code),
            None => (config.prompt_timeout, 1037),
        };
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            complete_if_alive(weak, &id, code);
        });
        Ok(view)
    }

    async fn deliver(self, id: String, url: String, payload: Value, faults: (bool, bool, Option<Duration>)) {
        let names = Delivery {
            log_id: Some(&id),
            dropped: format!("callback dropped (fault) for {id}"),
            held: format!("callback for {id}"),
            attempt: format!("callback to {url}"),
            with_body: true,
        };
        self.deliver_with_faults(&url, &payload, faults, names, |attempt| self.record_attempt(&id, attempt)).await;
    }

    fn record_attempt(&self, id: &str, attempt: CallbackAttempt) {
        if let Some(tx) = lock(&self.inner.txs).by_id.get_mut(id) {
            tx.callbacks.push(attempt);
        }
    }
}

fn complete_if_alive(weak: Weak<Inner>, id: &str, code: i64) {
    if let Some(inner) = weak.upgrade() {
        let sim = Simulator { inner };
        // Already decided by the handset or the control API: nothing to do.
        let _ = sim.complete(id, code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers() {
        assert_eq!(test_number_outcome("254708374149"), Some(0));
        assert_eq!(test_number_outcome("254700000000"), Some(0));
        assert_eq!(test_number_outcome("254700001032"), Some(1032));
        assert_eq!(test_number_outcome("254700000001"), Some(1));
        assert_eq!(test_number_outcome("254700000017"), Some(17));
        assert_eq!(test_number_outcome("254700009999"), Some(9999));
        assert_eq!(test_number_outcome("254712345678"), None);
    }
}

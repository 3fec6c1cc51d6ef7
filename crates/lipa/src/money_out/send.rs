//! Sending a payout or refund to Daraja, and asking Transaction Status about one, recording what became of
//! each request. Nothing here sends a request that could pay twice: B2C goes with the row's id as its
//! OriginatorConversationID (a resend is refused as a duplicate), a reversal is marked `sending` first and
//! never sent again.

use std::time::Duration;

use crate::app::{now_ms, AppState};
use crate::domain::money_out::{command_of, refused, Method, MoneyOut, SendState};
use crate::error::ApiError;

/// `{LIPA_PUBLIC_URL}/callbacks/result/{secret}`.
pub fn result_url(state: &AppState, secret: &str) -> String {
    format!("{}/callbacks/result/{secret}", state.public_base)
}

/// `{LIPA_PUBLIC_URL}/callbacks/timeout/{secret}`.
pub fn timeout_url(state: &AppState, secret: &str) -> String {
    format!("{}/callbacks/timeout/{secret}", state.public_base)
}

fn after(state: &AppState, d: Duration) -> i64 {
    now_ms() + state.cfg.reconcile_after.max(d).as_millis() as i64
}

/// Send a pending, queued (or, for B2C, possibly already sent) payout or refund, and record the answer.
/// Returns the row as it now is.
pub async fn send(state: &AppState, m: MoneyOut) -> Result<MoneyOut, ApiError> {
    let out = &state.money_out;
    let initiator = out.initiator()?;
    let id = m.id.clone();
    let result = match m.draft.method {
        Method::B2c => {
            let request = daraja::B2cRequest {
                originator_conversation_id: Some(m.id.clone()),
                initiator_name: initiator.name.clone(),
                security_credential: initiator.credential().to_string(),
                command_id: command_of(&m.draft.kind),
                amount: m.draft.amount as u64,
                party_a: out.b2c_shortcode.clone(),
                party_b: m.draft.phone.clone().unwrap_or_default(),
                remarks: m.draft.remarks.clone(),
                queue_time_out_url: timeout_url(state, m.callback_secret.as_str()),
                result_url: result_url(state, m.callback_secret.as_str()),
                occasion: None,
            };
            out.client.b2c_payment(&request).await
        }
        Method::Reversal => {
            if m.send_state != SendState::Queued {
                return Ok(m);
            }
            // From here on it is never sent again: its result, or Transaction Status, or a person settles it.
            let wait = state.cfg.daraja_timeout + Duration::from_secs(5);
            if !state.store.money_out_sending(&m.id, after(state, wait), now_ms()).await? {
                return reread(state, &id).await;
            }
            let request = daraja::ReversalRequest::new(
                initiator.name.clone(),
                initiator.credential(),
                m.draft.original_receipt.clone().unwrap_or_default(),
                m.draft.amount as u64,
                out.shortcode.clone(),
                result_url(state, m.callback_secret.as_str()),
                timeout_url(state, m.callback_secret.as_str()),
                m.draft.remarks.clone(),
            );
            out.client.reversal(&request).await
        }
    };
    let now = now_ms();
    let next = after(state, Duration::ZERO);
    match result {
        Ok(accepted) => {
            tracing::info!(id = %id, conversation_id = %accepted.conversation_id, "money out accepted by Daraja");
            let ocid = if accepted.originator_conversation_id.is_empty() {
                m.originator_conversation_id.clone().unwrap_or_else(|| id.clone())
            } else {
                accepted.originator_conversation_id.clone()
            };
            let conv = Some(accepted.conversation_id.as_str()).filter(|c| !c.is_empty());
            let found = state.store.money_out_accepted(&id, &ocid, conv, next, now).await?;
            found.ok_or(ApiError::NotFound("payout"))
        }
        // Sent before (a crash, a lost answer): Daraja has it, and the result comes as for the first send.
        Err(daraja::Error::DuplicateOriginatorConversationId { .. }) => {
            tracing::info!(id = %id, "Daraja already has this request (duplicate OriginatorConversationID): not paid again");
            let found = state.store.money_out_accepted(&id, &id, None, next, now).await?;
            found.ok_or(ApiError::NotFound("payout"))
        }
        Err(e) => {
            state.metrics.daraja_error("money_out", &e);
            let unknown = matches!(e, daraja::Error::OutcomeUnknown { .. } | daraja::Error::UnexpectedResponse { .. });
            if e.is_retry_safe() || unknown {
                // Not processed, or not known: checked again (B2C resent safely, a reversal asked about).
                tracing::warn!(id = %id, error = %e, "money out not confirmed sent; it will be checked again");
                state.store.money_out_retry_at(&id, next, false, now).await?;
                return reread(state, &id).await;
            }
            tracing::warn!(id = %id, error = %e, "money out refused by Daraja");
            let code = e.error_code().unwrap_or("refused").to_string();
            let reason = if matches!(e, daraja::Error::InvalidInput { .. }) { "error" } else { "rejected" };
            let change = refused(&m, &code, &e.to_string(), reason, now);
            state.store.money_out_change(&id, &change, now).await?;
            reread(state, &id).await
        }
    }
}

async fn reread(state: &AppState, id: &str) -> Result<MoneyOut, ApiError> {
    state.store.get_money_out(id).await?.ok_or(ApiError::NotFound("payout"))
}

/// Ask Transaction Status about a request whose result has not come; the answer comes to the row's query
/// URLs. Returns whether Daraja took the query.
pub async fn ask_status(state: &AppState, m: &MoneyOut) -> Result<bool, ApiError> {
    let out = &state.money_out;
    let initiator = out.initiator()?;
    let Some(ocid) = m.originator_conversation_id.clone() else { return Ok(false) };
    let shortcode = match m.draft.method {
        Method::B2c => out.b2c_shortcode.clone(),
        Method::Reversal => out.shortcode.clone(),
    };
    let mut request = daraja::TransactionStatusRequest::by_originator_conversation_id(
        initiator.name.clone(),
        initiator.credential(),
        ocid,
        shortcode,
        result_url(state, m.query_secret.as_str()),
        timeout_url(state, m.query_secret.as_str()),
    );
    request.occasion = Some(m.id.clone());
    match out.client.transaction_status(&request).await {
        Ok(_) => Ok(true),
        Err(e) => {
            state.metrics.daraja_error("transaction_status", &e);
            tracing::warn!(id = %m.id, error = %e, "Transaction Status query failed; trying again later");
            Ok(false)
        }
    }
}

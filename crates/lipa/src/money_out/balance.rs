//! `GET /v1/balance`: an Account Balance query whose result (asynchronous, to a URL of its own) is awaited,
//! bounded. The result is kept in the database, so it does not matter which instance Daraja calls back.

use std::time::{Duration, Instant};

use crate::api::money_out::{Balance, BalanceAccount, BalanceObject};
use crate::app::{now_ms, AppState};
use crate::domain::payment::rfc3339;
use crate::error::ApiError;

/// How long `GET /v1/balance` waits for Daraja's result.
pub const WAIT: Duration = Duration::from_secs(20);

/// Ask Account Balance and wait for its result.
pub async fn read(state: &AppState) -> Result<Balance, ApiError> {
    let out = &state.money_out;
    let initiator = out.initiator()?;
    let secret = crate::domain::ids::callback_secret();
    let now = now_ms();
    state.store.balance_requested(&secret, now).await?;
    let request = daraja::AccountBalanceRequest::new(
        initiator.name.clone(),
        initiator.credential(),
        out.b2c_shortcode.clone(),
        super::send::result_url(state, &secret),
        super::send::timeout_url(state, &secret),
    );
    out.client.account_balance(&request).await.map_err(|e| {
        state.metrics.daraja_error("balance", &e);
        ApiError::Unavailable(format!("Daraja refused the balance query: {e}"))
    })?;
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(body) = state.store.balance_result(&secret).await? {
            return answer(&body, now_ms());
        }
        if Instant::now() > deadline {
            return Err(ApiError::Unavailable(format!(
                "Daraja's balance result did not come within {} s; try again",
                WAIT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn answer(body: &[u8], now: i64) -> Result<Balance, ApiError> {
    let r = daraja::DarajaResult::parse(body)
        .map_err(|_| ApiError::Unavailable("Daraja's balance result cannot be read".into()))?;
    if !r.is_success() {
        return Err(ApiError::Unavailable(format!(
            "Daraja answered the balance query with {} {}",
            r.result_code.as_str(),
            r.result_desc
        )));
    }
    let accounts = r.balances().iter().map(BalanceAccount::of).collect();
    Ok(Balance { object: BalanceObject::Value, read_at: rfc3339(now), accounts })
}

//! `lipa doctor`'s money-out check: is an initiator set up, does its password encrypt with the certificate
//! for the mode, and does Daraja accept the two? Daraja answers that last question only asynchronously (a
//! wrong initiator or password is result 2001), so the doctor sends an Account Balance query whose result
//! goes to the running gateway's `/callbacks/result/…` URL, which keeps it in the shared database, and
//! reads it from there.

use std::time::{Duration, Instant};

use super::{Level, Report};
use crate::config::{Config, Mode};
use crate::money_out::settings;

const CHECK: &str = "initiator";

/// How long the doctor waits for the balance result.
const WAIT: Duration = Duration::from_secs(20);

pub async fn check(cfg: &Config, client: Option<&daraja::Client>, r: &mut Report) {
    let s = &cfg.money_out;
    let Some((name, password)) = s.initiator(cfg.mode) else {
        r.push(
            CHECK,
            Level::Warn,
            "payouts, refunds and the balance are off: no initiator is set",
            Some("set MPESA_INITIATOR_NAME and MPESA_INITIATOR_PASSWORD (an API operator of the B2C shortcode; see README, Payouts and refunds)"),
        );
        return;
    };
    let cert = match s.certificate(cfg.mode) {
        Ok(c) => c,
        Err(e) => {
            return r.push(
                CHECK,
                Level::Error,
                e,
                Some("point MPESA_CERTIFICATE at Safaricom's certificate, or unset it"),
            )
        }
    };
    let credential = match settings::credential(&cert, &password) {
        Ok(c) => c,
        Err(e) => return r.push(CHECK, Level::Error, e, None),
    };
    if cfg.mode == Mode::Simulator {
        r.ok(CHECK, format!("simulator mode: initiator {name} with the simulator's certificate"));
        return;
    }
    if s.initiator_name.is_none() {
        r.ok(CHECK, format!("sandbox: Daraja's public test initiator {name} (set MPESA_INITIATOR_NAME for your own)"));
        return;
    }
    let Some(client) = client else { return };
    let Some(public) = cfg.public_url.as_deref() else {
        r.push(
            CHECK,
            Level::Warn,
            format!("initiator {name} is set; whether Daraja accepts it can only be told with LIPA_PUBLIC_URL set"),
            Some("set LIPA_PUBLIC_URL, start lipa serve, and run lipa doctor again"),
        );
        return;
    };
    let store = match crate::store::open(&cfg.database_url).await {
        Ok(s) => s,
        Err(_) => return, // the database check already said why
    };
    let secret = crate::domain::ids::callback_secret();
    if store.balance_requested(&secret, crate::now_ms()).await.is_err() {
        return;
    }
    let shortcode = s.b2c_shortcode.clone().unwrap_or_else(|| cfg.shortcode.clone());
    let request = daraja::AccountBalanceRequest::new(
        name.clone(),
        credential,
        shortcode.clone(),
        format!("{public}/callbacks/result/{secret}"),
        format!("{public}/callbacks/timeout/{secret}"),
    );
    if let Err(e) = client.account_balance(&request).await {
        r.push(
            CHECK,
            Level::Error,
            format!("Daraja refused an Account Balance query for shortcode {shortcode}: {e}"),
            Some("check that your Daraja app has the B2C / Account Balance products and MPESA_B2C_SHORTCODE is right"),
        );
        return;
    }
    let deadline = Instant::now() + WAIT;
    let body = loop {
        if let Ok(Some(body)) = store.balance_result(&secret).await {
            break body;
        }
        if Instant::now() > deadline {
            r.push(
                CHECK,
                Level::Warn,
                format!(
                    "Daraja took the balance query, but its result did not reach {public} within {} s",
                    WAIT.as_secs()
                ),
                Some("run lipa doctor while lipa serve is running at LIPA_PUBLIC_URL on the same database"),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    match daraja::DarajaResult::parse(&body) {
        Ok(res) if res.is_success() => {
            r.ok(CHECK, format!("Daraja accepted initiator {name} and its password (balance of {shortcode} read)"))
        }
        Ok(res) => r.push(
            CHECK,
            Level::Error,
            format!("Daraja refused initiator {name}: {} {}", res.result_code.as_str(), res.result_desc),
            Some(
                "check MPESA_INITIATOR_NAME and MPESA_INITIATOR_PASSWORD (the API operator's, not a web user's), its \
                 roles on the org portal, and that MPESA_CERTIFICATE is the certificate for this environment",
            ),
        ),
        Err(_) => r.push(CHECK, Level::Warn, "the balance result could not be read", None),
    }
}

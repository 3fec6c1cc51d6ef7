//! Money arriving on the handset, in a real browser (headless Chromium over WebDriver): a person
//! watching their number sees "You have received KES 1,500 from LIPA DEMO SHOP." after a B2C payout.
//!
//! Needs chromium and chromedriver (`CHROMEDRIVER`, `CHROME_BIN` override /usr/bin/chromedriver and
//! /usr/bin/chromium); without them the test says it is skipped and passes.

mod common;

use common::browser::Browser;
use common::{fast_config, spawn};
use daraja::{B2cCommand, B2cRequest, Certificate, Client, Config, Environment};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handset_shows_money_arriving() {
    let Some(b) = Browser::start_or_skip().await else { return };
    let h = spawn(fast_config()).await;
    b.goto(&format!("{}/sim/handset", h.base)).await;
    b.type_enter("#phone", "0712 345 678").await;
    b.wait_for("the empty list", "document.getElementById('received').innerText.includes('Nothing received yet')")
        .await;

    let env: Environment = h.base.parse().unwrap();
    let client = Client::new(Config::new(env, "key", "secret", common::SHORTCODE, common::PASSKEY)).unwrap();
    let cert = Certificate::parse(daraja_sim::SIM_CERTIFICATE_PEM.as_bytes()).unwrap();
    client
        .b2c_payment(&B2cRequest {
            originator_conversation_id: Some("po_browser".into()),
            initiator_name: "testapi".into(),
            security_credential: cert.security_credential(&daraja_sim::SANDBOX_INITIATOR_PASSWORD.into()).unwrap(),
            command_id: B2cCommand::BusinessPayment,
            amount: 1500,
            party_a: common::SHORTCODE.into(),
            party_b: "254712345678".into(),
            remarks: "Rider payout".into(),
            queue_time_out_url: h.receiver.url.clone(),
            result_url: h.receiver.url.clone(),
            occasion: None,
        })
        .await
        .unwrap();
    b.wait_for(
        "the money on the handset",
        "document.getElementById('received').innerText.includes('You have received KES 1,500 from LIPA DEMO SHOP.')",
    )
    .await;
    let receipt = h.sim.money_out_request("po_browser").unwrap().receipt.unwrap();
    assert!(b.text("#received").await.contains(&receipt));
    b.quit().await;
}

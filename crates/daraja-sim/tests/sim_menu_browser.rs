//! The handset's SIM menu in a real browser (headless Chromium over WebDriver, plain HTTP with reqwest):
//! a person pays a paybill by hand (Lipa na M-PESA → Pay Bill → number → account → amount → PIN) and
//! opens a scanned Dynamic QR link that goes straight to the PIN; the merchant gets the confirmations.
//!
//! Needs chromium and chromedriver (`CHROMEDRIVER`, `CHROME_BIN` override /usr/bin/chromedriver and
//! /usr/bin/chromium); without them the test says it is skipped and passes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use common::browser::Browser;
use common::{fast_config, spawn, SHORTCODE};
use daraja_sim::{C2bStatus, SimConfig};
use serde_json::{json, Value};

async fn confirmation(State(got): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> Json<Value> {
    got.lock().unwrap().push(body);
    Json(json!({"ResultCode": 0, "ResultDesc": "Success"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_pays_a_paybill_and_a_scanned_qr_from_the_sim_menu() {
    let Some(b) = Browser::start_or_skip().await else { return };
    let h = spawn(SimConfig { till_number: Some("5551234".into()), ..fast_config() }).await;
    // The merchant: accepts validation (answering like Daraja expects), stores confirmations.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let merchant = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/c2b/confirmation", post(confirmation))
        .route("/c2b/validation", post(|| async { Json(json!({"ResultCode": "0", "ResultDesc": "Accepted"})) }))
        .with_state(got.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let token = h.token().await;
    let reg = json!({"ShortCode": SHORTCODE, "ResponseType": "Completed",
        "ConfirmationURL": format!("{merchant}/c2b/confirmation"), "ValidationURL": format!("{merchant}/c2b/validation")});
    assert_eq!(h.post_json("/mpesa/c2b/v2/registerurl", &token, &reg).await.status, 200);

    b.goto(&format!("{}/sim/handset", h.base)).await;
    b.type_enter("#phone", "0712345678").await;
    b.click("button[data-choice=lipa]").await;
    b.click("button[data-choice=paybill]").await;
    b.type_enter("#simmenu-number", SHORTCODE).await;
    b.type_enter("#simmenu-account", "ORDER-9").await;
    b.type_enter("#simmenu-amount", "75").await;
    b.wait_for("the PIN step", "document.querySelector('#simmenu-pin')").await;
    assert!(b.text("#simmenu").await.contains("Pay Ksh75 to Pay Bill 174379, account ORDER-9?"));
    b.type_enter("#simmenu-pin", "1234").await;
    b.wait_for("the confirmation message", "document.querySelector('#simmenu-sms')").await;
    let sms = b.text("#simmenu-sms").await;
    assert!(sms.contains("Confirmed. Ksh75.00 sent to LIPA DEMO SHOP for account ORDER-9"), "{sms}");
    let paid = h.sim.c2b_payments()[0].clone();
    assert_eq!(
        (paid.status, paid.phone.as_str(), paid.source.as_str()),
        (C2bStatus::Completed, "254712345678", "sim_menu")
    );

    // A scanned QR code: the link opens the PIN step with everything filled in.
    let qr = json!({"MerchantName": "EXAMPLE DUKA", "RefNo": "INV-5", "Amount": 40, "TrxCode": "PB", "CPI": SHORTCODE, "Size": "300"});
    let a = h.post_json("/mpesa/qrcode/v1/generate", &token, &qr).await;
    let link = a.headers.get("x-sim-qr-link").unwrap().to_str().unwrap().to_owned();
    b.goto(&link).await;
    b.wait_for("the PIN step", "document.querySelector('#simmenu-pin')").await;
    assert!(b.text("#simmenu").await.contains("Pay Ksh40 to EXAMPLE DUKA (Pay Bill 174379, account INV-5)?"));
    b.type_enter("#simmenu-pin", "0000").await;
    b.wait_for("the wrong-PIN message", "document.querySelector('#simmenu-sms')").await;
    assert!(b.text("#simmenu-sms").await.contains("Wrong PIN"));
    b.goto(&link).await;
    b.wait_for("the PIN step again", "document.querySelector('#simmenu-pin')").await;
    b.type_enter("#simmenu-pin", "2468").await;
    b.wait_for("the confirmation message", "document.querySelector('#simmenu-sms')").await;
    assert!(b.text("#simmenu-sms").await.contains("Ksh40.00 sent to LIPA DEMO SHOP for account INV-5"));
    b.quit().await;

    let start = Instant::now();
    while got.lock().unwrap().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "confirmations did not arrive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accounts: Vec<Value> = got.lock().unwrap().iter().map(|c| c["BillRefNumber"].clone()).collect();
    assert_eq!(accounts, [json!("ORDER-9"), json!("INV-5")]);
    assert_eq!(h.sim.c2b_payments()[0].source, "qr");
}

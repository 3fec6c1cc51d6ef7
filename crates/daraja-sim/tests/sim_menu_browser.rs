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
use common::{fast_config, spawn, SHORTCODE};
use daraja_sim::{C2bStatus, SimConfig};
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ENTER: &str = "\u{E007}";

struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    profile: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl Browser {
    async fn start(chromedriver: &str, chrome: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        loop {
            let ready = match http.get(format!("{base}/status")).send().await {
                Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["value"]["ready"].as_bool()) == Some(true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("sim-menu-browser-{}-{port}", std::process::id()));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chrome,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking", "--disable-sync",
                     format!("--user-data-dir={}", profile.display())]}}}});
        let v: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_owned();
        Browser { http, base, session, profile, _child: child }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let resp = self.http.post(url).json(&body).send().await.unwrap();
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(ok, "WebDriver {path}: {v}");
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    async fn element(&self, css: &str) -> String {
        let v = self.post("/element", json!({ "using": "css selector", "value": css })).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    async fn type_enter(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": format!("{text}{ENTER}") })).await;
    }

    async fn wait_for(&self, what: &str, expr: &str) {
        let start = Instant::now();
        loop {
            if self.js(&format!("return !!({expr});")).await.as_bool() == Some(true) {
                return;
            }
            if start.elapsed() > Duration::from_secs(15) {
                let text = self.js("return document.body.innerText").await;
                panic!("timed out waiting for {what}; page:\n{}", text.as_str().unwrap_or(""));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        let v = self.js(&format!("var e = document.querySelector({}); return e ? e.innerText : '';", json!(css))).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn tool(env: &str, default: &str) -> Option<String> {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    std::path::Path::new(&path).exists().then_some(path)
}

async fn confirmation(State(got): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>) -> Json<Value> {
    got.lock().unwrap().push(body);
    Json(json!({"ResultCode": 0, "ResultDesc": "Success"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_pays_a_paybill_and_a_scanned_qr_from_the_sim_menu() {
    let (Some(chromedriver), Some(chrome)) =
        (tool("CHROMEDRIVER", "/usr/bin/chromedriver"), tool("CHROME_BIN", "/usr/bin/chromium"))
    else {
        eprintln!("SKIPPED: needs chromedriver and chromium");
        return;
    };
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

    let b = Browser::start(&chromedriver, &chrome).await;
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

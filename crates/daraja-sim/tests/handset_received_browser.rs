//! Money arriving on the handset, in a real browser (headless Chromium over WebDriver): a person
//! watching their number sees "You have received KES 1,500 from LIPA DEMO SHOP." after a B2C payout.
//!
//! Needs chromium and chromedriver (`CHROMEDRIVER`, `CHROME_BIN` override /usr/bin/chromedriver and
//! /usr/bin/chromium); without them the test says it is skipped and passes. The WebDriver helper is the
//! one in sim_menu_browser.rs.

mod common;

use std::time::{Duration, Instant};

use common::{fast_config, spawn};
use daraja::{B2cCommand, B2cRequest, Certificate, Client, Config, Environment};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handset_shows_money_arriving() {
    let (Some(chromedriver), Some(chrome)) =
        (tool("CHROMEDRIVER", "/usr/bin/chromedriver"), tool("CHROME_BIN", "/usr/bin/chromium"))
    else {
        eprintln!("SKIPPED: needs chromedriver and chromium");
        return;
    };
    let h = spawn(fast_config()).await;
    let b = Browser::start(&chromedriver, &chrome).await;
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

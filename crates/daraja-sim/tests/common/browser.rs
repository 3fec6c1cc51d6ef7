//! A headless Chromium driven over WebDriver (chromedriver), plain HTTP with reqwest, for the browser tests.
//! `tool` finds chromedriver and chromium (`CHROMEDRIVER`, `CHROME_BIN` override /usr/bin/chromedriver and
//! /usr/bin/chromium); a test without them says it is skipped.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const ENTER: &str = "\u{E007}";

pub struct Browser {
    http: reqwest::Client,
    base: String,
    session: String,
    profile: std::path::PathBuf,
    _child: tokio::process::Child,
}

impl Browser {
    /// A browser from the `tool`s, or `None` after saying the test is skipped (no chromedriver or chromium).
    pub async fn start_or_skip() -> Option<Browser> {
        let (Some(chromedriver), Some(chrome)) =
            (tool("CHROMEDRIVER", "/usr/bin/chromedriver"), tool("CHROME_BIN", "/usr/bin/chromium"))
        else {
            eprintln!("SKIPPED: needs chromedriver and chromium");
            return None;
        };
        Some(Browser::start(&chromedriver, &chrome).await)
    }

    pub async fn start(chromedriver: &str, chrome: &str) -> Browser {
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

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let resp = self.http.post(url).json(&body).send().await.unwrap();
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(ok, "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] })).await
    }

    pub async fn element(&self, css: &str) -> String {
        let v = self.post("/element", json!({ "using": "css selector", "value": css })).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {v}")).to_owned()
    }

    pub async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    pub async fn type_enter(&self, css: &str, text: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": format!("{text}{ENTER}") })).await;
    }

    pub async fn wait_for(&self, what: &str, expr: &str) {
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

    pub async fn text(&self, css: &str) -> String {
        let v = self.js(&format!("var e = document.querySelector({}); return e ? e.innerText : '';", json!(css))).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    pub async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

pub fn tool(env: &str, default: &str) -> Option<String> {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    std::path::Path::new(&path).exists().then_some(path)
}

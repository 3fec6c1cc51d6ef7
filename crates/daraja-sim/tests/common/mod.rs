//! Test harness: a simulator and a callback receiver on 127.0.0.1:0, plain reqwest.
#![allow(dead_code)]

pub mod browser;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use daraja_sim::{SimConfig, Simulator, TransactionView, TxState};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

pub const SHORTCODE: &str = "174379";
pub const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
pub const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Value>>>,
    pub status: Arc<AtomicU16>,
}

impl Receiver {
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    pub fn for_id(&self, id: &str) -> Vec<Value> {
        self.bodies().into_iter().filter(|b| b["Body"]["stkCallback"]["CheckoutRequestID"] == id).collect()
    }
}

async fn receive(State(r): State<Receiver>, Json(body): Json<Value>) -> (StatusCode, String) {
    r.bodies.lock().unwrap().push(body);
    let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
    let answer = if status.is_success() {
        r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#.to_owned()
    } else {
        "receiver says no".to_owned()
    };
    (status, answer)
}

pub async fn spawn_receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = Receiver {
        url: format!("http://{}/callbacks/stk/abc123", listener.local_addr().unwrap()),
        status: Arc::new(AtomicU16::new(200)),
        bodies: Arc::default(),
    };
    let app = Router::new().route("/callbacks/stk/abc123", post(receive)).with_state(r.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    r
}

pub struct Harness {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
    pub receiver: Receiver,
}

pub fn fast_config() -> SimConfig {
    SimConfig { result_delay: Duration::from_millis(50), ..SimConfig::default() }
}

pub async fn spawn(config: SimConfig) -> Harness {
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Harness {
        sim,
        base,
        http: reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap(),
        receiver: spawn_receiver().await,
    }
}

/// `YYYYMMDDHHmmss` in East Africa Time, shifted by `offset_secs`.
pub fn eat_timestamp(offset_secs: i64) -> String {
    let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(3));
    let t = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(offset_secs);
    t.to_zoned_datetime(tz).datetime().strftime("%Y%m%d%H%M%S").to_string()
}

pub fn password(shortcode: &str, passkey: &str, timestamp: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{shortcode}{passkey}{timestamp}"))
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn error_code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }
    pub fn error_message(&self) -> &str {
        self.body["errorMessage"].as_str().unwrap_or("")
    }
    pub fn warnings(&self) -> Vec<String> {
        self.headers.get_all("x-sim-warning").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }
    pub fn checkout_id(&self) -> String {
        self.body["CheckoutRequestID"].as_str().unwrap().to_owned()
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer { status, headers, body }
}

impl Harness {
    /// `GET /oauth/v1/generate?grant_type=…`, with Basic `(key, secret)` when given.
    pub async fn oauth(&self, grant_type: &str, credentials: Option<(&str, &str)>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}/oauth/v1/generate?grant_type={grant_type}", self.base));
        if let Some((key, secret)) = credentials {
            req = req.basic_auth(key, Some(secret));
        }
        req.send().await.unwrap()
    }

    pub async fn token(&self) -> String {
        let resp = self.oauth("client_credentials", Some(("key", "secret"))).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub fn push_body(&self, phone: &str, amount: u64) -> Value {
        let ts = eat_timestamp(0);
        json!({
            "BusinessShortCode": SHORTCODE,
            "Password": password(SHORTCODE, PASSKEY, &ts),
            "Timestamp": ts,
            "TransactionType": "CustomerPayBillOnline",
            "Amount": amount,
            "PartyA": phone,
            "PartyB": SHORTCODE,
            "PhoneNumber": phone,
            "CallBackURL": self.receiver.url,
            "AccountReference": "ORDER-1",
            "TransactionDesc": "Order 1",
        })
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Answer {
        let resp = self.http.post(format!("{}{path}", self.base)).bearer_auth(token).json(body).send().await.unwrap();
        answer(resp).await
    }

    /// POSTs `good` to `path` once per `(field, value)`, with that field set to the value, and asserts
    /// each is refused as Daraja does: HTTP 400, `400.002.02`, "Bad Request - Invalid {field}".
    pub async fn assert_invalid_fields(&self, path: &str, token: &str, good: &Value, cases: Vec<(&str, Value)>) {
        for (field, value) in cases {
            let mut body = good.clone();
            body[field] = value;
            let a = self.post_json(path, token, &body).await;
            let message = format!("Bad Request - Invalid {field}");
            assert_eq!((a.status, a.error_code(), a.error_message()), (400, "400.002.02", message.as_str()), "{field}");
        }
    }

    pub async fn push(&self, token: &str, body: &Value) -> Answer {
        self.post_json("/mpesa/stkpush/v1/processrequest", token, body).await
    }

    pub async fn query(&self, token: &str, checkout_id: &str) -> Answer {
        let ts = eat_timestamp(0);
        let body = json!({
            "BusinessShortCode": SHORTCODE,
            "Password": password(SHORTCODE, PASSKEY, &ts),
            "Timestamp": ts,
            "CheckoutRequestID": checkout_id,
        });
        self.post_json("/mpesa/stkpushquery/v1/query", token, &body).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(self.http.get(format!("{}{path}", self.base)).send().await.unwrap()).await
    }

    pub async fn post_control(&self, path: &str, body: &Value) -> Answer {
        let resp = self.http.post(format!("{}{path}", self.base)).json(body).send().await.unwrap();
        answer(resp).await
    }

    /// Waits until `n` callbacks for `id` arrived at the receiver.
    pub async fn callbacks(&self, id: &str, n: usize) -> Vec<Value> {
        poll(|| {
            let got = self.receiver.for_id(id);
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Waits until the push is final and has `attempts` recorded callback attempts.
    pub async fn settled(&self, id: &str, attempts: usize) -> TransactionView {
        poll(|| self.sim.transaction(id).filter(|t| t.state == TxState::Final && t.callbacks.len() >= attempts)).await
    }
}

/// Polls `f` every 10 ms until it yields, failing after `DEADLINE`.
pub async fn poll<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = tokio::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "condition not met within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

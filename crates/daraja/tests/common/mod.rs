//! A small in-process Daraja stand-in for the client tests.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use daraja::{Clock, Config, Environment};
use serde_json::Value;

pub const SHORTCODE: &str = "174379";
pub const PASSKEY: &str = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919";
pub const KEY: &str = "test-consumer-key";
pub const SECRET: &str = "test-consumer-secret";

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Default)]
pub struct MockState {
    pub oauth_count: AtomicU64,
    pub push_count: AtomicU64,
    pub query_count: AtomicU64,
    pub oauth_delay: Mutex<Duration>,
    pub push_delay: Mutex<Duration>,
    /// `expires_in` value returned by OAuth (default `"3599"`).
    pub expires_in: Mutex<Option<Value>>,
    /// When set, OAuth answers with this status and body.
    pub oauth_answer: Mutex<Option<(u16, String)>>,
    pub push_script: Mutex<VecDeque<(u16, String)>>,
    pub query_script: Mutex<VecDeque<(u16, String)>>,
    pub pushes: Mutex<Vec<Received>>,
    pub oauth_auth_headers: Mutex<Vec<String>>,
}

impl MockState {
    pub fn script_push(&self, status: u16, body: impl Into<String>) {
        self.push_script.lock().unwrap().push_back((status, body.into()));
    }
    pub fn script_query(&self, status: u16, body: impl Into<String>) {
        self.query_script.lock().unwrap().push_back((status, body.into()));
    }
    pub fn oauth(&self) -> u64 {
        self.oauth_count.load(Ordering::SeqCst)
    }
    pub fn pushes_received(&self) -> u64 {
        self.push_count.load(Ordering::SeqCst)
    }
    /// The `Authorization` header of every push received, in order.
    pub fn push_authorizations(&self) -> Vec<String> {
        self.pushes.lock().unwrap().iter().map(|r| r.authorization.clone().unwrap()).collect()
    }
}

pub struct Mock {
    pub state: Arc<MockState>,
    pub url: url::Url,
}

impl Mock {
    pub async fn start() -> Mock {
        let state = Arc::new(MockState::default());
        let app = Router::new()
            .route("/oauth/v1/generate", get(oauth))
            .route("/mpesa/stkpush/v1/processrequest", post(push))
            .route("/mpesa/stkpushquery/v1/query", post(query))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { state, url: format!("http://{addr}").parse().unwrap() }
    }

    pub fn config(&self) -> Config {
        Config::new(Environment::Custom(self.url.clone()), KEY, SECRET, SHORTCODE, PASSKEY)
    }
}

fn answer(status: u16, body: String) -> Response {
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body).into_response()
}

async fn oauth(State(s): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    let n = s.oauth_count.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(h) = headers.get("authorization") {
        s.oauth_auth_headers.lock().unwrap().push(h.to_str().unwrap().to_owned());
    }
    let delay = *s.oauth_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((status, body)) = s.oauth_answer.lock().unwrap().clone() {
        return answer(status, body);
    }
    let expires = s.expires_in.lock().unwrap().clone().unwrap_or(Value::String("3599".into()));
    answer(200, serde_json::json!({"access_token": format!("token-{n}"), "expires_in": expires}).to_string())
}

fn record(headers: &HeaderMap, body: &Bytes) -> Received {
    Received {
        authorization: headers.get("authorization").map(|h| h.to_str().unwrap().to_owned()),
        content_type: headers.get("content-type").map(|h| h.to_str().unwrap().to_owned()),
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    }
}

async fn push(State(s): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    s.push_count.fetch_add(1, Ordering::SeqCst);
    s.pushes.lock().unwrap().push(record(&headers, &body));
    let delay = *s.push_delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = s.push_script.lock().unwrap().pop_front();
    match scripted {
        Some((status, body)) => answer(status, body),
        None => answer(200, fixture("stkpush_ok.json")),
    }
}

async fn query(State(s): State<Arc<MockState>>, body: Bytes) -> Response {
    s.query_count.fetch_add(1, Ordering::SeqCst);
    let _ = body;
    let scripted = s.query_script.lock().unwrap().pop_front();
    match scripted {
        Some((status, body)) => answer(status, body),
        None => answer(500, fixture("stkquery_pending_http500.json")),
    }
}

/// A clock tests move by hand.
pub struct ManualClock(Mutex<jiff::Timestamp>);

impl ManualClock {
    pub fn at(rfc3339: &str) -> Arc<ManualClock> {
        Arc::new(ManualClock(Mutex::new(rfc3339.parse().unwrap())))
    }
    pub fn advance(&self, secs: i64) {
        let mut t = self.0.lock().unwrap();
        *t += jiff::SignedDuration::from_secs(secs);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

pub fn sample_push() -> daraja::StkPush {
    daraja::StkPush {
        phone: daraja::Msisdn::parse("0708 374 149").unwrap(),
        amount: daraja::Amount::new(800).unwrap(),
        reference: daraja::AccountReference::new("ORDER-42", 12).unwrap(),
        description: daraja::TransactionDesc::new("Order 42"),
        callback_url: "https://shop.example/cb/4f9c2e".into(),
    }
}

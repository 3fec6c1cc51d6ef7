//! Webhooks as a merchant's site meets them: a real receiver (an axum server in the test) gets signed
//! events from the real gateway, on SQLite and, when `LIPA_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use lipa::webhook::{verify, VerifyError, DEFAULT_TOLERANCE};
use serde_json::{json, Value};

const SECRET: &str = "whsec_test_0123456789abcdef";

#[derive(Clone, Debug)]
struct Hit {
    at: Instant,
    signature: String,
    content_type: String,
    body: Vec<u8>,
    /// What the receiver answered.
    answered: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    fn id(&self) -> String {
        self.json()["id"].as_str().unwrap().to_string()
    }
}

#[derive(Default)]
struct Inner {
    hits: Vec<Hit>,
    /// Answers to give first, in order; then `default`.
    script: VecDeque<u16>,
    default: u16,
}

/// The merchant's site: records every request and answers as told.
#[derive(Clone)]
struct Receiver {
    inner: Arc<Mutex<Inner>>,
    url: String,
}

impl Receiver {
    async fn start(default: u16, script: &[u16]) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner { hits: Vec::new(), script: script.iter().copied().collect(), default }));
        let state = inner.clone();
        let app = axum::Router::new().route(
            "/hooks/lipa",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    let mut s = state.lock().unwrap();
                    let answer = s.script.pop_front().unwrap_or(s.default);
                    let header =
                        |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    s.hits.push(Hit {
                        at: Instant::now(),
                        signature: header("lipa-signature"),
                        content_type: header("content-type"),
                        body: body.to_vec(),
                        answered: answer,
                    });
                    StatusCode::from_u16(answer).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/lipa?token=in-the-query", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { inner, url }
    }

    fn hits(&self) -> Vec<Hit> {
        self.inner.lock().unwrap().hits.clone()
    }

    fn hits_for(&self, event_id: &str) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.id() == event_id).collect()
    }

    fn answer(&self, status: u16) {
        self.inner.lock().unwrap().default = status;
    }

    /// Poll until `n` requests for this event have come.
    async fn wait_for(&self, event_id: &str, n: usize, within: Duration) -> Vec<Hit> {
        poll(within, || async {
            let hits = self.hits_for(event_id);
            (hits.len() >= n).then_some(hits)
        })
        .await
        .unwrap_or_else(|| {
            panic!("{event_id}: fewer than {n} webhook requests within {within:?}: {:?}", self.hits_for(event_id).len())
        })
    }
}

fn env<'a>(receiver: &'a Receiver, retry_base: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("LIPA_WEBHOOK_URL", receiver.url.as_str()),
        ("LIPA_WEBHOOK_SECRET", SECRET),
        ("LIPA_WEBHOOK_RETRY_BASE", retry_base),
        ("LIPA_WORKER_TICK", "50ms"),
    ]
}

/// Create a payment with a simulator test number and return the id of its one event once it exists.
async fn paid_event(app: &TestApp, phone: &str, reference: &str) -> (String, String) {
    let p = app.create(json!({"amount": 800, "phone": phone, "reference": reference})).await;
    let id = p["id"].as_str().unwrap().to_string();
    app.settled(&id).await;
    let events = app.events_for(&id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    (id, events[0]["id"].as_str().unwrap().to_string())
}

async fn event(app: &TestApp, id: &str) -> Value {
    let (status, e) = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(status, 200, "{e}");
    e
}

async fn wait_delivery(app: &TestApp, id: &str, status: &str, within: Duration) -> Value {
    let got = poll(within, || async {
        let e = event(app, id).await;
        (e["delivery"]["status"] == status).then_some(e)
    })
    .await;
    match got {
        Some(e) => e,
        None => panic!("{id} did not reach delivery status {status} within {within:?}: {}", event(app, id).await),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The body of a delivered event is the API's event without `delivery`, signed as documented; a wrong
/// secret or an old timestamp fails; a delivered event is not sent again.
async fn events_arrive_signed_and_once(backend: Backend) {
    let receiver = Receiver::start(200, &[]).await;
    let app = spawn_with(&backend, &env(&receiver, "200ms")).await;
    let (payment_id, event_id) = paid_event(&app, "0708374149", "WH-SIGN").await;
    let hit = receiver.wait_for(&event_id, 1, Duration::from_secs(20)).await.remove(0);

    assert!(hit.content_type.starts_with("application/json"), "{}", hit.content_type);
    assert_eq!(verify(SECRET, &hit.signature, &hit.body, now(), DEFAULT_TOLERANCE), Ok(()), "{}", hit.signature);
    assert_eq!(verify("whsec_wrong", &hit.signature, &hit.body, now(), DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
    assert_eq!(verify(SECRET, &hit.signature, &hit.body, now() + 600, DEFAULT_TOLERANCE), Err(VerifyError::Expired));
    let t: i64 = hit.signature.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((now() - t).abs() < 60, "the signature's timestamp is the sending time: {t}");

    let body = hit.json();
    let mut api = event(&app, &event_id).await;
    let delivery = api.as_object_mut().unwrap().remove("delivery").expect("the API shows delivery");
    assert_eq!(body, api, "the webhook body is the event object");
    assert_eq!(body["type"], "payment.succeeded");
    assert_eq!(body["data"]["id"], payment_id.as_str());
    assert_eq!(body["data"]["status"], "succeeded");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    let _ = delivery;
    let e = wait_delivery(&app, &event_id, "delivered", Duration::from_secs(10)).await;
    assert_eq!(e["delivery"]["attempts"], 1, "{e}");
    assert!(e["delivery"]["delivered_at"].is_string(), "{e}");

    let attempts = app.gw.state.store.webhook_attempts(&event_id).await.unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].http_status, Some(200));
    assert_eq!(attempts[0].outcome, "delivered");
    assert!(!attempts[0].url.contains("token"), "the query string may hold a token: {}", attempts[0].url);
    let log = app.gw.state.store.payment_log(&payment_id).await.unwrap();
    assert!(log.iter().any(|l| l.kind == "webhook" && l.detail.contains("HTTP 200")), "{log:?}");

    // A second event is delivered after the first; the first has still come only once.
    let (_, second) = paid_event(&app, "0700001032", "WH-SIGN2").await;
    receiver.wait_for(&second, 1, Duration::from_secs(20)).await;
    wait_delivery(&app, &second, "delivered", Duration::from_secs(10)).await;
    assert_eq!(receiver.hits_for(&event_id).len(), 1, "a delivered event is not sent again");
    assert_eq!(receiver.hits_for(&second)[0].json()["type"], "payment.failed");
    app.stop().await;
}
each_backend!(events_arrive_signed_and_once);

/// HTTP 500s: the same event (same id, so receivers can dedupe) comes again, each wait about twice the last.
async fn failures_are_retried_with_growing_spacing(backend: Backend) {
    let receiver = Receiver::start(200, &[500, 500, 500]).await;
    let app = spawn_with(&backend, &env(&receiver, "300ms")).await;
    let (payment_id, event_id) = paid_event(&app, "0700000000", "WH-RETRY").await;
    let hits = receiver.wait_for(&event_id, 4, Duration::from_secs(30)).await;
    assert_eq!(hits.iter().map(|h| h.answered).collect::<Vec<_>>(), [500, 500, 500, 200]);
    assert!(hits.iter().all(|h| h.id() == event_id), "the same event id on every attempt");
    assert!(hits.windows(2).all(|w| w[0].body == w[1].body), "the same body on every attempt");
    for h in &hits {
        assert_eq!(verify(SECRET, &h.signature, &h.body, now(), DEFAULT_TOLERANCE), Ok(()));
    }
    let gaps: Vec<Duration> = hits.windows(2).map(|w| w[1].at - w[0].at).collect();
    // Base 300 ms ±10 %, then 600 ms, then 1.2 s; the worker's 50 ms tick adds a little.
    assert!(gaps[0] >= Duration::from_millis(250), "{gaps:?}");
    assert!(gaps[1] > gaps[0] && gaps[2] > gaps[1], "the spacing grows: {gaps:?}");
    assert!(gaps[2] >= gaps[0] * 3, "doubling: {gaps:?}");

    let e = wait_delivery(&app, &event_id, "delivered", Duration::from_secs(10)).await;
    assert_eq!(e["delivery"]["attempts"], 4, "{e}");
    let attempts = app.gw.state.store.webhook_attempts(&event_id).await.unwrap();
    let seen: Vec<_> = attempts.iter().map(|a| (a.http_status, a.outcome.as_str())).collect();
    assert_eq!(seen, [(Some(500), "retry"), (Some(500), "retry"), (Some(500), "retry"), (Some(200), "delivered")]);
    let log = app.gw.state.store.payment_log(&payment_id).await.unwrap();
    assert_eq!(
        log.iter().filter(|l| l.kind == "webhook").count(),
        4,
        "every attempt in the payment's history: {log:?}"
    );
    app.stop().await;
}
each_backend!(failures_are_retried_with_growing_spacing);

/// After the retry window the event is marked failed; redeliver sends it again, also a delivered one.
async fn gives_up_then_redeliver_sends_again(backend: Backend) {
    let receiver = Receiver::start(500, &[]).await;
    let mut extra = env(&receiver, "100ms");
    extra.push(("LIPA_WEBHOOK_GIVE_UP_AFTER", "1s"));
    let app = spawn_with(&backend, &extra).await;
    let (_, event_id) = paid_event(&app, "0700000001", "WH-GIVEUP").await;
    let e = wait_delivery(&app, &event_id, "failed", Duration::from_secs(20)).await;
    let attempts = e["delivery"]["attempts"].as_i64().unwrap();
    assert!(attempts >= 2, "retried before giving up: {e}");
    assert!(e["delivery"]["failed_at"].is_string() && e["delivery"]["next_attempt_at"].is_null(), "{e}");
    let failed = app.gw.state.store.webhook_attempts(&event_id).await.unwrap();
    assert_eq!(failed.last().unwrap().outcome, "gave_up");
    assert_eq!(receiver.hits_for(&event_id).len() as i64, attempts);

    // The receiver is fixed; the merchant asks for the event again.
    receiver.answer(200);
    let (status, body) = app.post(&format!("/v1/events/{event_id}/redeliver"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["delivery"]["status"], "pending", "{body}");
    let hits = receiver.wait_for(&event_id, attempts as usize + 1, Duration::from_secs(10)).await;
    assert_eq!(hits.last().unwrap().answered, 200);
    wait_delivery(&app, &event_id, "delivered", Duration::from_secs(10)).await;

    // Redeliver of a delivered event: it comes once more.
    let (status, _) = app.post(&format!("/v1/events/{event_id}/redeliver"), &json!({})).await;
    assert_eq!(status, 202);
    receiver.wait_for(&event_id, attempts as usize + 2, Duration::from_secs(10)).await;
    wait_delivery(&app, &event_id, "delivered", Duration::from_secs(10)).await;
    let (status, _) = app.post("/v1/events/evt_nope/redeliver", &json!({})).await;
    assert_eq!(status, 404);
    app.stop().await;
}
each_backend!(gives_up_then_redeliver_sends_again);

/// A gateway that stops with undelivered events: the next one on the same database delivers them.
async fn restart_loses_no_undelivered_event(backend: Backend) {
    let receiver = Receiver::start(503, &[]).await;
    let app = spawn_with(&backend, &env(&receiver, "300ms")).await;
    let (_, first) = paid_event(&app, "0708374149", "WH-RST1").await;
    let (_, second) = paid_event(&app, "0700001037", "WH-RST2").await;
    receiver.wait_for(&first, 1, Duration::from_secs(20)).await;
    receiver.wait_for(&second, 1, Duration::from_secs(20)).await;
    let (db, dir) = app.stop_keep_database().await;
    let before = receiver.hits().len();

    receiver.answer(200);
    let app = spawn_on(&backend, &db, dir, &env(&receiver, "300ms")).await;
    for id in [&first, &second] {
        let hits = receiver.wait_for(id, 2, Duration::from_secs(20)).await;
        assert_eq!(hits.last().unwrap().answered, 200, "{id}");
        assert!(hits.iter().all(|h| h.id() == *id));
        wait_delivery(&app, id, "delivered", Duration::from_secs(10)).await;
    }
    assert!(receiver.hits().len() > before);
    app.stop().await;
}
each_backend!(restart_loses_no_undelivered_event);

/// Two instances on one database: every event is delivered, and (with no failures) exactly once.
async fn two_instances_deliver_each_event_once(backend: Backend) {
    let receiver = Receiver::start(200, &[]).await;
    let a = spawn_with(&backend, &env(&receiver, "300ms")).await;
    let db = a.gw.state.cfg.database_url.clone();
    let b = spawn_on(&backend, &db, tempfile::tempdir().unwrap(), &env(&receiver, "300ms")).await;
    let mut ids = Vec::new();
    for i in 0..8 {
        let phone = if i % 2 == 0 { "0708374149" } else { "0700002001" };
        let p = a.create(json!({"amount": 100 + i, "phone": phone, "reference": format!("WH-TWO{i}")})).await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    let mut events = Vec::new();
    for id in &ids {
        a.settled(id).await;
        events.push(a.events_for(id).await[0]["id"].as_str().unwrap().to_string());
    }
    for e in &events {
        wait_delivery(&b, e, "delivered", Duration::from_secs(20)).await;
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for h in receiver.hits() {
        *counts.entry(h.id()).or_default() += 1;
    }
    for e in &events {
        assert_eq!(counts.get(e), Some(&1), "{e} on {}: {counts:?}", backend.name());
    }
    b.gw.shutdown().await;
    a.stop().await;
}
each_backend!(two_instances_deliver_each_event_once);

/// Pull a fenced code block of the given language out of docs/webhooks.md.
fn doc_snippet(lang: &str) -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/webhooks.md")).unwrap();
    let fence = format!("```{lang}\n");
    let start = doc.find(&fence).unwrap_or_else(|| panic!("no {lang} block in docs/webhooks.md")) + fence.len();
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

fn have(program: &str) -> bool {
    std::process::Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Run a documented snippet on a request the gateway really signed: it must accept it and refuse a wrong
/// secret and a changed body.
async fn run_snippet(program: &str, lang: &str, call: &str) {
    if !have(program) {
        eprintln!("skipping the {lang} snippet: {program} is not installed");
        return;
    }
    let receiver = Receiver::start(200, &[]).await;
    let app = spawn_with(&Backend::Sqlite, &env(&receiver, "200ms")).await;
    let (_, event_id) = paid_event(&app, "0708374149", "WH-DOC").await;
    let hit = receiver.wait_for(&event_id, 1, Duration::from_secs(20)).await.remove(0);
    app.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, &hit.body).unwrap();
    let script = dir.path().join(format!("verify.{lang}"));
    std::fs::write(&script, format!("{}\n{call}\n", doc_snippet(lang))).unwrap();
    let out = std::process::Command::new(program)
        .arg(&script)
        .arg(&body)
        .env("SECRET", SECRET)
        .env("SIG", &hit.signature)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{lang}: {}{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), "ok=true wrong_secret=false changed_body=false", "{lang}");
}

#[tokio::test]
async fn python_snippet_verifies_a_real_webhook() {
    run_snippet(
        "python3",
        "python",
        r#"import os, sys
body = open(sys.argv[1], "rb").read()
results = (verify_lipa_signature(os.environ["SECRET"], os.environ["SIG"], body),
           verify_lipa_signature("wrong", os.environ["SIG"], body),
           verify_lipa_signature(os.environ["SECRET"], os.environ["SIG"], body + b" "))
print("ok=%s wrong_secret=%s changed_body=%s" % tuple(str(r).lower() for r in results))"#,
    )
    .await;
}

#[tokio::test]
async fn node_snippet_verifies_a_real_webhook() {
    run_snippet(
        "node",
        "js",
        r#"const body = require("fs").readFileSync(process.argv[2]);
const r = [verifyLipaSignature(process.env.SECRET, process.env.SIG, body),
           verifyLipaSignature("wrong", process.env.SIG, body),
           verifyLipaSignature(process.env.SECRET, process.env.SIG, Buffer.concat([body, Buffer.from(" ")]))];
console.log(`ok=${r[0]} wrong_secret=${r[1]} changed_body=${r[2]}`);"#,
    )
    .await;
}

/// Payout and refund events go out with the same envelope and signature as payment events.
async fn payout_and_refund_events_arrive_signed(backend: Backend) {
    let receiver = Receiver::start(200, &[]).await;
    let mut extra = env(&receiver, "100ms");
    extra.push(("LIPA_REFUND_METHOD", "b2c"));
    let app = spawn_with(&backend, &extra).await;
    let (status, p) = app.post("/v1/payouts", &json!({"amount": 120, "phone": "0712345678"})).await;
    assert_eq!(status, 201);
    let (pay_id, _) = paid_event(&app, "0708374149", "WH-REFUND").await;
    let (status, r) = app.post(&format!("/v1/payments/{pay_id}/refunds"), &json!({"amount": 300})).await;
    assert_eq!(status, 201, "{r}");
    for (object, id, ty) in [("payout", &p["id"], "payout.succeeded"), ("refund", &r["id"], "refund.succeeded")] {
        let id = id.as_str().unwrap();
        let event = poll(Duration::from_secs(20), || async {
            app.events_for(id).await.into_iter().next().map(|e| e["id"].as_str().unwrap().to_string())
        })
        .await
        .expect("an event");
        let hit = receiver.wait_for(&event, 1, Duration::from_secs(20)).await.remove(0);
        let now = jiff::Timestamp::now().as_second();
        assert_eq!(
            lipa::webhook::verify(SECRET, &hit.signature, &hit.body, now, lipa::webhook::DEFAULT_TOLERANCE),
            Ok(())
        );
        let body = hit.json();
        assert_eq!((body["type"].as_str(), body["object"].as_str()), (Some(ty), Some("event")));
        assert_eq!((body["data"]["object"].as_str(), body["data"]["id"].as_str()), (Some(object), Some(id)));
    }
    app.stop().await;
}
each_backend!(payout_and_refund_events_arrive_signed);

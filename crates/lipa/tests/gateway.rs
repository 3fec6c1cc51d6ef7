//! The gateway as a user meets it: real HTTP, the real simulator with real callbacks, a real database.
//! Every scenario runs on SQLite and, when `LIPA_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::*;
use serde_json::{json, Value};

/// Simulator test numbers end in the right status, failure_reason and result code; success stores a receipt.
async fn test_numbers_settle_as_documented(backend: Backend) {
    let app = spawn(&backend).await;
    let cases: &[(&str, &str, Option<&str>, i64)] = &[
        ("0708374149", "succeeded", None, 0),
        ("0700000000", "succeeded", None, 0),
        ("0700001032", "failed", Some("cancelled"), 1032),
        ("+254 700 001 037", "failed", Some("timeout"), 1037),
        ("254700000001", "failed", Some("insufficient_funds"), 1),
        ("0700002001", "failed", Some("wrong_pin"), 2001),
        ("0700001019", "failed", Some("timeout"), 1019),
        ("0700000017", "failed", Some("limit"), 17),
        ("0700009999", "failed", Some("error"), 9999),
    ];
    let mut ids = Vec::new();
    for (i, (phone, ..)) in cases.iter().enumerate() {
        let p = app.create(json!({"amount": 800, "phone": phone, "reference": format!("T{i}")})).await;
        assert_eq!(p["status"], "pending", "{p}");
        assert!(p["checkout_request_id"].as_str().unwrap().starts_with("ws_CO_"), "{p}");
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    for (id, (phone, status, reason, code)) in ids.iter().zip(cases) {
        let p = app.settled(id).await;
        assert_eq!(p["status"], *status, "{phone} on {}: {p}", backend.name());
        assert_eq!(p["result_code"], *code, "{phone}: {p}");
        match reason {
            None => {
                let receipt = p["mpesa_receipt"].as_str().expect("receipt stored");
                assert_eq!(receipt.len(), 10, "{receipt}");
                assert!(p["completed_at"].is_string());
            }
            Some(r) => {
                assert_eq!(p["failure_reason"], *r, "{phone}: {p}");
                assert!(p["mpesa_receipt"].is_null());
            }
        }
        let events = app.events_for(id).await;
        assert_eq!(events.len(), 1, "one event per transition: {events:?}");
        assert_eq!(events[0]["type"], format!("payment.{status}"));
        assert_eq!(events[0]["data"]["id"], id.as_str());
        assert!(events[0]["id"].as_str().unwrap().starts_with("evt_"));
    }
    app.stop().await;
}
each_backend!(test_numbers_settle_as_documented);

/// Callback lost: STK Query settles the payment (the receipt is not in a query answer).
async fn dropped_callback_is_settled_by_reconciliation(backend: Backend) {
    let app = spawn(&backend).await;
    app.sim().set_faults(daraja_sim::Faults { drop_callback: 1.0, ..Default::default() });
    let ok = app.create(json!({"amount": 10, "phone": "0708374149", "reference": "DROP1"})).await;
    let cancelled = app.create(json!({"amount": 10, "phone": "0700001032", "reference": "DROP2"})).await;
    let ok = app.settled(ok["id"].as_str().unwrap()).await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let cancelled = app.settled(cancelled["id"].as_str().unwrap()).await;
    assert_eq!(cancelled["status"], "failed");
    assert_eq!(cancelled["failure_reason"], "cancelled");
    let log = app.gw.state.store.payment_log(ok["id"].as_str().unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "query"), "settled by a query: {log:?}");
    assert!(!log.iter().any(|e| e.kind == "callback"), "no callback arrived: {log:?}");
    app.stop().await;
}
each_backend!(dropped_callback_is_settled_by_reconciliation);

/// The same callback three times: one transition, one event, three acknowledgements.
async fn duplicate_callbacks_make_one_transition(backend: Backend) {
    let app = spawn(&backend).await;
    // A handset number: nobody answers, so only our callbacks decide it.
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "DUP"})).await;
    let id = p["id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let body = success_callback(p["checkout_request_id"].as_str().unwrap(), 800, "254712345678", "NLJ7RT61SV");
    for _ in 0..3 {
        let (status, ack) = app.post(&path, &body).await;
        assert_eq!((status, ack.clone()), (200, json!({"ResultCode": 0, "ResultDesc": "Accepted"})));
    }
    let p = app.settled(id).await;
    assert_eq!(p["status"], "succeeded");
    assert_eq!(p["mpesa_receipt"], "NLJ7RT61SV");
    assert_eq!(app.events_for(id).await.len(), 1);
    app.stop().await;
}
each_backend!(duplicate_callbacks_make_one_transition);

/// A success after the payment failed, and a forged success for another amount, go to needs_review.
async fn suspicious_callbacks_need_review(backend: Backend) {
    let app = spawn(&backend).await;
    let p = app.create(json!({"amount": 800, "phone": "0712345670", "reference": "LATE"})).await;
    let id = p["id"].as_str().unwrap();
    let checkout = p["checkout_request_id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    app.post(&path, &failure_callback(checkout, 1032, "Request cancelled by user")).await;
    assert_eq!(app.settled(id).await["status"], "failed");
    let (status, _) = app.post(&path, &success_callback(checkout, 800, "254712345670", "NLJ7RT61SW")).await;
    assert_eq!(status, 200);
    let after = app.get(&format!("/v1/payments/{id}")).await.1;
    assert_eq!(after["status"], "needs_review", "{after}");
    let types: Vec<Value> = app.events_for(id).await.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, vec![json!("payment.needs_review"), json!("payment.failed")]);

    let p = app.create(json!({"amount": 800, "phone": "0712345671", "reference": "FORGED"})).await;
    let id = p["id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let forged = success_callback(p["checkout_request_id"].as_str().unwrap(), 1, "254712345671", "NLJ7RT61SX");
    app.post(&path, &forged).await;
    let p = app.settled(id).await;
    assert_eq!(p["status"], "needs_review", "{p}");
    assert!(p["review_reason"].as_str().unwrap().contains("amount"), "{p}");
    app.stop().await;
}
each_backend!(suspicious_callbacks_need_review);

/// Unknown secrets and unparseable bodies are acknowledged, kept, and change nothing.
async fn unknown_and_malformed_callbacks_are_acknowledged(backend: Backend) {
    let app = spawn(&backend).await;
    let p = app.create(json!({"amount": 5, "phone": "0712345672", "reference": "MAL"})).await;
    let id = p["id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let accepted = json!({"ResultCode": 0, "ResultDesc": "Accepted"});
    let (s, b) = app.post_raw(&path, b"{not json".to_vec(), &[]).await;
    assert_eq!((s, b), (200, accepted.clone()));
    let fake = success_callback(p["checkout_request_id"].as_str().unwrap(), 5, "254712345672", "NLJ7RT61SY");
    let (s, b) = app.post("/callbacks/stk/00000000000000000000000000000000", &fake).await;
    assert_eq!((s, b), (200, accepted));
    let p = app.get(&format!("/v1/payments/{id}")).await.1;
    assert_eq!(p["status"], "pending");
    let log = app.gw.state.store.payment_log(id).await.unwrap();
    assert!(log.iter().any(|e| e.detail.contains("could not be parsed")), "{log:?}");
    app.stop().await;
}
each_backend!(unknown_and_malformed_callbacks_are_acknowledged);

/// Same Idempotency-Key and body: the same payment and one push, also when the requests race.
async fn idempotency_key_prevents_a_second_push(backend: Backend) {
    let app = spawn(&backend).await;
    let body = json!({"amount": 300, "phone": "0712345673", "reference": "IDEM1"});
    let raw = serde_json::to_vec(&body).unwrap();
    let (s1, a) = app.post_raw("/v1/payments", raw.clone(), &[("Idempotency-Key", "k-1")]).await;
    let (s2, b) = app.post_raw("/v1/payments", raw.clone(), &[("Idempotency-Key", "k-1")]).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a["id"], b["id"]);
    // The same JSON with its keys in another order is the same request.
    let reordered = br#"{"reference":"IDEM1","phone":"0712345673","amount":300}"#.to_vec();
    let (s3, c) = app.post_raw("/v1/payments", reordered, &[("Idempotency-Key", "k-1")]).await;
    assert_eq!((s3, c["id"].clone()), (201, a["id"].clone()));
    let other = serde_json::to_vec(&json!({"amount": 301, "phone": "0712345673", "reference": "IDEM1"})).unwrap();
    let (s4, err) = app.post_raw("/v1/payments", other, &[("Idempotency-Key", "k-1")]).await;
    assert_eq!(s4, 409, "{err}");
    assert_eq!(err["error"]["code"], "idempotency_key_reused");

    // Ten racing twins.
    let body = serde_json::to_vec(&json!({"amount": 400, "phone": "0712345674", "reference": "IDEM2"})).unwrap();
    let answers = futures::future::join_all(
        (0..10).map(|_| app.post_raw("/v1/payments", body.clone(), &[("Idempotency-Key", "race-1")])),
    )
    .await;
    let ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|(s, p)| {
            assert_eq!(*s, 201, "{p}");
            p["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let pushes = app.sim().transactions().iter().filter(|t| t.phone == "254712345674").count();
    assert_eq!(pushes, 1, "exactly one STK push");
    let pushes = app.sim().transactions().iter().filter(|t| t.phone == "254712345673").count();
    assert_eq!(pushes, 1);
    app.stop().await;
}
each_backend!(idempotency_key_prevents_a_second_push);

/// A second payment for a reference that has one pending: 409, and no second prompt.
async fn second_pending_payment_for_a_reference_is_refused(backend: Backend) {
    let app = spawn(&backend).await;
    app.create(json!({"amount": 50, "phone": "0712345675", "reference": "ORDER-9"})).await;
    let (s, err) =
        app.post("/v1/payments", &json!({"amount": 50, "phone": "0712345676", "reference": "ORDER-9"})).await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["error"]["code"], "payment_pending");
    assert_eq!(app.sim().transactions().len(), 1);
    // Once it has settled, the reference may be paid again.
    let p = app.create(json!({"amount": 50, "phone": "0700001032", "reference": "ORDER-8"})).await;
    app.settled(p["id"].as_str().unwrap()).await;
    app.create(json!({"amount": 50, "phone": "0708374149", "reference": "ORDER-8"})).await;
    app.stop().await;
}
each_backend!(second_pending_payment_for_a_reference_is_refused);

/// Bad input: a 4xx naming the field, and no push sent.
#[tokio::test]
async fn bad_input_is_refused_before_any_push() {
    let backend = Backend::Sqlite;
    let app = spawn(&backend).await;
    let cases = [
        (json!({"amount": 800, "phone": "12345", "reference": "X"}), "phone"),
        (json!({"amount": 800, "phone": "0812345678", "reference": "X"}), "phone"),
        (json!({"amount": 0, "phone": "0712345678", "reference": "X"}), "amount"),
        (json!({"amount": 10.5, "phone": "0712345678", "reference": "X"}), "amount"),
        (json!({"amount": 300000, "phone": "0712345678", "reference": "X"}), "amount"),
        (json!({"amount": "800", "phone": "0712345678", "reference": "X"}), "amount"),
        (json!({"phone": "0712345678", "reference": "X"}), "amount"),
        (json!({"amount": 800, "phone": "0712345678", "reference": ""}), "reference"),
        (json!({"amount": 800, "phone": "0712345678", "reference": "   "}), "reference"),
        (json!({"amount": 800, "phone": "0712345678"}), "reference"),
        (json!({"amount": 800, "phone": "0712345678", "reference": "X", "metadata": [1]}), "metadata"),
        (
            json!({"amount": 800, "phone": "0712345678", "reference": "X", "return_url": "javascript:alert(1)"}),
            "return_url",
        ),
    ];
    for (body, field) in cases {
        let (s, err) = app.post("/v1/payments", &body).await;
        assert_eq!(s, 400, "{body}: {err}");
        assert_eq!(err["error"]["field"], field, "{body}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().len() > 5);
    }
    let (s, err) = app.post_raw("/v1/payments", b"{not json".to_vec(), &[]).await;
    assert_eq!(s, 400);
    assert_eq!(err["error"]["code"], "invalid_json");
    let (s, err) = app.post_raw("/v1/payments", vec![b' '; 5 * 1024 * 1024], &[]).await;
    assert_eq!(s, 413, "{err}");
    assert_eq!(err["error"]["code"], "body_too_large");
    let (s, _) = app.post_raw("/callbacks/stk/abc", vec![b' '; 5 * 1024 * 1024], &[]).await;
    assert_eq!(s, 413);
    assert!(app.sim().transactions().is_empty(), "no push was sent");
    // A long reference is kept whole; Daraja gets an account reference of at most 12 characters.
    let p = app.create(json!({"amount": 1, "phone": "0708374149", "reference": "ORDER-123456789"})).await;
    assert_eq!(p["reference"], "ORDER-123456789");
    assert!(p["account_reference"].as_str().unwrap().len() <= 12, "{p}");
    app.stop().await;
}

/// Without an API key, or with a wrong one: 401 and nothing else.
#[tokio::test]
async fn api_needs_a_key() {
    let app = spawn(&Backend::Sqlite).await;
    let r = app.http.get(format!("{}/v1/payments", app.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.http.get(format!("{}/v1/payments", app.url)).bearer_auth("lipa_sk_nope").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    app.stop().await;
}

/// Lists: newest first, filters, cursor pages.
async fn lists_page_newest_first(backend: Backend) {
    let app = spawn(&backend).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = app.create(json!({"amount": 1 + i, "phone": "0700001032", "reference": format!("L{i}")})).await;
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = match &after {
            Some(a) => format!("/v1/payments?limit=2&starting_after={a}"),
            None => "/v1/payments?limit=2".into(),
        };
        let (s, page) = app.get(&q).await;
        assert_eq!(s, 200);
        let data = page["data"].as_array().unwrap();
        seen.extend(data.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        after = seen.last().cloned();
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen, ids);
    let (_, page) = app.get("/v1/payments?reference=L3").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    let (_, page) = app.get("/v1/payments?phone=%2B254700001032&limit=100").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    let (s, err) = app.get("/v1/payments?status=paid").await;
    assert_eq!((s, err["error"]["field"].clone()), (400, json!("status")));
    let (s, err) = app.get("/v1/payments?limit=1000").await;
    assert_eq!((s, err["error"]["field"].clone()), (400, json!("limit")));
    let (s, _) = app.get("/v1/payments/pay_doesnotexist").await;
    assert_eq!(s, 404);
    app.stop().await;
}
each_backend!(lists_page_newest_first);

/// A payment that never gets an answer ends in needs_review at LIPA_PENDING_MAX_AGE: nothing stays pending.
#[tokio::test]
async fn unanswered_payment_goes_to_review() {
    let app = spawn_with(&Backend::Sqlite, &[("LIPA_PENDING_MAX_AGE", "3s"), ("LIPA_RECONCILE_AFTER", "500ms")]).await;
    // A handset number nobody answers: the simulator keeps saying "being processed".
    let p = app.create(json!({"amount": 20, "phone": "0712345677", "reference": "SLOW"})).await;
    let p = app.settled(p["id"].as_str().unwrap()).await;
    assert_eq!(p["status"], "needs_review", "{p}");
    assert!(p["review_reason"].as_str().unwrap().contains("being processed"), "{p}");
    app.stop().await;
}

/// Spike arrests are refused before processing: lipa retries them; a push whose answer never comes is
/// never sent again, and its callback still settles it.
#[tokio::test]
async fn push_faults_never_double_prompt() {
    // The push's answer never comes (client timeout 1 s); the callback comes at 2 s.
    let app = spawn_with(&Backend::Sqlite, &[("LIPA_DARAJA_TIMEOUT", "1s"), ("LIPA_SIM_RESULT_DELAY", "2s")]).await;
    app.sim().set_faults(daraja_sim::Faults { hang: 1.0, ..Default::default() });
    let p = app.create(json!({"amount": 70, "phone": "0708374149", "reference": "HANG"})).await;
    assert_eq!(p["status"], "pending");
    assert!(p["checkout_request_id"].is_null(), "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let p = app.settled(&id).await;
    assert_eq!(p["status"], "succeeded", "the callback settles it: {p}");
    assert!(p["checkout_request_id"].as_str().unwrap().starts_with("ws_CO_"), "learnt from the callback: {p}");
    let log = app.gw.state.store.payment_log(&id).await.unwrap();
    assert!(log.iter().any(|e| e.detail.contains("outcome unknown")), "{log:?}");
    let pushes = app.sim().transactions().iter().filter(|t| t.reference == "HANG").count();
    assert_eq!(pushes, 1, "never pushed twice");
    app.sim().set_faults(daraja_sim::Faults { spike_arrest: 1.0, ..Default::default() });
    let p = app.create(json!({"amount": 70, "phone": "0708374149", "reference": "SPIKE"})).await;
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(p["failure_reason"], "rejected");
    assert!(app.sim().transactions().iter().all(|t| t.reference != "SPIKE"));
    app.stop().await;
}

/// The checks the `/v1` routes share: a bad Idempotency-Key is refused before anything is made (payments and
/// payouts alike), and a `starting_after` that names nothing is `invalid_cursor` (payments and events).
async fn shared_request_checks_answer_by_name(backend: Backend) {
    let app = spawn(&backend).await;
    let long = "k".repeat(256);
    let payment = serde_json::to_vec(&json!({"amount": 10, "phone": "0712345679", "reference": "KEYS-1"})).unwrap();
    let payout = serde_json::to_vec(&json!({"amount": 10, "phone": "0712345679", "remarks": "keys"})).unwrap();
    for (path, body) in [("/v1/payments", &payment), ("/v1/payouts", &payout)] {
        for key in ["   ", long.as_str()] {
            let (status, err) = app.post_raw(path, body.clone(), &[("Idempotency-Key", key)]).await;
            assert_eq!(status, 400, "{path} {err}");
            assert_eq!(err["error"]["code"], "invalid_idempotency_key", "{path} {err}");
        }
        let (_, list) = app.get(path).await;
        assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "nothing was made at {path}: {list}");
    }
    for (path, message) in [
        ("/v1/payments?starting_after=pay_nope", "starting_after names no payment"),
        ("/v1/events?starting_after=evt_nope", "starting_after names no event"),
    ] {
        let (status, err) = app.get(path).await;
        assert_eq!(status, 400, "{path} {err}");
        assert_eq!(err["error"]["code"], "invalid_cursor", "{err}");
        assert_eq!(err["error"]["field"], "starting_after", "{err}");
        assert_eq!(err["error"]["message"], message, "{err}");
    }
    app.stop().await;
}
each_backend!(shared_request_checks_answer_by_name);

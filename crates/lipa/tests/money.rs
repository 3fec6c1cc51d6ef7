//! Money traps (issue 16), against the real gateway over HTTP on SQLite and PostgreSQL: a payment resolved
//! as failed must not look paid, long references must not collide, production must name the merchant.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    admin_login, admin_page, csrf_of, failure_callback, no_redirects, spawn_with, success_callback, Backend, TestApp,
};
use lipa::domain::{Payment, PaymentStatus, PushState};
use lipa::store::{NewPayment, StoreError};
use serde_json::{json, Value};

const PASSWORD: &str = "money-test-admin-pass";

/// Resolve a review on the admin dashboard, as an operator does.
async fn resolve(app: &TestApp, cookie: &str, id: &str, decision: &str, note: &str) {
    let html = admin_page(app, cookie, &format!("/admin/payments/{id}")).await;
    let csrf = csrf_of(&html);
    let csrf = csrf.as_str();
    let r = no_redirects()
        .post(format!("{}/admin/payments/{id}/resolve", app.url))
        .header("cookie", cookie)
        .header("origin", app.url.clone())
        .form(&[("csrf", csrf), ("decision", decision), ("note", note)])
        .send()
        .await
        .unwrap();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(location, format!("/admin/payments/{id}?done=resolved"));
}

async fn payment(app: &TestApp, id: &str) -> Value {
    let (status, p) = app.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(status, 200, "{p}");
    p
}

/// Nothing in a payment object that a shop could read as "paid".
fn assert_not_paid(p: &Value, receipt: &str) {
    assert_eq!(p["status"], "failed", "{p}");
    assert_eq!(p["mpesa_receipt"], Value::Null, "{p}");
    assert_ne!(p["result_code"], json!(0), "{p}");
    let text = p.to_string();
    assert!(!text.contains(receipt), "the dismissed receipt is not in the payment's fields: {p}");
    assert!(!text.to_lowercase().contains("processed successfully"), "{p}");
    assert_eq!(p["failure_reason"], "resolved_failed", "{p}");
}

async fn a_payment_resolved_as_failed_does_not_look_paid(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", PASSWORD)]).await;
    let cookie = admin_login(&app, PASSWORD).await;

    // A success callback for less than the order: M-Pesa issued a receipt, lipa puts it under review.
    let p = app.create(json!({"amount": 800, "phone": "0712345680", "reference": "TRAP-1"})).await;
    let id = p["id"].as_str().unwrap().to_string();
    let checkout = p["checkout_request_id"].as_str().unwrap().to_string();
    let path = app.callback_path(&id).await;
    let short = success_callback(&checkout, 80, "254712345680", "TRP1RCPT01");
    assert_eq!(app.post(&path, &short).await.0, 200);
    let p = app.settled(&id).await;
    assert_eq!((p["status"].as_str(), p["mpesa_receipt"].as_str()), (Some("needs_review"), Some("TRP1RCPT01")));
    assert_eq!(p["result_code"], 0, "{p}");

    resolve(&app, &cookie, &id, "failed", "only KES 80 arrived; customer asked to pay again").await;
    let p = payment(&app, &id).await;
    assert_not_paid(&p, "TRP1RCPT01");
    let r = &p["resolution"];
    assert_eq!(r["outcome"], "failed", "{p}");
    assert_eq!(r["by"], "admin", "{p}");
    assert_eq!(r["note"], "only KES 80 arrived; customer asked to pay again", "{p}");
    assert!(r["at"].as_str().is_some_and(|t| t.parse::<jiff::Timestamp>().is_ok()), "RFC 3339: {p}");
    assert!(p["review_reason"].as_str().unwrap().contains("differs"), "why it was reviewed stays: {p}");

    // The payment.failed event (the webhook's body) says the same.
    let events = app.events_for(&id).await;
    assert_eq!(events[0]["type"], "payment.failed");
    assert_not_paid(&events[0]["data"], "TRP1RCPT01");
    assert_eq!(events[0]["data"]["resolution"], p["resolution"]);

    // The evidence is where it belongs: the payment's history and its raw callback.
    let html = admin_page(&app, &cookie, &format!("/admin/payments/{id}")).await;
    assert!(html.contains("resolved by an operator as failed") && html.contains("TRP1RCPT01"), "history");

    // Daraja repeating the same success is not news; another receipt is.
    assert_eq!(app.post(&path, &short).await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(payment(&app, &id).await["status"], "failed");
    assert_eq!(app.events_for(&id).await.len(), 2);
    let another = success_callback(&checkout, 800, "254712345680", "TRP1RCPT02");
    app.post(&path, &another).await;
    let p = payment(&app, &id).await;
    assert_eq!(p["status"], "needs_review", "a new receipt after the resolution: {p}");

    // Resolved as succeeded: the failure it had before is not left on it either.
    let p = app.create(json!({"amount": 500, "phone": "0712345681", "reference": "TRAP-2"})).await;
    let id = p["id"].as_str().unwrap().to_string();
    let checkout = p["checkout_request_id"].as_str().unwrap().to_string();
    let path = app.callback_path(&id).await;
    app.post(&path, &failure_callback(&checkout, 1032, "Request cancelled by user")).await;
    assert_eq!(app.settled(&id).await["failure_reason"], "cancelled");
    app.post(&path, &success_callback(&checkout, 500, "254712345681", "TRP2RCPT01")).await;
    assert_eq!(payment(&app, &id).await["status"], "needs_review");
    resolve(&app, &cookie, &id, "succeeded", "paid: receipt seen in the M-Pesa portal").await;
    let p = payment(&app, &id).await;
    assert_eq!((p["status"].as_str(), p["mpesa_receipt"].as_str()), (Some("succeeded"), Some("TRP2RCPT01")));
    assert_eq!((&p["failure_reason"], &p["result_code"]), (&Value::Null, &Value::Null), "{p}");
    assert_eq!(p["resolution"]["outcome"], "succeeded");
    app.stop().await;
}
each_backend!(a_payment_resolved_as_failed_does_not_look_paid);

async fn long_references_are_kept_whole_and_get_their_own_account_reference(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    // Numbers that wait on the virtual handset: both payments stay pending (open) side by side.
    let a = app.create(json!({"amount": 100, "phone": "0712345690", "reference": "WNJ-2024-000123-LONG"})).await;
    let (status, b) = app
        .post("/v1/payments", &json!({"amount": 100, "phone": "0712345691", "reference": "WNJ-2024-000124-LONG"}))
        .await;
    assert_eq!(status, 201, "another order is not the same order: {b}");
    assert_eq!(
        (a["reference"].as_str(), b["reference"].as_str()),
        (Some("WNJ-2024-000123-LONG"), Some("WNJ-2024-000124-LONG"))
    );
    let (ra, rb) = (a["account_reference"].as_str().unwrap(), b["account_reference"].as_str().unwrap());
    assert!(ra.chars().count() <= 12 && rb.chars().count() <= 12, "{ra} {rb}");
    assert_ne!(ra.to_uppercase(), rb.to_uppercase());
    assert!(ra.starts_with("WNJ2024"), "recognisable: {ra}");

    // Daraja got the account reference as AccountReference (the simulator refuses more than 12).
    let seen = app.sim().transaction(a["checkout_request_id"].as_str().unwrap()).expect("the push reached Daraja");
    assert_eq!(seen.reference, ra);
    assert!(seen.prompt.contains(ra), "{}", seen.prompt);

    // The pending guard uses the whole reference.
    let (status, err) = app
        .post("/v1/payments", &json!({"amount": 100, "phone": "0712345692", "reference": "WNJ-2024-000123-LONG"}))
        .await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("payment_pending")), "{err}");

    // Search and webhooks use the whole reference.
    let (_, page) = app.get("/v1/payments?reference=WNJ-2024-000124-LONG").await;
    let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [b["id"].as_str().unwrap()]);
    let (_, page) = app.get(&format!("/v1/payments?account_reference={}", ra.to_lowercase())).await;
    let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [a["id"].as_str().unwrap()], "found by what the customer saw, in any case");
    let id = a["id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let checkout = a["checkout_request_id"].as_str().unwrap();
    app.post(&path, &success_callback(checkout, 100, "254712345690", "LNGRCPT001")).await;
    app.settled(id).await;
    let events = app.events_for(id).await;
    assert_eq!(events[0]["data"]["reference"], "WNJ-2024-000123-LONG");
    assert_eq!(events[0]["data"]["account_reference"], ra);

    // Idempotency: the same long-reference request again is the same payment.
    let body = serde_json::to_vec(&json!({"amount": 100, "reference": "WNJ-2024-000125-LONG"})).unwrap();
    let (s1, p1) = app.post_raw("/v1/payments", body.clone(), &[("idempotency-key", "long-ref-1")]).await;
    let (s2, p2) = app.post_raw("/v1/payments", body, &[("idempotency-key", "long-ref-1")]).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!((&p1["id"], &p1["account_reference"]), (&p2["id"], &p2["account_reference"]));

    // A short reference is its own account reference; more than 64 characters is refused by name.
    let c = app.create(json!({"amount": 100, "reference": "ORDER-A1042"})).await;
    assert_eq!(c["account_reference"], "ORDER-A1042");
    let (status, err) = app.post("/v1/payments", &json!({"amount": 100, "reference": "R".repeat(65)})).await;
    assert_eq!((status, err["error"]["field"].as_str()), (400, Some("reference")), "{err}");
    let whole = app.create(json!({"amount": 100, "reference": "R".repeat(64)})).await;
    assert_eq!(whole["reference"].as_str().unwrap().len(), 64);
    app.stop().await;
}
each_backend!(long_references_are_kept_whole_and_get_their_own_account_reference);

/// The database, not the process, keeps account references unique among open payments: a second pending
/// payment that would share one is refused, and the gateway then derives another.
async fn account_references_are_unique_among_open_payments(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_PENDING_GUARD", "off")]).await;
    let store = app.gw.state.store.clone();
    let draft = |reference: &str, account: &str| {
        let mut p = Payment::new_pending(
            lipa::domain::PaymentDraft {
                amount: 10,
                phone: None,
                reference: reference.into(),
                description: "d".into(),
                metadata: json!({}),
                return_url: None,
            },
            lipa::app::now_ms(),
            1000,
            60_000,
        );
        p.account_reference = account.into();
        NewPayment { payment: p, pending_guard: None, api_key_id: None, idempotency: None }
    };
    store.create_payment(draft("X-1", "ACCT-1")).await.unwrap();
    let err = store.create_payment(draft("X-2", "acct-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::AccountReferenceTaken), "case-insensitively unique: {err:?}");

    // With the guard off, two open payments for one reference each get their own account reference.
    let one = app.create(json!({"amount": 10, "reference": "DUP-7"})).await;
    let two = app.create(json!({"amount": 10, "reference": "DUP-7"})).await;
    assert_eq!(one["account_reference"], "DUP-7");
    let other = two["account_reference"].as_str().unwrap();
    assert!(other != "DUP-7" && other.len() <= 12, "{other}");

    // A finished payment frees its account reference.
    let id = one["id"].as_str().unwrap();
    let p = store.get_payment(id).await.unwrap().unwrap();
    assert_eq!((p.status, p.push_state), (PaymentStatus::Pending, PushState::AwaitingPhone));
    let outcome = lipa::domain::Outcome::Abandoned;
    store.apply_outcome(id, lipa::domain::Source::Timer, &outcome, lipa::app::now_ms()).await.unwrap();
    let three = app.create(json!({"amount": 10, "reference": "DUP-7"})).await;
    assert_eq!(three["account_reference"], "DUP-7");
    app.stop().await;
}
each_backend!(account_references_are_unique_among_open_payments);

/// Production refuses to start without `LIPA_MERCHANT_NAME`, and `lipa doctor` says so.
#[test]
fn production_needs_a_merchant_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("prod.db").display());
    let run = |cmd: &str, name: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_lipa"));
        c.arg(cmd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MPESA_ENV", "production")
            .env("MPESA_CONSUMER_KEY", "k")
            .env("MPESA_CONSUMER_SECRET", "s")
            .env("MPESA_SHORTCODE", "600123")
            .env("MPESA_PASSKEY", "not-the-sandbox-passkey")
            .env("LIPA_PUBLIC_URL", "https://pay.example.com")
            .env("LIPA_DATABASE_URL", &db)
            .env("LIPA_LISTEN", "127.0.0.1:0")
            .current_dir(dir.path());
        if let Some(n) = name {
            c.env("LIPA_MERCHANT_NAME", n);
        }
        // A gateway that wrongly starts would serve forever: give it 20 s, then stop it and fail.
        let mut child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (ok, text) = run("serve", None);
    assert!(!ok, "{text}");
    assert!(text.contains("production needs LIPA_MERCHANT_NAME"), "{text}");
    let (ok, text) = run("doctor", None);
    assert!(!ok, "{text}");
    assert!(text.contains("[ERROR]") && text.contains("LIPA_MERCHANT_NAME"), "{text}");
    let (_, text) = run("doctor", Some("ANGAZE"));
    assert!(!text.contains("LIPA_MERCHANT_NAME"), "named: no finding about it\n{text}");
}

/// The first-run banner says which key is current, and it is true: a restart on the same database keeps the
/// earlier key working, a run on another database refuses it.
#[tokio::test]
async fn the_banner_names_the_current_key_and_why_an_old_one_is_refused() {
    let backend = common::Backend::Sqlite;
    let first = spawn_with(&backend, &[]).await;
    let old_key = first.key.clone();
    let banner = first.gw.banner();
    assert!(banner.contains("The API key below is the current one"), "{banner}");
    assert!(banner.contains("another database") && banner.contains("401"), "{banner}");
    assert!(banner.trim_end().ends_with(&format!("API key: {old_key}")), "{banner}");
    let (db, dir) = first.stop_keep_database().await;

    let again = common::spawn_on(&backend, &db, dir, &[]).await;
    assert_ne!(again.key, old_key, "a new key at every start");
    let status = |app: &TestApp, key: &str| {
        let req = app.http.get(format!("{}/v1/payments", app.url)).bearer_auth(key);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&again, &old_key).await, 200, "same database: the earlier key still works");
    assert_eq!(status(&again, &again.key).await, 200);
    again.stop().await;

    let elsewhere = spawn_with(&backend, &[]).await;
    assert_eq!(status(&elsewhere, &old_key).await, 401, "another database does not know it");
    elsewhere.stop().await;
}

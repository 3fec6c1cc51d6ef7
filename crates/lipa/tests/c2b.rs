//! C2B end to end (issue 13), on SQLite and PostgreSQL: payments made from the handset's SIM menu through the
//! real in-process simulator (its control API `POST /sim/api/c2b/pay`), and Daraja's raw bodies for the
//! edge cases — every matching rule, duplicate TransIDs, unknown accounts, a v1 hashed MSISDN matched to a
//! known phone, validation per LIPA_C2B_VALIDATION, paid twice, registration at start.

mod common;

use std::time::Duration;

use common::{poll, spawn_with, success_callback, Backend, TestApp};
use serde_json::{json, Value};

const CONFIRMATION: &str = include_str!("fixtures/c2b/c2b_confirmation_request.json");
const V1_HASHED: &str = include_str!("fixtures/c2b/c2b_validation_request_v1_hashed_msisdn.json");

/// A handset payment through the simulator's SIM menu: Pay Bill 174379, `account`, `amount`, PIN.
async fn pay_bill(app: &TestApp, phone: &str, account: &str, amount: i64) -> Value {
    let body = json!({"phone": phone, "kind": "paybill", "business_number": "174379", "account": account,
                      "amount": amount, "pin": "1234"});
    let resp = app.http.post(format!("{}/sim/api/c2b/pay", app.url)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "sim pay");
    resp.json().await.unwrap()
}

fn c2b_path(app: &TestApp, which: &str) -> String {
    format!("/callbacks/c2b/{}/{which}", app.gw.state.c2b_secret)
}

/// POST a raw Daraja body (no API key needed, but harmless).
async fn daraja_post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    app.post_raw(path, serde_json::to_vec(body).unwrap(), &[]).await
}

fn fixture(raw: &str, changes: &[(&str, Value)]) -> Value {
    let mut v: Value = serde_json::from_str(raw).unwrap();
    for (k, val) in changes {
        v[*k] = val.clone();
    }
    v
}

async fn until_status(app: &TestApp, id: &str, status: &str) -> Value {
    poll(Duration::from_secs(20), || async {
        let (_, p) = app.get(&format!("/v1/payments/{id}")).await;
        (p["status"] == status).then_some(p)
    })
    .await
    .unwrap_or_else(|| panic!("payment {id} never became {status} ({})", app.backend.name()))
}

async fn c2b_payments(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get("/v1/payments?channel=c2b&limit=100").await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

async fn registered_at_start(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let regs = app.sim().c2b_registrations();
    let reg = regs.iter().find(|r| r.short_code == "174379").expect("serve registered the C2B URLs at start");
    assert_eq!(reg.version.as_str(), "v2", "MPESA_C2B_VERSION defaults to v2");
    assert_eq!(reg.response_type, "Completed");
    assert!(reg.validation_url.ends_with(&c2b_path(&app, "validation")), "{}", reg.validation_url);
    assert!(reg.confirmation_url.ends_with(&c2b_path(&app, "confirmation")), "{}", reg.confirmation_url);
    // The secret is kept in the database: a restart registers the same URLs.
    let secret = app.gw.state.c2b_secret.to_string();
    let (db, dir) = app.stop_keep_database().await;
    let again = common::spawn_on(&backend, &db, dir, &[("MPESA_C2B_VERSION", "v1")]).await;
    assert_eq!(&*again.gw.state.c2b_secret, secret.as_str());
    let reg = again.sim().c2b_registrations().into_iter().find(|r| r.short_code == "174379").unwrap();
    assert_eq!(reg.version.as_str(), "v1");
    again.stop().await;
}
each_backend!(registered_at_start);

async fn the_sim_menu_pays_an_open_payment(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let p = app.create(json!({"amount": 150, "reference": "INV-77"})).await;
    let id = p["id"].as_str().unwrap();
    assert_eq!(p["channel"], "stk");
    // Typed with spaces and in lower case: trimmed, case-insensitive.
    let sim = pay_bill(&app, "0712345678", " inv-77 ", 150).await;
    let paid = until_status(&app, id, "succeeded").await;
    assert_eq!(paid["channel"], "c2b", "{paid}");
    assert_eq!(paid["paid_amount"], 150);
    assert_eq!(paid["mpesa_receipt"], sim["trans_id"], "{paid} {sim}");
    assert!(paid["payer_name"].as_str().is_some_and(|n| !n.is_empty()), "{paid}");
    let events = app.events_for(id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "payment.succeeded");
    assert_eq!(events[0]["data"]["channel"], "c2b");
    assert_eq!(c2b_payments(&app).await.len(), 1);
    let (_, stk) = app.get("/v1/payments?channel=stk").await;
    assert_eq!(stk["data"].as_array().unwrap().len(), 0, "{stk}");
    let (status, bad) = app.get("/v1/payments?channel=cash").await;
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("channel")), "{bad}");
    app.stop().await;
}
each_backend!(the_sim_menu_pays_an_open_payment);

async fn another_amount_needs_review(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let p = app.create(json!({"amount": 150, "reference": "INV-78"})).await;
    let id = p["id"].as_str().unwrap();
    pay_bill(&app, "0712345678", "INV-78", 100).await;
    let review = until_status(&app, id, "needs_review").await;
    assert_eq!(review["review_reason"], "amount_mismatch", "{review}");
    assert_eq!((review["amount"].as_i64(), review["paid_amount"].as_i64()), (Some(150), Some(100)));
    assert_eq!(review["channel"], "c2b");
    let events = app.events_for(id).await;
    assert_eq!(events[0]["type"], "payment.needs_review");
    app.stop().await;
}
each_backend!(another_amount_needs_review);

async fn a_whole_reference_matches_too(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    // Longer than LIPA_REFERENCE_MAX_LEN: its account reference is derived, but the whole one matches too.
    let p = app.create(json!({"amount": 20, "reference": "LONG-REF-0001"})).await;
    assert_ne!(p["account_reference"], "LONG-REF-0001");
    let body = fixture(CONFIRMATION, &[("BillRefNumber", json!("long-ref-0001")), ("TransAmount", json!("20.00"))]);
    let (status, ack) = daraja_post(&app, &c2b_path(&app, "confirmation"), &body).await;
    assert_eq!((status, ack), (200, json!({"ResultCode": 0, "ResultDesc": "Success"})));
    let paid = until_status(&app, p["id"].as_str().unwrap(), "succeeded").await;
    assert_eq!(paid["payer_name"], "JANE");
    assert_eq!(paid["mpesa_receipt"], "TFB4K2M7QZ");
    app.stop().await;
}
each_backend!(a_whole_reference_matches_too);

async fn a_duplicate_trans_id_changes_nothing(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let p = app.create(json!({"amount": 150, "reference": "INV-10442"})).await;
    let id = p["id"].as_str().unwrap();
    let body: Value = serde_json::from_str(CONFIRMATION).unwrap();
    for _ in 0..3 {
        let (status, ack) = daraja_post(&app, &c2b_path(&app, "confirmation"), &body).await;
        assert_eq!((status, ack["ResultCode"].as_i64()), (200, Some(0)));
    }
    let paid = until_status(&app, id, "succeeded").await;
    assert_eq!(paid["mpesa_receipt"], "TFB4K2M7QZ");
    assert_eq!(app.events_for(id).await.len(), 1, "one event, not three");
    assert_eq!(c2b_payments(&app).await.len(), 1, "no payment was made of the duplicates");
    // A body that cannot be read is acknowledged (and kept) without changing anything.
    let (status, _) = app.post_raw(&c2b_path(&app, "confirmation"), b"{not json".to_vec(), &[]).await;
    assert_eq!(status, 200);
    // A wrong secret is answered alike and changes nothing.
    let other = fixture(CONFIRMATION, &[("TransID", json!("TFB4K2WRONG")), ("BillRefNumber", json!("X-1"))]);
    let (status, _) = daraja_post(&app, "/callbacks/c2b/0000ffff/confirmation", &other).await;
    assert_eq!(status, 200);
    assert_eq!(c2b_payments(&app).await.len(), 1);
    app.stop().await;
}
each_backend!(a_duplicate_trans_id_changes_nothing);

async fn an_unknown_account_becomes_a_new_payment(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    // Already paid: not open, so a second payment to its account is a payment of its own.
    let paid = app.create(json!({"amount": 10, "phone": "0708374149", "reference": "WATER-1"})).await;
    app.settled(paid["id"].as_str().unwrap()).await;
    pay_bill(&app, "0712345678", "WATER-1", 10).await;
    let sim = pay_bill(&app, "0712345678", "METER-4411", 275).await;
    let made = poll(Duration::from_secs(20), || async {
        let list = c2b_payments(&app).await;
        (list.len() == 2).then_some(list)
    })
    .await
    .expect("two new c2b payments");
    let meter = made.iter().find(|p| p["reference"] == "METER-4411").expect("named by its account number");
    assert_eq!(meter["status"], "succeeded");
    assert_eq!((meter["amount"].as_i64(), meter["paid_amount"].as_i64()), (Some(275), Some(275)));
    assert_eq!(meter["mpesa_receipt"], sim["trans_id"]);
    let events = app.events_for(meter["id"].as_str().unwrap()).await;
    assert_eq!(events[0]["type"], "payment.succeeded");
    let (_, first) = app.get(&format!("/v1/payments/{}", paid["id"].as_str().unwrap())).await;
    assert_eq!((first["status"].as_str(), first["channel"].as_str()), (Some("succeeded"), Some("stk")));
    app.stop().await;
}
each_backend!(an_unknown_account_becomes_a_new_payment);

async fn a_v1_hash_is_matched_to_a_known_phone(backend: Backend) {
    let app = spawn_with(&backend, &[("MPESA_C2B_VERSION", "v1")]).await;
    // 0712345678 waits on the virtual handset: lipa knows the phone.
    let known = app.create(json!({"amount": 5, "phone": "0712345678", "reference": "KNOWN-1"})).await;
    assert_eq!(known["phone"], "254712345678");
    // The fixture's MSISDN is sha256("254712345678"); its account names no open payment.
    let body = fixture(V1_HASHED, &[("TransID", json!("TFB4K2HASH1")), ("BillRefNumber", json!("SHOP-9"))]);
    let (status, _) = daraja_post(&app, &c2b_path(&app, "confirmation"), &body).await;
    assert_eq!(status, 200);
    let made = c2b_payments(&app).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["phone"], "254712345678", "the hash was matched to the known phone: {}", made[0]);
    assert_eq!(made[0]["payer_name"], "JANE WANJIRU MUTHONI");
    // An unknown hash stays without a phone.
    let other = fixture(V1_HASHED, &[("TransID", json!("TFB4K2HASH2")), ("MSISDN", json!("ab".repeat(32)))]);
    daraja_post(&app, &c2b_path(&app, "confirmation"), &other).await;
    let made = c2b_payments(&app).await;
    let stranger = made.iter().find(|p| p["mpesa_receipt"] == "TFB4K2HASH2").unwrap();
    assert!(stranger["phone"].is_null(), "{stranger}");
    app.stop().await;
}
each_backend!(a_v1_hash_is_matched_to_a_known_phone);

async fn validation_follows_the_setting(backend: Backend) {
    for (rule, unknown, wrong_amount) in
        [("off", "0", "0"), ("reference", "C2B00012", "0"), ("exact", "C2B00012", "C2B00013")]
    {
        let app = spawn_with(&backend, &[("LIPA_C2B_VALIDATION", rule)]).await;
        app.create(json!({"amount": 150, "reference": "INV-10442"})).await;
        let path = c2b_path(&app, "validation");
        let ask = |account: &str, amount: &str| {
            fixture(V1_HASHED, &[("BillRefNumber", json!(account)), ("TransAmount", json!(amount))])
        };
        let (_, right) = daraja_post(&app, &path, &ask("inv-10442", "150.00")).await;
        assert_eq!(right["ResultCode"], "0", "{rule}: {right}");
        let (_, none) = daraja_post(&app, &path, &ask("NO-SUCH", "150")).await;
        assert_eq!(none["ResultCode"], unknown, "{rule}: {none}");
        let (_, amount) = daraja_post(&app, &path, &ask("INV-10442", "149")).await;
        assert_eq!(amount["ResultCode"], wrong_amount, "{rule}: {amount}");
        if rule != "off" {
            // Through the simulator: the refused payment never happens, so lipa gets no confirmation.
            let sim = pay_bill(&app, "0712345678", "NO-SUCH-2", 40).await;
            assert_eq!(sim["status"], "rejected", "{sim}");
            assert_eq!(sim["result_code"], "C2B00012");
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(c2b_payments(&app).await.is_empty());
        }
        app.stop().await;
    }
}
each_backend!(validation_follows_the_setting);

async fn an_stk_success_after_a_c2b_payment_is_paid_twice(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    // The prompt waits on the virtual handset while the customer pays the paybill instead.
    let p = app.create(json!({"amount": 60, "phone": "0712345678", "reference": "TWICE-1"})).await;
    let id = p["id"].as_str().unwrap();
    let checkout = poll(Duration::from_secs(10), || async {
        let (_, p) = app.get(&format!("/v1/payments/{id}")).await;
        p["checkout_request_id"].as_str().map(str::to_string)
    })
    .await
    .expect("the push was accepted");
    pay_bill(&app, "0712345678", "TWICE-1", 60).await;
    until_status(&app, id, "succeeded").await;
    let path = app.callback_path(id).await;
    let (status, _) = app.post(&path, &success_callback(&checkout, 60, "254712345678", "TFB4STKPAY")).await;
    assert_eq!(status, 200);
    let review = until_status(&app, id, "needs_review").await;
    assert_eq!(review["review_reason"], "paid_twice", "{review}");
    let types: Vec<Value> = app.events_for(id).await.iter().map(|e| e["type"].clone()).collect();
    assert!(types.contains(&json!("payment.needs_review")), "{types:?}");
    app.stop().await;
}
each_backend!(an_stk_success_after_a_c2b_payment_is_paid_twice);

async fn the_checkout_page_offers_the_paybill_and_a_qr_code(backend: Backend) {
    let app = spawn_with(&backend, &[]).await;
    let p = app.create(json!({"amount": 150, "reference": "INV-90"})).await;
    let id = p["id"].as_str().unwrap();
    let html = app.http.get(format!("{}/pay/{id}", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Pay Bill 174379, account INV-90, KES 150"), "{html}");
    let sw = app.http.get(format!("{}/pay/{id}?lang=sw", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(sw.contains("Lipa Bili 174379, akaunti INV-90"), "{sw}");
    let qr = app.http.get(format!("{}/pay/{id}/qr.png", app.url)).send().await.unwrap();
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/png");
    assert!(qr.bytes().await.unwrap().starts_with(b"\x89PNG"));
    app.stop().await;
}
each_backend!(the_checkout_page_offers_the_paybill_and_a_qr_code);

async fn confirmations_from_outside_the_allowlist_are_never_applied(backend: Backend) {
    // Tests connect from 127.0.0.1, which is not allowed here: a forged confirmation is answered like any
    // other and makes no payment; a forged validation learns nothing either.
    let app = spawn_with(&backend, &[("LIPA_CALLBACK_ALLOWLIST", "196.201.214.0/24")]).await;
    let forged = fixture(CONFIRMATION, &[("TransID", json!("FORGED0C2B")), ("BillRefNumber", json!("FAKE-1"))]);
    let (status, body) = daraja_post(&app, &c2b_path(&app, "confirmation"), &forged).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = daraja_post(&app, &c2b_path(&app, "validation"), &forged).await;
    assert_eq!(status, 200);
    let (status, _) = app.post_raw("/callbacks/result/anything", serde_json::to_vec(&forged).unwrap(), &[]).await;
    assert_eq!(status, 200);
    // A confirmation is answered only after its transaction committed: nothing to wait for.
    assert!(c2b_payments(&app).await.is_empty(), "a forged confirmation made a payment");
    app.stop().await;

    // The same body from an allowed address is applied: the test above could fail.
    let app = spawn_with(&backend, &[]).await;
    let (status, _) = daraja_post(&app, &c2b_path(&app, "confirmation"), &forged).await;
    assert_eq!(status, 200);
    assert_eq!(c2b_payments(&app).await.len(), 1);
    app.stop().await;
}
each_backend!(confirmations_from_outside_the_allowlist_are_never_applied);

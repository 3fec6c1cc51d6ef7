//! Money out (issue 14) against the real gateway over HTTP, the in-process simulator's B2C, Reversal,
//! Transaction Status and Account Balance with real asynchronous results, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{poll, spawn, spawn_with, Backend, TestApp};
use daraja_sim::MoneyOutKind;
use serde_json::{json, Value};

/// The simulator's Utility account (B2C pays from it), in cents.
fn utility(app: &TestApp) -> i64 {
    app.sim().accounts().iter().find(|a| a.name == "Utility Account").unwrap().available_cents
}

/// How many B2C requests (or reversals) the simulator received for this id.
fn b2c_requests(app: &TestApp, kind: MoneyOutKind) -> usize {
    app.sim().money_out().iter().filter(|m| m.kind == kind).count()
}

async fn settled(app: &TestApp, path: &str) -> Value {
    poll(Duration::from_secs(30), || async {
        let (_, v) = app.get(path).await;
        (v["status"] != "pending").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("{path} still pending after 30 s ({})", app.backend.name()))
}

async fn payout(app: &TestApp, body: Value) -> Value {
    let (status, p) = app.post("/v1/payouts", &body).await;
    assert_eq!(status, 201, "{body}: {p}");
    assert_eq!(p["object"], "payout");
    assert!(p["id"].as_str().unwrap().starts_with("po_"), "{p}");
    p
}

/// A succeeded payment to refund.
async fn paid(app: &TestApp, amount: i64) -> Value {
    let p = app.create(json!({"amount": amount, "phone": "0708374149", "reference": format!("R-{amount}-{}", rand::random::<u32>())})).await;
    let p = app.settled(p["id"].as_str().unwrap()).await;
    assert_eq!(p["status"], "succeeded", "{p}");
    assert_eq!(p["refunded_amount"], 0);
    p
}

async fn payout_succeeds_once_with_its_receipt_and_event(backend: Backend) {
    let app = spawn(&backend).await;
    let before = utility(&app);
    let p = payout(&app, json!({"amount": 1500, "phone": "0712 345 678", "kind": "salary", "remarks": "Rider payout", "metadata": {"rider": 7}})).await;
    assert_eq!(
        (p["status"].as_str(), p["amount"].as_i64(), p["phone"].as_str()),
        (Some("pending"), Some(1500), Some("254712345678"))
    );
    let id = p["id"].as_str().unwrap();
    let done = settled(&app, &format!("/v1/payouts/{id}")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["mpesa_receipt"].as_str().is_some_and(|r| r.len() == 10), "{done}");
    assert!(done["recipient_name"].is_string() && done["completed_at"].is_string(), "{done}");
    assert_eq!(done["metadata"], json!({"rider": 7}));
    // The B2C v3 request carried the payout id as its OriginatorConversationID; paid once.
    let sent = app.sim().money_out_request(id).expect("the simulator has the request");
    assert_eq!((sent.amount, sent.command_id.as_str()), (1500, "SalaryPayment"));
    assert_eq!(before - utility(&app), 150_000);
    let events = app.events_for(id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "payout.succeeded");
    assert_eq!(events[0]["data"]["object"], "payout");
    // The list, filtered.
    let (_, list) = app.get("/v1/payouts?status=succeeded&phone=0712345678").await;
    assert_eq!(list["data"][0]["id"], id);
    let (_, none) = app.get("/v1/payouts?status=failed").await;
    assert_eq!(none["data"], json!([]));
    app.stop().await;
}
each_backend!(payout_succeeds_once_with_its_receipt_and_event);

async fn payout_failures_name_their_reason(backend: Backend) {
    let app = spawn(&backend).await;
    let p = payout(&app, json!({"amount": 100, "phone": "0700002040"})).await;
    let done = settled(&app, &format!("/v1/payouts/{}", p["id"].as_str().unwrap())).await;
    assert_eq!(
        (done["status"].as_str(), done["failure_reason"].as_str()),
        (Some("failed"), Some("unregistered_recipient"))
    );
    assert_eq!(done["result_code"], "2040");
    // An empty Utility account fails payouts with insufficient funds; nothing moves.
    assert!(app.sim().set_account_balance("Utility Account", 5_000));
    let p = payout(&app, json!({"amount": 100, "phone": "0712345678"})).await;
    let id = p["id"].as_str().unwrap();
    let done = settled(&app, &format!("/v1/payouts/{id}")).await;
    assert_eq!(
        (done["status"].as_str(), done["failure_reason"].as_str()),
        (Some("failed"), Some("insufficient_funds"))
    );
    assert_eq!(utility(&app), 5_000);
    assert_eq!(app.events_for(id).await[0]["type"], "payout.failed");
    app.stop().await;
}
each_backend!(payout_failures_name_their_reason);

async fn payout_validation_names_the_field(backend: Backend) {
    let app = spawn(&backend).await;
    for (body, code, field) in [
        (json!({"phone": "0712345678"}), "missing_amount", "amount"),
        (json!({"amount": 9, "phone": "0712345678"}), "invalid_amount", "amount"),
        (json!({"amount": 250001, "phone": "0712345678"}), "invalid_amount", "amount"),
        (json!({"amount": 10.5, "phone": "0712345678"}), "invalid_amount", "amount"),
        (json!({"amount": 100}), "missing_phone", "phone"),
        (json!({"amount": 100, "phone": "12345"}), "invalid_phone", "phone"),
        (json!({"amount": 100, "phone": "0712345678", "kind": "bribe"}), "invalid_kind", "kind"),
        (json!({"amount": 100, "phone": "0712345678", "remarks": "x".repeat(101)}), "invalid_remarks", "remarks"),
        (json!({"amount": 100, "phone": "0712345678", "metadata": [1]}), "invalid_metadata", "metadata"),
    ] {
        let (status, e) = app.post("/v1/payouts", &body).await;
        assert_eq!(status, 400, "{body}: {e}");
        assert_eq!((e["error"]["code"].as_str(), e["error"]["field"].as_str()), (Some(code), Some(field)), "{body}");
    }
    let (status, _) = app.post_raw("/v1/payouts", b"[".to_vec(), &[]).await;
    assert_eq!(status, 400);
    assert!(app.sim().money_out().is_empty(), "nothing was sent");
    let (status, _) = app.get("/v1/payouts/po_000000000000000000000000").await;
    assert_eq!(status, 404);
    let (status, e) = app.get("/v1/payouts?status=paid").await;
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("status")));
    app.stop().await;
}
each_backend!(payout_validation_names_the_field);

async fn idempotency_key_pays_once(backend: Backend) {
    let app = spawn(&backend).await;
    let body = json!({"amount": 200, "phone": "0712345678"});
    let raw = serde_json::to_vec(&body).unwrap();
    let (s1, a) = app.post_raw("/v1/payouts", raw.clone(), &[("idempotency-key", "pay-rider-7")]).await;
    let (s2, b) = app.post_raw("/v1/payouts", raw, &[("idempotency-key", "pay-rider-7")]).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a["id"], b["id"]);
    let other = serde_json::to_vec(&json!({"amount": 300, "phone": "0712345678"})).unwrap();
    let (s3, e) = app.post_raw("/v1/payouts", other, &[("idempotency-key", "pay-rider-7")]).await;
    assert_eq!((s3, e["error"]["code"].as_str()), (409, Some("idempotency_key_reused")));
    settled(&app, &format!("/v1/payouts/{}", a["id"].as_str().unwrap())).await;
    assert_eq!(b2c_requests(&app, MoneyOutKind::B2c), 1);
    app.stop().await;
}
each_backend!(idempotency_key_pays_once);

async fn refund_by_reversal(backend: Backend) {
    let app = spawn(&backend).await;
    let p = paid(&app, 1000).await;
    let pid = p["id"].as_str().unwrap();
    let (status, r) =
        app.post(&format!("/v1/payments/{pid}/refunds"), &json!({"amount": 400, "reason": "damaged"})).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(
        (r["object"].as_str(), r["method"].as_str(), r["payment_id"].as_str()),
        (Some("refund"), Some("reversal"), Some(pid))
    );
    let rid = r["id"].as_str().unwrap();
    assert!(rid.starts_with("re_"));
    let done = settled(&app, &format!("/v1/refunds/{rid}")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let reversed = app.sim().money_out().into_iter().find(|m| m.kind == MoneyOutKind::Reversal).unwrap();
    assert_eq!(reversed.transaction_id.as_deref(), p["mpesa_receipt"].as_str());
    let (_, p2) = app.get(&format!("/v1/payments/{pid}")).await;
    assert_eq!(p2["refunded_amount"], 400);
    assert_eq!(app.events_for(rid).await[0]["type"], "refund.succeeded");
    let (_, list) = app.get(&format!("/v1/payments/{pid}/refunds")).await;
    assert_eq!(list["data"][0]["id"], rid);
    // More than is left: refused in the same transaction that checks it.
    let (status, e) = app.post(&format!("/v1/payments/{pid}/refunds"), &json!({"amount": 601})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("refund_exceeds_payment")), "{e}");
    app.stop().await;
}
each_backend!(refund_by_reversal);

async fn refund_rules(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_REFUND_METHOD", "b2c")]).await;
    // A payment that did not succeed cannot be refunded; an unknown one is 404.
    let failed = app.create(json!({"amount": 100, "phone": "0700001032", "reference": "NOPE"})).await;
    let failed = app.settled(failed["id"].as_str().unwrap()).await;
    let (status, e) = app.post(&format!("/v1/payments/{}/refunds", failed["id"].as_str().unwrap()), &json!({})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("payment_not_refundable")));
    let (status, _) = app.post("/v1/payments/pay_000000000000000000000000/refunds", &json!({})).await;
    assert_eq!(status, 404);
    let p = paid(&app, 500).await;
    let pid = p["id"].as_str().unwrap();
    let (status, e) = app.post(&format!("/v1/payments/{pid}/refunds"), &json!({"amount": 0})).await;
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("amount")));
    let (status, e) = app.post(&format!("/v1/payments/{pid}/refunds"), &json!({"reason": 5})).await;
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("reason")));
    // B2C back to the payer; the default amount is what is left.
    let (_, a) = app.post(&format!("/v1/payments/{pid}/refunds"), &json!({"amount": 200})).await;
    let (status, b) = app.post_raw(&format!("/v1/payments/{pid}/refunds"), Vec::new(), &[]).await;
    assert_eq!(status, 201, "{b}");
    assert_eq!((a["method"].as_str(), b["amount"].as_i64()), (Some("b2c"), Some(300)));
    for r in [&a, &b] {
        let done = settled(&app, &format!("/v1/refunds/{}", r["id"].as_str().unwrap())).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }
    let (_, p2) = app.get(&format!("/v1/payments/{pid}")).await;
    assert_eq!(p2["refunded_amount"], 500);
    let (status, e) = app.post(&format!("/v1/payments/{pid}/refunds"), &json!({})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("refund_exceeds_payment")));
    // The payer got the money on the handset.
    let received = app.sim().received("254708374149");
    assert_eq!(received.iter().map(|m| m.amount).sum::<u64>(), 500);
    app.stop().await;
}
each_backend!(refund_rules);

async fn concurrent_refunds_never_exceed_the_payment(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_REFUND_METHOD", "b2c")]).await;
    let p = paid(&app, 1000).await;
    let path = format!("/v1/payments/{}/refunds", p["id"].as_str().unwrap());
    let body = json!({"amount": 300});
    let tries = (0..6).map(|_| app.post(&path, &body));
    let answers = futures::future::join_all(tries).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, e)| *s == 409 && e["error"]["code"] == "refund_exceeds_payment").count();
    assert_eq!((created, refused), (3, 3), "{answers:?}");
    // A failed refund frees its amount: pending ones count against the limit until then.
    let (_, list) = app.get(&format!("{path}?limit=100")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);
    app.stop().await;
}
each_backend!(concurrent_refunds_never_exceed_the_payment, #[tokio::test(flavor = "multi_thread", worker_threads = 4)]);

async fn balance_reads_the_accounts(backend: Backend) {
    let app = spawn(&backend).await;
    assert!(app.sim().set_account_balance("Utility Account", 12_345_678));
    let (status, b) = app.get("/v1/balance").await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["object"], "balance");
    assert!(b["read_at"].is_string());
    let utility = b["accounts"].as_array().unwrap().iter().find(|a| a["name"] == "Utility Account").expect("utility");
    assert_eq!((utility["currency"].as_str(), utility["available_cents"].as_i64()), (Some("KES"), Some(12_345_678)));
    app.stop().await;
}
each_backend!(balance_reads_the_accounts);

//! Money out when things go wrong (issue 14): lost results settled by Transaction Status, queue timeouts,
//! a crash between the commit and the send (the restarted gateway never pays twice), duplicate and late
//! results, and what stays unknown going to needs_review — on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{poll, spawn, spawn_on, spawn_with, Backend, TestApp};
use daraja_sim::{Faults, MoneyOutKind};
use lipa::domain::money_out::{Draft, Method, MoneyOut, Object};
use lipa::store::money_out::NewPayout;
use serde_json::{json, Value};

fn utility(app: &TestApp) -> i64 {
    app.sim().accounts().iter().find(|a| a.name == "Utility Account").unwrap().available_cents
}

async fn settled(app: &TestApp, id: &str) -> Value {
    poll(Duration::from_secs(40), || async {
        let (_, v) = app.get(&format!("/v1/payouts/{id}")).await;
        (v["status"] != "pending").then_some(v)
    })
    .await
    .unwrap_or_else(|| panic!("{id} still pending ({})", app.backend.name()))
}

async fn payout(app: &TestApp, amount: i64, phone: &str) -> String {
    let (status, p) = app.post("/v1/payouts", &json!({"amount": amount, "phone": phone})).await;
    assert_eq!(status, 201, "{p}");
    p["id"].as_str().unwrap().to_string()
}

/// Wait until the simulator has decided request `id` (its result is then on its way, or dropped).
async fn decided(app: &TestApp, id: &str) {
    poll(Duration::from_secs(10), || async { app.sim().money_out_request(id)?.result_code.map(|_| ()) })
        .await
        .expect("the simulator decides the request");
}

/// The paths of the answers kept for a payout.
async fn kept(app: &TestApp, id: &str) -> Vec<String> {
    app.gw.state.store.money_out_results(id).await.unwrap().into_iter().map(|r| r.path).collect()
}

fn draft(amount: i64) -> Draft {
    Draft {
        object: Object::Payout,
        amount,
        phone: Some("254712345678".into()),
        kind: "business".into(),
        method: Method::B2c,
        remarks: "crash test".into(),
        metadata: json!({}),
        payment_id: None,
        original_receipt: None,
    }
}

async fn a_lost_result_is_settled_by_transaction_status(backend: Backend) {
    let app = spawn(&backend).await;
    app.sim().set_faults(Faults { drop_callback: 1.0, ..Faults::default() });
    let id = payout(&app, 700, "0712345678").await;
    decided(&app, &id).await;
    app.sim().set_faults(Faults::default());
    let done = settled(&app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["mpesa_receipt"].as_str(), app.sim().money_out_request(&id).unwrap().receipt.as_deref());
    assert_eq!(kept(&app, &id).await, vec!["status"], "only the Transaction Status answer came");
    assert!(app.sim().money_out().iter().any(|m| m.kind == MoneyOutKind::TransactionStatus));
    app.stop().await;
}
each_backend!(a_lost_result_is_settled_by_transaction_status);

async fn a_queue_timeout_is_asked_about_and_fails_unpaid(backend: Backend) {
    let app = spawn(&backend).await;
    let before = utility(&app);
    app.sim().set_faults(Faults { queue_timeout: 1.0, ..Faults::default() });
    let id = payout(&app, 900, "0712345678").await;
    poll(Duration::from_secs(10), || async { kept(&app, &id).await.contains(&"timeout".to_string()).then_some(()) })
        .await
        .expect("the queue-timeout notice is kept");
    app.sim().set_faults(Faults::default());
    let done = settled(&app, &id).await;
    assert_eq!((done["status"].as_str(), done["failure_reason"].as_str()), (Some("failed"), Some("error")), "{done}");
    assert_eq!(utility(&app), before, "nothing was paid");
    app.stop().await;
}
each_backend!(a_queue_timeout_is_asked_about_and_fails_unpaid);

async fn a_payout_committed_but_never_sent_is_sent_once(backend: Backend) {
    let app = spawn(&backend).await;
    let before = utility(&app);
    let m = MoneyOut::new_pending(draft(400), lipa::now_ms(), 500);
    let id = m.id.clone();
    app.gw.state.store.create_payout(NewPayout { payout: m, api_key_id: None, idempotency: None }).await.unwrap();
    let done = settled(&app, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(app.sim().money_out().iter().filter(|m| m.kind == MoneyOutKind::B2c).count(), 1);
    assert_eq!(before - utility(&app), 40_000);
    app.stop().await;
}
each_backend!(a_payout_committed_but_never_sent_is_sent_once);

/// The gateway dies after its B2C request reached Daraja and before it recorded the answer (and the result
/// goes to a gateway that is gone). The restarted gateway sends again, Daraja refuses the duplicate
/// OriginatorConversationID, Transaction Status settles it: paid exactly once.
async fn a_crash_between_send_and_record_never_pays_twice(backend: Backend) {
    let daraja = spawn(&backend).await; // plays Daraja for the gateway under test
    let before = utility(&daraja);
    let base = [("MPESA_BASE_URL", daraja.url.as_str())];
    let gw = spawn_with(&backend, &base).await;
    let m = MoneyOut::new_pending(draft(1200), lipa::now_ms(), 3_000);
    let id = m.id.clone();
    let state = gw.gw.state.clone();
    state.store.create_payout(NewPayout { payout: m.clone(), api_key_id: None, idempotency: None }).await.unwrap();
    let initiator = state.money_out.initiator.clone().unwrap();
    let request = daraja::B2cRequest {
        originator_conversation_id: Some(id.clone()),
        initiator_name: initiator.name.clone(),
        security_credential: initiator.credential().to_string(),
        command_id: daraja::B2cCommand::BusinessPayment,
        amount: 1200,
        party_a: state.money_out.b2c_shortcode.clone(),
        party_b: "254712345678".into(),
        remarks: "crash test".into(),
        queue_time_out_url: format!("{}/callbacks/timeout/{}", gw.url, m.callback_secret.as_str()),
        result_url: format!("{}/callbacks/result/{}", gw.url, m.callback_secret.as_str()),
        occasion: None,
    };
    state.money_out.client.b2c_payment(&request).await.expect("Daraja takes the first send");
    drop(state);
    let (db, dir) = gw.stop_keep_database().await; // the crash: nothing of the answer was recorded
    decided(&daraja, &id).await;
    let restarted = spawn_on(&backend, &db, dir, &base).await;
    let done = settled(&restarted, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let b2c = daraja.sim().money_out().into_iter().filter(|m| m.kind == MoneyOutKind::B2c).count();
    assert_eq!(b2c, 1, "one B2C request reached Daraja");
    assert_eq!(before - utility(&daraja), 120_000, "paid exactly once");
    // The first result went to the gateway that died; Transaction Status told the restarted one.
    assert_eq!(kept(&restarted, &id).await, vec!["status"]);
    restarted.stop().await;
    daraja.stop().await;
}
each_backend!(a_crash_between_send_and_record_never_pays_twice, #[tokio::test(flavor = "multi_thread", worker_threads = 4)]);

async fn duplicate_and_late_results_change_nothing_silently(backend: Backend) {
    let app = spawn(&backend).await;
    let id = payout(&app, 300, "0712345678").await;
    let done = settled(&app, &id).await;
    assert_eq!(done["status"], "succeeded");
    let m = app.gw.state.store.get_money_out(&id).await.unwrap().unwrap();
    let result_path = format!("/callbacks/result/{}", m.callback_secret.as_str());
    let success = app.sim().money_out_request(&id).unwrap().result_payload.unwrap();
    let failure: Value = serde_json::from_str(include_str!("fixtures/money_out/b2c_result_failure_2001.json")).unwrap();
    for body in [&success, &success, &failure] {
        let (status, ack) = app.post(&result_path, body).await;
        assert_eq!((status, ack["ResultCode"].as_i64()), (200, Some(0)));
    }
    let (_, after) = app.get(&format!("/v1/payouts/{id}")).await;
    assert_eq!((after["status"].as_str(), &after["mpesa_receipt"]), (Some("succeeded"), &done["mpesa_receipt"]));
    assert_eq!(app.events_for(&id).await.len(), 1);
    assert_eq!(kept(&app, &id).await.len(), 4, "every answer is kept raw");
    // A success after a failure is never silent: needs_review, with its event.
    let failed = payout(&app, 300, "0700002040").await;
    assert_eq!(settled(&app, &failed).await["status"], "failed");
    let f = app.gw.state.store.get_money_out(&failed).await.unwrap().unwrap();
    let (status, _) = app.post(&format!("/callbacks/result/{}", f.callback_secret.as_str()), &success).await;
    assert_eq!(status, 200);
    let (_, p) = app.get(&format!("/v1/payouts/{failed}")).await;
    assert_eq!(p["status"], "needs_review", "{p}");
    let types: Vec<Value> = app.events_for(&failed).await.iter().map(|e| e["type"].clone()).collect();
    assert!(types.contains(&json!("payout.needs_review")), "{types:?}");
    // An answer for a secret that names nothing is acknowledged and kept (cut short).
    let (status, _) = app.post("/callbacks/result/0123456789abcdef0123456789abcdef", &success).await;
    assert_eq!(status, 200);
    app.stop().await;
}
each_backend!(duplicate_and_late_results_change_nothing_silently);

async fn what_stays_unknown_goes_to_review(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_PENDING_MAX_AGE", "4s")]).await;
    app.sim().set_faults(Faults { drop_callback: 1.0, ..Faults::default() });
    let id = payout(&app, 250, "0712345678").await;
    let done = settled(&app, &id).await;
    assert_eq!(done["status"], "needs_review", "{done}");
    assert!(done["review_reason"].as_str().is_some_and(|r| r.contains("Transaction Status")), "{done}");
    assert_eq!(app.events_for(&id).await[0]["type"], "payout.needs_review");
    app.stop().await;
}
each_backend!(what_stays_unknown_goes_to_review);

//! Store conformance: the same scenarios and assertions against SQLite and PostgreSQL.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use lipa::domain::{Outcome, Payment, PaymentDraft, PaymentStatus, PushState, Source};
use lipa::store::{CallbackIn, Created, Idempotency, NewPayment, Store, StoreError};

/// A store on a fresh database; the database goes with the handle.
async fn open(backend: &Backend) -> (Arc<dyn Store>, common::DbDir) {
    let (db, dir) = fresh_database(backend).await;
    (lipa::store::open(&db).await.expect("open store"), dir)
}

fn payment(reference: &str, now: i64) -> Payment {
    let draft = PaymentDraft {
        amount: 100,
        phone: Some("254712345678".into()),
        reference: reference.into(),
        description: "d".into(),
        metadata: serde_json::json!({"k": "v"}),
        return_url: None,
    };
    // Its first check is due at once.
    let mut p = Payment::new_pending(draft, now, 0, 0);
    // Unique, as the gateway derives it (see `lipa::service::create_payment`).
    p.account_reference = p.id[p.id.len() - 12..].to_string();
    p
}

fn new(p: Payment, idem: Option<(&str, &str)>) -> NewPayment {
    NewPayment {
        pending_guard: Some(p.reference.clone()),
        payment: p,
        api_key_id: Some("key_1".into()),
        idempotency: idem.map(|(k, h)| Idempotency { key: k.into(), request_hash: h.into() }),
    }
}

/// A payment stored at 1 000 (no idempotency key).
async fn stored(store: &Arc<dyn Store>, reference: &str) -> Payment {
    let p = payment(reference, 1_000);
    store.create_payment(new(p.clone(), None)).await.unwrap();
    p
}

/// A stored payment whose push Daraja accepted at 1 100 with this CheckoutRequestID, as it now is.
async fn accepted(store: &Arc<dyn Store>, reference: &str, checkout: &str) -> Payment {
    let p = stored(store, reference).await;
    store.push_accepted(&p.id, checkout, "m", 50_000, 1_100).await.unwrap().expect("the payment is there")
}

fn callback(secret: &str, body: &[u8], outcome: Option<Outcome>, now: i64) -> CallbackIn {
    CallbackIn { secret: secret.into(), raw_body: body.to_vec(), outcome, now }
}

fn success(checkout: &str) -> Outcome {
    Outcome::Succeeded {
        checkout_request_id: Some(checkout.into()),
        receipt: Some("ABC123DEF4".into()),
        amount: Some(100),
        phone: Some("254712345678".into()),
        result_desc: "ok".into(),
    }
}

async fn create_idempotency_and_guard(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let p = payment("R1", 1_000);
    let id = p.id.clone();
    assert!(matches!(store.create_payment(new(p, Some(("k", "h1")))).await.unwrap(), Created::New(_)));
    // The same key: the same payment, same or different request.
    match store.create_payment(new(payment("R1", 2_000), Some(("k", "h1")))).await.unwrap() {
        Created::Replay { payment, same_request } => assert!(same_request && payment.id == id),
        other => panic!("{other:?}"),
    }
    match store.create_payment(new(payment("R1", 2_000), Some(("k", "h2")))).await.unwrap() {
        Created::Replay { same_request, .. } => assert!(!same_request),
        other => panic!("{other:?}"),
    }
    // Another key, same reference, while pending: the guard.
    let err = store.create_payment(new(payment("R1", 3_000), Some(("k2", "h1")))).await.unwrap_err();
    assert!(matches!(err, StoreError::ReferencePending), "{err}");
    // Nothing half-written: the refused request's key is not claimed.
    store
        .apply_outcome(&id, Source::Push, &Outcome::PushRejected { code: "x".into(), message: "m".into() }, 4_000)
        .await
        .unwrap();
    assert!(matches!(
        store.create_payment(new(payment("R1", 5_000), Some(("k2", "h1")))).await.unwrap(),
        Created::New(_)
    ));
    let got = store.get_payment(&id).await.unwrap().unwrap();
    assert_eq!(got.metadata, serde_json::json!({"k": "v"}));
    assert_eq!(got.status, PaymentStatus::Failed);
    assert_eq!(got.completed_at, Some(4_000));
}
each_backend!(create_idempotency_and_guard);

async fn racing_creates_with_one_key_make_one_payment(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let tries = (0..8).map(|_| {
        let store = store.clone();
        async move { store.create_payment(new(payment("RACE", 1), Some(("same", "h")))).await.unwrap() }
    });
    let results = futures::future::join_all(tries).await;
    let news = results.iter().filter(|r| matches!(r, Created::New(_))).count();
    assert_eq!(news, 1, "{results:?}");
    let page = store.list_payments(&lipa::store::PaymentFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(page.data.len(), 1);
}
each_backend!(racing_creates_with_one_key_make_one_payment);

async fn callbacks_transition_once_and_record_everything(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let p = accepted(&store, "CB", "ws_CO_1").await;
    let (id, secret) = (p.id.clone(), p.callback_secret.as_str().to_owned());
    let first = store.record_callback(&secret, b"{raw}", Some(&success("ws_CO_1")), 2_000).await.unwrap();
    assert!(first.event_id.is_some());
    for _ in 0..2 {
        let again = store.record_callback(&secret, b"{raw}", Some(&success("ws_CO_1")), 3_000).await.unwrap();
        assert!(again.decision.is_none() && again.event_id.is_none());
    }
    let unknown = store.record_callback("nope", b"{x}", None, 3_000).await.unwrap();
    assert!(unknown.payment.is_none());
    let p = store.get_payment(&id).await.unwrap().unwrap();
    assert_eq!((p.status, p.mpesa_receipt.as_deref()), (PaymentStatus::Succeeded, Some("ABC123DEF4")));
    let events = store
        .list_events(&lipa::store::EventFilter { payment_id: Some(id.clone()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(events.data.len(), 1);
    assert_eq!(events.data[0].event_type, "payment.succeeded");
    assert_eq!(events.data[0].data["status"], "succeeded");
    let log = store.payment_log(&id).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.kind == "callback" && e.detail == "{raw}").count(), 3);
}
each_backend!(callbacks_transition_once_and_record_everything);

async fn due_checks_are_claimed_once_and_taken_over_after_the_lease(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let mut ids = HashSet::new();
    for i in 0..20 {
        ids.insert(stored(&store, &format!("D{i}")).await.id);
    }
    // Two workers at once: disjoint claims covering everything.
    let (a, b) = tokio::join!(store.claim_due_checks(5_000, 65_000, 15), store.claim_due_checks(5_000, 65_000, 15));
    let (a, b) = (a.unwrap(), b.unwrap());
    let a_ids: HashSet<_> = a.iter().map(|p| p.id.clone()).collect();
    let b_ids: HashSet<_> = b.iter().map(|p| p.id.clone()).collect();
    assert!(a_ids.is_disjoint(&b_ids));
    assert_eq!(a_ids.len() + b_ids.len(), 20);
    // Leased: nobody else gets them before the lease ends.
    assert!(store.claim_due_checks(6_000, 66_000, 50).await.unwrap().is_empty());
    // The holder died: after the lease, another worker takes them over.
    assert_eq!(store.claim_due_checks(70_000, 130_000, 50).await.unwrap().len(), 20);
    // Rescheduled work is not due until its time.
    let one = ids.iter().next().unwrap();
    store.reschedule_check(one, 200_000, "later", 71_000).await.unwrap();
    assert!(store.claim_due_checks(150_000, 210_000, 50).await.unwrap().iter().all(|p| &p.id != one));
    assert_eq!(store.claim_due_checks(200_000, 260_000, 50).await.unwrap().len(), 1);
}
each_backend!(due_checks_are_claimed_once_and_taken_over_after_the_lease);

async fn leases_and_shared_values(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    assert!(store.try_lease("l", "a", 100, 0).await.unwrap());
    assert!(!store.try_lease("l", "b", 100, 50).await.unwrap(), "held by a");
    assert!(store.try_lease("l", "a", 200, 60).await.unwrap(), "a renews");
    assert!(store.try_lease("l", "b", 400, 250).await.unwrap(), "expired: b takes over");
    store.release_lease("l", "b").await.unwrap();
    assert!(store.try_lease("l", "c", 500, 260).await.unwrap());
    store.kv_put("t", "one", Some(9)).await.unwrap();
    store.kv_put("t", "two", Some(10)).await.unwrap();
    assert_eq!(store.kv_get("t").await.unwrap(), Some(("two".into(), Some(10))));
    store.kv_delete_if("t", "one").await.unwrap();
    assert!(store.kv_get("t").await.unwrap().is_some(), "only the refused value is deleted");
    store.kv_delete_if("t", "two").await.unwrap();
    assert!(store.kv_get("t").await.unwrap().is_none());
}
each_backend!(leases_and_shared_values);

async fn a_callback_batch_is_decided_in_order_and_stored_as_decided(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let a = accepted(&store, "BA", "ws_A").await;
    let b = accepted(&store, "BB", "ws_B").await;
    let c = accepted(&store, "BC", "ws_C").await;
    for (p, checkout) in [(&a, "ws_A"), (&b, "ws_B"), (&c, "ws_C")] {
        assert_eq!((p.checkout_request_id.as_deref(), p.push_state), (Some(checkout), PushState::Accepted));
    }
    let failed = Outcome::Failed {
        checkout_request_id: Some("ws_B".into()),
        result_code: "1032".into(),
        result_desc: "Request cancelled by user".into(),
        reason: daraja::FailureReason::Cancelled,
    };
    let batch = vec![
        callback(a.callback_secret.as_str(), b"{a1}", Some(success("ws_A")), 2_000),
        callback(a.callback_secret.as_str(), b"{a2}", Some(success("ws_A")), 2_001),
        callback("no-such-secret", b"{x}", None, 2_002),
        callback(b.callback_secret.as_str(), b"{b}", Some(failed), 2_003),
        callback(c.callback_secret.as_str(), b"{c}", None, 2_004),
    ];
    let applied = store.record_callbacks(&batch).await.unwrap();
    assert_eq!(applied.len(), 5);
    assert!(applied[0].event_id.is_some() && applied[0].decision.is_some());
    // The duplicate in the same batch sees the first one's effect.
    assert!(applied[1].decision.is_none() && applied[1].event_id.is_none());
    assert_eq!(applied[1].payment.as_ref().unwrap().status, PaymentStatus::Succeeded);
    assert!(applied[2].payment.is_none());
    assert!(applied[3].event_id.is_some());
    assert!(applied[4].decision.is_none());
    // What the store handed back is exactly what it wrote.
    for (i, id) in [(1, &a.id), (3, &b.id), (4, &c.id)] {
        assert_eq!(applied[i].payment.as_ref(), store.get_payment(id).await.unwrap().as_ref(), "callback {i}");
    }
    let got = store.get_payment(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.mpesa_receipt.as_deref(), got.completed_at),
        (PaymentStatus::Succeeded, Some("ABC123DEF4"), Some(2_000))
    );
    let got = store.get_payment(&b.id).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.failure_reason.map(|r| r.as_str()), got.completed_at),
        (PaymentStatus::Failed, Some("cancelled"), Some(2_003))
    );
    let events = store.list_events(&lipa::store::EventFilter { limit: 10, ..Default::default() }).await.unwrap();
    let mut kinds: Vec<(String, String)> =
        events.data.iter().map(|e| (e.payment_id.clone(), e.data["status"].as_str().unwrap().to_string())).collect();
    kinds.sort();
    let mut want = vec![(a.id.clone(), "succeeded".to_string()), (b.id.clone(), "failed".to_string())];
    want.sort();
    assert_eq!(kinds, want);
    let log = store.payment_log(&a.id).await.unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "push", "callback", "event", "callback", "callback"], "{log:?}");
    assert_eq!(log[0].detail, "created: KES 100 ref BA");
    assert!(log.iter().any(|e| e.detail == "no change (duplicate or late answer)"));
    let log = store.payment_log(&c.id).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "callback" && e.detail.contains("could not be parsed")));
}
each_backend!(a_callback_batch_is_decided_in_order_and_stored_as_decided);

/// Batches racing on the same payments (PostgreSQL's batches read without locks and check the versions as
/// they write; a batch that lost the race writes nothing and takes the locking path): every payment is
/// decided once, every callback is kept.
async fn racing_batches_on_the_same_payments_decide_each_once(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let mut payments = Vec::new();
    for i in 0..10 {
        payments.push(accepted(&store, &format!("RB{i}"), &format!("ws_RB{i}")).await);
    }
    let batch: Vec<CallbackIn> = payments
        .iter()
        .enumerate()
        .map(|(i, p)| callback(p.callback_secret.as_str(), b"{race}", Some(success(&format!("ws_RB{i}"))), 2_000))
        .collect();
    let racers = (0..6).map(|n| {
        let (store, mut batch) = (store.clone(), batch.clone());
        // Each racer in another order.
        batch.rotate_left(n);
        tokio::spawn(async move { store.record_callbacks(&batch).await.unwrap() })
    });
    let results: Vec<Vec<lipa::store::Applied>> =
        futures::future::join_all(racers).await.into_iter().map(|r| r.unwrap()).collect();
    let decided = results.iter().flatten().filter(|a| a.event_id.is_some()).count();
    assert_eq!(decided, 10, "each payment decided exactly once");
    let events = store.list_events(&lipa::store::EventFilter { limit: 100, ..Default::default() }).await.unwrap();
    assert_eq!(events.data.len(), 10);
    for p in &payments {
        let got = store.get_payment(&p.id).await.unwrap().unwrap();
        assert_eq!(got.status, PaymentStatus::Succeeded);
        let log = store.payment_log(&p.id).await.unwrap();
        assert_eq!(log.iter().filter(|e| e.kind == "callback" && e.detail == "{race}").count(), 6, "{log:?}");
        assert_eq!(log.iter().filter(|e| e.detail == "no change (duplicate or late answer)").count(), 5);
    }
}
each_backend!(racing_batches_on_the_same_payments_decide_each_once, #[tokio::test(flavor = "multi_thread")]);

/// A reused idempotency key answers at once with the payment as it is, its push still in flight: waiting for
/// the first request's answer is the caller's business (`service::create_payment`), not the store's.
async fn a_replay_answers_at_once_with_the_payment_as_it_is(backend: Backend) {
    let (store, _dir) = open(&backend).await;
    let p = payment("RP", 1_000);
    store.create_payment(new(p.clone(), Some(("rk", "h")))).await.unwrap();
    let replay = tokio::time::timeout(
        std::time::Duration::from_millis(1_000),
        store.create_payment(new(payment("RP", 2_000), Some(("rk", "h")))),
    )
    .await
    .expect("the store does not wait for the push")
    .unwrap();
    match replay {
        Created::Replay { payment, same_request: true } => {
            assert_eq!((payment.id, payment.push_state), (p.id, PushState::Sending))
        }
        other => panic!("{other:?}"),
    }
}
each_backend!(a_replay_answers_at_once_with_the_payment_as_it_is);

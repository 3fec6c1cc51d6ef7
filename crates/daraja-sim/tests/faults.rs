//! Fault injection: latency, spike arrest, hanging pushes, dropped/duplicated/late callbacks.

mod common;

use std::time::Duration;

use common::*;
use daraja_sim::{Faults, SimConfig};
use serde_json::json;

#[tokio::test]
async fn latency_is_added_to_api_answers() {
    let h = spawn(SimConfig { faults: Faults { latency_ms: 300, ..Faults::default() }, ..fast_config() }).await;
    let start = std::time::Instant::now();
    let token = h.token().await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    // The control API itself is not slowed down.
    let start = std::time::Instant::now();
    h.get("/sim/api/transactions").await;
    let control = start.elapsed();
    let start = std::time::Instant::now();
    h.push(&token, &h.push_body("254708374149", 10)).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(control < start.elapsed());
}

#[tokio::test]
async fn spike_arrest_refuses_pushes_without_recording_them() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let set = h.post_control("/sim/api/faults", &json!({"spike_arrest": 1.0})).await;
    assert_eq!(set.status, 200);
    assert_eq!(set.body["spike_arrest"], 1.0);
    let a = h.push(&token, &h.push_body("254708374149", 10)).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.error_code(), "500.003.02");
    assert_eq!(a.error_message(), "Error Occurred: Spike Arrest Violation");
    assert!(h.sim.transactions().is_empty());
    // Faults off again: the same push goes through.
    h.sim.set_faults(Faults::default());
    assert_eq!(h.push(&token, &h.push_body("254708374149", 10)).await.status, 200);
    assert_eq!(h.post_control("/sim/api/faults", &json!({"hang": 2.0})).await.status, 422);
}

#[tokio::test]
async fn a_hanging_push_is_recorded_and_queryable() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    h.sim.set_faults(Faults { hang: 1.0, ..Faults::default() });
    let err = h
        .http
        .post(format!("{}/mpesa/stkpush/v1/processrequest", h.base))
        .bearer_auth(&token)
        .json(&h.push_body("254708374149", 10))
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The push went through anyway: its callback arrives and a query finds it.
    let tx = poll(|| h.sim.transactions().into_iter().next()).await;
    let cb = h.callbacks(&tx.checkout_request_id, 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 0);
    h.sim.set_faults(Faults::default());
    let q = h.query(&token, &tx.checkout_request_id).await;
    assert_eq!(q.body["ResultCode"], "0");
}

#[tokio::test]
async fn dropped_callbacks_are_never_sent() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    h.sim.set_faults(Faults { drop_callback: 1.0, ..Faults::default() });
    let a = h.push(&token, &h.push_body("254708374149", 10)).await;
    let tx = h.settled(&a.checkout_id(), 1).await;
    assert_eq!(tx.callbacks[0].fault.as_deref(), Some("dropped"));
    assert!(tx.callbacks[0].status.is_none());
    assert!(h.receiver.bodies().is_empty());
    // The result is still there for STK Query: the way to recover a lost callback.
    let q = h.query(&token, &a.checkout_id()).await;
    assert_eq!(q.body["ResultCode"], "0");
}

#[tokio::test]
async fn duplicated_callbacks_arrive_twice() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    h.sim.set_faults(Faults { duplicate_callback: 1.0, ..Faults::default() });
    let a = h.push(&token, &h.push_body("254708374149", 10)).await;
    let cbs = h.callbacks(&a.checkout_id(), 2).await;
    assert_eq!(cbs[0], cbs[1]);
    let tx = h.settled(&a.checkout_id(), 2).await;
    assert_eq!(tx.callbacks[1].fault.as_deref(), Some("duplicate"));
}

#[tokio::test]
async fn late_callbacks_arrive_out_of_order() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    h.sim.set_faults(Faults { late_callback: 1.0, late_callback_ms: 400, ..Faults::default() });
    let first = h.push(&token, &h.push_body("254708374149", 10)).await;
    // Wait until the first outcome is decided (its callback is now held back) before the second push.
    h.settled(&first.checkout_id(), 0).await;
    h.sim.set_faults(Faults::default());
    let second = h.push(&token, &h.push_body("254700000000", 20)).await;
    h.callbacks(&first.checkout_id(), 1).await;
    h.callbacks(&second.checkout_id(), 1).await;
    let order: Vec<String> = h
        .receiver
        .bodies()
        .iter()
        .map(|b| b["Body"]["stkCallback"]["CheckoutRequestID"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, vec![second.checkout_id(), first.checkout_id()]);
    let tx = h.settled(&first.checkout_id(), 1).await;
    assert_eq!(tx.callbacks[0].fault.as_deref(), Some("late"));
}

#[tokio::test]
async fn seeded_faults_are_reproducible() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let h = spawn(SimConfig {
            faults: Faults { drop_callback: 0.5, seed: Some(seed), ..Faults::default() },
            ..fast_config()
        })
        .await;
        let token = h.token().await;
        let mut dropped = Vec::new();
        for i in 0..8 {
            let phone = format!("2547000{:05}", 100 + i); // result code 100+i, distinct subscribers
            let a = h.push(&token, &h.push_body(&phone, 10)).await;
            let tx = h.settled(&a.checkout_id(), 1).await;
            dropped.push(tx.callbacks[0].fault.as_deref() == Some("dropped"));
        }
        dropped
    }
    assert_eq!(pattern(7).await, pattern(7).await);
}

//! The virtual handset: the page, and the prompt/control API its JavaScript uses.

mod common;

use std::time::Duration;

use common::*;
use daraja_sim::{Decider, SimConfig, TxState};
use serde_json::{json, Value};

#[tokio::test]
async fn handset_page_is_self_contained_and_lists_test_numbers() {
    let h = spawn(fast_config()).await;
    let resp = h.http.get(format!("{}/sim/handset", h.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("name=\"viewport\""));
    assert!(page.contains("Virtual handset"));
    assert!(page.contains("0708374149") && page.contains("07000CCCCC"));
    assert!(page.contains("LIPA DEMO"));
    assert!(page.contains("/sim/api/prompts?phone="));
    assert!(page.contains("<label for=\"phone\">"), "inputs are labelled");
    // No external resources.
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("src=\""));
    // /sim redirects to the handset.
    let r = h.http.get(format!("{}/sim", h.base)).send().await.unwrap();
    assert!(r.url().path().ends_with("/sim/handset"));
}

async fn prompts(h: &Harness, phone: &str) -> Value {
    let a = h.get(&format!("/sim/api/prompts?phone={}", phone.replace(' ', "%20"))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    a.body
}

async fn complete(h: &Harness, id: &str, body: Value) -> (u16, Value) {
    let a = h.post_control(&format!("/sim/api/transactions/{id}/complete"), &body).await;
    (a.status, a.body)
}

#[tokio::test]
async fn a_person_answers_on_the_handset() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;

    // PIN 1234 -> success.
    let a = h.push(&token, &h.push_body("254712345678", 800)).await;
    let id = a.checkout_id();
    let p = prompts(&h, "0712 345 678").await;
    assert_eq!(p["phone"], "254712345678");
    let list = p["prompts"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["checkout_request_id"], id.as_str());
    assert_eq!(list[0]["text"], "Pay KES 800 to LIPA DEMO SHOP? Account ORDER-1. Enter M-Pesa PIN.");
    assert_eq!(list[0]["decided_by"], "handset");
    // It waits for the person: still pending.
    let q = h.query(&token, &id).await;
    assert_eq!(q.error_message(), "The transaction is being processed");
    let (status, tx) = complete(&h, &id, json!({"action": "pin", "pin": "1234"})).await;
    assert_eq!(status, 200);
    assert_eq!(tx["result_code"], 0);
    let cb = h.callbacks(&id, 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 0);
    let p = prompts(&h, "254712345678").await;
    assert!(p["prompts"].as_array().unwrap().is_empty());
    assert_eq!(p["recent"][0]["result_code"], 0);
    assert!(p["recent"][0]["receipt"].is_string());
    let q = h.query(&token, &id).await;
    assert_eq!(q.body["ResultCode"], "0");

    // Answering twice: 409.
    let (status, _) = complete(&h, &id, json!({"action": "cancel"})).await;
    assert_eq!(status, 409);

    // Wrong PIN 0000 -> 2001, Cancel -> 1032, explicit result code.
    for (body, code) in [
        (json!({"action": "pin", "pin": "0000"}), 2001),
        (json!({"action": "wrong_pin"}), 2001),
        (json!({"action": "cancel"}), 1032),
        (json!({"action": "expire"}), 1037),
        (json!({"result_code": 1}), 1),
    ] {
        let a = h.push(&token, &h.push_body("254712345678", 800)).await;
        let id = a.checkout_id();
        let (status, tx) = complete(&h, &id, body.clone()).await;
        assert_eq!(status, 200, "{body}: {tx}");
        let cb = h.callbacks(&id, 1).await.remove(0);
        assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], code, "{body}");
        assert!(cb["Body"]["stkCallback"].get("CallbackMetadata").is_none());
    }

    // Bad requests to the control API.
    let a = h.push(&token, &h.push_body("254712345678", 800)).await;
    let id = a.checkout_id();
    let (status, _) = complete(&h, &id, json!({"action": "pin", "pin": "12"})).await;
    assert_eq!(status, 422);
    let (status, _) = complete(&h, &id, json!({"action": "dance"})).await;
    assert_eq!(status, 400);
    let (status, _) = complete(&h, "ws_CO_nope", json!({"action": "cancel"})).await;
    assert_eq!(status, 404);
    assert_eq!(h.get("/sim/api/prompts?phone=hello").await.status, 400);
    assert_eq!(h.sim.transaction(&id).unwrap().state, TxState::Pending);
}

#[tokio::test]
async fn unanswered_prompts_expire_with_1037() {
    let h = spawn(SimConfig { prompt_timeout: Duration::from_millis(200), ..fast_config() }).await;
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254722000000", 50)).await;
    let id = a.checkout_id();
    let cb = h.callbacks(&id, 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 1037);
    assert_eq!(cb["Body"]["stkCallback"]["ResultDesc"], "DS timeout user cannot be reached");
    let q = h.query(&token, &id).await;
    assert_eq!(q.body["ResultCode"], "1037");
}

#[tokio::test]
async fn auto_outcome_decides_other_numbers() {
    let h = spawn(SimConfig { auto_outcome: Some(1032), ..fast_config() }).await;
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254733111222", 50)).await;
    let cb = h.callbacks(&a.checkout_id(), 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 1032);
    assert_eq!(h.sim.transaction(&a.checkout_id()).unwrap().decided_by, Decider::AutoOutcome);
    // Test numbers keep their own outcome.
    let a = h.push(&token, &h.push_body("254708374149", 50)).await;
    let cb = h.callbacks(&a.checkout_id(), 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 0);
}

#[tokio::test]
async fn control_api_lists_transactions_and_log() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254708374149", 10)).await;
    let id = a.checkout_id();
    h.settled(&id, 1).await;

    let list = h.get("/sim/api/transactions").await;
    let list = list.body.as_array().unwrap();
    assert_eq!(list.len(), 1);
    let tx = &list[0];
    assert_eq!(tx["checkout_request_id"], id.as_str());
    assert_eq!(tx["phone"], "254708374149");
    assert_eq!(tx["amount"], 10);
    assert_eq!(tx["reference"], "ORDER-1");
    assert_eq!(tx["state"], "final");
    assert_eq!(tx["result_code"], 0);
    assert!(tx["receipt"].is_string());
    assert_eq!(tx["callbacks"][0]["status"], 200);

    let one = h.get(&format!("/sim/api/transactions/{id}")).await;
    assert_eq!(one.body["merchant_request_id"], a.body["MerchantRequestID"]);
    assert_eq!(h.get("/sim/api/transactions/ws_CO_nope").await.status, 404);

    let log = h.get("/sim/api/log").await;
    let kinds: Vec<&str> = log.body.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["request", "outcome", "callback"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let limited = h.get("/sim/api/log?limit=1").await;
    assert_eq!(limited.body.as_array().unwrap().len(), 1);
    let config = h.get("/sim/api/config").await;
    assert_eq!(config.body["shortcode"], "174379");
    assert!(!config.body.to_string().contains("bfb279f9"), "no passkey");
}

//! Money out against the simulator over HTTP, with the project's own client (`daraja`): B2C v3 and
//! v1, Reversal, Transaction Status and Account Balance, the initiator checks, duplicates, accounts
//! whose balances move, payout test numbers, and results through the fault options.

mod common;

use std::time::Duration;

use common::*;
use daraja::{
    Accepted, AccountBalanceRequest, AccountReference, Amount, B2cCommand, B2cRequest, Certificate, Client, Config,
    DarajaResult, Environment, Error, Msisdn, ResultFailure, ReversalRequest, StkPush, TransactionDesc,
    TransactionStatusRequest,
};
use daraja_sim::{Faults, SimConfig, SANDBOX_INITIATOR_PASSWORD};
use serde_json::{json, Value};

const START_UTILITY: i64 = 100_000_000;

fn client(h: &Harness) -> Client {
    let env: Environment = h.base.parse().unwrap();
    Client::new(
        Config::new(env, "key", "secret", SHORTCODE, PASSKEY)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(5)),
    )
    .unwrap()
}

/// The simulator's certificate, fetched the way another client would.
async fn cert(h: &Harness) -> Certificate {
    let pem = h.http.get(format!("{}/sim/certificate.pem", h.base)).send().await.unwrap().text().await.unwrap();
    Certificate::parse(pem.as_bytes()).unwrap()
}

async fn credential(h: &Harness, password: &str) -> String {
    cert(h).await.security_credential(&password.into()).unwrap()
}

async fn b2c(h: &Harness, id: Option<&str>, phone: &str, amount: u64) -> B2cRequest {
    B2cRequest {
        originator_conversation_id: id.map(str::to_owned),
        initiator_name: "testapi".into(),
        security_credential: credential(h, SANDBOX_INITIATOR_PASSWORD).await,
        command_id: B2cCommand::BusinessPayment,
        amount,
        party_a: SHORTCODE.into(),
        party_b: phone.into(),
        remarks: "Rider payout".into(),
        queue_time_out_url: h.receiver.url.clone(),
        result_url: h.receiver.url.clone(),
        occasion: None,
    }
}

/// Waits for `n` results for `id` at the receiver.
async fn results(h: &Harness, id: &str, n: usize) -> Vec<Value> {
    poll(|| {
        let got: Vec<Value> =
            h.receiver.bodies().into_iter().filter(|b| b["Result"]["OriginatorConversationID"] == id).collect();
        (got.len() >= n).then_some(got)
    })
    .await
}

async fn result(h: &Harness, accepted: &Accepted) -> DarajaResult {
    let body = results(h, &accepted.originator_conversation_id, 1).await.remove(0);
    DarajaResult::from_value(&body).unwrap()
}

fn balance(h: &Harness, name: &str) -> i64 {
    h.sim.accounts().into_iter().find(|a| a.name == name).unwrap().available_cents
}

#[tokio::test]
async fn b2c_v3_pays_moves_money_and_refuses_a_duplicate() {
    let h = spawn(fast_config()).await;
    let c = client(&h);
    let req = b2c(&h, Some("po_test_1"), "254712345678", 1500).await;
    let accepted = c.b2c_payment(&req).await.unwrap();
    assert_eq!(accepted.originator_conversation_id, "po_test_1");
    assert!(accepted.conversation_id.starts_with("AG_"));
    let r = result(&h, &accepted).await;
    assert!(r.is_success(), "{r:?}");
    let receipt = r.receipt().expect("a receipt");
    assert_eq!(receipt.len(), 10);
    assert_eq!(r.amount(), Some(150_000));
    assert!(r.recipient_name().is_some());
    assert!(r.completed_at().is_some(), "TransactionCompletedDateTime in Daraja's dd.MM.yyyy format");
    assert_eq!(r.amount_cents("B2CUtilityAccountAvailableFunds"), Some(START_UTILITY - 150_000));
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY - 150_000);
    assert_eq!(balance(&h, "Charges Paid Account"), -500);

    // The same OriginatorConversationID again, even with a new credential: refused, nothing paid.
    let again = b2c(&h, Some("po_test_1"), "254712345678", 1500).await;
    match c.b2c_payment(&again).await {
        Err(Error::DuplicateOriginatorConversationId { http_status, .. }) => assert_eq!(http_status, 500),
        other => panic!("expected a duplicate refusal, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY - 150_000);
    assert_eq!(results(&h, "po_test_1", 1).await.len(), 1);

    // The handset of the recipient shows the money arriving.
    let got = h.get("/sim/api/received?phone=0712345678").await;
    let message = got.body["received"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("You have received KES 1,500 from LIPA DEMO SHOP"), "{message}");
    assert!(message.starts_with(&receipt));
    assert_eq!(h.get("/sim/api/received?phone=0708374149").await.body["received"], json!([]));
    assert_eq!(h.get("/sim/api/received?phone=hello").await.status, 400);
    // The page polls that list and lists the payout test number.
    let page = h.http.get(format!("{}/sim/handset", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Money received") && page.contains("/sim/api/received?phone="));
    assert!(page.contains("0700002040"));
}

#[tokio::test]
async fn b2c_v1_gets_an_id_from_the_simulator() {
    let h = spawn(fast_config()).await;
    let accepted = client(&h).b2c_payment(&b2c(&h, None, "254708374149", 100).await).await.unwrap();
    assert!(!accepted.originator_conversation_id.is_empty());
    assert!(result(&h, &accepted).await.is_success());
    let seen = h.sim.money_out_request(&accepted.originator_conversation_id).unwrap();
    assert_eq!(seen.result_code.as_deref(), Some("0"));
}

#[tokio::test]
async fn a_bad_initiator_fails_with_2001() {
    let h = spawn(fast_config()).await;
    let c = client(&h);
    let mut wrong_password = b2c(&h, Some("po_a"), "254712345678", 100).await;
    wrong_password.security_credential = credential(&h, "not-the-password").await;
    let mut plaintext = b2c(&h, Some("po_b"), "254712345678", 100).await;
    plaintext.security_credential = SANDBOX_INITIATOR_PASSWORD.into();
    let mut wrong_name = b2c(&h, Some("po_c"), "254712345678", 100).await;
    wrong_name.initiator_name = "someone".into();
    // Encrypted for Safaricom's sandbox certificate, not the simulator's.
    let mut wrong_cert = b2c(&h, Some("po_d"), "254712345678", 100).await;
    wrong_cert.security_credential = daraja::certificates::for_environment(&Environment::Sandbox)
        .unwrap()
        .security_credential(&SANDBOX_INITIATOR_PASSWORD.into())
        .unwrap();
    for req in [wrong_password, plaintext, wrong_name, wrong_cert] {
        let accepted = c.b2c_payment(&req).await.unwrap();
        let r = result(&h, &accepted).await;
        assert_eq!(r.failure(), Some(ResultFailure::InvalidInitiator), "{:?}", req.originator_conversation_id);
    }
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY);
}

#[tokio::test]
async fn payout_test_numbers_and_an_empty_account() {
    let h = spawn(fast_config()).await;
    let c = client(&h);
    let accepted = c.b2c_payment(&b2c(&h, Some("po_2040"), "254700002040", 500).await).await.unwrap();
    assert_eq!(result(&h, &accepted).await.failure(), Some(ResultFailure::UnregisteredRecipient));

    assert!(h.sim.set_account_balance("Utility Account", 40_000));
    let accepted = c.b2c_payment(&b2c(&h, Some("po_broke"), "254712345678", 500).await).await.unwrap();
    let r = result(&h, &accepted).await;
    assert_eq!(r.failure(), Some(ResultFailure::InsufficientFunds));
    assert_eq!(r.failure().unwrap().as_reason(), "insufficient_funds");
    assert_eq!(balance(&h, "Utility Account"), 40_000);
    // What is there can still be paid out.
    let accepted = c.b2c_payment(&b2c(&h, Some("po_ok"), "254712345678", 400).await).await.unwrap();
    assert!(result(&h, &accepted).await.is_success());
    assert_eq!(balance(&h, "Utility Account"), 0);
}

async fn paid_receipt(h: &Harness, c: &Client, amount: u32) -> String {
    let push = StkPush {
        phone: Msisdn::parse("0708374149").unwrap(),
        amount: Amount::new(amount).unwrap(),
        reference: AccountReference::new("ORDER-9", AccountReference::MAX_LEN).unwrap(),
        description: TransactionDesc::new("Order 9"),
        callback_url: h.receiver.url.clone(),
    };
    let id = c.stk_push(&push).await.unwrap().checkout_request_id;
    h.settled(&id, 1).await.receipt.unwrap()
}

#[tokio::test]
async fn reversal_of_a_payment_and_of_an_unknown_receipt() {
    let h = spawn(fast_config()).await;
    let c = client(&h);
    let receipt = paid_receipt(&h, &c, 800).await;
    let cred = credential(&h, SANDBOX_INITIATOR_PASSWORD).await;
    let url = h.receiver.url.clone();
    let rev =
        |r: &str| ReversalRequest::new("testapi", cred.clone(), r, 800, SHORTCODE, url.clone(), url.clone(), "Refund");

    let unknown = c.reversal(&rev("TFB0NOSUCH1")).await.unwrap();
    let r = result(&h, &unknown).await;
    assert_eq!(r.result_code.as_str(), "R000002");
    assert_eq!(r.failure(), Some(ResultFailure::UnknownOriginalTransaction));

    let ok = c.reversal(&rev(&receipt)).await.unwrap();
    let r = result(&h, &ok).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.text("OriginalTransactionID").as_deref(), Some(receipt.as_str()));
    assert_eq!(r.amount(), Some(80_000));
    assert_eq!(r.balances()[0].available_cents, START_UTILITY - 80_000);
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY - 80_000);

    // A lost reversal result is found by Transaction Status, by the id the ack gave.
    let q = TransactionStatusRequest::by_originator_conversation_id(
        "testapi",
        cred.clone(),
        &ok.originator_conversation_id,
        SHORTCODE,
        h.receiver.url.clone(),
        h.receiver.url.clone(),
    );
    let s = result(&h, &c.transaction_status(&q).await.unwrap()).await;
    assert_eq!(s.transaction_status().as_deref(), Some("Completed"), "{s:?}");
    assert_eq!(s.receipt(), r.receipt());
    assert_eq!(s.text("OriginalTransactionID").as_deref(), Some(receipt.as_str()));
    assert_eq!(s.text("ReasonType").as_deref(), Some("Reversal"));

    let twice = c.reversal(&rev(&receipt)).await.unwrap();
    assert_eq!(result(&h, &twice).await.failure(), Some(ResultFailure::AlreadyReversed));
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY - 80_000);
}

#[tokio::test]
async fn reversal_wants_daraja_spelling() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let cred = credential(&h, SANDBOX_INITIATOR_PASSWORD).await;
    let mut body = serde_json::to_value(ReversalRequest::new(
        "testapi",
        cred,
        "TFB4K2M7QZ",
        150,
        SHORTCODE,
        h.receiver.url.clone(),
        h.receiver.url.clone(),
        "Refund",
    ))
    .unwrap();
    let obj = body.as_object_mut().unwrap();
    let v = obj.remove("RecieverIdentifierType").unwrap();
    obj.insert("ReceiverIdentifierType".into(), v);
    let a = h.post_json("/mpesa/reversal/v1/request", &token, &body).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error_code(), "400.002.02");
    assert_eq!(a.error_message(), "Bad Request - Invalid RecieverIdentifierType");
}

#[tokio::test]
async fn a_dropped_result_is_found_by_transaction_status() {
    let h = spawn(SimConfig { faults: Faults { drop_callback: 1.0, ..Faults::default() }, ..fast_config() }).await;
    let c = client(&h);
    let accepted = c.b2c_payment(&b2c(&h, Some("po_lost"), "254712345678", 2500).await).await.unwrap();
    let settled = poll(|| h.sim.money_out_request("po_lost").filter(|m| !m.callbacks.is_empty())).await;
    assert_eq!(settled.callbacks[0].fault.as_deref(), Some("dropped"));
    assert!(h.receiver.bodies().is_empty());

    h.sim.set_faults(Faults::default());
    let cred = credential(&h, SANDBOX_INITIATOR_PASSWORD).await;
    let url = h.receiver.url.clone();
    let q = TransactionStatusRequest::by_originator_conversation_id(
        "testapi",
        cred.clone(),
        &accepted.originator_conversation_id,
        SHORTCODE,
        url.clone(),
        url.clone(),
    );
    let asked = c.transaction_status(&q).await.unwrap();
    let r = result(&h, &asked).await;
    assert!(r.is_success());
    assert_eq!(r.transaction_status().as_deref(), Some("Completed"));
    assert_eq!(r.receipt(), settled.receipt);
    assert_eq!(r.text("OriginatorConversationID").as_deref(), Some("po_lost"));
    assert_eq!(r.amount(), Some(250_000));

    // By receipt too; and something the simulator never saw.
    let by_receipt = TransactionStatusRequest::by_receipt(
        "testapi",
        cred.clone(),
        settled.receipt.clone().unwrap(),
        SHORTCODE,
        url.clone(),
        url.clone(),
    );
    let r = result(&h, &c.transaction_status(&by_receipt).await.unwrap()).await;
    assert_eq!(r.text("OriginatorConversationID").as_deref(), Some("po_lost"));
    let never = TransactionStatusRequest::by_originator_conversation_id(
        "testapi",
        cred,
        "po_never_sent",
        SHORTCODE,
        url.clone(),
        url,
    );
    let r = result(&h, &c.transaction_status(&never).await.unwrap()).await;
    assert_eq!(r.result_code.as_str(), "R000002");
}

#[tokio::test]
async fn duplicate_and_late_results() {
    let h = spawn(SimConfig {
        faults: Faults { duplicate_callback: 1.0, late_callback: 1.0, late_callback_ms: 300, ..Faults::default() },
        ..fast_config()
    })
    .await;
    let started = std::time::Instant::now();
    let accepted = client(&h).b2c_payment(&b2c(&h, Some("po_dup"), "254712345678", 100).await).await.unwrap();
    let two = results(&h, &accepted.originator_conversation_id, 2).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(two[0], two[1], "the second copy is the same result");
    // Money moved once.
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY - 10_000);
    let faults: Vec<_> = h.sim.money_out_request("po_dup").unwrap().callbacks.into_iter().map(|a| a.fault).collect();
    assert_eq!(faults, [Some("late".to_owned()), Some("duplicate".to_owned())]);
}

#[tokio::test]
async fn account_balance_reports_every_account() {
    let h = spawn(fast_config()).await;
    let c = client(&h);
    let accepted = c.b2c_payment(&b2c(&h, Some("po_bal"), "254712345678", 2000).await).await.unwrap();
    result(&h, &accepted).await;
    let cred = credential(&h, SANDBOX_INITIATOR_PASSWORD).await;
    let q = AccountBalanceRequest::new("testapi", cred, SHORTCODE, h.receiver.url.clone(), h.receiver.url.clone());
    let r = result(&h, &c.account_balance(&q).await.unwrap()).await;
    assert!(r.is_success());
    let reported: Vec<(String, i64)> = r.balances().into_iter().map(|b| (b.name, b.available_cents)).collect();
    let actual: Vec<(String, i64)> = h.sim.accounts().into_iter().map(|a| (a.name, a.available_cents)).collect();
    assert_eq!(reported, actual);
    assert!(reported.contains(&("Utility Account".to_owned(), START_UTILITY - 200_000)));
    assert!(reported.contains(&("Charges Paid Account".to_owned(), -900)));

    // A wrong credential: 2001 with one ResultParameter, sent as a single object.
    let bad = AccountBalanceRequest::new("testapi", "nope", SHORTCODE, h.receiver.url.clone(), h.receiver.url.clone());
    let accepted = c.account_balance(&bad).await.unwrap();
    let raw = results(&h, &accepted.originator_conversation_id, 1).await.remove(0);
    assert!(raw["Result"]["ResultParameters"]["ResultParameter"].is_object());
    assert_eq!(DarajaResult::from_value(&raw).unwrap().failure(), Some(ResultFailure::InvalidInitiator));
}

#[tokio::test]
async fn synchronous_checks() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let good = serde_json::to_value(b2c(&h, Some("po_sync"), "254712345678", 100).await).unwrap();
    let cases = vec![
        ("InitiatorName", json!("")),
        ("CommandID", json!("CashOut")),
        ("PartyB", json!("0712345678")),
        ("ResultURL", json!("not a url")),
        ("OriginatorConversationID", Value::Null),
    ];
    h.assert_invalid_fields("/mpesa/b2c/v3/paymentrequest", &token, &good, cases).await;
    let a = h.post_json("/mpesa/b2c/v3/paymentrequest", "bad-token", &good).await;
    assert_eq!(a.error_code(), "404.001.03");
    // Nothing above was recorded, so the id is still free.
    let a = h.post_json("/mpesa/b2c/v3/paymentrequest", &token, &good).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["ResponseCode"], "0");
}

#[tokio::test]
async fn certificate_and_accounts_control() {
    let h = spawn(fast_config()).await;
    let served = cert(&h).await;
    let shipped = Certificate::parse(daraja_sim::SIM_CERTIFICATE_PEM.as_bytes()).unwrap();
    assert_eq!(served.spki_sha256_hex(), shipped.spki_sha256_hex());
    assert!(!daraja::certificates::is_sandbox(&served));
    let a = h.post_control("/sim/api/accounts", &json!({"name": "utility account", "available_cents": 0})).await;
    assert_eq!(a.status, 200);
    assert_eq!(balance(&h, "Utility Account"), 0);
    let a = h.post_control("/sim/api/accounts", &json!({"name": "Float", "available_cents": 0})).await;
    assert_eq!(a.status, 404);
}

#[tokio::test]
async fn a_queue_timeout_notifies_the_queue_timeout_url_and_pays_nothing() {
    let h = spawn(SimConfig { faults: Faults { queue_timeout: 1.0, ..Faults::default() }, ..fast_config() }).await;
    let c = client(&h);
    let mut req = b2c(&h, Some("po_queued"), "254712345678", 700).await;
    req.queue_time_out_url = format!("{}?timeout", h.receiver.url);
    let accepted = c.b2c_payment(&req).await.unwrap();
    let notice = results(&h, &accepted.originator_conversation_id, 1).await.remove(0);
    assert_eq!(notice["Result"]["ResultType"], 1);
    // The simulator records the attempt once the receiver's answer is back, a moment after the receiver saw it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let seen = loop {
        let seen = h.sim.money_out_request("po_queued").unwrap();
        if !seen.callbacks.is_empty() || std::time::Instant::now() > deadline {
            break seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(seen.result_code.as_deref(), Some(daraja_sim::QUEUE_TIMEOUT));
    assert_eq!(seen.callbacks.first().map(|c| c.status), Some(Some(200)), "{:?}", seen.callbacks);
    assert_eq!(balance(&h, "Utility Account"), START_UTILITY);

    // Transaction Status says it expired.
    h.sim.set_faults(Faults::default());
    let cred = credential(&h, SANDBOX_INITIATOR_PASSWORD).await;
    let url = h.receiver.url.clone();
    let q = TransactionStatusRequest::by_originator_conversation_id(
        "testapi",
        cred,
        "po_queued",
        SHORTCODE,
        url.clone(),
        url,
    );
    let r = result(&h, &c.transaction_status(&q).await.unwrap()).await;
    assert_eq!(r.transaction_status().as_deref(), Some("Expired"));
    assert_eq!(r.receipt(), None);
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    sim: daraja_sim::SimArgs,
}

#[tokio::test]
async fn initiator_from_flags_and_never_in_debug_output() {
    use clap::Parser as _;
    let cli = Cli::try_parse_from([
        "sim",
        "--initiator-name",
        "payouts-api",
        "--initiator-password",
        "Sup3r#Secret%",
        "--utility-balance",
        "5000",
    ])
    .unwrap();
    let config = cli.sim.to_config();
    assert_eq!(config.initiator_name, "payouts-api");
    assert_eq!(config.utility_balance_cents, 500_000);
    assert!(!format!("{config:?}").contains("Sup3r#Secret%"));
    let h = spawn(SimConfig { result_delay: Duration::from_millis(50), ..config }).await;
    assert!(!h.get("/sim/api/config").await.body.to_string().contains("Sup3r#Secret%"));

    // The sandbox defaults no longer work; the configured initiator does.
    let c = client(&h);
    let accepted = c.b2c_payment(&b2c(&h, Some("po_default"), "254712345678", 100).await).await.unwrap();
    assert_eq!(result(&h, &accepted).await.failure(), Some(ResultFailure::InvalidInitiator));
    let mut req = b2c(&h, Some("po_flags"), "254712345678", 100).await;
    req.initiator_name = "payouts-api".into();
    req.security_credential = credential(&h, "Sup3r#Secret%").await;
    let accepted = c.b2c_payment(&req).await.unwrap();
    assert!(result(&h, &accepted).await.is_success());
    assert_eq!(balance(&h, "Utility Account"), 500_000 - 10_000);
    // The password appears in no log line either.
    assert!(h.sim.log_entries().iter().all(|e| !e.message.contains("Sup3r#Secret%")));
}

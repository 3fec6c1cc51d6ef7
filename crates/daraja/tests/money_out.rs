//! Money out: every B2C / Reversal / Transaction Status / Account Balance fixture parses into the
//! typed result, the request structs match Daraja's bodies, and the SecurityCredential decrypts with
//! the private key of the certificate it was made for.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use daraja::{
    certificates, parse_balances, Accepted, AccountBalanceRequest, B2cCommand, B2cRequest, Certificate, DarajaResult,
    ResultFailure, ReversalRequest, TransactionStatusRequest,
};
use rsa::pkcs8::DecodePrivateKey as _;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/money_out/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn result(name: &str) -> DarajaResult {
    DarajaResult::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn b2c_success() {
    let r = result("b2c_result_success.json");
    assert!(r.is_success());
    assert_eq!(r.failure(), None);
    assert_eq!(r.originator_conversation_id, "0f6b2e4c-8d1a-4e7b-9c3f-5a2d1e0b9c87");
    assert_eq!(r.receipt().as_deref(), Some("TFB7QW3N2K"));
    assert_eq!(r.recipient_name().as_deref(), Some("JANE WANJIRU MUTHONI"));
    assert_eq!(r.amount(), Some(120_000));
    assert_eq!(r.amount_cents("B2CUtilityAccountAvailableFunds"), Some(48_312_050));
    assert_eq!(r.amount_cents("B2CWorkingAccountAvailableFunds"), Some(0));
    assert_eq!(r.amount_cents("B2CChargesPaidAccountAvailableFunds"), Some(-34_000));
    assert_eq!(r.text("B2CRecipientIsRegisteredCustomer").as_deref(), Some("Y"));
    assert_eq!(r.text("TransactionCompletedDateTime").as_deref(), Some("11.06.2025 14:32:09"));
    assert_eq!(r.completed_at().unwrap().to_string(), "2025-06-11T14:32:09");
    assert_eq!(
        r.reference("QueueTimeoutURL").as_deref(),
        Some("http://internalapi.safaricom.co.ke/mpesa/b2cresults/v1/submit")
    );
}

#[test]
fn b2c_failures_say_what_to_do() {
    for (name, code, failure, reason) in [
        ("b2c_result_failure_2001.json", "2001", ResultFailure::InvalidInitiator, "invalid_initiator"),
        ("b2c_result_failure_insufficient_funds.json", "1", ResultFailure::InsufficientFunds, "insufficient_funds"),
        (
            "b2c_result_failure_2040_unregistered.json",
            "2040",
            ResultFailure::UnregisteredRecipient,
            "unregistered_recipient",
        ),
    ] {
        let r = result(name);
        assert!(!r.is_success(), "{name}");
        assert_eq!(r.result_code.as_str(), code, "{name}");
        assert_eq!(r.failure(), Some(failure), "{name}");
        assert_eq!(r.failure().unwrap().as_reason(), reason, "{name}");
        assert!(r.parameters.is_empty(), "{name}");
        assert_eq!(r.receipt(), None, "{name}: TFB0000000 is a placeholder, not a receipt");
    }
}

#[test]
fn queue_timeout_assumed_shape() {
    let r = result("b2c_queue_timeout_ASSUMED.json");
    assert_eq!(r.result_type, 1);
    assert!(!r.is_success());
    assert_eq!(r.transaction_id, None);
}

#[test]
fn reversal_results() {
    let r = result("reversal_result.json");
    assert!(r.is_success());
    assert_eq!(r.receipt().as_deref(), Some("TFB8RZ1P4C"));
    assert_eq!(r.text("OriginalTransactionID").as_deref(), Some("TFB4K2M7QZ"));
    assert_eq!(r.completed_at().unwrap().to_string(), "2025-06-11T15:12:44");
    assert_eq!(r.amount(), Some(15_000));
    assert_eq!(r.recipient_name().as_deref(), Some("JANE WANJIRU MUTHONI"));
    let b = r.balances();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].name, "Utility Account");
    assert_eq!(b[0].available_cents, 48_297_050);

    let r = result("reversal_result_failure_invalid_original.json");
    assert_eq!(r.result_code.as_str(), "R000002");
    assert_eq!(r.failure(), Some(ResultFailure::UnknownOriginalTransaction));
}

#[test]
fn transaction_status_results() {
    let r = result("transaction_status_result.json");
    assert!(r.is_success());
    assert_eq!(r.receipt().as_deref(), Some("TFB4K2M7QZ"));
    assert_eq!(r.transaction_status().as_deref(), Some("Completed"));
    assert_eq!(r.amount(), Some(15_000));
    assert_eq!(r.get("CreditPartyCharges"), None, "an item without a Value");
    assert!(r.parameters.iter().any(|p| p.key == "TransactionReason" && p.value.is_none()));
    assert_eq!(r.reference("Occasion").as_deref(), Some("reconcile"));

    let r = result("transaction_status_result_b2c.json");
    assert_eq!(r.receipt().as_deref(), Some("TFB7QW3N2K"));
    assert_eq!(r.text("OriginatorConversationID").as_deref(), Some("0f6b2e4c-8d1a-4e7b-9c3f-5a2d1e0b9c87"));
    assert_eq!(r.recipient_name().as_deref(), Some("JANE WANJIRU MUTHONI"));
    assert_eq!(r.text("DebitPartyCharges").as_deref(), Some("Fee For B2C Payment|KES|15.27"));
    assert_eq!(r.amount(), Some(120_000));

    let r = result("transaction_status_result_failure.json");
    assert_eq!(r.result_code.as_str(), "SFC_IC0003");
    assert_eq!(r.failure(), Some(ResultFailure::UnknownRecipient));
}

#[test]
fn account_balance_results() {
    let r = result("account_balance_result.json");
    let b = r.balances();
    let names: Vec<_> = b.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Working Account",
            "Float Account",
            "Utility Account",
            "Charges Paid Account",
            "Organization Settlement Account"
        ]
    );
    assert_eq!(b[0].available_cents, 12_500_000);
    assert_eq!(b[2].available_cents, 48_312_050);
    assert_eq!(b[3].current_cents, -34_000);
    assert!(b.iter().all(|a| a.currency == "KES"));
    assert_eq!(r.text("BOCompletedTime").as_deref(), Some("20250611230001"));
    assert_eq!(r.completed_at().unwrap().to_string(), "2025-06-11T23:00:01");

    // ResultParameter as one object, not a list.
    let r = result("account_balance_result_failure_single_param.json");
    assert_eq!(r.failure(), Some(ResultFailure::InvalidInitiator));
    assert_eq!(r.parameters.len(), 1);
    assert_eq!(r.text("BOCompletedTime").as_deref(), Some("20250611230002"));
    assert!(r.balances().is_empty());
}

#[test]
fn odd_shapes_parse() {
    // String codes and types, the inverted nesting, a list of ReferenceItems, spaced 2017 keys.
    let body = br#"{"Result":{"ResultType":"0","ResultCode":"0","ResultDesc":"ok",
      "OriginatorConversationID":"x","ConversationID":"y","TransactionID":"ABC123XYZ9",
      "ResultParameter":{"ResultParameters":[{"Key":"AccountBalance","Value":"Utility Account|KES|10.00|10.00|0.00|0.00"},
        {"Key":"Originator Conversation ID","Value":"po_9"}]},
      "ReferenceData":{"ReferenceItem":[{"Key":"BillReferenceNumber","Value":"19008"},{"Key":"QueueTimeoutURL"}]}}}"#;
    let r = DarajaResult::parse(body).unwrap();
    assert!(r.is_success());
    assert_eq!(r.balances()[0].available_cents, 1000);
    assert_eq!(r.text("OriginatorConversationID").as_deref(), Some("po_9"));
    assert_eq!(r.reference("BillReferenceNumber").as_deref(), Some("19008"));
    assert_eq!(r.receipt().as_deref(), Some("ABC123XYZ9"));
    assert!(DarajaResult::parse(b"{}").is_err());
    assert!(DarajaResult::parse(b"<html>").is_err());
    assert!(DarajaResult::parse(br#"{"Result":{"ResultDesc":"no code"}}"#).is_err());
}

#[test]
fn balances_tolerate_garbage() {
    assert!(parse_balances("").is_empty());
    assert_eq!(parse_balances("Working Account|KES|1.00|x|0|0&Utility Account|KES|2.50").len(), 1);
    assert_eq!(parse_balances("Utility Account|KES|2.50")[0].current_cents, 250);
}

fn wire(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// The keys of a flat JSON object, in the order they are written.
fn keys_in_order(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap();
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort_by_key(|k| json.find(&format!("\"{k}\":")).unwrap());
    keys
}

/// `req` goes out with its keys in the fixture's order (comparing `Value`s cannot see the order).
fn assert_key_order(name: &str, req: &impl serde::Serialize) {
    let sent = serde_json::to_string(req).unwrap();
    let want = String::from_utf8(fixture(name)).unwrap();
    assert_eq!(keys_in_order(&sent), keys_in_order(&want), "{name}");
}

#[test]
fn request_structs_match_daraja_bodies() {
    let v3 = wire("b2c_v3_request.json");
    let req: B2cRequest = serde_json::from_value(v3.clone()).unwrap();
    assert_eq!(req.command_id, B2cCommand::BusinessPayment);
    assert_eq!(req.path(), "/mpesa/b2c/v3/paymentrequest");
    assert_eq!(serde_json::to_value(&req).unwrap(), v3);
    assert_key_order("b2c_v3_request.json", &req);

    let v1 = wire("b2c_v1_request.json");
    let req: B2cRequest = serde_json::from_value(v1.clone()).unwrap();
    assert_eq!(req.path(), "/mpesa/b2c/v1/paymentrequest");
    assert_eq!(serde_json::to_value(&req).unwrap(), v1);
    assert_key_order("b2c_v1_request.json", &req);

    let rev = wire("reversal_request.json");
    let req: ReversalRequest = serde_json::from_value(rev.clone()).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), rev);
    let built = ReversalRequest {
        occasion: Some("INV-10442".into()),
        ..ReversalRequest::new(
            "testapi",
            req.initiator.security_credential.clone(),
            "TFB4K2M7QZ",
            150,
            "600987",
            "https://pay.example.co.ke/hooks/reversal/result",
            "https://pay.example.co.ke/hooks/reversal/timeout",
            "Duplicate payment",
        )
    };
    assert_eq!(serde_json::to_value(&built).unwrap(), rev);
    assert_key_order("reversal_request.json", &built);

    let st = wire("transaction_status_request.json");
    let req: TransactionStatusRequest = serde_json::from_value(st.clone()).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), st);
    assert_key_order("transaction_status_request.json", &req);

    let bal = wire("account_balance_request.json");
    let req: AccountBalanceRequest = serde_json::from_value(bal.clone()).unwrap();
    assert_eq!(serde_json::to_value(&req).unwrap(), bal);
    assert_key_order("account_balance_request.json", &req);

    for name in [
        "b2c_response.json",
        "reversal_response.json",
        "transaction_status_response.json",
        "account_balance_response.json",
    ] {
        let a: Accepted = serde_json::from_slice(&fixture(name)).unwrap();
        assert_eq!(a.response_code, "0", "{name}");
        assert!(a.conversation_id.starts_with("AG_"), "{name}");
    }
}

#[test]
fn shipped_certificates_are_the_right_ones() {
    let sandbox = certificates::for_environment(&daraja::Environment::Sandbox).unwrap();
    assert_eq!(sandbox.spki_sha256_hex(), certificates::SANDBOX_SPKI_SHA256);
    assert!(certificates::is_sandbox(&sandbox));
    assert_eq!(sandbox.bits(), 2048);
    let prod = certificates::for_environment(&daraja::Environment::Production).unwrap();
    assert_eq!(prod.spki_sha256_hex(), certificates::PRODUCTION_SPKI_SHA256);
    assert!(!certificates::is_sandbox(&prod));
    let custom: daraja::Environment = "http://127.0.0.1:9".parse().unwrap();
    assert!(certificates::for_environment(&custom).is_none());
}

const SIM_KEY: &str = include_str!("../../daraja-sim/keys/test-only-private-key.pem");
const SIM_CERT: &str = include_str!("../../daraja-sim/keys/certificate.pem");

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    BASE64.decode(body).unwrap()
}

#[test]
fn security_credential_decrypts_to_the_password() {
    let key = rsa::RsaPrivateKey::from_pkcs8_der(&der_of(SIM_KEY)).unwrap();
    for cert in [Certificate::parse(SIM_CERT.as_bytes()).unwrap(), Certificate::parse(&der_of(SIM_CERT)).unwrap()] {
        let a = cert.security_credential(&"Safaricom999!*!".into()).unwrap();
        let b = cert.security_credential(&"Safaricom999!*!".into()).unwrap();
        assert_eq!(a.len(), 344);
        assert_ne!(a, b, "PKCS#1 v1.5 padding is random");
        for c in [a, b] {
            let plain = key.decrypt(rsa::Pkcs1v15Encrypt, &BASE64.decode(c).unwrap()).unwrap();
            assert_eq!(plain, b"Safaricom999!*!");
        }
    }
    // A bare PUBLIC KEY works too, and gives the same key.
    let spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&key.to_public_key()).unwrap();
    let from_spki = Certificate::from_der(spki.as_bytes()).unwrap();
    assert_eq!(from_spki.spki_sha256_hex(), Certificate::parse(SIM_CERT.as_bytes()).unwrap().spki_sha256_hex());
    // Debug shows the fingerprint, nothing else.
    assert!(format!("{from_spki:?}").contains(&from_spki.spki_sha256_hex()));
}

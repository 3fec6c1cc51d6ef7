//! C2B and Dynamic QR: the request bodies lipa receives (every fixture variant), the answers it
//! sends, and the client calls against an in-process mock Daraja that records what it got.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use daraja::c2b::{
    hash_msisdn, C2bCommand, C2bMsisdn, C2bNotification, C2bSimulate, C2bTransactionType, C2bVersion, ConfirmationAck,
    RegisterUrls, RejectReason, ResponseType, ValidationAnswer,
};
use daraja::{Amount, Client, Config, DynamicQr, Environment, Error, Msisdn, QrTrxCode};
use serde_json::{json, Value};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/c2b/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

// ---------------------------------------------------------------- bodies Daraja sends us

#[test]
fn every_fixture_body_parses() {
    let v = C2bNotification::from_slice(fixture("c2b_validation_request.json").as_bytes()).unwrap();
    assert_eq!(v.transaction_type, C2bTransactionType::PayBill);
    assert_eq!(v.trans_id, "TFB4K2M7QZ");
    assert_eq!(v.amount_kes(), Some(150));
    assert_eq!(v.business_short_code, "600987");
    assert_eq!(v.account(), "INV-10442");
    assert_eq!(v.msisdn, C2bMsisdn::Masked("2547 ***** 678".into()));
    assert!(v.msisdn.could_be(&Msisdn::parse("0712345678").unwrap()));
    assert!(!v.msisdn.could_be(&Msisdn::parse("0712345679").unwrap()));
    assert_eq!(v.org_account_balance, "");
    assert_eq!(v.payer_name().as_deref(), Some("JANE"));
    assert_eq!(v.transaction_time().unwrap().to_string(), "2025-06-11T06:30:15Z");

    let b = C2bNotification::from_slice(fixture("c2b_validation_request_buygoods.json").as_bytes()).unwrap();
    assert_eq!(b.transaction_type, C2bTransactionType::BuyGoods);
    assert_eq!(b.account(), "");
    assert_eq!(b.amount_kes(), Some(980));

    let h = C2bNotification::from_slice(fixture("c2b_validation_request_v1_hashed_msisdn.json").as_bytes()).unwrap();
    let known = Msisdn::parse("+254 712 345 678").unwrap();
    assert!(matches!(h.msisdn, C2bMsisdn::Hashed(_)));
    assert!(h.msisdn.is(&known), "v1 hash matches the known number");
    assert!(!h.msisdn.is(&Msisdn::parse("0712345679").unwrap()));
    assert_eq!(h.payer_name().as_deref(), Some("JANE WANJIRU MUTHONI"));

    let c = C2bNotification::from_slice(fixture("c2b_confirmation_request.json").as_bytes()).unwrap();
    assert_eq!(c.org_account_balance, "48210.00");
    assert_eq!(c.third_party_trans_id, "gw-7f3c1a");
}

#[test]
fn quirky_bodies_parse() {
    // Numbers for amount and shortcode, an empty TransactionType, only FirstName, upper-case hash.
    let hash = hash_msisdn(&Msisdn::parse("0708374149").unwrap()).to_ascii_uppercase();
    let body = json!({"TransactionType": "", "TransID": "RKTQDM7W6S", "TransTime": 20250611093015_u64,
        "TransAmount": 10, "BusinessShortCode": 600987, "BillRefNumber": null, "MSISDN": hash,
        "FirstName": "JOHN"});
    let n = C2bNotification::from_slice(body.to_string().as_bytes()).unwrap();
    assert_eq!(n.transaction_type, C2bTransactionType::Other(String::new()));
    assert_eq!(n.amount_kes(), Some(10));
    assert_eq!(n.business_short_code, "600987");
    assert_eq!(n.account(), "");
    assert!(n.msisdn.is(&Msisdn::parse("254708374149").unwrap()));
    assert_eq!(n.trans_time, "20250611093015");
    assert_eq!(n.middle_name, "");

    // Old bodies: plain number, CustomerPayBillOnline, fractional and number-with-decimals amounts.
    let body = json!({"TransactionType": "CustomerPayBillOnline", "TransID": "LHG31AA5TX", "TransAmount": "5.50",
        "MSISDN": 254708374149_u64});
    let n = C2bNotification::from_slice(body.to_string().as_bytes()).unwrap();
    assert_eq!(n.transaction_type, C2bTransactionType::PayBill);
    assert_eq!(n.msisdn, C2bMsisdn::Plain(Msisdn::parse("254708374149").unwrap()));
    assert_eq!(n.amount_kes(), None, "a fraction is not whole KES");
    assert_eq!(n.trans_amount, "5.50");
    let n = C2bNotification::from_slice(br#"{"TransID":"X","TransAmount":10.0}"#).unwrap();
    assert_eq!(n.amount_kes(), Some(10));
    assert_eq!(n.msisdn, C2bMsisdn::Absent);

    // The other masking pattern in the docs.
    assert!(C2bMsisdn::from_wire("25470****149").could_be(&Msisdn::parse("0708374149").unwrap()));

    // Not a C2B body.
    assert!(C2bNotification::from_slice(b"{}").is_err());
    assert!(C2bNotification::from_slice(br#"{"TransID":""}"#).is_err());
    assert!(C2bNotification::from_slice(b"[1]").is_err());
    assert!(C2bNotification::from_slice(b"<html>").is_err());
}

#[test]
fn notification_round_trips_in_the_wire_shape() {
    let original = fixture_json("c2b_confirmation_request.json");
    let n: C2bNotification = serde_json::from_value(original.clone()).unwrap();
    assert_eq!(serde_json::to_value(&n).unwrap(), original);
}

// ---------------------------------------------------------------- answers we send

#[test]
fn validation_answers() {
    let accept = ValidationAnswer::Accept { third_party_trans_id: Some("gw-7f3c1a".into()) };
    assert_eq!(serde_json::to_value(&accept).unwrap(), fixture_json("c2b_validation_response_accept.json"));
    let reject = ValidationAnswer::Reject(RejectReason::InvalidAccountNumber);
    assert_eq!(serde_json::to_value(&reject).unwrap(), fixture_json("c2b_validation_response_reject_account.json"));
    assert_eq!(
        serde_json::to_value(ValidationAnswer::accept()).unwrap(),
        json!({"ResultCode":"0","ResultDesc":"Accepted"})
    );

    let codes: Vec<_> = RejectReason::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes, ["C2B00011", "C2B00012", "C2B00013", "C2B00014", "C2B00015", "C2B00016"]);
    for reason in RejectReason::ALL {
        let wire = serde_json::to_value(ValidationAnswer::Reject(reason)).unwrap();
        assert_eq!(wire["ResultDesc"], "Rejected");
        let back: ValidationAnswer = serde_json::from_value(wire).unwrap();
        assert_eq!(back, ValidationAnswer::Reject(reason));
    }
    assert_eq!(RejectReason::InvalidMsisdn.to_string(), "C2B00011 Invalid MSISDN");
    let parsed: ValidationAnswer = serde_json::from_str(r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#).unwrap();
    assert!(parsed.is_accept());
    assert!(serde_json::from_str::<ValidationAnswer>(r#"{"ResultCode":"C2B00099","ResultDesc":"x"}"#).is_err());
    assert_eq!(serde_json::to_value(ConfirmationAck::default()).unwrap(), fixture_json("c2b_confirmation_ack.json"));
}

// ---------------------------------------------------------------- calls we make

#[derive(Default)]
struct MockState {
    oauth: AtomicU64,
    received: Mutex<Vec<(String, Value)>>,
    script: Mutex<VecDeque<(u16, String)>>,
}

struct Mock {
    state: Arc<MockState>,
    client: Client,
}

impl Mock {
    async fn start() -> Mock {
        let state = Arc::new(MockState::default());
        let app = Router::new().route("/oauth/v1/generate", get(oauth)).fallback(record).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let env = Environment::Custom(format!("http://{addr}").parse().unwrap());
        let client = Client::new(Config::new(env, "ck", "cs", "600987", "passkey")).unwrap();
        Mock { state, client }
    }

    fn answer(&self, status: u16, body: impl Into<String>) {
        self.state.script.lock().unwrap().push_back((status, body.into()));
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn oauth(State(s): State<Arc<MockState>>) -> Response {
    let n = s.oauth.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(json!({"access_token": format!("t{n}"), "expires_in": "3599"})).into_response()
}

async fn record(State(s): State<Arc<MockState>>, uri: Uri, body: Bytes) -> Response {
    s.received.lock().unwrap().push((uri.path().to_owned(), serde_json::from_slice(&body).unwrap_or(Value::Null)));
    let (status, body) = s.script.lock().unwrap().pop_front().unwrap_or((404, String::new()));
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body).into_response()
}

fn registration(version: C2bVersion) -> RegisterUrls {
    RegisterUrls {
        version,
        short_code: "600987".into(),
        response_type: ResponseType::Completed,
        confirmation_url: "https://pay.example.co.ke/hooks/c2b/confirm/7Qx2".into(),
        validation_url: "https://pay.example.co.ke/hooks/c2b/validate/7Qx2".into(),
    }
}

#[tokio::test]
async fn register_sends_the_documented_body_on_the_versioned_path() {
    let mock = Mock::start().await;
    for version in [C2bVersion::V2, C2bVersion::V1] {
        mock.answer(200, fixture("c2b_register_url_response.json"));
        let ok = mock.client.c2b_register_urls(&registration(version)).await.unwrap();
        assert_eq!(ok.originator_conversation_id, "8d1f-4c3a-9b2e-6a7d5c4b3e2f1184502");
        assert_eq!(ok.response_description, "Success");
    }
    let got = mock.received();
    assert_eq!(got[0].0, "/mpesa/c2b/v2/registerurl");
    assert_eq!(got[1].0, "/mpesa/c2b/v1/registerurl");
    assert_eq!(got[0].1, fixture_json("c2b_register_url_request.json"));
}

#[tokio::test]
async fn product_mismatch_says_which_version_to_configure_and_keeps_the_token() {
    let mock = Mock::start().await;
    mock.answer(401, fixture("api_error_no_apiproduct.json"));
    let err = mock.client.c2b_register_urls(&registration(C2bVersion::V2)).await.unwrap_err();
    match &err {
        Error::WrongApiVersion { api, tried, configure, error_code, .. } => {
            assert_eq!((*api, *tried, *configure), ("C2B", "v2", "v1"));
            assert_eq!(error_code, "401.003.01");
        }
        other => panic!("expected WrongApiVersion, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("configure C2B v1"), "{text}");
    assert!(!err.is_retry_safe());
    // "Invalid Access Token" inside that message must not trigger a token refresh and a second call.
    assert_eq!(mock.state.oauth.load(Ordering::SeqCst), 1);
    assert_eq!(mock.received().len(), 1);

    // The sandbox's removed v1 simulate answers with the gateway's ApplicationNotFound fault.
    mock.answer(404, fixture("api_error_apigee_fault.json"));
    let err = mock.client.c2b_simulate(&simulation(C2bVersion::V1)).await.unwrap_err();
    assert!(matches!(err, Error::WrongApiVersion { configure: "v2", .. }), "{err:?}");
}

#[tokio::test]
async fn already_registered_says_how_to_change_the_urls() {
    let mock = Mock::start().await;
    mock.answer(500, fixture("c2b_register_url_error_already_registered.json"));
    let err = mock.client.c2b_register_urls(&registration(C2bVersion::V2)).await.unwrap_err();
    assert!(matches!(&err, Error::C2bUrlsAlreadyRegistered { short_code, .. } if short_code == "600987"), "{err:?}");
    assert_eq!(err.error_code(), Some("500.003.1001"));
    assert!(err.to_string().contains("URL Management"), "{err}");
    // Another 500.003.1001 stays a plain rejection.
    mock.answer(500, r#"{"requestId":"r","errorCode":"500.003.1001","errorMessage":"Internal Server Error"}"#);
    let err = mock.client.c2b_register_urls(&registration(C2bVersion::V2)).await.unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err:?}");
}

#[tokio::test]
async fn register_refuses_bad_input_before_sending() {
    let mock = Mock::start().await;
    let mut reg = registration(C2bVersion::V2);
    reg.confirmation_url = "not a url".into();
    let err = mock.client.c2b_register_urls(&reg).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "confirmation_url", .. }), "{err:?}");
    let mut reg = registration(C2bVersion::V2);
    reg.short_code = "12".into();
    assert!(matches!(
        mock.client.c2b_register_urls(&reg).await.unwrap_err(),
        Error::InvalidInput { field: "short_code", .. }
    ));
    assert!(mock.received().is_empty());
}

fn simulation(version: C2bVersion) -> C2bSimulate {
    C2bSimulate {
        version,
        short_code: "600987".into(),
        command: C2bCommand::PayBill,
        amount: Amount::new(150).unwrap(),
        msisdn: Msisdn::parse("0708374149").unwrap(),
        bill_ref_number: Some("INV-10442".into()),
    }
}

#[tokio::test]
async fn simulate_sends_the_documented_body() {
    let mock = Mock::start().await;
    mock.answer(200, fixture("c2b_simulate_response.json"));
    let ok = mock.client.c2b_simulate(&simulation(C2bVersion::V2)).await.unwrap();
    assert_eq!(ok.originator_conversation_id, "91c2-4d8e-b3a1-7f6e5d4c3b2a0046712");
    let got = mock.received();
    assert_eq!(got[0].0, "/mpesa/c2b/v2/simulate");
    assert_eq!(got[0].1, fixture_json("c2b_simulate_request.json"));

    // A till: CustomerBuyGoodsOnline and a null account.
    mock.answer(200, fixture("c2b_simulate_response.json"));
    let till = C2bSimulate { command: C2bCommand::BuyGoods, bill_ref_number: None, ..simulation(C2bVersion::V2) };
    mock.client.c2b_simulate(&till).await.unwrap();
    let body = &mock.received()[1].1;
    assert_eq!(body["CommandID"], "CustomerBuyGoodsOnline");
    assert_eq!(body["BillRefNumber"], Value::Null);
}

#[tokio::test]
async fn simulate_is_refused_in_production() {
    let client = Client::new(Config::new(Environment::Production, "ck", "cs", "600987", "real-passkey")).unwrap();
    let err = client.c2b_simulate(&simulation(C2bVersion::V2)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "environment", .. }), "{err:?}");
}

#[tokio::test]
async fn dynamic_qr_sends_the_documented_body_and_returns_the_png() {
    let mock = Mock::start().await;
    mock.answer(200, fixture("qr_generate_response.json"));
    let qr = mock
        .client
        .dynamic_qr(&DynamicQr {
            merchant_name: "EXAMPLE DUKA".into(),
            ref_no: "INV-10442".into(),
            amount: Amount::new(150).unwrap(),
            trx_code: QrTrxCode::PayBill,
            cpi: "600987".into(),
            size: 300,
        })
        .await
        .unwrap();
    assert!(qr.png().unwrap().starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(qr.request_id, "c1d2-4e3f-a5b6-7c8d9e0f1a2b3304571");
    let got = mock.received();
    assert_eq!(got[0].0, "/mpesa/qrcode/v1/generate");
    assert_eq!(got[0].1, fixture_json("qr_generate_request.json"));

    // A success code but no image is not a QR code.
    mock.answer(200, r#"{"ResponseCode":"0","RequestID":"r","ResponseDescription":"ok","QRCode":""}"#);
    let err = mock
        .client
        .dynamic_qr(&DynamicQr {
            merchant_name: "EXAMPLE DUKA".into(),
            ref_no: "cart-5521".into(),
            amount: Amount::new(980).unwrap(),
            trx_code: QrTrxCode::BuyGoods,
            cpi: "5123456".into(),
            size: 300,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnexpectedResponse { .. }), "{err:?}");
    assert_eq!(mock.received()[1].1, fixture_json("qr_generate_request_buygoods.json"));
}

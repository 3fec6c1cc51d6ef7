//! C2B against the real simulator: the `daraja` client registers and simulates, a merchant server
//! receives validation then confirmation (parsed with `daraja::c2b`), the SIM menu pays by hand, and
//! Dynamic QR answers with a PNG.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use common::{fast_config, poll, spawn, Harness, SHORTCODE};
use daraja::c2b::{
    hash_msisdn, C2bCommand, C2bMsisdn, C2bNotification, C2bSimulate, C2bTransactionType, C2bVersion, ConfirmationAck,
    RegisterUrls, RejectReason, ResponseType, ValidationAnswer,
};
use daraja::{Amount, Client, Config, DynamicQr, Environment, Error, Msisdn, QrTrxCode};
use daraja_sim::{C2bPaymentView, C2bSimConfig, C2bStatus, Faults, SimConfig};
use serde_json::{json, Value};

const TILL: &str = "5551234";
const PAYER: &str = "254708374149";

/// How the merchant answers validation.
#[derive(Clone, Debug)]
enum Mode {
    Accept,
    Reject(RejectReason),
    /// Answers (accepting) only after this long.
    Slow(Duration),
}

#[derive(Clone)]
struct Merchant {
    url: String,
    mode: Arc<Mutex<Mode>>,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Merchant {
    async fn start() -> Merchant {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let m = Merchant {
            url: format!("http://{}/callbacks/c2b/s3cret", listener.local_addr().unwrap()),
            mode: Arc::new(Mutex::new(Mode::Accept)),
            got: Arc::default(),
        };
        let app = Router::new().route("/callbacks/c2b/s3cret/{kind}", post(receive)).with_state(m.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        m
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn registration(&self, version: C2bVersion, short_code: &str, response_type: ResponseType) -> RegisterUrls {
        RegisterUrls {
            version,
            short_code: short_code.into(),
            response_type,
            confirmation_url: format!("{}/confirmation", self.url),
            validation_url: format!("{}/validation", self.url),
        }
    }

    /// The bodies received at `kind` (`validation`, `confirmation`) for a TransID, parsed.
    fn bodies(&self, kind: &str, trans_id: &str) -> Vec<C2bNotification> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, b)| k == kind && b["TransID"] == trans_id)
            .map(|(_, b)| C2bNotification::from_slice(b.to_string().as_bytes()).expect("daraja parses the sim's body"))
            .collect()
    }

    fn all(&self, kind: &str) -> Vec<Value> {
        self.got.lock().unwrap().iter().filter(|(k, _)| k == kind).map(|(_, b)| b.clone()).collect()
    }
}

async fn receive(State(m): State<Merchant>, Path(kind): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    m.got.lock().unwrap().push((kind.clone(), body));
    if kind == "confirmation" {
        return Json(serde_json::to_value(ConfirmationAck::default()).unwrap());
    }
    let mode = m.mode.lock().unwrap().clone();
    let answer = match mode {
        Mode::Accept => ValidationAnswer::Accept { third_party_trans_id: Some("shop-42".into()) },
        Mode::Reject(r) => ValidationAnswer::Reject(r),
        Mode::Slow(d) => {
            tokio::time::sleep(d).await;
            ValidationAnswer::accept()
        }
    };
    Json(serde_json::to_value(answer).unwrap())
}

fn config() -> SimConfig {
    SimConfig { till_number: Some(TILL.into()), ..fast_config() }
}

fn client(h: &Harness) -> Client {
    let env = Environment::Custom(h.base.parse().unwrap());
    Client::new(Config::new(env, "key", "secret", SHORTCODE, common::PASSKEY)).unwrap()
}

fn paybill(version: C2bVersion, account: &str, amount: u32) -> C2bSimulate {
    C2bSimulate {
        version,
        short_code: SHORTCODE.into(),
        command: C2bCommand::PayBill,
        amount: Amount::new(amount).unwrap(),
        msisdn: Msisdn::parse(PAYER).unwrap(),
        bill_ref_number: Some(account.into()),
    }
}

/// A simulator with `sim`, a merchant, and a client that registered the merchant's URLs for the paybill
/// with `version` (`ResponseType` Completed).
async fn registered(sim: SimConfig, version: C2bVersion) -> (Harness, Merchant, Client) {
    let h = spawn(sim).await;
    let m = Merchant::start().await;
    let c = client(&h);
    c.c2b_register_urls(&m.registration(version, SHORTCODE, ResponseType::Completed)).await.unwrap();
    (h, m, c)
}

/// The newest payment for `account`, once its status is decided (and `confirmations` attempts made).
async fn decided(h: &Harness, account: &str, confirmations: usize) -> C2bPaymentView {
    poll(|| {
        h.sim.c2b_payments().into_iter().find(|p| {
            p.bill_ref_number == account
                && p.status != C2bStatus::Validating
                && p.confirmation_attempts.len() >= confirmations
        })
    })
    .await
}

#[tokio::test]
async fn v2_validation_then_confirmation_with_a_masked_number() {
    let h = spawn(config()).await;
    let m = Merchant::start().await;
    let c = client(&h);
    let ok = c.c2b_register_urls(&m.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed)).await.unwrap();
    assert_eq!(ok.response_code, "0");
    assert!(!ok.originator_conversation_id.is_empty(), "OriginatorCoversationID is read");
    c.c2b_simulate(&paybill(C2bVersion::V2, "INV-1", 150)).await.unwrap();

    let p = decided(&h, "INV-1", 1).await;
    assert_eq!(
        (p.status, p.decided_by.as_deref(), p.result_code.as_deref()),
        (C2bStatus::Completed, Some("validation"), Some("0"))
    );
    let v = &m.bodies("validation", &p.trans_id)[0];
    let conf = poll(|| m.bodies("confirmation", &p.trans_id).into_iter().next()).await;
    for n in [v, &conf] {
        assert_eq!(n.transaction_type, C2bTransactionType::PayBill);
        assert_eq!(n.amount_kes(), Some(150));
        assert_eq!(n.trans_amount, "150.00");
        assert_eq!(n.business_short_code, SHORTCODE);
        assert_eq!(n.account(), "INV-1");
        assert_eq!(n.msisdn, C2bMsisdn::Masked("2547 ***** 149".into()));
        assert!(n.msisdn.could_be(&Msisdn::parse(PAYER).unwrap()));
        assert_eq!(n.payer_name().as_deref(), Some("JOHN"), "v2 gives the first name only");
        assert!(n.transaction_time().is_some());
    }
    assert_eq!(v.org_account_balance, "");
    assert_eq!(v.third_party_trans_id, "");
    assert_eq!(conf.org_account_balance, "150.00");
    assert_eq!(conf.third_party_trans_id, "shop-42", "the validation's ThirdPartyTransID is echoed");
    assert!(p.message.unwrap().contains("Confirmed. Ksh150.00 sent to LIPA DEMO SHOP for account INV-1"));
    // Validation came first.
    let order: Vec<String> = m.got.lock().unwrap().iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(order, ["validation", "confirmation"]);
    // Exactly Daraja's fields, every one a string, as in the documented bodies.
    for (kind, fixture_name) in
        [("validation", "c2b_validation_request.json"), ("confirmation", "c2b_confirmation_request.json")]
    {
        let sent = &m.all(kind)[0];
        assert_eq!(keys(sent), keys(&fixture(fixture_name)), "{kind}");
        assert!(sent.as_object().unwrap().values().all(Value::is_string), "{kind}: {sent}");
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn v1_registration_sends_the_sha256_of_the_number() {
    let (h, m, c) = registered(config(), C2bVersion::V1).await;
    c.c2b_simulate(&paybill(C2bVersion::V2, "INV-2", 20)).await.unwrap();
    let p = decided(&h, "INV-2", 1).await;
    let conf = poll(|| m.bodies("confirmation", &p.trans_id).into_iter().next()).await;
    let payer = Msisdn::parse(PAYER).unwrap();
    assert_eq!(conf.msisdn, C2bMsisdn::Hashed(hash_msisdn(&payer)));
    assert!(conf.msisdn.is(&payer));
    assert_eq!(conf.payer_name().as_deref(), Some("JOHN KAMAU DOE"));
}

#[tokio::test]
async fn a_refused_validation_gets_no_confirmation_and_every_code_is_honoured() {
    let (h, m, c) = registered(config(), C2bVersion::V2).await;
    for (i, reason) in RejectReason::ALL.into_iter().enumerate() {
        m.set(Mode::Reject(reason));
        let account = format!("NOPE-{i}");
        c.c2b_simulate(&paybill(C2bVersion::V2, &account, 10)).await.unwrap();
        let p = decided(&h, &account, 0).await;
        assert_eq!(p.status, C2bStatus::Rejected);
        assert_eq!(p.result_code.as_deref(), Some(reason.code()));
        assert!(p.message.as_deref().unwrap().contains(reason.meaning()), "{:?}", p.message);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(m.all("confirmation").is_empty(), "a refused payment is never confirmed");
    assert_eq!(m.all("validation").len(), 6);
}

#[tokio::test]
async fn the_default_action_applies_when_validation_is_too_slow() {
    let c2b = C2bSimConfig { validation_timeout: Duration::from_millis(300), ..C2bSimConfig::default() };
    let (h, m, c) = registered(SimConfig { c2b, ..config() }, C2bVersion::V2).await;
    m.set(Mode::Slow(Duration::from_millis(1500)));
    c.c2b_register_urls(&m.registration(C2bVersion::V2, TILL, ResponseType::Cancelled)).await.unwrap();

    c.c2b_simulate(&paybill(C2bVersion::V2, "SLOW-1", 30)).await.unwrap();
    let till = C2bSimulate {
        short_code: TILL.into(),
        command: C2bCommand::BuyGoods,
        bill_ref_number: None,
        ..paybill(C2bVersion::V2, "", 40)
    };
    c.c2b_simulate(&till).await.unwrap();

    let completed = decided(&h, "SLOW-1", 1).await;
    assert_eq!((completed.status, completed.decided_by.as_deref()), (C2bStatus::Completed, Some("default_action")));
    let cancelled =
        poll(|| h.sim.c2b_payments().into_iter().find(|p| p.short_code == TILL && p.status != C2bStatus::Validating))
            .await;
    assert_eq!((cancelled.status, cancelled.decided_by.as_deref()), (C2bStatus::Cancelled, Some("default_action")));
    assert!(cancelled.message.as_deref().unwrap().contains("did not confirm"));
    poll(|| (m.bodies("confirmation", &completed.trans_id).len() == 1).then_some(())).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(m.bodies("confirmation", &cancelled.trans_id).is_empty(), "a cancelled payment is never confirmed");
}

#[tokio::test]
async fn sandbox_re_registration_replaces_and_production_rules_refuse() {
    let h = spawn(config()).await;
    let first = Merchant::start().await;
    let second = Merchant::start().await;
    let c = client(&h);
    c.c2b_register_urls(&first.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed)).await.unwrap();
    c.c2b_register_urls(&second.registration(C2bVersion::V1, SHORTCODE, ResponseType::Cancelled)).await.unwrap();
    let regs = h.sim.c2b_registrations();
    assert_eq!(regs.len(), 1);
    assert!(regs[0].confirmation_url.starts_with(&second.url));
    assert_eq!((regs[0].version, regs[0].response_type.as_str()), (daraja_sim::C2bVersion::V1, "Cancelled"));

    let c2b = C2bSimConfig { production_rules: true, ..C2bSimConfig::default() };
    let h = spawn(SimConfig { c2b, ..config() }).await;
    let c = client(&h);
    c.c2b_register_urls(&first.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed)).await.unwrap();
    let err = c
        .c2b_register_urls(&second.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::C2bUrlsAlreadyRegistered { .. }), "{err:?}");
    assert!(h.sim.c2b_registrations()[0].confirmation_url.starts_with(&first.url), "the first registration stays");
    // The portal's URL Management deletes them; then registering works again.
    let resp = h.http.delete(format!("{}/sim/api/c2b/registrations/{SHORTCODE}", h.base)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    c.c2b_register_urls(&second.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed)).await.unwrap();
}

#[tokio::test]
async fn the_wrong_product_version_is_401_003_01() {
    let c2b = C2bSimConfig { product: Some(daraja_sim::C2bVersion::V1), ..C2bSimConfig::default() };
    let h = spawn(SimConfig { c2b, ..config() }).await;
    let m = Merchant::start().await;
    let c = client(&h);
    let err =
        c.c2b_register_urls(&m.registration(C2bVersion::V2, SHORTCODE, ResponseType::Completed)).await.unwrap_err();
    assert!(matches!(err, Error::WrongApiVersion { configure: "v1", .. }), "{err:?}");
    c.c2b_register_urls(&m.registration(C2bVersion::V1, SHORTCODE, ResponseType::Completed)).await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_daraja_errors() {
    let h = spawn(config()).await;
    let token = h.token().await;
    let good = json!({"ShortCode": SHORTCODE, "ResponseType": "Completed",
        "ConfirmationURL": "http://127.0.0.1:9/c", "ValidationURL": "http://127.0.0.1:9/v"});
    let cases = vec![
        ("ResponseType", json!("Canceled")),
        ("ResponseType", json!("completed")),
        ("ShortCode", json!("12")),
        ("ConfirmationURL", json!("not a url")),
        ("ValidationURL", Value::Null),
    ];
    h.assert_invalid_fields("/mpesa/c2b/v2/registerurl", &token, &good, cases).await;
    let a = h.post_json("/mpesa/c2b/v2/registerurl", "not-a-token", &good).await;
    assert_eq!(a.error_code(), "404.001.03");
    assert!(h.sim.c2b_registrations().is_empty(), "nothing half-registered");

    let sim = json!({"ShortCode": SHORTCODE, "CommandID": "CustomerPayBillOnline", "Amount": 10, "Msisdn": PAYER, "BillRefNumber": "A"});
    let cases = vec![("CommandID", json!("PayBill")), ("Msisdn", json!("0708374149")), ("Amount", json!(0))];
    h.assert_invalid_fields("/mpesa/c2b/v2/simulate", &token, &sim, cases).await;
    // v1 simulate works (SDKs still call it) but warns; a strict simulator answers the sandbox's fault.
    let a = h.post_json("/mpesa/c2b/v1/simulate", &token, &sim).await;
    assert_eq!(a.status, 200);
    assert_eq!(keys(&a.body), keys(&fixture("c2b_simulate_response.json")));
    assert_eq!(a.body["ResponseDescription"], fixture("c2b_simulate_response.json")["ResponseDescription"]);
    let r = h.post_json("/mpesa/c2b/v2/registerurl", &token, &good).await;
    assert_eq!(keys(&r.body), keys(&fixture("c2b_register_url_response.json")));
    assert_eq!(r.body["ResponseDescription"], "Success");
    assert_eq!(a.body["OriginatorCoversationID"].as_str().map(|s| !s.is_empty()), Some(true));
    assert!(a.warnings().iter().any(|w| w.contains("v1/simulate was removed")), "{:?}", a.warnings());
    let strict = spawn(SimConfig { strict: true, ..config() }).await;
    let token = strict.token().await;
    let a = strict.post_json("/mpesa/c2b/v1/simulate", &token, &sim).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body["fault"]["detail"]["errorcode"], "messaging.adaptors.http.flow.ApplicationNotFound");
    assert!(strict.sim.c2b_payments().is_empty());
}

#[tokio::test]
async fn faults_drop_double_and_delay_c2b_requests() {
    let (h, m, c) = registered(config(), C2bVersion::V2).await;

    // Dropped: validation never arrives (the default action completes the payment), nor the confirmation.
    h.sim.set_faults(Faults { drop_callback: 1.0, ..Faults::default() });
    c.c2b_simulate(&paybill(C2bVersion::V2, "DROP", 10)).await.unwrap();
    let p = decided(&h, "DROP", 1).await;
    assert_eq!(p.decided_by.as_deref(), Some("default_action"));
    assert_eq!(p.validation_attempts[0].fault.as_deref(), Some("dropped"));
    assert_eq!(p.confirmation_attempts[0].fault.as_deref(), Some("dropped"));
    assert!(m.bodies("confirmation", &p.trans_id).is_empty());

    // Doubled: the merchant sees each request twice, with the same TransID.
    h.sim.set_faults(Faults { duplicate_callback: 1.0, ..Faults::default() });
    c.c2b_simulate(&paybill(C2bVersion::V2, "TWICE", 10)).await.unwrap();
    let p = decided(&h, "TWICE", 2).await;
    assert_eq!(p.decided_by.as_deref(), Some("validation"));
    poll(|| (m.bodies("confirmation", &p.trans_id).len() == 2).then_some(())).await;
    assert_eq!(m.bodies("validation", &p.trans_id).len(), 2);

    // Late: the confirmation comes after the extra delay.
    h.sim.set_faults(Faults { late_callback: 1.0, late_callback_ms: 300, ..Faults::default() });
    c.c2b_simulate(&paybill(C2bVersion::V2, "LATE", 10)).await.unwrap();
    let p = decided(&h, "LATE", 1).await;
    assert_eq!(p.confirmation_attempts[0].fault.as_deref(), Some("late"));
    assert_eq!(m.bodies("confirmation", &p.trans_id).len(), 1);
}

#[tokio::test]
async fn the_sim_menu_pays_a_paybill_and_a_till_by_hand() {
    let (h, m, _) = registered(config(), C2bVersion::V2).await;

    let pay = json!({"phone": "0712 345 678", "kind": "paybill", "business_number": SHORTCODE,
        "account": "ORDER-7", "amount": "250", "pin": "1234"});
    let a = h.post_control("/sim/api/c2b/pay", &pay).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["status"], "completed");
    assert_eq!(a.body["source"], "sim_menu");
    assert!(a.body["message"].as_str().unwrap().contains("Ksh250.00 sent to LIPA DEMO SHOP for account ORDER-7"));
    let id = a.body["trans_id"].as_str().unwrap().to_owned();
    let conf = poll(|| m.bodies("confirmation", &id).into_iter().next()).await;
    assert_eq!(conf.msisdn, C2bMsisdn::Masked("2547 ***** 678".into()));
    assert_eq!(conf.amount_kes(), Some(250));
    let listed = h.get("/sim/api/c2b/payments?phone=0712345678").await;
    assert_eq!(listed.body[0]["trans_id"], id.as_str());

    // Buy goods on the till needs no account; nothing registered for it: paid, nobody told.
    let a = h
        .post_control(
            "/sim/api/c2b/pay",
            &json!({"phone": "0712345678", "kind": "buygoods",
        "business_number": TILL, "amount": 99, "pin": "4321"}),
        )
        .await;
    assert_eq!(
        (a.status, a.body["status"].as_str(), a.body["decided_by"].as_str()),
        (200, Some("completed"), Some("not_registered"))
    );
    assert!(a.body["message"].as_str().unwrap().contains("Ksh99.00 paid to LIPA DEMO SHOP"));

    // Refused at the menu: nothing is paid.
    for (body, field) in [
        (
            json!({"phone": "0712345678", "kind": "paybill", "business_number": SHORTCODE, "account": "X", "amount": 5, "pin": "0000"}),
            "pin",
        ),
        (
            json!({"phone": "0712345678", "kind": "paybill", "business_number": "999999", "account": "X", "amount": 5, "pin": "1234"}),
            "business_number",
        ),
        (
            json!({"phone": "0712345678", "kind": "paybill", "business_number": SHORTCODE, "account": "", "amount": 5, "pin": "1234"}),
            "account",
        ),
        (
            json!({"phone": "0712345678", "kind": "paybill", "business_number": SHORTCODE, "account": "X", "amount": 0, "pin": "1234"}),
            "amount",
        ),
        (
            json!({"phone": "12", "kind": "paybill", "business_number": SHORTCODE, "account": "X", "amount": 5, "pin": "1234"}),
            "phone",
        ),
    ] {
        let a = h.post_control("/sim/api/c2b/pay", &body).await;
        assert_eq!((a.status, a.body["field"].as_str()), (422, Some(field)), "{}", a.body);
    }
    assert_eq!(h.sim.c2b_payments().len(), 2);
}

#[tokio::test]
async fn validation_off_sends_the_confirmation_only() {
    let c2b = C2bSimConfig { external_validation: false, ..C2bSimConfig::default() };
    let (h, m, c) = registered(SimConfig { c2b, ..config() }, C2bVersion::V2).await;
    c.c2b_simulate(&paybill(C2bVersion::V2, "NOVAL", 10)).await.unwrap();
    let p = decided(&h, "NOVAL", 1).await;
    assert_eq!(p.decided_by.as_deref(), Some("no_validation"));
    poll(|| (m.bodies("confirmation", &p.trans_id).len() == 1).then_some(())).await;
    assert!(m.all("validation").is_empty());
}

#[tokio::test]
async fn dynamic_qr_is_a_png_linking_to_the_handset() {
    let h = spawn(config()).await;
    let qr = client(&h)
        .dynamic_qr(&DynamicQr {
            merchant_name: "EXAMPLE DUKA".into(),
            ref_no: "INV-10442".into(),
            amount: Amount::new(150).unwrap(),
            trx_code: QrTrxCode::PayBill,
            cpi: SHORTCODE.into(),
            size: 300,
        })
        .await
        .unwrap();
    assert_eq!(qr.response_code, "00");
    assert_eq!(qr.response_description, "QR Code Successfully Generated.");
    let png = qr.png().unwrap();
    assert_eq!(&png[12..16], b"IHDR");
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 300, "width = Size");

    let token = h.token().await;
    let body = json!({"MerchantName": "EXAMPLE DUKA", "RefNo": "cart 5", "Amount": 980, "TrxCode": "BG", "CPI": TILL, "Size": "200"});
    let a = h.post_json("/mpesa/qrcode/v1/generate", &token, &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(keys(&a.body), keys(&fixture("qr_generate_response.json")));
    let link = a.headers.get("x-sim-qr-link").unwrap().to_str().unwrap();
    assert_eq!(
        link,
        format!("{}/sim/handset?pay=BG&to={TILL}&account=cart+5&amount=980&merchant=EXAMPLE+DUKA", h.base)
    );
    // The link opens the handset page.
    assert_eq!(h.http.get(link).send().await.unwrap().status(), 200);
    for (field, value) in
        [("TrxCode", json!("PayBill")), ("Amount", json!(0)), ("CPI", json!("abc")), ("Size", json!("5"))]
    {
        let mut bad = body.clone();
        bad[field] = value;
        let a = h.post_json("/mpesa/qrcode/v1/generate", &token, &bad).await;
        assert_eq!((a.status, a.error_message()), (400, format!("Bad Request - Invalid {field}").as_str()));
    }
}

//! OAuth, STK push, callbacks and STK query over real HTTP, driven by plain reqwest.

mod common;

use std::time::Duration;

use common::*;
use daraja_sim::{Decider, SimConfig};
use serde_json::{json, Value};

#[tokio::test]
async fn oauth_issues_tokens_and_counts_requests() {
    let h = spawn(fast_config()).await;
    let resp = h.oauth("client_credentials", Some(("anything", "goes"))).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["access_token"].as_str().unwrap().len(), 28);

    let bad_grant = h.oauth("password", Some(("k", "s"))).await;
    assert_eq!(bad_grant.status(), 400);
    let body: Value = bad_grant.json().await.unwrap();
    assert_eq!(body["errorCode"], "400.008.02");
    assert_eq!(body["errorMessage"], "Invalid grant type passed");
    assert!(body["requestId"].is_string());

    let no_auth = h.oauth("client_credentials", None).await;
    assert_eq!(no_auth.status(), 400);
    let body: Value = no_auth.json().await.unwrap();
    assert_eq!(body["errorCode"], "400.008.01");
    assert_eq!(body["errorMessage"], "Invalid Authentication passed");
    assert_eq!(h.sim.oauth_requests(), 3);
}

#[tokio::test]
async fn oauth_checks_configured_credentials() {
    let h =
        spawn(SimConfig { consumer_key: Some("ck".into()), consumer_secret: Some("cs".into()), ..fast_config() }).await;
    let wrong = h.oauth("client_credentials", Some(("ck", "nope"))).await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(wrong.json::<Value>().await.unwrap()["errorCode"], "400.008.01");
    let right = h.oauth("client_credentials", Some(("ck", "cs"))).await;
    assert_eq!(right.status(), 200);
}

#[tokio::test]
async fn tokens_are_checked_and_expire() {
    let h = spawn(SimConfig { token_ttl: Duration::from_millis(300), ..fast_config() }).await;
    let body = h.push_body("254708374149", 10);

    let unknown = h.push("not-a-token", &body).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "404.001.03");
    assert_eq!(unknown.error_message(), "Invalid Access Token");

    let resp = h.http.post(format!("{}/mpesa/stkpush/v1/processrequest", h.base)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let missing: Value = resp.json().await.unwrap();
    assert_eq!(missing["errorCode"], "404.001.04");
    assert_eq!(missing["errorMessage"], "Invalid Authentication Header");

    let token = h.token().await;
    let t0 = tokio::time::Instant::now();
    // Wait (by polling the query endpoint) until the token is refused.
    loop {
        let q = h.query(&token, "ws_CO_unknown").await;
        if q.error_code() == "404.001.03" {
            break;
        }
        assert_eq!(q.error_code(), "400.002.02", "a fresh token passes auth");
        assert!(t0.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(t0.elapsed() >= Duration::from_millis(250));
}

fn metadata(cb: &Value) -> Vec<Value> {
    cb["Body"]["stkCallback"]["CallbackMetadata"]["Item"].as_array().cloned().unwrap_or_default()
}

fn item<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["Name"] == name)
}

#[tokio::test]
async fn test_numbers_push_callback_query() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let cases: &[(&str, i64, &str)] = &[
        ("254708374149", 0, "The service request is processed successfully."),
        ("254700000000", 0, "The service request is processed successfully."),
        ("254700000001", 1, "The balance is insufficient for the transaction."),
        ("254700000017", 17, "Rule limited."),
        ("254700001019", 1019, "Transaction has expired"),
        ("254700001032", 1032, "Request cancelled by user"),
        ("254700001037", 1037, "DS timeout user cannot be reached"),
        ("254700002001", 2001, "The initiator information is invalid."),
        ("254700009999", 9999, "Error occurred while sending a push request"),
    ];
    let mut ids = Vec::new();
    for (phone, _, _) in cases {
        let a = h.push(&token, &h.push_body(phone, 800)).await;
        assert_eq!(a.status, 200, "{phone}: {:?}", a.body);
        assert_eq!(a.body["ResponseCode"], "0");
        assert_eq!(a.body["ResponseDescription"], "Success. Request accepted for processing");
        assert_eq!(a.body["CustomerMessage"], "Success. Request accepted for processing");
        assert!(a.body["MerchantRequestID"].as_str().unwrap().len() > 10);
        let id = a.checkout_id();
        assert!(id.starts_with("ws_CO_") && id.len() >= 25, "{id}");
        assert!(a.warnings().is_empty(), "{:?}", a.warnings());
        ids.push((id, a.body["MerchantRequestID"].clone()));
    }
    for ((phone, code, desc), (id, mrid)) in cases.iter().zip(&ids) {
        let cb = h.callbacks(id, 1).await.remove(0);
        let stk = &cb["Body"]["stkCallback"];
        assert_eq!(stk["ResultCode"], *code, "{phone}");
        assert!(stk["ResultCode"].is_i64());
        assert_eq!(stk["ResultDesc"], *desc);
        assert_eq!(&stk["MerchantRequestID"], mrid);
        let items = metadata(&cb);
        if *code == 0 {
            let amount = item(&items, "Amount").unwrap();
            assert!(amount["Value"].is_f64(), "Amount is a float like 800.0");
            assert_eq!(amount["Value"].as_f64(), Some(800.0));
            let receipt = item(&items, "MpesaReceiptNumber").unwrap()["Value"].as_str().unwrap();
            assert!(receipt.len() == 10 && receipt.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
            let balance = item(&items, "Balance").unwrap();
            assert!(balance.get("Value").is_none(), "Balance comes without Value");
            let date = item(&items, "TransactionDate").unwrap()["Value"].as_u64().unwrap();
            assert_eq!(date.to_string().len(), 14);
            let now = eat_timestamp(0).parse::<u64>().unwrap();
            assert!(now.abs_diff(date) < 100, "TransactionDate {date} is EAT (now {now})");
            assert_eq!(item(&items, "PhoneNumber").unwrap()["Value"].as_u64().unwrap().to_string(), *phone);
        } else {
            assert!(stk.get("CallbackMetadata").is_none());
        }
        let q = h.query(&token, id).await;
        assert_eq!(q.status, 200, "{:?}", q.body);
        assert_eq!(q.body["ResponseCode"], "0");
        assert_eq!(q.body["ResponseDescription"], "The service request has been accepted successsfully");
        assert_eq!(q.body["ResultCode"], code.to_string());
        assert_eq!(q.body["ResultDesc"], *desc);
        assert_eq!(q.body["CheckoutRequestID"], id.as_str());
        assert_eq!(&q.body["MerchantRequestID"], mrid);

        let tx = h.settled(id, 1).await;
        assert_eq!(tx.result_code, Some(*code));
        assert_eq!(tx.decided_by, Decider::TestNumber);
        assert_eq!(tx.callbacks[0].status, Some(200));
        assert!(tx.callbacks[0].body.as_deref().unwrap().contains("Accepted"));
        assert_eq!(tx.receipt.is_some(), *code == 0);
    }
}

#[tokio::test]
async fn query_while_pending_and_unknown() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254712345678", 800)).await;
    assert_eq!(a.status, 200);
    let id = a.checkout_id();
    let q = h.query(&token, &id).await;
    assert_eq!(q.status, 500);
    assert_eq!(q.error_code(), "500.001.1001");
    assert_eq!(q.error_message(), "The transaction is being processed");
    assert_eq!(q.body["requestId"], id.as_str());

    let unknown = h.query(&token, "ws_CO_01012024000000000123").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_code(), "400.002.02");
    assert_eq!(unknown.error_message(), "Bad Request - Invalid CheckoutRequestID");
}

#[tokio::test]
async fn subscriber_is_locked_while_a_push_is_pending() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let first = h.push(&token, &h.push_body("254712345678", 800)).await;
    assert_eq!(first.status, 200);
    let second = h.push(&token, &h.push_body("254712345678", 900)).await;
    assert_eq!(second.status, 500);
    assert_eq!(second.error_code(), "500.001.1001");
    assert_eq!(
        second.error_message(),
        "Unable to lock subscriber, a transaction is already in process for the current subscriber"
    );
    // Once decided, the subscriber is free again.
    h.sim.complete(&first.checkout_id(), 1032).unwrap();
    let third = h.push(&token, &h.push_body("254712345678", 900)).await;
    assert_eq!(third.status, 200);
    // Test numbers are like test cards: several pushes may be open at once.
    for amount in [10, 11, 12] {
        let r = h.push(&token, &h.push_body("254700001032", amount)).await;
        assert_eq!(r.status, 200, "test numbers are never locked");
    }
}

type Mutation = Box<dyn Fn(&mut Value)>;

/// (case, mutation, HTTP status, errorCode, errorMessage)
type Case = (&'static str, Mutation, u16, &'static str, String);

fn validation_cases() -> Vec<Case> {
    fn set(field: &'static str, v: Value) -> Mutation {
        Box::new(move |b: &mut Value| b[field] = v.clone())
    }
    fn remove(field: &'static str) -> Mutation {
        Box::new(move |b: &mut Value| {
            b.as_object_mut().unwrap().remove(field);
        })
    }
    /// Refused the way Daraja refuses a bad field: 400, `400.002.02`, "Bad Request - Invalid {field}".
    fn invalid(name: &'static str, mutation: Mutation, field: &str) -> Case {
        (name, mutation, 400, "400.002.02", format!("Bad Request - Invalid {field}"))
    }
    fn bad(name: &'static str, field: &'static str, v: Value) -> Case {
        invalid(name, set(field, v), field)
    }
    fn missing(name: &'static str, field: &'static str) -> Case {
        invalid(name, remove(field), field)
    }
    fn refused(name: &'static str, mutation: Mutation, message: &str) -> Case {
        (name, mutation, 500, "500.001.1001", message.to_owned())
    }
    vec![
        bad("shortcode letters", "BusinessShortCode", json!("17A379")),
        bad("shortcode short", "BusinessShortCode", json!("1743")),
        missing("shortcode missing", "BusinessShortCode"),
        refused("unknown shortcode", set("BusinessShortCode", json!("600000")), "Merchant does not exist"),
        refused("wrong password", set("Password", json!("bm9wZQ==")), "Wrong credentials"),
        missing("password missing", "Password"),
        bad("timestamp format", "Timestamp", json!("2024-01-01 12:00")),
        bad("timestamp impossible", "Timestamp", json!("20241301120000")),
        bad("transaction type", "TransactionType", json!("CustomerPayBill")),
        bad("amount zero", "Amount", json!(0)),
        bad("amount too big", "Amount", json!(250001)),
        bad("amount negative", "Amount", json!(-5)),
        bad("amount text", "Amount", json!("ten")),
        missing("amount missing", "Amount"),
        bad("party a local format", "PartyA", json!("0712345678")),
        bad("party b", "PartyB", json!("12")),
        bad("phone local format", "PhoneNumber", json!("0712345678")),
        bad("phone not kenyan", "PhoneNumber", json!(255712345678u64)),
        bad("phone too long", "PhoneNumber", json!("2547123456789")),
        bad("callback ftp", "CallBackURL", json!("ftp://example.com/cb")),
        bad("callback not a url", "CallBackURL", json!("example.com/cb")),
        missing("callback missing", "CallBackURL"),
        missing("reference missing", "AccountReference"),
        // Daraja maps TransactionDesc to Remarks.
        invalid("desc null", set("TransactionDesc", Value::Null), "Remarks"),
    ]
}

#[tokio::test]
async fn every_validation_error_has_darajas_code_and_message() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    for (name, mutate, status, code, message) in validation_cases() {
        let mut body = h.push_body("254708374149", 10);
        mutate(&mut body);
        let a = h.push(&token, &body).await;
        assert_eq!(a.status, status, "{name}: {:?}", a.body);
        assert_eq!(a.error_code(), code, "{name}");
        assert_eq!(a.error_message(), message, "{name}");
        assert!(a.body["requestId"].as_str().is_some_and(|s| !s.is_empty()), "{name}");
    }
    assert!(h.sim.transactions().is_empty(), "no refused push is recorded");
}

#[tokio::test]
async fn content_type_and_payload_errors() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let body = h.push_body("254708374149", 10).to_string();
    let url = format!("{}/mpesa/stkpush/v1/processrequest", h.base);
    let no_ct = h.http.post(&url).bearer_auth(&token).body(body.clone()).send().await.unwrap();
    assert_eq!(no_ct.status(), 400);
    let v: Value = no_ct.json().await.unwrap();
    assert_eq!(v["errorCode"], "400.002.02");
    assert_eq!(v["errorMessage"], "Bad Request - Invalid BusinessShortCode");

    let garbage = h
        .http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
    let v: Value = garbage.json().await.unwrap();
    assert_eq!(v["errorCode"], "400.002.05");
    assert_eq!(v["errorMessage"], "Invalid Request Payload");

    let get = h.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(get.json::<Value>().await.unwrap()["errorCode"], "405.001");
}

#[tokio::test]
async fn query_checks_credentials_too() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let ts = eat_timestamp(0);
    let body = json!({
        "BusinessShortCode": "174379",
        "Password": password("174379", "wrong-passkey", &ts),
        "Timestamp": ts,
        "CheckoutRequestID": "ws_CO_x",
    });
    let a = h.post_json("/mpesa/stkpushquery/v1/query", &token, &body).await;
    assert_eq!(a.status, 500);
    assert_eq!(a.error_message(), "Wrong credentials");
    let missing = json!({"BusinessShortCode": "174379", "Password": "x", "Timestamp": ts});
    let a = h.post_json("/mpesa/stkpushquery/v1/query", &token, &missing).await;
    assert_eq!(a.error_message(), "Bad Request - Invalid CheckoutRequestID");
}

#[tokio::test]
async fn wrong_passkey_is_wrong_credentials() {
    let h = spawn(SimConfig { passkey: "my-own-passkey".into(), ..fast_config() }).await;
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254708374149", 10)).await; // made with the sandbox passkey
    assert_eq!(a.status, 500);
    assert_eq!(a.error_code(), "500.001.1001");
    assert_eq!(a.error_message(), "Wrong credentials");
    let mut body = h.push_body("254708374149", 10);
    let ts = body["Timestamp"].as_str().unwrap().to_owned();
    body["Password"] = json!(password(SHORTCODE, "my-own-passkey", &ts));
    assert_eq!(h.push(&token, &body).await.status, 200);
}

#[tokio::test]
async fn clients_written_for_real_daraja_work_unchanged() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;
    let ts = eat_timestamp(0);
    // Numbers as JSON numbers, amount as a float, unknown extra fields.
    let body = json!({
        "BusinessShortCode": 174379,
        "Password": password(SHORTCODE, PASSKEY, &ts),
        "Timestamp": ts,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 10.0,
        "PartyA": 254708374149u64,
        "PartyB": 174379,
        "PhoneNumber": 254708374149u64,
        "CallBackURL": h.receiver.url,
        "AccountReference": 12345,
        "TransactionDesc": "Payment",
        "Remarks": "extra",
        "SomethingNew": {"nested": true},
    });
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.warnings().is_empty(), "{:?}", a.warnings());
    let tx = h.settled(&a.checkout_id(), 1).await;
    assert_eq!((tx.amount, tx.reference.as_str()), (10, "12345"));

    // Everything as strings, amount "10.00".
    let mut body = h.push_body("254700000000", 10);
    body["Amount"] = json!("10.00");
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert!(a.warnings().is_empty());
}

#[tokio::test]
async fn uncertain_rules_warn_in_lenient_mode() {
    let h = spawn(fast_config()).await;
    let token = h.token().await;

    // A UTC timestamp (3 h behind EAT), consistent with the Password.
    let mut body = h.push_body("254708374149", 10);
    let utc = eat_timestamp(-3 * 3600);
    body["Timestamp"] = json!(utc);
    body["Password"] = json!(password(SHORTCODE, PASSKEY, &utc));
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let w = a.warnings();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("3 h behind EAT (UTC+3): production may reject this"), "{w:?}");
    h.settled(&a.checkout_id(), 1).await;

    let mut body = h.push_body("254700000000", 10);
    body["Amount"] = json!(10.5);
    body["AccountReference"] = json!("INVOICE-2024-000123");
    body["TransactionDesc"] = json!("Payment for order 123");
    body["CallBackURL"] = json!(format!("{}?mpesa=1", h.receiver.url));
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let w = a.warnings();
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(w.iter().any(|m| m.contains("Amount 10.5 is not a whole number")));
    assert!(w.iter().any(|m| m.contains("at most 12")));
    assert!(w.iter().any(|m| m.contains("at most 13")));
    assert!(w.iter().any(|m| m.contains("forbids")));
    let tx = h.sim.transaction(&a.checkout_id()).unwrap();
    assert_eq!(tx.amount, 10);
    assert_eq!(tx.warnings.len(), 4);

    // Warnings reach the log and the handset page.
    let log = h.get("/sim/api/log?kind=warning").await;
    assert_eq!(log.body.as_array().unwrap().len(), 5);
    let page = h.http.get(format!("{}/sim/handset", h.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("3 h behind EAT"));
}

#[tokio::test]
async fn strict_mode_refuses_what_lenient_mode_warns_about() {
    let h = spawn(SimConfig { strict: true, ..fast_config() }).await;
    let token = h.token().await;
    let utc = eat_timestamp(-3 * 3600);
    let cases: Vec<(Mutation, &str)> = vec![
        (
            Box::new(move |b: &mut Value| {
                b["Timestamp"] = json!(utc);
                b["Password"] = json!(password(SHORTCODE, PASSKEY, &utc));
            }),
            "Bad Request - Invalid Timestamp",
        ),
        (Box::new(|b: &mut Value| b["Amount"] = json!(10.5)), "Bad Request - Invalid Amount"),
        (Box::new(|b: &mut Value| b["Amount"] = json!("10.5")), "Bad Request - Invalid Amount"),
        (
            Box::new(|b: &mut Value| b["AccountReference"] = json!("THIRTEEN-CHAR")),
            "Bad Request - Invalid AccountReference",
        ),
        (
            Box::new(|b: &mut Value| b["TransactionDesc"] = json!("fourteen chars")),
            "Bad Request - Invalid TransactionDesc",
        ),
        (
            Box::new(|b: &mut Value| b["CallBackURL"] = json!("https://shop.example/mpesa/callback")),
            "Bad Request - Invalid CallBackURL",
        ),
    ];
    for (mutate, message) in cases {
        let mut body = h.push_body("254708374149", 10);
        mutate(&mut body);
        let a = h.push(&token, &body).await;
        assert_eq!(a.status, 400, "{message}: {:?}", a.body);
        assert_eq!(a.error_code(), "400.002.02");
        assert_eq!(a.error_message(), message);
    }
    // Exactly 12 / 13 characters and a whole float are fine even in strict mode.
    let mut body = h.push_body("254708374149", 10);
    body["AccountReference"] = json!("TWELVE-CHARS");
    body["TransactionDesc"] = json!("thirteen char");
    body["Amount"] = json!(10.0);
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
}

#[tokio::test]
async fn wrong_party_b_fails_with_2028_and_till_works() {
    let h = spawn(SimConfig { till_number: Some("5551234".into()), ..fast_config() }).await;
    let token = h.token().await;
    // Paybill naming another PartyB: accepted, then 2028.
    let mut body = h.push_body("254708374149", 10);
    body["PartyB"] = json!("600999");
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200);
    let cb = h.callbacks(&a.checkout_id(), 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 2028);
    assert_eq!(h.sim.transaction(&a.checkout_id()).unwrap().decided_by, Decider::ProductAssignment);

    // Buy goods with the shortcode as PartyB: 2028.
    let mut body = h.push_body("254700000000", 10);
    body["TransactionType"] = json!("CustomerBuyGoodsOnline");
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200);
    let cb = h.callbacks(&a.checkout_id(), 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 2028);

    // Buy goods with the till: success.
    let mut body = h.push_body("254708374149", 10);
    body["TransactionType"] = json!("CustomerBuyGoodsOnline");
    body["PartyB"] = json!("5551234");
    let a = h.push(&token, &body).await;
    assert_eq!(a.status, 200);
    let cb = h.callbacks(&a.checkout_id(), 1).await.remove(0);
    assert_eq!(cb["Body"]["stkCallback"]["ResultCode"], 0);
}

#[tokio::test]
async fn receivers_answer_is_recorded() {
    let h = spawn(fast_config()).await;
    h.receiver.status.store(500, std::sync::atomic::Ordering::SeqCst);
    let token = h.token().await;
    let a = h.push(&token, &h.push_body("254708374149", 10)).await;
    let tx = h.settled(&a.checkout_id(), 1).await;
    assert_eq!(tx.callbacks.len(), 1, "no automatic retry");
    assert_eq!(tx.callbacks[0].status, Some(500));
    assert_eq!(tx.callbacks[0].body.as_deref(), Some("receiver says no"));

    // An unreachable receiver is recorded as a transport error.
    let mut body = h.push_body("254700000000", 10);
    body["CallBackURL"] = json!("http://127.0.0.1:9/cb");
    let a = h.push(&token, &body).await;
    let tx = h.settled(&a.checkout_id(), 1).await;
    assert!(tx.callbacks[0].status.is_none());
    assert!(tx.callbacks[0].error.is_some());
}

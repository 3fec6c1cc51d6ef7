//! Real Daraja JSON (tests/fixtures) parses to the right typed values.

mod common;

use common::fixture;
use daraja::callback::{CallbackOutcome, PaymentDetails, StkCallback};
use daraja::{FailureReason, ResultCode, StkPushAccepted};

fn parse(name: &str) -> StkCallback {
    StkCallback::from_slice(fixture(name).as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn paid(cb: &StkCallback) -> &PaymentDetails {
    match &cb.outcome {
        CallbackOutcome::Success(d) => d,
        other => panic!("expected success, got {other:?}"),
    }
}

#[test]
fn success_callback() {
    let cb = parse("callback_success.json");
    assert_eq!(cb.merchant_request_id, "29115-34620561-1");
    assert_eq!(cb.checkout_request_id, "ws_CO_191220191020363925");
    assert!(cb.result_code.is_success());
    assert_eq!(cb.result_desc, "The service request is processed successfully.");
    assert!(cb.is_final());
    let d = paid(&cb);
    assert_eq!(d.amount, Some(1));
    assert_eq!(d.amount_raw.as_deref(), Some("1.0"));
    assert_eq!(d.receipt.as_deref(), Some("NLJ7RT61SV"));
    assert_eq!(d.transaction_date.as_deref(), Some("20191219102115"));
    assert_eq!(d.transaction_time().unwrap().to_string(), "2019-12-19T07:21:15Z");
    assert_eq!(d.phone.as_deref(), Some("254708374149"));
    assert_eq!(d.msisdn().unwrap().as_str(), "254708374149");
    assert_eq!(d.balance, None);
}

#[test]
fn balance_without_value() {
    let cb = parse("callback_success_balance_without_value.json");
    assert_eq!(cb.checkout_request_id, "ws_CO_DMZ_264695293_11032019122104433");
    let d = paid(&cb);
    assert_eq!(d.amount, Some(1));
    assert_eq!(d.receipt.as_deref(), Some("NCB7IYQ6NV"));
    assert_eq!(d.balance, None);
    assert_eq!(d.transaction_date.as_deref(), Some("20190311122123"));
    assert_eq!(d.phone.as_deref(), Some("254722000000"));
}

#[test]
fn items_in_another_order_and_decimal_amount() {
    let cb = parse("callback_success_items_reordered.json");
    let d = paid(&cb);
    assert_eq!(d.amount, Some(800));
    assert_eq!(d.receipt.as_deref(), Some("LGR019G3J2"));
    assert_eq!(d.transaction_date.as_deref(), Some("20170727154800"));
    assert_eq!(d.phone.as_deref(), Some("254712345678"));
}

#[test]
fn string_amount() {
    let cb = parse("callback_success_string_amount.json");
    let d = paid(&cb);
    assert_eq!(d.amount, Some(1));
    assert_eq!(d.amount_raw.as_deref(), Some("1"));
    assert_eq!(d.receipt.as_deref(), Some("SF57XYZ123"));
    assert_eq!(d.balance, None);
}

fn failure(cb: &StkCallback) -> (&ResultCode, &str, FailureReason) {
    match &cb.outcome {
        CallbackOutcome::Failure { code, description, reason } => (code, description, *reason),
        other => panic!("expected failure, got {other:?}"),
    }
}

#[test]
fn failure_callbacks() {
    let cases = [
        ("callback_cancelled.json", 1032, "Request cancelled by user", FailureReason::Cancelled, "cancelled"),
        (
            "callback_cancelled_prefixed_desc.json",
            1032,
            "Request cancelled by user",
            FailureReason::Cancelled,
            "cancelled",
        ),
        ("callback_string_result_code.json", 1032, "Request cancelled by user", FailureReason::Cancelled, "cancelled"),
        (
            "callback_insufficient_funds.json",
            1,
            "The balance is insufficient for the transaction.",
            FailureReason::InsufficientFunds,
            "insufficient_funds",
        ),
        ("callback_timeout.json", 1037, "DS timeout user cannot be reached", FailureReason::Timeout, "timeout"),
        (
            "callback_wrong_pin.json",
            2001,
            "The initiator information is invalid.",
            FailureReason::WrongPin,
            "wrong_pin",
        ),
    ];
    for (name, code, desc, reason, reason_str) in cases {
        let cb = parse(name);
        let (c, d, r) = failure(&cb);
        assert_eq!(c.as_i64(), Some(code), "{name}");
        assert_eq!(cb.result_code, *c);
        assert_eq!(d, desc, "{name}");
        assert_eq!(cb.result_desc, desc, "{name}");
        assert_eq!(r, reason, "{name}");
        assert_eq!(r.as_str(), reason_str, "{name}");
        assert!(!cb.result_code.is_success());
    }
    assert_eq!(parse("callback_cancelled_prefixed_desc.json").raw_result_desc, "[STK_CB - ]Request cancelled by user");
    assert_eq!(parse("callback_wrong_pin.json").raw_result_desc, "[MpesaCB - ]The initiator information is invalid.");
    // Numeric and string result codes compare equal.
    assert_eq!(parse("callback_cancelled.json").result_code, parse("callback_string_result_code.json").result_code);
}

#[test]
fn every_fixture_callback_round_trips_through_to_json() {
    for name in [
        "callback_success.json",
        "callback_success_balance_without_value.json",
        "callback_success_items_reordered.json",
        "callback_success_string_amount.json",
        "callback_cancelled.json",
        "callback_cancelled_prefixed_desc.json",
        "callback_insufficient_funds.json",
        "callback_string_result_code.json",
        "callback_timeout.json",
        "callback_wrong_pin.json",
    ] {
        let cb = parse(name);
        let again = StkCallback::from_slice(&serde_json::to_vec(&cb.to_json()).unwrap()).unwrap();
        assert_eq!(again, cb, "{name}");
    }
}

#[test]
fn odd_callbacks() {
    // Alphanumeric code, non-whole amount, missing metadata, garbage.
    let cb = StkCallback::from_slice(
        br#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":"SFC_IC0003","ResultDesc":"x"}}}"#,
    )
    .unwrap();
    assert_eq!(failure(&cb).2, FailureReason::Error);
    assert_eq!(cb.result_code.as_str(), "SFC_IC0003");

    let cb = StkCallback::from_slice(
        br#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":"0","ResultDesc":"ok",
        "CallbackMetadata":{"Item":[{"Name":"Amount","Value":"1.50"},{"Name":"PhoneNumber","Value":"254708374149"},{"Name":"TransactionDate","Value":"20240605101545"}]}}}}"#,
    )
    .unwrap();
    let d = paid(&cb);
    assert_eq!(d.amount, None);
    assert_eq!(d.amount_raw.as_deref(), Some("1.50"));
    assert_eq!(d.receipt, None);
    assert_eq!(d.phone.as_deref(), Some("254708374149"));
    assert_eq!(d.transaction_date.as_deref(), Some("20240605101545"));

    let cb = StkCallback::from_slice(
        br#"{"Body":{"stkCallback":{"MerchantRequestID":"m","CheckoutRequestID":"c","ResultCode":0,"ResultDesc":"ok"}}}"#,
    )
    .unwrap();
    assert_eq!(paid(&cb).amount, None);

    let cb = StkCallback::from_slice(
        br#"{"Body":{"stkCallback":{"CheckoutRequestID":"c","ResultCode":4999,"ResultDesc":"still processing"}}}"#,
    )
    .unwrap();
    assert!(!cb.is_final());

    for bad in [
        &b"not json"[..],
        br#"{}"#,
        br#"{"Body":{"stkCallback":{"ResultCode":0}}}"#,
        br#"{"Body":{"stkCallback":{"CheckoutRequestID":"c"}}}"#,
        br#"{"Body":{"stkCallback":{"CheckoutRequestID":"c","ResultCode":1.5}}}"#,
        br#"{"Body":{"stkCallback":{"CheckoutRequestID":"c","ResultCode":[1]}}}"#,
    ] {
        assert!(StkCallback::from_slice(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn stk_push_and_query_answers() {
    let a: StkPushAccepted = serde_json::from_str(&fixture("stkpush_ok.json")).unwrap();
    assert_eq!(a.merchant_request_id, "2654-4b64-97ff-b827b542881d3130");
    assert_eq!(a.checkout_request_id, "ws_CO_1007202409152617172396192");
    assert_eq!(a.response_code, "0");
    assert_eq!(a.response_description, "Success. Request accepted for processing");
    // Serializes back in the wire format (the simulator can answer with it).
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["CheckoutRequestID"], "ws_CO_1007202409152617172396192");

    let q: serde_json::Value = serde_json::from_str(&fixture("stkquery_final_cancelled.json")).unwrap();
    let code: ResultCode = serde_json::from_value(q["ResultCode"].clone()).unwrap();
    assert_eq!(code.reason(), FailureReason::Cancelled);
}

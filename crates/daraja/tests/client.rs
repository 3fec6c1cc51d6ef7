//! The client against an in-process mock Daraja.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{fixture, sample_push, ManualClock, Mock, PASSKEY, SHORTCODE};
use daraja::{CachedToken, Client, Config, Environment, Error, InMemoryTokenStore, StkQueryStatus, TokenStore};
use serde_json::{json, Value};

fn decode(b64: &str) -> String {
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_on_cold_cache_make_one_oauth_request() {
    let mock = Mock::start().await;
    // Slow token endpoint: every caller arrives while the first fetch is still in flight.
    *mock.state.oauth_delay.lock().unwrap() = Duration::from_millis(200);
    let client = Client::new(mock.config()).unwrap();
    let push = sample_push();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let client = client.clone();
        let push = push.clone();
        tasks.push(tokio::spawn(async move { client.stk_push(&push).await }));
    }
    for t in tasks {
        t.await.unwrap().expect("push accepted");
    }
    assert_eq!(mock.state.oauth(), 1);
    assert_eq!(client.oauth_requests(), 1);
    assert_eq!(mock.state.pushes_received(), 200);
}

#[tokio::test]
async fn push_sends_what_daraja_expects_paybill() {
    let mock = Mock::start().await;
    let clock = ManualClock::at("2021-06-28T06:24:08Z");
    let client = Client::new(mock.config().with_clock(clock)).unwrap();
    let accepted = client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(accepted.checkout_request_id, "ws_CO_1007202409152617172396192");
    assert_eq!(accepted.merchant_request_id, "2654-4b64-97ff-b827b542881d3130");
    assert_eq!(accepted.response_code, "0");
    assert_eq!(accepted.customer_message, "Success. Request accepted for processing");

    let got = mock.state.pushes.lock().unwrap()[0].clone();
    assert_eq!(got.authorization.as_deref(), Some("Bearer token-1"));
    assert_eq!(got.content_type.as_deref(), Some("application/json"));
    let b = got.body;
    assert_eq!(b["BusinessShortCode"], json!(174379));
    assert_eq!(b["Timestamp"], "20210628092408");
    assert_eq!(decode(b["Password"].as_str().unwrap()), format!("{SHORTCODE}{PASSKEY}20210628092408"));
    assert_eq!(b["TransactionType"], "CustomerPayBillOnline");
    assert_eq!(b["Amount"], json!(800));
    assert_eq!(b["PartyA"], json!(254708374149_u64));
    assert_eq!(b["PartyB"], json!(174379));
    assert_eq!(b["PhoneNumber"], json!(254708374149_u64));
    assert_eq!(b["CallBackURL"], "https://shop.example/cb/4f9c2e");
    assert_eq!(b["AccountReference"], "ORDER-42");
    assert_eq!(b["TransactionDesc"], "Order 42");

    // OAuth used Basic base64(key:secret).
    let basic = mock.state.oauth_auth_headers.lock().unwrap()[0].clone();
    assert_eq!(decode(basic.strip_prefix("Basic ").unwrap()), "test-consumer-key:test-consumer-secret");
}

#[tokio::test]
async fn push_buy_goods_uses_the_till_as_party_b() {
    let mock = Mock::start().await;
    let client = Client::new(mock.config().with_till_number("5678901")).unwrap();
    client.stk_push(&sample_push()).await.unwrap();
    let b = mock.state.pushes.lock().unwrap()[0].body.clone();
    assert_eq!(b["TransactionType"], "CustomerBuyGoodsOnline");
    assert_eq!(b["PartyB"], json!(5678901));
    assert_eq!(b["BusinessShortCode"], json!(174379));
}

/// A client on a manual clock whose OAuth answers `expires_in`, after its first push.
async fn pushed_once_with_token_expiring_in(expires_in: Value) -> (Mock, Arc<ManualClock>, Client) {
    let mock = Mock::start().await;
    *mock.state.expires_in.lock().unwrap() = Some(expires_in);
    let clock = ManualClock::at("2024-01-01T00:00:00Z");
    let client = Client::new(mock.config().with_clock(clock.clone())).unwrap();
    client.stk_push(&sample_push()).await.unwrap();
    (mock, clock, client)
}

#[tokio::test]
async fn token_is_reused_then_refreshed_before_expiry() {
    let (mock, clock, client) = pushed_once_with_token_expiring_in(json!("120")).await;
    clock.advance(59);
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(mock.state.oauth(), 1, "token still fresh at 59 s");
    // expires_in 120 − 60 s margin: stale from 60 s on.
    clock.advance(2);
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(mock.state.oauth(), 2);
    assert_eq!(mock.state.push_authorizations(), ["Bearer token-1", "Bearer token-1", "Bearer token-2"]);
}

#[tokio::test]
async fn token_is_refreshed_after_fifty_minutes_by_default() {
    let (_mock, clock, client) = pushed_once_with_token_expiring_in(json!(3599)).await;
    clock.advance(50 * 60 - 1);
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(client.oauth_requests(), 1);
    clock.advance(1);
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(client.oauth_requests(), 2);
}

#[tokio::test]
async fn invalid_access_token_causes_one_refetch_and_one_retry() {
    let mock = Mock::start().await;
    mock.state.script_push(404, fixture("stkpush_error_invalid_token.json"));
    let client = Client::new(mock.config()).unwrap();
    let accepted = client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(accepted.checkout_request_id, "ws_CO_1007202409152617172396192");
    assert_eq!(mock.state.oauth(), 2);
    assert_eq!(mock.state.pushes_received(), 2);
    assert_eq!(mock.state.push_authorizations(), ["Bearer token-1", "Bearer token-2"]);
    // The new token is cached for the next call.
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(mock.state.oauth(), 2);
}

#[tokio::test]
async fn invalid_access_token_twice_is_an_error_without_more_retries() {
    let mock = Mock::start().await;
    let body = r#"{"requestId":"x","errorCode":"400.003.01","errorMessage":"Invalid Access Token"}"#;
    mock.state.script_push(400, body);
    mock.state.script_push(400, body);
    let client = Client::new(mock.config()).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    assert!(matches!(err, Error::InvalidToken), "{err:?}");
    assert!(err.is_retry_safe());
    assert_eq!(mock.state.pushes_received(), 2);
    assert_eq!(mock.state.oauth(), 2);
}

#[tokio::test]
async fn timeout_after_sending_is_outcome_unknown_and_not_retried() {
    let mock = Mock::start().await;
    *mock.state.push_delay.lock().unwrap() = Duration::from_secs(3);
    let client = Client::new(mock.config().with_timeouts(Duration::from_secs(1), Duration::from_millis(400))).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert!(!err.is_retry_safe());
    assert_eq!(mock.state.pushes_received(), 1);
}

#[tokio::test]
async fn spike_arrest_is_rate_limited() {
    let mock = Mock::start().await;
    mock.state.script_push(500, fixture("stkpush_error_spike_arrest.json"));
    let client = Client::new(mock.config()).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    match &err {
        Error::RateLimited { error_code, message } => {
            assert_eq!(error_code, "500.003.02");
            assert!(message.contains("Spike Arrest"));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.is_retry_safe());
    assert_eq!(mock.state.pushes_received(), 1, "the client does not retry by itself");
}

#[tokio::test]
async fn gateway_fault_envelope_is_understood() {
    let mock = Mock::start().await;
    mock.state.script_push(
        429,
        r#"{"fault":{"faultstring":"Rate limit quota violation. Quota limit exceeded.","detail":{"errorcode":"policies.ratelimit.QuotaViolation"}}}"#,
    );
    mock.state.script_push(
        401,
        r#"{"fault":{"faultstring":"Invalid Access Token","detail":{"errorcode":"keymanagement.service.InvalidAccessToken"}}}"#,
    );
    let client = Client::new(mock.config()).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    assert!(
        matches!(&err, Error::RateLimited { error_code, .. } if error_code == "policies.ratelimit.QuotaViolation"),
        "{err:?}"
    );
    // An invalid-token fault triggers the refresh-and-retry path.
    client.stk_push(&sample_push()).await.unwrap();
    assert_eq!(mock.state.oauth(), 2);
}

#[tokio::test]
async fn daraja_rejections_carry_code_message_and_request_id() {
    let mock = Mock::start().await;
    mock.state.script_push(400, fixture("stkpush_error_invalid_phone.json"));
    mock.state.script_push(400, fixture("stkpush_error_invalid_shortcode.json"));
    mock.state.script_push(500, fixture("stkpush_error_wrong_credentials.json"));
    mock.state.script_push(500, fixture("stkpush_error_subscriber_locked.json"));
    let client = Client::new(mock.config()).unwrap();
    let expect = [
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber", "7071-4170-a0e4-8345632bad441010462"),
        (400, "400.002.02", "Bad Request - Invalid BusinessShortCode", "1c5b-4ba8-815c-ac45c57a3db01495926"),
        (500, "500.001.1001", "Wrong credentials", "29464-48063588-1"),
        (
            500,
            "500.001.1001",
            "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            "93e3-4fd8-a6b1-c2d5e7f80a1b",
        ),
    ];
    for (status, code, msg, rid) in expect {
        let err = client.stk_push(&sample_push()).await.unwrap_err();
        match &err {
            Error::Rejected { http_status, error_code, message, request_id } => {
                assert_eq!(*http_status, status);
                assert_eq!(error_code, code);
                assert_eq!(message, msg);
                assert_eq!(request_id.as_deref(), Some(rid));
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.is_retry_safe());
    }
    assert_eq!(mock.state.oauth(), 1);
}

#[tokio::test]
async fn unexpected_body_gives_a_short_excerpt_without_secrets() {
    let mock = Mock::start().await;
    let long = format!("<html>echo {PASSKEY} {}</html>", "x".repeat(1000));
    mock.state.script_push(502, long);
    let client = Client::new(mock.config()).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    match &err {
        Error::UnexpectedResponse { http_status, excerpt } => {
            assert_eq!(*http_status, 502);
            assert!(excerpt.chars().count() <= 201, "{}", excerpt.len());
            assert!(!excerpt.contains(PASSKEY));
            assert!(excerpt.contains("[redacted]"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(PASSKEY));
}

#[tokio::test]
async fn connection_refused_is_transport_before_send() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url: url::Url = format!("http://127.0.0.1:{port}").parse().unwrap();
    let config = Config::new(Environment::Custom(url.clone()), "k", "s", SHORTCODE, PASSKEY);
    let client = Client::new(config).unwrap();
    // Refused while fetching the token.
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    assert!(matches!(err, Error::TransportBeforeSend { .. }), "{err:?}");
    assert!(err.is_retry_safe());

    // Refused on the push itself (token already cached).
    let store = Arc::new(InMemoryTokenStore::new());
    let now = jiff::Timestamp::now();
    store
        .put(CachedToken {
            access_token: "cached".into(),
            obtained_at: now,
            refresh_at: now + jiff::SignedDuration::from_mins(50),
            expires_at: now + jiff::SignedDuration::from_mins(59),
        })
        .await
        .unwrap();
    let config = Config::new(Environment::Custom(url), "k", "s", SHORTCODE, PASSKEY).with_token_store(store);
    let client = Client::new(config).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    assert!(matches!(err, Error::TransportBeforeSend { .. }), "{err:?}");
    assert_eq!(client.oauth_requests(), 0);
}

#[tokio::test]
async fn oauth_failures() {
    let mock = Mock::start().await;
    *mock.state.oauth_answer.lock().unwrap() = Some((400, fixture("oauth_error_bad_auth.json")));
    let client = Client::new(mock.config()).unwrap();
    let err = client.stk_push(&sample_push()).await.unwrap_err();
    match &err {
        Error::Auth { http_status, error_code, message } => {
            assert_eq!(*http_status, Some(400));
            assert_eq!(error_code.as_deref(), Some("400.008.01"));
            assert_eq!(message, "Invalid Authentication passed");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retry_safe());
    assert_eq!(mock.state.pushes_received(), 0);
    assert!(!err.to_string().contains("test-consumer-secret"));
}

#[tokio::test]
async fn oauth_expiry_as_number_or_string() {
    for body in [fixture("oauth_ok_number_expiry.json"), fixture("oauth_ok_string_expiry.json")] {
        let mock = Mock::start().await;
        *mock.state.oauth_answer.lock().unwrap() = Some((200, body));
        let client = Client::new(mock.config()).unwrap();
        client.stk_push(&sample_push()).await.unwrap();
        client.stk_push(&sample_push()).await.unwrap();
        assert_eq!(client.oauth_requests(), 1);
        let got = mock.state.pushes.lock().unwrap()[1].authorization.clone();
        assert_eq!(got.as_deref(), Some("Bearer c9SQxWWhmdVRlyh0zh8gZDTkubVF"));
    }
}

#[tokio::test]
async fn stk_query_outcomes() {
    let mock = Mock::start().await;
    mock.state.script_query(500, fixture("stkquery_pending_http500.json"));
    mock.state.script_query(200, fixture("stkquery_final_cancelled.json"));
    mock.state.script_query(200, fixture("stkquery_final_success.json"));
    mock.state.script_query(500, fixture("stkpush_error_wrong_credentials.json"));
    mock.state.script_query(500, fixture("stkpush_error_spike_arrest.json"));
    let client = Client::new(mock.config()).unwrap();
    let id = "ws_CO_13012021093521236557";

    assert_eq!(client.stk_query(id).await.unwrap(), StkQueryStatus::Pending);

    match client.stk_query(id).await.unwrap() {
        StkQueryStatus::Final { result_code, result_desc, merchant_request_id, checkout_request_id } => {
            assert_eq!(result_code.as_i64(), Some(1032));
            assert_eq!(result_code.reason(), daraja::FailureReason::Cancelled);
            assert_eq!(result_desc, "Request cancelled by user");
            assert_eq!(merchant_request_id.as_deref(), Some("22205-34066-1"));
            assert_eq!(checkout_request_id, id);
        }
        other => panic!("{other:?}"),
    }
    match client.stk_query(id).await.unwrap() {
        StkQueryStatus::Final { result_code, .. } => assert!(result_code.is_success()),
        other => panic!("{other:?}"),
    }
    let err = client.stk_query(id).await.unwrap_err();
    assert!(
        matches!(&err, Error::Rejected { error_code, message, .. } if error_code == "500.001.1001" && message == "Wrong credentials"),
        "{err:?}"
    );
    assert!(matches!(client.stk_query(id).await.unwrap_err(), Error::RateLimited { .. }));
    assert!(matches!(client.stk_query("  ").await.unwrap_err(), Error::InvalidInput { .. }));
}

#[tokio::test]
async fn bad_inputs_are_refused_before_any_request() {
    let mock = Mock::start().await;
    let client = Client::new(mock.config()).unwrap();
    let mut push = sample_push();
    push.callback_url = "not a url".into();
    let err = client.stk_push(&push).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { field: "callback_url", .. }), "{err:?}");
    assert_eq!(mock.state.oauth(), 0);

    // Production: https only, no forbidden words, no sandbox passkey.
    let prod = |passkey: &str| Config::new(Environment::Production, "k", "s", SHORTCODE, passkey);
    assert!(matches!(Client::new(prod(PASSKEY)).unwrap_err(), Error::InvalidInput { field: "passkey", .. }));
    let client = Client::new(prod("live-passkey")).unwrap();
    for url in ["http://shop.example/cb", "https://shop.example/mpesa/cb"] {
        let mut push = sample_push();
        push.callback_url = url.into();
        assert!(matches!(client.stk_push(&push).await.unwrap_err(), Error::InvalidInput { field: "callback_url", .. }));
    }
    for bad in [
        Config::new(Environment::Sandbox, "k", "s", "12", PASSKEY),
        Config::new(Environment::Sandbox, "", "s", SHORTCODE, PASSKEY),
        Config::new(Environment::Sandbox, "k", "s", SHORTCODE, ""),
        Config::new(Environment::Sandbox, "k", "s", SHORTCODE, PASSKEY).with_till_number("till"),
    ] {
        assert!(matches!(Client::new(bad).unwrap_err(), Error::InvalidInput { .. }));
    }
}

#[tokio::test]
async fn debug_output_never_shows_secrets() {
    let mock = Mock::start().await;
    let client = Client::new(mock.config()).unwrap();
    client.stk_push(&sample_push()).await.unwrap();
    let shown = format!("{client:?} {:?} {:?}", client.config(), client.stk_credentials());
    for secret in [PASSKEY, "test-consumer-key", "test-consumer-secret", "token-1"] {
        assert!(!shown.contains(secret), "{secret} leaked in {shown}");
    }
    let password = daraja::ExposeSecret::expose_secret(&client.stk_credentials().password).to_owned();
    assert!(!shown.contains(&password));
}

/// A store standing in for a database shared by several gateway instances.
#[tokio::test]
async fn token_store_is_shared_between_clients() {
    let mock = Mock::start().await;
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryTokenStore::new());
    let a = Client::new(mock.config().with_token_store(store.clone())).unwrap();
    let b = Client::new(mock.config().with_token_store(store.clone())).unwrap();
    a.stk_push(&sample_push()).await.unwrap();
    b.stk_push(&sample_push()).await.unwrap();
    assert_eq!(mock.state.oauth(), 1);
    assert_eq!(b.oauth_requests(), 0);
    assert!(store.get().await.unwrap().is_some());
}

/// A push answered with a redirect is not followed: following it would re-send the push, with its bearer
/// token, to wherever the `Location` points. The caller gets an error it must not blindly retry.
#[tokio::test]
async fn a_redirected_push_is_not_followed() {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use std::sync::atomic::{AtomicU64, Ordering};

    let elsewhere = Arc::new(AtomicU64::new(0));
    let hits = elsewhere.clone();
    let pushes = Arc::new(AtomicU64::new(0));
    let pushed = pushes.clone();
    let app = axum::Router::new()
        .route(
            "/oauth/v1/generate",
            get(|| async { axum::Json(json!({"access_token": "token-1", "expires_in": "3599"})) }),
        )
        .route(
            "/mpesa/stkpush/v1/processrequest",
            post(move || {
                pushed.fetch_add(1, Ordering::SeqCst);
                async { (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, "/elsewhere")]).into_response() }
            }),
        )
        .route(
            "/elsewhere",
            post(move || {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(serde_json::from_str::<Value>(&fixture("stkpush_ok.json")).unwrap())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = Config::new(
        Environment::Custom(url.parse().unwrap()),
        common::KEY,
        common::SECRET,
        common::SHORTCODE,
        common::PASSKEY,
    );
    let err = Client::new(config).unwrap().stk_push(&sample_push()).await.expect_err("a redirect is no acceptance");
    assert!(matches!(err, Error::UnexpectedResponse { http_status: 307, .. }), "{err:?}");
    assert!(!err.is_retry_safe(), "{err:?}");
    assert_eq!(pushes.load(Ordering::SeqCst), 1, "the push reached Daraja once");
    assert_eq!(elsewhere.load(Ordering::SeqCst), 0, "the redirect was followed");
}

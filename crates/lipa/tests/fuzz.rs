//! Bounded fuzzing on stable Rust: proptest runs of a few thousand cases per parser of outside input —
//! arbitrary bytes and structure-aware mutations of the real Daraja fixtures — and a short HTTP run of
//! random bodies and headers against a running gateway. The property everywhere: no panic, and no 500.
//!
//! `LIPA_FUZZ_CASES` scales the number of cases (default 4000 per target); the whole file stays well under
//! two minutes in CI.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

fn cases() -> u32 {
    std::env::var("LIPA_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(4000)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() }
}

/// The real callback bodies Daraja sends (crates/daraja/tests/fixtures/callback_*.json).
fn fixtures() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../daraja/tests/fixtures");
    let mut out: Vec<Value> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("callback_"))
        .map(|p| serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap())
        .collect();
    assert!(out.len() >= 5, "the Daraja fixtures are there");
    out.sort_by_key(|v| v.to_string());
    out
}

/// A value of any JSON shape, with the awkward ones Daraja-like input has: huge and negative numbers,
/// floats, numeric strings, empty and unicode strings, nesting.
fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 2 { 9 } else { 11 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.gen()),
        2 => json!(rng.gen::<i64>()),
        3 => json!(rng.gen_range(-3i64..300_000)),
        4 => json!(rng.gen::<f64>() * 1e6 - 1e3),
        5 => json!(u64::MAX),
        6 => Value::String(
            ["", "0", "1032", "800.00", "254708374149", "0712 345 678", "ws_CO_1", "€∞\u{0}"][rng.gen_range(0..8)]
                .into(),
        ),
        7 => Value::String((0..rng.gen_range(0..40)).map(|_| rng.gen::<char>()).collect()),
        8 => json!(rng.gen_range(0..99_999_999_999_999u64)),
        9 => Value::Array((0..rng.gen_range(0..4)).map(|_| random_value(rng, depth + 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.gen_range(0..4) {
                let k = ["Name", "Value", "Item", "ResultCode", "amount", "x"][rng.gen_range(0..6)];
                m.insert(k.into(), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// Change one place in the tree: replace a value, drop a key, duplicate or drop an array element, or
/// change a number's type.
fn mutate(v: &mut Value, rng: &mut StdRng, depth: u32) {
    let descend = depth < 8 && rng.gen_bool(0.75);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = &keys[rng.gen_range(0..keys.len())];
            match rng.gen_range(0..10) {
                0 => {
                    m.remove(k);
                }
                1 => {
                    m.insert(k.clone(), random_value(rng, depth));
                }
                _ if descend => mutate(m.get_mut(k).unwrap(), rng, depth + 1),
                _ => {
                    m.insert(k.clone(), random_value(rng, depth));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let i = rng.gen_range(0..a.len());
            match rng.gen_range(0..10) {
                0 => {
                    a.remove(i);
                }
                1 => {
                    let dup = a[i].clone();
                    a.push(dup);
                }
                _ if descend => mutate(&mut a[i], rng, depth + 1),
                _ => a[i] = random_value(rng, depth),
            }
        }
        Value::Number(n) if rng.gen_bool(0.5) => *v = Value::String(n.to_string()),
        _ => *v = random_value(rng, depth),
    }
}

/// A fixture, mutated 1–4 times; sometimes cut short or with bytes flipped after serializing.
fn mutated_fixture(fixtures: &[Value], seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = fixtures[rng.gen_range(0..fixtures.len())].clone();
    for _ in 0..rng.gen_range(1..=4) {
        mutate(&mut v, &mut rng, 0);
    }
    let mut bytes = serde_json::to_vec(&v).unwrap();
    match rng.gen_range(0..10) {
        0 if !bytes.is_empty() => bytes.truncate(rng.gen_range(0..bytes.len())),
        1 if !bytes.is_empty() => {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = rng.gen();
        }
        _ => {}
    }
    bytes
}

/// A merchant API create request with fields of every shape.
fn random_create(seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = json!({"amount": 800, "phone": "0708374149", "reference": "FUZZ-1", "description": "d",
                       "metadata": {"k": "v"}, "return_url": "https://shop.example/x"});
    for _ in 0..rng.gen_range(1..=4) {
        mutate(&mut v, &mut rng, 0);
    }
    serde_json::to_vec(&v).unwrap()
}

fn check_callback(body: &[u8]) {
    let parsed = daraja::callback::StkCallback::from_slice(body);
    let outcome = lipa::payments::callback_outcome(body);
    // An outcome is only ever read from a body that parses.
    assert!(outcome.is_none() || parsed.is_ok());
    if let Some(lipa::domain::Outcome::Succeeded { amount: Some(a), .. }) = outcome {
        assert!(a >= 0, "a negative amount was accepted: {a}");
    }
}

fn check_create(body: &[u8]) {
    match lipa::api::CreatePayment::parse(body).and_then(|c| c.validate(12)) {
        Ok(req) => {
            assert!((1..=250_000).contains(&req.amount), "{req:?}");
            if let Some(p) = &req.phone {
                assert!(p.len() == 12 && p.starts_with("254") && p.bytes().all(|b| b.is_ascii_digit()), "{req:?}");
            }
            // Kept whole up to 64 characters (the account reference Daraja gets is derived when it is stored).
            let r = &req.reference;
            assert!(!r.is_empty() && r.chars().count() <= lipa::api::payments::MAX_REFERENCE, "{req:?}");
            assert!(r.trim() == r && !r.chars().any(char::is_control), "{req:?}");
            assert!(req.metadata.is_object(), "{req:?}");
        }
        // The only error: an Invalid, which the API answers as a 400 naming the field.
        Err(lipa::api::Invalid { code, .. }) => assert!(code.starts_with("invalid_") || code.starts_with("missing_")),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn callbacks_from_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_callback(&body);
    }

    #[test]
    fn callbacks_from_mutated_daraja_fixtures(seed in any::<u64>()) {
        let fixtures = fixtures();
        check_callback(&mutated_fixture(&fixtures, seed));
    }

    #[test]
    fn create_requests_from_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        check_create(&body);
    }

    #[test]
    fn create_requests_with_fields_of_every_shape(seed in any::<u64>()) {
        check_create(&random_create(seed));
    }

    #[test]
    fn msisdn_parsing(input in "\\PC{0,30}", digits in "[+0-9 ()-]{0,20}") {
        for s in [input.as_str(), digits.as_str()] {
            if let Ok(m) = daraja::Msisdn::parse(s) {
                let n = m.as_str();
                prop_assert!(n.len() == 12 && (n.starts_with("2547") || n.starts_with("2541")), "{s:?} -> {n}");
                prop_assert_eq!(daraja::Msisdn::parse(n).unwrap(), m.clone());
            }
        }
    }

    #[test]
    fn webhook_signature_header(header in "\\PC{0,120}", body in proptest::collection::vec(any::<u8>(), 0..200),
                                t in 0i64..4_000_000_000, flip in any::<usize>()) {
        let tolerance = Duration::from_secs(300);
        // Arbitrary headers never panic and are never accepted by chance.
        prop_assert!(lipa::webhook::verify("whsec_fuzz", &header, &body, t, tolerance).is_err());
        // A real signature verifies; any single changed character of it does not.
        let good = lipa::webhook::sign("whsec_fuzz", t, &body);
        prop_assert!(lipa::webhook::verify("whsec_fuzz", &good, &body, t, tolerance).is_ok());
        let mut bad: Vec<char> = good.chars().collect();
        let i = flip % bad.len();
        bad[i] = if bad[i] == '0' { '1' } else { '0' };
        let bad: String = bad.into_iter().collect();
        if bad != good {
            prop_assert!(lipa::webhook::verify("whsec_fuzz", &bad, &body, t, tolerance).is_err(), "{}", bad);
        }
        prop_assert!(lipa::webhook::verify("whsec_other", &good, &body, t, tolerance).is_err());
    }
}

/// Random bodies and headers against a running gateway: `POST /v1/payments` and
/// `POST /callbacks/stk/{secret}` (a real payment's secret and made-up ones). Never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_never_answers_500() {
    let app = common::spawn_with(&common::Backend::Sqlite, &[("LIPA_SIM_RESULT_DELAY", "5s")]).await;
    let fixtures = fixtures();
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "FUZZ-REAL"})).await;
    let real = app.callback_path(p["id"].as_str().unwrap()).await;
    let rounds = (cases() / 4).max(50);
    let mut rng = StdRng::seed_from_u64(std::env::var("LIPA_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(8));
    let content_types =
        ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=utf-16"];
    let mut seen = std::collections::BTreeMap::<u16, u32>::new();
    for i in 0..rounds {
        let seed: u64 = rng.gen();
        let (path, body) = match i % 4 {
            0 => ("/v1/payments".to_string(), random_create(seed)),
            1 => ("/v1/payments".to_string(), (0..rng.gen_range(0..300)).map(|_| rng.gen()).collect()),
            2 => (real.clone(), mutated_fixture(&fixtures, seed)),
            _ => {
                let secret: String =
                    (0..rng.gen_range(1..70)).map(|_| rng.sample(rand::distributions::Alphanumeric) as char).collect();
                (format!("/callbacks/stk/{secret}"), mutated_fixture(&fixtures, seed))
            }
        };
        let mut req = app.http.post(format!("{}{path}", app.url)).body(body.clone());
        let ct = content_types[rng.gen_range(0..content_types.len())];
        if !ct.is_empty() {
            req = req.header("content-type", ct);
        }
        match rng.gen_range(0..6) {
            0 => {}
            1 => req = req.header("authorization", "Bearer lipa_sk_wrong"),
            2 => req = req.header("authorization", format!("Basic {}", "x".repeat(rng.gen_range(0..300)))),
            _ => req = req.bearer_auth(&app.key),
        }
        if rng.gen_bool(0.3) {
            let key: String = (0..rng.gen_range(0..300)).map(|_| char::from(rng.gen_range(0x20u8..0x7f))).collect();
            req = req.header("idempotency-key", key);
        }
        if rng.gen_bool(0.2) {
            req = req.header("x-forwarded-for", "not-an-ip, 1.2.3.4");
        }
        let r = req.send().await.expect("the gateway answers");
        let status = r.status().as_u16();
        *seen.entry(status).or_default() += 1;
        let text = r.text().await.unwrap_or_default();
        assert!(status < 500, "{path} answered {status} to {:?}: {text}", String::from_utf8_lossy(&body));
        if path.starts_with("/callbacks/") && status == 200 {
            assert_eq!(text, r#"{"ResultCode":0,"ResultDesc":"Accepted"}"#);
        }
    }
    eprintln!("{rounds} requests, statuses: {seen:?}");
    assert!(
        seen.contains_key(&201) && seen.contains_key(&400) && seen.contains_key(&200),
        "the run reached the handlers: {seen:?}"
    );
    // The gateway is still well.
    assert_eq!(app.get("/v1/payments?limit=1").await.0, 200);
    app.stop().await;
}

//! Security and operations over HTTP against the real gateway: abuse limits (API key, checkout per IP,
//! per phone, cooldown) with 429 + Retry-After, body limits on every route, the callback source allowlist
//! (with and without trusted proxies), confirm-success-by-query, `/metrics` counting what a run did, and
//! `/readyz` naming each check.

mod common;

use std::time::Duration;

use common::{no_redirects, poll, spawn_with, success_callback, Backend, TestApp};
use serde_json::{json, Value};

/// A payment without a phone, and the checkout form's answer for `phone`.
async fn checkout_submit(app: &TestApp, reference: &str, phone: &str) -> (Value, reqwest::Response) {
    let p = app.create(json!({"amount": 100, "reference": reference})).await;
    let id = p["id"].as_str().unwrap().to_string();
    let r = no_redirects().post(format!("{}/pay/{id}/phone", app.url)).form(&[("phone", phone)]).send().await.unwrap();
    (p, r)
}

async fn payment(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/payments/{id}")).await.1
}

async fn log_of(app: &TestApp, id: &str) -> String {
    let log = app.gw.state.store.payment_log(id).await.unwrap();
    log.iter().map(|e| format!("{} {}\n", e.kind, e.detail)).collect()
}

async fn api_key_rate_limit_answers_429_with_retry_after(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_RATE_LIMIT_API", "3")]).await;
    for _ in 0..3 {
        assert_eq!(app.get("/v1/payments").await.0, 200);
    }
    let r = app.http.get(format!("{}/v1/payments", app.url)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // Creating is limited too, and no push goes out for a refused request.
    let (status, _) =
        app.post("/v1/payments", &json!({"amount": 10, "phone": "0708374149", "reference": "RL-1"})).await;
    assert_eq!(status, 429);
    assert!(app.sim().transactions().is_empty());
    // Another key has its own bucket.
    let other = lipa::startup::create_api_key(app.gw.state.store.as_ref(), "other").await.unwrap();
    let r = app.http.get(format!("{}/v1/payments", app.url)).bearer_auth(&other).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lipa_rate_limited_total{limit=\"api_key\"} 2"), "{metrics}");
    app.stop().await;
}
each_backend!(api_key_rate_limit_answers_429_with_retry_after);

#[tokio::test]
async fn default_api_limit_is_off() {
    let app = spawn_with(&common::Backend::Sqlite, &[]).await;
    for _ in 0..200 {
        assert_eq!(app.get("/v1/payments?limit=1").await.0, 200);
    }
    app.stop().await;
}

#[tokio::test]
async fn checkout_cannot_spam_a_phone() {
    let backend = common::Backend::Sqlite;
    // Per-phone cooldown.
    let app = spawn_with(&backend, &[("LIPA_CHECKOUT_PHONE_COOLDOWN", "60s")]).await;
    let (_, r) = checkout_submit(&app, "CD-1", "0700001032").await;
    assert_eq!(r.status().as_u16(), 303, "the first prompt goes out");
    let (p, r) = checkout_submit(&app, "CD-2", "0700 001 032").await;
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "Retry-After {retry}");
    let html = r.text().await.unwrap();
    assert!(html.contains("Too many payment requests"), "{html}");
    let refused = payment(&app, p["id"].as_str().unwrap()).await;
    assert_eq!((refused["status"].as_str(), refused["phone"].as_str()), (Some("pending"), None), "no push: {refused}");
    assert_eq!(app.sim().transactions().len(), 1, "one prompt only");
    // Another phone is not held back by this one's cooldown.
    assert_eq!(checkout_submit(&app, "CD-3", "0700000001").await.1.status().as_u16(), 303);
    app.stop().await;

    // Per-phone limit per hour.
    let app =
        spawn_with(&backend, &[("LIPA_CHECKOUT_PHONE_COOLDOWN", "off"), ("LIPA_CHECKOUT_PHONE_LIMIT", "2")]).await;
    for i in 0..2 {
        assert_eq!(checkout_submit(&app, &format!("PH-{i}"), "0700001032").await.1.status().as_u16(), 303);
    }
    let (_, r) = checkout_submit(&app, "PH-3", "0700001032").await;
    assert_eq!(r.status().as_u16(), 429, "the third prompt in an hour to one phone");
    assert_eq!(app.sim().transactions().len(), 2);
    app.stop().await;

    // Per-IP limit per minute, across phones.
    let app = spawn_with(&backend, &[("LIPA_CHECKOUT_PHONE_COOLDOWN", "off"), ("LIPA_CHECKOUT_IP_LIMIT", "2")]).await;
    assert_eq!(checkout_submit(&app, "IP-1", "0700001032").await.1.status().as_u16(), 303);
    assert_eq!(checkout_submit(&app, "IP-2", "0700000001").await.1.status().as_u16(), 303);
    let (_, r) = checkout_submit(&app, "IP-3", "0700002001").await;
    assert_eq!(r.status().as_u16(), 429, "the third submission from one IP in a minute");
    assert_eq!(app.sim().transactions().len(), 2);
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lipa_rate_limited_total{limit=\"checkout_ip\"} 1"), "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_refused_everywhere() {
    let app = spawn_with(&common::Backend::Sqlite, &[]).await;
    let p = app.create(json!({"amount": 100, "reference": "BIG-1"})).await;
    let id = p["id"].as_str().unwrap();
    let big = vec![b'a'; 100 * 1024];
    let paths = [
        "/v1/payments".to_string(),
        "/v1/events/evt_x/redeliver".to_string(),
        "/callbacks/stk/0123456789abcdef0123456789abcdef".to_string(),
        format!("/pay/{id}/phone"),
        format!("/pay/{id}/retry"),
        "/mpesa/stkpush/v1/processrequest".to_string(),
        "/mpesa/stkpushquery/v1/query".to_string(),
        "/sim/api/faults".to_string(),
        "/sim/api/transactions/ws_CO_x/complete".to_string(),
        "/admin/login".to_string(),
    ];
    for path in paths {
        for content_type in ["application/json", "application/x-www-form-urlencoded"] {
            let r = no_redirects()
                .post(format!("{}{path}", app.url))
                .bearer_auth(&app.key)
                .header("content-type", content_type)
                .body(big.clone())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            assert!(status < 500, "{path} ({content_type}) answered {status} to a 100 KiB body");
            assert_ne!(status / 100, 2, "{path} ({content_type}) accepted a 100 KiB body");
        }
    }
    let (status, body) = app.post_raw("/v1/payments", big.clone(), &[]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("body_too_large")));
    app.stop().await;
}

async fn callbacks_from_outside_the_allowlist_are_kept_but_never_applied(backend: Backend) {
    // Tests connect from 127.0.0.1, which is not allowed here.
    let app = spawn_with(&backend, &[("LIPA_CALLBACK_ALLOWLIST", "196.201.214.0/24, 10.9.9.9")]).await;
    // A handset number: the simulator waits for a person, so only our forged callback arrives.
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "AL-1"})).await;
    let id = p["id"].as_str().unwrap();
    let checkout = p["checkout_request_id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let forged = success_callback(checkout, 800, "254712345678", "FORGED0001");
    let (status, body) = app.post_raw(&path, serde_json::to_vec(&forged).unwrap(), &[]).await;
    assert_eq!((status, body), (200, json!({"ResultCode": 0, "ResultDesc": "Accepted"})), "answered like any other");
    // Even claiming to be Safaricom through X-Forwarded-For does not help: 127.0.0.1 is no trusted proxy.
    let (status, _) =
        app.post_raw(&path, serde_json::to_vec(&forged).unwrap(), &[("x-forwarded-for", "196.201.214.200")]).await;
    assert_eq!(status, 200);
    let now = payment(&app, id).await;
    assert_eq!((now["status"].as_str(), now["mpesa_receipt"].as_str()), (Some("pending"), None), "{now}");
    let log = log_of(&app, id).await;
    assert_eq!(
        log.matches("rejected, not applied: source 127.0.0.1 is not in LIPA_CALLBACK_ALLOWLIST").count(),
        2,
        "{log}"
    );
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("lipa_callbacks_total{result=\"rejected\"} 2"), "{metrics}");
    app.stop().await;

    // Behind a trusted proxy, the forwarded address decides.
    let app = spawn_with(
        &backend,
        &[("LIPA_CALLBACK_ALLOWLIST", "196.201.214.0/24"), ("LIPA_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
    .await;
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "AL-2"})).await;
    let id = p["id"].as_str().unwrap();
    let checkout = p["checkout_request_id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let body = serde_json::to_vec(&success_callback(checkout, 800, "254712345678", "TKS0000001")).unwrap();
    assert_eq!(app.post_raw(&path, body.clone(), &[("x-forwarded-for", "6.6.6.6")]).await.0, 200);
    assert_eq!(payment(&app, id).await["status"], "pending", "a stranger behind the proxy is refused");
    // The client may prepend anything; the address the trusted proxy saw (the rightmost) counts.
    let (status, _) = app.post_raw(&path, body, &[("x-forwarded-for", "6.6.6.6, 196.201.214.200")]).await;
    assert_eq!(status, 200);
    let paid = payment(&app, id).await;
    assert_eq!((paid["status"].as_str(), paid["mpesa_receipt"].as_str()), (Some("succeeded"), Some("TKS0000001")));
    app.stop().await;
}
each_backend!(callbacks_from_outside_the_allowlist_are_kept_but_never_applied);

/// The money-out answer endpoints (`/callbacks/result/…`, `/callbacks/timeout/…`) ask the allowlist too: a
/// payout's real result, posted from outside it, is acknowledged like any other and never applied or kept;
/// the same body through a trusted proxy from an allowed address settles the payout.
async fn money_out_answers_from_outside_the_allowlist_are_never_applied(backend: Backend) {
    for trusted in [false, true] {
        let mut env = vec![("LIPA_CALLBACK_ALLOWLIST", "196.201.214.0/24")];
        if trusted {
            env.push(("LIPA_TRUSTED_PROXIES", "127.0.0.1/32"));
        }
        let app = spawn_with(&backend, &env).await;
        // The simulator decides the payout but never delivers its result: only ours arrives.
        app.sim().set_faults(daraja_sim::Faults { drop_callback: 1.0, ..daraja_sim::Faults::default() });
        let (status, p) = app.post("/v1/payouts", &json!({"amount": 150, "phone": "0712345678"})).await;
        assert_eq!(status, 201, "{p}");
        let id = p["id"].as_str().unwrap().to_string();
        let result = poll(Duration::from_secs(10), || async { app.sim().money_out_request(&id)?.result_payload })
            .await
            .expect("the simulator decides the payout");
        let m = app.gw.state.store.get_money_out(&id).await.unwrap().unwrap();
        let body = serde_json::to_vec(&result).unwrap();
        let from = [("x-forwarded-for", "196.201.214.200")];
        for path in ["timeout", "result"] {
            let url = format!("/callbacks/{path}/{}", m.callback_secret.as_str());
            let (status, ack) = app.post_raw(&url, body.clone(), &from).await;
            assert_eq!((status, ack), (200, json!({"ResultCode": 0, "ResultDesc": "Accepted"})), "{path}");
        }
        let kept = app.gw.state.store.money_out_results(&id).await.unwrap();
        let (_, now) = app.get(&format!("/v1/payouts/{id}")).await;
        if trusted {
            assert_eq!(now["status"], "succeeded", "through the trusted proxy, from Safaricom's range: {now}");
            assert_eq!(kept.len(), 2, "both answers kept");
        } else {
            assert_eq!(now["status"], "pending", "127.0.0.1 is outside the allowlist and no proxy: {now}");
            assert!(kept.is_empty(), "a refused answer is not kept: {}", kept.len());
        }
        app.stop().await;
    }
}
each_backend!(money_out_answers_from_outside_the_allowlist_are_never_applied);

async fn confirm_by_query_keeps_the_receipt_and_waits_for_stk_query(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_CONFIRM_SUCCESS_BY_QUERY", "on")]).await;
    // The real loop: the simulator's success callback, then lipa's STK Query confirms it.
    let p = app.create(json!({"amount": 800, "phone": "0708374149", "reference": "CQ-1"})).await;
    let id = p["id"].as_str().unwrap();
    let paid = app.settled(id).await;
    assert_eq!(paid["status"], "succeeded", "{paid}");
    let receipt = app.sim().transactions()[0].receipt.clone().expect("the simulator issued a receipt");
    assert_eq!(paid["mpesa_receipt"].as_str(), Some(receipt.as_str()), "the callback's receipt is kept");
    let log = log_of(&app, id).await;
    let asked = log.find("STK Query is asked to confirm").expect(&log);
    let confirmed = log.find("query final: 0").expect(&log);
    assert!(asked < confirmed, "{log}");
    assert_eq!(app.events_for(id).await.len(), 1, "one event, for the confirmed success");

    // A forged success for a prompt the customer has not answered settles nothing...
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "CQ-2"})).await;
    let id = p["id"].as_str().unwrap();
    let checkout = p["checkout_request_id"].as_str().unwrap().to_string();
    let path = app.callback_path(id).await;
    let forged = success_callback(&checkout, 800, "254712345678", "FORGED0002");
    assert_eq!(app.post_raw(&path, serde_json::to_vec(&forged).unwrap(), &[]).await.0, 200);
    let asked =
        poll(Duration::from_secs(15), || async { log_of(&app, id).await.contains("being processed").then_some(()) })
            .await;
    assert!(asked.is_some(), "STK Query was asked: {}", log_of(&app, id).await);
    let now = payment(&app, id).await;
    assert_eq!((now["status"].as_str(), now["mpesa_receipt"].as_str()), (Some("pending"), Some("FORGED0002")));
    // ...and when the customer then cancels, the reported success was a lie: a person must look.
    app.sim().complete(&checkout, 1032).unwrap();
    let end = app.settled(id).await;
    assert_eq!(end["status"], "needs_review", "{end}");
    assert!(end["review_reason"].as_str().unwrap().contains("not confirmed"), "{end}");
    app.stop().await;
}
each_backend!(confirm_by_query_keeps_the_receipt_and_waits_for_stk_query);

/// Prometheus text: the value of one sample line, e.g. `lipa_payments{status="succeeded"}`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

async fn metrics_show_the_counts_of_a_run(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_METRICS_TOKEN", "metrics-token-for-tests")]).await;
    let unauth = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap();
    assert_eq!(unauth.status().as_u16(), 401);
    let scrape = || async {
        let r =
            app.http.get(format!("{}/metrics", app.url)).bearer_auth("metrics-token-for-tests").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        r.text().await.unwrap()
    };
    // 3 paid, 2 cancelled, 1 refused by Daraja (spike arrest on every try), 1 bad request.
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.create(json!({"amount": 10, "phone": "0708374149", "reference": format!("M-OK-{i}")})).await);
    }
    for i in 0..2 {
        ids.push(app.create(json!({"amount": 10, "phone": "0700001032", "reference": format!("M-NO-{i}")})).await);
    }
    for p in &ids {
        app.settled(p["id"].as_str().unwrap()).await;
    }
    app.sim().set_faults(daraja_sim::Faults { spike_arrest: 1.0, ..Default::default() });
    let refused = app.create(json!({"amount": 10, "phone": "0708374149", "reference": "M-RL"})).await;
    assert_eq!(refused["status"], "failed");
    app.sim().set_faults(daraja_sim::Faults::default());
    assert_eq!(app.post("/v1/payments", &json!({"amount": 0, "reference": "M-BAD"})).await.0, 400);

    let text = scrape().await;
    assert_eq!(sample(&text, "lipa_payments{status=\"succeeded\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "lipa_payments{status=\"failed\"}"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "lipa_payments{status=\"pending\"}"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "lipa_http_requests_total{route=\"/v1/payments\",method=\"POST\",status=\"201\"}"),
        Some(6.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "lipa_http_requests_total{route=\"/v1/payments\",method=\"POST\",status=\"400\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "lipa_http_requests_total{route=\"/callbacks/stk/{secret}\",method=\"POST\",status=\"200\"}"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(sample(&text, "lipa_daraja_errors_total{operation=\"push\",code=\"500.003.02\"}"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "lipa_callbacks_total{result=\"applied\"}"), Some(5.0), "{text}");
    assert_eq!(sample(&text, "lipa_callback_settle_seconds_count"), Some(5.0), "{text}");
    assert_eq!(sample(&text, "lipa_payment_settle_seconds_count{source=\"callback\"}"), Some(5.0), "{text}");
    assert_eq!(sample(&text, "lipa_payment_settle_seconds_count{source=\"push\"}"), Some(1.0), "{text}");
    let tokens = sample(&text, "lipa_daraja_token_requests_total").unwrap();
    assert_eq!(tokens, app.gw.state.daraja.oauth_requests() as f64);
    assert!(tokens >= 1.0);
    assert_eq!(sample(&text, "lipa_reconcile_due"), Some(0.0), "{text}");
    // No webhook URL here: the six events wait in the outbox.
    assert_eq!(sample(&text, "lipa_webhook_queue"), Some(6.0), "{text}");
    assert_eq!(sample(&text, "lipa_webhook_gave_up"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "lipa_database_up"), Some(1.0), "{text}");
    // No raw ids in labels: routes are patterns.
    assert!(!text.contains("pay_"), "{text}");

    let ready: Value = app.http.get(format!("{}/readyz", app.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!((ready["database"].as_str(), ready["daraja_token"].as_str()), (Some("ok"), Some("ok")), "{ready}");
    app.stop().await;
}
each_backend!(metrics_show_the_counts_of_a_run);

/// Issue 15.1: a client's method or path never becomes a label. 300 requests with 100 KB random methods
/// (answered 405/404) and random paths leave `/metrics` the size it was, give or take the new `other` lines.
#[tokio::test]
async fn random_methods_and_paths_do_not_grow_metrics() {
    let app = spawn_with(&common::Backend::Sqlite, &[]).await;
    let scrape = || async { app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap() };
    // Every series the loop below can make, once, so that the second scrape has nothing new to add.
    let warm = reqwest::Method::from_bytes(b"WARMUP").unwrap();
    for path in ["/v1/payments", "/no-such-page"] {
        let r = app.http.request(warm.clone(), format!("{}{path}", app.url)).send().await.unwrap();
        assert!(r.status().is_client_error());
    }
    let before = scrape().await;
    let mut statuses = std::collections::BTreeSet::new();
    for i in 0..300 {
        let random: String =
            (0..100 * 1024).map(|_| (b'A' + rand::random::<u8>() % 26) as char).collect::<String>() + &i.to_string();
        let method = reqwest::Method::from_bytes(random.as_bytes()).unwrap();
        let path = if i % 2 == 0 { "/v1/payments".to_string() } else { format!("/no-such-page-{i}-{}", &random[..40]) };
        match app.http.request(method, format!("{}{path}", app.url)).send().await {
            Ok(r) => {
                statuses.insert(r.status().as_u16());
            }
            // The server may refuse such a request line outright; that is fine too.
            Err(_) => {
                statuses.insert(0);
            }
        }
    }
    let after = scrape().await;
    let grown = after.len() as i64 - before.len() as i64;
    assert!(grown < 200, "/metrics grew by {grown} bytes ({statuses:?}):\n{after}");
    assert!(!after.contains("AAAA") && !after.contains("no-such-page"), "{after}");
    assert!(after.contains("method=\"other\""), "{after}");
    app.stop().await;
}

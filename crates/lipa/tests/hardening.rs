//! Issue 15, "what a hostile client can still do to a running lipa": one test per finding, against the real
//! gateway over real sockets, on SQLite and (with `LIPA_TEST_POSTGRES_URL`) PostgreSQL where a database
//! is involved.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lipa::domain::{Outcome, Source};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes the callbacks table holds for unknown secrets, and how many such rows there are.
async fn stray_storage(app: &TestApp) -> (i64, i64) {
    let q = "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(LENGTH(raw_body)), 0) AS BIGINT) FROM callbacks \
             WHERE payment_id IS NULL";
    let url = app.gw.state.cfg.database_url.clone();
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let r: (i64, i64) = sqlx::query_as(q).fetch_one(&pool).await.unwrap();
        pool.close().await;
        r
    } else {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let r: (i64, i64) = sqlx::query_as(q).fetch_one(&pool).await.unwrap();
        pool.close().await;
        r
    }
}

async fn flood_unknown_callbacks(app: &TestApp, n: usize, size: usize) -> usize {
    let body = Arc::new(vec![b'x'; size]);
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let (http, url, body, ok) = (app.http.clone(), app.url.clone(), body.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            for i in (worker..n).step_by(16) {
                let secret = hex::encode(rand::random::<[u8; 16]>());
                let r = http
                    .post(format!("{url}/callbacks/stk/{secret}{i}"))
                    .header("content-type", "application/json")
                    .body(body.as_ref().clone())
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    ok.load(Ordering::Relaxed)
}

/// Item 2: 300 POSTs of 64 KiB to unknown secrets stored 19 MB; now a bounded, truncated record is kept
/// (with and without an allowlist), while a real callback is still committed before it is acknowledged.
async fn callbacks_for_unknown_secrets_cannot_fill_the_database(backend: Backend) {
    for allowlist in [None, Some("10.0.0.0/8")] {
        let extra: Vec<(&str, &str)> = allowlist.map(|a| ("LIPA_CALLBACK_ALLOWLIST", a)).into_iter().collect();
        let app = spawn_with(&backend, &extra).await;
        let acked = flood_unknown_callbacks(&app, 300, 64 * 1024 - 64).await;
        assert_eq!(acked, 300, "every one is acknowledged like any callback (the sender learns nothing)");
        let (rows, bytes) = stray_storage(&app).await;
        assert!(rows > 0, "a record of strangers' callbacks is kept");
        assert!(
            bytes <= 300 * lipa::store::upkeep::STRAY_BODY_MAX as i64,
            "{} allowlist={allowlist:?}: {bytes} bytes kept for 300 unknown callbacks of 64 KiB",
            backend.name()
        );
        // A real callback still settles its payment (no allowlist: applied; allowlist: kept, not applied).
        let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "REAL"})).await;
        let id = p["id"].as_str().unwrap();
        let path = app.callback_path(id).await;
        let body = success_callback(p["checkout_request_id"].as_str().unwrap(), 800, "254712345678", "NLJ7RT61SV");
        let (status, _) = app.post(&path, &body).await;
        assert_eq!(status, 200);
        let log = app.gw.state.store.payment_log(id).await.unwrap();
        assert!(log.iter().any(|e| e.kind == "callback"), "the real callback was committed: {log:?}");
        if allowlist.is_none() {
            assert_eq!(app.settled(id).await["status"], "succeeded");
        } else {
            let (_, now) = app.get(&format!("/v1/payments/{id}")).await;
            assert_eq!(now["status"], "pending", "a callback from outside the allowlist is never applied: {now}");
        }
        app.stop().await;
    }
}
each_backend!(callbacks_for_unknown_secrets_cannot_fill_the_database);

/// Item 2, the count bound: more unknown callbacks than the record keeps leave only the newest.
async fn the_record_of_unknown_callbacks_keeps_only_the_newest(backend: Backend) {
    let app = spawn(&backend).await;
    let n = lipa::store::upkeep::STRAY_KEEP as usize + 200;
    // Straight to the store, in batches as the callback writer makes them.
    let batch: Vec<lipa::store::CallbackIn> = (0..n)
        .map(|i| lipa::store::CallbackIn {
            secret: format!("stranger{i}").into(),
            raw_body: vec![b'y'; 10],
            outcome: None,
            now: lipa::app::now_ms(),
        })
        .collect();
    for chunk in batch.chunks(100) {
        app.gw.state.store.record_callbacks(chunk).await.unwrap();
    }
    let (rows, _) = stray_storage(&app).await;
    assert!(rows <= lipa::store::upkeep::STRAY_KEEP + 100, "{}: {rows} rows kept", backend.name());
    assert!(rows >= lipa::store::upkeep::STRAY_KEEP - 1, "{}: {rows} rows kept", backend.name());
    app.stop().await;
}
each_backend!(the_record_of_unknown_callbacks_keeps_only_the_newest);

/// Item 2, retention: raw bodies older than LIPA_CALLBACK_RETENTION are deleted by the upkeep pass; the
/// payment keeps its history line, and strangers' callbacks go altogether.
async fn raw_callback_bodies_are_deleted_after_the_retention_time(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_CALLBACK_RETENTION", "30d")]).await;
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "KEEP"})).await;
    let id = p["id"].as_str().unwrap();
    let path = app.callback_path(id).await;
    let body = success_callback(p["checkout_request_id"].as_str().unwrap(), 800, "254712345678", "NLJ7RT61SV");
    assert_eq!(app.post(&path, &body).await.0, 200);
    assert_eq!(app.post("/callbacks/stk/0123456789abcdef", &json!({"x": 1})).await.0, 200);
    assert_eq!(app.settled(id).await["status"], "succeeded");

    let now = lipa::app::now_ms();
    let early = lipa::jobs::upkeep::sweep(&app.gw.state, now + 29 * 86_400_000).await.unwrap();
    assert_eq!(early.callback_bodies, 0, "nothing is old enough yet");
    let swept = lipa::jobs::upkeep::sweep(&app.gw.state, now + 31 * 86_400_000).await.unwrap();
    assert_eq!(swept.callback_bodies, 2, "{swept:?}");
    assert_eq!(stray_storage(&app).await.0, 0, "strangers' callbacks are gone");
    let log = app.gw.state.store.payment_log(id).await.unwrap();
    let line = log.iter().find(|e| e.kind == "callback").expect("the history keeps its callback line");
    assert!(line.detail.contains("LIPA_CALLBACK_RETENTION"), "{line:?}");
    assert!(!line.detail.contains("NLJ7RT61SV"), "the body is gone: {line:?}");
    assert_eq!(app.get(&format!("/v1/payments/{id}")).await.1["mpesa_receipt"], "NLJ7RT61SV");
    app.stop().await;
}
each_backend!(raw_callback_bodies_are_deleted_after_the_retention_time);

/// Read until the server closes the connection; how long that took (None: still open at `within`).
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(start.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Item 3: a client sending its headers a byte at a time, an idle keep-alive connection and a slow body
/// are all cut off; with every connection slot held, /healthz waits for a slot and is answered.
#[tokio::test]
async fn slow_and_idle_clients_are_cut_off() {
    let app = spawn_with(
        &Backend::Sqlite,
        &[
            ("LIPA_HEADER_TIMEOUT", "1s"),
            ("LIPA_IDLE_TIMEOUT", "1500ms"),
            ("LIPA_BODY_TIMEOUT", "1s"),
            ("LIPA_MAX_CONNECTIONS", "8"),
        ],
    )
    .await;
    let addr = app.gw.addr;

    // Headers a byte at a time, one byte every 100 ms, never finishing.
    let dribbler = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle().take(200) {
            if s.write_all(&[*b]).await.is_err() {
                return Some(start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            // A closed socket shows as a read of 0 bytes.
            let mut probe = [0u8; 64];
            if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut probe)).await {
                return Some(start.elapsed());
            }
        }
        None
    });
    let took = dribbler.await.unwrap().expect("a client dribbling its headers is cut off");
    assert!(took < Duration::from_secs(4), "cut off after {took:?}");

    // An idle keep-alive connection is closed.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"), "answered first");
    let idle = closed_within(&mut s, Duration::from_secs(6)).await.expect("an idle connection is closed");
    assert!(idle >= Duration::from_millis(700), "not before its time: {idle:?}");

    // A body that never finishes.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /callbacks/stk/abc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        .await
        .unwrap();
    assert!(closed_within(&mut s, Duration::from_secs(5)).await.is_some(), "a slow body is cut off");

    // Every slot held by a silent connection: /healthz waits for one to free, then is answered.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let r = reqwest::Client::new().get(format!("{}/healthz", app.url)).timeout(Duration::from_secs(10)).send().await;
    assert_eq!(r.expect("answered once a slot frees").status(), 200);
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "the cap held it back ({waited:?})");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    drop(held);
    app.stop().await;
}

/// Item 4: wrong passwords are limited per client and globally, answered 429 with Retry-After.
#[tokio::test]
async fn admin_login_attempts_are_limited() {
    let app = spawn_with(
        &Backend::Sqlite,
        &[("LIPA_ADMIN_PASSWORD", "hardening-admin-pw"), ("LIPA_ADMIN_LOGIN_IP_LIMIT", "3")],
    )
    .await;
    // 3 a minute is one more every 20 s: on a slow machine (each wrong password is a full hash) a token may
    // come back while the three are tried, so the limit must bite within a few more, never later.
    let started = Instant::now();
    let mut passed = 0;
    while admin_login_form(&app, "wrong").await.status() == 401 {
        passed += 1;
        let refills = started.elapsed().as_secs() / 20 + 1;
        assert!(passed <= 3 + refills, "{passed} wrong passwords in {:?} were all tried", started.elapsed());
    }
    assert!(passed >= 3, "the limit bit after {passed}");
    let r = admin_login_form(&app, "hardening-admin-pw").await;
    assert_eq!(r.status(), 429, "even the right password waits once the limit is reached");
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(r.text().await.unwrap().contains("Too many sign-in attempts"));
    app.stop().await;

    let app = spawn_with(
        &Backend::Sqlite,
        &[
            ("LIPA_ADMIN_PASSWORD", "hardening-admin-pw"),
            ("LIPA_ADMIN_LOGIN_IP_LIMIT", "off"),
            ("LIPA_ADMIN_LOGIN_LIMIT", "2"),
        ],
    )
    .await;
    let started = Instant::now();
    assert_eq!(admin_login_form(&app, "wrong").await.status(), 401);
    assert_eq!(admin_login_form(&app, "hardening-admin-pw").await.status(), 303);
    // 2 a minute for everyone: one more every 30 s (see above).
    let mut passed = 0;
    while admin_login_form(&app, "wrong").await.status() == 401 {
        passed += 1;
        assert!(passed <= started.elapsed().as_secs() / 30 + 1, "the global limit never bit ({passed} more)");
    }
    app.stop().await;
}

/// A Daraja whose OAuth endpoint refuses the credentials, counting the requests it gets.
async fn refusing_daraja() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/oauth/v1/generate",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    axum::Json(json!({"errorCode": "400.008.01", "errorMessage": "Invalid Authentication passed"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A sandbox-mode gateway (no simulator, no admin unless a password is given) on `db`.
async fn sandbox_gateway(db: &str, daraja: &str, extra: &[(&str, &str)]) -> lipa::startup::Gateway {
    let mut vars = vec![
        ("MPESA_ENV", "sandbox"),
        ("MPESA_BASE_URL", daraja),
        ("MPESA_CONSUMER_KEY", "bad-key"),
        ("MPESA_CONSUMER_SECRET", "bad-secret"),
        ("LIPA_PUBLIC_URL", "https://pay.example.com"),
    ];
    vars.extend_from_slice(extra);
    let cfg = test_config(db, &vars);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    lipa::startup::start(cfg, listener).await.expect("gateway starts")
}

/// Item 5: twenty /readyz hits with bad Daraja credentials send one OAuth request, not twenty.
async fn readyz_does_not_hammer_daraja_with_bad_credentials(backend: Backend) {
    let (daraja, hits) = refusing_daraja().await;
    let (db, _dir) = fresh_database(&backend).await;
    let gw = sandbox_gateway(&db, &daraja, &[]).await;
    let http = reqwest::Client::new();
    let before = hits.load(Ordering::SeqCst);
    for _ in 0..20 {
        let r = http.get(format!("{}/readyz", gw.url())).send().await.unwrap();
        assert_eq!(r.status(), 503);
        let v: Value = r.json().await.unwrap();
        assert_ne!(v["daraja_token"], "ok", "{v}");
    }
    let sent = hits.load(Ordering::SeqCst) - before;
    assert!(sent <= 2, "{sent} OAuth requests for 20 probes");
    gw.shutdown().await;
}
each_backend!(readyz_does_not_hammer_daraja_with_bad_credentials);

/// A payment waiting on the virtual handset (no callback of its own), with its callback path.
async fn waiting_payment(app: &TestApp, reference: &str) -> (String, String, String) {
    // A phone of its own: the simulator holds one prompt per phone at a time.
    let phone = format!("07{:08}", 10_000_000 + rand::random::<u32>() % 89_999_999);
    let p = app.create(json!({"amount": 800, "phone": phone, "reference": reference})).await;
    assert!(p["checkout_request_id"].is_string(), "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let path = app.callback_path(&id).await;
    (id, path, p["checkout_request_id"].as_str().unwrap().to_string())
}

fn success_with_amount_items(checkout: &str, items: &[Option<Value>]) -> Value {
    let mut all: Vec<Value> = items
        .iter()
        .map(|v| match v {
            Some(v) => json!({"Name": "Amount", "Value": v}),
            None => json!({"Name": "Amount"}),
        })
        .collect();
    all.push(json!({"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"}));
    json!({"Body": {"stkCallback": {
        "MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": checkout, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": all}
    }}})
}

/// Item 6: a success callback with the amount missing or malformed sends the payment to review; two
/// Amount items are read only when they agree.
async fn a_success_without_a_usable_amount_is_not_trusted(backend: Backend) {
    let app = spawn(&backend).await;
    let cases: Vec<(&str, Vec<Option<Value>>)> = vec![
        ("omitted", vec![]),
        ("no value", vec![None]),
        ("negative", vec![Some(json!(-800))]),
        ("text", vec![Some(json!("abc"))]),
        ("fraction", vec![Some(json!(799.99))]),
        ("bool", vec![Some(json!(true))]),
        ("null", vec![Some(Value::Null)]),
        ("huge", vec![Some(json!(1e30))]),
        ("two that differ", vec![Some(json!(800)), Some(json!(1))]),
    ];
    for (i, (name, items)) in cases.iter().enumerate() {
        let (id, path, checkout) = waiting_payment(&app, &format!("AMT{i}")).await;
        let (status, _) = app.post(&path, &success_with_amount_items(&checkout, items)).await;
        assert_eq!(status, 200);
        let p = app.settled(&id).await;
        assert_eq!(p["status"], "needs_review", "{name} on {}: {p}", backend.name());
    }
    let (id, path, checkout) = waiting_payment(&app, "AMTOK").await;
    let agree = success_with_amount_items(&checkout, &[Some(json!(800)), Some(json!("800.00"))]);
    assert_eq!(app.post(&path, &agree).await.0, 200);
    assert_eq!(app.settled(&id).await["status"], "succeeded", "two Amount items that agree");
    app.stop().await;
}
each_backend!(a_success_without_a_usable_amount_is_not_trusted);

fn cookie_of(app: &TestApp) -> impl Fn(&str) -> reqwest::RequestBuilder + '_ {
    move |path: &str| no_redirects().get(format!("{}{path}", app.url))
}

/// Item 7: sessions survive a restart with the same password, and end when it changes or the admin is
/// off; an old cookie cannot resolve a review then. Expired sessions are swept.
async fn admin_sessions_end_with_the_password_or_the_admin(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", "first-password")]).await;
    let cookie = admin_login(&app, "first-password").await;
    assert_eq!(cookie_of(&app)("/admin").header("cookie", &cookie).send().await.unwrap().status(), 200);
    let (db, dir) = app.stop_keep_database().await;

    let app = spawn_on(&backend, &db, dir, &[("LIPA_ADMIN_PASSWORD", "first-password")]).await;
    let r = cookie_of(&app)("/admin").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "same password: the session lives on");
    let (db, dir) = app.stop_keep_database().await;

    let app = spawn_on(&backend, &db, dir, &[("LIPA_ADMIN_PASSWORD", "second-password")]).await;
    let r = cookie_of(&app)("/admin").header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 303, "new password: the old session is over");
    let cookie = admin_login(&app, "second-password").await;
    // A payment under review, for the old cookie to try to resolve.
    let p = app.create(json!({"amount": 800, "phone": "0712345678", "reference": "REV"})).await;
    let id = p["id"].as_str().unwrap().to_string();
    let why = Outcome::Unresolved { why: "test: fate unknown".into() };
    app.gw.state.store.apply_outcome(&id, Source::Timer, &why, lipa::app::now_ms()).await.unwrap();
    let (db, dir) = app.stop_keep_database().await;

    // Admin off: a sandbox gateway without a password on the same database.
    let (daraja, _) = refusing_daraja().await;
    let gw = sandbox_gateway(&db, &daraja, &[]).await;
    let r = no_redirects().get(format!("{}/admin", gw.url())).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 303, "admin off: no session works");
    let r = no_redirects()
        .post(format!("{}/admin/payments/{id}/resolve", gw.url()))
        .header("cookie", &cookie)
        .header("origin", gw.url())
        .form(&[("csrf", "x"), ("decision", "succeeded"), ("note", "old cookie")])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    let p = gw.state.store.get_payment(&id).await.unwrap().unwrap();
    assert_eq!(p.status.as_str(), "needs_review", "an old cookie resolved nothing");

    // Expired sessions are swept by the upkeep pass.
    let now = lipa::app::now_ms();
    gw.state.store.kv_put("admin_session:expired", "csrf", Some(now - 1)).await.unwrap();
    gw.state.store.kv_put("admin_session:live", "csrf", Some(now + 60_000)).await.unwrap();
    let swept = lipa::jobs::upkeep::sweep(&gw.state, now).await.unwrap();
    assert_eq!(swept.sessions, 1, "{swept:?}");
    assert!(gw.state.store.kv_get("admin_session:expired").await.unwrap().is_none());
    assert!(gw.state.store.kv_get("admin_session:live").await.unwrap().is_some());
    gw.shutdown().await;
    drop(dir);
}
each_backend!(admin_sessions_end_with_the_password_or_the_admin);

/// Item 8: the SQLite database and its WAL and SHM files are readable by their owner only, new or old.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = lipa::store::open(&format!("sqlite://{}", path.display())).await.unwrap();
    store.kv_put("k", "v", None).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for suffix in ["", "-wal", "-shm"] {
        let f = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        assert!(f.exists(), "{f:?}");
        assert_eq!(mode(&f), 0o600, "{f:?}");
    }
    drop(store);
    // A database made before, world-readable, is made private when opened.
    let old = dir.path().join("old.db");
    std::fs::write(&old, b"").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = lipa::store::open(&format!("sqlite://{}", old.display())).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(mode(&old), 0o600);
}

/// Item 9: a NUL character anywhere a client sends text is a named 400 on both databases, never a 500.
async fn nul_characters_are_refused_by_name(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_ADMIN_PASSWORD", "nul-admin-pw")]).await;
    let b = backend.name();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"amount": 800, "phone": "0708374149", "reference": "R1", "description": "a\u{0}b"}), "description"),
        (json!({"amount": 800, "phone": "0708374149", "reference": "R\u{0}1"}), "reference"),
        (json!({"amount": 800, "phone": "0708374149", "reference": "R2", "metadata": {"k": "\u{0}"}}), "metadata"),
    ];
    for (body, field) in cases {
        let (status, e) = app.post("/v1/payments", &body).await;
        assert_eq!(status, 400, "{b}: {body} -> {e}");
        assert_eq!(e["error"]["field"], field, "{b}: {e}");
        assert_eq!(e["error"]["code"], "invalid_text", "{b}: {e}");
    }
    for (path, field) in [
        ("/v1/payments/pay_%00", "path"),
        ("/v1/payments?status=%00", "status"),
        ("/v1/payments?reference=a%00b", "reference"),
        ("/v1/payments?starting_after=pay_%00", "starting_after"),
        ("/v1/events?payment_id=%00", "payment_id"),
        ("/v1/events/evt_%00", "path"),
    ] {
        let (status, e) = app.get(path).await;
        assert_eq!(status, 400, "{b}: {path} -> {e}");
        assert_eq!(e["error"]["field"], field, "{b}: {path} -> {e}");
    }
    // The admin search, signed in.
    let cookie = admin_login(&app, "nul-admin-pw").await;
    let r = no_redirects().get(format!("{}/admin?q=%00", app.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 400, "{b}");
    // The callback path.
    let (status, _) = app.post("/callbacks/stk/abc%00def", &json!({})).await;
    assert_eq!(status, 400, "{b}");
    // A callback body with a NUL in its text is kept and applied, the NUL dropped.
    let (id, path, checkout) = waiting_payment(&app, "NULCB").await;
    let body = failure_callback(&checkout, 1032, "Request cancelled\u{0} by user");
    assert_eq!(app.post(&path, &body).await.0, 200, "{b}");
    let p = app.settled(&id).await;
    assert_eq!(p["status"], "failed", "{b}: {p}");
    assert_eq!(p["result_desc"], "Request cancelled by user", "{b}: {p}");
    app.stop().await;
}
each_backend!(nul_characters_are_refused_by_name);

/// Smaller: a query parameter given twice is a JSON error naming it.
#[tokio::test]
async fn a_duplicate_query_parameter_is_a_json_error() {
    let app = spawn(&Backend::Sqlite).await;
    let (status, e) = app.get("/v1/payments?status=pending&status=failed").await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["error"]["code"], "duplicate_parameter");
    assert_eq!(e["error"]["field"], "status");
    app.stop().await;
}

/// Smaller: /docs, /sim/* and 404 answers carry the security headers the other pages send.
#[tokio::test]
async fn every_answer_has_the_security_headers() {
    let app = spawn(&Backend::Sqlite).await;
    for path in ["/docs", "/sim/handset", "/sim/api/transactions", "/no/such/page", "/healthz", "/openapi.json"] {
        let r = reqwest::get(format!("{}{path}", app.url)).await.unwrap();
        let h = r.headers();
        assert_eq!(h.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{path}");
        assert_eq!(h.get("x-frame-options").map(|v| v.to_str().unwrap()), Some("DENY"), "{path}");
        assert!(h.contains_key("referrer-policy"), "{path}");
        let csp = h.get("content-security-policy").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp:?}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp:?}");
    }
    // The handset page's own script is allowed by its hash, nothing else inline.
    let r = reqwest::get(format!("{}/sim/handset", app.url)).await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self' 'sha256-"), "{csp}");
    app.stop().await;
}

/// Smaller: a duration too large for the clock is a configuration error, not a panic at start.
#[test]
fn an_enormous_duration_is_a_config_error() {
    let env: HashMap<String, String> =
        [("LIPA_RECONCILE_AFTER".to_string(), "100000000000000000000".to_string())].into_iter().collect();
    let r = lipa::config::Config::from_source(&lipa::config::Source::from_maps(env, HashMap::new()));
    let e = r.expect_err("refused");
    assert!(e.0.contains("LIPA_RECONCILE_AFTER"), "{}", e.0);
}

fn lipa_cmd(db: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_lipa"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIPA_DATABASE_URL", db)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run lipa")
}

/// Smaller: `lipa keys list` and `lipa keys revoke <id>`; a revoked key is refused.
async fn keys_can_be_listed_and_revoked(backend: Backend) {
    let (db, dir) = fresh_database(&backend).await;
    let out = lipa_cmd(&db, &["keys", "create", "--name", "shop-frontend"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text.lines().last().unwrap().trim().to_string();
    let id =
        text.split_whitespace().find(|w| w.starts_with("key_")).unwrap().trim_end_matches(['.', ',', ')']).to_string();

    let list = String::from_utf8(lipa_cmd(&db, &["keys", "list"]).stdout).unwrap();
    assert!(list.contains(&id) && list.contains("shop-frontend") && list.contains("active"), "{list}");
    assert!(!list.contains(&key), "the key itself is never shown again");

    let app = spawn_on(&backend, &db, dir, &[]).await;
    let ok = reqwest::Client::new().get(format!("{}/v1/payments", app.url)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let out = lipa_cmd(&db, &["keys", "revoke", &id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list = String::from_utf8(lipa_cmd(&db, &["keys", "list"]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");
    let refused = poll(Duration::from_secs(10), || async {
        let r = reqwest::Client::new().get(format!("{}/v1/payments", app.url)).bearer_auth(&key).send().await.unwrap();
        (r.status() == 401).then_some(())
    })
    .await;
    assert!(refused.is_some(), "a revoked key stops working");
    assert!(!lipa_cmd(&db, &["keys", "revoke", "key_nosuchkey0"]).status.success());
    app.stop().await;
}
each_backend!(keys_can_be_listed_and_revoked);

/// Item 3 with a low open-files limit: 300 silent sockets against `lipa serve` under `ulimit -n 120` leave
/// `/healthz` answered (the cap follows the limit, and the silent ones are cut off).
#[cfg(unix)]
#[tokio::test]
async fn a_low_file_limit_survives_a_socket_flood() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", "ulimit -n 120 && exec \"$0\" serve", env!("CARGO_BIN_EXE_lipa")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LIPA_LISTEN", &addr)
        .env("LIPA_DATABASE_URL", format!("sqlite://{}", dir.path().join("fd.db").display()))
        .env("LIPA_CONFIG", "/dev/null")
        .env("LIPA_HEADER_TIMEOUT", "1s")
        .env("LIPA_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(25)).build().unwrap();
    let up = poll(Duration::from_secs(30), || async {
        http.get(format!("http://{addr}/healthz")).send().await.ok().filter(|r| r.status() == 200).map(|_| ())
    })
    .await;
    assert!(up.is_some(), "lipa serve started");
    let mut silent = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect(&addr).await {
            silent.push(s);
        }
    }
    let start = Instant::now();
    let r = http.get(format!("http://{addr}/healthz")).send().await;
    assert_eq!(r.expect("/healthz answered despite 300 silent sockets").status(), 200);
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(20), "{waited:?}");
    assert!(child.try_wait().unwrap().is_none(), "still running");
    drop(silent);
    child.kill().await.unwrap();
}

/// Retention covers every body Safaricom sends, not only STK callbacks: C2B confirmations and money-out
/// results lose their raw bodies after LIPA_CALLBACK_RETENTION too (their parsed facts stay).
async fn c2b_and_money_out_bodies_follow_the_retention_time(backend: Backend) {
    let app = spawn_with(&backend, &[("LIPA_CALLBACK_RETENTION", "30d")]).await;
    let pay = json!({"phone": "0712345678", "kind": "paybill", "business_number": "174379", "account": "RET-1",
                     "amount": 120, "pin": "1234"});
    let resp = app.http.post(format!("{}/sim/api/c2b/pay", app.url)).json(&pay).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, p) = app.post("/v1/payouts", &json!({"amount": 100, "phone": "0712345678", "kind": "business"})).await;
    assert_eq!(status, 201, "{p}");
    let path = format!("/v1/payouts/{}", p["id"].as_str().unwrap());
    let done = poll(Duration::from_secs(20), || async {
        let (_, p) = app.get(&path).await;
        (p["status"] != "pending").then_some(p)
    })
    .await
    .expect("the payout settles");
    assert_eq!(done["status"], "succeeded", "{done}");
    let found = poll(Duration::from_secs(20), || async {
        let (_, l) = app.get("/v1/payments?channel=c2b").await;
        (l["data"].as_array().map_or(0, |d| d.len()) == 1).then_some(())
    })
    .await;
    assert!(found.is_some(), "the C2B payment was recorded");

    let now = lipa::app::now_ms();
    let early = lipa::jobs::upkeep::sweep(&app.gw.state, now + 29 * 86_400_000).await.unwrap();
    assert_eq!(early.callback_bodies, 0, "nothing is old enough yet");
    let swept = lipa::jobs::upkeep::sweep(&app.gw.state, now + 31 * 86_400_000).await.unwrap();
    assert!(swept.callback_bodies >= 2, "the confirmation and the payout's result: {swept:?}");
    let again = lipa::jobs::upkeep::sweep(&app.gw.state, now + 31 * 86_400_000).await.unwrap();
    assert_eq!(again.callback_bodies, 0, "{again:?}");
    // The facts stay: the payout keeps its receipt, the C2B payment its status.
    assert_eq!(app.get(&path).await.1["mpesa_receipt"], done["mpesa_receipt"]);
    app.stop().await;
}
each_backend!(c2b_and_money_out_bodies_follow_the_retention_time);

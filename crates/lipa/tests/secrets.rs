//! Secrets never leak: the `lipa` binary runs as a subprocess with known credentials (consumer key and
//! secret, passkey, webhook secret, admin password, an API key) and `LIPA_LOG=debug`, through successes,
//! failures, Daraja errors (spike arrest, wrong passkey, wrong consumer secret) and configuration errors;
//! every line it writes and every response body is scanned for each secret. JSON logs are checked to be
//! JSON, line by line.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const KEY: &str = "ck-SECRET-consumer-key-7f3a9";
const SECRET: &str = "cs-SECRET-consumer-secret-b81e";
const SHORTCODE: &str = "600123";
const PASSKEY: &str = "pk-SECRET-passkey-4c2d9e0f1a";
const WEBHOOK_SECRET: &str = "whsec-SECRET-webhook-93d1";
const ADMIN_PASSWORD: &str = "admin-SECRET-password-55e2";
const INITIATOR: &str = "api-operator-7";
const INITIATOR_PASSWORD: &str = "init-SECRET-password-6a0c";

/// Standard base64 with padding (as in HTTP Basic auth and the STK password).
fn b64(text: impl AsRef<[u8]>) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_ref().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn forbidden(api_key: &str) -> Vec<String> {
    // A prefix of the STK password base64(shortcode + passkey + timestamp) that does not depend on the time.
    let stable = format!("{SHORTCODE}{PASSKEY}");
    let stable = &stable[..stable.len() / 3 * 3];
    assert_eq!(b64("Man:a"), "TWFuOmE=");
    vec![
        KEY.into(),
        SECRET.into(),
        PASSKEY.into(),
        WEBHOOK_SECRET.into(),
        ADMIN_PASSWORD.into(),
        INITIATOR_PASSWORD.into(),
        api_key.into(),
        b64(format!("{KEY}:{SECRET}")),
        b64(stable),
    ]
}

fn assert_clean(what: &str, text: &str, api_key: &str) {
    for s in forbidden(api_key) {
        assert!(!text.contains(&s), "{what} contains a secret ({}…):\n{text}", &s[..6]);
    }
}

struct Gateway {
    child: Child,
    url: String,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn base_env(sim: &str, db: &str) -> HashMap<String, String> {
    [
        ("MPESA_ENV", "sandbox"),
        ("MPESA_BASE_URL", sim),
        ("MPESA_CONSUMER_KEY", KEY),
        ("MPESA_CONSUMER_SECRET", SECRET),
        ("MPESA_SHORTCODE", SHORTCODE),
        ("MPESA_PASSKEY", PASSKEY),
        ("LIPA_DATABASE_URL", db),
        ("LIPA_LISTEN", "127.0.0.1:0"),
        ("LIPA_WEBHOOK_URL", "http://127.0.0.1:9/hooks"),
        ("LIPA_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("LIPA_WEBHOOK_RETRY_BASE", "100ms"),
        ("LIPA_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("MPESA_INITIATOR_NAME", INITIATOR),
        ("MPESA_INITIATOR_PASSWORD", INITIATOR_PASSWORD),
        ("LIPA_RECONCILE_AFTER", "1s"),
        ("LIPA_WORKER_TICK", "100ms"),
        ("LIPA_LOG", "debug"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn command(env: &HashMap<String, String>, dir: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lipa"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Start `lipa serve` and collect all it writes; wait for the banner's API line.
async fn serve(env: &HashMap<String, String>, dir: &std::path::Path) -> Gateway {
    let mut child = command(env, dir, &["serve"]).spawn().expect("lipa runs");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    for (reader, name) in
        [(Box::new(out) as Box<dyn tokio::io::AsyncRead + Unpin + Send>, "stdout"), (Box::new(err), "stderr")]
    {
        let lines = lines.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut r = BufReader::new(reader).lines();
            while let Ok(Some(l)) = r.next_line().await {
                lines.lock().unwrap().push(format!("{name}: {l}"));
                let _ = tx.send(l);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        let l = tokio::time::timeout_at(deadline.into(), rx.recv()).await.expect("banner in time").expect("output");
        if let Some(rest) = l.trim().strip_prefix("API:") {
            break rest.trim().trim_end_matches("/v1/payments").to_string();
        }
    };
    Gateway { child, url, lines }
}

impl Gateway {
    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_or_response() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim_url = format!("http://{}", listener.local_addr().unwrap());
    let sim = daraja_sim::Simulator::new(daraja_sim::SimConfig {
        shortcode: SHORTCODE.into(),
        passkey: PASSKEY.into(),
        consumer_key: Some(KEY.into()),
        consumer_secret: Some(SECRET.into()),
        result_delay: Duration::from_millis(100),
        initiator_name: INITIATOR.into(),
        initiator_password: INITIATOR_PASSWORD.into(),
        ..daraja_sim::SimConfig::default()
    });
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("secrets.db").display());
    let mut env = base_env(&sim_url, &db);
    // The simulator's certificate encrypts the initiator password, as MPESA_CERTIFICATE names it.
    let cert = dir.path().join("sim.pem");
    std::fs::write(&cert, daraja_sim::SIM_CERTIFICATE_PEM).unwrap();
    env.insert("MPESA_CERTIFICATE".into(), cert.display().to_string());

    // An API key, made the documented way (printed once by design: that output is not a log).
    let keys = command(&env, dir.path(), &["keys", "create"]).output().await.unwrap();
    assert!(keys.status.success(), "{}", String::from_utf8_lossy(&keys.stderr));
    let api_key = String::from_utf8_lossy(&keys.stdout).lines().last().unwrap().trim().to_string();
    assert!(api_key.starts_with("lipa_sk_"), "{api_key}");
    assert_clean("keys create stderr", &String::from_utf8_lossy(&keys.stderr), &api_key);

    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut bodies: Vec<String> = Vec::new();

    // The main gateway, with JSON logs.
    env.insert("LIPA_LOG_FORMAT".into(), "json".into());
    let mut gw = serve(&env, dir.path()).await;
    let call = |req: reqwest::RequestBuilder| async move {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    let create = |phone: &str, reference: &str| {
        http.post(format!("{}/v1/payments", gw.url))
            .bearer_auth(&api_key)
            .json(&json!({"amount": 10, "phone": phone, "reference": reference}))
    };
    let mut ids = Vec::new();
    for (phone, reference) in [("0708374149", "S-OK"), ("0700001032", "S-NO"), ("0700000001", "S-FUNDS")] {
        // A request id: the client's when it sends one, else a new one; answered in the response.
        let sent = format!("req-{reference}");
        let r = create(phone, reference).header("x-request-id", &sent).send().await.unwrap();
        assert_eq!(r.headers()["x-request-id"], sent.as_str());
        let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
        assert_eq!(status, 201, "{body}");
        ids.push(serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string());
        bodies.push(body);
    }
    for sent in [None, Some("has spaces, and is odd")] {
        let mut req = http.get(format!("{}/healthz", gw.url));
        if let Some(v) = sent {
            req = req.header("x-request-id", v);
        }
        let r = req.send().await.unwrap();
        let made = r.headers()["x-request-id"].to_str().unwrap();
        assert!(made.len() == 16 && made.chars().all(|c| c.is_ascii_hexdigit()), "{made:?}");
    }
    // A request the input checks refuse carries its request id too (they sit inside it).
    let r = http.get(format!("{}/v1/payments?status=a&status=b", gw.url)).header("x-request-id", "req-refused").send();
    let r = r.await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["x-request-id"], "req-refused");
    // Daraja refuses a push (spike arrest on every try).
    sim.set_faults(daraja_sim::Faults { spike_arrest: 1.0, ..Default::default() });
    let (status, body) = call(create("0708374149", "S-RL")).await;
    assert_eq!(status, 201);
    assert!(body.contains("\"failed\""), "{body}");
    bodies.push(body);
    sim.set_faults(daraja_sim::Faults::default());
    // Money out: a payout, a refund, the balance, and a forged result.
    let payout = json!({"amount": 100, "phone": "0712345678", "remarks": "secrets"});
    let (status, body) = call(http.post(format!("{}/v1/payouts", gw.url)).bearer_auth(&api_key).json(&payout)).await;
    assert_eq!(status, 201, "{body}");
    bodies.push(body);
    let (status, body) = call(http.get(format!("{}/v1/balance", gw.url)).bearer_auth(&api_key)).await;
    assert_eq!(status, 200, "{body}");
    bodies.push(body);
    let refund = http.post(format!("{}/v1/payments/{}/refunds", gw.url, ids[0])).bearer_auth(&api_key).json(&json!({}));
    bodies.push(call(refund).await.1);
    bodies.push(call(http.post(format!("{}/callbacks/result/0000", gw.url)).body("{\"Result\":1}")).await.1);
    // Bad input, a wrong key, a forged callback, pages, health, metrics, the admin login (wrong and right).
    bodies.push(
        call(http.post(format!("{}/v1/payments", gw.url)).bearer_auth(&api_key).body("{\"amount\": -1}")).await.1,
    );
    bodies.push(call(http.get(format!("{}/v1/payments", gw.url)).bearer_auth("lipa_sk_wrong")).await.1);
    bodies.push(call(http.post(format!("{}/callbacks/stk/0000", gw.url)).body("{\"Body\":1}")).await.1);
    for path in ["/readyz", "/healthz", "/metrics", "/openapi.json", "/admin/login"] {
        bodies.push(call(http.get(format!("{}{path}", gw.url))).await.1);
    }
    for pw in ["wrong-password", ADMIN_PASSWORD] {
        let (_, body) = call(
            http.post(format!("{}/admin/login", gw.url)).header("origin", gw.url.clone()).form(&[("password", pw)]),
        )
        .await;
        bodies.push(body);
    }
    // Wait until every payment is settled and the webhook worker has failed a few times (nothing listens).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = call(http.get(format!("{}/v1/payments?limit=100", gw.url)).bearer_auth(&api_key)).await;
        let v: Value = serde_json::from_str(&list).unwrap();
        let pending = v["data"].as_array().unwrap().iter().filter(|p| p["status"] == "pending").count();
        if pending == 0 && gw.output().contains("webhook") {
            bodies.push(list);
            break;
        }
        assert!(Instant::now() < deadline, "payments did not settle:\n{list}\n{}", gw.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        bodies.push(call(http.get(format!("{}/v1/payments/{id}", gw.url)).bearer_auth(&api_key)).await.1);
        bodies.push(call(http.get(format!("{}/v1/events?payment_id={id}", gw.url)).bearer_auth(&api_key)).await.1);
    }
    gw.child.kill().await.unwrap();
    let out = gw.output();
    assert!(out.contains("DEBUG") || out.contains("\"level\":\"DEBUG\""), "debug logging is on:\n{out}");
    for line in out.lines().filter_map(|l| l.strip_prefix("stderr: ")) {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("LIPA_LOG_FORMAT=json wrote a non-JSON line ({e}): {line}"));
    }
    assert_clean("the gateway's output", &out, &api_key);
    // Every log line a request causes names its id (here: the push each create sent).
    for (id, reference) in ids.iter().zip(["S-OK", "S-NO", "S-FUNDS"]) {
        let pushed: Vec<&str> =
            out.lines().filter(|l| l.contains("push accepted") && l.contains(id.as_str())).collect();
        assert_eq!(pushed.len(), 1, "{out}");
        assert!(pushed[0].contains(&format!("\"request_id\":\"req-{reference}\"")), "{}", pushed[0]);
    }
    let request_lines: Vec<&str> = out.lines().filter(|l| l.contains("tower_http::trace")).collect();
    assert!(!request_lines.is_empty(), "{out}");
    for l in request_lines {
        assert!(l.contains("\"request_id\":\""), "{l}");
    }
    for b in &bodies {
        assert_clean("a response body", b, &api_key);
    }
    env.remove("LIPA_LOG_FORMAT");

    // A wrong passkey: Daraja answers "Wrong credentials" to the push.
    let mut wrong = env.clone();
    wrong.insert("MPESA_PASSKEY".into(), "pk-SECRET-wrong-passkey-00".into());
    let mut gw = serve(&wrong, dir.path()).await;
    let (status, body) = call(
        http.post(format!("{}/v1/payments", gw.url))
            .bearer_auth(&api_key)
            .json(&json!({"amount": 10, "phone": "0708374149", "reference": "S-WP"})),
    )
    .await;
    assert_eq!(status, 201);
    assert!(body.contains("Wrong credentials"), "{body}");
    assert!(!body.contains("pk-SECRET-wrong-passkey-00"));
    gw.child.kill().await.unwrap();
    assert!(gw.output().contains("Wrong credentials"), "{}", gw.output());
    assert!(!gw.output().contains("pk-SECRET-wrong-passkey-00"));
    assert_clean("the gateway's output (wrong passkey)", &gw.output(), &api_key);
    assert_clean("a response body (wrong passkey)", &body, &api_key);

    // A wrong consumer secret: no token. (A fresh database: the token cached in the shared one would
    // still be good, and lipa uses it.)
    let mut wrong = env.clone();
    wrong.insert("MPESA_CONSUMER_SECRET".into(), "cs-SECRET-wrong-secret-00".into());
    wrong.insert("LIPA_DATABASE_URL".into(), format!("sqlite://{}", dir.path().join("fresh.db").display()));
    let keys = command(&wrong, dir.path(), &["keys", "create"]).output().await.unwrap();
    let api_key = String::from_utf8_lossy(&keys.stdout).lines().last().unwrap().trim().to_string();
    let mut gw = serve(&wrong, dir.path()).await;
    let (status, ready) = call(http.get(format!("{}/readyz", gw.url))).await;
    assert_eq!(status, 503, "{ready}");
    let (_, body) = call(
        http.post(format!("{}/v1/payments", gw.url))
            .bearer_auth(&api_key)
            .json(&json!({"amount": 10, "phone": "0708374149", "reference": "S-WS"})),
    )
    .await;
    gw.child.kill().await.unwrap();
    for text in [&gw.output(), &ready, &body] {
        assert!(!text.contains("cs-SECRET-wrong-secret-00"), "{text}");
        assert!(!text.contains(&b64(format!("{KEY}:cs-SECRET-wrong-secret-00"))));
        assert_clean("wrong consumer secret run", text, &api_key);
    }

    // Configuration errors: production refuses an http callback URL and names it, without any secret.
    let mut bad = env.clone();
    bad.insert("MPESA_ENV".into(), "production".into());
    bad.insert("LIPA_PUBLIC_URL".into(), "http://pay.example.com".into());
    let out = command(&bad, dir.path(), &["serve"]).output().await.unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("not HTTPS"), "{text}");
    assert_clean("a refused configuration", &text, &api_key);
    // And the doctor, which also talks to Daraja.
    let mut doc = env.clone();
    doc.insert("MPESA_PASSKEY".into(), "pk-SECRET-wrong-passkey-00".into());
    let out = command(&doc, dir.path(), &["doctor"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("Wrong credentials"), "{text}");
    assert!(!text.contains("pk-SECRET-wrong-passkey-00"));
    assert_clean("lipa doctor", &text, &api_key);
}

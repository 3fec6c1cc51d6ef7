//! The gateway as separate processes: killed with SIGKILL and restarted, and several instances sharing one
//! PostgreSQL database behind a load balancer. The simulator runs in the test, outside the gateways, so it
//! outlives them — as Safaricom would.

mod common;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use common::*;
use serde_json::{json, Value};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A simulator in this process, on its own port.
async fn start_sim(config: daraja_sim::SimConfig) -> (daraja_sim::Simulator, String) {
    let sim = daraja_sim::Simulator::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = sim.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (sim, url)
}

fn sim_config() -> daraja_sim::SimConfig {
    daraja_sim::SimConfig {
        consumer_key: Some("test-key".into()),
        consumer_secret: Some("test-secret".into()),
        result_delay: Duration::from_millis(300),
        strict: true,
        single_token: true,
        ..Default::default()
    }
}

/// One `lipa serve` process in sandbox mode against the test's simulator.
struct Instance {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

fn start_instance(
    db: &str,
    port: u16,
    public_url: &str,
    sim_url: &str,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> Instance {
    let log = dir.join(format!("lipa-{port}-{}.log", rand::random::<u32>()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lipa"));
    cmd.arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MPESA_ENV", "sandbox")
        .env("MPESA_CONSUMER_KEY", "test-key")
        .env("MPESA_CONSUMER_SECRET", "test-secret")
        .env("MPESA_BASE_URL", sim_url)
        .env("LIPA_PUBLIC_URL", public_url)
        .env("LIPA_DATABASE_URL", db)
        .env("LIPA_LISTEN", format!("127.0.0.1:{port}"))
        .env("LIPA_RECONCILE_AFTER", "2s")
        .env("LIPA_PENDING_MAX_AGE", "20s")
        .env("LIPA_WORKER_TICK", "200ms")
        .env("LIPA_DARAJA_TIMEOUT", "5s")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Instance { child: cmd.spawn().expect("start lipa serve"), port, log }
}

impl Instance {
    async fn wait_healthy(&mut self, http: &reqwest::Client) {
        let url = format!("http://127.0.0.1:{}/healthz", self.port);
        let ok =
            poll(Duration::from_secs(30), || async { http.get(&url).send().await.ok().filter(|r| r.status() == 200) })
                .await;
        if ok.is_none() {
            let err = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
            panic!("instance on {} did not come up: {err}", self.port);
        }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A load balancer: each request goes to a random backend; when that one is down, to another.
#[derive(Clone)]
struct Balancer {
    backends: Arc<Mutex<Vec<u16>>>,
    http: reqwest::Client,
}

async fn forward(State(lb): State<Balancer>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut ports = lb.backends.lock().unwrap().clone();
    let first = rand::random::<usize>() % ports.len().max(1);
    ports.rotate_left(first);
    for port in ports {
        let url = format!("http://127.0.0.1:{port}{}", parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        let mut r = lb.http.request(parts.method.clone(), url).body(body.clone());
        for (k, v) in &parts.headers {
            if k != "host" && k != "content-length" {
                r = r.header(k, v);
            }
        }
        if let Ok(resp) = r.send().await {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            return Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(bytes))
                .unwrap();
        }
    }
    Response::builder().status(502).body(Body::from("no backend")).unwrap()
}

async fn start_balancer(ports: Vec<u16>) -> (Balancer, String) {
    let lb = Balancer {
        backends: Arc::new(Mutex::new(ports)),
        http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(forward).with_state(lb.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (lb, url)
}

async fn make_key(db: &str) -> String {
    let store = lipa::store::open(db).await.unwrap();
    lipa::startup::create_api_key(store.as_ref(), "test").await.unwrap()
}

/// Create a payment, retrying with the same Idempotency-Key while the gateway is down.
async fn create_until_done(http: &reqwest::Client, base: &str, key: &str, body: &Value, idem: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http
            .post(format!("{base}/v1/payments"))
            .bearer_auth(key)
            .header("Idempotency-Key", idem)
            .json(body)
            .send()
            .await;
        if let Ok(r) = r {
            if r.status() == 201 {
                return r.json().await.unwrap();
            }
            assert!(r.status().is_server_error(), "create {body}: {} {:?}", r.status(), r.text().await);
        }
        assert!(Instant::now() < deadline, "could not create {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the simulator says happened to each reference: the final result code of its push.
fn sim_truth(sim: &daraja_sim::Simulator) -> HashMap<String, Option<i64>> {
    sim.transactions().into_iter().map(|t| (t.reference.clone(), t.result_code)).collect()
}

async fn db_rows(db: &str) -> Vec<(String, String, String, Option<String>, i64, i64)> {
    use sqlx::Row;
    let q = "SELECT p.id, p.reference, p.status, p.result_code, \
             (SELECT COUNT(*) FROM events e WHERE e.payment_id = p.id) AS events, \
             (SELECT COUNT(*) FROM callbacks c WHERE c.payment_id = p.id) AS callbacks FROM payments p";
    let rows = if db.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(db).await.unwrap();
        let rows = sqlx::query(q).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect()
    } else {
        let pool = sqlx::SqlitePool::connect(db).await.unwrap();
        let rows = sqlx::query(q).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect()
    };
    rows
}

/// Wait until no payment is pending; then every payment must match the simulator's truth, with exactly one
/// event each. Payments whose push never reached the simulator must be in needs_review.
async fn check_against_truth(db: &str, sim: &daraja_sim::Simulator, expected: usize) {
    let settled = poll(Duration::from_secs(60), || async {
        let rows = db_rows(db).await;
        (rows.len() == expected && rows.iter().all(|r| r.2 != "pending")).then_some(rows)
    })
    .await;
    let Some(rows) = settled else {
        let pending: Vec<_> = db_rows(db).await.into_iter().filter(|r| r.2 == "pending").collect();
        panic!("payments still pending after 60 s: {pending:?}")
    };
    let truth = sim_truth(sim);
    let mut wrong = Vec::new();
    for (id, reference, status, code, events, _) in &rows {
        let want = match truth.get(reference) {
            Some(Some(0)) => "succeeded",
            Some(Some(_)) => "failed",
            Some(None) => "pending-in-sim",
            None => "needs_review",
        };
        if status != want || *events != 1 {
            wrong.push(format!("{id} {reference}: {status} ({code:?}, {events} events), simulator says {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} payments disagree with the simulator:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}

fn phone_for(i: usize) -> &'static str {
    ["0708374149", "0700001032", "0700000001", "0700000000", "0700002001"][i % 5]
}

/// SIGKILL while callbacks arrive, then a restart: every acknowledged callback is in the store and every
/// payment settles as the simulator decided.
#[tokio::test]
async fn sigkill_mid_callbacks_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lipa.db").display());
    let (sim, sim_url) = start_sim(sim_config()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let key = make_key(&db).await;
    let mut gw = start_instance(&db, port, &base, &sim_url, dir.path(), &[]);
    gw.wait_healthy(&http).await;
    let total = 120;
    for i in 0..total {
        if i == total / 2 {
            gw.kill(); // callbacks of the last payments are arriving right now
            tokio::time::sleep(Duration::from_millis(500)).await;
            gw = start_instance(&db, port, &base, &sim_url, dir.path(), &[]);
        }
        let body = json!({"amount": 1 + i, "phone": phone_for(i), "reference": format!("K{i}")});
        create_until_done(&http, &base, &key, &body, &format!("kill-{i}")).await;
    }
    check_against_truth(&db, &sim, total).await;
    // Every callback the gateway acknowledged is in the store.
    let rows = db_rows(&db).await;
    let by_ref: HashMap<&str, i64> = rows.iter().map(|r| (r.1.as_str(), r.5)).collect();
    let mut acknowledged = 0;
    for t in sim.transactions() {
        let acks = t.callbacks.iter().filter(|c| c.status == Some(200)).count() as i64;
        acknowledged += acks;
        assert!(
            by_ref.get(t.reference.as_str()).copied().unwrap_or(0) >= acks,
            "{} acknowledged but not stored",
            t.reference
        );
    }
    assert!(acknowledged > 0);
    drop(gw);
}

/// Two instances on one PostgreSQL behind a balancer; callbacks (and duplicates) reach either one; one is
/// killed mid-run. Every payment settles exactly once, one event each, one OAuth token for both.
async fn two_instances_share_the_work_and_survive_a_kill(backend: Backend) {
    let (db, dir) = fresh_database(&backend).await;
    let mut cfg = sim_config();
    cfg.faults.duplicate_callback = 0.2;
    let (sim, sim_url) = start_sim(cfg).await;
    let (a_port, b_port) = (free_port(), free_port());
    let (lb, lb_url) = start_balancer(vec![a_port, b_port]).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let key = make_key(&db).await;
    let mut a = start_instance(&db, a_port, &lb_url, &sim_url, dir.path(), &[]);
    let mut b = start_instance(&db, b_port, &lb_url, &sim_url, dir.path(), &[]);
    a.wait_healthy(&http).await;
    b.wait_healthy(&http).await;

    let total = 500;
    let created = Arc::new(Mutex::new(HashSet::new()));
    let work = (0..total).map(|i| {
        let (http, lb_url, key, created) = (http.clone(), lb_url.clone(), key.clone(), created.clone());
        async move {
            let body = json!({"amount": 1 + i % 100, "phone": phone_for(i), "reference": format!("M{i}")});
            let p = create_until_done(&http, &lb_url, &key, &body, &format!("multi-{i}")).await;
            created.lock().unwrap().insert(p["id"].as_str().unwrap().to_string());
        }
    });
    let killer = async {
        poll(Duration::from_secs(60), || async { (created.lock().unwrap().len() >= total / 2).then_some(()) }).await;
        b.kill();
        lb.backends.lock().unwrap().retain(|p| *p != b_port);
    };
    let stream = futures::stream::iter(work).buffer_unordered(16).collect::<Vec<()>>();
    let (_, ()) = tokio::join!(stream, killer);
    assert_eq!(created.lock().unwrap().len(), total, "every create answered with its own payment");
    check_against_truth(&db, &sim, total).await;
    assert_eq!(sim.oauth_requests(), 1, "both instances use one token");
    drop(a);
    drop(dir);
}
each_backend!(postgres two_instances_share_the_work_and_survive_a_kill, #[tokio::test]);

use futures::StreamExt as _;

/// Three instances started together make one OAuth request between them and keep using that one token
/// (the simulator invalidates older tokens when a new one is issued, as Safaricom says Daraja does).
async fn three_instances_one_token(backend: Backend) {
    let Fleet { sim, http, key, ports, instances, dir, .. } = fleet(&backend, 3).await;
    // All at once: readiness (which needs a token) and a payment on each.
    let calls = ports.iter().enumerate().map(|(n, p)| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let ready = http.get(format!("http://127.0.0.1:{p}/readyz")).send().await.unwrap();
            assert_eq!(ready.status(), 200, "{:?}", ready.text().await);
            pay(&http, &key, *p, 10, &format!("TOK{n}")).await;
        }
    });
    futures::future::join_all(calls).await;
    for (n, p) in ports.iter().enumerate() {
        pay(&http, &key, *p, 11, &format!("TOK2{n}")).await;
    }
    assert_eq!(sim.oauth_requests(), 1, "one OAuth request for three instances");
    drop(instances);
    drop(dir);
}
each_backend!(postgres three_instances_one_token, #[tokio::test]);

/// Each instance keeps the shared token in memory. When Daraja stops accepting it (here a new token was
/// issued elsewhere, which invalidates the old one), the refused instance drops it, fetches a new one and
/// its push goes through; the other instance then takes that new token from the database.
async fn a_refused_token_is_replaced_and_shared(backend: Backend) {
    let Fleet { sim, sim_url, http, key, ports, instances, dir } = fleet(&backend, 2).await;
    pay(&http, &key, ports[0], 10, "REF1").await;
    assert_eq!(sim.oauth_requests(), 1);
    // Someone else fetches a token with the same credentials: the one both instances share stops working.
    let other = http
        .get(format!("{sim_url}/oauth/v1/generate?grant_type=client_credentials"))
        .basic_auth("test-key", Some("test-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(sim.oauth_requests(), 2);
    pay(&http, &key, ports[0], 10, "REF2").await;
    assert_eq!(sim.oauth_requests(), 3, "the refused instance fetched one new token");
    pay(&http, &key, ports[1], 10, "REF3").await;
    assert_eq!(sim.oauth_requests(), 3, "the other instance took it from the database");
    drop(instances);
    drop(dir);
}
each_backend!(postgres a_refused_token_is_replaced_and_shared, #[tokio::test]);

/// Instances of `lipa serve` on one fresh database, against one simulator that invalidates older tokens.
struct Fleet {
    sim: daraja_sim::Simulator,
    sim_url: String,
    http: reqwest::Client,
    key: String,
    ports: Vec<u16>,
    instances: Vec<Instance>,
    dir: DbDir,
}

async fn fleet(backend: &Backend, n: usize) -> Fleet {
    let (db, dir) = fresh_database(backend).await;
    let (sim, sim_url) = start_sim(sim_config()).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let key = make_key(&db).await;
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let mut instances: Vec<Instance> = ports
        .iter()
        .map(|p| start_instance(&db, *p, &format!("http://127.0.0.1:{p}"), &sim_url, dir.path(), &[]))
        .collect();
    for i in &mut instances {
        i.wait_healthy(&http).await;
    }
    Fleet { sim, sim_url, http, key, ports, instances, dir }
}

/// A payment to the test number through the instance on `port`: 201, pending.
async fn pay(http: &reqwest::Client, key: &str, port: u16, amount: u32, reference: &str) {
    let body = json!({"amount": amount, "phone": "0708374149", "reference": reference});
    let r =
        http.post(format!("http://127.0.0.1:{port}/v1/payments")).bearer_auth(key).json(&body).send().await.unwrap();
    let status = r.status();
    let p: Value = r.json().await.unwrap();
    assert_eq!((status.as_u16(), p["status"].as_str()), (201, Some("pending")), "{p}");
}

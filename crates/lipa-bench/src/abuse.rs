//! `lipa-bench abuse`: the anonymous attacks of issue 15, each for a few seconds and bounded in count,
//! against a real `lipa serve` on 127.0.0.1 while real payments go on. For each phase it prints the
//! gateway's RSS, the database's size, the latency of `/healthz` and of a real payment (create → callback →
//! `succeeded`), and how many real payments completed. Nothing leaves the loopback interface.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::bench::parse_duration;
use crate::db::{self, Kind};
use crate::procs;

#[derive(clap::Args, Clone)]
pub struct AbuseArgs {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    #[arg(long, env = "LIPA_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// How long each attack runs.
    #[arg(long, default_value = "4s", value_parser = parse_duration)]
    pub phase: Duration,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/lipa")]
    pub lipa: PathBuf,
}

/// Hard caps, whatever `--phase` says.
const MAX_REQUESTS_PER_PHASE: usize = 3000;
const SLOW_SOCKETS: usize = 300;
const ADMIN_PASSWORD: &str = "abuse-run-admin-password";
const HEADER_TIMEOUT: &str = "2s";

struct Target {
    addr: SocketAddr,
    key: String,
    db_url: String,
    pid: u32,
}

#[derive(Default)]
struct Row {
    phase: &'static str,
    sent: usize,
    refused: usize,
    server_errors: usize,
    healthz: Vec<Duration>,
    payments: Vec<Duration>,
    payments_failed: usize,
    rss_kib: u64,
    /// The database (SQLite: its main file) and, for SQLite, the WAL file (reused, not grown, once checkpointed).
    db_bytes: u64,
    wal_bytes: u64,
}

pub async fn run(a: AbuseArgs) -> anyhow::Result<bool> {
    let kind = Kind::from_arg(&a.db);
    let phase = a.phase.min(Duration::from_secs(10));
    let tmp = procs::tmp_dir()?;
    let sim = procs::start_sim(Duration::from_millis(300)).await?;
    let procs::Planned { url, addr, env } = procs::plan_gateway(
        kind,
        "abuse",
        &tmp,
        &a.pg_url,
        &sim,
        &[
            ("LIPA_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("LIPA_LOG", "warn".into()),
            // Shorter than the default 10 s, so that a phase of a few seconds shows the slow sockets cut off.
            ("LIPA_HEADER_TIMEOUT", HEADER_TIMEOUT.into()),
        ],
    )
    .await?;
    let key = procs::create_key(&a.lipa, &env).await?;
    let log = tmp.join(format!("abuse-{}-gateway.log", kind.as_str()));
    let _ = std::fs::remove_file(&log);
    let mut gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;
    let t = Target { addr, key, db_url: url.clone(), pid: gw.pid };
    eprintln!("== abuse on {} for {phase:?} per attack; gateway pid {}, log {}", kind.as_str(), gw.pid, log.display());

    let mut rows = Vec::new();
    rows.push(measure(&t, "baseline (no attack)", phase, |_| async { (0, 0, 0) }).await);
    rows.push(measure(&t, "unknown HTTP methods, 100 KB each", phase, |stop| unknown_methods(addr, stop)).await);
    rows.push(measure(&t, "callbacks to unknown secrets, 64 KiB", phase, |stop| stray_callbacks(addr, stop)).await);
    rows.push(measure(&t, "300 sockets sending headers 1 B/s", phase, |stop| slow_headers(addr, stop)).await);
    rows.push(measure(&t, "admin login, 64 parallel wrong passwords", phase, |stop| admin_logins(addr, stop)).await);
    rows.push(
        measure(&t, "NUL bytes in path, query and body", phase, |stop| nul_bytes(addr, t.key.clone(), stop)).await,
    );
    rows.push(measure(&t, "after the attacks", phase, |_| async { (0, 0, 0) }).await);
    print_table(kind, phase, &rows);
    gw.kill().await?;
    db::drop_fresh(&url, &a.pg_url).await;
    // Every real payment completed and no attack got a 500.
    Ok(rows.iter().all(|r| r.payments_failed == 0 && r.server_errors == 0))
}

/// Run one attack for `phase` while probing `/healthz` every 100 ms and making real payments one after
/// another; then read RSS and database size.
async fn measure<F, Fut>(t: &Target, phase: &'static str, length: Duration, attack: F) -> Row
where
    F: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = (usize, usize, usize)> + Send + 'static,
{
    eprintln!("  {phase} …");
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = tokio::spawn(attack(stop.clone()));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
    let probe = {
        let (http, stop, addr) = (http.clone(), stop.clone(), t.addr);
        tokio::spawn(async move {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                if http.get(format!("http://{addr}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                    out.push(s.elapsed());
                } else {
                    out.push(Duration::from_secs(30));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            out
        })
    };
    let payer = {
        let (http, stop, addr, key) = (http.clone(), stop.clone(), t.addr, t.key.clone());
        tokio::spawn(async move {
            let (mut ok, mut failed) = (Vec::new(), 0);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                match pay(&http, addr, &key, &format!("{}{i}", &phase[..3].to_uppercase())).await {
                    Some(d) => ok.push(d),
                    None => failed += 1,
                }
            }
            (ok, failed)
        })
    };
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let (sent, refused, server_errors) = attacker.await.unwrap_or_default();
    let healthz = probe.await.unwrap_or_default();
    let (payments, payments_failed) = payer.await.unwrap_or_default();
    Row {
        phase,
        sent,
        refused,
        server_errors,
        healthz,
        payments,
        payments_failed,
        rss_kib: rss_kib(t.pid),
        db_bytes: db_bytes(&t.db_url).await,
        wal_bytes: t
            .db_url
            .strip_prefix("sqlite://")
            .and_then(|p| std::fs::metadata(format!("{p}-wal")).ok())
            .map_or(0, |m| m.len()),
    }
}

/// One real payment: created with a simulator number that pays, followed until `succeeded`.
async fn pay(http: &reqwest::Client, addr: SocketAddr, key: &str, reference: &str) -> Option<Duration> {
    let start = Instant::now();
    let body = serde_json::json!({"amount": 10, "phone": "0708374149", "reference": reference});
    let r = http.post(format!("http://{addr}/v1/payments")).bearer_auth(key).json(&body).send().await.ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    let id = v["id"].as_str()?.to_string();
    while start.elapsed() < Duration::from_secs(20) {
        let v: serde_json::Value = http
            .get(format!("http://{addr}/v1/payments/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        match v["status"].as_str() {
            Some("succeeded") => return Some(start.elapsed()),
            Some("pending") => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => return None,
        }
    }
    None
}

/// `workers` tasks sending `one()` until `stop` or the request cap; (sent, 4xx, 5xx or no answer).
async fn flood<G, Fut>(workers: usize, cap: usize, stop: Arc<AtomicBool>, one: G) -> (usize, usize, usize)
where
    G: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<u16>> + Send,
{
    let (sent, refused, errors) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let one = Arc::new(one);
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (stop, sent, refused, errors, one) =
            (stop.clone(), sent.clone(), refused.clone(), errors.clone(), one.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let i = sent.fetch_add(1, Ordering::Relaxed);
                if i >= cap {
                    break;
                }
                match one(i).await {
                    Some(s) if s >= 500 => errors.fetch_add(1, Ordering::Relaxed),
                    Some(s) if s >= 400 => refused.fetch_add(1, Ordering::Relaxed),
                    Some(_) => 0,
                    None => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent = sent.load(Ordering::Relaxed).min(cap);
    (sent, refused.load(Ordering::Relaxed), errors.load(Ordering::Relaxed))
}

async fn unknown_methods(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, usize, usize) {
    let http = reqwest::Client::new();
    // As in the issue: 300 of them, whatever the phase's length.
    flood(8, 300, stop, move |_| {
        let http = http.clone();
        async move {
            // 100 KB of random capital letters (xorshift from one random seed: cheap on the client side).
            let mut x = rand_u64() | 1;
            let method: String = (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'A' + (x % 26) as u8)
                })
                .collect();
            let m = reqwest::Method::from_bytes(method.as_bytes()).ok()?;
            http.request(m, format!("http://{addr}/v1/payments")).send().await.ok().map(|r| r.status().as_u16())
        }
    })
    .await
}

async fn stray_callbacks(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, usize, usize) {
    let http = reqwest::Client::new();
    let body = Arc::new(vec![b'x'; 64 * 1024 - 64]);
    flood(16, MAX_REQUESTS_PER_PHASE, stop, move |i| {
        let (http, body) = (http.clone(), body.clone());
        async move {
            let r = http
                .post(format!("http://{addr}/callbacks/stk/{:032x}{i}", u128::from(rand_u64()) << 64 | i as u128))
                .header("content-type", "application/json")
                .body(body.as_ref().clone())
                .send()
                .await;
            r.ok().map(|r| r.status().as_u16())
        }
    })
    .await
}

async fn slow_headers(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, usize, usize) {
    let closed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SLOW_SOCKETS {
        let (stop, closed) = (stop.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else { return };
            let mut buf = [0u8; 256];
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().cycle() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if s.write_all(&[*b]).await.is_err() {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // One byte a second; a close by the server shows as a read of 0 bytes (or an error).
                match tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        closed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    _ => {}
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    // "4xx" here: sockets the server had closed by the end of the phase.
    (SLOW_SOCKETS, closed.load(Ordering::Relaxed), 0)
}

async fn admin_logins(addr: SocketAddr, stop: Arc<AtomicBool>) -> (usize, usize, usize) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    flood(64, MAX_REQUESTS_PER_PHASE, stop, move |i| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("http://{addr}/admin/login"))
                .form(&[("password", format!("guess-{i}"))])
                .send()
                .await;
            // 401 (wrong) is what an attacker expects; 429 is the limit.
            r.ok().map(|r| if r.status() == 401 { 200 } else { r.status().as_u16() })
        }
    })
    .await
}

async fn nul_bytes(addr: SocketAddr, key: String, stop: Arc<AtomicBool>) -> (usize, usize, usize) {
    let http = reqwest::Client::new();
    flood(4, MAX_REQUESTS_PER_PHASE, stop, move |i| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let req = match i % 4 {
                0 => http.post(format!("http://{addr}/callbacks/stk/ab%00cd")).body("{}"),
                1 => http.get(format!("http://{addr}/v1/payments?status=%00")).bearer_auth(&key),
                2 => http.get(format!("http://{addr}/v1/payments/pay_%00")).bearer_auth(&key),
                _ => http
                    .post(format!("http://{addr}/v1/payments"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"amount": 10, "phone": "0708374149", "reference": "N", "description": "a\u{0}b"})),
            };
            req.send().await.ok().map(|r| r.status().as_u16())
        }
    })
    .await
}

/// A random number (std's `RandomState` keys are random per process and differ per instance).
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn db_bytes(url: &str) -> u64 {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return std::fs::metadata(path).map_or(0, |m| m.len());
    }
    let Ok(pool) = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await else { return 0 };
    let size: Option<(i64,)> =
        sqlx::query_as("SELECT pg_database_size(current_database())").fetch_optional(&pool).await.ok().flatten();
    pool.close().await;
    size.map(|s| s.0 as u64).unwrap_or(0)
}

fn pct(v: &[Duration], p: f64) -> String {
    if v.is_empty() {
        return "—".into();
    }
    let mut v = v.to_vec();
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.1}", v[i].as_secs_f64() * 1000.0)
}

fn print_table(kind: Kind, phase: Duration, rows: &[Row]) {
    println!(
        "\n### {} ({phase:?} per phase, LIPA_HEADER_TIMEOUT={HEADER_TIMEOUT}, other settings default)\n",
        kind.as_str()
    );
    println!("| phase | attack requests (4xx / 5xx or none) | /healthz p50 / p99 ms | real payments done (failed) | payment p50 / max ms | RSS MiB | DB MiB (WAL) |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} ({} / {}) | {} / {} | {} ({}) | {} / {} | {:.1} | {:.2} ({:.1}) |",
            r.phase,
            r.sent,
            r.refused,
            r.server_errors,
            pct(&r.healthz, 0.5),
            pct(&r.healthz, 0.99),
            r.payments.len(),
            r.payments_failed,
            pct(&r.payments, 0.5),
            pct(&r.payments, 1.0),
            r.rss_kib as f64 / 1024.0,
            r.db_bytes as f64 / 1_048_576.0,
            r.wal_bytes as f64 / 1_048_576.0,
        );
    }
}

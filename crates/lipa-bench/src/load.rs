//! A small closed-loop HTTP/1.1 load generator: N keep-alive connections over loopback, each sending its
//! next request as soon as the previous answer is read, bounded by a duration and a request count.
//! Latencies are kept whole (a sorted Vec of microseconds), so percentiles are exact.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};

/// One request to send: path, body and extra headers.
pub struct Req {
    pub path: String,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

pub type MakeReq = Arc<dyn Fn(u64) -> Req + Send + Sync>;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub connections: usize,
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Shared counters the progress line reads.
#[derive(Default)]
pub struct Progress {
    pub ok: AtomicU64,
    pub errors: AtomicU64,
}

/// Drive `connections` connections at `addr` for `duration` or until `next` reaches `limit`.
/// `next` hands out request numbers (shared across runs, so each request can target fresh data).
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    next: Arc<AtomicU64>,
    limit: u64,
    make: MakeReq,
    label: &str,
) -> anyhow::Result<Stats> {
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (next, make, progress) = (next.clone(), make.clone(), progress.clone());
        tasks.push(tokio::spawn(async move { connection(addr, deadline, next, limit, make, progress).await }));
    }
    let ticker = {
        let progress = progress.clone();
        let label = label.to_string();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let t = start.elapsed().as_secs_f64();
                let ok = progress.ok.load(Ordering::Relaxed);
                eprint!(
                    "\r  {label}: {t:5.1}/{:.0}s  {ok:>8} ok  {:>5} errors  {:>8.0}/s   ",
                    duration.as_secs_f64(),
                    progress.errors.load(Ordering::Relaxed),
                    ok as f64 / t
                );
            }
        })
    };
    let mut lat: Vec<u32> = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    ticker.abort();
    let seconds = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i] as f64 / 1000.0
    };
    let ok = progress.ok.load(Ordering::Relaxed);
    let errors = progress.errors.load(Ordering::Relaxed);
    eprintln!(
        "\r  {label}: {ok} ok, {errors} errors in {seconds:.1}s = {:.0}/s, p50 {:.2} ms, p99 {:.2} ms        ",
        ok as f64 / seconds,
        pct(0.5),
        pct(0.99)
    );
    Ok(Stats {
        connections,
        ok,
        errors,
        seconds,
        per_second: ok as f64 / seconds,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0),
    })
}

async fn connection(
    addr: SocketAddr,
    deadline: Instant,
    next: Arc<AtomicU64>,
    limit: u64,
    make: MakeReq,
    progress: Arc<Progress>,
) -> anyhow::Result<Vec<u32>> {
    let mut lat = Vec::with_capacity(4096);
    let mut sender = None;
    while Instant::now() < deadline {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= limit {
            break;
        }
        if sender.is_none() {
            let stream = tokio::net::TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender = Some(s);
        }
        let s = sender.as_mut().expect("connected");
        let r = make(n);
        let mut b = Request::post(r.path).header("host", addr.to_string()).header("content-type", "application/json");
        for (k, v) in r.headers {
            b = b.header(k, v);
        }
        let req = b.body(Full::new(Bytes::from(r.body)))?;
        let t0 = Instant::now();
        let ok = async {
            s.ready().await?;
            let resp = s.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            anyhow::Ok(status.is_success())
        }
        .await;
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match ok {
            Ok(true) => {
                lat.push(us);
                progress.ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => {
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                progress.errors.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
        }
    }
    Ok(lat)
}

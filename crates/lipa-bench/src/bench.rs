//! `lipa-bench bench`: the gateway and its floor under the same load, on SQLite and PostgreSQL.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{self, Db, Kind};
use crate::load::{self, MakeReq, Req, Stats};
use crate::procs;

#[derive(clap::Args, Clone)]
pub struct BenchArgs {
    /// Databases to run on, comma separated: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    pub db: Vec<String>,
    /// A PostgreSQL URL; fresh databases are made on its server and dropped afterwards.
    #[arg(long, env = "LIPA_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// How long each point (target × workload × connection count) runs.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent connections, comma separated.
    #[arg(long, default_value = "1,8,32,64", value_delimiter = ',')]
    pub connections: Vec<usize>,
    /// Pending payments made before the callback runs (each callback settles a fresh one).
    #[arg(long, default_value_t = 200_000)]
    pub seed: u64,
    /// The gateway binary (`cargo build --release -p lipa`).
    #[arg(long, default_value = "target/release/lipa")]
    pub lipa: PathBuf,
    /// The gateway's log level during the run (LIPA_LOG).
    #[arg(long, default_value = "warn")]
    pub gateway_log: String,
    /// A name for this run; the JSON goes to target/bench/<label>.json.
    #[arg(long, default_value = "bench")]
    pub label: String,
    /// Where to write the chart.
    #[arg(long, default_value = "target/bench/bench.svg")]
    pub svg: PathBuf,
    /// Extra gateway environment, KEY=VALUE (repeatable), e.g. LIPA_INGEST_MAX_BATCH=1 for the "before".
    #[arg(long = "gateway-env")]
    pub gateway_env: Vec<String>,
    /// Skip the floor (gateway only).
    #[arg(long)]
    pub no_floor: bool,
    /// Workloads to run, comma separated: callbacks, payments.
    #[arg(long, default_value = "callbacks,payments", value_delimiter = ',')]
    pub workloads: Vec<String>,
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    daraja_sim::parse_duration(s)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub target: String,
    pub workload: String,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbResult {
    pub db: Kind,
    pub points: Vec<Point>,
    pub oauth_requests: u64,
    pub run_seconds: f64,
    pub token_lifetime_s: u64,
    pub gateway_peak_rss_kib: u64,
    pub pending_payments_at_end: i64,
    pub floor_peak_rss_kib: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub label: String,
    pub machine: String,
    pub duration_per_point_s: f64,
    pub connections: Vec<usize>,
    pub gateway_log: String,
    pub results: Vec<DbResult>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    format!("{cpus} CPUs ({model}), {} GiB RAM, {}", mem / 1024 / 1024, std::env::consts::OS)
}

/// A realistic successful STK callback for seeded payment `i`.
pub fn callback_body(i: u64) -> Vec<u8> {
    format!(
        r#"{{"Body":{{"stkCallback":{{"MerchantRequestID":"bench-{i}","CheckoutRequestID":"ws_CO_bench_{i}","ResultCode":0,"ResultDesc":"The service request is processed successfully.","CallbackMetadata":{{"Item":[{{"Name":"Amount","Value":10.00}},{{"Name":"MpesaReceiptNumber","Value":"SBK{i:07}"}},{{"Name":"TransactionDate","Value":20250101120000}},{{"Name":"PhoneNumber","Value":254708374149}}]}}}}}}}}"#
    )
    .into_bytes()
}

fn callbacks(prefix: &'static str) -> MakeReq {
    Arc::new(move |i| Req { path: format!("{prefix}benchsecret{i}"), body: callback_body(i), headers: vec![] })
}

fn payments(path: &'static str, letter: char, key: Option<String>) -> MakeReq {
    Arc::new(move |i| Req {
        path: path.to_string(),
        body: format!(r#"{{"amount":10,"phone":"0708374149","reference":"{letter}{i}","description":"bench"}}"#)
            .into_bytes(),
        headers: key.iter().map(|k| ("authorization", format!("Bearer {k}"))).collect(),
    })
}

/// Run the benchmark; `chart` draws the report as SVG (`chart::svg`, passed in by `main`).
pub async fn run(args: BenchArgs, chart: fn(&Report) -> String) -> anyhow::Result<Report> {
    let out = procs::out_dir();
    let tmp = procs::tmp_dir()?;
    let mut results = Vec::new();
    for name in &args.db {
        let kind = match name.as_str() {
            "sqlite" => Kind::Sqlite,
            "postgres" | "postgresql" | "pg" => Kind::Postgres,
            other => anyhow::bail!("unknown database {other:?}: use sqlite or postgres"),
        };
        results.push(run_db(&args, kind, &tmp).await?);
    }
    let report = Report {
        label: args.label.clone(),
        machine: machine(),
        duration_per_point_s: args.duration.as_secs_f64(),
        connections: args.connections.clone(),
        gateway_log: args.gateway_log.clone(),
        results,
    };
    print_table(&report);
    let json = out.join(format!("{}.json", args.label));
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    if let Some(dir) = args.svg.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.svg, chart(&report))?;
    println!("\nwrote {} and {}", json.display(), args.svg.display());
    Ok(report)
}

async fn run_db(args: &BenchArgs, kind: Kind, tmp: &std::path::Path) -> anyhow::Result<DbResult> {
    let k = kind.as_str();
    let run_start = std::time::Instant::now();
    let mut points = Vec::new();
    let want = |w: &str| args.workloads.iter().any(|x| x == w);
    eprintln!("== {k}: gateway ({})", args.lipa.display());
    let sim = procs::start_sim(Duration::from_secs(1)).await?;
    let mut extra = vec![("LIPA_LOG", args.gateway_log.clone())];
    for kv in &args.gateway_env {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("--gateway-env {kv}: use KEY=VALUE"))?;
        extra.push((k, v.to_string()));
    }
    let procs::Planned { url, addr, env } = procs::plan_gateway(kind, "lipa", tmp, &args.pg_url, &sim, &extra).await?;
    let key = procs::create_key(&args.lipa, &env).await?;
    let d = Db::open(&url, 4).await?;
    d.seed_lipa(args.seed, now_ms()).await?;
    d.close().await;
    let log = tmp.join(format!("{k}-gateway.log"));
    let mut gw = procs::spawn(&args.lipa, &["serve"], &env, addr, &log).await?;
    if want("callbacks") {
        let next = Arc::new(AtomicU64::new(0));
        for &c in &args.connections {
            let label = format!("{k} lipa callbacks c={c}");
            let stats =
                load::run(addr, c, args.duration, next.clone(), args.seed, callbacks("/callbacks/stk/"), &label)
                    .await?;
            points.push(Point { target: "lipa".into(), workload: "callbacks".into(), stats });
        }
    }
    if want("payments") {
        let next = Arc::new(AtomicU64::new(0));
        for &c in &args.connections {
            let label = format!("{k} lipa payments c={c}");
            let stats = load::run(
                addr,
                c,
                args.duration,
                next.clone(),
                u64::MAX,
                payments("/v1/payments", 'L', Some(key.clone())),
                &label,
            )
            .await?;
            points.push(Point { target: "lipa".into(), workload: "payments".into(), stats });
        }
    }
    // Let the last callbacks land before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let oauth_requests = sim.sim.oauth_requests();
    let gateway_peak_rss_kib = gw.peak_rss_kib();
    gw.kill().await?;
    let d = Db::open(&url, 2).await?;
    let pending = d.lipa_status_counts().await?.into_iter().find(|(s, _)| s == "pending").map(|(_, n)| n).unwrap_or(0);
    d.close().await;
    db::drop_fresh(&url, &args.pg_url).await;
    let run_seconds = run_start.elapsed().as_secs_f64();

    let mut floor_peak_rss_kib = 0;
    if !args.no_floor {
        eprintln!("== {k}: floor");
        let sim = procs::start_sim(Duration::from_secs(1)).await?;
        let url = db::fresh(kind, "floor", tmp, &args.pg_url).await?;
        let d = Db::open(&url, 2).await?;
        d.setup_floor(args.seed, now_ms()).await?;
        d.close().await;
        let addr = procs::free_addr()?;
        let exe = std::env::current_exe()?;
        let listen = addr.to_string();
        let log = tmp.join(format!("{k}-floor.log"));
        let mut floor = procs::spawn(
            &exe,
            &["floor", "--database-url", &url, "--listen", &listen, "--sim-url", &sim.url],
            &[],
            addr,
            &log,
        )
        .await?;
        if want("callbacks") {
            let next = Arc::new(AtomicU64::new(0));
            for &c in &args.connections {
                let label = format!("{k} floor callbacks c={c}");
                let stats =
                    load::run(addr, c, args.duration, next.clone(), args.seed, callbacks("/cb/"), &label).await?;
                points.push(Point { target: "floor".into(), workload: "callbacks".into(), stats });
            }
        }
        if want("payments") {
            let next = Arc::new(AtomicU64::new(0));
            for &c in &args.connections {
                let label = format!("{k} floor payments c={c}");
                let stats =
                    load::run(addr, c, args.duration, next.clone(), u64::MAX, payments("/pay", 'F', None), &label)
                        .await?;
                points.push(Point { target: "floor".into(), workload: "payments".into(), stats });
            }
        }
        floor_peak_rss_kib = floor.peak_rss_kib();
        floor.kill().await?;
        db::drop_fresh(&url, &args.pg_url).await;
    }
    Ok(DbResult {
        db: kind,
        points,
        oauth_requests,
        run_seconds,
        token_lifetime_s: daraja_sim::SimConfig::default().token_ttl.as_secs(),
        gateway_peak_rss_kib,
        pending_payments_at_end: pending,
        floor_peak_rss_kib,
    })
}

pub fn print_table(r: &Report) {
    println!(
        "\nlipa-bench — {} — {}; {:.0} s per point; gateway log level {}",
        r.label, r.machine, r.duration_per_point_s, r.gateway_log
    );
    for res in &r.results {
        for (workload, title) in [
            ("callbacks", "callbacks ingested (committed before the 200)"),
            ("payments", "payments created end to end (API → push → stored)"),
        ] {
            let find = |t: &str, c: usize| {
                res.points.iter().find(|p| p.target == t && p.workload == workload && p.stats.connections == c)
            };
            if !res.points.iter().any(|p| p.workload == workload) {
                continue;
            }
            println!("\n{} — {title}", res.db.as_str());
            println!(
                "{:>6} | {:>9} {:>8} {:>8} | {:>9} {:>8} {:>8} | {:>10}",
                "conns", "lipa /s", "p50 ms", "p99 ms", "floor /s", "p50 ms", "p99 ms", "lipa/floor"
            );
            for &c in &r.connections {
                let l = find("lipa", c);
                let f = find("floor", c);
                let cell = |p: Option<&Point>| match p {
                    Some(p) => format!("{:>9.0} {:>8.2} {:>8.2}", p.stats.per_second, p.stats.p50_ms, p.stats.p99_ms),
                    None => format!("{:>9} {:>8} {:>8}", "-", "-", "-"),
                };
                let ratio = match (l, f) {
                    (Some(l), Some(f)) if f.stats.per_second > 0.0 => {
                        format!("{:.2}×", l.stats.per_second / f.stats.per_second)
                    }
                    _ => "-".into(),
                };
                let errs: u64 = l.map(|p| p.stats.errors).unwrap_or(0) + f.map(|p| p.stats.errors).unwrap_or(0);
                let note = if errs > 0 { format!("  ({errs} errors)") } else { String::new() };
                println!("{c:>6} | {} | {} | {ratio:>10}{note}", cell(l), cell(f));
            }
        }
        println!(
            "\n{}: OAuth requests {} over {:.0} s (token lifetime {} s); gateway peak RSS {:.1} MiB with {} payments pending at the end; floor peak RSS {:.1} MiB",
            res.db.as_str(),
            res.oauth_requests,
            res.run_seconds,
            res.token_lifetime_s,
            res.gateway_peak_rss_kib as f64 / 1024.0,
            res.pending_payments_at_end,
            res.floor_peak_rss_kib as f64 / 1024.0
        );
    }
}

//! `lipa-bench c2b`: C2B confirmations ingested per second — each committed (recorded, deduplicated,
//! matched, a new payment with its event) before its 200 — with group commit, beside the same gateway
//! committing one transaction per request (`LIPA_INGEST_MAX_BATCH=1`, the floor of "commit before you
//! answer"), in the same run on the same machine.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::bench::parse_duration;
use crate::db::{self, Db, Kind};
use crate::load::{self, MakeReq, Req, Stats};
use crate::procs;

#[derive(clap::Args, Clone)]
pub struct C2bBenchArgs {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    #[arg(long, env = "LIPA_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// How long each point runs.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent connections, comma separated.
    #[arg(long, default_value = "1,8,32,64", value_delimiter = ',')]
    pub connections: Vec<usize>,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/lipa")]
    pub lipa: PathBuf,
}

/// A confirmation (v2, masked MSISDN) for request `i`: its own TransID and an account number no payment
/// has, so each one becomes a new payment with its event.
pub fn confirmation(i: u64, account: &str, amount: i64) -> Vec<u8> {
    format!(
        r#"{{"TransactionType":"Pay Bill","TransID":"BNC{i:07}","TransTime":"20261130120000","TransAmount":"{amount}.00","BusinessShortCode":"174379","BillRefNumber":"{account}","InvoiceNumber":"","OrgAccountBalance":"1000.00","ThirdPartyTransID":"","MSISDN":"2547 ***** 149","FirstName":"BENCH","MiddleName":"","LastName":"PAYER"}}"#
    )
    .into_bytes()
}

/// The confirmation path the gateway registered with the simulator.
/// (The gateway answers /healthz while it registers: wait for the registration.)
pub async fn confirmation_path(sim: &procs::Sim) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let reg = loop {
        if let Some(reg) = sim.sim.c2b_registrations().into_iter().next() {
            break reg;
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the gateway registered no C2B URLs with the simulator");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after_scheme = reg.confirmation_url.split_once("://").map_or(reg.confirmation_url.as_str(), |(_, r)| r);
    Ok(after_scheme.find('/').map_or("/".to_string(), |i| after_scheme[i..].to_string()))
}

/// Rows in `c2b_transactions`.
pub async fn c2b_count(d: &Db) -> anyhow::Result<i64> {
    d.count("SELECT COUNT(*) FROM c2b_transactions").await
}

async fn one_mode(a: &C2bBenchArgs, kind: Kind, batch: Option<&str>) -> anyhow::Result<Vec<Stats>> {
    let tmp = procs::tmp_dir()?;
    let sim = procs::start_sim(Duration::from_secs(1)).await?;
    let mut extra = vec![("LIPA_LOG", "warn".to_string())];
    if let Some(b) = batch {
        extra.push(("LIPA_INGEST_MAX_BATCH", b.to_string()));
    }
    let procs::Planned { url, addr, env } = procs::plan_gateway(kind, "c2b", &tmp, &a.pg_url, &sim, &extra).await?;
    let log = tmp.join(format!("c2b-{}-gateway.log", kind.as_str()));
    let mut gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;
    let path = confirmation_path(&sim).await?;
    let make: MakeReq =
        Arc::new(move |i| Req { path: path.clone(), body: confirmation(i, &format!("ACC{i}"), 10), headers: vec![] });
    let next = Arc::new(AtomicU64::new(0));
    let mut out = Vec::new();
    for &c in &a.connections {
        let label = format!("{} c2b {} c={c}", kind.as_str(), batch.map_or("group commit", |_| "one commit each"));
        out.push(load::run(addr, c, a.duration, next.clone(), u64::MAX, make.clone(), &label).await?);
    }
    gw.kill().await?;
    let d = Db::open(&url, 2).await?;
    let stored = c2b_count(&d).await?;
    d.close().await;
    db::drop_fresh(&url, &a.pg_url).await;
    let acknowledged: u64 = out.iter().map(|s| s.ok).sum();
    if stored as u64 != acknowledged {
        anyhow::bail!("{acknowledged} confirmations acknowledged but {stored} stored");
    }
    Ok(out)
}

pub async fn run(a: C2bBenchArgs) -> anyhow::Result<bool> {
    let kind = Kind::from_arg(&a.db);
    eprintln!("== c2b on {}: group commit", kind.as_str());
    let grouped = one_mode(&a, kind, None).await?;
    eprintln!("== c2b on {}: one commit per request (LIPA_INGEST_MAX_BATCH=1)", kind.as_str());
    let single = one_mode(&a, kind, Some("1")).await?;
    println!(
        "\nlipa-bench c2b — {} — {}; {:.0} s per point\n{} — C2B confirmations ingested (committed and matched before the 200)",
        kind.as_str(),
        crate::bench::machine(),
        a.duration.as_secs_f64(),
        kind.as_str()
    );
    println!(
        "{:>6} | {:>9} {:>8} {:>8} | {:>9} {:>8} {:>8} | {:>7}",
        "conns", "group /s", "p50 ms", "p99 ms", "1-each /s", "p50 ms", "p99 ms", "ratio"
    );
    let mut errors = 0;
    for (g, s) in grouped.iter().zip(&single) {
        errors += g.errors + s.errors;
        let ratio = if s.per_second > 0.0 { g.per_second / s.per_second } else { 0.0 };
        println!(
            "{:>6} | {:>9.0} {:>8.2} {:>8.2} | {:>9.0} {:>8.2} {:>8.2} | {:>6.2}×",
            g.connections, g.per_second, g.p50_ms, g.p99_ms, s.per_second, s.p50_ms, s.p99_ms, ratio
        );
    }
    println!("errors: {errors}; every acknowledged confirmation was found stored");
    Ok(errors == 0)
}

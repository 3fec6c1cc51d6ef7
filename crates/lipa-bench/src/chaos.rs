//! `lipa-bench chaos`: payments under load while the simulator drops, duplicates and delays callbacks and
//! refuses pushes with spike arrests, and the gateway is killed with SIGKILL and restarted mid-run. At the
//! end every payment is compared with the simulator's truth.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use daraja_sim::{Faults, TxState};

use crate::api::Api;
use crate::bench::parse_duration;
use crate::db::{self, Db, Kind};
use crate::procs;

#[derive(clap::Args, Clone)]
pub struct ChaosArgs {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    pub db: String,
    #[arg(long, env = "LIPA_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// How long payments are created.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Concurrent API clients.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// How many times the gateway is killed (SIGKILL) and restarted, evenly spread over the run.
    #[arg(long, default_value_t = 2)]
    pub kills: u32,
    #[arg(long, default_value_t = 0.10)]
    pub drop: f64,
    #[arg(long, default_value_t = 0.10)]
    pub duplicate: f64,
    #[arg(long, default_value_t = 0.10)]
    pub delay: f64,
    #[arg(long, default_value_t = 0.05)]
    pub spike_arrest: f64,
    /// The gateway binary.
    #[arg(long, default_value = "target/release/lipa")]
    pub lipa: PathBuf,
    /// C2B payments made from the handset's SIM menu after the STK run, under the same faults (0: none).
    #[arg(long, default_value_t = 200)]
    pub c2b: u64,
    /// Random seed of the simulator's faults.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

const PHONES: [(&str, i64); 3] = [("0708374149", 0), ("0700001032", 1032), ("0700000001", 1)];

pub async fn run(a: ChaosArgs) -> anyhow::Result<bool> {
    let kind = Kind::from_arg(&a.db);
    let tmp = procs::tmp_dir()?;
    let reconcile_after = Duration::from_secs(2);
    let pending_max_age = Duration::from_secs(20);
    let late_ms = 3000;
    let sim = procs::start_sim(Duration::from_millis(300)).await?;
    sim.sim.set_faults(Faults {
        spike_arrest: a.spike_arrest,
        drop_callback: a.drop,
        duplicate_callback: a.duplicate,
        late_callback: a.delay,
        late_callback_ms: late_ms,
        seed: Some(a.seed),
        ..Faults::default()
    });
    let procs::Planned { url, addr, env } = procs::plan_gateway(
        kind,
        "chaos",
        &tmp,
        &a.pg_url,
        &sim,
        &[
            ("LIPA_RECONCILE_AFTER", format!("{}ms", reconcile_after.as_millis())),
            ("LIPA_PENDING_MAX_AGE", format!("{}s", pending_max_age.as_secs())),
            ("LIPA_WORKER_TICK", "200ms".into()),
            ("LIPA_LOG", "info,sqlx=warn".into()),
        ],
    )
    .await?;
    let key = procs::create_key(&a.lipa, &env).await?;
    let log = tmp.join(format!("chaos-{}-gateway.log", kind.as_str()));
    let _ = std::fs::remove_file(&log);
    eprintln!(
        "== chaos on {}: {} clients for {:?}; callbacks dropped {:.0}%, doubled {:.0}%, delayed {:.0}% ({late_ms} ms); pushes spike-arrested {:.0}%; {} SIGKILLs; log {}",
        kind.as_str(),
        a.connections,
        a.duration,
        a.drop * 100.0,
        a.duplicate * 100.0,
        a.delay * 100.0,
        a.spike_arrest * 100.0,
        a.kills,
        log.display()
    );
    let mut gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;

    let start = Instant::now();
    let deadline = start + a.duration;
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let retries = Arc::new(AtomicU64::new(0));
    let api = Arc::new(Api::new(addr, key.clone())?);
    let mut clients = Vec::new();
    for _ in 0..a.connections {
        let (next, created, retries, api) = (next.clone(), created.clone(), retries.clone(), api.clone());
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                // 60% pay, 20% cancel, 20% lack funds.
                let (phone, code) = PHONES[[0, 0, 0, 1, 2][(i % 5) as usize]];
                let body =
                    serde_json::json!({ "amount": 10 + (i % 7) as i64, "phone": phone, "reference": format!("C{i}") });
                // Retry the same request (same Idempotency-Key) until the gateway answers it.
                match api.post("/v1/payments", &body, &format!("chaos-{i}"), &retries).await {
                    Some((status, v)) if status.is_success() => {
                        if let Some(id) = v["id"].as_str() {
                            created.lock().expect("lock").insert(id.to_string(), code);
                        }
                    }
                    Some((status, _)) => eprintln!("\nchaos: request {i} refused: {status}"),
                    None => eprintln!("\nchaos: request {i} never answered"),
                }
            }
        }));
    }
    // The killer: SIGKILL and restart on the same port, evenly spread.
    let mut restarts = 0;
    for k in 1..=a.kills {
        let at = start + a.duration * k / (a.kills + 1);
        while Instant::now() < at {
            tokio::time::sleep(Duration::from_millis(200)).await;
            progress(start, &created, &retries, restarts);
        }
        gw.kill().await?;
        eprintln!("\n  SIGKILL gateway (pid {}) at {:.1}s", gw.pid, start.elapsed().as_secs_f64());
        gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;
        restarts += 1;
        eprintln!("  restarted (pid {}) at {:.1}s", gw.pid, start.elapsed().as_secs_f64());
    }
    while clients.iter().any(|c| !c.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        progress(start, &created, &retries, restarts);
    }
    for c in clients {
        c.await?;
    }
    eprintln!("\n  load over at {:.1}s; waiting for every payment to settle", start.elapsed().as_secs_f64());

    let d = Db::open(&url, 2).await?;
    let settle_deadline = Instant::now() + pending_max_age + Duration::from_secs(60);
    loop {
        let pending = pending_count(&d).await?;
        let sim_pending = sim.sim.transactions().iter().filter(|t| t.state == TxState::Pending).count();
        eprint!("\r  pending: gateway {pending}, simulator {sim_pending}   ");
        if (pending == 0 && sim_pending == 0) || Instant::now() > settle_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Late and doubled callbacks still on their way must land before we count events.
    tokio::time::sleep(Duration::from_millis(late_ms + 1500)).await;
    eprintln!();
    let ok = {
        let created = created.lock().expect("lock").clone();
        verify(&d, &sim, &created, retries.load(Ordering::Relaxed), restarts).await?
    };
    let c2b_ok = crate::chaos_c2b::run(addr, &sim, &key, &d, a.c2b, late_ms).await?;
    gw.kill().await?;
    d.close().await;
    db::drop_fresh(&url, &a.pg_url).await;
    Ok(ok && c2b_ok)
}

fn progress(start: Instant, created: &Mutex<HashMap<String, i64>>, retries: &AtomicU64, restarts: u32) {
    eprint!(
        "\r  {:5.1}s  {} payments created, {} client retries, {restarts} restarts   ",
        start.elapsed().as_secs_f64(),
        created.lock().map(|c| c.len()).unwrap_or(0),
        retries.load(Ordering::Relaxed)
    );
}

async fn pending_count(d: &Db) -> anyhow::Result<i64> {
    Ok(d.lipa_status_counts().await?.into_iter().find(|(s, _)| s == "pending").map(|(_, n)| n).unwrap_or(0))
}

async fn verify(
    d: &Db,
    sim: &procs::Sim,
    created: &HashMap<String, i64>,
    retries: u64,
    restarts: u32,
) -> anyhow::Result<bool> {
    let payments = d.lipa_payments().await?;
    let txs = sim.sim.transactions();
    let by_secret: HashMap<String, &daraja_sim::TransactionView> =
        txs.iter().map(|t| (t.callback_url.rsplit('/').next().unwrap_or_default().to_string(), t)).collect();
    let secrets: HashSet<&str> = payments.iter().map(|p| p.2.as_str()).collect();
    let ids: HashSet<&str> = payments.iter().map(|p| p.0.as_str()).collect();

    let mut counts: HashMap<&str, i64> = HashMap::new();
    let (mut matched, mut mismatched, mut pending, mut unreached_review, mut unreached_failed) = (0, 0, 0, 0, 0);
    let mut unknowable_review = 0;
    let mut receipt_mismatch = 0;
    let mut examples = Vec::new();
    for (id, status, secret, checkout, receipt) in &payments {
        *counts.entry(status.as_str()).or_default() += 1;
        if status == "pending" {
            pending += 1;
            continue;
        }
        match by_secret.get(secret) {
            Some(t) => {
                let truth = match (t.state, t.result_code) {
                    (TxState::Final, Some(0)) => "succeeded",
                    (TxState::Final, Some(_)) => "failed",
                    _ => "pending",
                };
                // The gateway died after the push left and before it stored the CheckoutRequestID, and every
                // callback for it was dropped: nothing can tell the gateway what happened (STK Query needs
                // that id), so `needs_review` is the honest answer.
                let all_dropped = !t.callbacks.is_empty() && t.callbacks.iter().all(|c| c.was_dropped());
                if truth == status {
                    matched += 1;
                } else if status == "needs_review" && checkout.is_none() && all_dropped {
                    unknowable_review += 1;
                } else {
                    mismatched += 1;
                    if examples.len() < 5 {
                        examples.push(format!("{id}: gateway {status}, simulator {truth}"));
                    }
                }
                if let (Some(mine), Some(theirs)) = (receipt, &t.receipt) {
                    if mine != theirs {
                        receipt_mismatch += 1;
                    }
                }
            }
            // The push never reached Daraja (refused by spike arrest, or the gateway died before sending).
            None if status == "failed" => unreached_failed += 1,
            None if status == "needs_review" => unreached_review += 1,
            None => {
                mismatched += 1;
                if examples.len() < 5 {
                    examples.push(format!("{id}: gateway {status}, but no push reached the simulator"));
                }
            }
        }
    }
    let orphans = by_secret.keys().filter(|s| !secrets.contains(s.as_str())).count();
    let lost = created.keys().filter(|id| !ids.contains(id.as_str())).count();
    let doubled = d.lipa_doubled_events().await?;
    let multi = d.lipa_multi_event_payments().await?;
    let events = d.lipa_event_count().await?;
    let callbacks = d.lipa_callback_count().await?;
    let sent: usize = txs.iter().map(|t| t.callbacks.len()).sum();
    let faults: HashMap<String, usize> =
        txs.iter().flat_map(|t| t.callbacks.iter().filter_map(|c| c.fault.clone())).fold(HashMap::new(), |mut m, f| {
            *m.entry(f).or_default() += 1;
            m
        });
    let settled: i64 = payments.iter().filter(|p| p.1 != "pending").count() as i64;

    println!("\nchaos results");
    println!("  payments acknowledged to clients   {}", created.len());
    println!("  payments in the gateway            {}  {:?}", payments.len(), sorted(&counts));
    println!("  simulator transactions             {}", txs.len());
    println!("  callbacks sent by the simulator    {sent}  faults {:?}", sorted_s(&faults));
    println!("  callbacks stored by the gateway    {callbacks}");
    println!("  client retries / gateway restarts  {retries} / {restarts}");
    println!("  status equals the simulator        {matched}");
    println!("  push never reached Daraja: failed  {unreached_failed}");
    println!(
        "  push never reached Daraja: review  {unreached_review}  (gateway died mid-push; never resent, by design)"
    );
    println!(
        "  push fate unknown, callback dropped {unknowable_review}  (review: gateway died mid-push and the only callback was lost; by design)"
    );
    println!("  status differs from the simulator  {mismatched}");
    for e in &examples {
        println!("      {e}");
    }
    println!("  receipts differing                 {receipt_mismatch}");
    println!("  pending at the end                 {pending}");
    println!("  acknowledged but missing (lost)    {lost}");
    println!("  simulator pushes with no payment   {orphans}");
    println!("  events                             {events} for {settled} settled payments");
    println!("  doubled events                     {} (payments with >1 event: {multi})", doubled.len());
    let pass = mismatched == 0
        && pending == 0
        && lost == 0
        && orphans == 0
        && doubled.is_empty()
        && multi == 0
        && receipt_mismatch == 0
        && events == settled
        && !payments.is_empty();
    println!("{}", if pass { "PASS" } else { "FAIL" });
    if payments.is_empty() {
        bail!("no payments were made");
    }
    Ok(pass)
}

fn sorted(m: &HashMap<&str, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = m.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    v.sort();
    v
}

fn sorted_s(m: &HashMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort();
    v
}

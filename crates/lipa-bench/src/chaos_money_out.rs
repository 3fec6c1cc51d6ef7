//! `lipa-bench chaos-money-out`: payouts and refunds under load while the simulator drops, doubles and
//! delays their results and times requests out in its queue, and the gateway is killed with SIGKILL and
//! restarted mid-run. At the end every payout and refund is compared with the simulator's ledger: nothing
//! lost, nothing paid twice, nothing pending forever, no payment refunded beyond what it paid.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use daraja_sim::{Faults, MoneyOutKind};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::api::Api;
use crate::chaos::ChaosArgs;
use crate::db::{self, Kind};
use crate::procs;

/// Payout recipients: one paid, one not registered (2040).
const RECIPIENTS: [&str; 2] = ["0712345678", "0700002040"];

pub async fn run(a: ChaosArgs) -> anyhow::Result<bool> {
    let kind = Kind::from_arg(&a.db);
    let tmp = procs::tmp_dir()?;
    let sim = procs::start_sim(Duration::from_millis(300)).await?;
    let cert = tmp.join("sim-certificate.pem");
    std::fs::write(&cert, daraja_sim::SIM_CERTIFICATE_PEM)?;
    let procs::Planned { url, addr, env } = procs::plan_gateway(
        kind,
        "chaos_money_out",
        &tmp,
        &a.pg_url,
        &sim,
        &[
            ("LIPA_RECONCILE_AFTER", "2s".into()),
            ("LIPA_PENDING_MAX_AGE", "25s".into()),
            ("LIPA_WORKER_TICK", "200ms".into()),
            ("LIPA_REFUND_METHOD", "b2c".into()),
            ("MPESA_CERTIFICATE", cert.display().to_string()),
            ("LIPA_LOG", "info,sqlx=warn".into()),
        ],
    )
    .await?;
    let key = procs::create_key(&a.lipa, &env).await?;
    let log = tmp.join(format!("chaos-money-out-{}-gateway.log", kind.as_str()));
    let _ = std::fs::remove_file(&log);
    let mut gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;
    let run = Arc::new(Api::new(addr, key)?);
    let retries = Arc::new(AtomicU64::new(0));

    // Payments to refund, made before the faults start.
    let mut payments = Vec::new();
    for i in 0..(a.connections as u64 * 2) {
        let body = json!({"amount": 1000, "phone": "0708374149", "reference": format!("MO{i}")});
        if let Some((StatusCode::CREATED, p)) = run.post("/v1/payments", &body, &format!("mo-pay-{i}"), &retries).await
        {
            payments.push(p["id"].as_str().unwrap_or_default().to_string());
        }
    }
    let settle = Instant::now() + Duration::from_secs(30);
    while Instant::now() < settle {
        let pending = run.all("/v1/payments?status=pending").await?.len();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sim.sim.set_faults(Faults {
        drop_callback: a.drop,
        duplicate_callback: a.duplicate,
        late_callback: a.delay,
        late_callback_ms: 3000,
        queue_timeout: a.spike_arrest,
        seed: Some(a.seed),
        ..Faults::default()
    });
    eprintln!(
        "== chaos-money-out on {}: {} clients for {:?}; results dropped {:.0}%, doubled {:.0}%, delayed {:.0}%; queue timeouts {:.0}%; {} SIGKILLs; log {}",
        kind.as_str(), a.connections, a.duration, a.drop * 100.0, a.duplicate * 100.0, a.delay * 100.0,
        a.spike_arrest * 100.0, a.kills, log.display()
    );
    let before = utility(&sim.sim);
    let start = Instant::now();
    let deadline = start + a.duration;
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(Mutex::new(HashSet::<String>::new()));
    let payments = Arc::new(payments);
    let mut clients = Vec::new();
    for _ in 0..a.connections {
        let (run, next, created, retries, payments) =
            (run.clone(), next.clone(), created.clone(), retries.clone(), payments.clone());
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                // Two payouts, then a refund of 400 of a payment of 1000 (the third try on one is refused).
                let (path, body) = if i % 3 == 2 && !payments.is_empty() {
                    let p = &payments[(i / 3) as usize % payments.len()];
                    (format!("/v1/payments/{p}/refunds"), json!({"amount": 400}))
                } else {
                    (
                        "/v1/payouts".to_string(),
                        json!({"amount": 10 + (i % 50) as i64, "phone": RECIPIENTS[(i % 5 == 4) as usize]}),
                    )
                };
                match run.post(&path, &body, &format!("mo-{i}"), &retries).await {
                    Some((StatusCode::CREATED, v)) => {
                        created.lock().expect("lock").insert(v["id"].as_str().unwrap_or_default().to_string());
                    }
                    Some((StatusCode::CONFLICT, _)) => {}
                    other => eprintln!("\nchaos-money-out: request {i}: {other:?}"),
                }
            }
        }));
    }
    let mut restarts = 0;
    for k in 1..=a.kills {
        let at = start + a.duration * k / (a.kills + 1);
        while Instant::now() < at {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        gw.kill().await?;
        eprintln!("  SIGKILL gateway (pid {}) at {:.1}s", gw.pid, start.elapsed().as_secs_f64());
        gw = procs::spawn(&a.lipa, &["serve"], &env, addr, &log).await?;
        restarts += 1;
    }
    for c in clients {
        c.await?;
    }
    eprintln!("  load over at {:.1}s; waiting for every payout and refund to settle", start.elapsed().as_secs_f64());
    let settle = Instant::now() + Duration::from_secs(90);
    let rows = loop {
        let mut rows = run.all("/v1/payouts").await?;
        for p in payments.iter() {
            rows.extend(run.all(&format!("/v1/payments/{p}/refunds")).await?);
        }
        let pending = rows.iter().filter(|r| r["status"] == "pending").count();
        eprint!("\r  pending: {pending}   ");
        if pending == 0 || Instant::now() > settle {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    tokio::time::sleep(Duration::from_millis(4500)).await; // late and doubled results still on their way
    eprintln!();
    let created = created.lock().expect("lock").clone();
    let ok = verify(&run, &sim.sim, &rows, &created, &payments, before).await?;
    eprintln!("  {} client retries, {restarts} restarts", retries.load(Ordering::Relaxed));
    gw.kill().await?;
    db::drop_fresh(&url, &a.pg_url).await;
    Ok(ok)
}

fn utility(sim: &daraja_sim::Simulator) -> i64 {
    sim.accounts().iter().find(|a| a.name == "Utility Account").map(|a| a.available_cents).unwrap_or_default()
}

async fn verify(
    run: &Api,
    sim: &daraja_sim::Simulator,
    rows: &[Value],
    created: &HashSet<String>,
    payments: &[String],
    utility_before: i64,
) -> anyhow::Result<bool> {
    let mut problems = Vec::new();
    let by_id: HashMap<&str, &Value> = rows.iter().map(|r| (r["id"].as_str().unwrap_or_default(), r)).collect();
    let lost: Vec<&String> = created.iter().filter(|id| !by_id.contains_key(id.as_str())).collect();
    if !lost.is_empty() {
        problems.push(format!("{} answered ids are not in the gateway: {lost:?}", lost.len()));
    }
    let mut status: HashMap<String, usize> = HashMap::new();
    for r in rows {
        *status
            .entry(format!("{}/{}", r["object"].as_str().unwrap_or("?"), r["status"].as_str().unwrap_or("?")))
            .or_default() += 1;
    }
    let pending = rows.iter().filter(|r| r["status"] == "pending").count();
    if pending > 0 {
        problems.push(format!("{pending} still pending"));
    }
    // The simulator's ledger: B2C requests by OriginatorConversationID (it refuses a second one), and what
    // each paid.
    let ledger: Vec<_> = sim.money_out().into_iter().filter(|m| m.kind == MoneyOutKind::B2c).collect();
    let mut seen = HashSet::new();
    let mut paid_cents = 0i64;
    for m in &ledger {
        if !seen.insert(m.originator_conversation_id.clone()) {
            problems.push(format!("{} reached Daraja twice", m.originator_conversation_id));
        }
        let paid = m.result_code.as_deref() == Some("0");
        if paid {
            paid_cents += m.amount as i64 * 100;
        }
        match by_id.get(m.originator_conversation_id.as_str()).map(|r| r["status"].as_str().unwrap_or_default()) {
            Some("failed") if paid => {
                problems.push(format!("{} paid but failed in lipa", m.originator_conversation_id))
            }
            Some("succeeded") if !paid => {
                problems.push(format!("{} succeeded in lipa, unpaid", m.originator_conversation_id))
            }
            None => problems.push(format!("{} reached Daraja, unknown to lipa", m.originator_conversation_id)),
            _ => {}
        }
    }
    for r in rows.iter().filter(|r| r["status"] == "succeeded") {
        if !seen.contains(r["id"].as_str().unwrap_or_default()) {
            problems.push(format!("{} succeeded without a B2C request", r["id"]));
        }
    }
    let moved = utility_before - utility(sim);
    if moved != paid_cents {
        problems.push(format!("the utility account moved {moved} cents, the paid requests {paid_cents}"));
    }
    // Every payment's succeeded refunds stay within it, and refunded_amount says so.
    for p in payments {
        let payment = run.get(&format!("/v1/payments/{p}")).await?;
        let refunded: i64 = rows
            .iter()
            .filter(|r| r["payment_id"] == p.as_str() && r["status"] == "succeeded")
            .map(|r| r["amount"].as_i64().unwrap_or_default())
            .sum();
        if refunded > payment["amount"].as_i64().unwrap_or_default() || payment["refunded_amount"] != refunded {
            problems.push(format!("{p}: refunds {refunded}, refunded_amount {}", payment["refunded_amount"]));
        }
    }
    let review = rows.iter().filter(|r| r["status"] == "needs_review").count();
    let mut statuses: Vec<_> = status.into_iter().collect();
    statuses.sort();
    eprintln!(
        "  gateway: {statuses:?}; {} B2C requests at Daraja, {} paid",
        ledger.len(),
        ledger.iter().filter(|m| m.result_code.as_deref() == Some("0")).count()
    );
    eprintln!("  utility account moved {moved} cents; the paid requests account for {paid_cents}");
    eprintln!("  needs_review: {review} (each is a request whose outcome M-Pesa never told; none is pending)");
    if problems.is_empty() {
        eprintln!("PASS: nothing lost, nothing paid twice, nothing pending, no payment over-refunded");
        Ok(true)
    } else {
        for p in &problems {
            eprintln!("  problem: {p}");
        }
        eprintln!("FAIL: {} problems", problems.len());
        Ok(false)
    }
}

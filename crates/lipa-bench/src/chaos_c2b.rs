//! The C2B part of `lipa-bench chaos`: payments made from the handset's SIM menu (the simulator's control
//! API) while the simulator drops, doubles and delays the confirmations it sends (the same faults as the
//! STK callbacks). Half pay an open payment's account, a tenth of those with another amount; the rest pay
//! accounts lipa does not know. Every confirmation that arrived must be in lipa exactly once, matched by the
//! rules; one that Daraja never delivered cannot be known (C2B has no query; the Pull API would be the way).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::Db;
use crate::procs;

/// What was paid: the sim's TransID → (the payment it should settle, if any, and whether the amount was right).
type Paid = HashMap<String, (Option<String>, bool)>;

async fn rows(d: &Db) -> anyhow::Result<(HashSet<String>, HashMap<String, (String, String, Option<String>)>)> {
    let ids: Vec<(String,)> = d.rows("SELECT trans_id FROM c2b_transactions WHERE trans_id IS NOT NULL").await?;
    let payments: Vec<(String, String, String, Option<String>)> =
        d.rows("SELECT id, status, channel, mpesa_receipt FROM payments").await?;
    Ok((
        ids.into_iter().map(|r| r.0).collect(),
        payments.into_iter().map(|(id, status, channel, receipt)| (id, (status, channel, receipt))).collect(),
    ))
}

/// Make `n` C2B payments through the simulator against the gateway at `addr`, then check them.
pub async fn run(addr: SocketAddr, sim: &procs::Sim, key: &str, d: &Db, n: u64, late_ms: u64) -> anyhow::Result<bool> {
    if n == 0 {
        return Ok(true);
    }
    eprintln!("== chaos C2B: {n} SIM-menu payments under the same callback faults");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let paid: Arc<Mutex<Paid>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (http, paid, key, sim_url) = (http.clone(), paid.clone(), key.to_string(), sim.url.clone());
        tasks.push(tokio::spawn(async move {
            for i in (w..n).step_by(8) {
                let amount = 10 + (i % 7) as i64;
                let (account, payment, right) = if i % 2 == 0 {
                    let body = serde_json::json!({"amount": amount, "reference": format!("K{i}")});
                    let r = http.post(format!("http://{addr}/v1/payments")).bearer_auth(&key).json(&body).send().await;
                    let Ok(v) = r.and_then(|r| r.error_for_status()) else { continue };
                    let v: serde_json::Value = v.json().await.unwrap_or_default();
                    let account = v["account_reference"].as_str().unwrap_or_default().to_string();
                    (account, v["id"].as_str().map(str::to_string), i % 10 != 0)
                } else {
                    (format!("U{i}"), None, true)
                };
                let pay = if right { amount } else { amount + 1 };
                let body = serde_json::json!({"phone": "0712345678", "kind": "paybill", "business_number": "174379",
                    "account": account, "amount": pay, "pin": "1234"});
                let r = http.post(format!("{sim_url}/sim/api/c2b/pay")).json(&body).send().await;
                if let Ok(r) = r {
                    let v: serde_json::Value = r.json().await.unwrap_or_default();
                    if let Some(t) = v["trans_id"].as_str() {
                        paid.lock().expect("lock").insert(t.to_string(), (payment, right));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    // Late and doubled confirmations must land before we count.
    tokio::time::sleep(Duration::from_millis(late_ms + 2000)).await;
    let paid = paid.lock().expect("lock").clone();
    let views: HashMap<String, daraja_sim::C2bPaymentView> =
        sim.sim.c2b_payments().into_iter().map(|p| (p.trans_id.clone(), p)).collect();
    let (stored, payments) = rows(d).await?;
    let (mut delivered, mut dropped, mut doubled, mut late, mut wrong, mut missing, mut unknown) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut examples = Vec::new();
    for (trans, (payment, right)) in &paid {
        let Some(v) = views.get(trans) else { continue };
        let faults: Vec<&str> = v.confirmation_attempts.iter().filter_map(|a| a.fault.as_deref()).collect();
        doubled += faults.iter().filter(|f| **f == "duplicate").count();
        late += faults.iter().filter(|f| **f == "late").count();
        let arrived = v.confirmation_attempts.iter().any(|a| !a.was_dropped() && a.status == Some(200));
        if !arrived {
            dropped += 1;
            continue;
        }
        delivered += 1;
        if !stored.contains(trans) {
            missing += 1;
            examples.push(format!("{trans}: delivered but not stored"));
            continue;
        }
        let settled = payments.values().filter(|(_, _, r)| r.as_deref() == Some(trans.as_str())).count();
        let ok = match payment {
            Some(id) => payments.get(id).is_some_and(|(status, channel, receipt)| {
                let want = if *right { "succeeded" } else { "needs_review" };
                status == want && channel == "c2b" && receipt.as_deref() == Some(trans.as_str())
            }),
            None => settled == 1,
        };
        if !ok || settled != 1 {
            wrong += 1;
            if examples.len() < 5 {
                examples.push(format!("{trans} → {payment:?}: {:?}", payment.as_ref().and_then(|id| payments.get(id))));
            }
        }
    }
    unknown += stored.iter().filter(|t| !paid.contains_key(*t)).count();
    println!("\nchaos C2B results");
    println!("  SIM-menu payments made             {}", paid.len());
    println!("  confirmations delivered / dropped  {delivered} / {dropped}  (doubled {doubled}, late {late})");
    println!("  delivered but not stored           {missing}");
    println!("  stored with the wrong effect       {wrong}");
    for e in &examples {
        println!("      {e}");
    }
    println!("  stored but never paid              {unknown}");
    let pass = missing == 0 && wrong == 0 && unknown == 0 && delivered > 0;
    println!("{}", if pass { "C2B PASS" } else { "C2B FAIL" });
    Ok(pass)
}

//! The floor: the least a gateway could do, measured on the same machine and database settings.
//!
//! `POST /cb/{secret}` parses the same Daraja callback JSON and makes one durable write (one committed
//! UPDATE). `POST /pay` parses a payment request, sends the STK push to the simulator with the same Daraja
//! client, and makes one durable write (one committed INSERT). Run as its own process (`lipa-bench floor`)
//! so that it stands where the gateway stands.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::db::Db;

#[derive(Clone)]
struct Floor {
    db: Db,
    daraja: daraja::Client,
    public: Arc<str>,
    seq: Arc<AtomicU64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn serve(database_url: &str, listen: &str, sim_url: &str) -> anyhow::Result<()> {
    let db = Db::open(database_url, 16).await?;
    let env = daraja::Environment::Custom(sim_url.parse().context("--sim-url")?);
    let cfg = daraja::Config::new(
        env,
        "bench".to_string(),
        "bench".to_string(),
        daraja_sim::SANDBOX_SHORTCODE,
        daraja_sim::SANDBOX_PASSKEY.to_string(),
    );
    let daraja = daraja::Client::new(cfg)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let public: Arc<str> = format!("http://{}", listener.local_addr()?).into();
    let state = Floor { db, daraja, public, seq: Arc::new(AtomicU64::new(0)) };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/cb/{secret}", post(callback))
        .route("/pay", post(pay))
        .with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn callback(State(f): State<Floor>, Path(secret): Path<String>, body: Bytes) -> (StatusCode, Json<Value>) {
    let Ok(cb) = daraja::callback::StkCallback::from_slice(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "not a callback"})));
    };
    let (status, receipt) = match &cb.outcome {
        daraja::callback::CallbackOutcome::Success(d) => ("succeeded", d.receipt.clone()),
        daraja::callback::CallbackOutcome::Failure { .. } => ("failed", None),
    };
    match f.db.floor_settle(&secret, status, receipt.as_deref(), now_ms()).await {
        Ok(_) => (StatusCode::OK, Json(json!({ "ResultCode": 0, "ResultDesc": "Accepted" }))),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))),
    }
}

#[derive(serde::Deserialize)]
struct PayIn {
    amount: i64,
    phone: String,
    reference: String,
}

async fn pay(State(f): State<Floor>, Json(p): Json<PayIn>) -> (StatusCode, Json<Value>) {
    let n = f.seq.fetch_add(1, Ordering::Relaxed);
    let id = format!("pay_floor{}_{n}", std::process::id());
    let secret = format!("floorsecret{}_{n}", std::process::id());
    let push = (|| {
        anyhow::Ok(daraja::StkPush {
            phone: daraja::Msisdn::parse(&p.phone)?,
            amount: daraja::Amount::try_from(p.amount)?,
            reference: daraja::AccountReference::new(&p.reference, 12)?,
            description: daraja::TransactionDesc::new("floor"),
            callback_url: format!("{}/cb/{secret}", f.public),
        })
    })();
    let push = match push {
        Ok(p) => p,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))),
    };
    let accepted = match f.daraja.stk_push(&push).await {
        Ok(a) => a,
        Err(e) => return (StatusCode::BAD_GATEWAY, Json(json!({"error": e.to_string()}))),
    };
    let phone = push.phone.as_str().to_string();
    match f.db.floor_insert(&id, p.amount, &phone, &p.reference, &accepted.checkout_request_id, &secret, now_ms()).await
    {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({ "id": id, "status": "pending", "checkout_request_id": accepted.checkout_request_id })),
        ),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e.to_string()}))),
    }
}

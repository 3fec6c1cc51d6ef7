//! `/sim/api/c2b/…`: the handset's SIM menu payment, and what tests look at.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::flow::{NewC2bPayment, BUY_GOODS, PAYBILL};
use crate::control::WRONG_PIN;
use crate::sim::Simulator;
use crate::util;

/// The most a customer may pay in one M-Pesa transaction.
const MAX_AMOUNT: u64 = 250_000;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/sim/api/c2b/registrations", get(registrations))
        .route("/sim/api/c2b/registrations/{short_code}", delete(unregister))
        .route("/sim/api/c2b/payments", get(payments))
        .route("/sim/api/c2b/payments/{trans_id}", get(payment))
        .route("/sim/api/c2b/pay", post(pay))
}

fn error(status: StatusCode, field: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into(), "field": field}))).into_response()
}

async fn registrations(State(sim): State<Simulator>) -> Response {
    Json(sim.c2b_registrations()).into_response()
}

async fn unregister(State(sim): State<Simulator>, Path(short_code): Path<String>) -> Response {
    if sim.c2b_unregister(&short_code) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, "short_code", format!("no C2B URLs are registered for {short_code}"))
    }
}

#[derive(Deserialize)]
struct PaymentsQuery {
    phone: Option<String>,
    limit: Option<usize>,
}

async fn payments(State(sim): State<Simulator>, Query(q): Query<PaymentsQuery>) -> Response {
    let phone = match q.phone.as_deref() {
        None => None,
        Some(p) => match util::normalize_msisdn(p) {
            Some(p) => Some(p),
            None => return error(StatusCode::BAD_REQUEST, "phone", "give ?phone= a Kenyan mobile number"),
        },
    };
    let list: Vec<_> = sim
        .c2b_payments()
        .into_iter()
        .filter(|p| phone.as_deref().is_none_or(|ph| p.phone == ph))
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    Json(list).into_response()
}

async fn payment(State(sim): State<Simulator>, Path(trans_id): Path<String>) -> Response {
    match sim.c2b_payment(&trans_id) {
        Some(p) => Json(p).into_response(),
        None => error(StatusCode::NOT_FOUND, "trans_id", "unknown TransID"),
    }
}

/// A payment made on the handset: Lipa na M-Pesa → Pay Bill / Buy Goods → number → account → amount → PIN.
#[derive(Deserialize)]
struct PayBody {
    phone: Option<String>,
    /// `paybill` or `buygoods`.
    kind: Option<String>,
    business_number: Option<Value>,
    account: Option<String>,
    amount: Option<Value>,
    pin: Option<String>,
    /// `sim_menu` (default) or `qr`.
    source: Option<String>,
}

async fn pay(State(sim): State<Simulator>, body: Option<Json<PayBody>>) -> Response {
    let Some(Json(b)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "body",
            r#"send {"phone","kind":"paybill"|"buygoods","business_number","account","amount","pin"}"#,
        );
    };
    let unprocessable = |field: &str, msg: &str| error(StatusCode::UNPROCESSABLE_ENTITY, field, msg);
    let Some(phone) = b.phone.as_deref().and_then(util::normalize_msisdn) else {
        return unprocessable("phone", "enter the handset's phone number first (a Kenyan mobile number)");
    };
    let command_id = match b.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("paybill" | "pay_bill" | "pb") => PAYBILL,
        Some("buygoods" | "buy_goods" | "till" | "bg") => BUY_GOODS,
        _ => return unprocessable("kind", "choose Pay Bill (paybill) or Buy Goods (buygoods)"),
    };
    let number = match &b.business_number {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if number.is_empty() || !number.bytes().all(|c| c.is_ascii_digit()) {
        return unprocessable("business_number", "enter the business number (digits)");
    }
    let c = sim.config();
    let known = sim.c2b_registrations().iter().any(|r| r.short_code == number)
        || if command_id == PAYBILL {
            number == c.shortcode
        } else {
            c.till_number.as_deref() == Some(number.as_str())
        };
    if !known {
        let what = if command_id == PAYBILL { "paybill" } else { "till" };
        return unprocessable("business_number", &format!("{number} is not a {what} number M-PESA knows"));
    }
    let account = b.account.as_deref().unwrap_or("").trim().to_owned();
    if command_id == PAYBILL && account.is_empty() {
        return unprocessable("account", "enter the account number");
    }
    if account.chars().count() > 20 || account.chars().any(char::is_control) {
        return unprocessable("account", "the account number has at most 20 characters");
    }
    let amount = match &b.amount {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let Some(amount) = amount.filter(|a| (1..=MAX_AMOUNT).contains(a)) else {
        return unprocessable("amount", &format!("enter a whole amount from 1 to {MAX_AMOUNT} KES"));
    };
    match b.pin.as_deref() {
        Some(pin) if pin.len() == 4 && pin.bytes().all(|c| c.is_ascii_digit()) => {
            if pin == WRONG_PIN {
                return unprocessable("pin", "Wrong PIN. No money was taken; try again.");
            }
        }
        _ => return unprocessable("pin", "the M-PESA PIN has 4 digits"),
    }
    let source = if b.source.as_deref() == Some("qr") { "qr" } else { "sim_menu" };
    let view = sim
        .c2b_pay(NewC2bPayment {
            short_code: number,
            command_id,
            amount,
            phone,
            bill_ref_number: account,
            source,
            warnings: Vec::new(),
        })
        .await;
    Json(view).into_response()
}

//! `/sim/…`: the virtual handset page and the JSON control API.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::config::Faults;
use crate::sim::{CompleteError, LogKind, Simulator, TxState};
use crate::util;

/// The PIN the handset treats as wrong (result 2001); any other 4 digits is right.
pub(crate) const WRONG_PIN: &str = "0000";

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/sim", get(|| async { Redirect::to("/sim/handset") }))
        .route("/sim/handset", get(handset))
        .route("/sim/api/config", get(config))
        .route("/sim/api/transactions", get(list_transactions))
        .route("/sim/api/transactions/{id}", get(get_transaction))
        .route("/sim/api/transactions/{id}/complete", post(complete))
        .route("/sim/api/prompts", get(prompts))
        .route("/sim/api/log", get(log))
        .route("/sim/api/faults", get(get_faults).post(set_faults))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn config(State(sim): State<Simulator>) -> Response {
    let c = sim.config();
    Json(json!({
        "shortcode": c.shortcode,
        "till_number": c.till_number,
        "merchant_name": c.merchant_name,
        "strict": c.strict,
        "result_delay_ms": c.result_delay.as_millis() as u64,
        "prompt_timeout_ms": c.prompt_timeout.as_millis() as u64,
        "token_ttl_s": c.token_ttl.as_secs(),
        "auto_outcome": c.auto_outcome,
        "consumer_credentials_required": c.consumer_key.is_some() || c.consumer_secret.is_some(),
        "faults": sim.faults(),
        "oauth_requests": sim.oauth_requests(),
        "c2b": {
            "production_rules": c.c2b.production_rules,
            "product": c.c2b.product,
            "external_validation": c.c2b.external_validation,
            "validation_timeout_ms": c.c2b.validation_timeout.as_millis() as u64,
        },
    }))
    .into_response()
}

async fn list_transactions(State(sim): State<Simulator>) -> Response {
    Json(sim.transactions()).into_response()
}

async fn get_transaction(State(sim): State<Simulator>, Path(id): Path<String>) -> Response {
    match sim.transaction(&id) {
        Some(tx) => Json(tx).into_response(),
        None => error(StatusCode::NOT_FOUND, "unknown CheckoutRequestID"),
    }
}

#[derive(Deserialize)]
struct CompleteBody {
    result_code: Option<i64>,
    action: Option<String>,
    pin: Option<String>,
}

async fn complete(State(sim): State<Simulator>, Path(id): Path<String>, body: Option<Json<CompleteBody>>) -> Response {
    let Some(Json(body)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"send {"result_code": 0} or {"action": "pin"|"wrong_pin"|"cancel"|"expire"}"#,
        );
    };
    let code = match (body.result_code, body.action.as_deref()) {
        (Some(code), None) => code,
        (None, Some("pin")) => match body.pin.as_deref() {
            None => 0,
            Some(pin) if pin.len() != 4 || !pin.bytes().all(|b| b.is_ascii_digit()) => {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "the PIN has 4 digits");
            }
            Some(WRONG_PIN) => 2001,
            Some(_) => 0,
        },
        (None, Some("wrong_pin")) => 2001,
        (None, Some("cancel")) => 1032,
        (None, Some("expire")) => 1037,
        (None, Some(other)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("unknown action {other:?}: use pin, wrong_pin, cancel or expire"),
            )
        }
        _ => return error(StatusCode::BAD_REQUEST, "give either result_code or action, not both and not neither"),
    };
    match sim.complete(&id, code) {
        Ok(tx) => Json(tx).into_response(),
        Err(CompleteError::NotFound) => error(StatusCode::NOT_FOUND, "unknown CheckoutRequestID"),
        Err(CompleteError::AlreadyFinal) => {
            let tx = sim.transaction(&id);
            (StatusCode::CONFLICT, Json(json!({"error": "the transaction is already final", "transaction": tx})))
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct PromptsQuery {
    phone: Option<String>,
}

async fn prompts(State(sim): State<Simulator>, Query(q): Query<PromptsQuery>) -> Response {
    let Some(phone) = q.phone.as_deref().and_then(util::normalize_msisdn) else {
        return error(StatusCode::BAD_REQUEST, "give ?phone= a Kenyan mobile number, e.g. 0712345678");
    };
    let timeout_ms = sim.config().prompt_timeout.as_millis() as i64;
    let now = util::now_ms();
    let mine: Vec<_> = sim.transactions().into_iter().filter(|t| t.phone == phone).collect();
    let pending: Vec<_> = mine
        .iter()
        .filter(|t| t.state == TxState::Pending)
        .map(|t| {
            json!({
                "checkout_request_id": t.checkout_request_id,
                "text": t.prompt,
                "amount": t.amount,
                "reference": t.reference,
                "merchant_name": sim.config().merchant_name,
                "decided_by": t.decided_by,
                "expires_in_ms": (t.created_at_ms + timeout_ms - now).max(0),
            })
        })
        .collect();
    let recent: Vec<_> = mine
        .iter()
        .filter(|t| t.state == TxState::Final)
        .take(5)
        .map(|t| {
            json!({
                "checkout_request_id": t.checkout_request_id,
                "amount": t.amount,
                "reference": t.reference,
                "result_code": t.result_code,
                "result_desc": t.result_desc,
                "receipt": t.receipt,
                "completed_at": t.completed_at_ms.map(util::eat_display),
            })
        })
        .collect();
    Json(json!({"phone": phone, "prompts": pending, "recent": recent})).into_response()
}

#[derive(Deserialize)]
struct LogQuery {
    kind: Option<LogKind>,
    limit: Option<usize>,
    after: Option<u64>,
}

async fn log(State(sim): State<Simulator>, Query(q): Query<LogQuery>) -> Response {
    let mut entries: Vec<_> = sim
        .log_entries()
        .into_iter()
        .filter(|e| q.kind.is_none_or(|k| e.kind == k))
        .filter(|e| q.after.is_none_or(|a| e.seq > a))
        .collect();
    if let Some(limit) = q.limit {
        let skip = entries.len().saturating_sub(limit);
        entries.drain(..skip);
    }
    Json(entries).into_response()
}

async fn get_faults(State(sim): State<Simulator>) -> Response {
    Json(sim.faults()).into_response()
}

async fn set_faults(State(sim): State<Simulator>, body: Option<Json<Faults>>) -> Response {
    let Some(Json(faults)) = body else {
        return error(StatusCode::BAD_REQUEST, "send the faults as a JSON object");
    };
    let shares =
        [faults.spike_arrest, faults.hang, faults.drop_callback, faults.duplicate_callback, faults.late_callback];
    if shares.iter().any(|s| !(0.0..=1.0).contains(s)) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "fault shares are between 0.0 and 1.0");
    }
    sim.set_faults(faults);
    Json(sim.faults()).into_response()
}

/// The virtual handset page (`templates/handset.html`; askama escapes every value).
#[derive(Template)]
#[template(path = "handset.html")]
struct HandsetPage {
    merchant: String,
    wrong_pin: &'static str,
    test_numbers: &'static [(&'static str, &'static str)],
    /// The newest warnings: (when, what).
    warnings: Vec<(String, String)>,
}

async fn handset(State(sim): State<Simulator>) -> Response {
    let page = HandsetPage {
        merchant: sim.config().merchant_name.clone(),
        wrong_pin: WRONG_PIN,
        test_numbers: crate::config::TEST_NUMBERS,
        warnings: sim
            .log_entries()
            .into_iter()
            .rev()
            .filter(|e| e.kind == LogKind::Warning)
            .take(10)
            .map(|w| (w.at, w.message))
            .collect(),
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("the handset page failed: {e}")),
    }
}

//! Daraja's money-out endpoints (B2C v1 and v3, Reversal, Transaction Status, Account Balance) and
//! their `/sim/…` helpers (`/sim/certificate.pem`, `/sim/api/accounts`, `/sim/api/money-out`,
//! `/sim/api/received`). The synchronous checks live here; results are decided in `crate::settle`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{check_bearer, fault_latency, finish, method_not_allowed, parse_json_body, text, Checked, DarajaError};
use crate::accounts::{MoneyOutKind, MoneyOutView};
use crate::settle::Plan;
use crate::sim::{LogKind, Simulator};
use crate::util;

pub(super) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/mpesa/b2c/v1/paymentrequest", post(b2c_v1).fallback(method_not_allowed))
        .route("/mpesa/b2c/v3/paymentrequest", post(b2c_v3).fallback(method_not_allowed))
        .route("/mpesa/reversal/v1/request", post(reversal).fallback(method_not_allowed))
        .route("/mpesa/transactionstatus/v1/query", post(status).fallback(method_not_allowed))
        .route("/mpesa/accountbalance/v1/query", post(balance).fallback(method_not_allowed))
        .route("/sim/certificate.pem", get(certificate))
        .route("/sim/api/accounts", get(get_accounts).post(set_account))
        .route("/sim/api/money-out", get(list_money_out))
        .route("/sim/api/received", get(received))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    B2cV1,
    B2cV3,
    Reversal,
    Status,
    Balance,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::B2cV1 => "/mpesa/b2c/v1/paymentrequest",
            Api::B2cV3 => "/mpesa/b2c/v3/paymentrequest",
            Api::Reversal => "/mpesa/reversal/v1/request",
            Api::Status => "/mpesa/transactionstatus/v1/query",
            Api::Balance => "/mpesa/accountbalance/v1/query",
        }
    }
}

async fn b2c_v1(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&sim, Api::B2cV1, &headers, &body).await
}
async fn b2c_v3(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&sim, Api::B2cV3, &headers, &body).await
}
async fn reversal(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&sim, Api::Reversal, &headers, &body).await
}
async fn status(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&sim, Api::Status, &headers, &body).await
}
async fn balance(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&sim, Api::Balance, &headers, &body).await
}

async fn handle(sim: &Simulator, api: Api, headers: &HeaderMap, body: &[u8]) -> Response {
    fault_latency(sim).await;
    let what = format!("POST {}", api.path());
    match accept(sim, api, headers, body) {
        Ok((resp, id, warnings)) => {
            for w in &warnings {
                sim.log(LogKind::Warning, w.clone(), None);
            }
            finish(sim, &what, Ok((super::with_warnings(resp, &warnings), format!("200 accepted {id}"))), None)
        }
        Err(e) => finish(sim, &what, Err(e), None),
    }
}

/// A required non-empty text field.
fn required(obj: &Map<String, Value>, name: &str) -> Result<String, DarajaError> {
    text(obj, name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).ok_or_else(|| DarajaError::bad_request(name))
}

/// A required all-digits field (string or number).
fn required_digits(obj: &Map<String, Value>, name: &str) -> Result<String, DarajaError> {
    super::digits(obj, name).ok_or_else(|| DarajaError::bad_request(name))
}

fn url(obj: &Map<String, Value>, name: &str) -> Result<String, DarajaError> {
    let raw = required(obj, name)?;
    let ok = reqwest::Url::parse(&raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        Ok(raw)
    } else {
        Err(DarajaError::bad_request(name))
    }
}

/// Whole shillings, as a JSON number or a digit string; a fraction is a warning (strict: refused).
fn amount(obj: &Map<String, Value>, checked: &mut Checked) -> Result<u64, DarajaError> {
    let bad = || DarajaError::bad_request("Amount");
    let value = match obj.get("Amount") {
        Some(Value::Number(n)) => n.as_f64().ok_or_else(bad)?,
        Some(Value::String(s)) => s.trim().parse::<f64>().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    if !value.is_finite() || !(1.0..=1e12).contains(&value) {
        return Err(bad());
    }
    if value.fract() != 0.0 {
        checked
            .warn("Amount", format!("Amount {value} is not a whole number of shillings; Daraja takes whole numbers"))?;
    }
    // Finite, positive and below 1e12: the cast is exact for the whole part.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(value.trunc() as u64)
}

fn remarks(obj: &Map<String, Value>, checked: &mut Checked) -> Result<String, DarajaError> {
    let r = required(obj, "Remarks")?;
    let n = r.chars().count();
    if !(2..=100).contains(&n) {
        checked.warn("Remarks", format!("Remarks is {n} characters; Daraja documents 2 to 100"))?;
    }
    Ok(r)
}

type Accepted = (Response, String, Vec<String>);

fn accept(sim: &Simulator, api: Api, headers: &HeaderMap, body: &[u8]) -> Result<Accepted, DarajaError> {
    check_bearer(sim, headers)?;
    let obj = parse_json_body(headers, body, "InitiatorName")?;
    let config = sim.config();
    let mut checked = Checked { warnings: Vec::new(), strict: config.strict };
    let b2c = matches!(api, Api::B2cV1 | Api::B2cV3);
    let originator = if api == Api::B2cV3 { Some(required(&obj, "OriginatorConversationID")?) } else { None };
    let initiator = required(&obj, if b2c { "InitiatorName" } else { "Initiator" })?;
    let credential = required(&obj, "SecurityCredential")?;
    let command = required(&obj, "CommandID")?;
    let allowed: &[&str] = match api {
        Api::B2cV1 | Api::B2cV3 => &["BusinessPayment", "SalaryPayment", "PromotionPayment"],
        Api::Reversal => &["TransactionReversal"],
        Api::Status => &["TransactionStatusQuery"],
        Api::Balance => &["AccountBalance"],
    };
    if !allowed.contains(&command.as_str()) {
        return Err(DarajaError::bad_request("CommandID"));
    }
    let mut view = MoneyOutView {
        kind: MoneyOutKind::B2c,
        originator_conversation_id: String::new(),
        conversation_id: String::new(),
        command_id: command,
        amount: 0,
        phone: String::new(),
        transaction_id: None,
        result_url: String::new(),
        queue_timeout_url: String::new(),
        result_code: None,
        result_desc: None,
        receipt: None,
        recipient_name: None,
        created_at_ms: util::now_ms(),
        completed_at_ms: None,
        result_payload: None,
        callbacks: Vec::new(),
    };
    let party = match api {
        Api::B2cV1 | Api::B2cV3 => {
            view.amount = amount(&obj, &mut checked)?;
            let party_a = required_digits(&obj, "PartyA")?;
            let party_b = required_digits(&obj, "PartyB")?;
            if !util::is_daraja_msisdn(&party_b) {
                return Err(DarajaError::bad_request("PartyB"));
            }
            view.phone = party_b;
            party_a
        }
        Api::Reversal => {
            view.kind = MoneyOutKind::Reversal;
            view.transaction_id = Some(required(&obj, "TransactionID")?);
            view.amount = amount(&obj, &mut checked)?;
            if obj.contains_key("ReceiverIdentifierType") && !obj.contains_key("RecieverIdentifierType") {
                // Daraja wants its own misspelling.
                return Err(DarajaError::bad_request("RecieverIdentifierType"));
            }
            required(&obj, "RecieverIdentifierType")?;
            required_digits(&obj, "ReceiverParty")?
        }
        Api::Status => {
            view.kind = MoneyOutKind::TransactionStatus;
            let by_receipt = text(&obj, "TransactionID").filter(|s| !s.trim().is_empty());
            let by_id = text(&obj, "OriginalConversationID")
                .or_else(|| text(&obj, "OriginatorConversationID"))
                .filter(|s| !s.trim().is_empty());
            if by_receipt.is_none() && by_id.is_none() {
                return Err(DarajaError::bad_request("TransactionID"));
            }
            view.transaction_id = by_receipt.or(by_id).map(|s| s.trim().to_owned());
            required(&obj, "IdentifierType")?;
            required_digits(&obj, "PartyA")?
        }
        Api::Balance => {
            view.kind = MoneyOutKind::AccountBalance;
            required(&obj, "IdentifierType")?;
            required_digits(&obj, "PartyA")?
        }
    };
    if api != Api::Status {
        remarks(&obj, &mut checked)?;
    }
    view.queue_timeout_url = url(&obj, "QueueTimeOutURL")?;
    view.result_url = url(&obj, "ResultURL")?;
    let occasion = text(&obj, "Occasion").or_else(|| text(&obj, "Occassion")).unwrap_or_default();
    let plan = Plan {
        initiator_ok: initiator == config.initiator_name
            && sim.inner.money.credential_ok(&credential, &config.initiator_password),
        party_ok: party == config.shortcode || party == config.b2c_shortcode,
        party,
        occasion,
    };
    let conversation_id = sim.conversation_id();
    let id = {
        let mut money = sim.inner.money.lock();
        let id = match originator {
            Some(id) => {
                if !money.originator_ids.insert(id.clone()) {
                    return Err(DarajaError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "500.002.1001",
                        "Duplicate OriginatorConversationID.",
                    ));
                }
                id
            }
            None => loop {
                let id = sim.request_id();
                if money.originator_ids.insert(id.clone()) {
                    break id;
                }
            },
        };
        view.originator_conversation_id = id.clone();
        view.conversation_id = conversation_id.clone();
        money.insert(view);
        id
    };
    sim.schedule_result(id.clone(), plan);
    let body = json!({
        "OriginatorConversationID": id,
        "ConversationID": conversation_id,
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    });
    Ok((Json(body).into_response(), id, checked.warnings))
}

async fn certificate(State(sim): State<Simulator>) -> Response {
    ([(header::CONTENT_TYPE, "application/x-pem-file")], sim.certificate_pem()).into_response()
}

async fn get_accounts(State(sim): State<Simulator>) -> Response {
    Json(json!({ "accounts": sim.accounts() })).into_response()
}

#[derive(Deserialize)]
struct SetAccount {
    name: String,
    available_cents: i64,
}

async fn set_account(State(sim): State<Simulator>, body: Option<Json<SetAccount>>) -> Response {
    let Some(Json(b)) = body else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "expected {\"name\", \"available_cents\"}"})))
            .into_response();
    };
    if !sim.set_account_balance(&b.name, b.available_cents) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": format!("no account named {:?}", b.name)})))
            .into_response();
    }
    sim.log(LogKind::Outcome, format!("{} set to {} cents", b.name, b.available_cents), None);
    get_accounts(State(sim)).await
}

async fn list_money_out(State(sim): State<Simulator>) -> Response {
    Json(json!({ "requests": sim.money_out() })).into_response()
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: String,
}

async fn received(State(sim): State<Simulator>, Query(q): Query<PhoneQuery>) -> Response {
    let Some(phone) = util::normalize_msisdn(&q.phone) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "not a Kenyan mobile number"}))).into_response();
    };
    let merchant = sim.config().merchant_name.clone();
    let items: Vec<Value> = sim
        .received(&phone)
        .into_iter()
        .map(|m| {
            json!({
                "receipt": m.receipt,
                "amount": m.amount,
                "from": merchant,
                "at": m.completed_at_ms.map(util::eat_display),
                "message": format!("{} Confirmed. You have received KES {} from {merchant}.",
                    m.receipt.as_deref().unwrap_or(""), group_thousands(m.amount)),
            })
        })
        .collect();
    Json(json!({ "phone": phone, "received": items })).into_response()
}

/// `1500` → `1,500`.
pub(crate) fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::group_thousands(1500), "1,500");
        assert_eq!(super::group_thousands(250_000), "250,000");
        assert_eq!(super::group_thousands(10), "10");
    }
}

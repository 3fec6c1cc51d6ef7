//! Daraja's C2B endpoints: `registerurl` and `simulate`, v1 and v2.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::flow::{NewC2bPayment, BUY_GOODS, PAYBILL};
use super::{lock, C2bRegistration, C2bVersion};
use crate::api::{
    check_amount, check_bearer, check_url_field, digits, fault_latency, finish, method_not_allowed, parse_json_body,
    text, with_warnings, Checked, DarajaError,
};
use crate::sim::{LogKind, Simulator};
use crate::util;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .route("/mpesa/c2b/v1/registerurl", post(register).fallback(method_not_allowed))
        .route("/mpesa/c2b/v2/registerurl", post(register).fallback(method_not_allowed))
        .route("/mpesa/c2b/v1/simulate", post(simulate).fallback(method_not_allowed))
        .route("/mpesa/c2b/v2/simulate", post(simulate).fallback(method_not_allowed))
}

/// C2B's synchronous answer (note Daraja's `OriginatorCoversationID` spelling).
#[derive(Serialize)]
struct Accepted {
    #[serde(rename = "OriginatorCoversationID")]
    originator_coversation_id: String,
    #[serde(rename = "ResponseCode")]
    response_code: &'static str,
    #[serde(rename = "ResponseDescription")]
    response_description: &'static str,
}

fn version_of(uri: &Uri) -> C2bVersion {
    if uri.path().contains("/v1/") {
        C2bVersion::V1
    } else {
        C2bVersion::V2
    }
}

/// The app's product must match the version called.
fn check_product(sim: &Simulator, version: C2bVersion) -> Result<(), DarajaError> {
    match sim.config().c2b.product {
        Some(p) if p != version => Err(DarajaError::new(
            StatusCode::UNAUTHORIZED,
            "401.003.01",
            "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found",
        )),
        _ => Ok(()),
    }
}

fn is_short_code(s: &str) -> bool {
    (5..=8).contains(&s.len())
}

fn check_known_short_code(sim: &Simulator, short_code: &str, checked: &mut Checked) -> Result<(), DarajaError> {
    let c = sim.config();
    if short_code != c.shortcode && c.till_number.as_deref() != Some(short_code) {
        checked.warn(
            "ShortCode",
            format!(
                "ShortCode {short_code} is neither the simulator's shortcode {} nor its till: production \
                 refuses a shortcode the app is not linked to",
                c.shortcode
            ),
        )?;
    }
    Ok(())
}

fn check_url(obj: &Map<String, Value>, field: &str, checked: &mut Checked) -> Result<String, DarajaError> {
    check_url_field(obj, field, checked, |word| {
        format!("{field} contains {word:?}, a word Safaricom forbids in C2B URLs: production refuses it")
    })
}

// ---------------------------------------------------------------- registerurl

async fn register(State(sim): State<Simulator>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    fault_latency(&sim).await;
    let what = format!("POST {}", uri.path());
    let result = register_inner(&sim, version_of(&uri), &headers, &body);
    finish(&sim, &what, result, None)
}

/// What every C2B request starts with: the token, the product, a JSON body, and its `ShortCode`.
fn c2b_request(
    sim: &Simulator,
    version: C2bVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Map<String, Value>, Checked, String), DarajaError> {
    check_bearer(sim, headers)?;
    check_product(sim, version)?;
    let obj = parse_json_body(headers, body, "BusinessShortCode")?;
    let short_code =
        digits(&obj, "ShortCode").filter(|s| is_short_code(s)).ok_or_else(|| DarajaError::bad_request("ShortCode"))?;
    Ok((obj, Checked { warnings: Vec::new(), strict: sim.config().strict }, short_code))
}

fn register_inner(
    sim: &Simulator,
    version: C2bVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Response, String), DarajaError> {
    let (obj, mut checked, short_code) = c2b_request(sim, version, headers, body)?;
    // Exactly these two, in this case (the docs' own table misspells "Canceled": Daraja does not take it).
    let response_type = match obj.get("ResponseType") {
        Some(Value::String(t)) if t == "Completed" || t == "Cancelled" => t.clone(),
        _ => return Err(DarajaError::bad_request("ResponseType")),
    };
    let confirmation_url = check_url(&obj, "ConfirmationURL", &mut checked)?;
    let validation_url = check_url(&obj, "ValidationURL", &mut checked)?;
    check_known_short_code(sim, &short_code, &mut checked)?;
    let registration = C2bRegistration {
        short_code: short_code.clone(),
        version,
        response_type,
        confirmation_url,
        validation_url,
        registered_at_ms: util::now_ms(),
    };
    {
        let mut regs = lock(&sim.inner.c2b.registrations);
        if sim.config().c2b.production_rules && regs.contains_key(&short_code) {
            return Err(DarajaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500.003.1001",
                "Urls are already registered.",
            ));
        }
        regs.insert(short_code.clone(), registration);
    }
    for w in &checked.warnings {
        sim.log(LogKind::Warning, w.clone(), None);
    }
    let answer =
        Accepted { originator_coversation_id: sim.request_id(), response_code: "0", response_description: "Success" };
    let resp = with_warnings(Json(answer).into_response(), &checked.warnings);
    Ok((resp, format!("200 registered {short_code} ({})", version.as_str())))
}

// ---------------------------------------------------------------- simulate

async fn simulate(State(sim): State<Simulator>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    fault_latency(&sim).await;
    let what = format!("POST {}", uri.path());
    let version = version_of(&uri);
    if version == C2bVersion::V1 && sim.config().strict {
        // The sandbox removed v1 simulate in 2022; its API gateway answers with a fault.
        sim.log(LogKind::Request, format!("{what}: 404 ApplicationNotFound (strict)"), None);
        let fault = json!({"fault": {
            "faultstring": "Unable to identify proxy for host: secure and url: /mpesa/c2b/v1/simulate",
            "detail": {"errorcode": "messaging.adaptors.http.flow.ApplicationNotFound"}}});
        return (StatusCode::NOT_FOUND, Json(fault)).into_response();
    }
    match simulate_inner(&sim, version, &headers, &body) {
        Ok((new, answer)) => {
            let summary = format!("200 accepted, KES {} from {} to {}", new.amount, new.phone, new.short_code);
            let resp = with_warnings(Json(answer).into_response(), &new.warnings);
            let resp = finish(&sim, &what, Ok((resp, summary)), None);
            let sim = sim.clone();
            tokio::spawn(async move { sim.c2b_pay(new).await });
            resp
        }
        Err(e) => finish(&sim, &what, Err(e), None),
    }
}

fn simulate_inner(
    sim: &Simulator,
    version: C2bVersion,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(NewC2bPayment, Accepted), DarajaError> {
    let (obj, mut checked, short_code) = c2b_request(sim, version, headers, body)?;
    let command_id = match obj.get("CommandID").and_then(Value::as_str) {
        Some(PAYBILL) => PAYBILL,
        Some(BUY_GOODS) => BUY_GOODS,
        _ => return Err(DarajaError::bad_request("CommandID")),
    };
    let amount = check_amount(&obj, &mut checked)?;
    let phone = digits(&obj, "Msisdn")
        .filter(|p| util::is_daraja_msisdn(p))
        .ok_or_else(|| DarajaError::bad_request("Msisdn"))?;
    let bill_ref_number = match obj.get("BillRefNumber") {
        None | Some(Value::Null) => String::new(),
        Some(_) => text(&obj, "BillRefNumber").ok_or_else(|| DarajaError::bad_request("BillRefNumber"))?,
    };
    if command_id == PAYBILL && bill_ref_number.trim().is_empty() {
        checked.warn(
            "BillRefNumber",
            "BillRefNumber is empty: a paybill payment carries the account number the customer typed".into(),
        )?;
    }
    if bill_ref_number.chars().count() > 20 {
        checked.warn(
            "BillRefNumber",
            format!("BillRefNumber {bill_ref_number:?} is over 20 characters: the M-Pesa menu does not allow that"),
        )?;
    }
    check_known_short_code(sim, &short_code, &mut checked)?;
    if version == C2bVersion::V1 {
        checked.warnings.push(
            "/mpesa/c2b/v1/simulate was removed from Daraja's sandbox in 2022 (it answers an ApplicationNotFound \
             fault); use /mpesa/c2b/v2/simulate"
                .into(),
        );
    }
    if sim.inner.c2b.registration(&short_code).is_none() {
        checked.warnings.push(format!(
            "no C2B URLs are registered for {short_code}: the payment is made but no validation or confirmation \
             is sent (register first)"
        ));
    }
    let new = NewC2bPayment {
        short_code,
        command_id,
        amount,
        phone,
        bill_ref_number: bill_ref_number.trim().to_owned(),
        source: "simulate",
        warnings: checked.warnings,
    };
    let answer = Accepted {
        originator_coversation_id: sim.request_id(),
        response_code: "0",
        response_description: "Accept the service request successfully.",
    };
    Ok((new, answer))
}

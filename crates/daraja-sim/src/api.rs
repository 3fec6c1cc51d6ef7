//! Daraja's own endpoints: OAuth, STK push and STK query, checked the way Daraja checks them.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::sim::{LogKind, NewPush, Simulator, TxState};
use crate::util;

const PAYBILL: &str = "CustomerPayBillOnline";
const BUY_GOODS: &str = "CustomerBuyGoodsOnline";
/// How far a Timestamp may be from the EAT clock before we warn.
const TIMESTAMP_SKEW_SECS: i64 = 5 * 60;
/// A hung request answers after this long, far beyond any sane client timeout.
const HANG: Duration = Duration::from_secs(600);
/// Words Safaricom forbids in production callback URLs.
pub(crate) const FORBIDDEN_URL_WORDS: &[&str] = &["m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query"];

mod payout;

pub(crate) fn routes() -> Router<Simulator> {
    Router::new()
        .merge(payout::routes())
        .route("/oauth/v1/generate", get(oauth).fallback(method_not_allowed))
        .route("/mpesa/stkpush/v1/processrequest", post(stk_push).fallback(method_not_allowed))
        .route("/mpesa/stkpushquery/v1/query", post(stk_query).fallback(method_not_allowed))
}

/// Daraja's error envelope.
pub(crate) struct DarajaError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) request_id: Option<String>,
}

impl DarajaError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        DarajaError { status, code, message: message.into(), request_id: None }
    }

    pub(crate) fn bad_request(field: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "400.002.02", format!("Bad Request - Invalid {field}"))
    }

    pub(crate) fn internal(message: &str) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "500.001.1001", message)
    }

    pub(crate) fn render(self, sim: &Simulator) -> Response {
        let request_id = self.request_id.unwrap_or_else(|| sim.request_id());
        let body = json!({
            "requestId": request_id,
            "errorCode": self.code,
            "errorMessage": self.message,
        });
        (self.status, Json(body)).into_response()
    }

    fn summary(&self) -> String {
        format!("{} {} {}", self.status.as_u16(), self.code, self.message)
    }
}

pub(crate) async fn method_not_allowed(State(sim): State<Simulator>) -> Response {
    DarajaError::new(StatusCode::METHOD_NOT_ALLOWED, "405.001", "Method Not Allowed").render(&sim)
}

pub(crate) async fn fault_latency(sim: &Simulator) {
    let ms = sim.faults().latency_ms;
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

pub(crate) fn finish(
    sim: &Simulator,
    what: &str,
    result: Result<(Response, String), DarajaError>,
    checkout: Option<&str>,
) -> Response {
    match result {
        Ok((resp, summary)) => {
            sim.log(LogKind::Request, format!("{what}: {summary}"), checkout);
            resp
        }
        Err(e) => {
            sim.log(LogKind::Request, format!("{what}: {}", e.summary()), checkout);
            e.render(sim)
        }
    }
}

// ---------------------------------------------------------------- OAuth

async fn oauth(
    State(sim): State<Simulator>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    sim.count_oauth();
    fault_latency(&sim).await;
    let result = oauth_inner(&sim, &params, &headers);
    finish(&sim, "GET /oauth/v1/generate", result, None)
}

fn oauth_inner(
    sim: &Simulator,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(Response, String), DarajaError> {
    let bad_auth = || DarajaError::new(StatusCode::BAD_REQUEST, "400.008.01", "Invalid Authentication passed");
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(bad_auth)?;
    let (scheme, encoded) = auth.trim().split_once(' ').ok_or_else(bad_auth)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad_auth());
    }
    let decoded = BASE64.decode(encoded.trim()).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad_auth)?;
    let (key, secret) = decoded.split_once(':').ok_or_else(bad_auth)?;
    let config = &sim.config();
    if key.is_empty()
        || config.consumer_key.as_deref().is_some_and(|k| k != key)
        || config.consumer_secret.as_deref().is_some_and(|s| s != secret)
    {
        return Err(bad_auth());
    }
    let grant = params.iter().find(|(k, _)| k == "grant_type").map(|(_, v)| v.as_str());
    if grant != Some("client_credentials") {
        return Err(DarajaError::new(StatusCode::BAD_REQUEST, "400.008.02", "Invalid grant type passed"));
    }
    let token = sim.issue_token();
    let body = json!({
        "access_token": token,
        "expires_in": config.token_ttl.as_secs().to_string(),
    });
    Ok((Json(body).into_response(), "200 token issued".into()))
}

// ---------------------------------------------------------------- shared checks

pub(crate) fn check_bearer(sim: &Simulator, headers: &HeaderMap) -> Result<(), DarajaError> {
    let bad_header = || DarajaError::new(StatusCode::NOT_FOUND, "404.001.04", "Invalid Authentication Header");
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(bad_header)?;
    let (scheme, token) = auth.trim().split_once(' ').ok_or_else(bad_header)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(bad_header());
    }
    if !sim.token_valid(token.trim()) {
        return Err(DarajaError::new(StatusCode::NOT_FOUND, "404.001.03", "Invalid Access Token"));
    }
    Ok(())
}

/// The body as a JSON object. Daraja answers a body that is not declared as JSON with a misleading
/// "Invalid {not_json_field}" (`BusinessShortCode` for STK, C2B and QR, `InitiatorName` for money out).
pub(crate) fn parse_json_body(
    headers: &HeaderMap,
    body: &[u8],
    not_json_field: &str,
) -> Result<Map<String, Value>, DarajaError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("application/json"));
    if !is_json {
        return Err(DarajaError::bad_request(not_json_field));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(DarajaError::new(StatusCode::BAD_REQUEST, "400.002.05", "Invalid Request Payload")),
    }
}

/// Text of a field given as a string or a JSON number (Daraja accepts both).
pub(crate) fn text(obj: &Map<String, Value>, name: &str) -> Option<String> {
    match obj.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_text(n)),
        _ => None,
    }
}

fn number_text(n: &serde_json::Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        }
    }
}

/// A field that must be all digits (string or number).
pub(crate) fn digits(obj: &Map<String, Value>, name: &str) -> Option<String> {
    let s = text(obj, name)?;
    let s = s.trim().to_owned();
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

fn is_shortcode(s: &str) -> bool {
    (5..=7).contains(&s.len())
}

pub(crate) struct Checked {
    pub(crate) warnings: Vec<String>,
    pub(crate) strict: bool,
}

impl Checked {
    /// Records a warning, or in strict mode refuses with Daraja's error for `field`.
    pub(crate) fn warn(&mut self, field: &str, message: String) -> Result<(), DarajaError> {
        if self.strict {
            return Err(DarajaError::bad_request(field));
        }
        self.warnings.push(message);
        Ok(())
    }

    /// A warning when `value` has more characters than the `max` Safaricom documents for `field`.
    fn warn_longer_than(&mut self, field: &str, value: &str, max: usize) -> Result<(), DarajaError> {
        let n = value.chars().count();
        if n <= max {
            return Ok(());
        }
        self.warn(
            field,
            format!(
                "{field} {value:?} has {n} characters; Safaricom documents at most {max}: production may reject \
                 or cut it"
            ),
        )
    }
}

/// BusinessShortCode, Timestamp and Password, in Daraja's order. Returns the shortcode.
fn check_credentials(sim: &Simulator, obj: &Map<String, Value>, checked: &mut Checked) -> Result<String, DarajaError> {
    let shortcode = digits(obj, "BusinessShortCode")
        .filter(|s| is_shortcode(s))
        .ok_or_else(|| DarajaError::bad_request("BusinessShortCode"))?;
    let password = match obj.get("Password") {
        Some(Value::String(p)) if !p.is_empty() => p.clone(),
        _ => return Err(DarajaError::bad_request("Password")),
    };
    let timestamp = digits(obj, "Timestamp").ok_or_else(|| DarajaError::bad_request("Timestamp"))?;
    let when = util::parse_compact(&timestamp).ok_or_else(|| DarajaError::bad_request("Timestamp"))?;
    let skew = when.duration_since(util::now_eat()).as_secs();
    if skew.abs() > TIMESTAMP_SKEW_SECS {
        let direction = if skew < 0 { "behind" } else { "ahead of" };
        checked.warn(
            "Timestamp",
            format!(
                "Timestamp {timestamp} is {} {direction} EAT (UTC+3): production may reject this \
                 (make it in Africa/Nairobi time, the same value as in the Password)",
                util::human_span(skew)
            ),
        )?;
    }
    let config = sim.config();
    if shortcode != config.shortcode {
        return Err(DarajaError::internal("Merchant does not exist"));
    }
    let expected = BASE64.encode(format!("{shortcode}{}{timestamp}", config.passkey));
    if password.trim() != expected {
        return Err(DarajaError::internal("Wrong credentials"));
    }
    Ok(shortcode)
}

pub(crate) fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        // Header values must be visible ASCII; our messages are, but never fail on it.
        let ascii: String = w.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect();
        if let Ok(v) = HeaderValue::from_str(&ascii) {
            resp.headers_mut().append("x-sim-warning", v);
        }
    }
    resp
}

// ---------------------------------------------------------------- STK push

async fn stk_push(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    fault_latency(&sim).await;
    let what = "POST /mpesa/stkpush/v1/processrequest";
    if sim.roll(sim.faults().spike_arrest) {
        sim.log(LogKind::Fault, "push refused with spike arrest (fault)".into(), None);
        let e =
            DarajaError::new(StatusCode::INTERNAL_SERVER_ERROR, "500.003.02", "Error Occurred: Spike Arrest Violation");
        return finish(&sim, what, Err(e), None);
    }
    match push_inner(&sim, &headers, &body) {
        Ok((resp, id)) => {
            let resp = finish(&sim, what, Ok((resp, format!("200 accepted {id}"))), Some(&id));
            if sim.roll(sim.faults().hang) {
                sim.log(LogKind::Fault, format!("push {id} recorded but its answer hangs (fault)"), Some(&id));
                tokio::time::sleep(HANG).await;
            }
            resp
        }
        Err(e) => finish(&sim, what, Err(e), None),
    }
}

fn push_inner(sim: &Simulator, headers: &HeaderMap, body: &[u8]) -> Result<(Response, String), DarajaError> {
    check_bearer(sim, headers)?;
    let obj = parse_json_body(headers, body, "BusinessShortCode")?;
    let config = sim.config();
    let mut checked = Checked { warnings: Vec::new(), strict: config.strict };
    let shortcode_ok = digits(&obj, "BusinessShortCode").is_some_and(|s| is_shortcode(&s));
    if !shortcode_ok {
        return Err(DarajaError::bad_request("BusinessShortCode"));
    }

    let transaction_type = match obj.get("TransactionType") {
        Some(Value::String(t)) if t == PAYBILL || t == BUY_GOODS => t.clone(),
        _ => return Err(DarajaError::bad_request("TransactionType")),
    };
    let amount = check_amount(&obj, &mut checked)?;
    let party_a = digits(&obj, "PartyA")
        .filter(|p| util::is_daraja_msisdn(p))
        .ok_or_else(|| DarajaError::bad_request("PartyA"))?;
    let party_b =
        digits(&obj, "PartyB").filter(|p| is_shortcode(p)).ok_or_else(|| DarajaError::bad_request("PartyB"))?;
    let phone = digits(&obj, "PhoneNumber")
        .filter(|p| util::is_daraja_msisdn(p))
        .ok_or_else(|| DarajaError::bad_request("PhoneNumber"))?;
    let callback_url = check_callback_url(&obj, &mut checked)?;
    let reference = match text(&obj, "AccountReference") {
        Some(r) => r,
        None => return Err(DarajaError::bad_request("AccountReference")),
    };
    checked.warn_longer_than("AccountReference", &reference, 12)?;
    // Daraja maps TransactionDesc to "Remarks": a missing one is refused under that name.
    let description = text(&obj, "TransactionDesc").ok_or_else(|| DarajaError::bad_request("Remarks"))?;
    checked.warn_longer_than("TransactionDesc", &description, 13)?;
    check_credentials(sim, &obj, &mut checked)?;

    let product_ok = match transaction_type.as_str() {
        PAYBILL => party_b == config.shortcode,
        _ => config.till_number.as_deref() == Some(party_b.as_str()),
    };
    let warnings = checked.warnings;
    let view = sim
        .accept_push(NewPush {
            phone,
            party_a,
            party_b,
            transaction_type,
            amount,
            reference,
            description,
            callback_url,
            warnings: warnings.clone(),
            product_ok,
        })
        .map_err(|()| {
            DarajaError::internal(
                "Unable to lock subscriber, a transaction is already in process for the current subscriber",
            )
        })?;
    for w in &warnings {
        sim.log(LogKind::Warning, w.clone(), Some(&view.checkout_request_id));
    }
    let body = json!({
        "MerchantRequestID": view.merchant_request_id,
        "CheckoutRequestID": view.checkout_request_id,
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    });
    let resp = with_warnings(Json(body).into_response(), &warnings);
    Ok((resp, view.checkout_request_id))
}

pub(crate) fn check_amount(obj: &Map<String, Value>, checked: &mut Checked) -> Result<u64, DarajaError> {
    let invalid = || DarajaError::bad_request("Amount");
    let value: f64 = match obj.get("Amount") {
        Some(Value::Number(n)) => n.as_f64().ok_or_else(invalid)?,
        Some(Value::String(s)) => {
            let s = s.trim();
            let plain = !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && s.bytes().filter(|b| *b == b'.').count() <= 1
                && s.bytes().any(|b| b.is_ascii_digit());
            if !plain {
                return Err(invalid());
            }
            s.parse().map_err(|_| invalid())?
        }
        _ => return Err(invalid()),
    };
    if !value.is_finite() || !(1.0..250_001.0).contains(&value) {
        return Err(invalid());
    }
    if value.fract() != 0.0 {
        checked.warn(
            "Amount",
            format!(
                "Amount {value} is not a whole number of KES: production may reject it or round it \
                 (the simulator charges {})",
                value.floor()
            ),
        )?;
    }
    Ok(value.floor() as u64)
}

fn check_callback_url(obj: &Map<String, Value>, checked: &mut Checked) -> Result<String, DarajaError> {
    check_url_field(obj, "CallBackURL", checked, |word| {
        format!(
            "CallBackURL contains {word:?}, a word Safaricom forbids in production callback URLs: \
             production may reject this"
        )
    })
}

/// The http(s) URL in `field`; a word Safaricom forbids in it is a warning worded by `forbidden`.
pub(crate) fn check_url_field(
    obj: &Map<String, Value>,
    field: &str,
    checked: &mut Checked,
    forbidden: impl Fn(&str) -> String,
) -> Result<String, DarajaError> {
    let invalid = || DarajaError::bad_request(field);
    let raw = match obj.get(field) {
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => return Err(invalid()),
    };
    let url = reqwest::Url::parse(&raw).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    let lower = raw.to_ascii_lowercase();
    if let Some(word) = FORBIDDEN_URL_WORDS.iter().find(|w| lower.contains(*w)) {
        checked.warn(field, forbidden(word))?;
    }
    Ok(raw)
}

// ---------------------------------------------------------------- STK query

async fn stk_query(State(sim): State<Simulator>, headers: HeaderMap, body: Bytes) -> Response {
    fault_latency(&sim).await;
    let what = "POST /mpesa/stkpushquery/v1/query";
    let mut checkout = None;
    let result = query_inner(&sim, &headers, &body, &mut checkout);
    finish(&sim, what, result, checkout.as_deref())
}

fn query_inner(
    sim: &Simulator,
    headers: &HeaderMap,
    body: &[u8],
    checkout: &mut Option<String>,
) -> Result<(Response, String), DarajaError> {
    check_bearer(sim, headers)?;
    let obj = parse_json_body(headers, body, "BusinessShortCode")?;
    let mut checked = Checked { warnings: Vec::new(), strict: sim.config().strict };
    let id = match obj.get("CheckoutRequestID") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        _ => return Err(DarajaError::bad_request("CheckoutRequestID")),
    };
    check_credentials(sim, &obj, &mut checked)?;
    let tx = sim.transaction(&id).ok_or_else(|| DarajaError::bad_request("CheckoutRequestID"))?;
    *checkout = Some(id.clone());
    for w in &checked.warnings {
        sim.log(LogKind::Warning, w.clone(), Some(&id));
    }
    if tx.state == TxState::Pending {
        let mut e = DarajaError::internal("The transaction is being processed");
        e.request_id = Some(id);
        return Err(e);
    }
    let code = tx.result_code.unwrap_or_default();
    let body = json!({
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": tx.merchant_request_id,
        "CheckoutRequestID": tx.checkout_request_id,
        "ResultCode": code.to_string(),
        "ResultDesc": tx.result_desc.clone().unwrap_or_default(),
    });
    let resp = with_warnings(Json(body).into_response(), &checked.warnings);
    Ok((resp, format!("200 final {code}")))
}

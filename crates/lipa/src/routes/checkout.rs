//! The hosted checkout page, `/pay/{id}`: public (no API key), so it shows only what the customer needs —
//! amount, merchant, reference and description, the status in plain words, the receipt — never metadata or
//! Daraja's ids. It never asks for a PIN: the customer enters that on their phone.
//!
//! - `GET  /pay/{id}`         the page (phone entry when the payment was created without a phone)
//! - `POST /pay/{id}/phone`   the customer's number: sets it once and sends the one push of this payment
//! - `GET  /pay/{id}/events`  server-sent events with the status panel whenever it changes
//! - `GET  /pay/{id}/status`  the same as JSON, for the polling fallback
//! - `POST /pay/{id}/retry`   "Try again" after a failure: a new payment, once per failed payment

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::connect_info::ConnectInfo;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{json, Value};

use super::pages::{esc, kes, page, same_origin, secure_headers, see_other, PageError};
use crate::app::{now_ms, AppState};
use crate::config::Mode;
use crate::domain::{Payment, PaymentDraft, PaymentStatus, PushState};
use crate::service;
use crate::store::{Created, Idempotency, NewPayment, StoreError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{id}", get(show))
        .route("/pay/{id}/phone", post(submit_phone))
        .route("/pay/{id}/status", get(status))
        .route("/pay/{id}/events", get(events))
        .route("/pay/{id}/retry", post(retry))
}

/// How long one event stream lives; the browser reconnects (or polls) after that.
const STREAM_MAX: Duration = Duration::from_secs(15 * 60);
/// How often an event stream looks at the store. The store, not this process, is the truth: the callback
/// may land on another instance.
const STREAM_TICK: Duration = Duration::from_millis(500);

/// A payment created by lipa's own pages (demo shop, "Try again"): no phone yet, so the checkout asks.
pub fn new_checkout_payment(
    state: &AppState,
    amount: i64,
    reference: String,
    description: String,
    metadata: Value,
    return_url: Option<String>,
) -> Payment {
    let draft = PaymentDraft { amount, phone: None, reference, description, metadata, return_url };
    Payment::new_pending(
        draft,
        now_ms(),
        state.cfg.reconcile_after.as_millis() as i64,
        state.cfg.pending_max_age.as_millis() as i64,
    )
}

/// Payment ids are `pay_` + hex; anything else is not looked up at all.
fn valid_id(id: &str) -> bool {
    id.len() <= 64 && id.strip_prefix("pay_").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn load(state: &AppState, id: &str) -> Result<Payment, PageError> {
    if !valid_id(id) {
        return Err(PageError::NotFound);
    }
    state.store.get_payment(id).await?.ok_or(PageError::NotFound)
}

/// What the customer sees, as one word (also the `data-state` the script compares).
fn view_state(p: &Payment) -> &'static str {
    match (p.status, p.push_state) {
        (PaymentStatus::Pending, PushState::AwaitingPhone) => "enter_phone",
        (PaymentStatus::Pending, PushState::Sending) => "sending",
        (PaymentStatus::Pending, _) => "waiting",
        (PaymentStatus::Succeeded, _) => "succeeded",
        (PaymentStatus::Failed, _) => "failed",
        (PaymentStatus::NeedsReview, _) => "needs_review",
    }
}

/// `254712345678` → `0712 ••• 678`: enough for the customer to recognise their number.
fn masked_phone(phone: &str) -> String {
    let local = phone.strip_prefix("254").map(|r| format!("0{r}")).unwrap_or_else(|| phone.to_string());
    if local.len() < 7 {
        return "your phone".into();
    }
    format!("{} ••• {}", &local[..4], &local[local.len() - 3..])
}

/// Why a payment failed, in words a customer understands.
pub fn failure_words(reason: Option<&str>) -> &'static str {
    match reason {
        Some("cancelled") => "The payment was cancelled on the phone.",
        Some("timeout") => "The phone did not answer in time: it may be switched off or out of network, or the request was not answered.",
        Some("insufficient_funds") => "The M-Pesa balance was not enough for this payment.",
        Some("wrong_pin") => "The M-Pesa PIN entered on the phone was wrong.",
        Some("limit") => "The payment is over an M-Pesa limit for this account.",
        Some("rejected") => "M-Pesa could not send the payment request to the phone.",
        _ => "M-Pesa could not complete the payment.",
    }
}

/// A link back to the shop, only for http(s) URLs (validated when the payment was made; checked again).
fn return_link(p: &Payment, merchant: &str) -> String {
    match p.return_url.as_deref().map(|u| (u, url::Url::parse(u))) {
        Some((u, Ok(parsed))) if matches!(parsed.scheme(), "http" | "https") => {
            format!("<p><a class=\"button secondary full\" href=\"{}\">Back to {}</a></p>", esc(u), esc(merchant))
        }
        _ => String::new(),
    }
}

/// The live part of the page. Everything from the payment or the customer is escaped here.
fn panel(state: &AppState, p: &Payment, phone_error: Option<(&str, &str)>) -> String {
    let merchant = state.cfg.merchant_name.as_str();
    let amount = kes(p.amount);
    let id = esc(&p.id);
    match view_state(p) {
        "enter_phone" => {
            let (error_html, typed, invalid) = match phone_error {
                Some((msg, typed)) => (
                    format!("<p id=\"phone-error\" class=\"error\" role=\"alert\">{}</p>", esc(msg)),
                    esc(typed),
                    " aria-invalid=\"true\" aria-describedby=\"phone-help phone-error\"",
                ),
                None => (String::new(), String::new(), " aria-describedby=\"phone-help\""),
            };
            format!(
                "<h2>Pay with M-Pesa</h2>\
                 <form method=\"post\" action=\"/pay/{id}/phone\" novalidate>\
                 <label for=\"phone\">Your M-Pesa phone number</label>\
                 <input id=\"phone\" name=\"phone\" type=\"tel\" inputmode=\"tel\" autocomplete=\"tel\" \
                 placeholder=\"0712 345 678\" maxlength=\"20\" required value=\"{typed}\"{invalid}>\
                 <p id=\"phone-help\" class=\"muted small\">We send a payment request to this phone. You confirm it \
                 there with your M-Pesa PIN — never on this page.</p>{error_html}\
                 <button type=\"submit\" class=\"full\">Send payment request</button></form>"
            )
        }
        "sending" | "waiting" => {
            let to = p.phone.as_deref().map(masked_phone).unwrap_or_else(|| "your phone".into());
            let sim = match (state.cfg.mode, p.phone.as_deref()) {
                (Mode::Simulator, Some(phone)) => format!(
                    "<p class=\"notice small\">Simulator mode: there is no real phone. Answer the prompt on the \
                     <a href=\"/sim/handset?phone={}\" target=\"_blank\" rel=\"noopener\">virtual handset</a> \
                     (opens in a new tab); this page follows by itself.</p>",
                    esc(&super::pages::url_component(phone))
                ),
                _ => String::new(),
            };
            let lead = if view_state(p) == "sending" { "Sending the payment request to" } else { "We sent the request to" };
            format!(
                "<div class=\"spinner\" aria-hidden=\"true\"></div><h2>Check your phone</h2>\
                 <p>Enter your M-Pesa PIN on your phone to pay <strong>{amount}</strong> to <strong>{}</strong>.</p>\
                 <p class=\"muted small\">{lead} {}. This page updates by itself when M-Pesa answers.</p>{sim}\
                 <noscript><p><a href=\"/pay/{id}\">Check the status</a></p></noscript>",
                esc(merchant),
                esc(&to),
            )
        }
        "succeeded" => {
            let receipt = match &p.mpesa_receipt {
                Some(r) => format!("<p>M-Pesa receipt <span class=\"receipt\">{}</span></p>", esc(r)),
                None => "<p>Confirmed by M-Pesa.</p>".into(),
            };
            format!(
                "<div class=\"state-icon\" aria-hidden=\"true\">✓</div><h2>Payment received</h2>\
                 <p><strong>{amount}</strong> paid to <strong>{}</strong>. Thank you!</p>{receipt}{}",
                esc(merchant),
                return_link(p, merchant)
            )
        }
        "failed" => format!(
            "<div class=\"state-icon\" aria-hidden=\"true\">✕</div><h2>Payment not completed</h2>\
             <p>{}</p><p class=\"muted small\">No money was taken for this attempt.</p>\
             <form method=\"post\" action=\"/pay/{id}/retry\"><button type=\"submit\" class=\"full\">Try again</button></form>{}",
            esc(failure_words(p.failure_reason.map(|r| r.as_str()))),
            return_link(p, merchant)
        ),
        _ => format!(
            "<div class=\"state-icon\" aria-hidden=\"true\">!</div><h2>We are confirming your payment</h2>\
             <p>M-Pesa's answer about this payment was not clear, so {} will check it. Please do not pay again. \
             If money left your M-Pesa account, keep the confirmation SMS.</p>{}",
            esc(merchant),
            return_link(p, merchant)
        ),
    }
}

fn checkout_page(state: &AppState, p: &Payment, phone_error: Option<(&str, &str)>, notice: Option<&str>) -> String {
    let view = view_state(p);
    let mut facts = String::new();
    if p.description != p.reference {
        facts.push_str(&format!("<dt>For</dt><dd>{}</dd>", esc(&p.description)));
    }
    facts.push_str(&format!("<dt>Reference</dt><dd>{}</dd>", esc(&p.reference)));
    let notice = notice.map(|n| format!("<p class=\"notice bad\" role=\"alert\">{}</p>", esc(n))).unwrap_or_default();
    format!(
        "<main id=\"main\" class=\"card narrow\">\
         <p class=\"merchant\">{}</p><p class=\"amount\">{}</p><dl class=\"facts\">{facts}</dl>{notice}\
         <section id=\"live\" class=\"live state-{view}\" data-payment=\"{}\" data-state=\"{view}\" aria-live=\"polite\">{}</section>\
         </main><footer class=\"powered\">M-Pesa payment · lipa</footer>",
        esc(&state.cfg.merchant_name),
        kes(p.amount),
        esc(&p.id),
        panel(state, p, phone_error),
    )
}

fn render(
    state: &AppState,
    p: &Payment,
    status: StatusCode,
    phone_error: Option<(&str, &str)>,
    notice: Option<&str>,
) -> Response {
    let title = format!("Pay {} to {}", kes(p.amount), state.cfg.merchant_name);
    page(status, &title, "checkout", &checkout_page(state, p, phone_error, notice), Some("checkout.js"))
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let p = load(&state, &id).await?;
    Ok(render(&state, &p, StatusCode::OK, None, None))
}

#[derive(serde::Deserialize)]
struct PhoneForm {
    phone: String,
}

/// Per-client and per-phone limits on prompts (`crate::limits`): `Some(wait)` refuses this push. Besides
/// these, a payment leaves `awaiting_phone` once (one prompt per payment) and a reference has one pending
/// payment at a time.
fn prompt_cooldown(state: &AppState, client: Option<IpAddr>, phone: &daraja::Msisdn) -> Option<Duration> {
    let refused = state.limits.checkout_prompt(client, phone.as_str()).err()?;
    state.metrics.rate_limited(refused.limit);
    Some(Duration::from_secs(refused.retry_after_secs()))
}

async fn submit_phone(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ext: Extensions,
    form: Result<Form<PhoneForm>, FormRejection>,
) -> Result<Response, PageError> {
    if !same_origin(&headers) {
        return Err(PageError::Forbidden("This form must be sent from the payment page itself."));
    }
    let p = load(&state, &id).await?;
    let back = format!("/pay/{}", p.id);
    if view_state(&p) != "enter_phone" {
        // Already has a phone (a second tab, a double submit): no second prompt.
        return Ok(see_other(&back));
    }
    let typed = form.map(|Form(f)| f.phone).unwrap_or_default();
    let msisdn = match daraja::Msisdn::parse(&typed) {
        Ok(m) => m,
        Err(_) => {
            let msg = if typed.trim().is_empty() {
                "Enter your M-Pesa phone number, for example 0712 345 678."
            } else {
                "That is not a Kenyan mobile number. Use the number of your M-Pesa line, for example 0712 345 678."
            };
            let typed: String = typed.chars().take(40).collect();
            return Ok(render(&state, &p, StatusCode::BAD_REQUEST, Some((msg, &typed)), None));
        }
    };
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let client = crate::security::client_ip(peer, &headers, &state.cfg.security.trusted_proxies);
    if let Some(wait) = prompt_cooldown(&state, client, &msisdn) {
        let msg = format!("Too many payment requests. Please try again in {} seconds.", wait.as_secs().max(1));
        let mut r = render(&state, &p, StatusCode::TOO_MANY_REQUESTS, Some((&msg, &typed)), None);
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return Ok(r);
    }
    if let Some(p) = state.store.set_phone_for_push(&p.id, msisdn.as_str(), now_ms()).await? {
        // Its own task: a customer who closes the page mid-request must not cut the push in half.
        let st = state.clone();
        let sent = tokio::spawn(async move { service::send_push(&st, p).await }).await;
        match sent {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(payment_id = %id, error = ?e, "checkout push failed"),
            Err(e) => tracing::error!(payment_id = %id, error = %e, "checkout push task failed"),
        }
    }
    Ok(see_other(&back))
}

fn update_json(state: &AppState, p: &Payment) -> Value {
    json!({ "state": view_state(p), "html": panel(state, p, None) })
}

async fn status(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let p = load(&state, &id).await?;
    let mut r = Json(update_json(&state, &p)).into_response();
    secure_headers(r.headers_mut());
    Ok(r)
}

async fn events(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let p = load(&state, &id).await?;
    let started = Instant::now();
    // (state, id, what was last sent, the first payment already read, finished)
    let seed = (state, id, None::<&'static str>, Some(p), false);
    let stream = futures::stream::unfold(seed, move |(state, id, last, mut first, done)| async move {
        if done {
            return None;
        }
        loop {
            let p = match first.take() {
                Some(p) => Some(p),
                None => {
                    tokio::time::sleep(STREAM_TICK).await;
                    if started.elapsed() > STREAM_MAX {
                        return None;
                    }
                    match state.store.get_payment(&id).await {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(payment_id = %id, error = %e, "checkout stream cannot read the payment");
                            continue;
                        }
                    }
                }
            };
            let p = p?;
            let view = view_state(&p);
            if Some(view) != last {
                let event = Event::default().event("status").data(update_json(&state, &p).to_string());
                let finished = p.status.is_terminal();
                return Some((Ok::<_, Infallible>(event), (state, id, Some(view), None, finished)));
            }
        }
    });
    let mut r = Sse::new(stream).keep_alive(KeepAlive::default()).into_response();
    secure_headers(r.headers_mut());
    // Proxies such as nginx would otherwise hold the events back.
    r.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}

/// "Try again" after a failure. It makes a new payment with the same amount, reference, description,
/// metadata and return URL and no phone (the customer may want another number), so the new attempt
/// starts at the phone form. It is idempotent per failed payment (an idempotency key derived from its id),
/// so a double click or a second tab leads to the same new payment, and it honours the pending guard: if
/// the reference already has a pending payment, no new one is made.
async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if !same_origin(&headers) {
        return Err(PageError::Forbidden("This form must be sent from the payment page itself."));
    }
    let old = load(&state, &id).await?;
    if old.status != PaymentStatus::Failed {
        return Ok(see_other(&format!("/pay/{}", old.id)));
    }
    let payment = new_checkout_payment(
        &state,
        old.amount,
        old.reference.clone(),
        old.description.clone(),
        old.metadata.clone(),
        old.return_url.clone(),
    );
    let new = NewPayment {
        payment,
        pending_guard: state.cfg.pending_guard.then(|| old.reference.clone()),
        // No API key made it; the key namespace "" belongs to lipa's own pages.
        api_key_id: None,
        idempotency: Some(Idempotency {
            key: format!("checkout-retry:{}", old.id),
            request_hash: "checkout-retry".into(),
        }),
    };
    match state.store.create_payment(new).await {
        Ok(Created::New(p)) => {
            let note = format!("the customer chose Try again: new payment {}", p.id);
            state.store.append_log(&old.id, "checkout", &note, now_ms()).await?;
            Ok(see_other(&format!("/pay/{}", p.id)))
        }
        Ok(Created::Replay { payment, .. }) => Ok(see_other(&format!("/pay/{}", payment.id))),
        Err(StoreError::ReferencePending) => Ok(render(
            &state,
            &old,
            StatusCode::CONFLICT,
            None,
            Some("Another payment for this order is already in progress. Check your phone, or wait a minute and try again."),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_masked() {
        assert_eq!(masked_phone("254712345678"), "0712 ••• 678");
    }

    #[test]
    fn ids_are_checked_before_lookup() {
        assert!(valid_id("pay_0123abcd"));
        assert!(!valid_id("pay_"));
        assert!(!valid_id("pay_<script>"));
        assert!(!valid_id("evt_0123"));
    }
}

//! The hosted checkout page, `/pay/{id}`: public (no API key), so it shows only what the customer needs —
//! amount, merchant, reference and description, the status in plain words, the receipt — never metadata or
//! Daraja's ids. It never asks for a PIN: the customer enters that on their phone. English or Swahili: the
//! browser's `Accept-Language` chooses, the switch on the page (`?lang=sw|en`, kept in a cookie) overrides;
//! every word is in [`strings`].
//!
//! - `GET  /pay/{id}`          the page (phone entry when the payment was created without a phone)
//! - `POST /pay/{id}/phone`    the customer's number: sets it once and sends the one push of this payment;
//!   a refused number redirects back to the page with the error (POST-redirect-GET: reloading the page never
//!   re-sends the form)
//! - `GET  /pay/{id}/events`   server-sent events with the status panel whenever it changes
//! - `GET  /pay/{id}/status`   the same as JSON, for the polling fallback
//! - `POST /pay/{id}/retry`    "Try again" after a failure: a new payment, once per failed payment,
//!   optionally straight to another phone number
//! - `GET  /pay/{id}/receipt`  the receipt, to print, save or share
//!
//! **Changing the number ("Wrong number?").** A payment sends at most one prompt, ever, and an order has at
//! most one payment waiting on a phone. M-Pesa cannot withdraw a prompt once it is on a phone, and whoever
//! holds that phone can still pay it until it expires; so lipa never "cancels" a waiting payment on its own
//! side to send another one (the first could still be paid, and then the customer pays twice). While a
//! prompt is outstanding the page explains how to end it (Cancel on that phone, or let it expire, about a
//! minute); once M-Pesa has settled it as failed, the failure panel takes another number and "Try again"
//! sends the new payment's single prompt there. The customer may type the right number while still waiting:
//! the page's script holds it and sends "Try again" with it only once the first payment has failed (without
//! the script, or if sent early, the server refuses with "the first request is still open" and sends
//! nothing). A payment whose fate is unclear (`needs_review`) offers no new attempt at all.

mod live;
pub mod strings;
mod view;

use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::Value;

use self::strings::{fill, Lang, Texts};
use self::view::{view_state, CheckoutPage, PanelView, ReceiptPage};
use super::pages::{cookie_value, render, same_origin, see_other, url_component, PageError};
use super::{path_and_sender, Sender};
use crate::app::AppState;
use crate::domain::{Payment, PaymentDraft, PaymentStatus};
use crate::payments::{self, PaymentError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{id}", get(show))
        .route("/pay/{id}/phone", post(submit_phone))
        .route("/pay/{id}/status", get(live::status))
        .route("/pay/{id}/events", get(live::events))
        .route("/pay/{id}/retry", post(retry))
        .route("/pay/{id}/receipt", get(receipt))
        .route("/pay/{id}/qr.png", get(qr))
}

const LANG_COOKIE: &str = "lipa_lang";
/// What the customer typed, kept for the page after a refused number (POST-redirect-GET).
const TYPED_COOKIE: &str = "lipa_phone_try";

/// What lipa's own pages (demo shop, "Try again") make: no phone yet, so the checkout asks.
pub fn checkout_draft(
    amount: i64,
    reference: String,
    description: String,
    metadata: Value,
    return_url: Option<String>,
) -> PaymentDraft {
    PaymentDraft { amount, phone: None, reference, description, metadata, return_url }
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

/// `/pay/{id}/qr.png`: the Dynamic QR code of an open payment (Daraja draws it).
async fn qr(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let p = match load(&state, &id).await {
        Ok(p) if p.status == PaymentStatus::Pending => p,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match crate::c2b::qr_png(&state.daraja, &state.cfg, &p).await {
        Ok(png) => {
            let headers = [(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=600")];
            (headers, png).into_response()
        }
        Err(e) => {
            tracing::warn!(payment_id = %p.id, error = %e, "no QR code from Daraja");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[derive(serde::Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
}

/// The page's language: `?lang=`, else the switch's cookie, else the browser's `Accept-Language`.
fn lang_of(headers: &HeaderMap, query: Option<&str>) -> Lang {
    query
        .and_then(Lang::parse)
        .or_else(|| cookie_value(headers, LANG_COOKIE).as_deref().and_then(Lang::parse))
        .unwrap_or_else(|| {
            Lang::from_accept_language(
                headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or_default(),
            )
        })
}

fn add_cookie(r: &mut Response, cookie: String) {
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A customer at one payment's pages: the payment id of the path and the language they read
/// ([`lang_of`]).
struct Visit {
    id: String,
    lang: Lang,
    /// Chosen on the page's switch (`?lang=`), to be remembered.
    chosen: Option<Lang>,
}

impl<S: Send + Sync> FromRequestParts<S> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let Query(q) =
            Query::<LangQuery>::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let lang = lang_of(&parts.headers, q.lang.as_deref());
        Ok(Visit { id, lang, chosen: q.lang.as_deref().and_then(Lang::parse) })
    }
}

impl Visit {
    /// The language chosen on the switch, remembered for the next pages.
    fn keep_choice(&self, r: &mut Response) {
        if let Some(chosen) = self.chosen {
            add_cookie(r, format!("{LANG_COOKIE}={}; Path=/pay; Max-Age=31536000; SameSite=Lax", chosen.code()));
        }
    }
}

/// A page in the customer's language, its errors too.
async fn worded<F, Fut>(lang: Lang, work: F) -> Response
where
    F: FnOnce(&'static Texts) -> Fut,
    Fut: std::future::Future<Output = Result<Response, PageError>>,
{
    let t = Texts::for_lang(lang);
    work(t).await.unwrap_or_else(|e| t.error(e).into_response())
}

#[derive(serde::Deserialize, Default)]
struct ShowQuery {
    /// Set by a refused phone form (POST-redirect-GET).
    error: Option<String>,
    wait: Option<u64>,
}

async fn show(State(state): State<AppState>, visit: Visit, Query(q): Query<ShowQuery>, headers: HeaderMap) -> Response {
    worded(visit.lang, |t| async move {
        let p = load(&state, &visit.id).await?;
        let lang = t.lang;
        let notice = match (q.error.as_deref(), view_state(&p)) {
            (Some("still_waiting"), "sending" | "waiting") => Some(t.still_waiting),
            _ => None,
        };
        let message = match q.error.as_deref() {
            _ if view_state(&p) != "enter_phone" => None,
            Some("phone_empty") => Some(t.phone_empty.to_string()),
            Some("phone_invalid") => Some(t.phone_invalid.to_string()),
            Some("too_many") => Some(fill(t.too_many, &[("seconds", &q.wait.unwrap_or(60).max(1).to_string())])),
            _ => None,
        };
        let typed = message.as_ref().and_then(|_| cookie_value(&headers, TYPED_COOKIE)).map(|raw| {
            url::form_urlencoded::parse(format!("t={raw}").as_bytes())
                .next()
                .map(|(_, v)| v.chars().take(40).collect::<String>())
                .unwrap_or_default()
        });
        let had_typed = typed.is_some();
        let v = PanelView::new(&state, &p, lang, message.map(|m| (m, typed.unwrap_or_default())));
        let mut r = render(StatusCode::OK, &CheckoutPage::new(&state, &p, &v, notice));
        visit.keep_choice(&mut r);
        if had_typed {
            add_cookie(&mut r, format!("{TYPED_COOKIE}=; Path=/pay/{}; Max-Age=0; HttpOnly; SameSite=Lax", p.id));
        }
        Ok(r)
    })
    .await
}

/// Back to the page with the phone form's error; what was typed goes along in a short-lived cookie.
fn refused(p: &Payment, error: &str, typed: &str) -> Response {
    let mut r = see_other(&format!("/pay/{}?error={error}", p.id));
    let typed: String = typed.chars().take(40).collect();
    add_cookie(
        &mut r,
        format!("{TYPED_COOKIE}={}; Path=/pay/{}; Max-Age=300; HttpOnly; SameSite=Lax", url_component(&typed), p.id),
    );
    r
}

#[derive(serde::Deserialize)]
struct PhoneForm {
    #[serde(default)]
    phone: String,
}

/// The phone form POSTed from a payment's page (`/phone`, `/retry`): the payment id of the path, what was
/// typed (nothing when the form cannot be read), and who sent it.
struct PhonePost {
    id: String,
    typed: String,
    sender: Sender,
}

impl<S: Send + Sync> FromRequest<S> for PhonePost {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (id, sender, req) = path_and_sender(req, state).await?;
        let form = Form::<PhoneForm>::from_request(req, state).await;
        Ok(PhonePost { id, typed: form.map(|Form(f)| f.phone).unwrap_or_default(), sender })
    }
}

/// Per-client and per-phone limits on prompts (`crate::limits`): `Some(wait)` refuses this push. Besides
/// these, a payment leaves `awaiting_phone` once (one prompt per payment) and a reference has one pending
/// payment at a time.
fn prompt_cooldown(state: &AppState, post: &PhonePost, phone: &daraja::Msisdn) -> Option<Duration> {
    let refused = state.limits.checkout_prompt(post.sender.client_ip(state), phone.as_str()).err()?;
    state.metrics.rate_limited(refused.limit);
    Some(Duration::from_secs(refused.retry_after_secs()))
}

/// A form POSTed from the payment page: refused when another site sent it; its errors are shown as a page in
/// the customer's language.
async fn from_payment_page<F, Fut>(post: PhonePost, work: F) -> Response
where
    F: FnOnce(PhonePost, &'static Texts) -> Fut,
    Fut: std::future::Future<Output = Result<Response, PageError>>,
{
    worded(lang_of(&post.sender.headers, None), |t| async move {
        match same_origin(&post.sender.headers) {
            true => work(post, t).await,
            false => Err(PageError::Forbidden("This form must be sent from the payment page itself.")),
        }
    })
    .await
}

async fn submit_phone(State(state): State<AppState>, post: PhonePost) -> Response {
    from_payment_page(post, |post, t| async move {
        let p = load(&state, &post.id).await?;
        let back = format!("/pay/{}", p.id);
        if view_state(&p) != "enter_phone" {
            // Already has a phone (a second tab, a double submit): no second prompt.
            return Ok(see_other(&back));
        }
        let typed = post.typed.as_str();
        let msisdn = match daraja::Msisdn::parse(typed) {
            Ok(m) => m,
            Err(_) if typed.trim().is_empty() => return Ok(refused(&p, "phone_empty", "")),
            Err(_) => return Ok(refused(&p, "phone_invalid", typed)),
        };
        if let Some(wait) = prompt_cooldown(&state, &post, &msisdn) {
            // A limit answers 429 with Retry-After (for scripts), on the page itself.
            let msg = fill(t.too_many, &[("seconds", &wait.as_secs().max(1).to_string())]);
            let v = PanelView::new(&state, &p, t.lang, Some((msg, typed.chars().take(40).collect())));
            let mut r = render(StatusCode::TOO_MANY_REQUESTS, &CheckoutPage::new(&state, &p, &v, None));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
            return Ok(r);
        }
        payments::push_to_phone(&state, &p.id, &msisdn).await?;
        Ok(see_other(&back))
    })
    .await
}

/// "Try again" after a failure. It makes a new payment with the same amount, reference, description,
/// metadata and return URL and no phone, so the customer may use another number: typed in the failure
/// panel (the new payment's one push goes there at once) or, when left empty, on the new payment's phone
/// form. It is idempotent per failed payment (an idempotency key derived from its id), so a double click or
/// a second tab leads to the same new payment and sends no second prompt, and it honours the pending guard:
/// if the reference already has a pending payment, no new one is made.
async fn retry(State(state): State<AppState>, post: PhonePost) -> Response {
    from_payment_page(post, |post, t| async move {
        let old = load(&state, &post.id).await?;
        if matches!(view_state(&old), "sending" | "waiting") {
            // Its prompt may still be answered: never a second one (see "Changing the number" above).
            return Ok(see_other(&format!("/pay/{}?error=still_waiting", old.id)));
        }
        if old.status != PaymentStatus::Failed {
            return Ok(see_other(&format!("/pay/{}", old.id)));
        }
        let typed = post.typed.as_str();
        let draft = checkout_draft(
            old.amount,
            old.reference.clone(),
            old.description.clone(),
            old.metadata.clone(),
            old.return_url.clone(),
        );
        let origin = payments::Origin::CheckoutRetry { after: &old.id };
        let next = match payments::create(&state, payments::PaymentRequest { draft, push: None, origin }).await {
            Ok(created) => created.payment,
            Err(PaymentError::ReferencePending) => {
                let lang = t.lang;
                let v = PanelView::new(&state, &old, lang, None);
                let notice = Some(Texts::for_lang(lang).in_progress);
                return Ok(render(StatusCode::CONFLICT, &CheckoutPage::new(&state, &old, &v, notice)));
            }
            Err(e) => return Err(e.into()),
        };
        if typed.trim().is_empty() || view_state(&next) != "enter_phone" {
            return Ok(see_other(&format!("/pay/{}", next.id)));
        }
        let Ok(msisdn) = daraja::Msisdn::parse(typed) else {
            return Ok(refused(&next, "phone_invalid", typed));
        };
        if let Some(wait) = prompt_cooldown(&state, &post, &msisdn) {
            return Ok(see_other(&format!("/pay/{}?error=too_many&wait={}", next.id, wait.as_secs().max(1))));
        }
        payments::push_to_phone(&state, &next.id, &msisdn).await?;
        Ok(see_other(&format!("/pay/{}", next.id)))
    })
    .await
}

async fn receipt(State(state): State<AppState>, visit: Visit) -> Response {
    worded(visit.lang, |t| async move {
        let p = load(&state, &visit.id).await?;
        let mut r = render(StatusCode::OK, &ReceiptPage::new(&state, &p, t.lang));
        visit.keep_choice(&mut r);
        Ok(r)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_before_lookup() {
        assert!(valid_id("pay_0123abcd"));
        assert!(!valid_id("pay_"));
        assert!(!valid_id("pay_<script>"));
        assert!(!valid_id("evt_0123"));
    }

    #[test]
    fn language_choice() {
        let mut h = HeaderMap::new();
        assert_eq!(lang_of(&h, None), Lang::En);
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("sw-KE,sw;q=0.9,en;q=0.5"));
        assert_eq!(lang_of(&h, None), Lang::Sw);
        h.insert(header::COOKIE, HeaderValue::from_static("lipa_lang=en"));
        assert_eq!(lang_of(&h, None), Lang::En, "the switch beats the browser");
        assert_eq!(lang_of(&h, Some("sw")), Lang::Sw, "the link beats the cookie");
    }
}

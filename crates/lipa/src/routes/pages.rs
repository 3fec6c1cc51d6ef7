//! What the hosted pages (checkout, demo shop, admin) share: rendering a template (askama, under
//! `crates/lipa/templates/`, one layout, escaping by default — no page builds HTML by hand), the one
//! stylesheet and script (served by lipa itself: nothing is loaded from elsewhere), and the security
//! headers every page answer carries.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::payments::PaymentError;
use crate::store::StoreError;

/// Only lipa's own files; no inline script or style (the SVG chart is styled by class), no frames.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS: &str = include_str!("assets/lipa.css");
const CHECKOUT_JS: &str = include_str!("assets/checkout.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/lipa.css", get(|| async { asset("text/css; charset=utf-8", CSS) }))
        .route("/assets/checkout.js", get(|| async { asset("text/javascript; charset=utf-8", CHECKOUT_JS) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// Encode a value for a URL query component (the template escapes the URL for its attribute).
pub fn url_component(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `KES 1,250`.
pub fn kes(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("KES {}{out}", if amount < 0 { "-" } else { "" })
}

/// Unix ms as Nairobi wall time, `2026-11-28 13:15:02`.
pub fn eat(ms: i64) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return String::new();
    };
    let tz = jiff::tz::TimeZone::get("Africa/Nairobi").unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned_datetime(tz).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// The value of a request cookie.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A page from its template. A template that cannot render (a bug) is a 500 page, never half a page.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => html_response(status, html),
        Err(e) => PageError::Internal(format!("template: {e}")).into_response(),
    }
}

pub fn html_response(status: StatusCode, html: String) -> Response {
    let mut r = (status, html).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(r.headers_mut());
    r
}

/// Headers on every page answer: the CSP, no sniffing, no caching (pages show live payment data), no
/// referrer to other sites (the payment id is in the URL; `no-referrer` would make browsers send
/// `Origin: null` on our own form posts).
pub fn secure_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A redirect after a form POST (303: the browser follows with GET).
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(r.headers_mut());
    r
}

/// The client of a request, as the limits see it (`X-Forwarded-For` only from `LIPA_TRUSTED_PROXIES`).
pub fn client_ip(state: &AppState, headers: &HeaderMap, ext: &Extensions) -> Option<IpAddr> {
    let peer = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    crate::security::client_ip(peer, headers, &state.cfg.security.trusted_proxies)
}

/// A form POST from another site is refused: browsers send `Origin` on POSTs, and it must be ours.
/// (The admin forms also carry a CSRF token; this is the second lock, and the only one the public forms
/// need — they change nothing another site could profit from.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == "null" {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    let forwarded = headers.get("x-forwarded-host").and_then(|v| v.to_str().ok());
    origin_host.eq_ignore_ascii_case(host) || forwarded.is_some_and(|f| origin_host.eq_ignore_ascii_case(f))
}

/// Errors of a page handler, shown as a page (never JSON, never a stack trace).
#[derive(Debug)]
pub enum PageError {
    NotFound,
    Forbidden(&'static str),
    Internal(String),
    /// A page already worded (the checkout's, in the customer's language).
    Worded {
        status: StatusCode,
        lang: &'static str,
        title: &'static str,
        text: &'static str,
    },
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PageError::NotFound,
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl From<PaymentError> for PageError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::NotFound => PageError::NotFound,
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut lang = "en";
        let (status, title, text) = match self {
            PageError::NotFound => {
                (StatusCode::NOT_FOUND, "Not found", "There is nothing here. Check the link you were given.")
            }
            PageError::Forbidden(why) => (StatusCode::FORBIDDEN, "Not allowed", why),
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Something went wrong on our side. Please try again in a moment.",
                )
            }
            PageError::Worded { status, lang: l, title, text } => {
                lang = l;
                (status, title, text)
            }
        };
        match (ErrorPage { lang, title, text }).render() {
            Ok(html) => html_response(status, html),
            Err(_) => (status, text.to_string()).into_response(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    lang: &'a str,
    title: &'a str,
    text: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_escape() {
        let html = ErrorPage { lang: "en", title: "<script>\"a\" & 'b'</script>", text: "x" }.render().unwrap();
        assert!(html.contains("&#60;script&#62;&#34;a&#34; &#38; &#39;b&#39;&#60;/script&#62;"), "{html}");
    }

    #[test]
    fn money() {
        assert_eq!(kes(800), "KES 800");
        assert_eq!(kes(1250), "KES 1,250");
        assert_eq!(kes(250000), "KES 250,000");
        assert_eq!(kes(1234567), "KES 1,234,567");
    }

    #[test]
    fn origins() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
    }
}

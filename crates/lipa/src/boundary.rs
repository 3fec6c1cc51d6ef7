//! Checks and headers every route gets, applied once to the whole router (lipa's routes, the simulator's
//! `/sim/*` and the 404 fallback alike):
//!
//! - **text inputs**: a NUL character in the path, a query parameter, a form field or a JSON string is
//!   refused with `400 invalid_text` naming the field (PostgreSQL cannot store NUL in text, and no field of
//!   lipa has a use for it); a query parameter given twice is refused with `400 duplicate_parameter`.
//!   Callback bodies are exempt: they are kept as sent (Daraja's retries must not bounce), and the text
//!   read from them is cleaned in `payments::callback_outcome`.
//! - **security headers** on every answer that does not set its own: `nosniff`, no framing, no referrer
//!   to other sites, and a Content-Security-Policy — for an HTML page, one that allows exactly its own
//!   inline `<style>` and `<script>` blocks (by hash) and nothing else inline.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::convert::Infallible;
use tower::Layer as _;

use crate::app::MAX_BODY;

/// Wrap a finished router (after the simulator's routes are merged in), once around the whole of it rather
/// than around each route: the request id (`request_log::ids`), then the input checks and the security
/// headers, so that a refusal carries the request id too.
pub fn apply(
    app: Router,
) -> impl tower::Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + Sync + 'static
{
    crate::request_log::ids(axum::middleware::from_fn(guard).layer(app))
}

/// What every request passes through inside the request id: the inputs are checked, and the answer — a
/// refusal included — gets the security headers.
async fn guard(req: Request, next: Next) -> Response {
    let resp = match checked(req).await {
        Ok(req) => next.run(req).await,
        Err(refusal) => refusal,
    };
    secured(resp).await
}

fn refuse(code: &str, field: &str, message: String) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "field": field } });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn nul_in(field: &str) -> Response {
    refuse("invalid_text", field, format!("{field} must not contain a NUL character"))
}

/// The first problem with a query string: a NUL (`invalid_text`) or a repeated name (`duplicate_parameter`).
pub fn query_problem(query: &str) -> Option<Response> {
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k.contains('\0') {
            return Some(nul_in("query"));
        }
        if v.contains('\0') {
            return Some(nul_in(&k));
        }
        if seen.iter().any(|s| *s == k) {
            return Some(refuse("duplicate_parameter", &k, format!("the query parameter {k} is given more than once")));
        }
        seen.push(k.into_owned());
    }
    None
}

/// The name of the first field of a JSON body holding a NUL in a string (a key or a value, at any depth;
/// named by its top-level field), or `body` when the body itself is a string holding one.
pub fn json_nul_field(v: &Value) -> Option<String> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    match v {
        Value::Object(m) => m.iter().find(|(k, v)| k.contains('\0') || has_nul(v)).map(|(k, _)| k.replace('\0', "")),
        other => has_nul(other).then(|| "body".to_string()),
    }
}

/// The request, when its inputs pass (the body read whole and put back when it had to be looked at), or
/// the refusal.
async fn checked(req: Request) -> Result<Request, Response> {
    let path = req.uri().path();
    if percent_decoded_has_nul(path) {
        return Err(nul_in("path"));
    }
    if let Some(problem) = req.uri().query().and_then(query_problem) {
        return Err(problem);
    }
    let has_body = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if !has_body || path.starts_with("/callbacks/") {
        return Ok(req);
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    let kind = match content_type.as_deref() {
        Some(ct) if ct.starts_with("application/json") => BodyKind::Json,
        Some(ct) if ct.starts_with("application/x-www-form-urlencoded") => BodyKind::Form,
        _ => return Ok(req),
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        // The route answers 413 itself.
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return Err(crate::error::ApiError::TooLarge.into_response()),
    };
    if let Some(field) = body_nul_field(kind, &bytes) {
        return Err(nul_in(&field));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[derive(Clone, Copy)]
enum BodyKind {
    Json,
    Form,
}

fn body_nul_field(kind: BodyKind, bytes: &Bytes) -> Option<String> {
    match kind {
        BodyKind::Json => {
            // Cheap test first: a NUL in a JSON string is written `\u0000` (or sent raw, which is not JSON).
            let suspicious = bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) || bytes.contains(&0);
            if !suspicious {
                return None;
            }
            let v: Value = serde_json::from_slice(bytes).ok()?;
            json_nul_field(&v)
        }
        BodyKind::Form => url::form_urlencoded::parse(bytes)
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map(|(k, _)| if k.contains('\0') { "form".to_string() } else { k.into_owned() }),
    }
}

fn percent_decoded_has_nul(path: &str) -> bool {
    path.as_bytes().contains(&0) || path.as_bytes().windows(3).any(|w| w == b"%00")
}

/// An answer with the security headers it does not set itself.
async fn secured(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let h = &mut parts.headers;
    let add = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    add(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    add(h, header::X_FRAME_OPTIONS, "DENY");
    add(h, header::REFERRER_POLICY, "same-origin");
    if h.contains_key(header::CONTENT_SECURITY_POLICY) {
        return Response::from_parts(parts, body);
    }
    let html = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/html"));
    if !html {
        add(h, header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
        return Response::from_parts(parts, body);
    }
    // An HTML page without a policy of its own (the API reference, the virtual handset): allow its own
    // inline blocks by hash. Pages are small; a body that cannot be read whole gets the strict policy.
    let bytes = match axum::body::to_bytes(body, 4 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            crate::routes::pages::secure_headers(r.headers_mut());
            return r;
        }
    };
    let csp = page_policy(&String::from_utf8_lossy(&bytes));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        parts.headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A policy for an HTML page: same-origin resources, and its inline `<script>` and `<style>` blocks by hash.
pub fn page_policy(html: &str) -> String {
    let hashes = |tag: &str| -> String {
        let open = format!("<{tag}");
        let close = format!("</{tag}>");
        let mut out = String::new();
        let mut rest = html;
        while let Some(start) = rest.find(&open) {
            let after = &rest[start..];
            let Some(gt) = after.find('>') else { break };
            let tag_text = &after[..gt];
            let body = &after[gt + 1..];
            let Some(end) = body.find(&close) else { break };
            if !tag_text.contains("src=") {
                out.push_str(&format!(" 'sha256-{}'", STANDARD.encode(Sha256::digest(&body.as_bytes()[..end]))));
            }
            rest = &body[end + close.len()..];
        }
        out
    };
    format!(
        "default-src 'self'; script-src 'self'{}; style-src 'self'{}; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        hashes("script"),
        hashes("style")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_fields_are_named() {
        assert_eq!(json_nul_field(&json!({"amount": 1, "description": "a\u{0}b"})).as_deref(), Some("description"));
        assert_eq!(json_nul_field(&json!({"metadata": {"x": ["\u{0}"]}})).as_deref(), Some("metadata"));
        assert_eq!(json_nul_field(&json!({"description": "fine \\u0000 text"})), None);
        assert!(query_problem("status=a&status=b").is_some());
        assert!(query_problem("status=%00").is_some());
        assert!(query_problem("status=a&limit=2").is_none());
    }

    #[test]
    fn page_policy_hashes_inline_blocks() {
        let p = page_policy("<style>a{}</style><script src=\"/x.js\"></script><script>go()</script>");
        let style = STANDARD.encode(Sha256::digest(b"a{}"));
        let script = STANDARD.encode(Sha256::digest(b"go()"));
        assert!(p.contains(&format!("style-src 'self' 'sha256-{style}';")), "{p}");
        assert!(p.contains(&format!("script-src 'self' 'sha256-{script}';")), "{p}");
    }
}

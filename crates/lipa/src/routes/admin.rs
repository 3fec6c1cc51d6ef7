//! The admin dashboard, `/admin`: payments with search, filters and pages; a payment's whole history;
//! totals and success rate over time as a chart; redeliver an event; resolve a review.
//!
//! Login: one password, `LIPA_ADMIN_PASSWORD`. At startup it is stretched with PBKDF2-HMAC-SHA256
//! (salted, [`PBKDF2_ITERATIONS`]) and the plain text is dropped from the configuration; logins are checked
//! against the hash in constant time. In simulator mode without a password, a random one is made at start
//! and printed in the banner (like the API key). Other modes without a password have no admin login.
//!
//! Sessions live in the database (`kv` table, key `admin_session:<sha256 of the cookie>`), so they work
//! across instances; the cookie is `HttpOnly; SameSite=Strict; Path=/admin` (and `Secure` behind HTTPS).
//! Every POST carries the session's CSRF token in a hidden field and must come from our own origin.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::pages::{eat, esc, kes, page, same_origin, secure_headers, see_other, url_component, PageError};
use crate::app::{now_ms, AppState};
use crate::config::{Config, Mode};
use crate::domain::{Outcome, PaymentStatus};
use crate::store::{EventFilter, PaymentFilter, StatsBucket};

// The password hash lives in `crate::password`; these names stay here for existing callers.
pub use crate::password::{AdminAuth, PBKDF2_ITERATIONS};

const SESSION_COOKIE: &str = "lipa_admin";
const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;
const PAGE_SIZE: i64 = 25;
/// Nairobi is UTC+3 all year: day buckets start at midnight there.
const EAT_OFFSET_MS: i64 = 3 * 3600 * 1000;

/// The admin login for a configuration, taking the plain password out of it (it is not kept). Returns the
/// hash and, when one was generated (simulator mode without `LIPA_ADMIN_PASSWORD`), the password to print.
pub fn setup(cfg: &mut Config) -> (Option<Arc<AdminAuth>>, Option<String>) {
    match cfg.admin_password.take() {
        Some(pw) => (Some(Arc::new(AdminAuth::from_password(pw.expose_secret(), PBKDF2_ITERATIONS))), None),
        None if cfg.mode == Mode::Simulator => {
            let pw = hex::encode(rand::random::<[u8; 12]>());
            // 96 random bits need no stretching; a person's password does.
            (Some(Arc::new(AdminAuth::from_password(&pw, 1))), Some(pw))
        }
        None => (None, None),
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/", get(|| async { see_other("/admin") }))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/payments/{id}", get(payment_page))
        .route("/admin/payments/{id}/resolve", post(resolve))
        .route("/admin/events/{id}/redeliver", post(redeliver))
}

fn session_key(token: &str) -> String {
    format!("admin_session:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn cookie(state: &AppState, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if state.public_base.starts_with("https://") { "; Secure" } else { "" };
    let c = format!("{SESSION_COOKIE}={value}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&c).expect("cookie is ASCII")
}

/// A signed-in operator: the session's store key and its CSRF token.
pub struct Session {
    key: String,
    csrf: String,
}

impl Session {
    /// Every signed-in form post: it comes from lipa's own pages and carries this session's CSRF token.
    fn check_post(&self, headers: &HeaderMap, sent: &str) -> Result<(), PageError> {
        if !same_origin(headers) {
            return Err(PageError::Forbidden("Use lipa's own admin pages."));
        }
        self.check_csrf(sent)
    }

    fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if crate::password::same_bytes(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Forbidden("This form has expired. Go back, reload the page and try again."))
        }
    }

    fn field(&self) -> String {
        format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&self.csrf))
    }
}

/// Not signed in: to the login page.
pub struct LoginFirst;

impl IntoResponse for LoginFirst {
    fn into_response(self) -> Response {
        see_other("/admin/login")
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).filter(|t| t.len() == 64) else {
            return Err(LoginFirst.into_response());
        };
        let key = session_key(&token);
        match state.store.kv_get(&key).await {
            Ok(Some((csrf, Some(expires)))) if expires > now_ms() => Ok(Session { key, csrf }),
            Ok(_) => Err(LoginFirst.into_response()),
            Err(e) => Err(PageError::from(e).into_response()),
        }
    }
}

fn frame(state: &AppState, session: Option<&Session>, title: &str, body: &str) -> Response {
    let logout = session
        .map(|s| {
            format!(
                "<form method=\"post\" action=\"/admin/logout\">{}<button type=\"submit\" class=\"link\">Sign out</button></form>",
                s.field()
            )
        })
        .unwrap_or_default();
    let html = format!(
        "<header class=\"topbar\"><a class=\"brand\" href=\"/admin\">lipa admin</a><span>{} · {}</span>{logout}</header>\
         <main id=\"main\">{body}</main>",
        esc(&state.cfg.merchant_name),
        esc(state.cfg.mode.as_str()),
    );
    page(StatusCode::OK, title, "admin", &html, None)
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

// ---------------------------------------------------------------------------------------------- login

async fn login_page(State(state): State<AppState>) -> Response {
    login_form(&state, None)
}

fn login_form(state: &AppState, error: Option<&str>) -> Response {
    let body = match (&state.admin, state.cfg.mode) {
        (None, _) => "<section class=\"card narrow\"><h1>Admin is off</h1><p>Set <code>LIPA_ADMIN_PASSWORD</code> \
                      and restart lipa to use the dashboard.</p></section>"
            .to_string(),
        (Some(_), mode) => {
            let hint = if mode == Mode::Simulator {
                "<p class=\"muted small\">Simulator mode: unless <code>LIPA_ADMIN_PASSWORD</code> is set, the password \
                 is printed in the banner of <code>lipa serve</code>.</p>"
            } else {
                ""
            };
            let error = error
                .map(|e| format!("<p class=\"error\" role=\"alert\" id=\"login-error\">{}</p>", esc(e)))
                .unwrap_or_default();
            format!(
                "<section class=\"card narrow\"><h1>Sign in</h1>\
                 <form method=\"post\" action=\"/admin/login\"><label for=\"password\">Admin password</label>\
                 <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
                 {error}<div class=\"actions\"><button type=\"submit\">Sign in</button></div></form>{hint}</section>"
            )
        }
    };
    frame(state, None, "Sign in · lipa admin", &body)
}

#[derive(serde::Deserialize)]
struct LoginForm {
    password: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    if !same_origin(&headers) {
        return Err(PageError::Forbidden("Sign in from lipa's own login page."));
    }
    let Some(auth) = state.admin.clone() else {
        return Ok(with_status(login_form(&state, None), StatusCode::NOT_FOUND));
    };
    let password = form.map(|Form(f)| f.password).unwrap_or_default();
    // The slow hash runs off the async threads.
    let ok = tokio::task::spawn_blocking(move || auth.verify(&password)).await.unwrap_or(false);
    if !ok {
        tracing::warn!("admin login refused: wrong password");
        return Ok(with_status(login_form(&state, Some("Wrong password.")), StatusCode::UNAUTHORIZED));
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let csrf = hex::encode(rand::random::<[u8; 16]>());
    state.store.kv_put(&session_key(&token), &csrf, Some(now_ms() + SESSION_TTL_MS)).await?;
    tracing::info!("admin signed in");
    let mut r = see_other("/admin");
    r.headers_mut().insert(header::SET_COOKIE, cookie(&state, &token, SESSION_TTL_MS / 1000));
    Ok(r)
}

#[derive(serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    let sent = form.map(|Form(f)| f.csrf).unwrap_or_default();
    session.check_post(&headers, &sent)?;
    state.store.kv_delete_if(&session.key, &session.csrf).await?;
    let mut r = see_other("/admin/login");
    r.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0));
    Ok(r)
}

// ------------------------------------------------------------------------------------------ dashboard

#[derive(serde::Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    after: Option<String>,
    range: Option<String>,
}

fn badge(status: PaymentStatus) -> String {
    let s = status.as_str();
    format!("<span class=\"badge {s}\">{}</span>", s.replace('_', " "))
}

async fn dashboard(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let query =
        q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(|s| s.chars().take(100).collect::<String>());
    let status = q.status.as_deref().and_then(PaymentStatus::parse);
    let after = q.after.filter(|a| a.starts_with("pay_") && a.len() <= 64);
    let daily = q.range.as_deref() != Some("24h");

    // Search: a payment id, else a phone number in any format, else a reference.
    let mut filter = PaymentFilter {
        status: status.map(|s| s.as_str().to_string()),
        starting_after: after.clone(),
        limit: PAGE_SIZE,
        ..Default::default()
    };
    let mut single = None;
    if let Some(text) = &query {
        if text.starts_with("pay_") {
            single = Some(
                state
                    .store
                    .get_payment(text)
                    .await?
                    .into_iter()
                    .filter(|p| status.is_none_or(|s| p.status == s))
                    .collect::<Vec<_>>(),
            );
        } else if text.chars().all(|c| c.is_ascii_digit() || " +-".contains(c)) && daraja::Msisdn::parse(text).is_ok() {
            filter.phone = daraja::Msisdn::parse(text).ok().map(|m| m.as_str().to_string());
        } else {
            filter.reference = Some(text.clone());
        }
    }
    let (rows, has_more) = match single {
        Some(rows) => (rows, false),
        None => {
            let page = state.store.list_payments(&filter).await?;
            (page.data, page.has_more)
        }
    };

    let counts: HashMap<String, i64> = state.store.count_by_status().await?.into_iter().collect();
    let (buckets, bucket_ms) = if daily { (14, 24 * 3600 * 1000) } else { (24, 3600 * 1000) };
    let now = now_ms();
    let first = (now + EAT_OFFSET_MS) / bucket_ms - (buckets - 1);
    let since = first * bucket_ms - EAT_OFFSET_MS;
    let stats = state.store.payment_stats(since, bucket_ms, EAT_OFFSET_MS).await?;
    let series: Vec<StatsBucket> = (0..buckets)
        .map(|i| {
            let start = (first + i) * bucket_ms - EAT_OFFSET_MS;
            stats.iter().find(|b| b.start == start).copied().unwrap_or(StatsBucket {
                start,
                succeeded: 0,
                failed: 0,
                needs_review: 0,
                pending: 0,
                collected: 0,
            })
        })
        .collect();

    let mut body = String::new();
    // Totals.
    let c = |s: &str| counts.get(s).copied().unwrap_or(0);
    let total: i64 = counts.values().sum();
    let (ok, bad): (i64, i64) = series.iter().fold((0, 0), |(a, b), s| (a + s.succeeded, b + s.failed));
    let collected: i64 = series.iter().map(|s| s.collected).sum();
    let period = if daily { "last 14 days" } else { "last 24 hours" };
    let rate = if ok + bad > 0 { format!("{:.0}%", 100.0 * ok as f64 / (ok + bad) as f64) } else { "—".into() };
    let _ = write!(
        body,
        "<section class=\"card wide\" aria-labelledby=\"totals\"><h1 id=\"totals\">Payments</h1><div class=\"tiles\">\
         <div class=\"tile\">All<b>{total}</b></div><div class=\"tile\">Succeeded<b>{}</b></div>\
         <div class=\"tile\">Failed<b>{}</b></div><div class=\"tile\">Needs review<b>{}</b></div>\
         <div class=\"tile\">Pending<b>{}</b></div><div class=\"tile\">Collected, {period}<b>{}</b></div>\
         <div class=\"tile\">Success rate, {period}<b>{rate}</b></div></div>",
        c("succeeded"),
        c("failed"),
        c("needs_review"),
        c("pending"),
        kes(collected),
    );
    let other = if daily { ("24h", "Last 24 hours") } else { ("14d", "Last 14 days") };
    let _ = write!(
        body,
        "<h2>{} <span class=\"small\">(<a href=\"/admin?range={}\">{}</a>)</span></h2>{}</section>",
        if daily { "Last 14 days" } else { "Last 24 hours" },
        other.0,
        other.1,
        chart(&series, daily)
    );

    // Search and list.
    let q_value = esc(query.as_deref().unwrap_or(""));
    let mut options = String::from("<option value=\"\">any</option>");
    for s in [PaymentStatus::Pending, PaymentStatus::Succeeded, PaymentStatus::Failed, PaymentStatus::NeedsReview] {
        let sel = if status == Some(s) { " selected" } else { "" };
        let _ = write!(options, "<option value=\"{}\"{sel}>{}</option>", s.as_str(), s.as_str().replace('_', " "));
    }
    let _ = write!(
        body,
        "<section class=\"card wide\" aria-labelledby=\"list\"><h2 id=\"list\">Find payments</h2>\
         <form method=\"get\" action=\"/admin\" class=\"filters\" role=\"search\">\
         <div><label for=\"q\">Reference, phone or payment id</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{q_value}\"></div>\
         <div><label for=\"status\">Status</label><select id=\"status\" name=\"status\">{options}</select></div>\
         <div><button type=\"submit\">Search</button></div></form>"
    );
    if rows.is_empty() {
        body.push_str("<p class=\"muted\">No payments match.</p>");
    } else {
        body.push_str(
            "<div class=\"table-wrap\"><table id=\"payments\"><thead><tr><th scope=\"col\">Created (EAT)</th><th scope=\"col\">Payment</th>\
             <th scope=\"col\">Reference</th><th scope=\"col\">Phone</th><th scope=\"col\" class=\"num\">Amount</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Receipt / reason</th></tr></thead><tbody>",
        );
        for p in &rows {
            let detail = p
                .mpesa_receipt
                .clone()
                .or_else(|| p.failure_reason.map(|r| r.as_str().to_string()))
                .or_else(|| p.review_reason.clone())
                .unwrap_or_default();
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"/admin/payments/{id}\">{id}</a></td><td>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                eat(p.created_at),
                esc(&p.reference),
                esc(p.phone.as_deref().unwrap_or("—")),
                kes(p.amount),
                badge(p.status),
                esc(&detail),
                id = esc(&p.id),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    let keep = |after: Option<&str>| {
        let mut qs = Vec::new();
        if let Some(t) = &query {
            qs.push(format!("q={}", url_component(t)));
        }
        if let Some(s) = status {
            qs.push(format!("status={}", s.as_str()));
        }
        if !daily {
            qs.push("range=24h".into());
        }
        if let Some(a) = after {
            qs.push(format!("after={}", url_component(a)));
        }
        esc(&format!("/admin?{}", qs.join("&")))
    };
    body.push_str("<nav class=\"pager\" aria-label=\"Pages\">");
    if after.is_some() {
        let _ = write!(body, "<a href=\"{}\">← Newest</a>", keep(None));
    }
    if has_more {
        if let Some(last) = rows.last() {
            let _ = write!(body, "<a href=\"{}\">Older →</a>", keep(Some(&last.id)));
        }
    }
    body.push_str("</nav></section>");
    Ok(frame(&state, Some(&session), "Payments · lipa admin", &body))
}

/// Succeeded and failed payments per bucket as bars, the success rate as a line: inline SVG styled by the
/// stylesheet (no inline styles, no script), with a table of the same numbers for screen readers.
fn chart(series: &[StatsBucket], daily: bool) -> String {
    let (w, h, left, right, top, bottom) = (720.0_f64, 240.0_f64, 36.0, 36.0, 12.0, 28.0);
    let plot_h = h - top - bottom;
    let slot = (w - left - right) / series.len().max(1) as f64;
    // An even top (at least 2), so the middle grid line is a whole number.
    let top_count = series.iter().map(|b| b.succeeded.max(b.failed)).max().unwrap_or(0).max(2);
    let max = (top_count + top_count % 2) as f64;
    let label = |b: &StatsBucket| {
        let tz = jiff::tz::TimeZone::get("Africa/Nairobi").unwrap_or(jiff::tz::TimeZone::UTC);
        match jiff::Timestamp::from_millisecond(b.start) {
            Ok(t) if daily => t.to_zoned_datetime(tz).strftime("%d %b").to_string(),
            Ok(t) => t.to_zoned_datetime(tz).strftime("%H:00").to_string(),
            Err(_) => String::new(),
        }
    };
    let total: i64 = series.iter().map(|b| b.succeeded + b.failed).sum();
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">Succeeded and failed payments {} ({total} finished), with the success rate</title>",
        if daily { "per day" } else { "per hour" }
    );
    for frac in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - frac);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{:.1}\">{:.0}%</text>",
            w - right,
            left - 4.0,
            y + 4.0,
            (max * frac).round(),
            w - right + 4.0,
            y + 4.0,
            frac * 100.0
        );
    }
    let bar_w = (slot * 0.38).max(1.0);
    let mut rate_points = Vec::new();
    for (i, b) in series.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.1;
        let name = label(b);
        for (n, class, what, dx) in [(b.succeeded, "bar-ok", "succeeded", 0.0), (b.failed, "bar-bad", "failed", bar_w)]
        {
            if n > 0 {
                let bh = plot_h * n as f64 / max;
                let _ = write!(
                    svg,
                    "<rect class=\"{class}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bar_w:.1}\" height=\"{bh:.1}\"><title>{}: {n} {what}</title></rect>",
                    x + dx,
                    top + plot_h - bh,
                    esc(&name)
                );
            }
        }
        if b.succeeded + b.failed > 0 {
            let r = b.succeeded as f64 / (b.succeeded + b.failed) as f64;
            rate_points.push((x + bar_w, top + plot_h * (1.0 - r), r, name.clone()));
        }
        let every = if daily { 2 } else { 4 };
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar_w,
                h - 8.0,
                esc(&name)
            );
        }
    }
    if rate_points.len() > 1 {
        let pts: Vec<String> = rate_points.iter().map(|(x, y, _, _)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(svg, "<polyline class=\"rate\" points=\"{}\"/>", pts.join(" "));
    }
    for (x, y, r, name) in &rate_points {
        let _ = write!(
            svg,
            "<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\"><title>{}: {:.0}% succeeded</title></circle>",
            esc(name),
            r * 100.0
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/></svg>",
        w - right,
        top + plot_h,
        top + plot_h
    );
    let mut table = String::from(
        "<details><summary>The numbers</summary><div class=\"table-wrap\"><table><thead><tr><th scope=\"col\">When (EAT)</th>\
         <th scope=\"col\" class=\"num\">Succeeded</th><th scope=\"col\" class=\"num\">Failed</th>\
         <th scope=\"col\" class=\"num\">Needs review</th><th scope=\"col\" class=\"num\">Pending</th>\
         <th scope=\"col\" class=\"num\">Collected</th></tr></thead><tbody>",
    );
    for b in series.iter().rev() {
        let _ = write!(
            table,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&label(b)),
            b.succeeded,
            b.failed,
            b.needs_review,
            b.pending,
            kes(b.collected)
        );
    }
    table.push_str("</tbody></table></div></details>");
    format!(
        "{svg}<p class=\"legend\"><span class=\"l-ok\">succeeded</span><span class=\"l-bad\">failed</span>\
         <span class=\"l-rate\">success rate (right axis)</span></p>{table}"
    )
}

// ----------------------------------------------------------------------------------------- a payment

#[derive(serde::Deserialize, Default)]
struct DoneQuery {
    done: Option<String>,
}

fn fact(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(v));
    }
}

async fn payment_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let p = state.store.get_payment(&id).await?.ok_or(PageError::NotFound)?;
    let mut body = String::new();
    let notice = match q.done.as_deref() {
        Some("redelivered") => Some(("The event is queued for delivery again.", "")),
        Some("resolved") => Some(("The review is resolved.", "")),
        Some("not_in_review") => Some(("Nothing changed: the payment is not under review.", " bad")),
        Some("note_required") => {
            Some(("Write a note saying why (for example what the M-Pesa statement shows).", " bad"))
        }
        _ => None,
    };
    let _ = write!(
        body,
        "<section class=\"card wide\"><p class=\"small\"><a href=\"/admin\">← All payments</a></p>\
         <h1>{} {}</h1><p class=\"muted\">{}</p>{}",
        kes(p.amount),
        badge(p.status),
        esc(&p.id),
        notice.map(|(t, c)| format!("<p class=\"notice{c}\" role=\"status\">{}</p>", esc(t))).unwrap_or_default()
    );
    let mut facts = String::new();
    fact(&mut facts, "Reference", Some(&p.reference));
    fact(&mut facts, "Description", Some(&p.description));
    fact(&mut facts, "Phone", p.phone.as_deref());
    fact(&mut facts, "Push", Some(p.push_state.as_str()));
    fact(&mut facts, "M-Pesa receipt", p.mpesa_receipt.as_deref());
    fact(&mut facts, "Result code", p.result_code.as_deref());
    fact(&mut facts, "Result", p.result_desc.as_deref());
    fact(&mut facts, "Failure reason", p.failure_reason.map(|r| r.as_str()));
    fact(&mut facts, "Review reason", p.review_reason.as_deref());
    fact(&mut facts, "CheckoutRequestID", p.checkout_request_id.as_deref());
    fact(&mut facts, "MerchantRequestID", p.merchant_request_id.as_deref());
    fact(&mut facts, "Created (EAT)", Some(&eat(p.created_at)));
    fact(&mut facts, "Updated (EAT)", Some(&eat(p.updated_at)));
    fact(&mut facts, "Completed (EAT)", p.completed_at.map(eat).as_deref());
    fact(&mut facts, "Return URL", p.return_url.as_deref());
    let metadata = serde_json::to_string_pretty(&p.metadata).unwrap_or_default();
    fact(&mut facts, "Metadata", Some(&metadata));
    let _ = write!(body, "<dl class=\"facts\">{facts}</dl>");
    if p.status == PaymentStatus::Pending {
        let _ = write!(body, "<p class=\"small\"><a href=\"/pay/{}\">Checkout page</a></p>", esc(&p.id));
    }
    body.push_str("</section>");

    if p.status == PaymentStatus::NeedsReview {
        let _ = write!(
            body,
            "<section class=\"card wide\" aria-labelledby=\"resolve\"><h2 id=\"resolve\">Resolve the review</h2>\
             <p>Check the M-Pesa statement or portal for this payment, then record what happened. The merchant gets \
             <code>payment.succeeded</code> or <code>payment.failed</code>.</p>\
             <form method=\"post\" action=\"/admin/payments/{id}/resolve\">{csrf}\
             <fieldset><legend>The customer</legend>\
             <label><input type=\"radio\" name=\"decision\" value=\"succeeded\" required> paid (succeeded)</label>\
             <label><input type=\"radio\" name=\"decision\" value=\"failed\"> did not pay (failed)</label></fieldset>\
             <label for=\"note\">Note (why; kept in the history)</label>\
             <textarea id=\"note\" name=\"note\" required maxlength=\"500\"></textarea>\
             <div class=\"actions\"><button type=\"submit\">Resolve</button></div></form></section>",
            id = esc(&p.id),
            csrf = session.field(),
        );
    }

    let events = state
        .store
        .list_events(&EventFilter { payment_id: Some(p.id.clone()), limit: 100, ..Default::default() })
        .await?
        .data;
    body.push_str("<section class=\"card wide\" aria-labelledby=\"events\"><h2 id=\"events\">Events (webhooks)</h2>");
    if events.is_empty() {
        body.push_str("<p class=\"muted\">No events yet: one is written at each status change.</p>");
    } else {
        body.push_str(
            "<div class=\"table-wrap\"><table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Type</th>\
             <th scope=\"col\">Created (EAT)</th><th scope=\"col\">Delivery</th><th scope=\"col\"></th></tr></thead><tbody>",
        );
        for e in &events {
            let delivery = match e.delivered_at {
                Some(at) => format!("delivered {}", eat(at)),
                None if e.attempts > 0 => format!("not delivered yet ({} attempts)", e.attempts),
                None => "queued".into(),
            };
            let _ = write!(
                body,
                "<tr><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td><form class=\"inline-form\" method=\"post\" \
                 action=\"/admin/events/{id}/redeliver\">{}<button type=\"submit\" class=\"secondary\" \
                 aria-label=\"Redeliver {id}\">Redeliver</button></form></td></tr>",
                esc(&e.event_type),
                eat(e.created_at),
                esc(&delivery),
                session.field(),
                id = esc(&e.id),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");

    let log = state.store.payment_log(&p.id).await?;
    body.push_str("<section class=\"card wide\" aria-labelledby=\"history\"><h2 id=\"history\">History</h2><ol class=\"timeline\">");
    for entry in &log {
        let kind_class: String = entry.kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let detail = if entry.kind == "callback" || entry.detail.len() > 120 {
            format!("<pre>{}</pre>", esc(&entry.detail))
        } else {
            format!(" {}", esc(&entry.detail))
        };
        let _ = write!(
            body,
            "<li class=\"k-{kind_class}\"><time>{}</time> <span class=\"kind\">{}</span>{detail}</li>",
            eat(entry.at),
            esc(&entry.kind)
        );
    }
    body.push_str("</ol></section>");
    Ok(frame(&state, Some(&session), &format!("{} · lipa admin", p.id), &body))
}

#[derive(serde::Deserialize)]
struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

async fn resolve(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = form.map(|Form(f)| f).map_err(|_| PageError::Forbidden("The form was incomplete."))?;
    session.check_post(&headers, &f.csrf)?;
    let back = format!("/admin/payments/{}", url_component(&id));
    let succeeded = match f.decision.as_str() {
        "succeeded" => true,
        "failed" => false,
        _ => return Err(PageError::Forbidden("Choose succeeded or failed.")),
    };
    let note: String = f.note.trim().chars().take(500).collect();
    if note.is_empty() {
        return Ok(see_other(&format!("{back}?done=note_required")));
    }
    let applied = state.store.resolve_review(&id, &Outcome::Resolved { succeeded, note }, now_ms()).await?;
    let done = if applied.decision.is_some() { "resolved" } else { "not_in_review" };
    tracing::info!(payment_id = %id, succeeded, done, "admin resolved a review");
    Ok(see_other(&format!("{back}?done={done}")))
}

async fn redeliver(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, PageError> {
    let sent = form.map(|Form(f)| f.csrf).unwrap_or_default();
    session.check_post(&headers, &sent)?;
    let e = state.store.get_event(&id).await?.ok_or(PageError::NotFound)?;
    state.store.schedule_delivery(&e.id, now_ms()).await?;
    state.store.append_log(&e.payment_id, "admin", &format!("redeliver {} requested", e.id), now_ms()).await?;
    let mut r = see_other(&format!("/admin/payments/{}?done=redelivered", url_component(&e.payment_id)));
    secure_headers(r.headers_mut());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; lipa_admin=abc; b=2"));
        assert_eq!(cookie_value(&h, "lipa_admin").as_deref(), Some("abc"));
        assert_eq!(cookie_value(&h, "c"), None);
    }
}

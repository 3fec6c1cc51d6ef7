//! Signing in and out, and the session every other admin page needs.
//!
//! Sessions live in the database (`kv` table, key `admin_session:<sha256 of the cookie>`), so they work
//! across instances; the cookie is `HttpOnly; SameSite=Strict; Path=/admin` (and `Secure` behind HTTPS).
//! Every POST carries the session's CSRF token in a hidden field and must come from our own origin.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use sha2::{Digest, Sha256};

use super::{with_status, TopBar};
use crate::app::{now_ms, AppState};
use crate::auth::password::same_bytes;
use crate::config::Mode;
use crate::routes::pages::{cookie_value, render, same_origin, see_other, PageError};

const SESSION_COOKIE: &str = "lipa_admin";
const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

fn session_key(token: &str) -> String {
    format!("admin_session:{}", hex::encode(Sha256::digest(token.as_bytes())))
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
    pub(super) fn check_post(&self, headers: &HeaderMap, sent: &str) -> Result<(), PageError> {
        if !same_origin(headers) {
            return Err(PageError::Forbidden("Use lipa's own admin pages."));
        }
        self.check_csrf(sent)
    }

    fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if same_bytes(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Forbidden("This form has expired. Go back, reload the page and try again."))
        }
    }

    /// The token for the forms of a page (a hidden `csrf` field).
    pub(super) fn csrf(&self) -> &str {
        &self.csrf
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
        // No admin on this instance (no password): no session is worth anything.
        let token = cookie_value(&parts.headers, SESSION_COOKIE).filter(|t| t.len() == 64 && state.admin.is_some());
        let Some(token) = token else {
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

// ---------------------------------------------------------------------------------------------- login

pub(super) async fn login_page(State(state): State<AppState>) -> Response {
    login_form(&state, None)
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    top: TopBar<'a>,
    enabled: bool,
    simulator: bool,
    error: Option<&'a str>,
}

fn login_form(state: &AppState, error: Option<&str>) -> Response {
    let page = LoginPage {
        top: TopBar::new(state, None),
        enabled: state.admin.is_some(),
        simulator: state.cfg.mode == Mode::Simulator,
        error,
    };
    render(StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub(super) struct LoginForm {
    password: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, PageError> {
    if !same_origin(&headers) {
        return Err(PageError::Forbidden("Sign in from lipa's own login page."));
    }
    let Some(auth) = state.admin.clone() else {
        return Ok(with_status(login_form(&state, None), StatusCode::NOT_FOUND));
    };
    // Attempts are limited per client and globally (see `auth::admin`).
    let client = crate::routes::pages::client_ip(&state, &headers, &ext);
    if let Err(wait) = crate::auth::admin::login_allowed(&state.limits, client) {
        let msg = format!("Too many sign-in attempts. Try again in {wait} s.");
        let mut r = with_status(login_form(&state, Some(&msg)), StatusCode::TOO_MANY_REQUESTS);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(r);
    }
    let password = form.map(|Form(f)| f.password).unwrap_or_default();
    // The slow hash runs off the async threads, one at a time.
    if !crate::auth::admin::verify(&state.limits, auth, password).await {
        let who = client.map(|ip| ip.to_string()).unwrap_or_default();
        tracing::warn!(client = %who, "admin login refused: wrong password");
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
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

pub(super) async fn logout(
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

//! The admin dashboard, `/admin`: payments with search, status and date filters, pages and a CSV export;
//! a payment's whole history (with every callback body in full); totals and success rate over time as a
//! chart; redeliver an event; resolve a review. Readable on a phone: the list becomes one card per payment.
//!
//! Login: one password, `LIPA_ADMIN_PASSWORD` (`auth::admin`). In simulator mode without a password, a
//! random one is made at start and printed in the banner (like the API key). Other modes without a
//! password have no admin login. Sessions and CSRF: [`login`].
//!
//! Split by job: [`login`] (sign in/out, sessions), [`dashboard`] (totals, the
//! list, CSV), [`chart`], [`payment`] (one payment, resolve, redeliver). The HTML is in
//! `templates/admin/`.

mod chart;
mod dashboard;
pub mod login;
mod money_out;
mod payment;

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};

pub use self::login::Session;
use crate::app::AppState;
use crate::routes::pages::{see_other, url_component, PageError};

/// Nairobi is UTC+3 all year: day buckets start at midnight there.
const EAT_OFFSET_MS: i64 = 3 * 3600 * 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard::dashboard))
        .route("/admin/", get(|| async { see_other("/admin") }))
        .route("/admin/login", get(login::login_page).post(login::login))
        .route("/admin/logout", post(login::logout))
        .route("/admin/payments.csv", get(dashboard::export_csv))
        .route("/admin/payments/{id}", get(payment::payment_page))
        .route("/admin/payments/{id}/resolve", post(payment::resolve))
        .route("/admin/events/{id}/redeliver", post(payment::redeliver))
        .route("/admin/payments/{id}/refund", post(money_out::refund))
        .route("/admin/payouts", get(money_out::payouts))
        .route("/admin/refunds", get(money_out::refunds))
        .route("/admin/balance", get(money_out::balances))
}

/// The bar at the top of every admin page (`templates/admin/topbar.html`).
pub struct TopBar<'a> {
    pub merchant: &'a str,
    pub mode: &'static str,
    /// Signed in: the CSRF token of the sign-out form.
    pub csrf: Option<&'a str>,
}

impl<'a> TopBar<'a> {
    pub fn new(state: &'a AppState, session: Option<&'a Session>) -> Self {
        TopBar { merchant: &state.cfg.merchant_name, mode: state.cfg.mode.as_str(), csrf: session.map(Session::csrf) }
    }
}

fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

/// A posted form with all its fields; an incomplete one is refused.
fn complete<F>(form: Result<Form<F>, FormRejection>) -> Result<F, PageError> {
    form.map(|Form(f)| f).map_err(|_| PageError::Forbidden("The form was incomplete."))
}

/// Back to a payment's page after a form, with the notice `done` names (`?done=resolved`, …).
fn back_to_payment(id: &str, done: &str) -> Response {
    see_other(&format!("/admin/payments/{}?done={done}", url_component(id)))
}

/// A payment status in words (`needs_review` → `needs review`).
fn status_words(status: crate::domain::PaymentStatus) -> String {
    status.as_str().replace('_', " ")
}

/// Why a payment failed, in words for the operator ("insufficient funds", not `insufficient_funds`).
fn reason_words(reason: &str) -> String {
    match reason {
        "insufficient_funds" => "insufficient funds".into(),
        "cancelled" => "cancelled by the customer".into(),
        "timeout" => "no answer from the phone (timed out)".into(),
        "wrong_pin" => "wrong PIN".into(),
        "limit" => "over an M-Pesa limit".into(),
        "rejected" => "push refused by M-Pesa".into(),
        "error" => "M-Pesa error".into(),
        "resolved_failed" => "resolved as failed by an operator".into(),
        other => other.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_in_words() {
        assert_eq!(reason_words("insufficient_funds"), "insufficient funds");
        assert_eq!(reason_words("wrong_pin"), "wrong PIN");
        assert_eq!(reason_words("something_new"), "something new");
    }
}

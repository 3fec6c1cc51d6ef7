//! The admin's money-out pages: payouts, refunds, the balances, and the refund button of a payment.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;

use super::{back_to_payment, complete, reason_words, status_words, Session, TopBar};
use crate::api::money_out::RefundRequest;
use crate::domain::money_out::{MoneyOut, Object};
use crate::money_out::{balance, create};
use crate::routes::pages::{eat, kes, render, url_component, PageError};
use crate::store::money_out::MoneyOutFilter;

struct Row {
    id: String,
    payment_id: Option<String>,
    created: String,
    to: String,
    amount: String,
    status: &'static str,
    status_label: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/money_out.html")]
struct MoneyOutPage<'a> {
    top: TopBar<'a>,
    title: &'static str,
    notice: Option<String>,
    rows: Vec<Row>,
    /// Name, available, current, reserved (KES with cents).
    accounts: Vec<(String, String, String, String)>,
    read_at: String,
}

fn row(m: &MoneyOut) -> Row {
    let detail = match (&m.outcome.mpesa_receipt, &m.outcome.failure_reason, &m.outcome.review_reason) {
        (Some(r), _, _) => r.clone(),
        (None, Some(f), _) => reason_words(f),
        (None, None, Some(r)) => r.clone(),
        _ => String::new(),
    };
    Row {
        id: m.id.clone(),
        payment_id: m.draft.payment_id.as_deref().map(url_component),
        created: eat(m.created_at),
        to: m.draft.phone.clone().unwrap_or_default(),
        amount: kes(m.draft.amount),
        status: m.outcome.status.as_str(),
        status_label: status_words(m.outcome.status),
        detail: format!("{} {detail}", m.draft.method.as_str()).trim().to_string(),
    }
}

async fn list(state: &crate::app::AppState, session: &Session, object: Object) -> Result<Response, PageError> {
    let filter = MoneyOutFilter { object: object.as_str().into(), limit: 100, ..Default::default() };
    let page = state.store.list_money_out(&filter).await?;
    let title = if object == Object::Payout { "Payouts" } else { "Refunds" };
    let page = MoneyOutPage {
        top: TopBar::new(state, Some(session)),
        title,
        notice: None,
        rows: page.data.iter().map(row).collect(),
        accounts: Vec::new(),
        read_at: String::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

pub(super) async fn payouts(
    State(state): State<crate::app::AppState>,
    session: Session,
) -> Result<Response, PageError> {
    list(&state, &session, Object::Payout).await
}

pub(super) async fn refunds(
    State(state): State<crate::app::AppState>,
    session: Session,
) -> Result<Response, PageError> {
    list(&state, &session, Object::Refund).await
}

fn cents(c: i64) -> String {
    format!("{}.{:02}", kes(c / 100), (c % 100).abs())
}

pub(super) async fn balances(
    State(state): State<crate::app::AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let (accounts, read_at, notice) = match balance::read(&state).await {
        Ok(b) => {
            let accounts = b
                .accounts
                .iter()
                .map(|a| (a.name.clone(), cents(a.available_cents), cents(a.current_cents), cents(a.reserved_cents)))
                .collect();
            (accounts, b.read_at, None)
        }
        Err(e) => (Vec::new(), String::new(), Some(format!("The balance could not be read: {}", describe(&e)))),
    };
    let page = MoneyOutPage {
        top: TopBar::new(&state, Some(&session)),
        title: "Balance",
        notice,
        rows: Vec::new(),
        accounts,
        read_at,
    };
    Ok(render(StatusCode::OK, &page))
}

fn describe(e: &crate::error::ApiError) -> String {
    use crate::error::ApiError;
    match e {
        ApiError::Unavailable(m) | ApiError::Conflict { message: m, .. } | ApiError::Invalid { message: m, .. } => {
            m.clone()
        }
        ApiError::NotFound(what) => format!("no such {what}"),
        _ => "internal error".into(),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

/// The refund button of a succeeded payment: the amount (empty: what is left) and a reason.
pub(super) async fn refund(
    State(state): State<crate::app::AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<RefundForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = complete(form)?;
    session.check_post(&headers, &f.csrf)?;
    let body = serde_json::json!({
        "amount": f.amount.trim().parse::<i64>().ok(),
        "reason": Some(f.reason.trim()).filter(|r| !r.is_empty()),
    });
    let done = match RefundRequest::parse(body.to_string().as_bytes()) {
        Err(_) => "refund_invalid".to_string(),
        Ok(req) => match create::refund(&state, id.clone(), req, None, None).await {
            Ok(r) => {
                tracing::info!(payment_id = %id, refund_id = %r.id, "admin refunded a payment");
                "refund_created".into()
            }
            Err(crate::error::ApiError::Conflict { code, .. }) => code.to_string(),
            Err(e) => return Err(PageError::Internal(describe(&e))),
        },
    };
    Ok(back_to_payment(&id, &done))
}

//! One payment: its facts, the resolve form of a review, its events (redeliver one) and its whole history,
//! callback bodies in full.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;

use super::login::CsrfForm;
use super::{back_to_payment, complete, reason_words, status_words, Session, TopBar};
use crate::app::{now_ms, AppState};
use crate::domain::PaymentStatus;
use crate::routes::pages::{eat, kes, render, secure_headers, PageError};
use crate::store::EventFilter;

#[derive(serde::Deserialize, Default)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

struct EventRow {
    id: String,
    event_type: String,
    created: String,
    delivery: String,
}

struct HistoryLine {
    at: String,
    kind: String,
    /// Only letters, digits and `_`: part of a class name.
    kind_class: String,
    detail: String,
    /// A callback: its body, pretty-printed when it is JSON, shown whole.
    body: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/payment.html")]
struct PaymentPage<'a> {
    top: TopBar<'a>,
    csrf: &'a str,
    id: String,
    amount: String,
    status: &'static str,
    status_label: String,
    notice: Option<(&'static str, bool)>,
    facts: Vec<(&'static str, String)>,
    checkout_link: bool,
    needs_review: bool,
    /// Succeeded: the refund form shows, with what is left to refund.
    refundable: Option<String>,
    events: Vec<EventRow>,
    history: Vec<HistoryLine>,
}

/// A callback line's body: everything after its first line when it has a note, else all of it.
fn callback_body(detail: &str) -> (String, Option<String>) {
    let (note, raw) = match detail.split_once('\n') {
        Some((note, raw)) => (note.to_string(), raw),
        None if detail.trim_start().starts_with('{') => (String::new(), detail),
        None => return (detail.to_string(), None),
    };
    let pretty = serde_json::from_str::<serde_json::Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| raw.to_string());
    (note, Some(pretty))
}

pub(super) async fn payment_page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let p = state.store.get_payment(&id).await?.ok_or(PageError::NotFound)?;
    let notice = match q.done.as_deref() {
        Some("redelivered") => Some(("The event is queued for delivery again.", false)),
        Some("resolved") => Some(("The review is resolved.", false)),
        Some("refund_created") => Some(("The refund is on its way; it shows under Refunds.", false)),
        Some("refund_exceeds_payment") => Some(("That is more than is left to refund.", true)),
        Some("refund_invalid") => Some(("The refund amount must be a whole number of KES.", true)),
        Some(d) if d.starts_with("refund_") || d == "payment_not_refundable" => {
            Some(("M-Pesa money out refused this refund (see the refunds list).", true))
        }
        Some("not_in_review") => Some(("Nothing changed: the payment is not under review.", true)),
        Some("note_required") => Some(("Write a note saying why (for example what the M-Pesa statement shows).", true)),
        _ => None,
    };
    let mut facts: Vec<(&'static str, String)> = Vec::new();
    let mut fact = |name: &'static str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            facts.push((name, v));
        }
    };
    fact("Reference", Some(p.reference.clone()));
    fact("Description", Some(p.description.clone()));
    fact("Phone", p.phone.clone());
    fact("Paid by", Some(p.channel.as_str().to_string()));
    fact("Payer (C2B)", p.payer_name.clone());
    fact("Amount received", p.paid_amount.map(|a| format!("KES {a}")));
    fact("Push", Some(p.push_state.as_str().to_string()));
    fact("M-Pesa receipt", p.mpesa_receipt.clone());
    fact("Result code", p.result_code.clone());
    fact("Result", p.result_desc.clone());
    fact("Failure reason", p.failure_reason.map(|r| reason_words(r.as_str())));
    fact("Review reason", p.review_reason.clone());
    fact("CheckoutRequestID", p.checkout_request_id.clone());
    fact("MerchantRequestID", p.merchant_request_id.clone());
    fact("Created (EAT)", Some(eat(p.created_at)));
    fact("Updated (EAT)", Some(eat(p.updated_at)));
    fact("Completed (EAT)", p.completed_at.map(eat));
    fact("Return URL", p.return_url.clone());
    fact("Metadata", serde_json::to_string_pretty(&p.metadata).ok());

    let events = state
        .store
        .list_events(&EventFilter { payment_id: Some(p.id.clone()), limit: 100, ..Default::default() })
        .await?
        .data
        .into_iter()
        .map(|e| EventRow {
            delivery: match e.delivered_at {
                Some(at) => format!("delivered {}", eat(at)),
                None if e.attempts > 0 => format!("not delivered yet ({} attempts)", e.attempts),
                None => "queued".into(),
            },
            id: e.id,
            event_type: e.event_type,
            created: eat(e.created_at),
        })
        .collect();
    let history = state
        .store
        .payment_log(&p.id)
        .await?
        .into_iter()
        .map(|entry| {
            let (detail, body) =
                if entry.kind == "callback" { callback_body(&entry.detail) } else { (entry.detail.clone(), None) };
            HistoryLine {
                at: eat(entry.at),
                kind_class: entry.kind.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect(),
                kind: entry.kind,
                detail,
                body,
            }
        })
        .collect();
    let page = PaymentPage {
        top: TopBar::new(&state, Some(&session)),
        csrf: session.csrf(),
        id: p.id.clone(),
        amount: kes(p.amount),
        status: p.status.as_str(),
        status_label: status_words(p.status),
        notice,
        facts,
        checkout_link: p.status == PaymentStatus::Pending,
        needs_review: p.status == PaymentStatus::NeedsReview,
        refundable: (p.status == PaymentStatus::Succeeded && p.refunded_amount < p.amount)
            .then(|| kes(p.amount - p.refunded_amount)),
        events,
        history,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(serde::Deserialize)]
pub(super) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ResolveForm>, FormRejection>,
) -> Result<Response, PageError> {
    let f = complete(form)?;
    session.check_post(&headers, &f.csrf)?;
    let succeeded = match f.decision.as_str() {
        "succeeded" => true,
        "failed" => false,
        _ => return Err(PageError::Forbidden("Choose succeeded or failed.")),
    };
    let note: String = f.note.trim().chars().take(500).collect();
    if note.is_empty() {
        return Ok(back_to_payment(&id, "note_required"));
    }
    // One admin login (LIPA_ADMIN_PASSWORD): the resolution says it was made there.
    let by = "admin".to_string();
    let resolved = crate::payments::resolve(&state, &id, succeeded, note, by).await?;
    let done = if resolved { "resolved" } else { "not_in_review" };
    Ok(back_to_payment(&id, done))
}

pub(super) async fn redeliver(
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
    let mut r = back_to_payment(&e.payment_id, "redelivered");
    secure_headers(r.headers_mut());
    Ok(r)
}

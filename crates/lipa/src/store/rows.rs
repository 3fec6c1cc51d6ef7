//! Rows as both databases return them, and their conversion to domain values.

use super::{Event, LogEntry, StoreError, WebhookAttempt};
use crate::domain::{Payment, PaymentStatus, PushState};

/// The payment columns, in the order every query selects them.
pub const PAYMENT_COLUMNS: &str = "id, status, amount, phone, reference, description, metadata, return_url, \
     checkout_request_id, merchant_request_id, mpesa_receipt, result_code, result_desc, failure_reason, \
     review_reason, push_state, callback_secret, created_at, updated_at, completed_at, check_attempts, next_check_at, \
     account_reference, resolution_outcome, resolved_by, resolved_at, resolution_note, dismissed_receipt, \
     channel, payer_name, paid_amount, refunded_amount";

pub const EVENT_COLUMNS: &str = "id, type, payment_id, created_at, data, delivered_at, attempts, \
     next_attempt_at, failed_at, failures, COALESCE(retry_from, created_at) AS retry_from";

#[derive(sqlx::FromRow)]
pub struct PaymentRow {
    id: String,
    status: String,
    amount: i64,
    phone: Option<String>,
    reference: String,
    description: String,
    metadata: String,
    return_url: Option<String>,
    checkout_request_id: Option<String>,
    merchant_request_id: Option<String>,
    mpesa_receipt: Option<String>,
    result_code: Option<String>,
    result_desc: Option<String>,
    failure_reason: Option<String>,
    review_reason: Option<String>,
    push_state: String,
    callback_secret: String,
    created_at: i64,
    updated_at: i64,
    completed_at: Option<i64>,
    check_attempts: i64,
    next_check_at: Option<i64>,
    /// NULL only for a pending payment written before account references were derived that shared its
    /// reference with an older pending one (the unique index forbids two): it falls back to the reference.
    account_reference: Option<String>,
    resolution_outcome: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<i64>,
    resolution_note: Option<String>,
    dismissed_receipt: Option<String>,
    channel: String,
    payer_name: Option<String>,
    paid_amount: Option<i64>,
    refunded_amount: i64,
}

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(r: PaymentRow) -> Result<Self, StoreError> {
        let resolution = match r.resolution_outcome.as_deref() {
            None => None,
            Some(o) => Some(crate::domain::Resolution {
                outcome: PaymentStatus::parse(o)
                    .ok_or_else(|| StoreError::Corrupt(format!("payment {} has resolution {o:?}", r.id)))?,
                by: r.resolved_by.unwrap_or_default(),
                at: r.resolved_at.unwrap_or_default(),
                note: r.resolution_note.unwrap_or_default(),
                dismissed_receipt: r.dismissed_receipt,
            }),
        };
        Ok(Payment {
            resolution,
            account_reference: r.account_reference.unwrap_or_else(|| r.reference.clone()),
            status: PaymentStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("payment {} has status {:?}", r.id, r.status)))?,
            metadata: serde_json::from_str(&r.metadata).unwrap_or(serde_json::Value::Null),
            push_state: PushState::parse(&r.push_state),
            id: r.id,
            amount: r.amount,
            refunded_amount: r.refunded_amount,
            phone: r.phone,
            reference: r.reference,
            description: r.description,
            return_url: r.return_url,
            checkout_request_id: r.checkout_request_id,
            merchant_request_id: r.merchant_request_id,
            mpesa_receipt: r.mpesa_receipt,
            result_code: r.result_code,
            result_desc: r.result_desc,
            // A reason this version does not know (written by a newer one) reads as `error`.
            failure_reason: r
                .failure_reason
                .map(|s| s.parse().unwrap_or(crate::domain::FailureReason::Daraja(daraja::FailureReason::Error))),
            review_reason: r.review_reason,
            callback_secret: r.callback_secret.into(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            completed_at: r.completed_at,
            check_attempts: r.check_attempts,
            next_check_at: r.next_check_at,
            channel: crate::domain::c2b::Channel::parse(&r.channel).unwrap_or(crate::domain::c2b::Channel::Stk),
            payer_name: r.payer_name,
            paid_amount: r.paid_amount,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct EventRow {
    id: String,
    #[sqlx(rename = "type")]
    event_type: String,
    payment_id: String,
    created_at: i64,
    data: String,
    delivered_at: Option<i64>,
    attempts: i64,
    next_attempt_at: Option<i64>,
    failed_at: Option<i64>,
    failures: i64,
    retry_from: i64,
}

impl From<EventRow> for Event {
    fn from(r: EventRow) -> Self {
        Event {
            id: r.id,
            event_type: r.event_type,
            payment_id: r.payment_id,
            created_at: r.created_at,
            data: serde_json::from_str(&r.data).unwrap_or(serde_json::Value::Null),
            delivered_at: r.delivered_at,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            failed_at: r.failed_at,
            failures: r.failures,
            retry_from: r.retry_from,
        }
    }
}

#[derive(sqlx::FromRow)]
pub struct LogRow {
    at: i64,
    kind: String,
    detail: String,
}

impl From<LogRow> for LogEntry {
    fn from(r: LogRow) -> Self {
        LogEntry { at: r.at, kind: r.kind, detail: r.detail }
    }
}

/// Is this database error the violation of the named unique index or key?
pub fn violates(e: &sqlx::Error, name: &str) -> bool {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            db.constraint().is_some_and(|c| c.contains(name)) || db.message().contains(name)
        }
        _ => false,
    }
}

#[derive(sqlx::FromRow)]
pub struct WebhookAttemptRow {
    event_id: String,
    payment_id: String,
    at: i64,
    url: String,
    http_status: Option<i64>,
    error: Option<String>,
    duration_ms: i64,
    outcome: String,
}

impl From<WebhookAttemptRow> for WebhookAttempt {
    fn from(r: WebhookAttemptRow) -> Self {
        WebhookAttempt {
            event_id: r.event_id,
            payment_id: r.payment_id,
            at: r.at,
            url: r.url,
            http_status: r.http_status,
            error: r.error,
            duration_ms: r.duration_ms,
            outcome: r.outcome,
        }
    }
}

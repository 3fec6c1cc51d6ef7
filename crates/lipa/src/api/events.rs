//! The event object: a status change of a payment. The same object, without `delivery`, is the body of
//! each webhook.

use serde::Serialize;
use utoipa::ToSchema;

use super::{constant, ListObject};
use crate::domain::payment::rfc3339;

constant!(EventObject, "event");

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum EventType {
    #[serde(rename = "payment.succeeded")]
    #[schema(rename = "payment.succeeded")]
    Succeeded,
    #[serde(rename = "payment.failed")]
    #[schema(rename = "payment.failed")]
    Failed,
    #[serde(rename = "payment.needs_review")]
    #[schema(rename = "payment.needs_review")]
    NeedsReview,
    #[serde(rename = "payout.succeeded")]
    #[schema(rename = "payout.succeeded")]
    PayoutSucceeded,
    #[serde(rename = "payout.failed")]
    #[schema(rename = "payout.failed")]
    PayoutFailed,
    #[serde(rename = "payout.needs_review")]
    #[schema(rename = "payout.needs_review")]
    PayoutNeedsReview,
    #[serde(rename = "refund.succeeded")]
    #[schema(rename = "refund.succeeded")]
    RefundSucceeded,
    #[serde(rename = "refund.failed")]
    #[schema(rename = "refund.failed")]
    RefundFailed,
    #[serde(rename = "refund.needs_review")]
    #[schema(rename = "refund.needs_review")]
    RefundNeedsReview,
}

impl EventType {
    pub const ALL: [EventType; 9] = [
        EventType::Succeeded,
        EventType::Failed,
        EventType::NeedsReview,
        EventType::PayoutSucceeded,
        EventType::PayoutFailed,
        EventType::PayoutNeedsReview,
        EventType::RefundSucceeded,
        EventType::RefundFailed,
        EventType::RefundNeedsReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "payment.succeeded",
            Self::Failed => "payment.failed",
            Self::NeedsReview => "payment.needs_review",
            Self::PayoutSucceeded => "payout.succeeded",
            Self::PayoutFailed => "payout.failed",
            Self::PayoutNeedsReview => "payout.needs_review",
            Self::RefundSucceeded => "refund.succeeded",
            Self::RefundFailed => "refund.failed",
            Self::RefundNeedsReview => "refund.needs_review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A status change of a payment, payout or refund. The same object (without `delivery`) is the body of the webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    /// The same on every delivery attempt: dedupe on it.
    #[schema(pattern = "^evt_[0-9a-f]+$")]
    pub id: String,
    #[schema(inline)]
    pub object: EventObject,
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    pub event_type: String,
    /// Unix seconds.
    pub created: i64,
    /// The object as it was when the event was made: the payment (payment.*), the payout (payout.*) or the
    /// refund (refund.*).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The webhook delivery state (API answers only; not in webhook bodies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
}

/// The webhook delivery state of an event (API only; not in webhook bodies).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Delivery {
    /// pending: not yet delivered (or no LIPA_WEBHOOK_URL); failed: retries ran out (redeliver to try again).
    #[schema(inline)]
    pub status: DeliveryStatus,
    #[schema(minimum = 0)]
    pub attempts: i64,
    #[schema(required = true, format = DateTime)]
    pub delivered_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub failed_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// A page of events, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventList {
    #[schema(inline)]
    pub object: ListObject,
    pub data: Vec<Event>,
    /// Pass the last id as starting_after for the next page.
    pub has_more: bool,
}

impl Event {
    /// The webhook body of an event as stored (`created_at_ms`: Unix milliseconds).
    pub fn webhook(id: &str, event_type: &str, created_at_ms: i64, data: &serde_json::Value) -> Self {
        Event {
            id: id.to_string(),
            object: EventObject::Value,
            event_type: event_type.to_string(),
            created: created_at_ms / 1000,
            data: data.clone(),
            delivery: None,
        }
    }

    /// The API's answer: the webhook body and its delivery state (times in Unix milliseconds).
    pub fn with_delivery(
        self,
        attempts: i64,
        delivered_at: Option<i64>,
        failed_at: Option<i64>,
        next_attempt_at: Option<i64>,
    ) -> Self {
        let status = match (delivered_at, failed_at) {
            (Some(_), _) => DeliveryStatus::Delivered,
            (None, Some(_)) => DeliveryStatus::Failed,
            (None, None) => DeliveryStatus::Pending,
        };
        let time = |ms: Option<i64>| ms.map(rfc3339);
        Event {
            delivery: Some(Delivery {
                status,
                attempts,
                delivered_at: time(delivered_at),
                failed_at: time(failed_at),
                next_attempt_at: if status == DeliveryStatus::Pending { time(next_attempt_at) } else { None },
            }),
            ..self
        }
    }
}

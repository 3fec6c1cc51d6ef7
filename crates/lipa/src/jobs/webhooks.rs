//! Webhook delivery from the outbox.
//!
//! Every status change writes its event in the same transaction (`events`). This worker claims the events
//! whose attempt is due with a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`), so one instance at a time
//! works on an event, POSTs each signed to `LIPA_WEBHOOK_URL`, and records the attempt with its outcome.
//! Any 2xx is delivered; anything else is retried after `LIPA_WEBHOOK_RETRY_BASE` (10 s), then with
//! doubling delays (a little jitter, at most 6 h apart) until `LIPA_WEBHOOK_GIVE_UP_AFTER` (3 days) has
//! passed since the event was created or last redelivered; then it is marked failed, visible in the API,
//! and `POST /v1/events/{id}/redeliver` starts it again. An instance that dies mid-attempt leaves a lease
//! that runs out, and another instance sends the event again: delivery is at least once, so receivers
//! dedupe on the event `id`.

use std::time::{Duration, Instant};

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

use crate::app::{now_ms, AppState};
use crate::store::{DeliveryOutcome, Event, WebhookAttempt};
use crate::webhook;

pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Doubling stops here; attempts then come this far apart until the window ends.
const MAX_DELAY: Duration = Duration::from_secs(6 * 3600);

/// Where and how events are sent.
pub struct Deliverer {
    http: reqwest::Client,
    url: String,
    /// The URL as logs and attempts show it: no credentials, no query string.
    shown_url: String,
    secret: SecretString,
    retry_base: Duration,
    give_up_after: Duration,
    /// This worker's lease name.
    owner: String,
}

impl Deliverer {
    /// None when no webhook URL is configured (the configuration insists on a secret along with a URL).
    pub fn from_state(state: &AppState) -> anyhow::Result<Option<Self>> {
        let cfg = &state.cfg;
        let (Some(url), Some(secret)) = (&cfg.webhook_url, &cfg.webhook_secret) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A redirect is not a delivery: the merchant fixes the URL rather than lipa re-posting elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lipa-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Some(Self {
            http,
            url: url.clone(),
            shown_url: shown_url(url),
            secret: secret.clone(),
            retry_base: cfg.webhook_retry_base,
            give_up_after: cfg.webhook_give_up_after,
            owner: format!("webhooks-{}", hex::encode(rand::random::<[u8; 8]>())),
        }))
    }
}

/// `scheme://host:port/path` of a URL, without user info or query (either may hold a token).
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}{}", u.scheme(), u.host_str().unwrap_or(""), u.path())
        }
        Err(_) => "(invalid URL)".into(),
    }
}

pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let d = match Deliverer::from_state(&state) {
        Ok(Some(d)) => d,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "the webhook worker cannot start");
            return;
        }
    };
    tracing::info!(url = %d.shown_url, "webhook delivery started");
    let (state, d) = (&state, &d);
    super::run_passes(state, stop, "webhook", move || run_once(state, d)).await
}

/// One pass: claim the due events and send them concurrently. Returns how many were claimed.
pub async fn run_once(state: &AppState, d: &Deliverer) -> anyhow::Result<usize> {
    let now = now_ms();
    let due = state.store.claim_due_events(now, super::lease_until(now), &d.owner, super::BATCH).await?;
    let n = due.len();
    let sends = due.into_iter().map(|e| async move {
        let id = e.id.clone();
        if let Err(err) = deliver(state, d, e).await {
            tracing::error!(event_id = %id, error = %err, "recording a webhook attempt failed");
        }
    });
    futures::future::join_all(sends).await;
    Ok(n)
}

/// The wait before the next attempt after `failures` failed ones in a row (1 → about the base):
/// doubling, capped at 6 h, with ±10 % jitter so a receiver that comes back is not hit by every event at once.
pub fn backoff(base: Duration, failures: i64) -> Duration {
    let doubled = base.saturating_mul(1u32 << (failures - 1).clamp(0, 30) as u32).min(MAX_DELAY);
    doubled.mul_f64(rand::thread_rng().gen_range(0.9..=1.1))
}

async fn deliver(state: &AppState, d: &Deliverer, e: Event) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&crate::api::to_json(&crate::api::Event::webhook(
        &e.id,
        &e.event_type,
        e.created_at,
        &e.data,
    )))?;
    let at = now_ms();
    let signature = webhook::sign(d.secret.expose_secret(), at / 1000, &body);
    let started = Instant::now();
    let sent = d
        .http
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(webhook::HEADER, signature)
        .body(body)
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let (http_status, error, ok) = match sent {
        Ok(resp) => (Some(resp.status().as_u16() as i64), None, resp.status().is_success()),
        Err(err) => (None, Some(describe(err)), false),
    };
    let outcome = if ok {
        DeliveryOutcome::Delivered
    } else {
        let next = now_ms() + backoff(d.retry_base, e.failures + 1).as_millis() as i64;
        if next > e.retry_from + d.give_up_after.as_millis() as i64 {
            DeliveryOutcome::GaveUp
        } else {
            DeliveryOutcome::RetryAt(next)
        }
    };
    let attempt = WebhookAttempt {
        event_id: e.id.clone(),
        payment_id: e.payment_id.clone(),
        at,
        url: d.shown_url.clone(),
        http_status,
        error,
        duration_ms,
        outcome: outcome.as_str().into(),
    };
    let held = state.store.record_webhook_attempt(&d.owner, &attempt, outcome).await?;
    let answer = attempt.http_status.map(|s| s.to_string()).or(attempt.error.clone()).unwrap_or_default();
    match outcome {
        DeliveryOutcome::Delivered => {
            tracing::info!(event_id = %e.id, attempt = e.attempts + 1, duration_ms, "webhook delivered")
        }
        DeliveryOutcome::RetryAt(next) => tracing::warn!(
            event_id = %e.id, attempt = e.attempts + 1, answer = %answer, retry_in_ms = next - now_ms(),
            "webhook attempt failed"
        ),
        DeliveryOutcome::GaveUp => tracing::error!(
            event_id = %e.id, attempts = e.attempts + 1, answer = %answer,
            "webhook delivery gave up; POST /v1/events/{}/redeliver sends it again", e.id
        ),
    }
    if !held {
        tracing::info!(event_id = %e.id, "the event was rescheduled during the attempt; its new schedule stands");
    }
    Ok(())
}

/// A transport error in words, without the URL (which may carry a token).
fn describe(err: reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("timed out after {} s", TIMEOUT.as_secs());
    }
    let mut causes = String::new();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        causes.push_str(": ");
        causes.push_str(&s.to_string());
        source = s.source();
    }
    format!("{}{causes}", err.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_a_cap() {
        let base = Duration::from_secs(10);
        for (failures, secs) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0)] {
            let d = backoff(base, failures).as_secs_f64();
            assert!((secs * 0.9..=secs * 1.1).contains(&d), "{failures}: {d}");
        }
        let capped = backoff(base, 40).as_secs_f64();
        assert!((6.0 * 3600.0 * 0.9..=6.0 * 3600.0 * 1.1).contains(&capped), "{capped}");
    }

    #[test]
    fn shown_url_hides_credentials_and_query() {
        assert_eq!(
            shown_url("https://user:pw@shop.example:8443/hooks/lipa?token=abc"),
            "https://shop.example:8443/hooks/lipa"
        );
        assert_eq!(shown_url("http://127.0.0.1:9000/"), "http://127.0.0.1:9000/");
    }
}

//! Events (the outbox) and their webhook deliveries: listing, scheduling, claiming due ones under a lease,
//! and recording each attempt.

use super::query::sql;
use super::rows::{EventRow, WebhookAttemptRow, EVENT_COLUMNS};
use super::sql::{Backend, SqlStore};
use super::*;
use crate::domain::history::{self, AfterAttempt};

impl<DB: Backend> SqlStore<DB> {
    pub(super) async fn events(&self, f: &EventFilter) -> Result<Page<Event>> {
        let q = format!(
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE (CAST($1 AS TEXT) IS NULL OR type = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR payment_id = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR seq < (SELECT seq FROM events WHERE id = $3)) \
             ORDER BY seq DESC LIMIT $4"
        );
        let rows: Vec<EventRow> = sql::<DB>(&q)
            .bind(f.event_type.as_deref())
            .bind(f.payment_id.as_deref())
            .bind(f.starting_after.as_deref())
            .bind(f.limit + 1)
            .fetch_all(&self.reader)
            .await?;
        Page::of(rows, f.limit, |r| Ok(Event::from(r)))
    }

    pub(super) async fn event(&self, id: &str) -> Result<Option<Event>> {
        let q = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
        let row: Option<EventRow> = sql::<DB>(&q).bind(id).fetch_optional(&self.reader).await?;
        Ok(row.map(Event::from))
    }

    /// A fresh retry window; the lease is dropped so that an attempt in flight cannot undo this.
    pub(super) async fn schedule(&self, event_id: &str, at: i64) -> Result<()> {
        sql::<DB>(
            "UPDATE events SET delivered_at = NULL, failed_at = NULL, failures = 0, retry_from = $1, \
             next_attempt_at = $1, lease_until = NULL, lease_owner = NULL WHERE id = $2",
        )
        .bind(at)
        .bind(event_id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    pub(super) async fn due_events(&self, now: i64, lease_until: i64, owner: &str, limit: i64) -> Result<Vec<Event>> {
        let q = format!(
            "UPDATE events SET lease_until = $1, lease_owner = $2 WHERE id IN (\
             SELECT id FROM events WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
             AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4{}) \
             RETURNING {EVENT_COLUMNS}",
            DB::SKIP_LOCKED
        );
        let mut tx = self.write_tx().await?;
        let rows: Vec<EventRow> =
            sql::<DB>(&q).bind(lease_until).bind(owner).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(Event::from).collect())
    }

    /// The attempt and its history line are always recorded; its outcome only while `owner` holds the lease.
    pub(super) async fn attempted(&self, owner: &str, a: &WebhookAttempt, outcome: DeliveryOutcome) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        sql::<DB>(
            "INSERT INTO webhook_attempts (event_id, payment_id, at, url, http_status, error, duration_ms, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(a.event_id.as_str())
        .bind(a.payment_id.as_str())
        .bind(a.at)
        .bind(a.url.as_str())
        .bind(a.http_status)
        .bind(a.error.as_deref())
        .bind(a.duration_ms)
        .bind(outcome.as_str())
        .execute(&mut *tx)
        .await?;
        sql::<DB>("UPDATE events SET attempts = attempts + 1 WHERE id = $1")
            .bind(a.event_id.as_str())
            .execute(&mut *tx)
            .await?;
        let (set, at, then) = match outcome {
            DeliveryOutcome::Delivered => {
                ("delivered_at = $1, next_attempt_at = NULL, failures = 0", a.at, AfterAttempt::Delivered)
            }
            DeliveryOutcome::RetryAt(next) => {
                ("next_attempt_at = $1, failures = failures + 1", next, AfterAttempt::RetryIn(next - a.at))
            }
            DeliveryOutcome::GaveUp => {
                ("failed_at = $1, next_attempt_at = NULL, failures = failures + 1", a.at, AfterAttempt::GaveUp)
            }
        };
        let q = format!(
            "UPDATE events SET {set}, lease_until = NULL, lease_owner = NULL WHERE id = $2 AND lease_owner = $3"
        );
        let done = sql::<DB>(&q).bind(at).bind(a.event_id.as_str()).bind(owner).execute(&mut *tx).await?;
        let held = DB::rows_affected(&done) > 0;
        let detail =
            history::webhook_attempt(&a.event_id, &a.url, a.http_status, a.error.as_deref(), a.duration_ms, then);
        Self::log_tx(&mut tx, &a.payment_id, "webhook", &detail, a.at).await?;
        tx.commit().await?;
        Ok(held)
    }

    pub(super) async fn attempts(&self, event_id: &str) -> Result<Vec<WebhookAttempt>> {
        let rows: Vec<WebhookAttemptRow> = sql::<DB>(
            "SELECT event_id, payment_id, at, url, http_status, error, duration_ms, outcome \
             FROM webhook_attempts WHERE event_id = $1 ORDER BY seq",
        )
        .bind(event_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(WebhookAttempt::from).collect())
    }
}

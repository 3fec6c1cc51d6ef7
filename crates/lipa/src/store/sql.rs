//! The one SQL implementation of [`Store`](super::Store), written once and instantiated for SQLite and
//! PostgreSQL. The SQL is the common dialect of both; what differs is passed in: how a write transaction
//! begins (`BEGIN IMMEDIATE` takes SQLite's write lock up front) and the row-locking suffixes that only
//! PostgreSQL has (SQLite has one writer at a time, so it needs none), and SQLite's `INDEXED BY` for the
//! due-check queries (without statistics its planner prefers `payments_status` and sorts every pending
//! payment — 30 ms with 150,000 pending, all of it holding the one write lock). The two batch statements of the
//! callback path (`lock_by_secrets`, `write_rows`) are written per database, in `sqlite.rs` and
//! `postgres.rs`: each database has its own cheapest way to send many rows in one round trip.

macro_rules! sql_store {
    ($store:ident, $db:ty, begin: $begin:expr, for_update: $for_update:expr, skip_locked: $skip_locked:expr,
     due_index: $due_index:expr) => {
        impl $store {
            async fn write_tx(&self) -> Result<HeldTx<$db>> {
                Ok(self.writer.begin($begin).await?)
            }

            async fn lock_payment(
                tx: &mut HeldTx<$db>,
                column: &str,
                value: &str,
            ) -> Result<Option<Payment>> {
                let q = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {column} = $1{}", $for_update);
                let row: Option<PaymentRow> = sqlx::query_as(&q).bind(value).fetch_optional(&mut **tx).await?;
                row.map(Payment::try_from).transpose()
            }

            async fn log_tx(
                tx: &mut HeldTx<$db>,
                payment_id: &str,
                kind: &str,
                detail: &str,
                now: i64,
            ) -> Result<()> {
                sqlx::query("INSERT INTO payment_log (payment_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
                    .bind(payment_id)
                    .bind(now)
                    .bind(kind)
                    .bind(detail)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Record callbacks and apply them, in order, inside the caller's transaction: the payments are
            /// locked with one statement, each callback is decided as alone against the rows in memory (a
            /// duplicate later in the batch sees the first one's effect), and everything is written with one
            /// statement per table.
            async fn record_callbacks_tx(
                tx: &mut HeldTx<$db>,
                batch: &[(&str, &[u8], Option<&Outcome>, i64)],
            ) -> Result<Vec<Applied>> {
                let mut secrets: Vec<&str> = batch.iter().map(|c| c.0).collect();
                secrets.sort_unstable();
                secrets.dedup();
                let mut payments = Self::lock_by_secrets(tx, &secrets).await?;
                if secrets.iter().any(|s| !payments.contains_key(*s)) {
                    // Strangers' callbacks: only the newest few are kept, each cut short (see `upkeep`).
                    sqlx::query(super::upkeep::TRIM_STRAYS)
                        .bind(super::upkeep::STRAY_KEEP - 1)
                        .execute(&mut **tx)
                        .await?;
                }
                let mut w = Writes::default();
                let mut out = Vec::with_capacity(batch.len());
                for &(secret, raw_body, outcome, now) in batch {
                    let payment = payments.get_mut(secret);
                    let (raw_body, note) = match (&payment, outcome) {
                        (None, _) => super::upkeep::stray_row(raw_body),
                        (Some(_), None) => (raw_body, "unparseable body".to_string()),
                        (Some(_), Some(_)) => (raw_body, "parsed".to_string()),
                    };
                    // The callback row itself is the payment's history entry (see `payment_log`).
                    w.callbacks.push((payment.as_ref().map(|p| p.id.clone()), raw_body, now, note));
                    out.push(match (payment, outcome) {
                        (Some(p), Some(o)) => w.apply(p, Source::Callback, o, now),
                        (Some(p), None) => Applied { payment: Some(p.clone()), decision: None, event_id: None },
                        (None, _) => Applied { payment: None, decision: None, event_id: None },
                    });
                }
                let by_id: std::collections::HashMap<&str, &Payment> =
                    payments.values().map(|p| (p.id.as_str(), p)).collect();
                let changed: Vec<&Payment> = w.changed.iter().filter_map(|id| by_id.get(id.as_str()).copied()).collect();
                Self::write_rows(tx, &w, &changed).await?;
                Ok(out)
            }

            /// Apply an answer to a locked payment and write what it did, inside the caller's transaction.
            async fn apply_tx(
                tx: &mut HeldTx<$db>,
                p: &Payment,
                source: Source,
                outcome: &Outcome,
                now: i64,
            ) -> Result<Applied> {
                let mut p = p.clone();
                let mut w = Writes::default();
                let applied = w.apply(&mut p, source, outcome, now);
                // Only an operator's decision carries a resolution; the callback path never writes one.
                let resolved = applied.decision.as_ref().is_some_and(|d| d.resolution.is_some());
                if let (true, Some(r)) = (resolved, p.resolution.as_ref()) {
                    {
                        sqlx::query(
                            "UPDATE payments SET resolution_outcome = $1, resolved_by = $2, resolved_at = $3, \
                             resolution_note = $4, dismissed_receipt = $5 WHERE id = $6",
                        )
                        .bind(r.outcome.as_str())
                        .bind(&r.by)
                        .bind(r.at)
                        .bind(&r.note)
                        .bind(&r.dismissed_receipt)
                        .bind(&p.id)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
                let changed: Vec<&Payment> = if w.changed.is_empty() { vec![] } else { vec![&p] };
                Self::write_rows(tx, &w, &changed).await?;
                Ok(applied)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn create_payment(&self, new: NewPayment) -> Result<Created> {
                let p = &new.payment;
                let insert = sqlx::query(
                    "INSERT INTO payments (id, status, amount, phone, reference, description, metadata, return_url, \
                     push_state, callback_secret, pending_guard, api_key_id, created_at, updated_at, next_check_at, \
                     account_reference) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(&p.id)
                .bind(p.status.as_str())
                .bind(p.amount)
                .bind(&p.phone)
                .bind(&p.reference)
                .bind(&p.description)
                .bind(p.metadata.to_string())
                .bind(&p.return_url)
                .bind(p.push_state.as_str())
                .bind(&p.callback_secret)
                .bind(&new.pending_guard)
                .bind(&new.api_key_id)
                .bind(p.created_at)
                .bind(p.updated_at)
                .bind(p.next_check_at)
                .bind(&p.account_reference);
                let ins_err = |e: sqlx::Error| {
                    if violates(&e, "pending_guard") {
                        StoreError::ReferencePending
                    } else if violates(&e, "account_reference") {
                        StoreError::AccountReferenceTaken
                    } else {
                        e.into()
                    }
                };
                // The payment row itself is its "created" history entry (see `payment_log`).
                let Some(idem) = &new.idempotency else {
                    // No idempotency key: one statement, one commit.
                    insert.execute(&mut *self.writer.conn().await?).await.map_err(ins_err)?;
                    return Ok(Created::New(new.payment));
                };
                let mut tx = self.write_tx().await?;
                let key_id = new.api_key_id.clone().unwrap_or_default();
                let found: Option<(String, String)> = sqlx::query_as(
                    "SELECT request_hash, payment_id FROM idempotency_keys WHERE key_id = $1 AND idem_key = $2",
                )
                .bind(&key_id)
                .bind(&idem.key)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((hash, payment_id)) = found {
                    drop(tx);
                    return self.replay(&payment_id, hash == idem.request_hash).await;
                }
                // Claimed first, so that a racing twin waits on this key, not on the reference guard.
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (key_id, idem_key, request_hash, payment_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&key_id)
                .bind(&idem.key)
                .bind(&idem.request_hash)
                .bind(&new.payment.id)
                .bind(new.payment.created_at)
                .execute(&mut *tx)
                .await;
                if let Err(e) = claimed {
                    if violates(&e, "idempotency_keys") {
                        drop(tx);
                        let (hash, payment_id): (String, String) = sqlx::query_as(
                            "SELECT request_hash, payment_id FROM idempotency_keys WHERE key_id = $1 AND idem_key = $2",
                        )
                        .bind(&key_id)
                        .bind(&idem.key)
                        .fetch_one(&mut *self.writer.conn().await?)
                        .await?;
                        return self.replay(&payment_id, hash == idem.request_hash).await;
                    }
                    return Err(e.into());
                }
                insert.execute(&mut *tx).await.map_err(ins_err)?;
                tx.commit().await?;
                Ok(Created::New(new.payment))
            }

            async fn get_payment(&self, id: &str) -> Result<Option<Payment>> {
                let q = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
                let row: Option<PaymentRow> = sqlx::query_as(&q).bind(id).fetch_optional(&self.reader).await?;
                row.map(Payment::try_from).transpose()
            }

            async fn list_payments(&self, f: &PaymentFilter) -> Result<Page<Payment>> {
                let q = format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payments \
                     WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR reference = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR phone = $3) \
                     AND (CAST($4 AS TEXT) IS NULL OR seq < (SELECT seq FROM payments WHERE id = $4)) \
                     AND (CAST($6 AS BIGINT) IS NULL OR created_at >= $6) \
                     AND (CAST($7 AS BIGINT) IS NULL OR created_at < $7) \
                     AND (CAST($8 AS TEXT) IS NULL OR UPPER(account_reference) = UPPER($8)) \
                     AND (CAST($9 AS TEXT) IS NULL OR channel = $9) \
                     ORDER BY seq DESC LIMIT $5"
                );
                let rows: Vec<PaymentRow> = sqlx::query_as(&q)
                    .bind(&f.status)
                    .bind(&f.reference)
                    .bind(&f.phone)
                    .bind(&f.starting_after)
                    .bind(f.limit + 1)
                    .bind(f.created_from)
                    .bind(f.created_before)
                    .bind(&f.account_reference)
                    .bind(&f.channel)
                    .fetch_all(&self.reader)
                    .await?;
                let has_more = rows.len() as i64 > f.limit;
                let data = rows
                    .into_iter()
                    .take(f.limit as usize)
                    .map(Payment::try_from)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Page { data, has_more })
            }

            async fn push_accepted(
                &self,
                id: &str,
                checkout_request_id: &str,
                merchant_request_id: &str,
                next_check_at: i64,
                now: i64,
            ) -> Result<Option<Payment>> {
                // One statement, one commit: the row is also the history's "push accepted" line.
                let row: Option<PaymentRow> = sqlx::query_as(&format!(
                    "UPDATE payments SET push_state = 'accepted', checkout_request_id = $1, merchant_request_id = $2, \
                     next_check_at = CASE WHEN status = 'pending' THEN $3 ELSE next_check_at END, updated_at = $4, \
                     push_accepted_at = $4 WHERE id = $5 RETURNING {PAYMENT_COLUMNS}"
                ))
                .bind(checkout_request_id)
                .bind(merchant_request_id)
                .bind(next_check_at)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *self.writer.conn().await?)
                .await?;
                row.map(Payment::try_from).transpose()
            }

            async fn push_unknown(&self, id: &str, why: &str, next_check_at: i64, now: i64) -> Result<Option<Payment>> {
                let mut tx = self.write_tx().await?;
                let row: Option<PaymentRow> = sqlx::query_as(&format!(
                    "UPDATE payments SET push_state = 'unknown', next_check_at = $1, updated_at = $2 \
                     WHERE id = $3 AND push_state = 'sending' RETURNING {PAYMENT_COLUMNS}"
                ))
                .bind(next_check_at)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                Self::log_tx(&mut tx, id, "push", &format!("outcome unknown, never resent: {why}"), now).await?;
                tx.commit().await?;
                row.map(Payment::try_from).transpose()
            }

            async fn set_phone_for_push(&self, id: &str, phone: &str, now: i64) -> Result<Option<Payment>> {
                let mut tx = self.write_tx().await?;
                let row: Option<PaymentRow> = sqlx::query_as(&format!(
                    "UPDATE payments SET phone = $1, push_state = 'sending', updated_at = $2 \
                     WHERE id = $3 AND status = 'pending' AND push_state = 'awaiting_phone' \
                     RETURNING {PAYMENT_COLUMNS}"
                ))
                .bind(phone)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if row.is_some() {
                    Self::log_tx(&mut tx, id, "checkout", "the customer entered a phone number", now).await?;
                }
                tx.commit().await?;
                row.map(Payment::try_from).transpose()
            }

            async fn apply_outcome(&self, id: &str, source: Source, outcome: &Outcome, now: i64) -> Result<Applied> {
                let mut tx = self.write_tx().await?;
                let p = Self::lock_payment(&mut tx, "id", id).await?.ok_or(StoreError::NotFound)?;
                let applied = Self::apply_tx(&mut tx, &p, source, outcome, now).await?;
                tx.commit().await?;
                Ok(applied)
            }

            async fn record_callback(
                &self,
                secret: &str,
                raw_body: &[u8],
                outcome: Option<&Outcome>,
                now: i64,
            ) -> Result<Applied> {
                let mut tx = self.callback_tx().await?;
                let mut applied = Self::record_callbacks_tx(&mut tx, &[(secret, raw_body, outcome, now)]).await?;
                tx.commit().await?;
                applied.pop().ok_or(StoreError::NotFound)
            }

            async fn record_callbacks(&self, batch: &[CallbackIn]) -> Result<Vec<Applied>> {
                // Group commit: each callback decided as alone, all committed together.
                let items: Vec<(&str, &[u8], Option<&Outcome>, i64)> =
                    batch.iter().map(|c| (c.secret.as_str(), c.raw_body.as_slice(), c.outcome.as_ref(), c.now)).collect();
                let mut tx = self.callback_tx().await?;
                let out = Self::record_callbacks_tx(&mut tx, &items).await?;
                tx.commit().await?;
                Ok(out)
            }

            async fn record_rejected_callback(&self, secret: &str, raw_body: &[u8], why: &str, now: i64) -> Result<()> {
                let mut tx = self.write_tx().await?;
                let payment = Self::lock_payment(&mut tx, "callback_secret", secret).await?;
                let raw_body = match &payment {
                    Some(_) => raw_body,
                    None => {
                        sqlx::query(super::upkeep::TRIM_STRAYS)
                            .bind(super::upkeep::STRAY_KEEP - 1)
                            .execute(&mut *tx)
                            .await?;
                        super::upkeep::stray_row(raw_body).0
                    }
                };
                sqlx::query("INSERT INTO callbacks (payment_id, raw_body, received_at, note) VALUES ($1, $2, $3, $4)")
                    .bind(payment.as_ref().map(|p| p.id.as_str()))
                    .bind(raw_body)
                    .bind(now)
                    .bind(format!("rejected: {why}"))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ops_counts(&self, now: i64) -> Result<OpsCounts> {
                let (checks_due, webhooks_queued, webhooks_gave_up, webhook_failed_attempts): (i64, i64, i64, i64) =
                    sqlx::query_as(&format!(
                        "SELECT \
                         (SELECT COUNT(*) FROM payments{} WHERE status = 'pending' AND next_check_at <= $1), \
                         (SELECT COUNT(*) FROM events WHERE delivered_at IS NULL AND failed_at IS NULL), \
                         (SELECT COUNT(*) FROM events WHERE failed_at IS NOT NULL), \
                         (SELECT COUNT(*) FROM webhook_attempts WHERE outcome <> 'delivered')",
                        $due_index
                    ))
                    .bind(now)
                    .fetch_one(&self.reader)
                    .await?;
                Ok(OpsCounts { checks_due, webhooks_queued, webhooks_gave_up, webhook_failed_attempts })
            }

            async fn claim_due_checks(&self, now: i64, lease_until: i64, limit: i64) -> Result<Vec<Payment>> {
                let mut tx = self.write_tx().await?;
                let q = format!(
                    "UPDATE payments SET lease_until = $1 WHERE id IN (\
                     SELECT id FROM payments{} WHERE status = 'pending' AND next_check_at <= $2 \
                     AND (lease_until IS NULL OR lease_until < $2) ORDER BY next_check_at LIMIT $3{}) \
                     RETURNING {PAYMENT_COLUMNS}",
                    $due_index,
                    $skip_locked
                );
                let rows: Vec<PaymentRow> =
                    sqlx::query_as(&q).bind(lease_until).bind(now).bind(limit).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows.into_iter().map(Payment::try_from).collect()
            }

            async fn reschedule_check(&self, id: &str, next_check_at: i64, note: &str, now: i64) -> Result<()> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "UPDATE payments SET next_check_at = $1, check_attempts = check_attempts + 1, lease_until = NULL \
                     WHERE id = $2 AND status = 'pending'",
                )
                .bind(next_check_at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                Self::log_tx(&mut tx, id, "query", note, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_events(&self, f: &EventFilter) -> Result<Page<Event>> {
                let q = format!(
                    "SELECT {EVENT_COLUMNS} FROM events \
                     WHERE (CAST($1 AS TEXT) IS NULL OR type = $1) \
                     AND (CAST($2 AS TEXT) IS NULL OR payment_id = $2) \
                     AND (CAST($3 AS TEXT) IS NULL OR seq < (SELECT seq FROM events WHERE id = $3)) \
                     ORDER BY seq DESC LIMIT $4"
                );
                let rows: Vec<EventRow> = sqlx::query_as(&q)
                    .bind(&f.event_type)
                    .bind(&f.payment_id)
                    .bind(&f.starting_after)
                    .bind(f.limit + 1)
                    .fetch_all(&self.reader)
                    .await?;
                let has_more = rows.len() as i64 > f.limit;
                Ok(Page { data: rows.into_iter().take(f.limit as usize).map(Event::from).collect(), has_more })
            }

            async fn get_event(&self, id: &str) -> Result<Option<Event>> {
                let q = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
                let row: Option<EventRow> = sqlx::query_as(&q).bind(id).fetch_optional(&self.reader).await?;
                Ok(row.map(Event::from))
            }

            async fn schedule_delivery(&self, event_id: &str, at: i64) -> Result<()> {
                // A fresh retry window; the lease is dropped so that an attempt in flight cannot undo this.
                sqlx::query(
                    "UPDATE events SET delivered_at = NULL, failed_at = NULL, failures = 0, retry_from = $1, \
                     next_attempt_at = $1, lease_until = NULL, lease_owner = NULL WHERE id = $2",
                )
                .bind(at)
                .bind(event_id)
                .execute(&mut *self.writer.conn().await?)
                .await?;
                Ok(())
            }

            async fn claim_due_events(&self, now: i64, lease_until: i64, owner: &str, limit: i64) -> Result<Vec<Event>> {
                let mut tx = self.write_tx().await?;
                let q = format!(
                    "UPDATE events SET lease_until = $1, lease_owner = $2 WHERE id IN (\
                     SELECT id FROM events WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $3 \
                     AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at LIMIT $4{}) \
                     RETURNING {EVENT_COLUMNS}",
                    $skip_locked
                );
                let rows: Vec<EventRow> =
                    sqlx::query_as(&q).bind(lease_until).bind(owner).bind(now).bind(limit).fetch_all(&mut *tx).await?;
                tx.commit().await?;
                Ok(rows.into_iter().map(Event::from).collect())
            }

            async fn record_webhook_attempt(
                &self,
                owner: &str,
                a: &WebhookAttempt,
                outcome: DeliveryOutcome,
            ) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                sqlx::query(
                    "INSERT INTO webhook_attempts (event_id, payment_id, at, url, http_status, error, duration_ms, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&a.event_id)
                .bind(&a.payment_id)
                .bind(a.at)
                .bind(&a.url)
                .bind(a.http_status)
                .bind(&a.error)
                .bind(a.duration_ms)
                .bind(outcome.as_str())
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE events SET attempts = attempts + 1 WHERE id = $1")
                    .bind(&a.event_id)
                    .execute(&mut *tx)
                    .await?;
                let (set, at) = match outcome {
                    DeliveryOutcome::Delivered => ("delivered_at = $1, next_attempt_at = NULL, failures = 0", a.at),
                    DeliveryOutcome::RetryAt(next) => ("next_attempt_at = $1, failures = failures + 1", next),
                    DeliveryOutcome::GaveUp => ("failed_at = $1, next_attempt_at = NULL, failures = failures + 1", a.at),
                };
                let held = sqlx::query(&format!(
                    "UPDATE events SET {set}, lease_until = NULL, lease_owner = NULL WHERE id = $2 AND lease_owner = $3"
                ))
                .bind(at)
                .bind(&a.event_id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
                let answer = match (a.http_status, &a.error) {
                    (Some(code), _) => format!("HTTP {code}"),
                    (None, Some(e)) => e.clone(),
                    (None, None) => "no answer".into(),
                };
                let then = match outcome {
                    DeliveryOutcome::Delivered => "delivered".to_string(),
                    DeliveryOutcome::RetryAt(next) => format!("retry in {} ms", (next - a.at).max(0)),
                    DeliveryOutcome::GaveUp => "gave up: the retry window ran out".to_string(),
                };
                let detail = format!("{} to {}: {answer} in {} ms; {then}", a.event_id, a.url, a.duration_ms);
                Self::log_tx(&mut tx, &a.payment_id, "webhook", &detail, a.at).await?;
                tx.commit().await?;
                Ok(held)
            }

            async fn webhook_attempts(&self, event_id: &str) -> Result<Vec<WebhookAttempt>> {
                let rows: Vec<super::rows::WebhookAttemptRow> = sqlx::query_as(
                    "SELECT event_id, payment_id, at, url, http_status, error, duration_ms, outcome \
                     FROM webhook_attempts WHERE event_id = $1 ORDER BY seq",
                )
                .bind(event_id)
                .fetch_all(&self.reader)
                .await?;
                Ok(rows.into_iter().map(WebhookAttempt::from).collect())
            }

            async fn payment_log(&self, payment_id: &str) -> Result<Vec<LogEntry>> {
                // The history is the log table plus the rows that already tell their part of the story — the
                // callbacks as received and the events — so the hot callback path writes no extra lines.
                let mut logs: Vec<LogEntry> =
                    sqlx::query_as::<_, LogRow>("SELECT at, kind, detail FROM payment_log WHERE payment_id = $1 ORDER BY seq")
                        .bind(payment_id)
                        .fetch_all(&self.reader)
                        .await?
                        .into_iter()
                        .map(LogEntry::from)
                        .collect();
                // The payment row is the "created" entry and the "push accepted" one (databases written before
                // this kept log lines for them).
                type Row = (i64, i64, String, Option<i64>, Option<String>);
                let row: Option<Row> = sqlx::query_as(
                    "SELECT created_at, amount, reference, push_accepted_at, checkout_request_id FROM payments WHERE id = $1",
                )
                .bind(payment_id)
                .fetch_optional(&self.reader)
                .await?;
                if let Some((at, amount, reference, accepted_at, checkout)) = row {
                    if !logs.iter().any(|e| e.kind == "created") {
                        let detail = format!("created: KES {amount} ref {reference}");
                        logs.insert(0, LogEntry { at, kind: "created".into(), detail });
                    }
                    let logged = logs.iter().any(|e| e.kind == "push" && e.detail.starts_with("accepted"));
                    if let (Some(at), Some(checkout), false) = (accepted_at, checkout, logged) {
                        let detail = format!("accepted: CheckoutRequestID {checkout}");
                        let i = logs.iter().position(|e| e.at > at).unwrap_or(logs.len());
                        logs.insert(i, LogEntry { at, kind: "push".into(), detail });
                    }
                }
                let callbacks: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
                    "SELECT received_at, note, raw_body FROM callbacks WHERE payment_id = $1 ORDER BY seq",
                )
                .bind(payment_id)
                .fetch_all(&self.reader)
                .await?;
                let events: Vec<(i64, String, String)> =
                    sqlx::query_as("SELECT created_at, type, id FROM events WHERE payment_id = $1 ORDER BY seq")
                        .bind(payment_id)
                        .fetch_all(&self.reader)
                        .await?;
                // Same instant: the callback first, then what it caused (log lines), then the event.
                let mut all: Vec<(i64, u8, usize, LogEntry)> = Vec::new();
                for (i, (at, note, raw)) in callbacks.into_iter().enumerate() {
                    let detail = match note.as_str() {
                        // The whole body (at most 64 KiB): the admin shows it in full.
                        "parsed" => String::from_utf8_lossy(&raw).into_owned(),
                        "unparseable body" => {
                            format!("a body that could not be parsed (kept):\n{}", String::from_utf8_lossy(&raw))
                        }
                        other => match other.strip_prefix("rejected: ") {
                            Some(why) => format!("rejected, not applied: {why}\n{}", String::from_utf8_lossy(&raw)),
                            None => other.to_string(),
                        },
                    };
                    all.push((at, 0, i, LogEntry { at, kind: "callback".into(), detail }));
                }
                for (i, e) in logs.into_iter().enumerate() {
                    all.push((e.at, 1, i, e));
                }
                for (i, (at, ty, id)) in events.into_iter().enumerate() {
                    all.push((at, 2, i, LogEntry { at, kind: "event".into(), detail: format!("{ty} ({id})") }));
                }
                all.sort_by_key(|(at, order, i, _)| (*at, *order, *i));
                Ok(all.into_iter().map(|(.., e)| e).collect())
            }

            async fn append_log(&self, payment_id: &str, kind: &str, detail: &str, now: i64) -> Result<()> {
                let mut tx = self.write_tx().await?;
                Self::log_tx(&mut tx, payment_id, kind, detail, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_api_key(&self, id: &str, key_hash: &str, name: &str, now: i64) -> Result<()> {
                sqlx::query("INSERT INTO api_keys (id, key_hash, name, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(key_hash)
                    .bind(name)
                    .bind(now)
                    .execute(&mut *self.writer.conn().await?)
                    .await?;
                Ok(())
            }

            async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<String>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                        .bind(key_hash)
                        .fetch_optional(&self.reader)
                        .await?;
                Ok(row.map(|r| r.0))
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.reader).await?;
                Ok(())
            }

            async fn kv_get(&self, key: &str) -> Result<Option<(String, Option<i64>)>> {
                Ok(sqlx::query_as("SELECT v, expires_at FROM kv WHERE k = $1")
                    .bind(key)
                    .fetch_optional(&mut *self.writer.conn().await?)
                    .await?)
            }

            async fn kv_put(&self, key: &str, value: &str, expires_at: Option<i64>) -> Result<()> {
                sqlx::query(
                    "INSERT INTO kv (k, v, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v, expires_at = excluded.expires_at",
                )
                .bind(key)
                .bind(value)
                .bind(expires_at)
                .execute(&mut *self.writer.conn().await?)
                .await?;
                Ok(())
            }

            async fn kv_delete_if(&self, key: &str, value: &str) -> Result<()> {
                sqlx::query("DELETE FROM kv WHERE k = $1 AND v = $2").bind(key).bind(value).execute(&mut *self.writer.conn().await?).await?;
                Ok(())
            }

            async fn try_lease(&self, key: &str, owner: &str, until: i64, now: i64) -> Result<bool> {
                let row: Option<(String,)> = sqlx::query_as(
                    "INSERT INTO kv (k, v, lease_owner, lease_until) VALUES ($1, '', $2, $3) \
                     ON CONFLICT (k) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until \
                     WHERE kv.lease_until IS NULL OR kv.lease_until < $4 OR kv.lease_owner = excluded.lease_owner \
                     RETURNING lease_owner",
                )
                .bind(key)
                .bind(owner)
                .bind(until)
                .bind(now)
                .fetch_optional(&mut *self.writer.conn().await?)
                .await?;
                Ok(row.is_some_and(|r| r.0 == owner))
            }

            async fn release_lease(&self, key: &str, owner: &str) -> Result<()> {
                sqlx::query("UPDATE kv SET lease_owner = NULL, lease_until = NULL WHERE k = $1 AND lease_owner = $2")
                    .bind(key)
                    .bind(owner)
                    .execute(&mut *self.writer.conn().await?)
                    .await?;
                Ok(())
            }

            async fn count_by_status(&self) -> Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as("SELECT status, COUNT(*) FROM payments GROUP BY status ORDER BY status")
                    .fetch_all(&self.reader)
                    .await?)
            }

            async fn payment_stats(&self, since: i64, bucket_ms: i64, offset_ms: i64) -> Result<Vec<StatsBucket>> {
                let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
                    "SELECT CAST((created_at + $1) / $2 AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'needs_review' THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS BIGINT), \
                     CAST(SUM(CASE WHEN status = 'succeeded' THEN amount ELSE 0 END) AS BIGINT) \
                     FROM payments WHERE created_at >= $3 GROUP BY 1 ORDER BY 1",
                )
                .bind(offset_ms)
                .bind(bucket_ms.max(1))
                .bind(since)
                .fetch_all(&self.reader)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(b, succeeded, failed, needs_review, pending, collected)| StatsBucket {
                        start: b * bucket_ms.max(1) - offset_ms,
                        succeeded,
                        failed,
                        needs_review,
                        pending,
                        collected,
                    })
                    .collect())
            }

            async fn resolve_review(&self, id: &str, outcome: &Outcome, now: i64) -> Result<Applied> {
                let mut tx = self.write_tx().await?;
                let p = Self::lock_payment(&mut tx, "id", id).await?.ok_or(StoreError::NotFound)?;
                if decide(&p, outcome).is_none() {
                    return Ok(Applied { payment: Some(p), decision: None, event_id: None });
                }
                let applied = Self::apply_tx(&mut tx, &p, Source::Operator, outcome, now).await?;
                let cleared = applied.payment.as_ref().map(|after| cleared_by_resolution(&p, after)).unwrap_or_default();
                let detail = match outcome {
                    Outcome::Resolved { succeeded, note, by } => format!(
                        "resolved by an operator as {}: {note} (by {by}){cleared}",
                        if *succeeded { "succeeded" } else { "failed" }
                    ),
                    other => format!("resolved by an operator: {other:?}"),
                };
                Self::log_tx(&mut tx, &p.id, "review", &detail, now).await?;
                tx.commit().await?;
                Ok(applied)
            }
        }

        impl $store {
            /// The answer for a reused idempotency key: the payment it made, once its push has left `sending`
            /// (a racing twin waits for the first request's answer rather than inventing its own). The wait is
            /// short: the first request may have died with its instance, and then the payment stays as it is
            /// (its push is never sent again; reconciliation settles it).
            async fn replay(&self, payment_id: &str, same_request: bool) -> Result<Created> {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
                loop {
                    let p = self.get_payment(payment_id).await?.ok_or(StoreError::NotFound)?;
                    if p.push_state != PushState::Sending || std::time::Instant::now() > deadline {
                        return Ok(Created::Replay { payment: p, same_request });
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    };
}

pub(crate) use sql_store;

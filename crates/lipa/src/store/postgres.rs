//! PostgreSQL: for several gateway instances sharing one database. Payments are locked with
//! `FOR UPDATE` while an answer is applied, and due work is claimed with `FOR UPDATE SKIP LOCKED`, so two
//! instances never work on the same row at once.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::apply::{cleared_by_resolution, Writes};
use super::held::{HeldPool, HeldTx};
use super::rows::{violates, EventRow, LogRow, PaymentRow, EVENT_COLUMNS, PAYMENT_COLUMNS};
use super::sql::sql_store;
use super::*;
use crate::domain::{decide, PushState};

pub struct PgStore {
    pub(super) writer: HeldPool<sqlx::Postgres>,
    pub(super) reader: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let reader = PgPoolOptions::new().max_connections(6).connect(url).await?;
        // Several instances may start at once: migrations take an advisory lock (sqlx does this on Postgres).
        sqlx::migrate!("./migrations/postgres").run(&reader).await?;
        // Writes on held connections (no ping between transactions; see `held.rs`): 12, so that the eight
        // callback writers and the API's writes never wait for one another.
        let writer = HeldPool::new(url.parse::<PgConnectOptions>()?, 12);
        Ok(Self { writer, reader })
    }
}

sql_store!(PgStore, sqlx::Postgres, begin: "BEGIN", for_update: " FOR UPDATE", skip_locked: " FOR UPDATE SKIP LOCKED", due_index: "");

/// The changed payments, callbacks, events and log lines of a batch in ONE statement: each table's rows
/// arrive as arrays (`UNNEST`), so the text never depends on the batch size and stays prepared, and the
/// data-modifying `WITH` parts all run, once, in the one round trip.
const WRITE_BATCH: &str = "WITH \
    c AS (INSERT INTO callbacks (payment_id, raw_body, received_at, note) \
        SELECT payment_id, raw_body, received_at, note \
        FROM UNNEST($1::text[], $2::bytea[], $3::int8[], $4::text[]) WITH ORDINALITY \
            AS x(payment_id, raw_body, received_at, note, n) ORDER BY n), \
    u AS (UPDATE payments SET status = v.status, checkout_request_id = v.checkout_request_id, \
        mpesa_receipt = v.mpesa_receipt, result_code = v.result_code, result_desc = v.result_desc, \
        failure_reason = v.failure_reason, review_reason = v.review_reason, updated_at = v.updated_at, \
        completed_at = v.completed_at, next_check_at = v.next_check_at, lease_until = NULL \
        FROM UNNEST($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
            $12::text[], $13::int8[], $14::int8[], $15::int8[]) \
            AS v(id, status, checkout_request_id, mpesa_receipt, result_code, result_desc, failure_reason, \
                review_reason, updated_at, completed_at, next_check_at) \
        WHERE payments.id = v.id), \
    e AS (INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) \
        SELECT id, type, payment_id, created_at, data, created_at \
        FROM UNNEST($16::text[], $17::text[], $18::text[], $19::int8[], $20::text[]) WITH ORDINALITY \
            AS x(id, type, payment_id, created_at, data, n) ORDER BY n), \
    l AS (INSERT INTO payment_log (payment_id, at, kind, detail) \
        SELECT payment_id, at, kind, detail \
        FROM UNNEST($21::text[], $22::int8[], $23::text[], $24::text[]) WITH ORDINALITY \
            AS x(payment_id, at, kind, detail, n) ORDER BY n) \
    SELECT 1";

/// The callback path's batch statements, PostgreSQL's way: arrays in, constant statement text, so every
/// statement is prepared once per connection and each costs one round trip.
impl PgStore {
    async fn callback_tx(&self) -> Result<HeldTx<sqlx::Postgres>> {
        Ok(self.writer.begin("BEGIN").await?)
    }

    /// Lock the payments a batch names, in `seq` order, so that two batches never deadlock on each other.
    async fn lock_by_secrets(
        tx: &mut HeldTx<sqlx::Postgres>,
        secrets: &[&str],
    ) -> Result<std::collections::HashMap<String, Payment>> {
        let q =
            format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE callback_secret = ANY($1) ORDER BY seq FOR UPDATE");
        let rows: Vec<PaymentRow> = sqlx::query_as(&q).bind(secrets).fetch_all(&mut **tx).await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in rows {
            let p = Payment::try_from(row)?;
            found.insert(p.callback_secret.clone(), p);
        }
        Ok(found)
    }

    async fn write_rows(tx: &mut HeldTx<sqlx::Postgres>, w: &Writes<'_>, changed: &[&Payment]) -> Result<()> {
        if w.callbacks.is_empty() && changed.is_empty() && w.events.is_empty() && w.logs.is_empty() {
            return Ok(());
        }
        fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
            rows.iter().map(f).collect()
        }
        let cb = &w.callbacks;
        let (ev, lg) = (&w.events, &w.logs);
        sqlx::query(WRITE_BATCH)
            .bind(col(cb, |c| c.0.clone()))
            .bind(col(cb, |c| c.1))
            .bind(col(cb, |c| c.2))
            .bind(col(cb, |c| c.3.clone()))
            .bind(col(changed, |p| p.id.clone()))
            .bind(col(changed, |p| p.status.as_str()))
            .bind(col(changed, |p| p.checkout_request_id.clone()))
            .bind(col(changed, |p| p.mpesa_receipt.clone()))
            .bind(col(changed, |p| p.result_code.clone()))
            .bind(col(changed, |p| p.result_desc.clone()))
            .bind(col(changed, |p| p.failure_reason.map(|r| r.as_str())))
            .bind(col(changed, |p| p.review_reason.clone()))
            .bind(col(changed, |p| p.updated_at))
            .bind(col(changed, |p| p.completed_at))
            .bind(col(changed, |p| p.next_check_at))
            .bind(col(ev, |e| e.0.clone()))
            .bind(col(ev, |e| e.1))
            .bind(col(ev, |e| e.2.clone()))
            .bind(col(ev, |e| e.3))
            .bind(col(ev, |e| e.4.clone()))
            .bind(col(lg, |l| l.0.clone()))
            .bind(col(lg, |l| l.1))
            .bind(col(lg, |l| l.2))
            .bind(col(lg, |l| l.3.clone()))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

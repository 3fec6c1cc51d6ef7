//! PostgreSQL: for several gateway instances sharing one database. Payments are locked with
//! `FOR UPDATE` while an answer is applied, and due work is claimed with `FOR UPDATE SKIP LOCKED`, so two
//! instances never work on the same row at once.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::apply::Writes;
use super::callbacks::{changed_rows, decide_batch, secrets_of};
use super::held::{HeldPool, HeldTx};
use super::rows::{PaymentRow, PAYMENT_COLUMNS};
use super::sql::{Backend, CallbackItem, SqlStore};
use super::*;

pub type PgStore = SqlStore<sqlx::Postgres>;

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let reader = PgPoolOptions::new().max_connections(6).connect(url).await?;
        // Several instances may start at once: migrations take an advisory lock (sqlx does this on Postgres).
        sqlx::migrate!("./migrations/postgres").run(&reader).await?;
        // Writes on held connections (no ping between transactions; see `held.rs`): 12, so that the eight
        // callback writers and the API's writes never wait for one another.
        let writer = HeldPool::new(url.parse::<PgConnectOptions>()?, 12);
        Ok(Self { writer, reader, _alive: Arc::new(()) })
    }
}

/// The changed payments, callbacks, events and log lines of a batch in ONE statement: each table's rows
/// arrive as arrays (`UNNEST`), so the text never depends on the batch size and stays prepared, and the
/// data-modifying `WITH` parts all run, once, in the one round trip.
///
/// The statement also checks that every payment the batch read is still the version it read (`xmin`, given
/// in `$26`/`$27`; a changed payment's in `$25`, NULL when the caller holds its lock): when one moved, the
/// final `CAST` fails and the statement, which is atomic, writes nothing ([`STALE`]).
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
            $12::text[], $13::int8[], $14::int8[], $15::int8[], $25::text[]) \
            AS v(id, status, checkout_request_id, mpesa_receipt, result_code, result_desc, failure_reason, \
                review_reason, updated_at, completed_at, next_check_at, version) \
        WHERE payments.id = v.id AND (v.version IS NULL OR payments.xmin::text = v.version) RETURNING 1), \
    e AS (INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) \
        SELECT id, type, payment_id, created_at, data, created_at \
        FROM UNNEST($16::text[], $17::text[], $18::text[], $19::int8[], $20::text[]) WITH ORDINALITY \
            AS x(id, type, payment_id, created_at, data, n) ORDER BY n), \
    l AS (INSERT INTO payment_log (payment_id, at, kind, detail) \
        SELECT payment_id, at, kind, detail \
        FROM UNNEST($21::text[], $22::int8[], $23::text[], $24::text[]) WITH ORDINALITY \
            AS x(payment_id, at, kind, detail, n) ORDER BY n) \
    SELECT CAST(CASE WHEN (SELECT COUNT(*) FROM u) = CARDINALITY($5::text[]) \
        AND (SELECT COUNT(*) FROM payments p JOIN UNNEST($26::text[], $27::text[]) AS r(id, version) \
            ON p.id = r.id AND p.xmin::text = r.version) = CARDINALITY($26::text[]) \
        THEN '1' ELSE 'stale batch' END AS int)";

/// What [`WRITE_BATCH`] says when a payment changed since the batch read it.
const STALE: &str = "stale batch";

/// The versions of the payments a batch read without locking them: every one is checked as it is written.
#[derive(Default)]
struct Versions<'a> {
    /// Per changed payment (as [`write_batch`]'s `changed`): its version, None when it is locked.
    changed: Vec<Option<&'a str>>,
    /// Every payment read: id and version.
    read: Vec<(&'a str, &'a str)>,
}

#[derive(sqlx::FromRow)]
struct Versioned {
    version: String,
    #[sqlx(flatten)]
    row: PaymentRow,
}

/// The callback path, PostgreSQL's way: arrays in, constant statement text, so every statement is prepared
/// once per connection and each costs one round trip.
impl Backend for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const DUE_INDEX: &'static str = "";

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }

    /// Two round trips and no transaction block when no payment of the batch changes meanwhile (see
    /// [`optimistic`]); otherwise the locking path: `BEGIN`, lock in `seq` order, write, `COMMIT`.
    async fn record_callbacks<'a>(store: &'a PgStore, batch: &'a [CallbackItem<'a>]) -> Result<Vec<Applied>> {
        if let Some(out) = optimistic(store, batch).await? {
            return Ok(out);
        }
        let tx = store.writer.begin(Self::BEGIN).await?;
        PgStore::record_callbacks_locked(tx, batch).await
    }

    /// Lock the payments a batch names, in `seq` order, so that two batches never deadlock on each other.
    async fn lock_by_secrets<'a>(
        tx: &'a mut HeldTx<sqlx::Postgres>,
        secrets: &'a [&'a str],
    ) -> Result<HashMap<String, Payment>> {
        let q =
            format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE callback_secret = ANY($1) ORDER BY seq FOR UPDATE");
        let rows: Vec<PaymentRow> = sqlx::query_as(&q).bind(secrets).fetch_all(&mut **tx).await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let p = Payment::try_from(row)?;
            found.insert(p.callback_secret.as_str().to_owned(), p);
        }
        Ok(found)
    }

    async fn write_rows<'a>(
        tx: &'a mut HeldTx<sqlx::Postgres>,
        w: &'a Writes<'a>,
        changed: &'a [&'a Payment],
    ) -> Result<()> {
        let versions = Versions { changed: vec![None; changed.len()], read: vec![] };
        Ok(write_batch(tx, w, changed, &versions).await?)
    }
}

/// A batch without a transaction block: its payments read with their versions (no lock), decided, then
/// written by ONE statement that checks each is still the version read. A statement is atomic, and outside a
/// transaction block it is committed before its answer comes back. None (nothing written) when a payment
/// moved meanwhile, when the two statements crossed another writer's locks the wrong way round (a deadlock,
/// which PostgreSQL breaks), or when the batch has callbacks for unknown secrets (the locking path keeps
/// those few): the caller takes the locking path.
async fn optimistic(store: &PgStore, batch: &[CallbackItem<'_>]) -> Result<Option<Vec<Applied>>> {
    let secrets = secrets_of(batch);
    let mut conn = store.writer.conn().await?;
    let q = format!(
        "SELECT xmin::text AS version, {PAYMENT_COLUMNS} FROM payments WHERE callback_secret = ANY($1) ORDER BY seq"
    );
    let rows: Vec<Versioned> = sqlx::query_as(&q).bind(&secrets).fetch_all(&mut *conn).await?;
    if rows.len() < secrets.len() {
        return Ok(None);
    }
    let mut payments = HashMap::with_capacity(rows.len());
    let mut read = Vec::with_capacity(rows.len());
    for Versioned { version, row } in rows {
        let p = Payment::try_from(row)?;
        read.push((p.id.clone(), version));
        payments.insert(p.callback_secret.as_str().to_owned(), p);
    }
    let (w, out) = decide_batch(&mut payments, batch);
    // Written in `seq` order, as the locking path locks.
    let mut changed = changed_rows(&w, &payments);
    let position: HashMap<&str, usize> = read.iter().enumerate().map(|(i, (id, _))| (id.as_str(), i)).collect();
    changed.sort_by_key(|p| position.get(p.id.as_str()).copied());
    let version_of: HashMap<&str, &str> = read.iter().map(|(id, v)| (id.as_str(), v.as_str())).collect();
    let versions = Versions {
        changed: changed.iter().map(|p| version_of.get(p.id.as_str()).copied()).collect(),
        read: read.iter().map(|(id, v)| (id.as_str(), v.as_str())).collect(),
    };
    match write_batch(&mut conn, &w, &changed, &versions).await {
        Ok(()) => Ok(Some(out)),
        Err(sqlx::Error::Database(e)) if e.message().contains(STALE) || e.code().as_deref() == Some("40P01") => {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Run [`WRITE_BATCH`].
async fn write_batch(
    conn: &mut sqlx::PgConnection,
    w: &Writes<'_>,
    changed: &[&Payment],
    versions: &Versions<'_>,
) -> Result<(), sqlx::Error> {
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
        .bind(versions.changed.clone())
        .bind(col(&versions.read, |r| r.0))
        .bind(col(&versions.read, |r| r.1))
        .execute(conn)
        .await?;
    Ok(())
}

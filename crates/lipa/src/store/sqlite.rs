//! SQLite: the embedded default. WAL with `synchronous = FULL`, so a commit is on disk before we answer;
//! one writer connection (SQLite allows one writer at a time anyway) and a pool of readers.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::apply::{placeholder_list, placeholders, Writes, CHUNK};
use super::held::{HeldPool, HeldTx};
use super::rows::{PaymentRow, PAYMENT_COLUMNS};
use super::sql::{Backend, CallbackItem, SqlStore};
use super::*;

pub type SqliteStore = SqlStore<sqlx::Sqlite>;

impl SqliteStore {
    /// `sqlite://path`, `sqlite:path` or a plain path; the file is created when missing.
    pub async fn open(url: &str) -> Result<Self> {
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        let path = path.split('?').next().unwrap_or(path);
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Statement journals (a multi-row statement inside a transaction keeps one) stay in memory
            // instead of spilling to a temporary file.
            .pragma("temp_store", "memory");
        private_files(path).map_err(sqlx::Error::Io)?;
        // Migrations on a connection of their own, closed before the store opens.
        let migrator = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&migrator).await?;
        migrator.close().await;
        // The one writer, held (no ping between transactions; see `held.rs`), keeps the hot pages of the
        // tables and indexes it changes (16 MiB) instead of re-reading them from the OS at every batch. It
        // checkpoints only as a last resort (WAL over 40 MiB): the checkpointer below does it off its path.
        let writer_opts = opts
            .clone()
            .pragma("cache_size", "-16384")
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string());
        let writer = HeldPool::new(writer_opts, 1);
        // Readers are a pool; their return ping runs after the answer, off every request's path.
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(opts.clone().read_only(true)).await?;
        let alive = Arc::new(());
        tokio::spawn(checkpointer(opts, Arc::downgrade(&alive)));
        Ok(Self { writer, reader, _alive: alive })
    }
}

/// The database holds callback secrets, CheckoutRequestIDs and phone numbers: its file is created readable
/// by its owner only (0600), and an existing one (and its `-wal` and `-shm`) is made so. SQLite gives the
/// WAL and shared-memory files it creates the database file's permissions.
fn private_files(path: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if path.is_empty() || path.contains(":memory:") || path.contains("mode=memory") {
            return Ok(());
        }
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
        for file in [path.to_string(), format!("{path}-wal"), format!("{path}-shm")] {
            match std::fs::metadata(&file) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?
                }
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The writer's own automatic checkpoint, a fallback for when the checkpointer cannot keep up.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(if cfg!(test) { 50 } else { 20 });

/// Copy committed WAL frames into the database file from a connection of its own, so that the writer's
/// commits never wait for it (SQLite's automatic checkpoint runs inside the commit that crosses 1,000
/// pages: measured, it made a callback batch's p99 7 ms instead of 4). `PASSIVE` never blocks the writer or
/// the readers; once it has caught up, the writer's next transaction starts the WAL file over. Ends when
/// the store is dropped.
async fn checkpointer(opts: SqliteConnectOptions, alive: std::sync::Weak<()>) {
    use sqlx::ConnectOptions;
    let mut conn = None;
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if alive.strong_count() == 0 {
            return;
        }
        if conn.is_none() {
            match opts.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the WAL checkpointer cannot open the database; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut *c).await {
            tracing::warn!(error = %e, "WAL checkpoint failed; reopening its connection");
            conn = None;
        }
    }
}

/// The payment columns a decision can change, set from a `VALUES` list joined on `column1` = id.
pub const UPDATE_FROM_VALUES: &str = "UPDATE payments SET status = v.column2, checkout_request_id = v.column3, \
     mpesa_receipt = v.column4, result_code = v.column5, result_desc = v.column6, failure_reason = v.column7, \
     review_reason = v.column8, updated_at = v.column9, completed_at = v.column10, next_check_at = v.column11, \
     lease_until = NULL FROM (VALUES ";

/// The callback path's batch statements, SQLite's way: SQLite runs in a worker thread of sqlx, and every
/// statement sent is one hop to that thread and back, so a batch's writes go as ONE multi-statement query
/// (anonymous `?` placeholders, bound in order across the statements). Preparing it costs far less than
/// the hops it saves. No row locks: `BEGIN IMMEDIATE` holds SQLite's one write lock.
impl Backend for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    /// Without statistics SQLite's planner prefers `payments_status` and sorts every pending payment (30 ms
    /// with 150,000 pending, all of it holding the one write lock).
    const DUE_INDEX: &'static str = " INDEXED BY payments_due";

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// The batch's `BEGIN IMMEDIATE` goes with the locking `SELECT` and its `COMMIT` with the writes, so a
    /// batch is two round trips to SQLite's thread.
    async fn record_callbacks<'a>(store: &'a SqliteStore, batch: &'a [CallbackItem<'a>]) -> Result<Vec<Applied>> {
        let tx = store.writer.begin_deferred("BEGIN IMMEDIATE;\n").await?;
        SqliteStore::record_callbacks_locked(tx, batch).await
    }

    async fn lock_by_secrets<'a>(
        tx: &'a mut HeldTx<sqlx::Sqlite>,
        secrets: &'a [&'a str],
    ) -> Result<HashMap<String, Payment>> {
        let mut found = HashMap::with_capacity(secrets.len());
        for chunk in secrets.chunks(CHUNK) {
            let q = format!(
                "{}SELECT {PAYMENT_COLUMNS} FROM payments WHERE callback_secret IN ({})",
                tx.begin_prefix(),
                placeholder_list(chunk.len())
            );
            let mut query = sqlx::query_as::<_, PaymentRow>(&q).persistent(chunk.len() == 1);
            for s in chunk {
                query = query.bind(*s);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let p = Payment::try_from(row)?;
                found.insert(p.callback_secret.as_str().to_owned(), p);
            }
        }
        Ok(found)
    }

    /// Callbacks, changed payments, events and log lines: one multi-row statement per table (per [`CHUNK`]
    /// rows), all sent together.
    async fn write_rows<'a>(
        tx: &'a mut HeldTx<sqlx::Sqlite>,
        w: &'a Writes<'a>,
        changed: &'a [&'a Payment],
    ) -> Result<()> {
        let mut sql = String::new();
        for chunk in w.callbacks.chunks(CHUNK) {
            sql.push_str("INSERT INTO callbacks (payment_id, raw_body, received_at, note) VALUES ");
            sql.push_str(&placeholders(chunk.len(), 4));
            sql.push_str(";\n");
        }
        for chunk in changed.chunks(CHUNK) {
            sql.push_str(UPDATE_FROM_VALUES);
            sql.push_str(&placeholders(chunk.len(), 11));
            sql.push_str(") AS v WHERE payments.id = v.column1;\n");
        }
        for chunk in w.events.chunks(CHUNK) {
            sql.push_str("INSERT INTO events (id, type, payment_id, created_at, data, next_attempt_at) VALUES ");
            sql.push_str(&placeholders(chunk.len(), 6));
            sql.push_str(";\n");
        }
        for chunk in w.logs.chunks(CHUNK) {
            sql.push_str("INSERT INTO payment_log (payment_id, at, kind, detail) VALUES ");
            sql.push_str(&placeholders(chunk.len(), 4));
            sql.push_str(";\n");
        }
        if sql.is_empty() {
            return Ok(());
        }
        let commit = tx.commit_suffix();
        sql.push_str(commit);
        // The one-callback shapes recur (a quiet gateway); the bigger ones vary with the batch size.
        let single = w.callbacks.len() <= 1 && changed.len() <= 1 && w.events.len() <= 1 && w.logs.len() <= 1;
        let mut query = sqlx::query(&sql).persistent(single);
        for (payment_id, body, at, note) in &w.callbacks {
            query = query.bind(payment_id.as_deref()).bind(*body).bind(*at).bind(note.as_str());
        }
        for p in changed {
            query = query
                .bind(p.id.as_str())
                .bind(p.status.as_str())
                .bind(p.checkout_request_id.as_deref())
                .bind(p.mpesa_receipt.as_deref())
                .bind(p.result_code.as_deref())
                .bind(p.result_desc.as_deref())
                .bind(p.failure_reason.map(|r| r.as_str()))
                .bind(p.review_reason.as_deref())
                .bind(p.updated_at)
                .bind(p.completed_at)
                .bind(p.next_check_at);
        }
        for (id, ty, payment_id, at, data) in &w.events {
            query = query.bind(id.as_str()).bind(*ty).bind(payment_id.as_str()).bind(*at).bind(data.as_str()).bind(*at);
        }
        for (payment_id, at, kind, detail) in &w.logs {
            query = query.bind(payment_id.as_str()).bind(*at).bind(*kind).bind(detail.as_str());
        }
        query.execute(&mut **tx).await?;
        tx.committed_with(commit);
        Ok(())
    }
}

//! SQLite: the embedded default. WAL with `synchronous = FULL`, so a commit is on disk before we answer;
//! one writer connection (SQLite allows one writer at a time anyway) and a pool of readers.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::apply::{placeholder_list, placeholders, Writes, CACHED_ROWS, CHUNK, UPDATE_FROM_VALUES};
use super::rows::{violates, EventRow, LogRow, PaymentRow, EVENT_COLUMNS, PAYMENT_COLUMNS};
use super::sql::sql_store;
use super::*;
use crate::domain::{decide, PushState};

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

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
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(4).connect_with(opts.read_only(true)).await?;
        Ok(Self { writer, reader })
    }
}

sql_store!(SqliteStore, sqlx::Sqlite, begin: "BEGIN IMMEDIATE", for_update: "", skip_locked: "", numbered: false);

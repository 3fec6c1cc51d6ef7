//! PostgreSQL: for several gateway instances sharing one database. Payments are locked with
//! `FOR UPDATE` while an answer is applied, and due work is claimed with `FOR UPDATE SKIP LOCKED`, so two
//! instances never work on the same row at once.

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::apply::{placeholder_list, placeholders, Writes, CACHED_ROWS, CHUNK, UPDATE_FROM_VALUES};
use super::rows::{violates, EventRow, LogRow, PaymentRow, EVENT_COLUMNS, PAYMENT_COLUMNS};
use super::sql::sql_store;
use super::*;
use crate::domain::{decide, PushState};

pub struct PgStore {
    writer: PgPool,
    reader: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(16).connect(url).await?;
        // Several instances may start at once: migrations take an advisory lock (sqlx does this on Postgres).
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }
}

sql_store!(PgStore, sqlx::Postgres, begin: "BEGIN", for_update: " FOR UPDATE", skip_locked: " FOR UPDATE SKIP LOCKED", numbered: true);

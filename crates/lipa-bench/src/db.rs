//! The databases of a run: fresh ones per target, opened with the gateway's own settings (SQLite WAL with
//! `synchronous = FULL` and one writer connection; PostgreSQL with its defaults, `synchronous_commit = on`).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

#[derive(Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Run the same statement on whichever pool it is.
macro_rules! on {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            Db::Sqlite($p) => $body,
            Db::Pg($p) => $body,
        }
    };
}

/// Which kind of database a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    /// A `--db` argument: `postgres` (or anything starting `post`, or `pg`); anything else is SQLite.
    pub fn from_arg(db: &str) -> Kind {
        if db.starts_with("post") || db == "pg" {
            Kind::Postgres
        } else {
            Kind::Sqlite
        }
    }
}

/// Make a fresh, empty database and return its URL: a new file under `dir`, or a new PostgreSQL database
/// on the server of `pg_url`.
pub async fn fresh(kind: Kind, name: &str, dir: &std::path::Path, pg_url: &str) -> anyhow::Result<String> {
    match kind {
        Kind::Sqlite => {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("{name}.db"));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            Ok(format!("sqlite://{}", path.display()))
        }
        Kind::Postgres => {
            let (base, _) = pg_url.rsplit_once('/').context("the PostgreSQL URL has no database name")?;
            let admin = PgPoolOptions::new().max_connections(1).connect(pg_url).await?;
            let db = format!("lipa_bench_{name}_{}", std::process::id());
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db}")).execute(&admin).await?;
            sqlx::query(&format!("CREATE DATABASE {db}")).execute(&admin).await?;
            admin.close().await;
            Ok(format!("{base}/{db}"))
        }
    }
}

/// Drop a PostgreSQL database made by [`fresh`] (SQLite files stay for inspection).
pub async fn drop_fresh(url: &str, pg_url: &str) {
    if let Some((_, db)) = url.rsplit_once('/').filter(|_| url.starts_with("postgres")) {
        if let Ok(admin) = PgPoolOptions::new().max_connections(1).connect(pg_url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&admin).await;
        }
    }
}

impl Db {
    pub async fn open(url: &str, connections: u32) -> anyhow::Result<Db> {
        if url.starts_with("postgres") {
            Ok(Db::Pg(PgPoolOptions::new().max_connections(connections).connect(url).await?))
        } else {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30));
            // One writer, as SQLite allows (and as the gateway does).
            Ok(Db::Sqlite(SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?))
        }
    }

    pub async fn close(&self) {
        on!(self, |p| p.close().await)
    }

    /// Insert `n` pending payments into lipa's schema whose push Daraja accepted: payment `i` has the
    /// callback secret `benchsecret{i}` and CheckoutRequestID `ws_CO_bench_{i}`. They have no check due,
    /// so only their callbacks move them.
    pub async fn seed_lipa(&self, n: u64, now: i64) -> anyhow::Result<()> {
        const COLS: &str = "INSERT INTO payments (id, status, amount, phone, reference, description, metadata, \
            push_state, checkout_request_id, merchant_request_id, callback_secret, created_at, updated_at) ";
        match self {
            Db::Sqlite(p) => {
                sqlx::query(&format!(
                    "{COLS} WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x + 1 < $1) \
                     SELECT 'pay_bench' || x, 'pending', 10, '254708374149', 'B' || x, 'bench', '{{}}', 'accepted', \
                     'ws_CO_bench_' || x, 'bench-' || x, 'benchsecret' || x, $2, $2 FROM c"
                ))
                .bind(n as i64)
                .bind(now)
                .execute(p)
                .await?;
            }
            Db::Pg(p) => {
                sqlx::query(&format!(
                    "{COLS} SELECT 'pay_bench' || x::text, 'pending', 10, '254708374149', 'B' || x::text, 'bench', '{{}}', \
                     'accepted', 'ws_CO_bench_' || x::text, 'bench-' || x::text, 'benchsecret' || x::text, $2, $2 \
                     FROM generate_series(0, $1 - 1) AS x"
                ))
                .bind(n as i64)
                .bind(now)
                .execute(p)
                .await?;
            }
        }
        Ok(())
    }

    /// The floor's one table, with `n` pending rows whose callback secrets are `benchsecret{i}`.
    pub async fn setup_floor(&self, n: u64, now: i64) -> anyhow::Result<()> {
        on!(self, |p| {
            sqlx::query(
            "CREATE TABLE floor_payments (id TEXT PRIMARY KEY, status TEXT NOT NULL, amount BIGINT NOT NULL, \
             phone TEXT NOT NULL, reference TEXT NOT NULL, checkout_request_id TEXT, callback_secret TEXT NOT NULL UNIQUE, \
             receipt TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)"
        )
        .execute(p)
        .await
        .map(|_| ())
        })?;
        let seed = match self {
            Db::Sqlite(_) => {
                "INSERT INTO floor_payments (id, status, amount, phone, reference, checkout_request_id, callback_secret, \
                 created_at, updated_at) WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x + 1 < $1) \
                 SELECT 'pay_bench' || x, 'pending', 10, '254708374149', 'B' || x, 'ws_CO_bench_' || x, 'benchsecret' || x, \
                 $2, $2 FROM c"
            }
            Db::Pg(_) => {
                "INSERT INTO floor_payments (id, status, amount, phone, reference, checkout_request_id, callback_secret, \
                 created_at, updated_at) SELECT 'pay_bench' || x::text, 'pending', 10, '254708374149', 'B' || x::text, \
                 'ws_CO_bench_' || x::text, 'benchsecret' || x::text, $2, $2 FROM generate_series(0, $1 - 1) AS x"
            }
        };
        on!(self, |p| sqlx::query(seed).bind(n as i64).bind(now).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The floor's durable write for a callback: one committed UPDATE.
    pub async fn floor_settle(
        &self,
        secret: &str,
        status: &str,
        receipt: Option<&str>,
        now: i64,
    ) -> anyhow::Result<u64> {
        let r = on!(self, |p| {
            sqlx::query(
                "UPDATE floor_payments SET status = $1, receipt = $2, updated_at = $3 WHERE callback_secret = $4",
            )
            .bind(status)
            .bind(receipt)
            .bind(now)
            .bind(secret)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(r)
    }

    /// The floor's durable write for a push: one committed INSERT.
    #[allow(clippy::too_many_arguments)]
    pub async fn floor_insert(
        &self,
        id: &str,
        amount: i64,
        phone: &str,
        reference: &str,
        checkout: &str,
        secret: &str,
        now: i64,
    ) -> anyhow::Result<()> {
        on!(self, |p| {
            sqlx::query(
            "INSERT INTO floor_payments (id, status, amount, phone, reference, checkout_request_id, callback_secret, \
             created_at, updated_at) VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $7)"
        )
        .bind(id)
        .bind(amount)
        .bind(phone)
        .bind(reference)
        .bind(checkout)
        .bind(secret)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Every row a query returns, on whichever pool it is.
    pub async fn rows<T>(&self, sql: &str) -> anyhow::Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        Ok(on!(self, |p| sqlx::query_as(sql).fetch_all(p).await)?)
    }

    /// The number a `SELECT COUNT(*) …` returns.
    pub async fn count(&self, sql: &str) -> anyhow::Result<i64> {
        let row: (i64,) = on!(self, |p| sqlx::query_as(sql).fetch_one(p).await)?;
        Ok(row.0)
    }

    /// Payments by status in lipa's schema.
    pub async fn lipa_status_counts(&self) -> anyhow::Result<Vec<(String, i64)>> {
        self.rows("SELECT status, COUNT(*) FROM payments GROUP BY status ORDER BY status").await
    }

    /// Every payment of lipa's schema: id, status, callback secret, CheckoutRequestID, receipt.
    pub async fn lipa_payments(&self) -> anyhow::Result<Vec<(String, String, String, Option<String>, Option<String>)>> {
        self.rows("SELECT id, status, callback_secret, checkout_request_id, mpesa_receipt FROM payments ORDER BY seq")
            .await
    }

    /// Events per payment and type, where there is more than one.
    pub async fn lipa_doubled_events(&self) -> anyhow::Result<Vec<(String, String, i64)>> {
        self.rows("SELECT payment_id, type, COUNT(*) FROM events GROUP BY payment_id, type HAVING COUNT(*) > 1").await
    }

    /// Payments with more than one terminal event of any type.
    pub async fn lipa_multi_event_payments(&self) -> anyhow::Result<i64> {
        self.count("SELECT COUNT(*) FROM (SELECT payment_id FROM events GROUP BY payment_id HAVING COUNT(*) > 1) AS t")
            .await
    }

    pub async fn lipa_event_count(&self) -> anyhow::Result<i64> {
        self.count("SELECT COUNT(*) FROM events").await
    }

    pub async fn lipa_callback_count(&self) -> anyhow::Result<i64> {
        self.count("SELECT COUNT(*) FROM callbacks").await
    }
}

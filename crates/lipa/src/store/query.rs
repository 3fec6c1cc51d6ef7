//! Statements for any [`Backend`](super::sql::Backend): sqlx's query with the binds, row types and
//! executors this store uses, stated once.
//!
//! sqlx runs a statement on a generic database only under a list of bounds (the connection is an
//! executor, each bound value encodes, each row type decodes), and Rust does not carry a trait's `where`
//! clauses to the code that uses the trait. So each bound is a small trait here, implemented for every
//! database that meets it; `Backend` lists them as supertraits, which Rust does carry: generic code needs
//! `DB: Backend` and nothing more.

use std::future::Future;
use std::pin::Pin;

use sqlx::query::Query;
use sqlx::{Database, Executor, FromRow, IntoArguments, Pool};

use super::held::HeldPool;

type Q<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The database runs statements on its connections and pools.
pub trait Run: Database {
    fn execute<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Self::QueryResult>>;
    fn fetch_all<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Vec<Self::Row>>>;
    fn fetch_optional<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Option<Self::Row>>>;
}

impl<DB: Database> Run for DB
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    fn execute<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Self::QueryResult>> {
        match on {
            On::Conn(c) => Box::pin(q.execute(c)),
            On::Writer(w) => Box::pin(async move { q.execute(&mut *w.conn().await?).await }),
            On::Pool(p) => Box::pin(q.execute(p)),
        }
    }

    fn fetch_all<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Vec<Self::Row>>> {
        match on {
            On::Conn(c) => Box::pin(q.fetch_all(c)),
            On::Writer(w) => Box::pin(async move { q.fetch_all(&mut *w.conn().await?).await }),
            On::Pool(p) => Box::pin(q.fetch_all(p)),
        }
    }

    fn fetch_optional<'a, 'q: 'a>(q: Q<'q, Self>, on: On<'a, Self>) -> BoxFuture<'a, sqlx::Result<Option<Self::Row>>> {
        match on {
            On::Conn(c) => Box::pin(q.fetch_optional(c)),
            On::Writer(w) => Box::pin(async move { q.fetch_optional(&mut *w.conn().await?).await }),
            On::Pool(p) => Box::pin(q.fetch_optional(p)),
        }
    }
}

/// The database binds values of type `T` to statements of lifetime `'q`.
pub trait Binds<'q, T>: Database {
    fn bind_value(q: Q<'q, Self>, value: T) -> Q<'q, Self>;
}

impl<'q, DB: Database, T> Binds<'q, T> for DB
where
    T: sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send + 'q,
{
    fn bind_value(q: Q<'q, Self>, value: T) -> Q<'q, Self> {
        q.bind(value)
    }
}

/// The database's rows read as `O`.
pub trait Reads<O>: Database {
    fn read(row: &Self::Row) -> sqlx::Result<O>;
}

impl<DB: Database, O> Reads<O> for DB
where
    O: for<'r> FromRow<'r, DB::Row>,
{
    fn read(row: &Self::Row) -> sqlx::Result<O> {
        O::from_row(row)
    }
}

/// Where a statement runs: a held write connection (in a transaction or not), a write connection borrowed
/// for this one statement (which commits on its own), or the pool of readers.
pub enum On<'a, DB: Database> {
    Conn(&'a mut DB::Connection),
    Writer(&'a HeldPool<DB>),
    Pool(&'a Pool<DB>),
}

impl<'a, DB: Database> From<&'a Pool<DB>> for On<'a, DB> {
    fn from(p: &'a Pool<DB>) -> Self {
        On::Pool(p)
    }
}

impl<'a, DB: Database> From<&'a HeldPool<DB>> for On<'a, DB> {
    fn from(w: &'a HeldPool<DB>) -> Self {
        On::Writer(w)
    }
}

impl<'a, DB: Database> From<&'a mut DB::Connection> for On<'a, DB> {
    fn from(c: &'a mut DB::Connection) -> Self {
        On::Conn(c)
    }
}

/// A statement being built: `sql(text).bind(…)…` then `execute`, `fetch_all`, `fetch_optional` or
/// `fetch_one` on a connection, the writers or the readers, rows read as the type the caller asks for.
pub struct Sql<'q, DB: Database>(Q<'q, DB>);

pub fn sql<DB: Database>(text: &str) -> Sql<'_, DB> {
    Sql(sqlx::query(text))
}

impl<'q, DB: Run> Sql<'q, DB> {
    pub fn bind<T>(self, value: T) -> Self
    where
        DB: Binds<'q, T>,
    {
        Sql(DB::bind_value(self.0, value))
    }

    /// Runs the statement; what it changed as the database says it.
    pub async fn execute<'a>(self, on: impl Into<On<'a, DB>>) -> sqlx::Result<DB::QueryResult>
    where
        'q: 'a,
    {
        DB::execute(self.0, on.into()).await
    }

    pub async fn fetch_all<'a, O>(self, on: impl Into<On<'a, DB>>) -> sqlx::Result<Vec<O>>
    where
        'q: 'a,
        DB: Reads<O>,
    {
        DB::fetch_all(self.0, on.into()).await?.iter().map(DB::read).collect()
    }

    pub async fn fetch_optional<'a, O>(self, on: impl Into<On<'a, DB>>) -> sqlx::Result<Option<O>>
    where
        'q: 'a,
        DB: Reads<O>,
    {
        DB::fetch_optional(self.0, on.into()).await?.as_ref().map(DB::read).transpose()
    }

    pub async fn fetch_one<'a, O>(self, on: impl Into<On<'a, DB>>) -> sqlx::Result<O>
    where
        'q: 'a,
        DB: Reads<O>,
    {
        self.fetch_optional(on).await?.ok_or(sqlx::Error::RowNotFound)
    }
}

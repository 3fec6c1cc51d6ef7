//! Write connections that lipa holds itself rather than borrows from sqlx's pool.
//!
//! sqlx's pool pings every connection as it comes back (a round trip, in a task of its own), so the next
//! borrower of a pool of ONE connection — SQLite's one writer — waits for that ping after every write
//! (measured: 0.2–0.7 ms per transaction at 32 connections, a third of a callback batch). A [`HeldPool`] is
//! a fixed set of connections handed out under a semaphore with no ping: a transaction that was not
//! committed (an error, or a future dropped half-way) is rolled back by the next borrower before anything
//! else, and a connection that fails to roll back or to begin is dropped and opened again.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{ConnectOptions, Connection, Database};

use super::query::{sql, Run};
use tokio::sync::{Mutex, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

type Options<DB> = <<DB as Database>::Connection as Connection>::Options;

struct Slot<DB: Database> {
    conn: Option<DB::Connection>,
    /// A transaction was begun on this connection and not (known to be) committed.
    in_tx: bool,
}

/// A fixed set of write connections, opened on first use.
pub struct HeldPool<DB: Database> {
    slots: Vec<Arc<Mutex<Slot<DB>>>>,
    permits: Arc<Semaphore>,
    options: Options<DB>,
}

/// One borrowed connection, for statements that commit on their own.
pub struct Held<DB: Database> {
    // Dropped before the permit, so that whoever gets the permit next finds this slot free.
    slot: OwnedMutexGuard<Slot<DB>>,
    _permit: OwnedSemaphorePermit,
}

/// A transaction on a borrowed connection; dropped without [`HeldTx::commit`], it is rolled back by the
/// connection's next borrower.
pub struct HeldTx<DB: Database> {
    held: Held<DB>,
    /// The `BEGIN` not sent yet: SQLite's batch sends it in front of its first statement (one round trip
    /// fewer). None once it has gone.
    deferred_begin: Option<&'static str>,
    /// Whether the last write may carry the `COMMIT` (a deferred transaction's batch), and whether it did.
    commit_with_writes: bool,
    committed: bool,
}

impl<DB: Run> HeldPool<DB> {
    pub fn new(options: Options<DB>, size: usize) -> Self {
        let size = size.max(1);
        HeldPool {
            slots: (0..size).map(|_| Arc::new(Mutex::new(Slot { conn: None, in_tx: false }))).collect(),
            permits: Arc::new(Semaphore::new(size)),
            options,
        }
    }

    /// A connection with no transaction open.
    pub async fn conn(&self) -> Result<Held<DB>, sqlx::Error> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?;
        // The first free slot: the busiest connections stay the warm ones.
        let mut slot =
            (self.slots.iter()).find_map(|s| s.clone().try_lock_owned().ok()).ok_or(sqlx::Error::PoolClosed)?;
        if slot.in_tx {
            slot.in_tx = false;
            let rolled_back = match slot.conn.as_mut() {
                Some(c) => sql::<DB>("ROLLBACK").execute(&mut *c).await.is_ok(),
                None => true,
            };
            if !rolled_back {
                slot.conn = None;
            }
        }
        if slot.conn.is_none() {
            slot.conn = Some(self.options.connect().await?);
        }
        Ok(Held { slot, _permit: permit })
    }

    /// Begin a transaction with `begin` (`BEGIN`, or SQLite's `BEGIN IMMEDIATE`).
    pub async fn begin(&self, begin: &'static str) -> Result<HeldTx<DB>, sqlx::Error> {
        let mut tx = self.begin_deferred(begin).await?;
        tx.commit_with_writes = false;
        let begin = tx.begin_prefix();
        if let Err(e) = sql::<DB>(begin).execute(&mut *tx.held).await {
            // Whatever state it is in, this connection is not trusted again.
            tx.held.slot.conn = None;
            tx.held.slot.in_tx = false;
            return Err(e);
        }
        Ok(tx)
    }

    /// A transaction whose `begin` statement goes in front of the first query (see
    /// [`HeldTx::begin_prefix`]) and whose `COMMIT` may go after the last (see [`HeldTx::commit_suffix`]):
    /// SQLite runs a multi-statement query in one round trip.
    pub async fn begin_deferred(&self, begin: &'static str) -> Result<HeldTx<DB>, sqlx::Error> {
        let held = self.conn().await?;
        Ok(HeldTx { held, deferred_begin: Some(begin), commit_with_writes: true, committed: false })
    }
}

impl<DB: Run> HeldTx<DB> {
    /// The `BEGIN …;` to put in front of the next statement, the first time; then "". From here on the
    /// connection counts as inside a transaction until it commits.
    pub fn begin_prefix(&mut self) -> &'static str {
        match self.deferred_begin.take() {
            Some(begin) => {
                self.held.slot.in_tx = true;
                begin
            }
            None => "",
        }
    }

    /// `;COMMIT` to put after the last write of a deferred transaction (then [`HeldTx::committed_with`]
    /// once it ran), or "" when the transaction commits on its own.
    pub fn commit_suffix(&self) -> &'static str {
        if self.commit_with_writes && self.deferred_begin.is_none() {
            ";\nCOMMIT"
        } else {
            ""
        }
    }

    /// The statement carrying [`HeldTx::commit_suffix`] ran to its end: committed.
    pub fn committed_with(&mut self, suffix: &str) {
        if !suffix.is_empty() {
            self.committed = true;
            self.held.slot.in_tx = false;
        }
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        if self.committed || self.deferred_begin.is_some() {
            return Ok(());
        }
        sql::<DB>("COMMIT").execute(&mut *self.held).await?;
        self.held.slot.in_tx = false;
        Ok(())
    }
}

impl<DB: Database> Deref for Held<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        self.slot.conn.as_ref().expect("a held connection is open while borrowed")
    }
}

impl<DB: Database> DerefMut for Held<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.slot.conn.as_mut().expect("a held connection is open while borrowed")
    }
}

impl<DB: Database> Deref for HeldTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.held
    }
}

impl<DB: Database> DerefMut for HeldTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.held
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::sqlite::{Sqlite, SqliteConnectOptions};

    use super::HeldPool;

    async fn pool(dir: &tempfile::TempDir) -> HeldPool<Sqlite> {
        let path = dir.path().join("held.db");
        let opts =
            SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display())).unwrap().create_if_missing(true);
        let pool = HeldPool::new(opts, 1);
        let mut c = pool.conn().await.unwrap();
        sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)").execute(&mut *c).await.unwrap();
        drop(c);
        pool
    }

    async fn count(pool: &HeldPool<Sqlite>) -> i64 {
        let mut c = pool.conn().await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut *c).await.unwrap()
    }

    /// A transaction that inserts `v` and commits.
    async fn insert_committed(pool: &HeldPool<Sqlite>, v: i64) {
        let mut tx = pool.begin("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES ($1)").bind(v).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_transaction_dropped_without_commit_is_rolled_back_by_the_next_borrower() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        let mut tx = pool.begin("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (1)").execute(&mut *tx).await.unwrap();
        drop(tx);
        assert_eq!(count(&pool).await, 0, "the uncommitted insert must not be seen");
        // The connection is usable for a new transaction, which commits.
        insert_committed(&pool, 2).await;
        assert_eq!(count(&pool).await, 1);
    }

    #[tokio::test]
    async fn a_future_dropped_mid_transaction_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let pool = std::sync::Arc::new(pool(&dir).await);
        let inside = std::sync::Arc::new(tokio::sync::Notify::new());
        let task = tokio::spawn({
            let (pool, inside) = (pool.clone(), inside.clone());
            async move {
                let mut tx = pool.begin("BEGIN IMMEDIATE").await.unwrap();
                sqlx::query("INSERT INTO t (v) VALUES (1)").execute(&mut *tx).await.unwrap();
                inside.notify_one();
                // Never commits: the task is aborted here, as a request future is when its client goes away.
                std::future::pending::<()>().await;
                tx.commit().await.unwrap();
            }
        });
        inside.notified().await;
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        // The next borrower (the only slot) rolls the abandoned transaction back before using it.
        let next = tokio::time::timeout(Duration::from_secs(5), count(&pool)).await.expect("the slot is free again");
        assert_eq!(next, 0);
        insert_committed(&pool, 2).await;
        assert_eq!(count(&pool).await, 1);
    }

    #[tokio::test]
    async fn a_deferred_transaction_dropped_before_its_first_statement_needs_no_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir).await;
        let tx = pool.begin_deferred("BEGIN IMMEDIATE").await.unwrap();
        drop(tx);
        insert_committed(&pool, 3).await;
        assert_eq!(count(&pool).await, 1);
    }
}

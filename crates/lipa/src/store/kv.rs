//! Small shared values (the Daraja token, admin sessions, …) and leases: the `kv` table, one statement each,
//! committed on its own.

use super::query::sql;
use super::sql::{Backend, SqlStore};
use super::Result;

impl<DB: Backend> SqlStore<DB> {
    pub(super) async fn value(&self, key: &str) -> Result<Option<(String, Option<i64>)>> {
        Ok(sql::<DB>("SELECT v, expires_at FROM kv WHERE k = $1").bind(key).fetch_optional(&self.writer).await?)
    }

    pub(super) async fn put_value(&self, key: &str, value: &str, expires_at: Option<i64>) -> Result<()> {
        sql::<DB>(
            "INSERT INTO kv (k, v, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (k) DO UPDATE SET v = excluded.v, expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(value)
        .bind(expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Compare-and-delete.
    pub(super) async fn delete_value(&self, key: &str, value: &str) -> Result<()> {
        sql::<DB>("DELETE FROM kv WHERE k = $1 AND v = $2").bind(key).bind(value).execute(&self.writer).await?;
        Ok(())
    }

    /// Take or renew a lease: an expired one may be taken by anyone.
    pub(super) async fn lease(&self, key: &str, owner: &str, until: i64, now: i64) -> Result<bool> {
        let row: Option<(String,)> = sql::<DB>(
            "INSERT INTO kv (k, v, lease_owner, lease_until) VALUES ($1, '', $2, $3) \
             ON CONFLICT (k) DO UPDATE SET lease_owner = excluded.lease_owner, lease_until = excluded.lease_until \
             WHERE kv.lease_until IS NULL OR kv.lease_until < $4 OR kv.lease_owner = excluded.lease_owner \
             RETURNING lease_owner",
        )
        .bind(key)
        .bind(owner)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some_and(|r| r.0 == owner))
    }

    pub(super) async fn release(&self, key: &str, owner: &str) -> Result<()> {
        sql::<DB>("UPDATE kv SET lease_owner = NULL, lease_until = NULL WHERE k = $1 AND lease_owner = $2")
            .bind(key)
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

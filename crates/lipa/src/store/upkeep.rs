//! The store's housekeeping: what keeps the database bounded and lets an operator manage API keys — the
//! record of callbacks for unknown secrets (kept small), the retention of raw callback bodies, admin
//! sessions that must end, and API keys (`lipa keys list/revoke`, and the lookup of a request's key).

use async_trait::async_trait;

use super::query::sql;
use super::sql::{Backend, SqlStore};
use super::Result;

/// How many callbacks for unknown secrets are kept (the newest); older ones are deleted as new ones come.
/// With [`STRAY_BODY_MAX`] this bounds what strangers can store to about a megabyte plus one batch.
pub const STRAY_KEEP: i64 = 1000;

/// The most bytes of a callback body kept when its secret matches no payment.
pub const STRAY_BODY_MAX: usize = 1024;

/// Delete the callbacks for unknown secrets but the newest `$1` (run before a batch's rows are written).
pub(super) const TRIM_STRAYS: &str = "DELETE FROM callbacks WHERE payment_id IS NULL AND seq <= \
     (SELECT seq FROM callbacks WHERE payment_id IS NULL ORDER BY seq DESC LIMIT 1 OFFSET $1)";

/// The body kept of a callback whose secret matched nothing, and the note saying so.
pub fn stray_row(raw_body: &[u8]) -> (&[u8], String) {
    if raw_body.len() > STRAY_BODY_MAX {
        (
            &raw_body[..STRAY_BODY_MAX],
            format!("unknown secret (body cut to {STRAY_BODY_MAX} of {} bytes)", raw_body.len()),
        )
    } else {
        (raw_body, "unknown secret".to_string())
    }
}

/// An API key as `lipa keys list` shows it (never the key itself: only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// What `revoke_api_key` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already,
    NoSuchKey,
}

/// The prefix of admin sessions in the `kv` table.
pub const ADMIN_SESSION_PREFIX: &str = "admin_session:";

#[async_trait]
pub trait Upkeep {
    /// Every API key, oldest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>>;
    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<Revoked>;
    /// Delete admin sessions: those expired before `expired_before`, or all of them (None). Returns how many.
    async fn delete_admin_sessions(&self, expired_before: Option<i64>) -> Result<u64>;
    /// Raw bodies of callbacks received before `before`: those of payments are emptied (the row stays, as
    /// the payment's history line), those for unknown secrets are deleted. At most `limit` rows per call.
    /// Returns how many rows changed.
    async fn expire_callback_bodies(&self, before: i64, limit: i64) -> Result<u64>;
}

/// Keys, sessions and retention, for both databases.
#[async_trait]
impl<DB: Backend> Upkeep for SqlStore<DB> {
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        let rows: Vec<(String, String, i64, Option<i64>)> =
            sql::<DB>("SELECT id, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at, revoked_at)| ApiKeyInfo { id, name, created_at, revoked_at })
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<Revoked> {
        let mut conn = self.writer.conn().await?;
        let done = sql::<DB>("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        if DB::rows_affected(&done) > 0 {
            return Ok(Revoked::Now);
        }
        let found: Option<(String,)> =
            sql::<DB>("SELECT id FROM api_keys WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
        Ok(if found.is_some() { Revoked::Already } else { Revoked::NoSuchKey })
    }

    async fn delete_admin_sessions(&self, expired_before: Option<i64>) -> Result<u64> {
        let pattern = format!("{ADMIN_SESSION_PREFIX}%");
        let q = sql::<DB>(
            "DELETE FROM kv WHERE k LIKE $1 AND (CAST($2 AS BIGINT) IS NULL OR expires_at IS NULL OR expires_at < $2)",
        )
        .bind(pattern)
        .bind(expired_before);
        Ok(DB::rows_affected(&q.execute(&self.writer).await?))
    }

    async fn expire_callback_bodies(&self, before: i64, limit: i64) -> Result<u64> {
        let mut conn = self.writer.conn().await?;
        let deleted = sql::<DB>(
            "DELETE FROM callbacks WHERE seq IN (SELECT seq FROM callbacks \
             WHERE received_at < $1 AND payment_id IS NULL LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        let emptied = sql::<DB>(
            "UPDATE callbacks SET raw_body = $1, note = CASE WHEN note = 'parsed' THEN $2 ELSE note END \
             WHERE seq IN (SELECT seq FROM callbacks WHERE received_at < $3 AND payment_id IS NOT NULL \
             AND LENGTH(raw_body) > 0 LIMIT $4)",
        )
        .bind(Vec::<u8>::new())
        .bind(BODY_EXPIRED_NOTE)
        .bind(before)
        .bind(limit)
        .execute(&mut *conn)
        .await?;
        // The other bodies Safaricom sent (C2B, money-out results): their parsed facts stay in their rows.
        let mut others = 0;
        for table in ["c2b_transactions", "c2b_validations", "money_out_results"] {
            let q = format!(
                "UPDATE {table} SET raw_body = $1 WHERE seq IN (SELECT seq FROM {table} \
                 WHERE received_at < $2 AND LENGTH(raw_body) > 0 LIMIT $3)"
            );
            let done = sql::<DB>(&q).bind(Vec::<u8>::new()).bind(before).bind(limit).execute(&mut *conn).await?;
            others += DB::rows_affected(&done);
        }
        let reads =
            sql::<DB>("DELETE FROM balance_reads WHERE requested_at < $1").bind(before).execute(&mut *conn).await?;
        Ok(DB::rows_affected(&deleted) + DB::rows_affected(&emptied) + others + DB::rows_affected(&reads))
    }
}

/// Looking API keys up, for the [`Store`](super::Store) methods.
impl<DB: Backend> SqlStore<DB> {
    pub(super) async fn new_api_key(&self, id: &str, key_hash: &str, name: &str, now: i64) -> Result<()> {
        sql::<DB>("INSERT INTO api_keys (id, key_hash, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(key_hash)
            .bind(name)
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// The key's id when the hash belongs to a key that is not revoked.
    pub(super) async fn api_key(&self, key_hash: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sql::<DB>("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(key_hash)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(|r| r.0))
    }
}

/// The note of a parsed callback whose raw body was removed by the retention rule.
pub const BODY_EXPIRED_NOTE: &str = "parsed; raw body deleted after LIPA_CALLBACK_RETENTION";

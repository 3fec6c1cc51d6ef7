//! Counts for `/metrics` and the dashboard, read from the database (the same on every instance).

use super::query::sql;
use super::sql::{Backend, SqlStore};
use super::{OpsCounts, Result, StatsBucket};

impl<DB: Backend> SqlStore<DB> {
    pub(super) async fn counts(&self, now: i64) -> Result<OpsCounts> {
        let q = format!(
            "SELECT \
             (SELECT COUNT(*) FROM payments{} WHERE status = 'pending' AND next_check_at <= $1), \
             (SELECT COUNT(*) FROM events WHERE delivered_at IS NULL AND failed_at IS NULL), \
             (SELECT COUNT(*) FROM events WHERE failed_at IS NOT NULL), \
             (SELECT COUNT(*) FROM webhook_attempts WHERE outcome <> 'delivered')",
            DB::DUE_INDEX
        );
        let (checks_due, webhooks_queued, webhooks_gave_up, webhook_failed_attempts): (i64, i64, i64, i64) =
            sql::<DB>(&q).bind(now).fetch_one(&self.reader).await?;
        Ok(OpsCounts { checks_due, webhooks_queued, webhooks_gave_up, webhook_failed_attempts })
    }

    pub(super) async fn by_status(&self) -> Result<Vec<(String, i64)>> {
        Ok(sql::<DB>("SELECT status, COUNT(*) FROM payments GROUP BY status ORDER BY status")
            .fetch_all(&self.reader)
            .await?)
    }

    /// Payments created since `since`, per bucket of `bucket_ms` shifted by `offset_ms`.
    pub(super) async fn stats(&self, since: i64, bucket_ms: i64, offset_ms: i64) -> Result<Vec<StatsBucket>> {
        let bucket_ms = bucket_ms.max(1);
        let rows: Vec<(i64, i64, i64, i64, i64, i64)> = sql::<DB>(
            "SELECT CAST((created_at + $1) / $2 AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'needs_review' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN status = 'succeeded' THEN amount ELSE 0 END) AS BIGINT) \
             FROM payments WHERE created_at >= $3 GROUP BY 1 ORDER BY 1",
        )
        .bind(offset_ms)
        .bind(bucket_ms)
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(b, succeeded, failed, needs_review, pending, collected)| StatsBucket {
                start: b * bucket_ms - offset_ms,
                succeeded,
                failed,
                needs_review,
                pending,
                collected,
            })
            .collect())
    }
}

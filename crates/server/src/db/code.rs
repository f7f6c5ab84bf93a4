//! Code kernels' idempotency records: the first successful result of a
//! call with an idempotency key, per workspace and session.

use sqlx::Row;

use super::{Db, DbResult};

/// Where an idempotency key applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeKey {
    pub tenant: String,
    pub workspace: String,
    /// The session id, or "" for the shared kernels.
    pub session: String,
    pub key: String,
}

impl Db {
    /// The result stored for `key` at or after `since` (ms), as JSON.
    pub async fn code_result(&self, key: &CodeKey, since: i64) -> DbResult<Option<String>> {
        let row = sqlx::query(
            "SELECT result FROM code_results WHERE workspace_id = $1 AND session_key = $2 AND idempotency_key = $3 \
             AND tenant_id = $4 AND created_at >= $5",
        )
        .bind(&key.workspace)
        .bind(&key.session)
        .bind(&key.key)
        .bind(&key.tenant)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get("result").map_err(Into::into)).transpose()
    }

    /// Stores `result` (JSON) for `key`, replacing an expired one, and
    /// deletes every record older than `expired_before` (ms).
    pub async fn put_code_result(&self, key: &CodeKey, result: &str, now: i64, expired_before: i64) -> DbResult<()> {
        sqlx::query("DELETE FROM code_results WHERE created_at < $1")
            .bind(expired_before)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO code_results (tenant_id, workspace_id, session_key, idempotency_key, result, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (workspace_id, session_key, idempotency_key) DO UPDATE SET result = excluded.result, \
             created_at = excluded.created_at, tenant_id = excluded.tenant_id",
        )
        .bind(&key.tenant)
        .bind(&key.workspace)
        .bind(&key.session)
        .bind(&key.key)
        .bind(result)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

//! API keys: stored by hash, revoked, never deleted.

use sqlx::{FromRow, Row};

use super::{now_ms, Db, DbResult, Scope};

/// An API key row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub id: String,
    pub tenant_id: String,
    pub role: String,
    pub token_hash: String,
    pub label: Option<String>,
    pub source: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const KEY_COLUMNS: &str = "id, tenant_id, role, token_hash, label, source, created_at, revoked_at";

impl Db {
    /// Stores a key.
    pub async fn insert_key(&self, key: &KeyRow) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, role, token_hash, label, source, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.id)
        .bind(&key.tenant_id)
        .bind(&key.role)
        .bind(&key.token_hash)
        .bind(&key.label)
        .bind(&key.source)
        .bind(key.created_at)
        .bind(key.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The key with this token hash, whether revoked or not.
    pub async fn key_by_hash(&self, token_hash: &str) -> DbResult<Option<KeyRow>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| KeyRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Keys in scope, newest first.
    pub async fn list_keys(&self, scope: &Scope) -> DbResult<Vec<KeyRow>> {
        let (cond, tenant) = scope.condition(1);
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE {cond} ORDER BY created_at DESC, id"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| KeyRow::from_row(r).map_err(Into::into)).collect()
    }

    /// Revokes a key in scope; `false` if there is none (or it was revoked).
    pub async fn revoke_key(&self, scope: &Scope, id: &str) -> DbResult<bool> {
        let (cond, tenant) = scope.condition(3);
        let done = sqlx::query(&format!(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND {cond}"
        ))
        .bind(now_ms())
        .bind(id)
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether key `id` exists and is not revoked.
    pub async fn key_active(&self, id: &str) -> DbResult<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM api_keys WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Number of keys not revoked.
    pub async fn active_key_count(&self) -> DbResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }
}

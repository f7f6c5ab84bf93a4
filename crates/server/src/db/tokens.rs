//! Scoped tokens: stored by hash, bound to one workspace, revoked or
//! expired, never deleted.

use sqlx::FromRow;

use super::{now_ms, Db, DbResult, Scope};

/// A scoped token row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ScopedTokenRow {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    /// Capability names, comma-separated and sorted.
    pub capabilities: String,
    pub token_hash: String,
    pub label: Option<String>,
    /// The API key that minted it.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "id, tenant_id, workspace_id, capabilities, token_hash, label, created_by, created_at, expires_at, revoked_at";

/// Most tokens a workspace's list answers.
const LIST_LIMIT: i64 = 200;

impl Db {
    /// Stores a scoped token.
    pub async fn insert_scoped_token(&self, row: &ScopedTokenRow) -> DbResult<()> {
        sqlx::query(&format!(
            "INSERT INTO scoped_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(&row.workspace_id)
        .bind(&row.capabilities)
        .bind(&row.token_hash)
        .bind(&row.label)
        .bind(&row.created_by)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.revoked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The scoped token with this hash, whatever its state.
    pub async fn scoped_token_by_hash(&self, token_hash: &str) -> DbResult<Option<ScopedTokenRow>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM scoped_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| ScopedTokenRow::from_row(&r))
            .transpose()
            .map_err(Into::into)
    }

    /// A workspace's tokens in scope, newest first (at most 200).
    pub async fn list_scoped_tokens(&self, scope: &Scope, workspace_id: &str) -> DbResult<Vec<ScopedTokenRow>> {
        let (cond, tenant) = scope.condition(2);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM scoped_tokens WHERE workspace_id = $1 AND {cond} \
             ORDER BY created_at DESC, id LIMIT {LIST_LIMIT}"
        ))
        .bind(workspace_id)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| ScopedTokenRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Revokes a workspace's token in scope; `false` if there is none (or
    /// it was revoked already).
    pub async fn revoke_scoped_token(&self, scope: &Scope, workspace_id: &str, id: &str) -> DbResult<bool> {
        let (cond, tenant) = scope.condition(4);
        let done = sqlx::query(&format!(
            "UPDATE scoped_tokens SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 \
             AND revoked_at IS NULL AND {cond}"
        ))
        .bind(now_ms())
        .bind(id)
        .bind(workspace_id)
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

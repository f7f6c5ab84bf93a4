//! Previews in the database: one row per exposed port of a workspace,
//! active until revoked, replaced or expired. Rows survive restarts; the
//! relay's short memory of them is in `services::previews`.

use sqlx::FromRow;

use super::{Db, DbResult};

/// A preview record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PreviewRow {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: String,
    pub port: i64,
    /// 1 for a public preview.
    pub public: i64,
    /// The workspace domain this preview serves (agentjail's workspace
    /// `domains`), or `NULL` for a port preview.
    pub hostname: Option<String>,
    /// BLAKE3 of a private preview's secret.
    pub secret_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl PreviewRow {
    /// Whether the preview works at `now` (neither revoked nor expired).
    pub fn active_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

const COLUMNS: &str =
    "id, tenant_id, workspace_id, port, public, hostname, secret_hash, created_at, expires_at, revoked_at";
/// The same columns qualified by the `p` alias.
const P_COLUMNS: &str = "p.id, p.tenant_id, p.workspace_id, p.port, p.public, p.hostname, p.secret_hash, \
     p.created_at, p.expires_at, p.revoked_at";

async fn insert_preview(tx: &mut sqlx::Transaction<'_, sqlx::Any>, row: &PreviewRow) -> DbResult<()> {
    sqlx::query(&format!(
        "INSERT INTO previews ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(&row.id)
    .bind(&row.tenant_id)
    .bind(&row.workspace_id)
    .bind(row.port)
    .bind(row.public)
    .bind(&row.hostname)
    .bind(&row.secret_hash)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.revoked_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Stores a new preview, revoking (at `row.created_at`) any active one
    /// of the same workspace and port, in one transaction.
    pub async fn replace_preview(&self, row: &PreviewRow) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE previews SET revoked_at = $1 WHERE workspace_id = $2 AND port = $3 AND hostname IS NULL AND revoked_at IS NULL")
            .bind(row.created_at)
            .bind(&row.workspace_id)
            .bind(row.port)
            .execute(&mut *tx)
            .await?;
        insert_preview(&mut tx, row).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores the previews of a workspace's domains, all or none (a domain
    /// another workspace serves fails the unique index).
    pub async fn insert_domain_previews(&self, rows: &[PreviewRow]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        for row in rows {
            insert_preview(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The active preview serving a workspace domain, if its workspace is
    /// not deleted.
    pub async fn domain_preview(&self, hostname: &str) -> DbResult<Option<PreviewRow>> {
        let row = sqlx::query(&format!(
            "SELECT {P_COLUMNS} FROM previews p JOIN workspaces w ON w.id = p.workspace_id \
             WHERE p.hostname = $1 AND p.revoked_at IS NULL AND w.deleted_at IS NULL LIMIT 1"
        ))
        .bind(hostname)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| PreviewRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Every preview of a workspace, newest first.
    pub async fn workspace_previews(&self, workspace_id: &str) -> DbResult<Vec<PreviewRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM previews WHERE workspace_id = $1 ORDER BY created_at DESC, id"
        ))
        .bind(workspace_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(PreviewRow::from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes one preview of a workspace; whether it was active.
    pub async fn revoke_preview(&self, workspace_id: &str, id: &str, now: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE previews SET revoked_at = $1 WHERE id = $2 AND workspace_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(workspace_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Revokes every preview of a workspace (it was deleted).
    pub async fn revoke_workspace_previews(&self, workspace_id: &str, now: i64) -> DbResult<u64> {
        let done = sqlx::query("UPDATE previews SET revoked_at = $1 WHERE workspace_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(workspace_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The active preview of a workspace's port at `now`, if the workspace
    /// is not deleted.
    pub async fn active_preview(&self, workspace_id: &str, port: u16, now: i64) -> DbResult<Option<PreviewRow>> {
        let row = sqlx::query(&format!(
            "SELECT {P_COLUMNS} FROM previews p JOIN workspaces w ON w.id = p.workspace_id \
             WHERE p.workspace_id = $1 AND p.port = $2 AND p.hostname IS NULL AND p.revoked_at IS NULL \
             AND (p.expires_at IS NULL OR p.expires_at > $3) AND w.deleted_at IS NULL \
             ORDER BY p.created_at DESC LIMIT 1"
        ))
        .bind(workspace_id)
        .bind(i64::from(port))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| PreviewRow::from_row(&r)).transpose().map_err(Into::into)
    }
}

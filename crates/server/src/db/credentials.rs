//! Upstream credentials, sealed with the master key.

use sqlx::FromRow;

use super::{Db, DbResult, Scope};

/// A stored (encrypted) upstream credential.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CredentialRow {
    pub tenant_id: String,
    pub service: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub fingerprint: String,
    pub added_at: i64,
    pub updated_at: i64,
}

const CREDENTIAL_COLUMNS: &str = "tenant_id, service, nonce, ciphertext, fingerprint, added_at, updated_at";

impl Db {
    /// Inserts or replaces a tenant's credential for a service; returns the
    /// stored row (with the original `added_at` on replacement).
    pub async fn put_credential(&self, row: &CredentialRow) -> DbResult<CredentialRow> {
        sqlx::query(
            "INSERT INTO credentials (tenant_id, service, nonce, ciphertext, fingerprint, added_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, service) DO UPDATE SET nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
        )
        .bind(&row.tenant_id)
        .bind(&row.service)
        .bind(&row.nonce)
        .bind(&row.ciphertext)
        .bind(&row.fingerprint)
        .bind(row.added_at)
        .bind(row.updated_at)
        .execute(&self.pool)
        .await?;
        let stored = self.credential(&row.tenant_id, &row.service).await?;
        Ok(stored.unwrap_or_else(|| row.clone()))
    }

    /// One tenant's credential for a service.
    pub async fn credential(&self, tenant: &str, service: &str) -> DbResult<Option<CredentialRow>> {
        let row = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE tenant_id = $1 AND service = $2"
        ))
        .bind(tenant)
        .bind(service)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| CredentialRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Credentials in scope.
    pub async fn list_credentials(&self, scope: &Scope) -> DbResult<Vec<CredentialRow>> {
        let (cond, tenant) = scope.condition(1);
        let rows = sqlx::query(&format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE {cond} ORDER BY tenant_id, service"
        ))
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| CredentialRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Deletes a tenant's credential; `false` if there was none.
    pub async fn delete_credential(&self, tenant: &str, service: &str) -> DbResult<bool> {
        let done = sqlx::query("DELETE FROM credentials WHERE tenant_id = $1 AND service = $2")
            .bind(tenant)
            .bind(service)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

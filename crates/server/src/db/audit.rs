//! The audit log: proxied requests and control-plane actions.

use sqlx::FromRow;

use super::{now_ms, Db, DbResult, Scope};

/// An audit row: a proxied request or a control-plane action.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    #[serde(skip)]
    #[sqlx(rename = "at")]
    pub at_ms: i64,
    #[serde(skip)]
    pub tenant_id: String,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub session_id: Option<String>,
    pub service: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i64>,
    pub reject_reason: Option<String>,
    pub upstream_ms: Option<f64>,
}

impl Db {
    /// Appends an audit row.
    pub async fn insert_audit(&self, row: &AuditRow) -> DbResult<()> {
        self.insert_audit_batch(std::slice::from_ref(row)).await
    }

    /// Appends audit rows in one transaction.
    pub async fn insert_audit_batch(&self, rows: &[AuditRow]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        for row in rows {
            insert_audit_row(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes up to `limit` audit rows older than `before` (Unix ms),
    /// oldest first; returns how many (fewer than `limit`: none are left).
    pub async fn prune_audit(&self, before: i64, limit: i64) -> DbResult<u64> {
        // See `prune_jails`: the scan stops at the first recent row.
        let done = sqlx::query(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE \
             id < COALESCE((SELECT id FROM audit WHERE at >= $1 ORDER BY id LIMIT 1), 9223372036854775807) \
             AND at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Audit rows in scope, newest first, and how many there are in all:
    /// the phantom proxy's requests, or (`actions`) control-plane actions.
    pub async fn list_audit(
        &self,
        scope: &Scope,
        actions: bool,
        limit: i64,
        offset: i64,
    ) -> DbResult<(Vec<AuditRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let cond = if actions {
            format!("action IS NOT NULL AND {cond}")
        } else {
            format!("action IS NULL AND {cond}")
        };
        let rows = sqlx::query(&format!(
            "SELECT id, at, tenant_id, actor, action, target, session_id, service, method, path, status, \
             reject_reason, upstream_ms FROM audit WHERE {cond} ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(tenant.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total = self
            .count(&format!("SELECT COUNT(*) AS n FROM audit WHERE {cond}"), tenant)
            .await?;
        let rows = rows.iter().map(AuditRow::from_row).collect::<Result<_, _>>()?;
        Ok((rows, total))
    }
}

async fn insert_audit_row(tx: &mut sqlx::Transaction<'_, sqlx::Any>, row: &AuditRow) -> DbResult<()> {
    // Not a cached prepared statement: sqlx's Any driver (0.8) binds a NULL
    // `Option<f64>` as a 4-byte float, so a statement prepared for a row
    // without `upstream_ms` would refuse the next row's 8-byte value on
    // PostgreSQL.
    sqlx::query(
        "INSERT INTO audit (at, tenant_id, actor, action, target, session_id, service, method, path, status, \
             reject_reason, upstream_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(if row.at_ms == 0 { now_ms() } else { row.at_ms })
    .bind(&row.tenant_id)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.target)
    .bind(&row.session_id)
    .bind(&row.service)
    .bind(&row.method)
    .bind(&row.path)
    .bind(row.status)
    .bind(&row.reject_reason)
    .bind(row.upstream_ms)
    .persistent(false)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

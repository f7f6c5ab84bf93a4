//! Coding agents' ACP servers and their transcripts: every JSON-RPC
//! envelope with a monotonic index per server.

use sqlx::Row;

use super::{Db, DbResult};

/// One ACP server of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AcpServerRow {
    pub workspace_id: String,
    pub server_id: String,
    pub tenant_id: String,
    pub agent: String,
    pub created_at: i64,
    pub exited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    pub phantom_session: Option<String>,
}

/// One stored envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpEventRow {
    pub index: i64,
    pub outbound: bool,
    pub envelope: String,
    pub created_at: i64,
}

impl Db {
    /// Stores a new server; false when the id is taken in the workspace.
    pub async fn insert_acp_server(&self, row: &AcpServerRow) -> DbResult<bool> {
        let done = sqlx::query(
            "INSERT INTO acp_servers (workspace_id, server_id, tenant_id, agent, created_at, exited_at) \
             VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (workspace_id, server_id) DO NOTHING",
        )
        .bind(&row.workspace_id)
        .bind(&row.server_id)
        .bind(&row.tenant_id)
        .bind(&row.agent)
        .bind(row.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// One server of a workspace.
    pub async fn acp_server(&self, workspace: &str, server: &str) -> DbResult<Option<AcpServerRow>> {
        Ok(sqlx::query_as::<_, AcpServerRow>(
            "SELECT workspace_id, server_id, tenant_id, agent, created_at, exited_at, deleted_at, phantom_session FROM acp_servers \
             WHERE workspace_id = $1 AND server_id = $2",
        )
        .bind(workspace)
        .bind(server)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A workspace's servers that were not deleted, oldest first.
    pub async fn acp_servers(&self, workspace: &str) -> DbResult<Vec<AcpServerRow>> {
        Ok(sqlx::query_as::<_, AcpServerRow>(
            "SELECT workspace_id, server_id, tenant_id, agent, created_at, exited_at, deleted_at, phantom_session FROM acp_servers \
             WHERE workspace_id = $1 AND deleted_at IS NULL ORDER BY created_at, server_id",
        )
        .bind(workspace)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Notes that a server's agent process ended (once).
    pub async fn acp_server_exited(&self, workspace: &str, server: &str, at: i64) -> DbResult<()> {
        sqlx::query(
            "UPDATE acp_servers SET exited_at = $1 WHERE workspace_id = $2 AND server_id = $3 AND exited_at IS NULL",
        )
        .bind(at)
        .bind(workspace)
        .bind(server)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Servers whose agent process was not seen to end.
    pub async fn acp_servers_not_exited(&self) -> DbResult<Vec<AcpServerRow>> {
        Ok(sqlx::query_as::<_, AcpServerRow>(
            "SELECT workspace_id, server_id, tenant_id, agent, created_at, exited_at, deleted_at, phantom_session FROM acp_servers \
             WHERE exited_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records the phantom session a server's agent holds.
    pub async fn set_acp_phantom_session(&self, workspace: &str, server: &str, session: &str) -> DbResult<()> {
        sqlx::query("UPDATE acp_servers SET phantom_session = $1 WHERE workspace_id = $2 AND server_id = $3")
            .bind(session)
            .bind(workspace)
            .bind(server)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes every server and transcript of a deleted workspace.
    pub async fn delete_workspace_acp(&self, workspace: &str) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM acp_events WHERE workspace_id = $1")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM acp_servers WHERE workspace_id = $1")
            .bind(workspace)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a server deleted (its transcript is kept); false when there
    /// was none to delete.
    pub async fn mark_acp_server_deleted(&self, workspace: &str, server: &str, at: i64) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE acp_servers SET deleted_at = $1, exited_at = COALESCE(exited_at, $1) \
             WHERE workspace_id = $2 AND server_id = $3 AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(workspace)
        .bind(server)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a server and its transcript; false when there was none.
    pub async fn delete_acp_server(&self, workspace: &str, server: &str) -> DbResult<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM acp_events WHERE workspace_id = $1 AND server_id = $2")
            .bind(workspace)
            .bind(server)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM acp_servers WHERE workspace_id = $1 AND server_id = $2")
            .bind(workspace)
            .bind(server)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Appends an envelope at `index` (the caller keeps indexes in order).
    pub async fn insert_acp_event(&self, workspace: &str, server: &str, event: &AcpEventRow) -> DbResult<()> {
        sqlx::query(
            "INSERT INTO acp_events (workspace_id, server_id, event_index, outbound, envelope, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(workspace)
        .bind(server)
        .bind(event.index)
        .bind(i64::from(event.outbound))
        .bind(&event.envelope)
        .bind(event.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The highest index stored for a server (0 when none).
    pub async fn last_acp_event(&self, workspace: &str, server: &str) -> DbResult<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(event_index), 0) AS last FROM acp_events WHERE workspace_id = $1 AND server_id = $2",
        )
        .bind(workspace)
        .bind(server)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("last")?)
    }

    /// Envelopes after `since`, in order, at most `limit`; only the agent's
    /// (`inbound`) when `inbound_only`.
    pub async fn acp_events(
        &self,
        workspace: &str,
        server: &str,
        since: i64,
        limit: i64,
        inbound_only: bool,
    ) -> DbResult<Vec<AcpEventRow>> {
        let filter = if inbound_only { " AND outbound = 0" } else { "" };
        let rows = sqlx::query(&format!(
            "SELECT event_index, outbound, envelope, created_at FROM acp_events \
             WHERE workspace_id = $1 AND server_id = $2 AND event_index > $3{filter} ORDER BY event_index LIMIT $4"
        ))
        .bind(workspace)
        .bind(server)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AcpEventRow {
                    index: r.try_get("event_index")?,
                    outbound: r.try_get::<i64, _>("outbound")? != 0,
                    envelope: r.try_get("envelope")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

//! Workspaces and snapshots in the database: workspace records (the tree
//! itself lives in the state directory), snapshot records with their
//! manifests, and the blob references garbage collection counts as live.

use sqlx::{FromRow, Row};

use super::{now_ms, Db, DbResult, Scope};

/// A workspace record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WorkspaceRow {
    pub id: String,
    pub tenant_id: String,
    pub created_at: i64,
    pub deleted_at: Option<i64>,
    pub label: Option<String>,
    /// JSON of the workspace's settings (limits, network, flavors...).
    pub spec: String,
    pub git_repo: Option<String>,
    pub git_ref: Option<String>,
    pub last_exec_at: Option<i64>,
    pub paused_at: Option<i64>,
    /// The snapshot holding the tree while the workspace is paused.
    pub auto_snapshot: Option<String>,
    /// What the workspace counts against its tenant's storage budget: its
    /// disk limit, or the bytes a fork restored into it.
    pub charged_bytes: i64,
}

/// A snapshot record without its manifest.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotRow {
    pub id: String,
    pub tenant_id: String,
    pub workspace_id: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
    pub size_bytes: i64,
    pub file_count: i64,
    /// 1 when a running exec was frozen for the copy.
    pub frozen: i64,
    /// 1 for the snapshot an idle pause took.
    pub auto: i64,
    /// Allocated bytes of its distinct blobs in the pool (what it counts
    /// against its tenant's storage budget unless `auto`).
    pub stored_bytes: i64,
}

const WORKSPACE_COLUMNS: &str =
    "id, tenant_id, created_at, deleted_at, label, spec, git_repo, git_ref, last_exec_at, paused_at, auto_snapshot, charged_bytes";
const SNAPSHOT_COLUMNS: &str =
    "id, tenant_id, workspace_id, name, created_at, size_bytes, file_count, frozen, auto, stored_bytes";

/// `%text%` for a LIKE search, with the wildcards of the text removed.
fn like(q: Option<&str>) -> String {
    q.filter(|q| !q.is_empty())
        .map(|q| format!("%{}%", q.replace(['%', '_'], "").to_lowercase()))
        .unwrap_or_default()
}

impl Db {
    /// Stores a new workspace.
    /// Whether the database has ever recorded a workspace (deleted ones
    /// included) or holds a snapshot.
    pub async fn has_workspace_records(&self) -> DbResult<bool> {
        let row = sqlx::query("SELECT (SELECT COUNT(*) FROM workspaces) + (SELECT COUNT(*) FROM snapshots) AS n")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    pub async fn insert_workspace(&self, row: &WorkspaceRow) -> DbResult<()> {
        sqlx::query(&format!(
            "INSERT INTO workspaces ({WORKSPACE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(row.created_at)
        .bind(row.deleted_at)
        .bind(&row.label)
        .bind(&row.spec)
        .bind(&row.git_repo)
        .bind(&row.git_ref)
        .bind(row.last_exec_at)
        .bind(row.paused_at)
        .bind(&row.auto_snapshot)
        .bind(row.charged_bytes)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A workspace in scope that is not deleted.
    pub async fn workspace(&self, scope: &Scope, id: &str) -> DbResult<Option<WorkspaceRow>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1 AND deleted_at IS NULL AND {cond}"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| WorkspaceRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// A workspace in scope, deleted or not.
    pub async fn workspace_any(&self, scope: &Scope, id: &str) -> DbResult<Option<WorkspaceRow>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1 AND {cond}"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| WorkspaceRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// Workspaces in scope, newest first, searched by id, label or repository.
    pub async fn list_workspaces(
        &self,
        scope: &Scope,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> DbResult<(Vec<WorkspaceRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let filter = format!(
            "deleted_at IS NULL AND {cond} AND ($2 = '' OR LOWER(id) LIKE $2 OR LOWER(COALESCE(label, '')) LIKE $2 \
             OR LOWER(COALESCE(git_repo, '')) LIKE $2)"
        );
        let q = like(q);
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE {filter} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
        ))
        .bind(tenant.clone())
        .bind(q.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM workspaces WHERE {filter}"))
            .bind(tenant)
            .bind(q)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((
            rows.iter().map(WorkspaceRow::from_row).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Every workspace that is neither deleted nor paused (idle checks).
    pub async fn active_workspaces(&self) -> DbResult<Vec<WorkspaceRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE deleted_at IS NULL AND paused_at IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| WorkspaceRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Every workspace that is not deleted, paused or not (startup repairs).
    pub async fn undeleted_workspaces(&self) -> DbResult<Vec<WorkspaceRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE deleted_at IS NULL"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| WorkspaceRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Sets a workspace's label; `false` when there is no such workspace.
    pub async fn set_workspace_label(&self, scope: &Scope, id: &str, label: Option<&str>) -> DbResult<bool> {
        let (cond, tenant) = scope.condition(3);
        let done = sqlx::query(&format!(
            "UPDATE workspaces SET label = $1 WHERE id = $2 AND deleted_at IS NULL AND {cond}"
        ))
        .bind(label)
        .bind(id)
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that an exec started now.
    pub async fn touch_workspace(&self, id: &str) -> DbResult<()> {
        sqlx::query("UPDATE workspaces SET last_exec_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks a workspace paused, its tree held by `snapshot`, or (with
    /// `None`) resumed.
    pub async fn set_workspace_paused(&self, id: &str, snapshot: Option<&str>) -> DbResult<()> {
        sqlx::query("UPDATE workspaces SET paused_at = $1, auto_snapshot = $2 WHERE id = $3")
            .bind(snapshot.map(|_| now_ms()))
            .bind(snapshot)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Soft-deletes a workspace in scope; `false` when there is none.
    pub async fn delete_workspace(&self, scope: &Scope, id: &str) -> DbResult<bool> {
        let (cond, tenant) = scope.condition(3);
        let done = sqlx::query(&format!(
            "UPDATE workspaces SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL AND {cond}"
        ))
        .bind(now_ms())
        .bind(id)
        .bind(tenant)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores a snapshot, its manifest and its blob references at once.
    pub async fn insert_snapshot(&self, row: &SnapshotRow, manifest: &str, blobs: &[String]) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO snapshots ({SNAPSHOT_COLUMNS}, manifest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&row.id)
        .bind(&row.tenant_id)
        .bind(&row.workspace_id)
        .bind(&row.name)
        .bind(row.created_at)
        .bind(row.size_bytes)
        .bind(row.file_count)
        .bind(row.frozen)
        .bind(row.auto)
        .bind(row.stored_bytes)
        .bind(manifest)
        .execute(&mut *tx)
        .await?;
        for hash in blobs {
            sqlx::query("INSERT INTO snapshot_blobs (snapshot_id, hash) VALUES ($1, $2)")
                .bind(&row.id)
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A snapshot in scope.
    pub async fn snapshot(&self, scope: &Scope, id: &str) -> DbResult<Option<SnapshotRow>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = $1 AND {cond}"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| SnapshotRow::from_row(&r)).transpose().map_err(Into::into)
    }

    /// The manifest (JSON) of a snapshot in scope.
    pub async fn snapshot_manifest(&self, scope: &Scope, id: &str) -> DbResult<Option<String>> {
        let (cond, tenant) = scope.condition(2);
        let row = sqlx::query(&format!("SELECT manifest FROM snapshots WHERE id = $1 AND {cond}"))
            .bind(id)
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("manifest")).transpose()?)
    }

    /// Snapshots in scope, newest first, of one workspace or all, searched
    /// by id or name.
    pub async fn list_snapshots(
        &self,
        scope: &Scope,
        workspace_id: Option<&str>,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> DbResult<(Vec<SnapshotRow>, i64)> {
        let (cond, tenant) = scope.condition(1);
        let filter = format!(
            "{cond} AND ($2 = '' OR workspace_id = $2) AND ($3 = '' OR LOWER(id) LIKE $3 OR LOWER(COALESCE(name, '')) LIKE $3)"
        );
        let (workspace, q) = (workspace_id.unwrap_or_default().to_owned(), like(q));
        let rows = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE {filter} ORDER BY created_at DESC, id LIMIT $4 OFFSET $5"
        ))
        .bind(tenant.clone())
        .bind(workspace.clone())
        .bind(q.clone())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM snapshots WHERE {filter}"))
            .bind(tenant)
            .bind(workspace)
            .bind(q)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok((rows.iter().map(SnapshotRow::from_row).collect::<Result<_, _>>()?, total))
    }

    /// Every snapshot, newest first (retention).
    pub async fn all_snapshots(&self) -> DbResult<Vec<SnapshotRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY tenant_id, created_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| SnapshotRow::from_row(r).map_err(Into::into))
            .collect()
    }

    /// Whether a workspace that is not deleted holds its tree in this snapshot.
    pub async fn snapshot_holds_a_paused_workspace(&self, id: &str) -> DbResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM workspaces WHERE auto_snapshot = $1 AND deleted_at IS NULL AND paused_at IS NOT NULL",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Deletes a snapshot in scope and its blob references; `false` when
    /// there is none.
    pub async fn delete_snapshot(&self, scope: &Scope, id: &str) -> DbResult<bool> {
        let (cond, tenant) = scope.condition(2);
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!("DELETE FROM snapshots WHERE id = $1 AND {cond}"))
            .bind(id)
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM snapshot_blobs WHERE snapshot_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The blobs (hex) one snapshot refers to.
    pub async fn snapshot_blobs(&self, id: &str) -> DbResult<Vec<String>> {
        let rows = sqlx::query("SELECT hash FROM snapshot_blobs WHERE snapshot_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("hash").map_err(Into::into)).collect()
    }

    /// Every blob a snapshot other than `id` refers to (hex): the live set
    /// when `id` is about to go.
    pub async fn live_blobs_except(&self, id: &str) -> DbResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT hash FROM snapshot_blobs WHERE snapshot_id <> $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("hash").map_err(Into::into)).collect()
    }

    /// What `tenant` holds against its storage budget: the charges of its
    /// workspaces (deleted ones excepted) and the stored bytes of its
    /// snapshots (a pause's own excepted: that is the workspace's tree,
    /// already charged).
    pub async fn tenant_storage_bytes(&self, tenant: &str) -> DbResult<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE((SELECT SUM(charged_bytes) FROM workspaces WHERE tenant_id = $1 AND deleted_at IS NULL), 0) \
             + COALESCE((SELECT SUM(stored_bytes) FROM snapshots WHERE tenant_id = $1 AND auto = 0), 0) AS BIGINT) AS n",
        )
        .bind(tenant)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// Snapshots stored before their stored bytes were recorded (schema 7)
    /// that hold something.
    pub async fn snapshots_without_stored_bytes(&self) -> DbResult<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM snapshots WHERE stored_bytes = 0 AND size_bytes > 0")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("id").map_err(Into::into)).collect()
    }

    /// Records what workspace `id` is charged against its tenant's storage.
    pub async fn set_workspace_charge(&self, id: &str, bytes: i64) -> DbResult<()> {
        sqlx::query("UPDATE workspaces SET charged_bytes = $2 WHERE id = $1")
            .bind(id)
            .bind(bytes)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records what snapshot `id` holds in the pool.
    pub async fn set_snapshot_stored_bytes(&self, id: &str, bytes: i64) -> DbResult<()> {
        sqlx::query("UPDATE snapshots SET stored_bytes = $2 WHERE id = $1")
            .bind(id)
            .bind(bytes)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every blob some snapshot refers to (hex), the live set of GC.
    pub async fn live_blobs(&self) -> DbResult<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT hash FROM snapshot_blobs")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| r.try_get("hash").map_err(Into::into)).collect()
    }
}

//! Snapshots of workspace trees (incremental, through each workspace's
//! stat cache), restores into new trees, idle pause and resume, and the
//! snapshot routes' reads and deletes.

use std::collections::HashSet;

use paddock_api::workspaces::{SnapshotList, SnapshotManifest, SnapshotManifestEntry, SnapshotRecord};
use paddock_api::{Error, ErrorCode};
use paddock_store::{BlobHash, Manifest, StatCache};

use super::{blocking, check_label, lock, store_error, InFlight, Slot, StoredSpec, Workspaces};
use crate::config::Role;
use crate::crypto::new_id;
use crate::db::{now_ms, DbFault, Scope, SnapshotRow, WorkspaceRow};
use crate::services::identity::Caller;
use crate::services::rfc3339;

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SnapshotKind {
    /// Asked for by a client (or a fork).
    Requested,
    /// Taken by an idle pause; it holds the tree until the next exec.
    Pause,
}

impl Workspaces {
    fn cache_file(&self, id: &str) -> std::path::PathBuf {
        self.dir(id).join("stat-cache.json")
    }

    fn read_cache(&self, id: &str) -> Option<StatCache> {
        let text = std::fs::read(self.cache_file(id)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn write_cache(&self, id: &str, cache: &StatCache) {
        let path = self.cache_file(id);
        let tmp = path.with_extension("tmp");
        let written = serde_json::to_vec(cache)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(err) = written {
            // Only a cost: the next snapshot reads every file.
            tracing::warn!(%err, workspace = id, "writing the stat cache");
        }
    }

    /// The wire form of a snapshot row; the pool's path only for admins.
    fn snapshot_wire(&self, caller: &Caller, row: &SnapshotRow) -> SnapshotRecord {
        SnapshotRecord {
            id: row.id.clone(),
            workspace_id: row.workspace_id.clone(),
            name: row.name.clone(),
            created_at: rfc3339(row.created_at),
            path: if caller.role == Role::Admin {
                self.pool().root().display().to_string()
            } else {
                String::new()
            },
            size_bytes: row.size_bytes,
            file_count: row.file_count,
            frozen: row.frozen != 0,
            auto: row.auto != 0,
            stored_bytes: row.stored_bytes,
        }
    }

    /// Snapshots one of the caller's workspaces; a running exec is frozen
    /// for the copy.
    pub async fn snapshot(&self, caller: &Caller, id: &str, name: Option<String>) -> Result<SnapshotRecord, Error> {
        check_label(&name)?;
        let row = self.find(caller, id).await?;
        self.inner.disk.ensure_room("snapshot a workspace")?;
        let _storage = self.storage_lock(&row.tenant_id).await;
        let snap = self.take_snapshot(&row, name, SnapshotKind::Requested).await?;
        self.refund_unless_it_fits(&snap, 0, "snapshot this workspace").await?;
        self.inner.audit.record(caller, "snapshot.create", &snap.id).await;
        Ok(self.snapshot_wire(caller, &snap))
    }

    /// Snapshots a workspace (freezing its running exec for the copy).
    pub(super) async fn take_snapshot(
        &self,
        row: &WorkspaceRow,
        name: Option<String>,
        kind: SnapshotKind,
    ) -> Result<SnapshotRow, Error> {
        let slot = self.slot(&row.id);
        let _maintenance = slot.maintenance.lock().await;
        self.snapshot_locked(row, name, kind, &slot).await
    }

    pub(super) async fn snapshot_locked(
        &self,
        row: &WorkspaceRow,
        name: Option<String>,
        kind: SnapshotKind,
        slot: &Slot,
    ) -> Result<SnapshotRow, Error> {
        // File operations finish first, and none starts during the copy.
        let _tree = slot.tree.write().await;
        let _in_flight = InFlight::start(&self.inner.snapshots);
        let current = self
            .db()
            .workspace(&Scope::All, &row.id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        if let Some(held) = &current.auto_snapshot {
            // Paused: the tree is the pause's snapshot; share its blobs.
            return self.copy_snapshot(held, &current, name).await;
        }
        // The running exec and the runtime jail are frozen for the copy.
        let controls: Vec<_> = lock(&slot.control)
            .values()
            .cloned()
            .chain(lock(&slot.runtime).as_ref().map(|r| r.control().clone()))
            .collect();
        // A paused runtime stays frozen, and stays paused after.
        let already_frozen = controls.iter().any(|c| c.is_frozen());
        let frozen_controls: Vec<_> = controls
            .into_iter()
            .filter(|c| !c.is_frozen() && c.freeze().is_ok())
            .collect();
        let frozen = already_frozen || !frozen_controls.is_empty();
        let ws_id = row.id.clone();
        let pool = self.pool().clone();
        let tree = self.tree(&row.id);
        let previous = self.read_cache(&row.id);
        let taken = blocking(move || paddock_store::snapshot(&pool, &tree, previous.as_ref())).await;
        for control in &frozen_controls {
            if let Err(err) = control.thaw() {
                tracing::error!(%err, workspace = %ws_id, "thawing a workspace's jail after a snapshot");
            }
        }
        let taken = taken?.map_err(store_error)?;
        self.write_cache(&row.id, &taken.cache);
        let stored_bytes = self.stored_bytes(&taken.manifest).await?;
        let record = SnapshotRow {
            id: new_id("snap_"),
            tenant_id: row.tenant_id.clone(),
            workspace_id: Some(row.id.clone()),
            name,
            created_at: now_ms(),
            size_bytes: taken.manifest.file_bytes() as i64,
            file_count: taken.manifest.files().count() as i64,
            frozen: frozen as i64,
            auto: (kind == SnapshotKind::Pause) as i64,
            stored_bytes: stored_bytes as i64,
        };
        self.insert_snapshot(&record, &taken.manifest).await?;
        Ok(record)
    }

    async fn insert_snapshot(&self, record: &SnapshotRow, manifest: &Manifest) -> Result<(), Error> {
        let blobs: HashSet<String> = manifest.blobs().map(BlobHash::to_hex).collect();
        let json = serde_json::to_string(manifest).map_err(Error::internal)?;
        self.db()
            .insert_snapshot(record, &json, &blobs.into_iter().collect::<Vec<_>>())
            .await?;
        Ok(())
    }

    /// A new record for the tree another snapshot holds (a snapshot of a
    /// paused workspace).
    async fn copy_snapshot(&self, held: &str, row: &WorkspaceRow, name: Option<String>) -> Result<SnapshotRow, Error> {
        let manifest = self.load_manifest(held).await?;
        let stored_bytes = self.stored_bytes(&manifest).await?;
        let record = SnapshotRow {
            id: new_id("snap_"),
            tenant_id: row.tenant_id.clone(),
            workspace_id: Some(row.id.clone()),
            name,
            created_at: now_ms(),
            size_bytes: manifest.file_bytes() as i64,
            file_count: manifest.files().count() as i64,
            frozen: 0,
            auto: 0,
            stored_bytes: stored_bytes as i64,
        };
        self.insert_snapshot(&record, &manifest).await?;
        Ok(record)
    }

    /// The manifest of a snapshot (any tenant: callers checked the scope).
    pub(super) async fn load_manifest(&self, snapshot_id: &str) -> Result<Manifest, Error> {
        let json = self
            .db()
            .snapshot_manifest(&Scope::All, snapshot_id)
            .await?
            .ok_or_else(|| Error::not_found("snapshot"))?;
        serde_json::from_str(&json).map_err(|e| {
            tracing::error!(%e, snapshot = snapshot_id, "a stored manifest does not parse");
            Error::new(
                ErrorCode::SnapshotDamaged,
                format!("the snapshot's manifest is damaged: {e}"),
            )
        })
    }

    /// Materializes `manifest` as the tree of workspace `id` (which must not
    /// have one) and keeps the restore's stat cache.
    pub(super) async fn restore_into(&self, id: &str, manifest: Manifest) -> Result<(), Error> {
        let pool = self.pool().clone();
        let tree = self.tree(id);
        let restored = blocking(move || paddock_store::restore(&pool, &manifest, &tree))
            .await?
            .map_err(store_error)?;
        self.write_cache(id, &restored.cache);
        Ok(())
    }

    /// Brings a paused workspace's tree back (called with the maintenance
    /// lock held) and drops the pause's snapshot.
    pub(super) async fn resume(&self, row: &WorkspaceRow) -> Result<(), Error> {
        let Some(held) = &row.auto_snapshot else {
            return Ok(());
        };
        let manifest = self.load_manifest(held).await?;
        let tree = self.tree(&row.id);
        if tree.exists() {
            // A pause that crashed after recording itself: the snapshot is
            // the truth.
            let stale = tree.clone();
            blocking(move || std::fs::remove_dir_all(stale))
                .await?
                .map_err(Error::internal)?;
        }
        // The pause removed the tree's file system with it.
        self.make_volume(&row.id, StoredSpec::of(row)?.disk_mb).await?;
        self.restore_into(&row.id, manifest).await?;
        self.db().set_workspace_paused(&row.id, None).await?;
        self.db().delete_snapshot(&Scope::All, held).await?;
        tracing::info!(workspace = %row.id, "resumed a paused workspace");
        Ok(())
    }

    /// A snapshot just taken under its tenant's storage lock stays only if
    /// the tenant's storage, with `more` bytes still to come, fits its
    /// budget; otherwise it is deleted again and the refusal returned.
    pub(super) async fn refund_unless_it_fits(&self, snap: &SnapshotRow, more: u64, what: &str) -> Result<(), Error> {
        let own = snap.stored_bytes.max(0) as u64;
        let Err(refusal) = self.ensure_storage(&snap.tenant_id, more, own, what).await else {
            return Ok(());
        };
        if let Err(err) = self.discard_snapshot(&snap.id).await {
            tracing::error!(%err, snapshot = %snap.id, "deleting a snapshot past its tenant's storage budget");
        }
        Err(refusal)
    }

    /// What a workspace with `spec` restored from `snap` is charged: the
    /// copy, or its disk limit (the copy is inside it).
    pub(super) fn charge_of_copy(spec: &StoredSpec, snap: &SnapshotRow) -> u64 {
        (snap.stored_bytes.max(0) as u64).max(spec.disk_mb.unwrap_or(0) << 20)
    }

    /// A new workspace whose tree is `snap`'s, with `spec`; the caller
    /// holds the tenant's storage lock and checked the charge.
    pub(super) async fn create_from_snapshot(
        &self,
        tenant: &str,
        snap: &SnapshotRow,
        spec: &StoredSpec,
        source: &WorkspaceRow,
        label: Option<String>,
    ) -> Result<WorkspaceRow, Error> {
        let manifest = self.load_manifest(&snap.id).await?;
        let id = new_id("wrk_");
        let created = self.create_dir(&id, false, spec.disk_mb).await?;
        self.restore_into(&id, manifest).await?;
        let row = WorkspaceRow {
            id: id.clone(),
            tenant_id: tenant.to_owned(),
            created_at: now_ms(),
            deleted_at: None,
            label,
            spec: spec.to_json()?,
            git_repo: source.git_repo.clone(),
            git_ref: source.git_ref.clone(),
            last_exec_at: None,
            paused_at: None,
            auto_snapshot: None,
            charged_bytes: Self::charge_of_copy(spec, snap) as i64,
        };
        self.db().insert_workspace(&row).await?;
        created.keep();
        Ok(row)
    }

    async fn find_snapshot(&self, caller: &Caller, id: &str) -> Result<SnapshotRow, Error> {
        self.db()
            .snapshot(&caller.scope(None), id)
            .await?
            .ok_or_else(|| Error::not_found("snapshot"))
    }

    /// A page of the snapshots in `scope` (of one workspace, or searched by
    /// `q`).
    pub async fn list_snapshots(
        &self,
        caller: &Caller,
        scope: &Scope,
        workspace_id: Option<&str>,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<SnapshotList, Error> {
        let workspace_id = workspace_id.filter(|w| !w.is_empty());
        let (rows, total) = self.db().list_snapshots(scope, workspace_id, q, limit, offset).await?;
        Ok(SnapshotList {
            rows: rows.iter().map(|r| self.snapshot_wire(caller, r)).collect(),
            total,
            limit,
            offset,
        })
    }

    /// One snapshot of the caller's tenant.
    pub async fn get_snapshot(&self, caller: &Caller, id: &str) -> Result<SnapshotRecord, Error> {
        let row = self.find_snapshot(caller, id).await?;
        Ok(self.snapshot_wire(caller, &row))
    }

    /// Every file of a snapshot with its hash.
    pub async fn snapshot_manifest(&self, caller: &Caller, id: &str) -> Result<SnapshotManifest, Error> {
        let row = self.find_snapshot(caller, id).await?;
        let manifest = self.load_manifest(&row.id).await?;
        let entries = manifest
            .files()
            .map(|e| SnapshotManifestEntry {
                path: e.path.clone(),
                mode: e.mode,
                hash: e.hash.map(|h| h.to_hex()).unwrap_or_default(),
                size: e.size,
            })
            .collect();
        Ok(SnapshotManifest {
            kind: "incremental".into(),
            entries,
        })
    }

    /// Deletes a snapshot of the caller's tenant (409 while it holds a
    /// paused workspace's tree) and collects the blobs nothing refers to
    /// any more.
    pub async fn delete_snapshot(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        let scope = caller.scope(None);
        if self.db().snapshot(&scope, id).await?.is_none() {
            return Err(Error::not_found("snapshot"));
        }
        if self.db().snapshot_holds_a_paused_workspace(id).await? {
            return Err(Error::new(
                ErrorCode::SnapshotInUse,
                "this snapshot holds a paused workspace's tree; exec in the workspace (it resumes) or delete it first",
            ));
        }
        // Its blobs, read before the row goes: those no other snapshot
        // refers to are removed at once below.
        let blobs = self.db().snapshot_blobs(id).await?;
        // On a nearly full disk the reserve goes first, so the database
        // can record the delete that frees space.
        self.inner.disk.relieve();
        let deleted = match self.db().delete_snapshot(&scope, id).await {
            Err(err) if err.fault() == DbFault::Full => {
                // No room even for the record: the caller asked for the
                // snapshot to go, so the blobs only it refers to go first
                // to make room, then the delete is recorded. Should that
                // still fail, the snapshot is left damaged (507), and
                // deleting it again succeeds.
                tracing::warn!(snapshot = %id, "the disk is too full to record a delete: removing the snapshot's own blobs first");
                self.collect_blobs_of(blobs.clone(), Some(id)).await;
                self.db().delete_snapshot(&scope, id).await?
            }
            other => other?,
        };
        if !deleted {
            return Err(Error::not_found("snapshot"));
        }
        self.collect_blobs_of(blobs, None).await;
        self.collect_garbage().await;
        self.inner.audit.record(caller, "snapshot.delete", id).await;
        Ok(())
    }
}

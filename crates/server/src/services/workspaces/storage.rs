//! The tenant storage budget (`--tenant-storage`, threat-model row 51):
//! what one tenant's snapshots and workspaces hold on the state disk, so
//! that one tenant cannot fill it with snapshots and forks and leave the
//! others nothing but the watermark's 507.
//!
//! Charged: a snapshot its stored bytes (the allocated size of its distinct
//! blobs, so a sparse file's holes are free, and a blob shared with other
//! snapshots counts for each: a tenant cannot tell which blobs another
//! holds); a workspace made from a snapshot (a fork) the same, for the copy
//! restored into it; a workspace with a disk limit that whole limit, which
//! its jails may fill. Not charged: what jails write into a workspace
//! without a disk limit (the watermark, or `disk_mb`, bounds that), and a
//! pause's snapshot (the paused workspace's own tree). A charge is stored
//! with its row and ends with it.
//!
//! A tenant's checks and the charges they admit happen under one lock per
//! tenant, so concurrent forks cannot each pass a check that only one of
//! them fits.

use std::collections::HashMap;
use std::sync::Arc;

use paddock_api::identity::TenantStorage;
use paddock_api::{Error, ErrorCode};
use paddock_store::{BlobHash, Manifest};
use tokio::sync::OwnedMutexGuard;

use super::{blocking, lock, store_error, Workspaces};

/// One lock per tenant that has charged storage since the server started.
pub(super) type StorageLocks = std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// The budget when none is configured: half the state disk.
pub(super) fn default_budget(state_disk_bytes: u64) -> u64 {
    state_disk_bytes / 2
}

impl Workspaces {
    /// What one tenant may hold, bytes.
    pub fn storage_budget(&self) -> u64 {
        self.inner.storage_budget
    }

    /// What `tenant` holds and may hold (for `/v1/whoami`).
    pub async fn tenant_storage(&self, tenant: &str) -> Result<TenantStorage, Error> {
        let used = self.db().tenant_storage_bytes(tenant).await?.max(0) as u64;
        Ok(TenantStorage {
            storage_mb: self.storage_budget() >> 20,
            storage_in_use_mb: used.div_ceil(1 << 20),
        })
    }

    /// Holds `tenant`'s storage lock until dropped: take it before
    /// [`Workspaces::ensure_storage`] and keep it until the charge is stored.
    pub(super) async fn storage_lock(&self, tenant: &str) -> OwnedMutexGuard<()> {
        let tenant_lock = lock(&self.inner.storage_locks)
            .entry(tenant.to_owned())
            .or_default()
            .clone();
        tenant_lock.lock_owned().await
    }

    /// Refuses (507 `STORAGE_BUDGET`) to `what` when charging `tenant`
    /// `bytes` more would pass its budget. `charged` of what it holds now
    /// is already `what`'s own (a snapshot taken for it): the refusal
    /// counts those bytes as needed, not as held.
    pub(super) async fn ensure_storage(&self, tenant: &str, bytes: u64, charged: u64, what: &str) -> Result<(), Error> {
        let held = self.db().tenant_storage_bytes(tenant).await?.max(0) as u64;
        let used = held.saturating_sub(charged);
        let bytes = bytes.saturating_add(charged);
        let budget = self.storage_budget();
        if used.saturating_add(bytes) <= budget {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::StorageBudget,
            format!(
                "cannot {what}: it needs {} MiB of the tenant's storage budget, which holds {} of {} MiB (--tenant-storage); delete snapshots or workspaces first",
                bytes.div_ceil(1 << 20),
                used.div_ceil(1 << 20),
                budget >> 20,
            ),
        ))
    }

    /// The bytes `manifest`'s blobs take in the pool: a snapshot's stored
    /// bytes, and the charge of a copy restored from it.
    pub(super) async fn stored_bytes(&self, manifest: &Manifest) -> Result<u64, Error> {
        let pool = self.pool().clone();
        let blobs: Vec<BlobHash> = manifest.blobs().cloned().collect();
        blocking(move || pool.stored_bytes(blobs.iter()))
            .await?
            .map_err(store_error)
    }

    /// Records the charges of snapshots and disk-limited workspaces made
    /// before charges were recorded, so an upgrade does not leave them
    /// uncharged. Answers how many could not be measured (logged each).
    pub(super) async fn charge_legacy_rows(&self) -> Result<u64, Error> {
        let mut failed = 0;
        for id in self.db().snapshots_without_stored_bytes().await? {
            let measured = match self.load_manifest(&id).await {
                Ok(manifest) => self.stored_bytes(&manifest).await,
                Err(err) => Err(err),
            };
            match measured {
                Ok(bytes) => self.db().set_snapshot_stored_bytes(&id, bytes as i64).await?,
                Err(err) => {
                    tracing::error!(snapshot = %id, error = %err.message, "measuring a snapshot's stored bytes");
                    failed += 1;
                }
            }
        }
        for row in self.db().undeleted_workspaces().await? {
            let disk_mb = super::StoredSpec::of(&row).ok().and_then(|spec| spec.disk_mb);
            if let (0, Some(mb)) = (row.charged_bytes, disk_mb) {
                self.db().set_workspace_charge(&row.id, (mb << 20) as i64).await?;
            }
        }
        Ok(failed)
    }
}

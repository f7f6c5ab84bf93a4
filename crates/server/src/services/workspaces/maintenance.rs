//! Maintenance rounds: idle workspaces are paused (their tree goes into a
//! snapshot), snapshot retention is applied per tenant, and blobs no
//! snapshot refers to are collected.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use paddock_api::Error;
use paddock_store::BlobHash;
use tokio_util::sync::CancellationToken;

use super::{blocking, SnapshotKind, StoredSpec, Workspaces};

/// Rows deleted per statement by [`Workspaces::prune_records`].
const PRUNE_BATCH: i64 = 1000;
use crate::db::{now_ms, Scope, WorkspaceRow};

impl Workspaces {
    /// Pauses a workspace idle for longer than its `idle_timeout_secs`: its
    /// tree goes into a snapshot and is removed. Skipped (`false`) when an
    /// exec runs or waits, or another operation holds the workspace.
    pub async fn pause_if_idle(&self, row: &WorkspaceRow) -> Result<bool, Error> {
        let spec = StoredSpec::of(row)?;
        if spec.idle_timeout_secs == 0 {
            return Ok(false);
        }
        let slot = self.slot(&row.id);
        if slot.running.load(Ordering::SeqCst) > 0 {
            return Ok(false);
        }
        let Ok(_maintenance) = slot.maintenance.try_lock() else {
            return Ok(false);
        };
        if slot.running.load(Ordering::SeqCst) > 0 {
            return Ok(false);
        }
        let Some(current) = self.db().workspace(&Scope::All, &row.id).await? else {
            return Ok(false);
        };
        let idle_since = current.last_exec_at.unwrap_or(current.created_at);
        if current.auto_snapshot.is_some() || now_ms() - idle_since < (spec.idle_timeout_secs * 1000) as i64 {
            return Ok(false);
        }
        // Idle: the runtime's processes are ended before the tree goes.
        if self.stop_runtime(&slot).await? {
            tracing::info!(workspace = %current.id, "stopped an idle workspace: its processes were killed");
        }
        let held = self
            .snapshot_locked(&current, Some("idle pause".into()), SnapshotKind::Pause, &slot)
            .await?;
        self.db().set_workspace_paused(&current.id, Some(&held.id)).await?;
        let tree = self.tree(&current.id);
        blocking(move || std::fs::remove_dir_all(tree))
            .await?
            .map_err(Error::internal)?;
        // The snapshot holds the tree: its file system goes too.
        self.drop_volume(&current.id)?;
        tracing::info!(workspace = %current.id, snapshot = %held.id, "paused an idle workspace");
        Ok(true)
    }

    /// Removes the blobs no snapshot refers to (older than the GC grace).
    pub async fn collect_garbage(&self) {
        let live = match self.db().live_blobs().await {
            Ok(hashes) => blob_set(&hashes),
            Err(err) => {
                tracing::error!(%err, "reading live blobs; garbage collection skipped");
                return;
            }
        };
        let pool = self.pool().clone();
        let min_age = self.settings().gc_min_age;
        match blocking(move || pool.gc(&live, min_age)).await {
            Ok(Ok(stats)) if stats.blobs_removed > 0 => {
                tracing::info!(
                    removed = stats.blobs_removed,
                    bytes = stats.bytes_removed,
                    "snapshot blobs collected"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(%err, "snapshot garbage collection"),
            Err(err) => tracing::error!(message = %err.message, "snapshot garbage collection"),
        }
    }

    /// Removes at once the blobs (hex) of a deleted snapshot that no other
    /// snapshot refers to, without the grace of [`Workspaces::collect_garbage`]:
    /// deleting a snapshot frees its space right away. A snapshot in
    /// progress keeps its blobs (see [`paddock_store::BlobPool::remove_unreferenced`]).
    /// With `doomed`, that snapshot's own references do not count (its row
    /// is about to go).
    pub(super) async fn collect_blobs_of(&self, blobs: Vec<String>, doomed: Option<&str>) {
        let candidates: HashSet<BlobHash> = blobs.iter().filter_map(|h| h.parse().ok()).collect();
        if candidates.is_empty() {
            return;
        }
        let ended = self.inner.snapshots.ended.load(Ordering::SeqCst);
        let live = match doomed {
            Some(id) => self.db().live_blobs_except(id).await,
            None => self.db().live_blobs().await,
        };
        let live = match live {
            Ok(hashes) => blob_set(&hashes),
            Err(err) => {
                tracing::error!(%err, "reading live blobs; the deleted snapshot's blobs wait for the next collection");
                return;
            }
        };
        let pool = self.pool().clone();
        let min_age = self.settings().gc_min_age;
        let workspaces = self.clone();
        // Under the pool's lock: no snapshot between its start and its
        // commit, and none committed since `live` was read.
        let settled = move || {
            let counts = &workspaces.inner.snapshots;
            counts.running.load(Ordering::SeqCst) == 0 && counts.ended.load(Ordering::SeqCst) == ended
        };
        match blocking(move || pool.remove_unreferenced(&candidates, &live, min_age, settled)).await {
            Ok(Ok(stats)) if stats.blobs_removed > 0 => {
                tracing::info!(
                    removed = stats.blobs_removed,
                    bytes = stats.bytes_removed,
                    "blobs of a deleted snapshot removed"
                );
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::error!(%err, "removing the blobs of a deleted snapshot"),
            Err(err) => tracing::error!(message = %err.message, "removing the blobs of a deleted snapshot"),
        }
    }

    /// Deletes ledger and audit rows older than the record retention, in
    /// batches (rows of running jails are kept). Returns `(jails, audit)`
    /// rows deleted.
    pub async fn prune_records(&self) -> Result<(u64, u64), Error> {
        let retention = self.settings().record_retention;
        let before = now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let (mut jails, mut audit) = (0, 0);
        loop {
            let n = self.db().prune_jails(before, PRUNE_BATCH).await?;
            jails += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
            // Let requests waiting for the database in between.
            tokio::task::yield_now().await;
        }
        loop {
            let n = self.db().prune_audit(before, PRUNE_BATCH).await?;
            audit += n;
            if n < PRUNE_BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        if jails + audit > 0 {
            tracing::info!(
                jails,
                audit,
                ?retention,
                "ledger and audit rows past their retention deleted"
            );
        }
        Ok((jails, audit))
    }

    /// One round of maintenance: pause idle workspaces, apply snapshot
    /// retention, collect garbage, prune old ledger and audit rows.
    pub async fn maintain(&self) {
        match self.db().active_workspaces().await {
            Ok(rows) => {
                for row in rows {
                    if let Err(err) = self.pause_if_idle(&row).await {
                        tracing::error!(workspace = %row.id, error = %err.message, "pausing an idle workspace");
                    }
                }
            }
            Err(err) => tracing::error!(%err, "listing workspaces for idle pause"),
        }
        let settings = self.settings();
        if settings.snapshot_max_age.is_some() || settings.snapshot_max_count.is_some() {
            if let Err(err) = self.apply_retention().await {
                tracing::error!(error = %err.message, "snapshot retention");
            }
        }
        if let Err(err) = self.prune_records().await {
            tracing::error!(error = %err.message, "pruning ledger and audit rows");
        }
    }

    async fn apply_retention(&self) -> Result<(), Error> {
        let now = now_ms();
        let max_age = self.settings().snapshot_max_age.map(|d| d.as_millis() as i64);
        let max_count = self.settings().snapshot_max_count;
        let mut kept_per_tenant: HashMap<String, usize> = HashMap::new();
        let mut removed = 0;
        // Newest first per tenant: the first max_count survive (if young enough).
        for snap in self.db().all_snapshots().await? {
            if snap.auto != 0 && self.db().snapshot_holds_a_paused_workspace(&snap.id).await? {
                continue;
            }
            let kept = kept_per_tenant.entry(snap.tenant_id.clone()).or_default();
            let too_old = max_age.is_some_and(|age| now - snap.created_at > age);
            let too_many = max_count.is_some_and(|n| *kept >= n);
            if too_old || too_many {
                self.db().delete_snapshot(&Scope::All, &snap.id).await?;
                removed += 1;
            } else {
                *kept += 1;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "snapshots removed by retention");
            self.collect_garbage().await;
        }
        Ok(())
    }

    /// Runs [`Workspaces::maintain`] every `interval` until `stop`.
    pub async fn maintenance_loop(self, interval: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => self.maintain().await,
            }
        }
    }
}

/// The blobs named by the database's hex hashes (a malformed one names
/// none).
fn blob_set(hashes: &[String]) -> HashSet<BlobHash> {
    hashes.iter().filter_map(|h| h.parse::<BlobHash>().ok()).collect()
}

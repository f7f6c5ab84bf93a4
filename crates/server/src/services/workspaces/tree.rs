//! Host-side access to a workspace's tree, for the file API: the tree
//! brought back first if the workspace is paused, and held against
//! snapshots, pause and delete while the access lives.

use std::path::{Path, PathBuf};

use paddock_api::Error;
use tokio::sync::OwnedRwLockReadGuard;

use super::Workspaces;
use crate::services::identity::Caller;

/// File activity reaches the database at most this often.
const FILE_ACTIVITY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// A workspace tree that stays in place while this lives.
#[derive(Debug)]
pub struct TreeAccess {
    root: PathBuf,
    _held: OwnedRwLockReadGuard<()>,
}

impl TreeAccess {
    /// The host directory mounted at `/workspace` in the jail.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Workspaces {
    /// The tree of one of the caller's workspaces (404 when not theirs),
    /// resumed first if paused (507 when the disk has no room for it).
    pub async fn tree_access(&self, caller: &Caller, id: &str) -> Result<TreeAccess, Error> {
        let row = self.find(caller, id).await?;
        let slot = self.slot(id);
        if row.auto_snapshot.is_none() {
            // The common case: the tree is there. Held, it stays there; an
            // idle pause that came in between removed it, and the slow way
            // brings it back.
            let held = slot.tree.clone().read_owned().await;
            let root = self.tree(id);
            if root.is_dir() {
                self.note_tree_activity(id, &slot).await;
                return Ok(TreeAccess { root, _held: held });
            }
        }
        let maintenance = slot.maintenance.lock().await;
        let row = self
            .db()
            .workspace(&caller.scope(None), id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        if row.auto_snapshot.is_some() {
            self.inner.disk.ensure_room("resume a paused workspace")?;
            self.resume(&row).await?;
        }
        let held = slot.tree.clone().read_owned().await;
        drop(maintenance);
        self.note_tree_activity(id, &slot).await;
        Ok(TreeAccess {
            root: self.tree(id),
            _held: held,
        })
    }

    /// File calls are activity for the idle timeout, recorded at most
    /// every few seconds (a database write per call would cost more than
    /// the call).
    async fn note_tree_activity(&self, id: &str, slot: &super::Slot) {
        {
            let mut last = super::lock(&slot.last_file_activity);
            if last.is_some_and(|at| at.elapsed() < FILE_ACTIVITY_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
        }
        if let Err(err) = self.db().touch_workspace(id).await {
            tracing::warn!(%err, workspace = %id, "recording a workspace's activity");
        }
    }
}

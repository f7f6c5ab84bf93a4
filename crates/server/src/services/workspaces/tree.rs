//! Host-side access to a workspace's tree, for the file API: the tree
//! brought back first if the workspace is paused, and held against
//! snapshots, pause and delete while the access lives.

use std::path::{Path, PathBuf};

use paddock_api::Error;
use tokio::sync::OwnedRwLockReadGuard;

use super::Workspaces;
use crate::services::identity::Caller;

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
        self.find(caller, id).await?;
        let slot = self.slot(id);
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
        // File calls are activity: the idle pause waits for them too.
        if let Err(err) = self.db().touch_workspace(id).await {
            tracing::warn!(%err, workspace = %id, "recording a workspace's activity");
        }
        Ok(TreeAccess {
            root: self.tree(id),
            _held: held,
        })
    }
}

//! Startup repairs: what a crash (kill -9, power loss) or a lost directory
//! leaves behind is reconciled before the server serves.
//!
//! - temporary files of interrupted snapshots in the blob pool are removed
//!   (no snapshot of this process runs yet, so every one is a leftover);
//! - a workspace directory is removed when its row says it is deleted (a
//!   delete killed after it recorded itself), or when it has no row and
//!   carries the creation marker (or is empty): a create, a create from a
//!   snapshot or a fork killed before its row was committed;
//! - a workspace directory with no row and no marker is **never deleted**:
//!   it held an acknowledged workspace, so the database is not the one
//!   that workspace was recorded in (deleted and recreated, the wrong
//!   `--database-url`, an empty database, an old backup). It is moved to
//!   `<state_dir>/lost+found/` and logged as an error;
//! - scratch directories of run forks (`tmp/fork_*`) are removed;
//! - a paused workspace's tree left by a pause killed after it recorded
//!   itself is removed (its snapshot holds the tree);
//! - an active workspace whose directory is here but whose tree is missing
//!   gets it back from its newest snapshot, or empty when it has none: the
//!   row was acknowledged, so the workspace stays usable (an exec finds a
//!   tree) instead of failing every exec; each one is logged with what it
//!   got back;
//! - a workspace whose whole directory is missing is only counted and
//!   logged: servers sharing one PostgreSQL database each hold their own
//!   trees, so another server's workspace has no directory here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use paddock_api::Error;

use super::{blocking, remove_tree, Workspaces, CREATING};
use crate::db::Scope;

/// Where directories without a row go (in the state directory).
pub const LOST_FOUND: &str = "lost+found";

/// What [`Workspaces::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Temporary files of interrupted snapshots removed from the pool.
    pub temp_files: u64,
    /// Their bytes.
    pub temp_bytes: u64,
    /// Workspace directories removed: deleted rows, or interrupted
    /// creations (no row, creation marker).
    pub orphan_dirs: u64,
    /// Workspace directories without a row and without the creation
    /// marker, moved to `lost+found` (never deleted).
    pub lost_found: u64,
    /// Workspaces whose whole directory is not on this server (counted
    /// only: another server sharing the database may hold it).
    pub missing_dirs: u64,
    /// Scratch directories of run forks removed.
    pub scratch_dirs: u64,
    /// Trees of paused workspaces removed (their snapshot holds them).
    pub paused_trees: u64,
    /// Active workspaces whose missing tree came back from a snapshot.
    pub restored: u64,
    /// Active workspaces whose missing tree was recreated empty.
    pub recreated_empty: u64,
    /// Problems that did not stop the server (logged each).
    pub errors: u64,
}

impl RepairReport {
    /// Logs the report once: `warn` when something was repaired, `info`
    /// otherwise.
    pub fn log(&self) {
        let repaired = self.temp_files
            + self.orphan_dirs
            + self.lost_found
            + self.missing_dirs
            + self.scratch_dirs
            + self.paused_trees
            + self.restored
            + self.recreated_empty
            + self.errors;
        if repaired == 0 {
            tracing::info!("startup repair: nothing to repair");
        } else {
            tracing::warn!(
                temp_files = self.temp_files,
                temp_bytes = self.temp_bytes,
                orphan_dirs = self.orphan_dirs,
                lost_found = self.lost_found,
                missing_dirs = self.missing_dirs,
                scratch_dirs = self.scratch_dirs,
                paused_trees = self.paused_trees,
                restored = self.restored,
                recreated_empty = self.recreated_empty,
                errors = self.errors,
                "startup repair: leftovers of an interrupted run reconciled"
            );
        }
    }
}

impl Workspaces {
    /// Reconciles the state directory with the database (see the module
    /// documentation). Call once before serving. Fails only when the
    /// database cannot be read; a file that cannot be removed is logged
    /// and counted in `errors`.
    /// Workspace state the database knows nothing of: `Some(description)`
    /// when the database has never recorded a workspace or snapshot, yet
    /// the state directory holds workspace directories (not interrupted
    /// creations) or snapshot blobs. That database is not the one this
    /// state was recorded in (a deleted or replaced file, the wrong
    /// `--database-url`, an empty database); serving with it would move
    /// every tree to `lost+found` and collect every blob.
    pub async fn unrecorded_state(&self) -> Result<Option<String>, Error> {
        if self.db().has_workspace_records().await? {
            return Ok(None);
        }
        let root = self.inner.root.clone();
        let pool = self.pool().clone();
        let (dirs, blobs) = blocking(move || {
            let dirs = list_dirs(&root)
                .unwrap_or_default()
                .into_iter()
                .filter(|name| name.starts_with("wrk_") && !root.join(name).join(CREATING).exists())
                .filter(|name| !is_empty_dir(&root.join(name)))
                .count();
            (dirs, pool.blob_count().unwrap_or(0))
        })
        .await?;
        if dirs == 0 && blobs == 0 {
            return Ok(None);
        }
        Ok(Some(format!(
            "the database has no workspace or snapshot, but the state directory holds {dirs} workspace directories and {blobs} snapshot blobs"
        )))
    }

    pub async fn repair(&self) -> Result<RepairReport, Error> {
        let mut report = RepairReport::default();
        let pool = self.pool().clone();
        match blocking(move || pool.remove_temp_files()).await? {
            Ok((files, bytes)) => {
                report.temp_files = files;
                report.temp_bytes = bytes;
            }
            Err(err) => {
                tracing::error!(%err, "removing temporary files of interrupted snapshots");
                report.errors += 1;
            }
        }

        // Run forks copy outputs through `tmp/fork_*` (removed when the
        // fork ends, unless the process was killed).
        let scratch = self.settings().state_dir.join("tmp");
        if let Ok(names) = blocking({
            let scratch = scratch.clone();
            move || list_dirs(&scratch)
        })
        .await?
        {
            for name in names.iter().filter(|n| n.starts_with("fork_")) {
                if remove_in_background(scratch.join(name)).await {
                    report.scratch_dirs += 1;
                } else {
                    report.errors += 1;
                }
            }
        }

        let rows: HashMap<String, bool> = self
            .db()
            .undeleted_workspaces()
            .await?
            .into_iter()
            .map(|row| (row.id, row.auto_snapshot.is_some()))
            .collect();
        let root = self.inner.root.clone();
        let on_disk = blocking(move || list_dirs(&root)).await?.map_err(Error::internal)?;
        for name in &on_disk {
            match rows.get(name) {
                // Only names this service makes: anything else in the
                // directory was put there by someone else.
                None if name.starts_with("wrk_") => self.repair_rowless(name, &mut report).await?,
                None => {}
                Some(paused) => {
                    // A create killed after its row was committed but
                    // before the marker went: the row decides now.
                    let marker = self.creating_marker(name);
                    if marker.exists() {
                        if let Err(err) = std::fs::remove_file(&marker) {
                            tracing::error!(%err, workspace = %name, "removing a creation marker");
                            report.errors += 1;
                        }
                    }
                    if *paused && self.tree(name).exists() {
                        if remove_in_background(self.tree(name)).await {
                            report.paused_trees += 1;
                        } else {
                            report.errors += 1;
                        }
                    }
                    // A pause that stopped before its volume went.
                    if *paused {
                        if let Err(err) = self.drop_volume(name) {
                            tracing::error!(message = %err.message, workspace = %name, "removing a paused workspace's volume");
                            report.errors += 1;
                        }
                    }
                }
            }
        }

        match self.charge_legacy_rows().await {
            Ok(failed) => report.errors += failed,
            Err(err) => {
                tracing::error!(error = %err.message, "recording the storage charges of rows made before they were recorded");
                report.errors += 1;
            }
        }

        let mut missing = Vec::new();
        let mut ids: Vec<&String> = rows.keys().collect();
        ids.sort();
        for id in ids {
            if !self.dir(id).is_dir() {
                // Never created here: another server sharing the database
                // holds it (or it was lost outside paddock).
                missing.push(id.as_str());
                continue;
            }
            if rows[id] || self.tree(id).is_dir() {
                continue;
            }
            match self.recreate_tree(id).await {
                Ok(Some(snapshot)) => {
                    tracing::warn!(workspace = %id, %snapshot, "a workspace's tree was missing: restored from its newest snapshot");
                    report.restored += 1;
                }
                Ok(None) => {
                    tracing::warn!(workspace = %id, "a workspace's tree was missing and it has no snapshot: recreated empty");
                    report.recreated_empty += 1;
                }
                Err(err) => {
                    tracing::error!(workspace = %id, error = %err.message, "recreating a missing workspace tree");
                    report.errors += 1;
                }
            }
        }
        if !missing.is_empty() {
            const SHOWN: usize = 20;
            tracing::warn!(
                count = missing.len(),
                workspaces = %missing.iter().take(SHOWN).copied().collect::<Vec<_>>().join(","),
                "workspaces without a directory on this server (another server sharing the database holds them, or they were lost): left as they are"
            );
            report.missing_dirs = missing.len() as u64;
        }
        Ok(report)
    }

    /// A `wrk_*` directory without an undeleted row: removed when its row
    /// is deleted or it was never acknowledged (creation marker, or
    /// empty); moved to `lost+found` otherwise.
    async fn repair_rowless(&self, name: &str, report: &mut RepairReport) -> Result<(), Error> {
        let deleted = self.db().workspace_any(&Scope::All, name).await?.is_some();
        let dir = self.dir(name);
        let unacknowledged = {
            let dir = dir.clone();
            blocking(move || dir.join(CREATING).exists() || is_empty_dir(&dir)).await?
        };
        if deleted || unacknowledged {
            if remove_in_background(dir).await {
                tracing::info!(
                    workspace = %name,
                    reason = if deleted { "its row is deleted" } else { "an interrupted creation" },
                    "removed a workspace directory"
                );
                report.orphan_dirs += 1;
            } else {
                report.errors += 1;
            }
            return Ok(());
        }
        let lost = self.settings().state_dir.join(LOST_FOUND);
        let moved = blocking({
            let name = name.to_owned();
            move || move_to(&dir, &lost, &name)
        })
        .await?;
        match moved {
            Ok(to) => {
                tracing::error!(
                    workspace = %name,
                    to = %to.display(),
                    "workspace directory without a database row moved to lost+found: was the database replaced? \
                     (the database in use does not know this workspace; stop the server, put the right database back \
                     and move the directory back to workspaces/)"
                );
                report.lost_found += 1;
            }
            Err(err) => {
                tracing::error!(%err, workspace = %name, "a workspace directory without a database row could not be moved to lost+found: left in place");
                report.errors += 1;
            }
        }
        Ok(())
    }

    /// Gives the active workspace `id`, whose directory exists, a tree: its
    /// newest snapshot's, or an empty one. Returns the snapshot used.
    async fn recreate_tree(&self, id: &str) -> Result<Option<String>, Error> {
        self.check_volume_mounted(id)?;
        let dir = self.dir(id);
        blocking(move || {
            // A tree half restored by an earlier attempt would make the
            // restore fail: start from nothing but the directory.
            let _ = std::fs::remove_dir_all(super::volume::tree_in(&dir));
            let _ = std::fs::remove_file(dir.join("stat-cache.json"));
        })
        .await?;
        let (newest, _) = self.db().list_snapshots(&Scope::All, Some(id), None, 1, 0).await?;
        if let Some(snap) = newest.first() {
            let manifest = self.load_manifest(&snap.id).await?;
            self.restore_into(id, manifest).await?;
            return Ok(Some(snap.id.clone()));
        }
        let tree = self.tree(id);
        blocking(move || std::fs::create_dir(tree))
            .await?
            .map_err(Error::internal)?;
        Ok(None)
    }
}

/// [`remove_tree`] on a blocking thread.
async fn remove_in_background(path: PathBuf) -> bool {
    match blocking(move || remove_tree(&path)).await {
        Ok(removed) => removed,
        Err(err) => {
            tracing::error!(error = %err.message, "startup repair: removing");
            false
        }
    }
}

/// Whether `dir` is a directory with nothing in it.
fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

/// Moves `dir` to `lost/<name>`, or `lost/<name>.<unix ms>` when that is
/// taken; returns where it went.
fn move_to(dir: &Path, lost: &Path, name: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(lost)?;
    let mut to = lost.join(name);
    if to.symlink_metadata().is_ok() {
        to = lost.join(format!("{name}.{}", crate::db::now_ms()));
    }
    std::fs::rename(dir, &to)?;
    Ok(to)
}

/// Names of the directories (and anything else) directly in `root`.
fn list_dirs(root: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root)? {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

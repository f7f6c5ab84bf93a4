//! Startup repairs: what a crash (kill -9, power loss) or a lost directory
//! leaves behind is reconciled before the server serves.
//!
//! - temporary files of interrupted snapshots in the blob pool are removed
//!   (no snapshot of this process runs yet, so every one is a leftover);
//! - workspace directories with no row, or whose row is deleted, are
//!   removed: a create or restore killed before its row was written, or a
//!   delete killed after it;
//! - scratch directories of run forks (`tmp/fork_*`) are removed;
//! - a paused workspace's tree left by a pause killed after it recorded
//!   itself is removed (its snapshot holds the tree);
//! - an active workspace whose tree is missing gets it back from its newest
//!   snapshot, or empty when it has none: the row was acknowledged, so the
//!   workspace stays usable (an exec finds a tree) instead of failing every
//!   exec; each one is logged with what it got back.

use std::collections::HashMap;
use std::path::Path;

use paddock_api::Error;

use super::{blocking, Workspaces};
use crate::db::Scope;

/// What [`Workspaces::repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Temporary files of interrupted snapshots removed from the pool.
    pub temp_files: u64,
    /// Their bytes.
    pub temp_bytes: u64,
    /// Workspace directories without a live row removed.
    pub orphan_dirs: u64,
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
                if self.remove_path(scratch.join(name)).await {
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
                None => {
                    // Only names this service makes: anything else in the
                    // directory was put there by someone else.
                    if !name.starts_with("wrk_") {
                        continue;
                    }
                    if self.remove_path(self.dir(name)).await {
                        tracing::info!(workspace = %name, "removed a workspace directory without a row");
                        report.orphan_dirs += 1;
                    } else {
                        report.errors += 1;
                    }
                }
                Some(true) if self.tree(name).exists() => {
                    if self.remove_path(self.tree(name)).await {
                        report.paused_trees += 1;
                    } else {
                        report.errors += 1;
                    }
                }
                Some(_) => {}
            }
        }

        for (id, paused) in &rows {
            if *paused || self.tree(id).is_dir() {
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
        Ok(report)
    }

    /// Gives the active workspace `id` a tree: its newest snapshot's, or an
    /// empty one. Returns the snapshot used.
    async fn recreate_tree(&self, id: &str) -> Result<Option<String>, Error> {
        let dir = self.dir(id);
        let partial = dir.clone();
        blocking(move || {
            // A tree half restored by an earlier attempt would make the
            // restore fail: start from nothing but the directory.
            let _ = std::fs::remove_dir_all(partial.join("tree"));
            let _ = std::fs::remove_file(partial.join("stat-cache.json"));
            std::fs::create_dir_all(&partial)
        })
        .await?
        .map_err(Error::internal)?;
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

    /// Removes a directory tree; `false` (logged) when it could not.
    async fn remove_path(&self, path: std::path::PathBuf) -> bool {
        let shown = path.display().to_string();
        match blocking(move || std::fs::remove_dir_all(path)).await {
            Ok(Ok(())) => true,
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotFound => true,
            Ok(Err(err)) => {
                tracing::error!(%err, path = %shown, "startup repair: removing");
                false
            }
            Err(err) => {
                tracing::error!(error = %err.message, path = %shown, "startup repair: removing");
                false
            }
        }
    }
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

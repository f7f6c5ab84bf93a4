//! Workspaces: long-lived trees mounted read-write at `/workspace` in every
//! exec, their snapshots in the content-addressed pool, forks, and idle
//! pause and resume. This is the service layer under the workspace and
//! snapshot routes; trees live under `$state_dir/workspaces/<id>/tree`,
//! blobs under `$state_dir/blobs`.
//!
//! Each workspace has one exec at a time (`running`) and one maintenance
//! operation at a time (`maintenance`: snapshot, pause, resume, delete). An
//! exec takes the maintenance lock only while it resumes the tree and
//! starts its jail, then publishes the jail's control and lets go, so a
//! snapshot taken during the exec freezes the jail for the copy instead of
//! waiting for it to end. A pause needs both, so it never races an exec.

pub mod git;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_jail::{JailConfig, JailControl};
use paddock_store::{BlobHash, BlobPool, Manifest, StatCache};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::crypto::new_id;
use paddock_api::{Error, ErrorCode};
use crate::services::jails::{Finished, LedgerEntry};
use crate::services::limits;
use paddock_api::{JailOptions, NetworkSpec};
use crate::db::{now_ms, Scope, SnapshotRow, WorkspaceRow};

/// Most forks of one `POST /v1/workspaces/:id/fork`.
pub const MAX_FORKS: usize = 16;

/// A workspace's settings, applied to every exec (API.md `WorkspaceSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceSpec {
    /// Memory per exec, MiB.
    pub memory_mb: u64,
    /// Deadline per exec, seconds.
    pub timeout_secs: u64,
    /// CPU quota, percent of one core; `null`: none.
    pub cpu_percent: Option<u32>,
    /// Processes and threads.
    pub max_pids: u32,
    /// `none`, `loopback` or `allowlist`.
    pub network_mode: String,
    /// Hosts of an allowlist.
    pub network_domains: Vec<String>,
    /// `standard` or `strict`.
    pub seccomp: String,
    /// Pause after this many seconds without an exec; 0: never.
    pub idle_timeout_secs: u64,
    /// (ext) Flavors mounted at `/opt/flavors/<name>`.
    #[serde(default)]
    #[schema(required = true)]
    pub flavors: Vec<String>,
}

impl WorkspaceSpec {
    /// The jail options of an exec, with the exec's own deadline and memory.
    pub fn options(&self, timeout_secs: Option<u64>, memory_mb: Option<u64>) -> JailOptions {
        JailOptions {
            timeout_secs: Some(timeout_secs.unwrap_or(self.timeout_secs)),
            memory_mb: Some(memory_mb.unwrap_or(self.memory_mb)),
            network: Some(NetworkSpec {
                mode: self.network_mode.clone(),
                domains: self.network_domains.clone(),
            }),
            seccomp: Some(self.seccomp.clone()),
            cpu_percent: self.cpu_percent,
            max_pids: Some(self.max_pids),
        }
    }
}

/// Per-workspace coordination (in memory: a workspace's tree is local to
/// the server that holds it).
#[derive(Debug, Default)]
struct Slot {
    running: AtomicBool,
    maintenance: tokio::sync::Mutex<()>,
    control: Mutex<Option<JailControl>>,
}

/// Clears `running` however an exec ends.
struct Running(Arc<Slot>);

impl Drop for Running {
    fn drop(&mut self) {
        *lock(&self.0.control) = None;
        self.0.running.store(false, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspaces of this server.
#[derive(Debug)]
pub struct Workspaces {
    root: PathBuf,
    flavors: PathBuf,
    pool: BlobPool,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// How a snapshot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    /// Asked for by a client (or a fork).
    Requested,
    /// Taken by an idle pause; it holds the tree until the next exec.
    Pause,
}

impl Workspaces {
    /// The workspaces under `state_dir`.
    pub fn open(state_dir: &Path) -> anyhow::Result<Workspaces> {
        use anyhow::Context;
        let root = state_dir.join("workspaces");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Workspaces {
            pool: BlobPool::open(state_dir.join("blobs"))?,
            flavors: state_dir.join("flavors"),
            root,
            slots: Mutex::default(),
        })
    }

    /// The blob pool.
    pub fn pool(&self) -> &BlobPool {
        &self.pool
    }

    /// The directory of one workspace (tree and stat cache).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The tree mounted at `/workspace`.
    pub fn tree(&self, id: &str) -> PathBuf {
        self.dir(id).join("tree")
    }

    fn cache_file(&self, id: &str) -> PathBuf {
        self.dir(id).join("stat-cache.json")
    }

    fn slot(&self, id: &str) -> Arc<Slot> {
        lock(&self.slots).entry(id.to_owned()).or_default().clone()
    }

    /// Names of the flavors on this host.
    pub fn flavor_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.flavors)
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| valid_flavor(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Checks that every flavor exists.
    pub fn check_flavors(&self, names: &[String]) -> Result<(), Error> {
        let known = self.flavor_names();
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name) {
                return Err(Error::new(ErrorCode::DuplicateFlavor,
                    format!("flavor {name:?} is listed twice"),
                ));
            }
            if !valid_flavor(name) || !known.contains(name) {
                return Err(Error::new(ErrorCode::UnknownFlavor,
                    format!(
                        "unknown flavor {name:?} (this host has: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Binds the workspace's tree and flavors into `config`.
    fn mount(&self, config: JailConfig, id: &str, spec: &WorkspaceSpec) -> JailConfig {
        let mut config = config.workspace_rw(self.tree(id));
        let mut path = String::new();
        for name in &spec.flavors {
            let target = format!("/opt/flavors/{name}");
            path.push_str(&format!("{target}/bin:"));
            config = config.bind(self.flavors.join(name), target, false);
        }
        if !path.is_empty() {
            let rest = config
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| paddock_jail::DEFAULT_PATH.to_owned());
            config = config.env("PATH", format!("{path}{rest}"));
        }
        config
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

    fn remove_dir(&self, id: &str) {
        let dir = self.dir(id);
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(%err, dir = %dir.display(), "removing a workspace directory");
            }
        }
    }
}

/// Flavor names: plain directory names.
pub fn valid_flavor(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn store_error(err: paddock_store::StoreError) -> Error {
    use paddock_store::StoreError as E;
    match err {
        err @ (E::TooDeep { .. } | E::TooManyEntries { .. }) => {
            Error::new(ErrorCode::TreeTooLarge, err.to_string())
        }
        // A manifest the store refuses to materialize was damaged or
        // tampered with: nothing was written.
        err @ (E::InvalidEntry { .. } | E::MissingBlob { .. } | E::BlobSize { .. } | E::InvalidHash(_)) => {
            tracing::error!(%err, "a snapshot cannot be restored");
            Error::new(ErrorCode::SnapshotDamaged,
                format!("the snapshot cannot be restored: {err}"),
            )
        }
        other => Error::internal(other),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(Error::internal)
}

/// The spec stored in a row.
pub fn spec_of(row: &WorkspaceRow) -> Result<WorkspaceSpec, Error> {
    serde_json::from_str(&row.spec).map_err(Error::internal)
}

/// A new, empty workspace directory (tree included), removed again if the
/// creation fails before [`Created::keep`].
pub struct Created<'a> {
    workspaces: &'a Workspaces,
    id: String,
    kept: bool,
}

impl Created<'_> {
    /// The tree to fill.
    pub fn tree(&self) -> PathBuf {
        self.workspaces.tree(&self.id)
    }

    /// The creation succeeded.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.workspaces.remove_dir(&self.id);
        }
    }
}

impl Workspaces {
    /// Makes the directory of workspace `id`; its tree is created empty
    /// when `with_tree`, left for a restore to create otherwise.
    pub fn create_dir(&self, id: &str, with_tree: bool) -> Result<Created<'_>, Error> {
        let created = Created {
            workspaces: self,
            id: id.to_owned(),
            kept: false,
        };
        std::fs::create_dir(self.dir(id)).map_err(Error::internal)?;
        if with_tree {
            std::fs::create_dir(self.tree(id)).map_err(Error::internal)?;
        }
        Ok(created)
    }
}

/// One exec in a workspace: the command, its deadline and memory, extra
/// environment.
#[derive(Debug)]
pub struct ExecSpec {
    pub cmd: String,
    pub args: Vec<String>,
    pub timeout_secs: Option<u64>,
    pub memory_mb: Option<u64>,
    pub env: Vec<(String, String)>,
}

/// Runs one exec: 409 when another is running; a paused workspace is
/// resumed first.
pub async fn exec(state: &AppState, scope: &Scope, id: &str, spec: ExecSpec) -> Result<Finished, Error> {
    let ws = &state.workspaces;
    let slot = ws.slot(id);
    if slot.running.swap(true, Ordering::SeqCst) {
        return Err(Error::new(ErrorCode::WorkspaceBusy,
            "another exec is running in this workspace; one at a time",
        ));
    }
    let running = Running(slot.clone());
    let maintenance = slot.maintenance.lock().await;
    // Re-read under the lock: a pause or a delete may have happened.
    let row = state
        .db
        .workspace(scope, id)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))?;
    if row.auto_snapshot.is_some() {
        resume(state, &row).await?;
    }
    let wspec = spec_of(&row)?;
    let mut config = JailConfig::new(spec.cmd.clone(), spec.args.clone());
    let effective = limits::apply(&wspec.options(spec.timeout_secs, spec.memory_mb), &mut config)?;
    for (key, value) in spec.env {
        config = config.env(key, value);
    }
    let config = ws.mount(config, id, &wspec);
    state.db.touch_workspace(id).await?;
    let entry = LedgerEntry {
        tenant: row.tenant_id.clone(),
        kind: "workspace",
        session_id: None,
        label: row.label.clone(),
        parent_id: None,
        config: serde_json::json!({ "workspace_id": id, "cmd": spec.cmd, "args": spec.args, "limits": effective }),
    };
    let control_slot = slot.clone();
    let mut maintenance = Some(maintenance);
    let result = state.runner.run_controlled(entry, config, move |control| {
        *lock(&control_slot.control) = Some(control);
        // From here a snapshot may freeze the jail instead of waiting.
        maintenance.take();
    })
    .await;
    drop(running);
    state.db.touch_workspace(id).await?;
    result
}

/// Snapshots a workspace (freezing its running exec for the copy).
pub async fn snapshot(
    state: &AppState,
    row: &WorkspaceRow,
    name: Option<String>,
    kind: SnapshotKind,
) -> Result<SnapshotRow, Error> {
    let slot = state.workspaces.slot(&row.id);
    let _maintenance = slot.maintenance.lock().await;
    snapshot_locked(state, row, name, kind, &slot).await
}

async fn snapshot_locked(
    state: &AppState,
    row: &WorkspaceRow,
    name: Option<String>,
    kind: SnapshotKind,
    slot: &Slot,
) -> Result<SnapshotRow, Error> {
    let current = state
        .db
        .workspace(&Scope::All, &row.id)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))?;
    if let Some(held) = &current.auto_snapshot {
        // Paused: the tree is the pause's snapshot; share its blobs.
        return copy_snapshot(state, held, &current, name).await;
    }
    let control = lock(&slot.control).clone();
    let frozen = control.as_ref().is_some_and(|c| c.freeze().is_ok());
    let ws_id = row.id.clone();
    let pool = state.workspaces.pool.clone();
    let tree = state.workspaces.tree(&row.id);
    let previous = state.workspaces.read_cache(&row.id);
    let taken = blocking(move || paddock_store::snapshot(&pool, &tree, previous.as_ref())).await;
    if frozen {
        if let Some(control) = &control {
            if let Err(err) = control.thaw() {
                tracing::error!(%err, workspace = %ws_id, "thawing an exec after a snapshot");
            }
        }
    }
    let taken = taken?.map_err(store_error)?;
    state.workspaces.write_cache(&row.id, &taken.cache);
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
    };
    insert_snapshot(state, &record, &taken.manifest).await?;
    Ok(record)
}

async fn insert_snapshot(state: &AppState, record: &SnapshotRow, manifest: &Manifest) -> Result<(), Error> {
    let blobs: HashSet<String> = manifest.blobs().map(BlobHash::to_hex).collect();
    let json = serde_json::to_string(manifest).map_err(Error::internal)?;
    state
        .db
        .insert_snapshot(record, &json, &blobs.into_iter().collect::<Vec<_>>())
        .await?;
    Ok(())
}

/// A new record for the tree another snapshot holds (a snapshot of a
/// paused workspace).
async fn copy_snapshot(
    state: &AppState,
    held: &str,
    row: &WorkspaceRow,
    name: Option<String>,
) -> Result<SnapshotRow, Error> {
    let manifest = load_manifest(state, held).await?;
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
    };
    insert_snapshot(state, &record, &manifest).await?;
    Ok(record)
}

/// The manifest of a snapshot (any tenant: callers checked the scope).
pub async fn load_manifest(state: &AppState, snapshot_id: &str) -> Result<Manifest, Error> {
    let json = state
        .db
        .snapshot_manifest(&Scope::All, snapshot_id)
        .await?
        .ok_or_else(|| Error::not_found("snapshot"))?;
    serde_json::from_str(&json).map_err(|e| {
        tracing::error!(%e, snapshot = snapshot_id, "a stored manifest does not parse");
        Error::new(ErrorCode::SnapshotDamaged,
            format!("the snapshot's manifest is damaged: {e}"),
        )
    })
}

/// Materializes `manifest` as the tree of workspace `id` (which must not
/// have one) and keeps the restore's stat cache.
async fn restore_into(state: &AppState, id: &str, manifest: Manifest) -> Result<(), Error> {
    let pool = state.workspaces.pool.clone();
    let tree = state.workspaces.tree(id);
    let restored = blocking(move || paddock_store::restore(&pool, &manifest, &tree))
        .await?
        .map_err(store_error)?;
    state.workspaces.write_cache(id, &restored.cache);
    Ok(())
}

/// Brings a paused workspace's tree back (called with the maintenance
/// lock held) and drops the pause's snapshot.
async fn resume(state: &AppState, row: &WorkspaceRow) -> Result<(), Error> {
    let Some(held) = &row.auto_snapshot else {
        return Ok(());
    };
    let manifest = load_manifest(state, held).await?;
    let tree = state.workspaces.tree(&row.id);
    if tree.exists() {
        // A pause that crashed after recording itself: the snapshot is
        // the truth.
        let stale = tree.clone();
        blocking(move || std::fs::remove_dir_all(stale))
            .await?
            .map_err(Error::internal)?;
    }
    restore_into(state, &row.id, manifest).await?;
    state.db.set_workspace_paused(&row.id, None).await?;
    state.db.delete_snapshot(&Scope::All, held).await?;
    tracing::info!(workspace = %row.id, "resumed a paused workspace");
    Ok(())
}

/// Pauses a workspace idle for longer than its `idle_timeout_secs`: its
/// tree goes into a snapshot and is removed. Skipped (`false`) when an
/// exec runs or waits, or another operation holds the workspace.
pub async fn pause_if_idle(state: &AppState, row: &WorkspaceRow) -> Result<bool, Error> {
    let spec = spec_of(row)?;
    if spec.idle_timeout_secs == 0 {
        return Ok(false);
    }
    let slot = state.workspaces.slot(&row.id);
    if slot.running.load(Ordering::SeqCst) {
        return Ok(false);
    }
    let Ok(_maintenance) = slot.maintenance.try_lock() else {
        return Ok(false);
    };
    if slot.running.load(Ordering::SeqCst) {
        return Ok(false);
    }
    let Some(current) = state.db.workspace(&Scope::All, &row.id).await? else {
        return Ok(false);
    };
    let idle_since = current.last_exec_at.unwrap_or(current.created_at);
    if current.auto_snapshot.is_some() || now_ms() - idle_since < (spec.idle_timeout_secs * 1000) as i64 {
        return Ok(false);
    }
    let held = snapshot_locked(state, &current, Some("idle pause".into()), SnapshotKind::Pause, &slot).await?;
    state.db.set_workspace_paused(&current.id, Some(&held.id)).await?;
    let tree = state.workspaces.tree(&current.id);
    blocking(move || std::fs::remove_dir_all(tree))
        .await?
        .map_err(Error::internal)?;
    tracing::info!(workspace = %current.id, snapshot = %held.id, "paused an idle workspace");
    Ok(true)
}

/// A new workspace whose tree is `snapshot`'s, with `spec`.
pub async fn create_from_snapshot(
    state: &AppState,
    tenant: &str,
    snapshot_id: &str,
    spec: &WorkspaceSpec,
    source: &WorkspaceRow,
    label: Option<String>,
) -> Result<WorkspaceRow, Error> {
    let manifest = load_manifest(state, snapshot_id).await?;
    let id = new_id("wrk_");
    let created = state.workspaces.create_dir(&id, false)?;
    restore_into(state, &id, manifest).await?;
    let row = WorkspaceRow {
        id: id.clone(),
        tenant_id: tenant.to_owned(),
        created_at: now_ms(),
        deleted_at: None,
        label,
        spec: serde_json::to_string(spec).map_err(Error::internal)?,
        git_repo: source.git_repo.clone(),
        git_ref: source.git_ref.clone(),
        last_exec_at: None,
        paused_at: None,
        auto_snapshot: None,
    };
    state.db.insert_workspace(&row).await?;
    created.keep();
    Ok(row)
}

/// Deletes a workspace: 409 while an exec runs; the tree is removed, the
/// record kept (soft delete); a paused workspace's snapshot goes too.
pub async fn delete(state: &AppState, scope: &Scope, id: &str) -> Result<(), Error> {
    let slot = state.workspaces.slot(id);
    if slot.running.load(Ordering::SeqCst) {
        return Err(Error::new(ErrorCode::WorkspaceBusy,
            "an exec is running in this workspace",
        ));
    }
    let _maintenance = slot.maintenance.lock().await;
    let row = state
        .db
        .workspace(scope, id)
        .await?
        .ok_or_else(|| Error::not_found("workspace"))?;
    if !state.db.delete_workspace(scope, id).await? {
        return Err(Error::not_found("workspace"));
    }
    let dir = state.workspaces.dir(id);
    blocking(move || std::fs::remove_dir_all(&dir)).await?.or_else(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Ok(())
        } else {
            Err(Error::internal(e))
        }
    })?;
    if let Some(held) = &row.auto_snapshot {
        state.db.delete_snapshot(&Scope::All, held).await?;
        collect_garbage(state).await;
    }
    lock(&state.workspaces.slots).remove(id);
    Ok(())
}

/// Deletes a snapshot in scope (409 while it holds a paused workspace's
/// tree) and collects the blobs nothing refers to any more.
pub async fn delete_snapshot(state: &AppState, scope: &Scope, id: &str) -> Result<(), Error> {
    if state.db.snapshot(scope, id).await?.is_none() {
        return Err(Error::not_found("snapshot"));
    }
    if state.db.snapshot_holds_a_paused_workspace(id).await? {
        return Err(Error::new(ErrorCode::SnapshotInUse,
            "this snapshot holds a paused workspace's tree; exec in the workspace (it resumes) or delete it first",
        ));
    }
    if !state.db.delete_snapshot(scope, id).await? {
        return Err(Error::not_found("snapshot"));
    }
    collect_garbage(state).await;
    Ok(())
}

/// Removes the blobs no snapshot refers to (older than the GC grace).
pub async fn collect_garbage(state: &AppState) {
    let live = match state.db.live_blobs().await {
        Ok(hashes) => hashes
            .iter()
            .filter_map(|h| h.parse::<BlobHash>().ok())
            .collect::<HashSet<_>>(),
        Err(err) => {
            tracing::error!(%err, "reading live blobs; garbage collection skipped");
            return;
        }
    };
    let pool = state.workspaces.pool.clone();
    let min_age = state.config.gc_min_age;
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

/// One round of maintenance: pause idle workspaces, apply snapshot
/// retention, collect garbage.
pub async fn maintain(state: &AppState) {
    match state.db.active_workspaces().await {
        Ok(rows) => {
            for row in rows {
                if let Err(err) = pause_if_idle(state, &row).await {
                    tracing::error!(workspace = %row.id, error = %err.message, "pausing an idle workspace");
                }
            }
        }
        Err(err) => tracing::error!(%err, "listing workspaces for idle pause"),
    }
    if state.config.snapshot_max_age.is_some() || state.config.snapshot_max_count.is_some() {
        if let Err(err) = apply_retention(state).await {
            tracing::error!(error = %err.message, "snapshot retention");
        }
    }
}

async fn apply_retention(state: &AppState) -> Result<(), Error> {
    let now = now_ms();
    let max_age = state.config.snapshot_max_age.map(|d| d.as_millis() as i64);
    let max_count = state.config.snapshot_max_count;
    let mut kept_per_tenant: HashMap<String, usize> = HashMap::new();
    let mut removed = 0;
    // Newest first per tenant: the first max_count survive (if young enough).
    for snap in state.db.all_snapshots().await? {
        if snap.auto != 0 && state.db.snapshot_holds_a_paused_workspace(&snap.id).await? {
            continue;
        }
        let kept = kept_per_tenant.entry(snap.tenant_id.clone()).or_default();
        let too_old = max_age.is_some_and(|age| now - snap.created_at > age);
        let too_many = max_count.is_some_and(|n| *kept >= n);
        if too_old || too_many {
            state.db.delete_snapshot(&Scope::All, &snap.id).await?;
            removed += 1;
        } else {
            *kept += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "snapshots removed by retention");
        collect_garbage(state).await;
    }
    Ok(())
}

/// Runs [`maintain`] every `interval` until `stop`.
pub async fn maintenance_loop(state: Arc<AppState>, interval: Duration, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => maintain(&state).await,
        }
    }
}

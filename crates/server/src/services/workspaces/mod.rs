//! Workspaces: long-lived trees mounted read-write at `/workspace` in every
//! exec, their snapshots in the content-addressed pool, forks, and idle
//! pause and resume. This is the service under the workspace and snapshot
//! routes; trees live under `$state_dir/workspaces/<id>/tree`, blobs under
//! `$state_dir/blobs`.
//!
//! Each workspace has one exec at a time (`running`) and one maintenance
//! operation at a time (`maintenance`: snapshot, pause, resume, delete). An
//! exec takes the maintenance lock only while it resumes the tree and
//! starts its jail, then publishes the jail's control and lets go, so a
//! snapshot taken during the exec freezes the jail for the copy instead of
//! waiting for it to end. A pause needs both, so it never races an exec.
//!
//! - [`exec`]: execs, to their end or streamed;
//! - [`snapshots`]: snapshots, restores, pause and resume;
//! - [`maintenance`]: idle pause, retention and garbage collection;
//! - [`repair`]: startup repairs (leftovers of a crash);
//! - [`git`]: clones at creation.

mod exec;
pub mod git;
mod maintenance;
mod repair;
mod running;
pub use running::{KeepAlive, JAIL_PROXY_PORT};
mod snapshots;
mod storage;
mod tree;
mod volume;

pub(crate) use exec::check_env;
pub use repair::RepairReport;
pub use tree::TreeAccess;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::workspaces::{
    FromSnapshot, NewWorkspace, Workspace, WorkspaceDomain, WorkspaceForkRequest, WorkspaceForkResponse, WorkspaceList,
    WorkspaceSpec, WorkspaceUpdate, MAX_FORKS,
};
use paddock_api::{Error, ErrorCode, LimitsApplied, NetworkSpec};
use paddock_jail::{JailConfig, JailControl};
use paddock_store::BlobPool;
use serde::{Deserialize, Serialize};

use crate::config::{Role, ServerConfig};
use crate::crypto::new_id;
use crate::db::{now_ms, Db, DbFault, Scope, WorkspaceRow};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::jails::JailRunner;
use crate::services::lock;
use crate::services::space::StateDisk;
use crate::services::{limits, rfc3339};

use snapshots::SnapshotKind;

/// Longest label.
const MAX_LABEL: usize = 200;
/// Where in a flavor its fontconfig file is.
const FONTCONFIG: &str = "etc/fonts/fonts.conf";
/// Labels of workspaces the server makes for itself start with this; a
/// caller's label may not (so nothing the server removes as its own can
/// be a caller's workspace).
pub const SERVER_LABEL_PREFIX: &str = "paddock:";
/// Longest idle timeout (a week).
const MAX_IDLE_SECS: u64 = 7 * 24 * 3600;

/// What the workspaces take from the server's settings.
#[derive(Debug, Clone)]
pub struct WorkspaceSettings {
    /// Trees under `workspaces/`, blobs under `blobs/`, flavors under `flavors/`.
    pub state_dir: PathBuf,
    /// Longest git clone.
    pub git_timeout: Duration,
    /// Accept `http://` repositories.
    pub git_allow_http: bool,
    /// Blobs younger than this survive garbage collection.
    pub gc_min_age: Duration,
    /// Snapshot retention: older snapshots are removed.
    pub snapshot_max_age: Option<Duration>,
    /// Snapshot retention: most snapshots per tenant.
    pub snapshot_max_count: Option<usize>,
    /// Ledger and audit rows older than this are pruned.
    pub record_retention: Duration,
    /// Disk limit of workspaces created without one, MiB.
    pub default_disk_mb: Option<u64>,
}

impl WorkspaceSettings {
    /// The settings in `config`.
    pub fn of(config: &ServerConfig) -> WorkspaceSettings {
        WorkspaceSettings {
            state_dir: config.state_dir.clone(),
            git_timeout: config.git_timeout,
            git_allow_http: config.git_allow_http,
            gc_min_age: config.gc_min_age,
            snapshot_max_age: config.snapshot_max_age,
            snapshot_max_count: config.snapshot_max_count,
            record_retention: config.record_retention,
            default_disk_mb: config.workspace_disk_mb,
        }
    }
}

/// The workspaces of this server.
#[derive(Debug, Clone)]
pub struct Workspaces {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runner: JailRunner,
    db: Db,
    audit: AuditLog,
    /// The 507 gate of everything here that writes to the state disk.
    disk: StateDisk,
    settings: WorkspaceSettings,
    root: PathBuf,
    flavors: PathBuf,
    /// The host's coding agents, read-only at
    /// [`crate::services::agents::AGENTS_MOUNT`] in every workspace.
    agents: PathBuf,
    /// The phantom proxy, forwarded onto every running workspace's
    /// loopback (on the same port) so the agents in it reach their models.
    proxy_listen: std::net::SocketAddr,
    pool: BlobPool,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Snapshots between their start and the commit (or failure) of their
    /// manifest, and how many ended: a deleted snapshot's blobs are
    /// removed at once only when no other snapshot could be using them.
    snapshots: SnapshotsInFlight,
    /// What one tenant's snapshots and workspaces may hold, bytes.
    storage_budget: u64,
    storage_locks: storage::StorageLocks,
}

/// See [`Inner::snapshots`].
#[derive(Debug, Default)]
struct SnapshotsInFlight {
    running: std::sync::atomic::AtomicUsize,
    ended: std::sync::atomic::AtomicU64,
}

/// One snapshot in flight, until dropped.
struct InFlight<'a>(&'a SnapshotsInFlight);

impl<'a> InFlight<'a> {
    fn start(counts: &'a SnapshotsInFlight) -> InFlight<'a> {
        counts.running.fetch_add(1, Ordering::SeqCst);
        InFlight(counts)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        // Ended before no longer running: a reader never sees neither.
        self.0.ended.fetch_add(1, Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Per-workspace coordination (in memory: a workspace's tree is local to
/// the server that holds it).
#[derive(Debug, Default)]
struct Slot {
    /// Execs running (any number at once).
    running: std::sync::atomic::AtomicUsize,
    maintenance: tokio::sync::Mutex<()>,
    /// The running execs' jails, by exec number (frozen by snapshots).
    control: Mutex<HashMap<u64, JailControl>>,
    next_exec: std::sync::atomic::AtomicU64,
    /// Held shared by host-side file operations on the tree, exclusively
    /// by what copies, replaces or removes it (snapshots, pause, delete).
    tree: Arc<tokio::sync::RwLock<()>>,
    /// When a file call last recorded the workspace's activity.
    last_file_activity: Mutex<Option<std::time::Instant>>,
    /// The runtime jail while the workspace runs.
    runtime: Mutex<Option<Arc<crate::services::runtime::RunningJail>>>,
}

/// Counts an exec in `running` until it ends, however it ends.
struct Running(Arc<Slot>, u64);

impl Running {
    fn start(slot: Arc<Slot>) -> Running {
        slot.running.fetch_add(1, Ordering::SeqCst);
        let number = slot.next_exec.fetch_add(1, Ordering::Relaxed);
        Running(slot, number)
    }

    /// Publishes the exec's jail for snapshots to freeze.
    fn publish(&self, control: JailControl) {
        lock(&self.0.control).insert(self.1, control);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.0.control).remove(&self.1);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A workspace's settings as stored in its row: the limits applied at
/// creation (a CPU quota of `None` is no quota), the idle timeout and the
/// flavors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSpec {
    memory_mb: u64,
    timeout_secs: u64,
    cpu_percent: Option<u32>,
    max_pids: u32,
    network_mode: String,
    network_domains: Vec<String>,
    seccomp: String,
    idle_timeout_secs: u64,
    #[serde(default)]
    flavors: Vec<String>,
    /// agentjail's inbound domains (served as previews; never inherited by
    /// forks or workspaces made from snapshots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    domains: Vec<WorkspaceDomain>,
    /// Size of the tree's own file system, MiB (see `volume`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disk_mb: Option<u64>,
}

impl StoredSpec {
    /// The settings `limits::resolve` applied, with the workspace's own.
    fn new(applied: LimitsApplied, idle_timeout_secs: u64, flavors: Vec<String>) -> StoredSpec {
        StoredSpec {
            memory_mb: applied.memory_mb,
            timeout_secs: applied.timeout_secs,
            cpu_percent: (applied.cpu_percent > 0).then_some(applied.cpu_percent),
            max_pids: applied.max_pids,
            network_mode: applied.network.mode,
            network_domains: applied.network.domains,
            seccomp: applied.seccomp,
            idle_timeout_secs,
            flavors,
            domains: Vec::new(),
            disk_mb: None,
        }
    }

    /// The workspace's inbound domains.
    pub fn domains(&self) -> &[WorkspaceDomain] {
        &self.domains
    }

    /// The same settings without domains (a domain belongs to one
    /// workspace).
    fn without_domains(mut self) -> StoredSpec {
        self.domains.clear();
        self
    }

    /// The limits every exec starts from (see [`limits::options_of`]).
    fn limits(&self) -> LimitsApplied {
        LimitsApplied {
            timeout_secs: self.timeout_secs,
            memory_mb: self.memory_mb,
            cpu_percent: self.cpu_percent.unwrap_or(0),
            max_pids: self.max_pids,
            network: NetworkSpec {
                mode: self.network_mode.clone(),
                domains: self.network_domains.clone(),
            },
            seccomp: self.seccomp.clone(),
        }
    }

    /// The wire form: a CPU quota is always a number, 100 (one core) when
    /// none was asked for, as agentjail answers it.
    fn wire(&self) -> WorkspaceSpec {
        WorkspaceSpec {
            memory_mb: self.memory_mb,
            timeout_secs: self.timeout_secs,
            cpu_percent: self.cpu_percent.unwrap_or(100),
            max_pids: self.max_pids,
            network_mode: self.network_mode.clone(),
            network_domains: self.network_domains.clone(),
            seccomp: self.seccomp.clone(),
            idle_timeout_secs: self.idle_timeout_secs,
            flavors: self.flavors.clone(),
            disk_mb: self.disk_mb,
        }
    }

    fn of(row: &WorkspaceRow) -> Result<StoredSpec, Error> {
        serde_json::from_str(&row.spec).map_err(Error::internal)
    }

    fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(Error::internal)
    }
}

/// The settings a create request describes: its limits resolved (clamped)
/// once by [`limits::resolve`].
pub fn spec_from(body: &NewWorkspace) -> Result<StoredSpec, Error> {
    check_label(&body.label)?;
    let domains = domains_of(&body.domains)?;
    let applied = limits::resolve(&body.options)?;
    let mut spec = StoredSpec::new(
        applied,
        body.idle_timeout_secs.unwrap_or(0).min(MAX_IDLE_SECS),
        body.flavors.clone(),
    );
    spec.domains = domains;
    spec.disk_mb = body.disk_mb;
    Ok(spec)
}

/// Most domains of one workspace.
const MAX_DOMAINS: usize = 16;

/// agentjail's `domains`, checked for shape: lowercase host names (their
/// first label never holds `--`, which preview hosts use), a port each, no
/// repeats. Whether they are under the preview domain is the previews
/// service's check.
fn domains_of(values: &[serde_json::Value]) -> Result<Vec<WorkspaceDomain>, Error> {
    let bad = |message: String| Error::new(ErrorCode::DomainsUnsupported, message);
    if values.len() > MAX_DOMAINS {
        return Err(bad(format!("at most {MAX_DOMAINS} domains")));
    }
    let mut domains: Vec<WorkspaceDomain> = Vec::with_capacity(values.len());
    for value in values {
        let mut domain: WorkspaceDomain = serde_json::from_value(value.clone())
            .map_err(|e| bad(format!("a domain is {{domain, backend_url?, vm_port}}: {e}")))?;
        domain.domain = domain.domain.trim_end_matches('.').to_ascii_lowercase();
        let name = &domain.domain;
        let labels_ok = name.len() <= 253
            && name.split('.').count() >= 2
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !labels_ok || name.split('.').next().is_some_and(|first| first.contains("--")) {
            return Err(bad(format!("{name:?} is not a host name this server can serve")));
        }
        if domain.vm_port.is_none_or(|port| port == 0) {
            return Err(bad(format!("{name}: vm_port (1 to 65535) is required")));
        }
        if domains.iter().any(|d| d.domain == *name) {
            return Err(bad(format!("{name} is listed twice")));
        }
        domains.push(domain);
    }
    Ok(domains)
}

/// A caller's workspace label: [`check_label`], and not one of the
/// server's own.
fn check_workspace_label(label: &Option<String>) -> Result<(), Error> {
    check_label(label)?;
    match label {
        Some(l) if l.starts_with(SERVER_LABEL_PREFIX) => Err(Error::new(
            ErrorCode::BadLabel,
            format!("labels starting with {SERVER_LABEL_PREFIX} are the server's own workspaces'"),
        )),
        _ => Ok(()),
    }
}

/// Refuses a label over 200 bytes or with control characters.
pub(crate) fn check_label(label: &Option<String>) -> Result<(), Error> {
    match label {
        Some(l) if l.len() > MAX_LABEL || l.chars().any(char::is_control) => Err(Error::new(
            ErrorCode::BadLabel,
            format!("a label is at most {MAX_LABEL} bytes without control characters"),
        )),
        _ => Ok(()),
    }
}

impl Workspaces {
    /// The workspaces under `config`'s state directory, running their
    /// jails with `runner`; work that writes to the state disk is refused
    /// (507) while `disk` is below its watermark.
    pub fn open(
        config: &ServerConfig,
        db: Db,
        runner: JailRunner,
        audit: AuditLog,
        disk: StateDisk,
    ) -> anyhow::Result<Workspaces> {
        use anyhow::Context;
        let settings = WorkspaceSettings::of(config);
        let storage_budget = match config.tenant_storage_mb {
            Some(mb) => mb << 20,
            None => storage::default_budget(disk.status().context("reading the state disk's size")?.total_bytes),
        };
        let root = settings.state_dir.join("workspaces");
        std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        // Made before any workspace starts, so each one mounts it.
        let agents = crate::services::agents::host_dir(&settings.state_dir);
        std::fs::create_dir_all(&agents).with_context(|| format!("creating {}", agents.display()))?;
        let workspaces = Workspaces {
            inner: Arc::new(Inner {
                pool: BlobPool::open(settings.state_dir.join("blobs"))?,
                flavors: settings.state_dir.join("flavors"),
                agents,
                proxy_listen: config.proxy_listen,
                root,
                runner,
                db,
                audit,
                disk,
                settings,
                slots: Mutex::default(),
                snapshots: SnapshotsInFlight::default(),
                storage_budget,
                storage_locks: Mutex::default(),
            }),
        };
        workspaces.mount_volumes();
        Ok(workspaces)
    }

    fn db(&self) -> &Db {
        &self.inner.db
    }

    fn settings(&self) -> &WorkspaceSettings {
        &self.inner.settings
    }

    /// The blob pool.
    fn pool(&self) -> &BlobPool {
        &self.inner.pool
    }

    /// The directory of one workspace (tree and stat cache).
    fn dir(&self, id: &str) -> PathBuf {
        self.inner.root.join(id)
    }

    /// The tree mounted at `/workspace` (on the workspace's own file
    /// system when it has a disk limit).
    fn tree(&self, id: &str) -> PathBuf {
        volume::tree_in(&self.dir(id))
    }

    fn slot(&self, id: &str) -> Arc<Slot> {
        lock(&self.inner.slots).entry(id.to_owned()).or_default().clone()
    }

    /// Names of the flavors on this host.
    pub fn flavor_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.inner.flavors)
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
    fn check_flavors(&self, names: &[String]) -> Result<(), Error> {
        let known = self.flavor_names();
        let mut seen = HashSet::new();
        for name in names {
            if !seen.insert(name) {
                return Err(Error::new(
                    ErrorCode::DuplicateFlavor,
                    format!("flavor {name:?} is listed twice"),
                ));
            }
            if !valid_flavor(name) || !known.contains(name) {
                return Err(Error::new(
                    ErrorCode::UnknownFlavor,
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
    fn mount(&self, config: JailConfig, id: &str, spec: &StoredSpec) -> JailConfig {
        let mut config = config.workspace_rw(self.tree(id));
        if self.inner.agents.is_dir() {
            config = config.bind(self.inner.agents.clone(), crate::services::agents::AGENTS_MOUNT, false);
        }
        let mut path = String::new();
        for name in &spec.flavors {
            let target = format!("/opt/flavors/{name}");
            path.push_str(&format!("{target}/bin:"));
            // Jails have no /etc/fonts: a flavor may bring the fontconfig
            // file (desktop does), for every program of the workspace.
            if self.inner.flavors.join(name).join(FONTCONFIG).is_file() {
                config = config.env("FONTCONFIG_FILE", format!("{target}/{FONTCONFIG}"));
            }
            config = config.bind(self.inner.flavors.join(name), target, false);
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

    /// Removes the directory of workspace `id` (logged when it cannot).
    fn remove_dir(&self, id: &str) -> bool {
        if let Err(err) = self.drop_volume(id) {
            tracing::error!(message = %err.message, workspace = %id, "removing a workspace's volume");
            return false;
        }
        remove_tree(&self.dir(id))
    }

    /// The marker of a directory whose workspace row is not committed yet.
    fn creating_marker(&self, id: &str) -> PathBuf {
        self.dir(id).join(CREATING)
    }

    /// Makes the directory of workspace `id`, marked as being created (see
    /// [`CREATING`]), and its volume with a disk limit; its tree is created
    /// empty when `with_tree`, left for a restore to create otherwise.
    async fn create_dir(&self, id: &str, with_tree: bool, disk_mb: Option<u64>) -> Result<Created<'_>, Error> {
        let created = Created {
            workspaces: self,
            id: id.to_owned(),
            kept: false,
        };
        std::fs::create_dir(self.dir(id)).map_err(Error::internal)?;
        // Before anything else goes in: a directory killed before this is
        // empty, and the startup repair removes an empty one as well.
        std::fs::File::create(self.creating_marker(id)).map_err(Error::internal)?;
        self.make_volume(id, disk_mb).await?;
        if with_tree {
            std::fs::create_dir(self.tree(id)).map_err(Error::internal)?;
        }
        Ok(created)
    }

    /// The workspace `id` in the caller's tenant (404 otherwise).
    async fn find(&self, caller: &Caller, id: &str) -> Result<WorkspaceRow, Error> {
        // The routes check a scoped token's workspace; so does every
        // lookup, in case a route takes an id from elsewhere.
        caller.permit_workspace(id)?;
        self.db()
            .workspace(&caller.scope(None), id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))
    }

    /// The wire form of a row; host paths only for admins.
    fn wire(&self, caller: &Caller, row: &WorkspaceRow) -> Result<Workspace, Error> {
        let tree = if caller.role == Role::Admin {
            self.tree(&row.id).display().to_string()
        } else {
            String::new()
        };
        let spec = StoredSpec::of(row)?;
        Ok(Workspace {
            id: row.id.clone(),
            tenant_id: row.tenant_id.clone(),
            created_at: rfc3339(row.created_at),
            deleted_at: row.deleted_at.map(rfc3339),
            source_dir: tree.clone(),
            output_dir: tree,
            config: spec.wire(),
            git_repo: row.git_repo.clone(),
            git_ref: row.git_ref.clone(),
            label: row.label.clone(),
            domains: spec.domains,
            last_exec_at: row.last_exec_at.map(rfc3339),
            paused_at: row.paused_at.map(rfc3339),
            auto_snapshot: row.auto_snapshot.clone(),
            disk_used_mb: spec.disk_mb.and_then(|_| self.disk_used_mb(&row.id)),
        })
    }

    /// Creates a workspace for `tenant`: empty, or cloned from git (each
    /// repository in its own jail); a failed clone leaves nothing behind.
    pub async fn create(&self, caller: &Caller, tenant: &str, body: NewWorkspace) -> Result<Workspace, Error> {
        check_workspace_label(&body.label)?;
        self.create_any(caller, tenant, body).await
    }

    /// [`Workspaces::create`] of a workspace the server makes for itself
    /// (its label may start with [`SERVER_LABEL_PREFIX`]).
    pub async fn create_for_server(
        &self,
        caller: &Caller,
        tenant: &str,
        body: NewWorkspace,
    ) -> Result<Workspace, Error> {
        self.create_any(caller, tenant, body).await
    }

    async fn create_any(&self, caller: &Caller, tenant: &str, body: NewWorkspace) -> Result<Workspace, Error> {
        let mut spec = spec_from(&body)?;
        spec.disk_mb = spec.disk_mb.or(self.settings().default_disk_mb);
        self.check_disk(spec.disk_mb)?;
        self.check_flavors(&spec.flavors)?;
        let clones = match &body.git {
            Some(seed) => git::validate(seed, self.settings().git_allow_http)?,
            None => Vec::new(),
        };
        self.inner.disk.ensure_room("create a workspace")?;
        // A disk limit is charged whole: the workspace's jails may fill it.
        let charged_bytes = spec.disk_mb.unwrap_or(0) << 20;
        let _storage = match charged_bytes {
            0 => None,
            bytes => {
                let held = self.storage_lock(tenant).await;
                self.ensure_storage(tenant, bytes, 0, "create a workspace with this disk limit")
                    .await?;
                Some(held)
            }
        };
        let id = new_id("wrk_");
        let created = self.create_dir(&id, true, spec.disk_mb).await?;
        self.clone_all(tenant, &created.tree(), &clones).await?;
        let (git_repo, git_ref) = match clones.as_slice() {
            [one] if one.dir.is_empty() => (Some(one.url.clone()), one.git_ref.clone()),
            [] => (None, None),
            many => (
                Some(many.iter().map(|c| c.url.as_str()).collect::<Vec<_>>().join(" ")),
                None,
            ),
        };
        let row = WorkspaceRow {
            id,
            tenant_id: tenant.to_owned(),
            created_at: now_ms(),
            deleted_at: None,
            label: body.label,
            spec: spec.to_json()?,
            git_repo,
            git_ref,
            last_exec_at: None,
            paused_at: None,
            auto_snapshot: None,
            charged_bytes: charged_bytes as i64,
        };
        self.db().insert_workspace(&row).await?;
        created.keep();
        self.inner.audit.record(caller, "workspace.create", &row.id).await;
        self.wire(caller, &row)
    }

    /// A page of the workspaces in `scope`, searched by `q`.
    pub async fn list(
        &self,
        caller: &Caller,
        scope: &Scope,
        q: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<WorkspaceList, Error> {
        let (rows, total) = self.db().list_workspaces(scope, q, limit, offset).await?;
        let rows = rows.iter().map(|r| self.wire(caller, r)).collect::<Result<_, _>>()?;
        Ok(WorkspaceList {
            rows,
            total,
            limit,
            offset,
        })
    }

    /// `(id, tenant)` of every workspace in `scope` labelled `label` and
    /// created before `created_before` (ms since the epoch).
    pub async fn labelled(
        &self,
        scope: &Scope,
        label: &str,
        created_before: i64,
    ) -> Result<Vec<(String, String)>, Error> {
        const PAGE: i64 = 500;
        let mut found = Vec::new();
        let mut offset = 0;
        loop {
            let (rows, _) = self.db().list_workspaces(scope, Some(label), PAGE, offset).await?;
            let got = rows.len() as i64;
            found.extend(
                rows.into_iter()
                    .filter(|r| r.label.as_deref() == Some(label) && r.created_at < created_before)
                    .map(|r| (r.id, r.tenant_id)),
            );
            if got < PAGE {
                return Ok(found);
            }
            offset += PAGE;
        }
    }

    /// One workspace of the caller's tenant.
    pub async fn get(&self, caller: &Caller, id: &str) -> Result<Workspace, Error> {
        let row = self.find(caller, id).await?;
        self.wire(caller, &row)
    }

    /// Renames a workspace.
    pub async fn update(&self, caller: &Caller, id: &str, body: WorkspaceUpdate) -> Result<Workspace, Error> {
        check_workspace_label(&body.label)?;
        if !self
            .db()
            .set_workspace_label(&caller.scope(None), id, body.label.as_deref())
            .await?
        {
            return Err(Error::not_found("workspace"));
        }
        self.inner.audit.record(caller, "workspace.rename", id).await;
        self.get(caller, id).await
    }

    /// Deletes a workspace: 409 while an exec runs; the tree is removed,
    /// the record kept (soft delete); a paused workspace's snapshot goes too.
    pub async fn remove(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        let scope = caller.scope(None);
        let slot = self.slot(id);
        if slot.running.load(Ordering::SeqCst) > 0 {
            return Err(Error::new(
                ErrorCode::WorkspaceBusy,
                "an exec is running in this workspace",
            ));
        }
        let _maintenance = slot.maintenance.lock().await;
        // Its processes end with it (none survives the delete).
        self.stop_runtime(&slot).await?;
        let _tree = slot.tree.write().await;
        let row = self
            .db()
            .workspace(&scope, id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        // On a nearly full disk the reserve goes first, so the database can
        // record the delete that frees space.
        self.inner.disk.relieve();
        let deleted = match self.db().delete_workspace(&scope, id).await {
            Err(err) if err.fault() == DbFault::Full => {
                // No room even for the record: the caller asked for the
                // tree to go, so its files go first to make room, then the
                // record is written (the row stays until it is).
                tracing::warn!(workspace = %id, "the disk is too full to record a delete: emptying the tree first");
                let tree = self.tree(id);
                blocking(move || empty_dir(&tree)).await?.map_err(Error::internal)?;
                if let Some(held) = &row.auto_snapshot {
                    // Paused: the tree is in its snapshot's blobs.
                    let blobs = self.db().snapshot_blobs(held).await?;
                    self.collect_blobs_of(blobs, Some(held)).await;
                }
                match self.db().delete_workspace(&scope, id).await {
                    Ok(deleted) => deleted,
                    Err(err) => {
                        // The row stays: the workspace lists with an empty
                        // tree (or paused, its blobs gone) until the delete
                        // is retried.
                        tracing::error!(%err, workspace = %id, "tree emptied, delete not recorded: the workspace stays, empty, until its delete is retried");
                        return Err(err.into());
                    }
                }
            }
            other => other?,
        };
        if !deleted {
            return Err(Error::not_found("workspace"));
        }
        // The delete is recorded: from here on nothing answers an error
        // (a retry would only find no workspace). What cannot be removed
        // now is logged, and the startup repair removes a directory whose
        // row is deleted.
        let (workspaces, doomed) = (self.clone(), id.to_owned());
        if let Err(err) = blocking(move || workspaces.remove_dir(&doomed)).await {
            tracing::error!(error = %err.message, workspace = %id, "removing a deleted workspace's directory");
        }
        if let Some(held) = &row.auto_snapshot {
            if let Err(err) = self.discard_snapshot(held).await {
                tracing::error!(%err, workspace = %id, snapshot = %held, "deleting a deleted workspace's pause snapshot; delete it by hand");
            }
        }
        lock(&self.inner.slots).remove(id);
        // Its agents' transcripts go with it (their processes ended with
        // its runtime).
        if let Err(err) = self.db().delete_workspace_acp(id).await {
            tracing::warn!(%err, workspace = %id, "deleting a deleted workspace's agent transcripts");
        }
        if let Err(err) = self.db().delete_workspace_agent_sessions(id).await {
            tracing::warn!(%err, workspace = %id, "deleting a deleted workspace's agent sessions");
        }
        // Its previews end with it (the relay also ignores deleted workspaces).
        if let Err(err) = self.db().revoke_workspace_previews(id, now_ms()).await {
            tracing::warn!(%err, workspace = %id, "revoking a deleted workspace's previews");
        }
        self.inner.audit.record(caller, "workspace.delete", id).await;
        Ok(())
    }

    /// Deletes a snapshot (the one that held a paused workspace's tree, or
    /// one past its tenant's storage budget) and frees its blobs.
    async fn discard_snapshot(&self, held: &str) -> Result<(), crate::db::DbError> {
        let blobs = self.db().snapshot_blobs(held).await?;
        self.db().delete_snapshot(&Scope::All, held).await?;
        self.collect_blobs_of(blobs, None).await;
        self.collect_garbage().await;
        Ok(())
    }

    /// Snapshots the workspace once and makes `count` independent
    /// workspaces from it.
    pub async fn fork(
        &self,
        caller: &Caller,
        id: &str,
        body: WorkspaceForkRequest,
    ) -> Result<WorkspaceForkResponse, Error> {
        if body.count == 0 || body.count as usize > MAX_FORKS {
            return Err(Error::new(
                ErrorCode::BadCount,
                format!("count must be 1 to {MAX_FORKS}"),
            ));
        }
        check_workspace_label(&body.label)?;
        let parent = self.find(caller, id).await?;
        self.inner.disk.ensure_room("fork a workspace")?;
        let spec = StoredSpec::of(&parent)?.without_domains();
        let _storage = self.storage_lock(&parent.tenant_id).await;
        let snap = self
            .take_snapshot(&parent, Some("fork".into()), SnapshotKind::Requested)
            .await?;
        let copies = Self::charge_of_copy(&spec, &snap).saturating_mul(u64::from(body.count));
        self.refund_unless_it_fits(&snap, copies, "fork this workspace").await?;
        let mut forks = Vec::new();
        for n in 1..=body.count {
            let label = body
                .label
                .clone()
                .or_else(|| parent.label.as_ref().map(|l| format!("{l} #{n}")));
            let row = self
                .create_from_snapshot(&parent.tenant_id, &snap, &spec, &parent, label)
                .await?;
            forks.push(self.wire(caller, &row)?);
        }
        self.inner.audit.record(caller, "workspace.fork", id).await;
        let parent = self.find(caller, id).await?;
        Ok(WorkspaceForkResponse {
            parent: self.wire(caller, &parent)?,
            forks,
            snapshot_id: snap.id,
        })
    }

    /// A new workspace from a snapshot; the parent workspace id must be the
    /// snapshot's own (threat-model row 28), else 404.
    pub async fn from_snapshot(&self, caller: &Caller, body: FromSnapshot) -> Result<Workspace, Error> {
        check_workspace_label(&body.label)?;
        let scope = caller.scope(None);
        // Without the right parent id the snapshot might as well not exist.
        let snap = self
            .db()
            .snapshot(&scope, &body.snapshot_id)
            .await?
            .filter(|s| s.workspace_id.as_deref() == Some(body.parent_workspace_id.as_str()))
            .ok_or_else(|| Error::not_found("snapshot of that parent workspace"))?;
        let parent = self
            .db()
            .workspace_any(&Scope::Tenant(snap.tenant_id.clone()), &body.parent_workspace_id)
            .await?
            .ok_or_else(|| Error::not_found("snapshot of that parent workspace"))?;
        let spec = StoredSpec::of(&parent)?.without_domains();
        self.check_flavors(&spec.flavors)?;
        self.inner.disk.ensure_room("create a workspace from a snapshot")?;
        let _storage = self.storage_lock(&snap.tenant_id).await;
        self.ensure_storage(
            &snap.tenant_id,
            Self::charge_of_copy(&spec, &snap),
            0,
            "create a workspace from this snapshot",
        )
        .await?;
        let row = self
            .create_from_snapshot(&snap.tenant_id, &snap, &spec, &parent, body.label)
            .await?;
        self.inner
            .audit
            .record(caller, "workspace.from_snapshot", &row.id)
            .await;
        self.wire(caller, &row)
    }
}

/// A new, empty workspace directory (tree included), removed again if the
/// creation fails before [`Created::keep`].
struct Created<'a> {
    workspaces: &'a Workspaces,
    id: String,
    kept: bool,
}

impl Created<'_> {
    /// The tree to fill.
    fn tree(&self) -> PathBuf {
        self.workspaces.tree(&self.id)
    }

    /// The creation succeeded: call only once the row is committed. The
    /// marker goes, so from now on only the row decides the directory's
    /// fate.
    fn keep(mut self) {
        self.kept = true;
        let marker = self.workspaces.creating_marker(&self.id);
        if let Err(err) = std::fs::remove_file(&marker) {
            // Harmless while the row exists: the startup repair removes a
            // marker next to a row.
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(%err, workspace = %self.id, "removing the creation marker of a workspace directory");
            }
        }
    }
}

impl Drop for Created<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.workspaces.remove_dir(&self.id);
        }
    }
}

/// Name of the empty file in `workspaces/<id>/` while the workspace's row
/// is not committed (a create, a create from a snapshot, a fork). The
/// startup repair removes a directory without a row only when it carries
/// this marker (or is empty): any other directory without a row holds an
/// acknowledged workspace whose row is missing (a database replaced or
/// restored from an old backup) and is moved to `lost+found`, never
/// deleted.
const CREATING: &str = ".creating";

/// Removes the directory tree `path`; `true` when it is gone (or was
/// never there), `false` (logged) when it could not be removed.
fn remove_tree(path: &std::path::Path) -> bool {
    match std::fs::remove_dir_all(path) {
        Ok(()) => true,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => true,
        Err(err) => {
            tracing::error!(%err, path = %path.display(), "removing a directory");
            false
        }
    }
}

/// Removes everything inside `dir`, keeping `dir` (a missing `dir` is
/// empty).
fn empty_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
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
        err @ (E::TooDeep { .. } | E::TooManyEntries { .. }) => Error::new(ErrorCode::TreeTooLarge, err.to_string()),
        // A manifest the store refuses to materialize was damaged or
        // tampered with: nothing was written.
        err @ (E::InvalidEntry { .. } | E::MissingBlob { .. } | E::BlobSize { .. } | E::InvalidHash(_)) => {
            tracing::error!(%err, "a snapshot cannot be restored");
            Error::new(
                ErrorCode::SnapshotDamaged,
                format!("the snapshot cannot be restored: {err}"),
            )
        }
        other => Error::internal(other),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(f).await.map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_specs_give_back_the_limits_they_were_made_from() {
        let body: NewWorkspace = serde_json::from_value(serde_json::json!({
            "memory_mb": 99999, "timeout_secs": 0, "idle_timeout_secs": 99999999, "flavors": ["node22"]
        }))
        .unwrap();
        let spec = spec_from(&body).unwrap();
        let applied = limits::resolve(&body.options).unwrap();
        assert_eq!(spec.limits(), applied);
        assert_eq!(
            limits::resolve(&limits::options_of(&spec.limits(), None, None)).unwrap(),
            applied
        );
        let wire = spec.wire();
        assert_eq!((wire.memory_mb, wire.timeout_secs, wire.cpu_percent), (8192, 1, 100));
        assert_eq!(wire.idle_timeout_secs, MAX_IDLE_SECS);
        // Rows written before this version (`cpu_percent: null`) still read.
        let old = r#"{"memory_mb":512,"timeout_secs":300,"cpu_percent":null,"max_pids":256,"network_mode":"none","network_domains":[],"seccomp":"standard","idle_timeout_secs":0}"#;
        let old: StoredSpec = serde_json::from_str(old).unwrap();
        assert_eq!(old.wire().cpu_percent, 100);
        assert_eq!(old.limits().cpu_percent, 0);
    }
}

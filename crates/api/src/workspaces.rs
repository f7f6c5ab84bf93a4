//! Workspaces and snapshots (`/v1/workspaces`, `/v1/snapshots`): long-lived
//! trees at `/workspace`, exec, fork, snapshot, and snapshots in the
//! content-addressed pool.

use serde::{Deserialize, Serialize};

use crate::jail::JailOptions;

/// Most forks of one `POST /v1/workspaces/{id}/fork`.
pub const MAX_FORKS: usize = 16;

/// A workspace's settings, applied to every exec (API.md `WorkspaceSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceSpec {
    /// Memory per exec, MiB.
    pub memory_mb: u64,
    /// Deadline per exec, seconds.
    pub timeout_secs: u64,
    /// CPU quota, percent of one core (100 when no quota was asked for).
    pub cpu_percent: u32,
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
    /// (ext) Disk limit, MiB: the tree lives on a file system of this size
    /// (absent: no limit of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_mb: Option<u64>,
}

/// An inbound hostname forward (agentjail's gateway): requests whose
/// `Host` is `domain` are relayed to `vm_port` inside the running
/// workspace, like a public preview. The domain must be a subdomain of the
/// server's preview domain (`myapp.localhost` by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceDomain {
    /// Hostname matched against `Host`.
    pub domain: String,
    /// Kept as given (agentjail's field; the relay goes to `vm_port`).
    pub backend_url: Option<String>,
    /// Port inside the workspace's jail.
    pub vm_port: Option<u16>,
}

/// A workspace as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: String,
    /// (ext) The owning tenant.
    pub tenant_id: String,
    pub created_at: String,
    pub deleted_at: Option<String>,
    /// Host path of the tree (blank for operators).
    pub source_dir: String,
    /// Host path of the tree (blank for operators).
    pub output_dir: String,
    pub config: WorkspaceSpec,
    pub git_repo: Option<String>,
    pub git_ref: Option<String>,
    pub label: Option<String>,
    /// Hostnames relayed to ports of the running workspace.
    pub domains: Vec<WorkspaceDomain>,
    pub last_exec_at: Option<String>,
    /// Set while the workspace is paused (its tree is in `auto_snapshot`).
    pub paused_at: Option<String>,
    pub auto_snapshot: Option<String>,
    /// (ext) MiB the tree uses on its own file system (with a disk limit,
    /// while the tree is there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_used_mb: Option<u64>,
}

/// `{rows, total, limit, offset}` of workspaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub rows: Vec<Workspace>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// The answer of a fork.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceForkResponse {
    pub parent: Workspace,
    pub forks: Vec<Workspace>,
    /// The snapshot of the parent the forks were made from.
    pub snapshot_id: String,
}

/// `git` in a create request: one repository, or several with their
/// directories.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GitSeed {
    /// One repository, cloned at the workspace's root.
    pub repo: Option<String>,
    /// Its branch, tag or commit.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Several repositories, each in its own directory.
    pub repos: Option<Vec<RepoSpec>>,
}

/// One repository of `repos`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoSpec {
    /// `https://host/path` (no credentials).
    pub repo: String,
    /// Branch, tag or commit.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Directory under `/workspace` (default: the repository's name).
    pub dir: Option<String>,
}

/// `POST /v1/workspaces`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewWorkspace {
    pub git: Option<GitSeed>,
    pub label: Option<String>,
    /// Pause after this many seconds without an exec (0 or absent: never).
    pub idle_timeout_secs: Option<u64>,
    /// Flavors (directories under `$state_dir/flavors/`).
    #[serde(default)]
    pub flavors: Vec<String>,
    /// (ext) Disk limit, MiB (at least 16): the tree lives on a file system
    /// of this size, and writes past it fail with "no space left". Root
    /// mode only. Default: the server's `--workspace-disk`.
    pub disk_mb: Option<u64>,
    /// Inbound hostname forwards (`WorkspaceDomain` objects), served as
    /// public previews of the running workspace.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub domains: Vec<serde_json::Value>,
    #[serde(flatten)]
    pub options: JailOptions,
}

/// `PATCH /v1/workspaces/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceUpdate {
    /// The new label (`null` clears it).
    pub label: Option<String>,
}

/// `POST /v1/workspaces/{id}/exec` and `/exec/stream`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceExec {
    pub cmd: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Deadline, 1..=3600 s (default: the workspace's).
    pub timeout_secs: Option<u64>,
    /// Memory, 16..=8192 MiB (default: the workspace's).
    pub memory_mb: Option<u64>,
    /// Extra environment, `[[name, value], ...]`.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<String>>)]
    pub env: Vec<(String, String)>,
}

/// `POST /v1/workspaces/{id}/snapshot` (the body is optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSnapshot {
    pub name: Option<String>,
}

/// `POST /v1/workspaces/{id}/fork`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceForkRequest {
    /// Forks to make, 1..=16.
    pub count: u32,
    /// Label of each fork (default: the parent's, with `#n`).
    pub label: Option<String>,
}

/// `POST /v1/workspaces/from-snapshot`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromSnapshot {
    pub snapshot_id: String,
    /// The workspace the snapshot was taken of: proof of ownership.
    pub parent_workspace_id: String,
    pub label: Option<String>,
}

/// A snapshot as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotRecord {
    pub id: String,
    pub workspace_id: Option<String>,
    pub name: Option<String>,
    pub created_at: String,
    /// Host path of the blob pool holding it (blank for operators).
    pub path: String,
    /// Bytes of its regular files.
    pub size_bytes: i64,
    /// (ext) Regular files.
    pub file_count: i64,
    /// (ext) A running exec was frozen for the copy.
    pub frozen: bool,
    /// (ext) Taken by an idle pause.
    pub auto: bool,
    /// (ext) Bytes its distinct blobs take on the state disk (holes are
    /// free): what it counts against the tenant's storage budget, unless
    /// `auto`.
    pub stored_bytes: i64,
}

/// `{rows, total, limit, offset}` of snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotList {
    pub rows: Vec<SnapshotRecord>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotManifestEntry {
    pub path: String,
    /// Permission bits as snapshotted.
    pub mode: u32,
    /// BLAKE3-256 of the contents, hex.
    pub hash: String,
    pub size: u64,
}

/// The per-file hash list of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotManifest {
    /// Always `incremental` (pool-backed).
    pub kind: String,
    pub entries: Vec<SnapshotManifestEntry>,
}

/// Whether a workspace runs (`POST /v1/workspaces/{id}/start` and `/stop`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceRunState {
    /// The workspace.
    pub id: String,
    /// `running` (its runtime jail is up), `paused` (up but frozen: its
    /// processes keep their memory and get no CPU) or `stopped`.
    pub state: String,
    /// When its runtime jail started (RFC 3339), while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Processes running in it.
    pub processes: usize,
}

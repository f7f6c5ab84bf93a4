//! Who the caller is, what the host offers (`/v1/whoami`, `/v1/flavors`,
//! `/v1/config`), API keys (`/v1/keys`, ext) and the public counters.

use serde::{Deserialize, Serialize};

/// The caller's tenant and role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Whoami {
    pub tenant: String,
    /// `admin` or `operator`.
    pub role: String,
    /// (ext) The tenant's admission budgets and what its running jails
    /// hold of them now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub budgets: Option<TenantBudgets>,
    /// (ext) The tenant's storage budget and what it holds of it now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub storage: Option<TenantStorage>,
}

/// (ext) A tenant's storage budget (`paddock serve --tenant-storage`) and
/// its use now: its snapshots' stored bytes, the copies its forks hold,
/// and the disk limits of its workspaces. A snapshot, fork or workspace
/// that would pass it answers 507 `STORAGE_BUDGET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantStorage {
    /// What the tenant may hold, MiB.
    pub storage_mb: u64,
    /// What it holds now, MiB (rounded up).
    pub storage_in_use_mb: u64,
}

/// (ext) A tenant's admission budgets (`paddock serve
/// --tenant-max-concurrent`, `--tenant-memory`) and their use now. A jail
/// that would pass one answers 429.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantBudgets {
    /// Jails the tenant may run at once.
    pub max_concurrent: u64,
    /// Jails it runs now (runs, execs, forks, clones, running workspaces).
    pub running: u64,
    /// The sum of memory limits its running jails may reach, MiB.
    pub memory_mb: u64,
    /// The sum of its running jails' memory limits now, MiB.
    pub memory_in_use_mb: u64,
}

/// A flavor the host offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flavor {
    pub name: String,
}

/// An API key (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRecord {
    pub id: String,
    pub tenant: String,
    /// `admin` or `operator`.
    pub role: String,
    pub label: Option<String>,
    /// `config`, `generated` or `api`.
    pub source: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// `POST /v1/keys`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub tenant: String,
    pub role: KeyRole,
    pub label: Option<String>,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Every tenant's rows, and keys.
    Admin,
    /// Its own tenant's rows.
    Operator,
}

impl KeyRole {
    /// `admin` or `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Admin => "admin",
            KeyRole::Operator => "operator",
        }
    }
}

/// A new key, with its token (shown this once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: KeyRecord,
    /// The bearer token; stored hashed, never shown again.
    pub token: String,
}

/// `GET /v1/config` (agentjail's settings snapshot, with extensions).
/// Keys marked admin-only are left out for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    pub proxy: ProxySettings,
    pub control_plane: ControlPlaneSettings,
    /// Inbound gateway: not served (always `null`).
    pub gateway: Option<GatewaySettings>,
    pub exec: Option<ExecSettings>,
    pub persistence: PersistenceSettings,
    pub snapshots: SnapshotSettings,
    /// (ext, admins) `sqlite` or `postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// (ext) Longest session lifetime.
    pub session_ttl_max_secs: u64,
}

/// The phantom proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProxySettings {
    /// The URL jails reach the proxy at.
    pub base_url: String,
    /// (admins) Its listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_addr: Option<String>,
    pub providers: Vec<Provider>,
}

/// A service the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provider {
    pub service_id: String,
    /// The upstream's base URL (`""` for operators: a custom service's
    /// upstream may be an internal host).
    pub upstream_base: String,
    /// `/v1/<service>/`.
    pub request_prefix: String,
    /// (ext) The variable holding the phantom token.
    pub key_env: String,
    /// (ext) The variable holding the base URL.
    pub url_env: String,
    /// (ext) How the real key is sent upstream (`bearer`, `header:<name>`, ...).
    pub auth: String,
}

/// The control plane's own listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlPlaneSettings {
    /// (admins) Its listen address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_addr: Option<String>,
}

/// The inbound gateway (not served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GatewaySettings {
    pub bind_addr: String,
}

/// Defaults and limits of jails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecSettings {
    pub default_memory_mb: u64,
    pub default_timeout_secs: u64,
    pub max_concurrent: u64,
}

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersistenceSettings {
    /// (admins) The state directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// (admins) The snapshot blob pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_pool_dir: Option<String>,
    /// How often idle workspaces are checked.
    pub idle_check_secs: u64,
}

/// Snapshot retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotSettings {
    pub gc: Option<SnapshotGc>,
}

/// Snapshot garbage collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotGc {
    pub max_age_secs: Option<u64>,
    pub max_count: Option<u64>,
    pub tick_secs: u64,
}

/// Liveness and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
}

/// Readiness: whether the server can take work now, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    pub checks: ReadinessChecks,
}

/// The checks readiness is made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReadinessChecks {
    /// The database answers and accepts a write.
    pub database: DatabaseCheck,
    /// The state disk is above its free-space reserve.
    pub state_disk: DiskCheck,
    /// The jail engine can start jails.
    pub jail_engine: Check,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Check {
    pub ok: bool,
    /// Why the check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The database check, with its round trip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatabaseCheck {
    pub ok: bool,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Time the probe write took.
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The state disk check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiskCheck {
    pub ok: bool,
    /// Bytes still free for unprivileged writers.
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Below this, new work answers 507.
    pub min_free_bytes: u64,
    /// Size of the reserve file kept for the database (0: none).
    pub reserve_bytes: u64,
    /// Whether the reserve file is held (it is given up when the disk
    /// fills, and taken again once space is freed).
    pub reserve_held: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counters across all tenants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicStats {
    /// Jails running now.
    pub active_execs: i64,
    /// Jails in the ledger.
    pub total_execs: i64,
    /// Sessions not closed.
    pub sessions: i64,
    /// Stored credentials.
    pub credentials: i64,
}

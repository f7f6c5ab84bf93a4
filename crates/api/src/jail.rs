//! What a request may ask of a jail (limits, network, seccomp) and what
//! every run and exec answers.

use serde::{Deserialize, Serialize};

/// Limits and isolation settings a request may ask for. Absent fields
/// take the server's defaults; out-of-range values are clamped (the
/// server records what it applied in the ledger as `LimitsApplied`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JailOptions {
    /// Deadline, 1..=3600 s (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Memory, 16..=8192 MiB (default 512; 0 is not "unlimited").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// `{mode: none|loopback|allowlist, domains?}` (default `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub network: Option<NetworkSpec>,
    /// `standard` (default) or `strict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub seccomp: Option<String>,
    /// CPU quota, 1..=800 % of a core (default: no quota).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<u32>,
    /// Processes and threads, 1..=1024 (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pids: Option<u32>,
}

/// A jail's network: no network, its own loopback, or egress through the
/// allowlist proxy to the listed hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkSpec {
    /// `none`, `loopback` or `allowlist`.
    pub mode: String,
    /// Hosts for `allowlist` (1..=32, names or `*.` wildcards).
    #[serde(default)]
    pub domains: Vec<String>,
}

impl NetworkSpec {
    /// No network at all (the default).
    pub fn none() -> NetworkSpec {
        NetworkSpec {
            mode: "none".into(),
            domains: Vec::new(),
        }
    }
}

/// The settings a jail ran with, after defaults and clamps: recorded in
/// ledger rows and workspace records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitsApplied {
    pub timeout_secs: u64,
    pub memory_mb: u64,
    /// 0: no CPU quota.
    pub cpu_percent: u32,
    pub max_pids: u32,
    pub network: NetworkSpec,
    /// `standard` or `strict`.
    pub seccomp: String,
}

/// What a jail's cgroup counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceStats {
    pub memory_peak_bytes: u64,
    pub memory_current_bytes: u64,
    pub cpu_usage_usec: u64,
    pub io_read_bytes: u64,
    pub io_write_bytes: u64,
    pub pids_current: u64,
}

/// A connection the egress proxy refused or could not make (allowlist
/// mode), so a caller sees why `curl` got a 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EgressRefusal {
    /// `CONNECT` or the forwarded request's method.
    pub method: String,
    pub host: String,
    pub port: u16,
    /// `denied` (by policy) or `failed` (allowed, unreachable).
    pub outcome: String,
    /// Machine-readable reason (`host_not_allowed`, `non_public_address`, ...).
    pub reason: Option<String>,
    /// Human-readable explanation.
    pub detail: Option<String>,
}

/// One connection attempt through a jail's egress proxy (allowlist mode),
/// as the jail ledger keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EgressAttempt {
    /// `CONNECT` or the forwarded request's method.
    pub method: String,
    /// The host as the jail named it.
    pub host: String,
    pub port: u16,
    /// The address connected to (or the first refused one).
    pub address: Option<String>,
    /// `allowed`, `denied` (by policy) or `failed` (allowed, unreachable).
    pub outcome: String,
    /// Machine-readable reason (`host_not_allowed`, `non_public_address`, ...).
    pub reason: Option<String>,
    /// Human-readable explanation.
    pub detail: Option<String>,
    /// HTTP status: the upstream's for a forwarded request, the proxy's for
    /// a refusal; absent for a tunnel.
    pub status: Option<u16>,
    /// Bytes from the jail to the upstream.
    pub bytes_up: u64,
    /// Bytes from the upstream to the jail.
    pub bytes_down: u64,
    /// From the request to the end of the connection.
    pub duration_ms: u64,
}

/// What every run and exec answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecResult {
    /// (ext) The jail's ledger id (`GET /v1/jails/{id}`); also in the
    /// `x-paddock-run-id` header.
    pub id: i64,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    /// Wall time, whole milliseconds.
    pub duration_ms: u64,
    pub timed_out: bool,
    pub oom_killed: bool,
    /// (ext) stdout was longer than the server's capture cap and was cut.
    pub stdout_truncated: bool,
    /// (ext) stderr was longer than the server's capture cap and was cut.
    pub stderr_truncated: bool,
    /// (ext) The run was cancelled (`POST /v1/runs/{id}/cancel`).
    pub cancelled: bool,
    /// `null` when the jail had no cgroup.
    pub stats: Option<ResourceStats>,
    /// (ext) Connections the egress proxy refused or could not make.
    #[serde(default)]
    pub egress_refusals: Vec<EgressRefusal>,
}

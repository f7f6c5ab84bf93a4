//! The jail ledger (`/v1/jails`) and the audit log (`/v1/audit`).

use serde::{Deserialize, Serialize};

/// One jail of the ledger (agentjail's `JailRecord`, with extensions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JailRecord {
    pub id: i64,
    pub tenant_id: String,
    /// `run`, `exec`, `fork`, `stream` or `workspace`.
    pub kind: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// `running`, `completed`, `error` or (ext) `cancelled`.
    pub status: String,
    /// The session of an `exec`.
    pub session_id: Option<String>,
    /// Per kind: the language (run, stream), the command (exec),
    /// `<language> · parent|child` (fork), `workspace:<id>/<cmd>` (workspace).
    pub label: String,
    /// The fork parent's row (fork children).
    pub parent_id: Option<i64>,
    pub exit_code: Option<i64>,
    /// Wall time, whole milliseconds.
    pub duration_ms: Option<u64>,
    pub timed_out: bool,
    pub oom_killed: bool,
    pub memory_peak_bytes: Option<i64>,
    pub memory_current_bytes: Option<i64>,
    pub cpu_usage_usec: Option<i64>,
    pub io_read_bytes: Option<i64>,
    pub io_write_bytes: Option<i64>,
    pub pids_current: Option<i64>,
    /// The first 16 KiB.
    pub stdout: String,
    /// The first 16 KiB.
    pub stderr: String,
    /// Why it failed to run, for `error` rows.
    pub error: Option<String>,
    /// What it ran with: `network_mode`, `network_domains` (omitted when
    /// empty), `seccomp`, `memory_mb`, `timeout_secs`, `cpu_percent` (100
    /// when no quota), `max_pids`, `git_repo`/`git_ref` (omitted when
    /// none), and (ext) the kind's own keys (`language`, `cmd`, ...).
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// (ext) Its connections through the egress proxy (allowlist mode),
    /// allowed and refused, the first 100 in order; empty otherwise.
    #[serde(default)]
    pub egress: Vec<crate::jail::EgressAttempt>,
}

/// `{rows, total, limit, offset}` of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JailsList {
    pub rows: Vec<JailRecord>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// One request through the phantom proxy (agentjail's `AuditRow`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    /// `""` when the request was refused before its token was known.
    pub session_id: String,
    /// `""` when unknown.
    pub service: String,
    pub method: String,
    /// The upstream path (without `/v1/<service>` and the query).
    pub path: String,
    pub status: u16,
    /// Why the proxy refused it; `null` when it was forwarded.
    pub reject_reason: Option<String>,
    /// Milliseconds until the upstream's response headers; `null` unless forwarded.
    pub upstream_ms: Option<u64>,
}

/// `{rows, total}` of the proxy's audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditList {
    pub rows: Vec<AuditRow>,
    pub total: i64,
}

/// (ext) A control-plane action: who did what to which object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionRow {
    pub id: i64,
    pub at: String,
    pub tenant_id: String,
    /// The id of the key that acted.
    pub actor: String,
    /// `session.create`, `credential.put`, `key.revoke`, ...
    pub action: String,
    /// What it acted on (an id or a service name).
    pub target: String,
}

/// (ext) `{rows, total}` of the control-plane actions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionList {
    pub rows: Vec<ActionRow>,
    pub total: i64,
}

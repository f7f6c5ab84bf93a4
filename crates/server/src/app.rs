//! Shared state of the control plane: its settings, database, services
//! and counters, as every route receives them.

use std::sync::Arc;
use std::time::Instant;

use crate::config::ServerConfig;
use crate::crypto::MasterKey;
use crate::db::Db;
use crate::metrics::Metrics;
use crate::phantom::{AuditWriter, DbAuthority};
use crate::services::audit::AuditLog;
use crate::services::credentials::Credentials;
use crate::services::identity::Caller;
use crate::services::jails::JailRunner;
use crate::services::kernels::Kernels;
use crate::services::keys::Keys;
use crate::services::ledger::JailLedger;
use crate::services::previews::Previews;
use crate::services::runs::Runs;
use crate::services::sessions::Sessions;
use crate::services::space::StateDisk;
use crate::services::workspaces::Workspaces;
use paddock_phantom::PhantomProxy;

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    /// Settings.
    pub config: ServerConfig,
    /// Database.
    pub db: Db,
    /// Starts jails under the concurrency limit, with their ledger rows.
    pub runner: JailRunner,
    /// Encrypts credentials at rest.
    pub master_key: MasterKey,
    /// Counters for `/metrics` and `/v1/stats`.
    pub metrics: Arc<Metrics>,
    /// The phantom credential proxy (served on its own listener).
    pub phantom: PhantomProxy<DbAuthority>,
    /// One-shot runs and forks.
    pub runs: Runs,
    /// Workspace trees and the snapshot pool.
    pub workspaces: Workspaces,
    /// Coding agents (ACP servers) of running workspaces.
    pub agents: crate::services::agents::Agents,
    /// Agent sessions and their durable turns.
    pub agent_sessions: crate::services::agents::sessions::AgentSessions,
    /// Desktops of running workspaces.
    pub desktops: crate::services::desktop::Desktops,
    /// Browsers (agent-browser and Chromium) of workspaces.
    pub browsers: crate::services::browser::Browsers,
    /// Code kernels of running workspaces.
    pub kernels: Kernels,
    /// Warm workspaces for `POST /v1/code`.
    pub code_pool: crate::services::kernels::pool::CodePool,
    /// Exposed ports of running workspaces.
    pub previews: Previews,
    /// Sessions, their phantom tokens and execs.
    pub sessions: Sessions,
    /// Upstream credentials.
    pub credentials: Credentials,
    /// API keys.
    pub keys: Keys,
    /// Scoped tokens: minted, listed, revoked (they authenticate through
    /// `keys`).
    pub scoped_tokens: crate::services::tokens::ScopedTokens,
    /// The jail ledger, read.
    pub ledger: JailLedger,
    /// The audit log: control-plane actions written, both halves read.
    pub audit_log: AuditLog,
    /// The state disk and its free-space reserve.
    pub disk: StateDisk,
    /// Writes the proxy's audit rows; taken at shutdown to flush them.
    pub audit_writer: std::sync::Mutex<Option<AuditWriter>>,
    /// When the server started.
    pub started: Instant,
    /// Cancelled when the server begins to shut down: streams that would
    /// never end on their own (an agent followed over SSE) end then, so
    /// the shutdown does not wait for them.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Shared state as handlers receive it.
pub type SharedState = Arc<AppState>;

impl AppState {
    /// Appends a control-plane audit row; a failure is logged, not fatal
    /// (the same as [`AuditLog::record`], for routes not moved to services).
    pub async fn audit(&self, caller: &Caller, action: &str, target: &str) {
        self.audit_log.record(caller, action, target).await;
    }
}

//! Coding agents in a running workspace (`…/runtime/v1/agents`,
//! `…/runtime/v1/acp`): sandbox-agent 0.4.2's shapes, plus paddock's
//! durable transcript of each ACP server (`…/v1/acp/{server}/events`).

use serde::{Deserialize, Serialize};

/// What an agent can do, as sandbox-agent reports it (18 flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(clippy::struct_excessive_bools)]
pub struct AgentCapabilities {
    pub plan_mode: bool,
    pub permissions: bool,
    pub questions: bool,
    pub tool_calls: bool,
    pub tool_results: bool,
    pub text_messages: bool,
    pub images: bool,
    pub file_attachments: bool,
    pub session_lifecycle: bool,
    pub error_events: bool,
    pub reasoning: bool,
    pub status: bool,
    pub command_execution: bool,
    pub file_changes: bool,
    pub mcp_tools: bool,
    pub streaming_deltas: bool,
    pub item_started: bool,
    pub shared_process: bool,
}

/// Whether an agent's ACP server process runs (sandbox-agent's
/// `ServerStatusInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatusInfo {
    /// `running` or `stopped`.
    pub status: String,
    /// How long the oldest running server of the agent has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_ms: Option<i64>,
}

/// One agent: `GET …/v1/agents` lists them, `GET …/v1/agents/{agent}`
/// gives one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// `claude`, `codex`, `opencode`, `amp`, `pi`, `cursor` or `mock`.
    pub id: String,
    /// Whether the server's host has it (in its agents flavor, or built in).
    pub installed: bool,
    /// Whether the tenant has a credential for the model service the agent
    /// calls (its traffic goes through the phantom proxy).
    pub credentials_available: bool,
    /// The installed version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where the agent's ACP server is inside the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub capabilities: AgentCapabilities,
    /// Models, modes and thought levels (with `?config=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_options: Option<Vec<serde_json::Value>>,
    /// Why the agent cannot run here, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    /// Whether an ACP server of the agent runs in this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_status: Option<ServerStatusInfo>,
}

/// `GET …/v1/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentListResponse {
    pub agents: Vec<AgentInfo>,
}

/// Query of the agent routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "snake_case")]
pub struct AgentQuery {
    /// Include `configOptions`.
    #[serde(default)]
    pub config: Option<bool>,
    /// Accepted for sandbox-agent's clients; paddock keeps no cache.
    #[serde(default)]
    pub no_cache: Option<bool>,
}

/// `POST …/v1/agents/{agent}/install`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentInstallRequest {
    /// Install again even when installed.
    #[serde(default)]
    pub reinstall: Option<bool>,
    /// Must be the pinned version when given (paddock installs pinned
    /// versions only).
    #[serde(default)]
    pub agent_version: Option<String>,
    /// Must be the pinned adapter version when given.
    #[serde(default)]
    pub agent_process_version: Option<String>,
}

/// One thing an install put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentInstallArtifact {
    /// `agent_process` (the ACP server) or `native_agent` (the CLI it drives).
    pub kind: String,
    /// Its path inside workspaces.
    pub path: String,
    /// `builtin` or `npm:<package>`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The answer of an install (sandbox-agent's snake_case field included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentInstallResponse {
    pub already_installed: bool,
    pub artifacts: Vec<AgentInstallArtifact>,
}

/// One ACP server of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcpServerInfo {
    pub server_id: String,
    pub agent: String,
    pub created_at_ms: i64,
    /// (ext) `running`, or `exited` once its agent process has ended (its
    /// transcript stays readable until the server is deleted).
    pub status: String,
}

/// `GET …/v1/acp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AcpServerListResponse {
    pub servers: Vec<AcpServerInfo>,
}

/// A JSON-RPC 2.0 envelope (a request, a response or a notification) as
/// the Agent Client Protocol carries it, passed on unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct AcpEnvelope(pub serde_json::Value);

/// Query of `POST …/v1/acp/{server}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
pub struct AcpPostQuery {
    /// The agent to start; required on the first POST to a server id.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Query of `GET …/v1/acp/{server}` (SSE) and of the transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
pub struct AcpEventsQuery {
    /// (ext) Only events after this index (as `Last-Event-ID` does).
    #[serde(default)]
    pub since: Option<i64>,
    /// (ext, transcript only) At most this many events (default 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// One envelope of an ACP server's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcpEvent {
    /// Monotonic per server, from 1; the SSE `id`.
    pub index: i64,
    /// `outbound` (client to agent) or `inbound` (agent to client).
    pub direction: String,
    pub created_at_ms: i64,
    /// The JSON-RPC envelope as it was sent.
    #[schema(value_type = Object)]
    pub envelope: serde_json::Value,
}

/// `GET …/v1/acp/{server}/events` (ext): the transcript, both directions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcpEventList {
    pub events: Vec<AcpEvent>,
    /// Whether more events follow the last one.
    pub has_more: bool,
}

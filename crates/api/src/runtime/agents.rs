//! Coding agents in a running workspace (`…/runtime/v1/agents`,
//! `…/runtime/v1/acp`): sandbox-agent 0.4.2's shapes, plus paddock's
//! durable transcript of each ACP server (`…/v1/acp/{server}/events`).

use std::collections::BTreeMap;

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

/// Query of `…/v1/config/mcp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct McpConfigQuery {
    /// The directory the entry belongs to (in the workspace; relative to
    /// `/workspace`): sessions whose `cwd` it is get the server.
    pub directory: String,
    /// The entry's name (the MCP server's name for the agent).
    pub mcp_name: String,
}

/// Query of `…/v1/config/skills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct SkillsConfigQuery {
    /// The directory the entry belongs to (in the workspace).
    pub directory: String,
    /// The entry's name.
    pub skill_name: String,
}

/// An MCP server for the agents of a directory (sandbox-agent's
/// `McpServerConfig`): a local (stdio) command or a remote URL, told apart
/// by `type`. Absent maps and `null` read as empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum McpServerConfig {
    /// A command the agent starts and speaks to over stdio.
    #[serde(rename = "local", alias = "stdio")]
    Local {
        command: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        args: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        #[serde(
            default,
            deserialize_with = "null_as_empty",
            skip_serializing_if = "BTreeMap::is_empty"
        )]
        #[schema(value_type = StringMap)]
        env: BTreeMap<String, String>,
        #[serde(default, rename = "timeoutMs", skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<i64>,
    },
    /// A server the agent reaches at `url` (`transport` `http` or `sse`).
    #[serde(rename = "remote", alias = "http")]
    Remote {
        url: String,
        #[serde(default, rename = "bearerTokenEnvVar", skip_serializing_if = "Option::is_none")]
        bearer_token_env_var: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        #[serde(
            default,
            rename = "envHeaders",
            deserialize_with = "null_as_empty",
            skip_serializing_if = "BTreeMap::is_empty"
        )]
        #[schema(value_type = StringMap)]
        env_headers: BTreeMap<String, String>,
        #[serde(
            default,
            deserialize_with = "null_as_empty",
            skip_serializing_if = "BTreeMap::is_empty"
        )]
        #[schema(value_type = StringMap)]
        headers: BTreeMap<String, String>,
        // (A named object in the schema, not an inline "object or null":
        // client generators cannot read those inside a union.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = JsonObject)]
        oauth: Option<serde_json::Value>,
        #[serde(default, rename = "timeoutMs", skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
}

/// Names to values (environment variables, HTTP headers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StringMap(pub BTreeMap<String, String>);

/// A JSON object of any members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

/// A map that may be sent as `null`.
fn null_as_empty<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Where skills come from (sandbox-agent's `SkillSource`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkillSource {
    /// `local` (a directory in the workspace), `git` (a repository URL) or
    /// `github` (`owner/repo`).
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    /// The skills to take (directory names); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
    /// A git ref to check out.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The directory inside the source that holds the skills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// The skills of a directory's agents (sandbox-agent's `SkillsConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkillsConfig {
    pub sources: Vec<SkillSource>,
}

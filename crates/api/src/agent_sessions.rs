//! Agent sessions (`/v1/workspaces/{id}/agent-sessions`): paddock's own
//! layer over a coding agent's ACP session, with Tangle's durable turns.
//! A turn has an id the caller may choose (the same id never runs twice),
//! a status marker (`streaming`, `completed`, `interrupted` with a reason)
//! kept in the database, and a result that can be read after the fact
//! (fire-and-detach). `session` alone keeps agentjail's meaning (phantom
//! credential sessions).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an agent session answers the agent's permission requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionPolicy {
    /// Kept pending until answered (`POST …/permissions/{request}`, or
    /// an ACP client of the session's server).
    #[default]
    Ask,
    /// Allowed once, each time.
    Allow,
    /// Rejected, each time.
    Reject,
}

/// `POST /v1/workspaces/{id}/agent-sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAgentSession {
    /// The agent (`GET …/runtime/v1/agents` lists them).
    pub agent: String,
    /// The session's id (1 to 100 of `A-Za-z0-9._-`); generated
    /// (`ags_…`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The agent's working directory in the workspace (absolute; default
    /// `/workspace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// A mode the agent offers (`session/set_mode`), e.g. Claude's
    /// `acceptEdits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// How the agent's permission requests are answered (default `ask`).
    #[serde(default)]
    pub permissions: PermissionPolicy,
}

/// A permission request of the agent waiting for an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPermission {
    /// The request's JSON-RPC id as text: the `{request}` to answer.
    pub id: String,
    /// The turn it belongs to.
    pub turn_id: String,
    /// The tool call the agent wants to make (ACP's `toolCall`).
    #[schema(value_type = Option<Object>)]
    pub tool_call: Value,
    /// The options it offers (`{optionId, name, kind}`).
    #[schema(value_type = Vec<Object>)]
    pub options: Value,
}

/// One agent session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSession {
    pub id: String,
    pub workspace_id: String,
    pub agent: String,
    /// The ACP server the session's agent runs as (its transcript is at
    /// `…/runtime/v1/acp/{serverId}/events`); a new one after the agent
    /// was restarted.
    pub server_id: String,
    /// The agent's own session id.
    pub acp_session_id: String,
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub permissions: PermissionPolicy,
    /// `idle`, `streaming` (a turn runs) or `exited` (the agent process
    /// ended; the next turn starts it again).
    pub status: String,
    /// Turns so far.
    pub turns: i64,
    /// The agent's permission requests waiting for an answer.
    pub pending_permissions: Vec<PendingPermission>,
    pub created_at: i64,
}

/// `GET /v1/workspaces/{id}/agent-sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentSessionList {
    /// Oldest first.
    pub sessions: Vec<AgentSession>,
}

/// A turn's prompt: text, or ACP content blocks (`[{"type": "text",
/// "text": …}, …]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TurnPrompt {
    /// One text block.
    Text(String),
    /// ACP content blocks, each with its `type`.
    Blocks(Vec<serde_json::Map<String, Value>>),
}

/// `POST …/agent-sessions/{session}/turns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTurn {
    pub prompt: TurnPrompt,
    /// The turn's id (1 to 100 of `A-Za-z0-9._-`): a turn with an id the
    /// session has seen is not run again; the answer is that turn's.
    /// Generated (`turn_…`) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// Answer at once (202) with the turn `streaming`; its result is read
    /// later (`GET …/turns/{turn}`).
    #[serde(default)]
    pub detach: bool,
}

/// A tool call of a turn, as its last update left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TurnToolCall {
    pub tool_call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `pending`, `in_progress`, `completed` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One turn: a prompt and what the agent made of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentTurn {
    pub turn_id: String,
    pub session_id: String,
    /// `streaming`, `completed` or `interrupted`.
    pub status: String,
    /// The prompt as ACP content blocks.
    #[schema(value_type = Vec<Object>)]
    pub prompt: Value,
    /// The agent's message (its `agent_message_chunk`s joined).
    pub text: String,
    pub tool_calls: Vec<TurnToolCall>,
    /// ACP's `stopReason` when the agent answered the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// Why an interrupted turn ended (`cancelled`, the agent's exit, a
    /// paddock restart, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupt_reason: Option<String>,
    /// The agent's last `usage_update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub usage: Option<Value>,
    /// The ACP server the turn ran on and the transcript indexes of its
    /// first and last envelopes.
    pub server_id: String,
    pub first_event: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<i64>,
    pub started_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted_at: Option<i64>,
    /// On `POST …/turns`: true when the turn id had been seen and nothing
    /// ran.
    pub replayed: bool,
}

/// `GET …/agent-sessions/{session}/turns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentTurnList {
    /// Oldest first.
    pub turns: Vec<AgentTurn>,
}

/// How a permission request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PermissionReply {
    /// Allowed this time.
    Once,
    /// Allowed from now on (where the agent offers it; otherwise once).
    Always,
    /// Refused.
    Reject,
}

/// `POST …/agent-sessions/{session}/permissions/{request}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionAnswer {
    pub reply: PermissionReply,
}

/// Query of `GET …/turns/{turn}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct TurnQuery {
    /// Wait up to this long (at most 600000) for a streaming turn to end.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

//! (ext) Scoped tokens (`/v1/workspaces/{id}/tokens`) and MCP client
//! configuration (`/v1/workspaces/{id}/mcp-config`): short-lived bearer
//! tokens bound to one workspace and a set of capabilities, for tools and
//! people that should not hold the tenant's API key.

use serde::{Deserialize, Serialize};

/// Lifetime of a scoped token when none is asked for, seconds.
pub const DEFAULT_TTL_SECS: u64 = 900;
/// Shortest lifetime of a scoped token, seconds.
pub const MIN_TTL_SECS: u64 = 1;
/// Longest lifetime of a scoped token, seconds (a day).
pub const MAX_TTL_SECS: u64 = 24 * 3600;
/// Prefix of every scoped token.
pub const TOKEN_PREFIX: &str = "pdt_";
/// The server name `mcp-config` answers when none is asked for.
pub const DEFAULT_MCP_SERVER_NAME: &str = "paddock";

/// What a scoped token may do in its workspace. Each route under the
/// workspace needs one; a token without it answers 403
/// `MISSING_CAPABILITY`, and no capability opens a tenant route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Capability {
    /// Start, list, signal and read processes; terminals; `exec`.
    #[serde(rename = "processes")]
    Processes,
    /// Read files and list directories.
    #[serde(rename = "files:read")]
    FilesRead,
    /// Write, move and delete files; make directories.
    #[serde(rename = "files:write")]
    FilesWrite,
    /// Run code on the workspace's kernels.
    #[serde(rename = "code")]
    Code,
    /// Coding agents: their ACP servers and paddock's agent sessions.
    #[serde(rename = "agents")]
    Agents,
    /// Create, list and revoke previews, and use private ones.
    #[serde(rename = "previews")]
    Previews,
    /// The desktop: screenshots, mouse, keyboard, windows, clipboard,
    /// launching programs, recordings.
    #[serde(rename = "desktop")]
    Desktop,
    /// The browser: agent-browser's commands on the workspace's Chromium.
    #[serde(rename = "browser")]
    Browser,
    /// The workspace's MCP endpoint (its tools need their own capability
    /// too).
    #[serde(rename = "mcp")]
    Mcp,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 9] = [
        Capability::Processes,
        Capability::FilesRead,
        Capability::FilesWrite,
        Capability::Code,
        Capability::Agents,
        Capability::Previews,
        Capability::Desktop,
        Capability::Browser,
        Capability::Mcp,
    ];

    /// The capability as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Processes => "processes",
            Capability::FilesRead => "files:read",
            Capability::FilesWrite => "files:write",
            Capability::Code => "code",
            Capability::Agents => "agents",
            Capability::Previews => "previews",
            Capability::Desktop => "desktop",
            Capability::Browser => "browser",
            Capability::Mcp => "mcp",
        }
    }

    /// The capability named `text`, if there is one.
    pub fn parse(text: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `POST /v1/workspaces/{id}/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScopedToken {
    /// What the token may do (at least one).
    pub capabilities: Vec<Capability>,
    /// Lifetime in seconds, 1..=86400 (default 900).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
    /// A note for people (at most 200 bytes).
    #[serde(default)]
    pub label: Option<String>,
}

/// A scoped token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScopedTokenRecord {
    /// `tok_` and 24 hex digits.
    pub id: String,
    /// The one workspace it opens.
    pub workspace_id: String,
    pub tenant: String,
    /// What it may do there, sorted.
    pub capabilities: Vec<Capability>,
    pub label: Option<String>,
    /// The API key that minted it.
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// When it was revoked (RFC 3339), if it was.
    pub revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    pub state: String,
}

/// A new scoped token, with its secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedScopedToken {
    #[serde(flatten)]
    pub record: ScopedTokenRecord,
    /// The bearer token (`pdt_` and 64 hex digits); stored hashed, never
    /// shown again.
    pub token: String,
}

/// `GET /v1/workspaces/{id}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScopedTokenList {
    /// Newest first, at most 200.
    pub tokens: Vec<ScopedTokenRecord>,
}

/// `GET /v1/workspaces/{id}/mcp-config`: a `.mcp.json` for the workspace's
/// MCP endpoint with a freshly minted scoped token in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct McpConfig {
    /// Paste-able `.mcp.json`: `{"mcpServers": {"<server_name>": {"type":
    /// "http", "url": …, "headers": {"Authorization": "Bearer pdt_…"}}}}`.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// The key under `mcpServers`.
    pub server_name: String,
    /// The MCP endpoint (Streamable HTTP).
    pub url: String,
    /// The scoped token in `config` (stored hashed, shown this once).
    pub token: String,
    pub token_id: String,
    /// When the token stops working (RFC 3339); call again for a new one.
    pub expires_at: String,
    /// The token's capabilities.
    pub capabilities: Vec<Capability>,
}

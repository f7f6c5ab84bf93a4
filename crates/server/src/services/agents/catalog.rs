//! The agents paddock knows: how each is installed (built in, or pinned
//! npm packages into the host's agents directory), how its ACP server is
//! started inside a workspace, which model services it calls (through the
//! phantom proxy), and what it can do (sandbox-agent's capability flags).

use paddock_api::runtime::agents::AgentCapabilities;

/// Where the host's agents directory appears in every running workspace
/// (read-only).
pub const AGENTS_MOUNT: &str = "/opt/paddock/agents";

/// How an agent gets onto the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Shipped inside paddock (written at startup).
    Builtin,
    /// Installed from npm: `(package, version)`, the ACP server first.
    Npm(&'static [(&'static str, &'static str)]),
    /// Not installable here; why.
    Unavailable(&'static str),
}

/// One agent.
#[derive(Debug, Clone, Copy)]
pub struct AgentSpec {
    pub id: &'static str,
    pub source: Source,
    /// The ACP server's program, relative to the agent's directory under
    /// [`AGENTS_MOUNT`], and its arguments.
    pub command: &'static str,
    pub args: &'static [&'static str],
    /// Phantom services the agent calls (tokens and base URLs in its
    /// environment); it can run when the tenant has a credential for one.
    pub services: &'static [&'static str],
    /// Extra environment: no telemetry, no self-update, no prompts.
    pub env: &'static [(&'static str, &'static str)],
    pub capabilities: AgentCapabilities,
}

/// Quiet agents: nothing leaves the jail except model calls (which only
/// reach the phantom proxy anyway).
const QUIET: &[(&str, &str)] = &[
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
    // Claude Code refuses its permission-bypass mode as root unless told
    // it runs in a sandbox, which it does.
    ("IS_SANDBOX", "1"),
    ("OPENCODE_DISABLE_AUTOUPDATE", "true"),
    ("OPENCODE_DISABLE_SHARE", "true"),
    ("NO_UPDATE_NOTIFIER", "1"),
    ("CI", "1"),
];

const fn caps(flags: [bool; 18]) -> AgentCapabilities {
    let [plan_mode, permissions, questions, tool_calls, tool_results, text_messages, images, file_attachments, session_lifecycle, error_events, reasoning, status, command_execution, file_changes, mcp_tools, streaming_deltas, item_started, shared_process] =
        flags;
    AgentCapabilities {
        plan_mode,
        permissions,
        questions,
        tool_calls,
        tool_results,
        text_messages,
        images,
        file_attachments,
        session_lifecycle,
        error_events,
        reasoning,
        status,
        command_execution,
        file_changes,
        mcp_tools,
        streaming_deltas,
        item_started,
        shared_process,
    }
}

const T: bool = true;
const F: bool = false;

/// Every agent, in sandbox-agent's order.
pub const AGENTS: &[AgentSpec] = &[
    AgentSpec {
        id: "claude",
        source: Source::Npm(&[("@zed-industries/claude-agent-acp", "0.23.1"), ("@anthropic-ai/claude-code", "2.1.332")]),
        command: "node_modules/.bin/claude-agent-acp",
        args: &[],
        services: &["anthropic"],
        env: QUIET,
        capabilities: caps([F, T, T, T, T, T, F, F, F, F, F, F, F, F, T, T, F, F]),
    },
    AgentSpec {
        id: "codex",
        source: Source::Npm(&[("@zed-industries/codex-acp", "0.16.0"), ("@openai/codex", "0.171.0")]),
        command: "node_modules/.bin/codex-acp",
        args: &[],
        services: &["openai"],
        env: QUIET,
        capabilities: caps([T, T, F, T, T, T, T, T, T, T, T, T, T, T, T, T, T, F]),
    },
    AgentSpec {
        id: "opencode",
        source: Source::Npm(&[("opencode-ai", "1.18.33")]),
        command: "node_modules/.bin/opencode",
        args: &["acp"],
        services: &["anthropic", "openai"],
        env: QUIET,
        capabilities: caps([F, F, F, T, T, T, T, T, T, T, F, F, F, F, T, T, T, F]),
    },
    AgentSpec {
        id: "amp",
        source: Source::Unavailable(
            "Amp is not installable from the npm registry (its package there is a renamed stub) and has no ACP adapter there",
        ),
        command: "",
        args: &[],
        services: &[],
        env: QUIET,
        capabilities: caps([F, F, F, T, T, T, F, F, F, T, F, F, F, F, T, F, F, F]),
    },
    AgentSpec {
        id: "pi",
        source: Source::Npm(&[("pi-acp", "0.0.34"), ("@mariozechner/pi-coding-agent", "0.73.1")]),
        command: "node_modules/.bin/pi-acp",
        args: &[],
        services: &["anthropic", "openai"],
        env: QUIET,
        capabilities: caps([F, F, F, T, T, T, T, F, T, T, F, F, F, F, F, T, F, F]),
    },
    AgentSpec {
        id: "cursor",
        source: Source::Unavailable(
            "Cursor publishes no agent CLI on the npm registry (`cursor-agent` there is an unrelated package)",
        ),
        command: "",
        args: &[],
        services: &[],
        env: QUIET,
        capabilities: caps([F, T, F, T, T, T, T, F, T, T, F, F, F, F, T, T, F, F]),
    },
    AgentSpec {
        id: "mock",
        source: Source::Builtin,
        command: "/usr/bin/node",
        args: &["mock-acp.js"],
        services: &[],
        env: &[],
        capabilities: caps([F, T, F, T, T, T, F, F, T, T, F, F, F, T, F, T, F, F]),
    },
];

/// The agent `id`.
pub fn find(id: &str) -> Option<&'static AgentSpec> {
    AGENTS.iter().find(|a| a.id == id)
}

/// The built-in mock agent's source.
pub const MOCK_ACP_JS: &str = include_str!("mock-acp.js");

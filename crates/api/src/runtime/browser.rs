//! (ext) A workspace's browser (`…/runtime/v1/browser`): agent-browser's
//! commands (open, snapshot with `@eN` refs, click, fill, screenshots,
//! tabs, cookies, state…) run by the real `agent-browser` in the
//! workspace's jail, driving Debian's Chromium there; each answer is the
//! command's `--json` result.

use serde::{Deserialize, Serialize};

/// Longest command a call may take, in milliseconds (and its default).
pub const MAX_BROWSER_TIMEOUT_MS: u64 = 120_000;
/// What a command gets when the call names no deadline, in milliseconds.
pub const DEFAULT_BROWSER_TIMEOUT_MS: u64 = 30_000;

/// The commands the route runs (aliases included). Others (installing,
/// upgrading, dashboards, chat, an MCP server on stdio, cloud providers)
/// make no sense through it and are refused.
pub const BROWSER_COMMANDS: &[&str] = &[
    // Navigation.
    "open",
    "goto",
    "navigate",
    "back",
    "forward",
    "reload",
    "close",
    "quit",
    "exit",
    // Reading the page.
    "snapshot",
    "read",
    "get",
    "is",
    "find",
    "diff",
    "screenshot",
    "pdf",
    "console",
    "errors",
    "highlight",
    // Interaction.
    "click",
    "dblclick",
    "focus",
    "fill",
    "type",
    "press",
    "key",
    "keydown",
    "keyup",
    "keyboard",
    "hover",
    "check",
    "uncheck",
    "select",
    "scroll",
    "scrollintoview",
    "scrollinto",
    "drag",
    "upload",
    "download",
    "mouse",
    "wait",
    "eval",
    "dialog",
    "frame",
    "clipboard",
    "pushstate",
    // State.
    "set",
    "cookies",
    "storage",
    "state",
    "network",
    "tab",
    "window",
    "session",
    "trace",
    "profiler",
    "record",
    "vitals",
    "a11y",
];

/// `POST …/runtime/v1/browser`: one agent-browser command.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrowserCommandRequest {
    /// The command (`open`, `snapshot`, `click`, …; see `BROWSER_COMMANDS`
    /// in docs/browser.md).
    pub command: String,
    /// Its arguments and flags as on agent-browser's command line, e.g.
    /// `["@e2", "a@b.c"]` for `fill`, `["-i"]` for `snapshot`.
    #[serde(default)]
    pub args: Vec<String>,
    /// The browser session (agent-browser's `--session`: its own browser,
    /// cookies and tabs); `default` when absent.
    #[serde(default)]
    pub session: Option<String>,
    /// Deadline in milliseconds (default 30000, at most 120000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// An image a command made (a screenshot), base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrowserImage {
    /// `image/png` or `image/jpeg`.
    pub mime_type: String,
    /// The bytes, base64 (standard alphabet, padded).
    pub data: String,
}

/// What a command answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrowserCommandResponse {
    /// The command that ran.
    pub command: String,
    /// The session it ran in.
    pub session: String,
    /// agent-browser's `data` (for `snapshot`: `snapshot`, the tree as
    /// text, and `refs`; for `get text`: `text`; …).
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// A screenshot taken without a path of the caller's, as bytes (the
    /// file is not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<BrowserImage>,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

//! Code kernels (`POST /v1/workspaces/{id}/code` and the kernel routes):
//! Tangle's `runCode` shapes (`CodeExecutionOptions`, `CodeExecutionResult`,
//! `CodeResultPart`), camelCase as Tangle has them, with paddock's
//! extensions marked (ext).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A kernel's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    /// ipykernel.
    Python,
    /// tslab's JavaScript kernel.
    Node,
    /// tslab's TypeScript kernel.
    Typescript,
    /// bash_kernel.
    Bash,
}

impl CodeLanguage {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CodeLanguage::Python => "python",
            CodeLanguage::Node => "node",
            CodeLanguage::Typescript => "typescript",
            CodeLanguage::Bash => "bash",
        }
    }
}

/// `POST /v1/workspaces/{id}/code`: the code and Tangle's
/// `CodeExecutionOptions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeRequest {
    pub language: CodeLanguage,
    /// The source to execute.
    pub code: String,
    /// Kernels keep their variables across calls with the same session id
    /// (one kernel per session and language); without one, the shared
    /// kernel of the language.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Per-call timeout, ms (default 60000; 0 disables). A call that runs
    /// past it is interrupted; the kernel and its state live on.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Environment variables set for this call only.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Working directory of a kernel this call starts (ignored when the
    /// kernel runs already).
    #[serde(default)]
    pub cwd: Option<String>,
    /// The same key within 15 minutes (same workspace and session) returns
    /// the first successful result without executing again; a duplicate
    /// arriving while the first runs waits for it; failures are not kept.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// One structured result of a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CodeResultPart {
    /// A plain-text result.
    Text { value: String },
    /// A JSON result (`application/json`).
    Json { value: serde_json::Value },
    /// An image, base64 without a `data:` prefix.
    Image { format: ImageFormat, data: String },
    /// An HTML result.
    Html { value: String },
    /// A table (pandas DataFrame).
    Dataframe {
        columns: Vec<DataframeColumn>,
        rows: Vec<Vec<serde_json::Value>>,
        /// Rows were left out (the frame is longer than pandas'
        /// `display.max_rows`).
        truncated: bool,
    },
    /// An uncaught error.
    Error {
        name: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        traceback: Option<String>,
    },
}

/// An image part's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Svg,
}

/// A dataframe column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataframeColumn {
    pub name: String,
    /// The column's type as the table schema gives it (`integer`,
    /// `number`, `string`, `boolean`, `datetime`, ...).
    pub dtype: String,
}

/// The error of a call whose code raised (or was interrupted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CodeError {
    pub name: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<String>,
}

/// Tangle's `CodeExecutionResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CodeExecutionResult {
    /// 0 when the code ran to its end; 1 when it raised; 124 when it was
    /// interrupted at its timeout; 137 when the kernel died during the
    /// call.
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
    pub results: Vec<CodeResultPart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CodeError>,
    /// (ext) The kernel that ran the call.
    pub kernel: KernelRef,
    /// (ext) The workspace the call ran in, for `POST /v1/code` (a
    /// session's workspace, or a deleted one-call workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
}

/// (ext) Which kernel ran a call, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KernelRef {
    pub id: String,
    /// The kernel's execution counter after the call.
    pub execution_count: u64,
    /// This call started the kernel: variables of earlier calls in the
    /// session are gone (see `restartReason`).
    pub started: bool,
    /// Why an earlier kernel of the session is not the one that ran the
    /// call: `died` (it exited or was killed), `workspace-stopped` (its
    /// runtime ended), `restarted` (a restart request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_reason: Option<String>,
}

/// A kernel of a running workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KernelInfo {
    pub id: String,
    pub language: CodeLanguage,
    /// The session it serves (`null`: the language's shared kernel).
    pub session_id: Option<String>,
    /// `idle`, `busy` or `dead`.
    pub state: String,
    pub execution_count: u64,
    /// RFC 3339.
    pub started_at: String,
}

/// `GET /v1/workspaces/{id}/kernels`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KernelList {
    pub kernels: Vec<KernelInfo>,
}

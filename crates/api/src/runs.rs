//! One-shot code runs and forks (`/v1/runs`, `/v1/runs/stream`,
//! `/v1/runs/fork`, `/v1/runs/{id}/cancel`).

use serde::{Deserialize, Serialize};

use crate::jail::{ExecResult, JailOptions};

/// Largest `code`, bytes.
pub const MAX_CODE: usize = 1 << 20;
/// Most children of one fork.
pub const MAX_FORK_CHILDREN: usize = 16;

/// `POST /v1/runs` and `/v1/runs/stream`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRequest {
    /// The program, given to the interpreter on stdin (at most 1 MiB).
    pub code: String,
    /// `javascript` (default), `python` or `bash`.
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(flatten)]
    pub options: JailOptions,
}

/// The language of a run that names none.
pub fn default_language() -> String {
    "javascript".into()
}

/// One child of a fork.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkChild {
    pub code: String,
    pub memory_mb: Option<u64>,
}

/// `POST /v1/runs/fork`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkRequest {
    pub parent_code: String,
    /// One child (agentjail's form); or `children`.
    pub child_code: Option<String>,
    #[serde(default)]
    pub children: Vec<ForkChild>,
    #[serde(default = "default_language")]
    pub language: String,
    /// When to freeze the parent and copy its `/output` (default 1500, at most 30000).
    pub fork_after_ms: Option<u64>,
    #[serde(flatten)]
    pub options: JailOptions,
}

/// How one child's copy of the parent's `/output` was made.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkMeta {
    /// Whole milliseconds.
    pub clone_ms: u64,
    pub files_cloned: u64,
    pub files_cow: u64,
    pub bytes_cloned: u64,
    /// `reflink`, `copy` or `empty`.
    pub method: String,
    pub was_frozen: bool,
}

/// The answer of a fork.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForkResponse {
    pub parent: ExecResult,
    /// The first child (agentjail's single-child field).
    pub child: ExecResult,
    pub children: Vec<ExecResult>,
    /// The first child's copy.
    pub fork: ForkMeta,
    pub forks: Vec<ForkMeta>,
}

/// The answer of `POST /v1/runs/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CancelResponse {
    /// The run's ledger id.
    pub id: i64,
    /// Always `true`: the jail is being killed; its row closes as `cancelled`.
    pub cancelled: bool,
}

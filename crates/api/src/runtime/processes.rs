//! Processes in a running workspace (`…/runtime/v1/processes`):
//! sandbox-agent 0.4.2's shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST …/v1/processes/run`: run a command to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRunRequest {
    /// Program name (looked up in `PATH`) or path.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory inside the jail (default `/workspace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Deadline in milliseconds (default and maximum from the process config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Bytes kept of each stream (default and maximum from the process config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<usize>,
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessRunResponse {
    /// Exit code; `null` when killed by a signal (or the deadline).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The deadline passed and the process was killed.
    pub timed_out: bool,
    /// Standard output (UTF-8, lossy).
    pub stdout: String,
    /// Standard error (UTF-8, lossy).
    pub stderr: String,
    /// Standard output passed `maxOutputBytes`.
    pub stdout_truncated: bool,
    /// Standard error passed `maxOutputBytes`.
    pub stderr_truncated: bool,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// `POST …/v1/processes`: start a managed process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessCreateRequest {
    /// Program name (looked up in `PATH`) or path.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory inside the jail (default `/workspace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Marks the process as one that takes input (its standard input is
    /// open for `input` either way, as in sandbox-agent).
    #[serde(default)]
    pub interactive: bool,
    /// Run on a terminal (a PTY of the jail's own devpts).
    #[serde(default)]
    pub tty: bool,
}

/// Who started a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessOwner {
    /// Through the API.
    User,
    /// The desktop's own processes.
    Desktop,
    /// The runtime's own processes.
    System,
}

/// Whether a process still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    /// Running (or frozen with its workspace).
    Running,
    /// Ended; its record stays until deleted.
    Exited,
}

/// A managed process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInfo {
    /// `proc_N`, unique within the workspace.
    pub id: String,
    /// The program.
    pub command: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working directory, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// On a terminal.
    pub tty: bool,
    /// Standard input open for `input`.
    pub interactive: bool,
    /// Who started it.
    pub owner: ProcessOwner,
    /// Running or exited.
    pub status: ProcessState,
    /// Its pid inside the workspace's jail, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Exit code, once exited (absent when a signal ended it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Start, milliseconds since the epoch.
    pub created_at_ms: i64,
    /// End, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited_at_ms: Option<i64>,
}

/// `GET …/v1/processes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessListResponse {
    /// Every process record of the workspace, oldest first.
    pub processes: Vec<ProcessInfo>,
}

/// Which output a log read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProcessLogsStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// Both, in order.
    Combined,
    /// The terminal's output (tty processes).
    Pty,
}

/// One chunk of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessLogEntry {
    /// Increasing per process, from 1.
    pub sequence: u64,
    /// The stream it came from.
    pub stream: ProcessLogsStream,
    /// When it was read, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// The bytes, encoded as `encoding` says.
    pub data: String,
    /// `base64`.
    pub encoding: String,
}

/// `GET …/v1/processes/{id}/logs` without `follow`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessLogsResponse {
    /// The process.
    pub process_id: String,
    /// The stream asked for.
    pub stream: ProcessLogsStream,
    /// The retained chunks that match.
    pub entries: Vec<ProcessLogEntry>,
}

/// `POST …/v1/processes/{id}/input`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInputRequest {
    /// The bytes, encoded as `encoding` says.
    pub data: String,
    /// `base64` (default), `utf8` or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// (ext) After `data`, close the process's standard input (it reads end
    /// of file); on a terminal, type the end-of-file character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eof: Option<bool>,
}

/// What an input call wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessInputResponse {
    /// Bytes delivered to the process's input.
    pub bytes_written: usize,
}

/// `POST …/v1/processes/{id}/terminal/resize`, and its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProcessTerminalSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// Limits of the runtime's processes (`GET`/`POST …/v1/processes/config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessConfig {
    /// Processes running at once in the workspace.
    pub max_concurrent_processes: usize,
    /// Deadline of a run without `timeoutMs`.
    pub default_run_timeout_ms: u64,
    /// Longest deadline a run may ask for.
    pub max_run_timeout_ms: u64,
    /// Bytes kept of each stream of a run.
    pub max_output_bytes: usize,
    /// Bytes of output kept per managed process (older chunks are dropped).
    pub max_log_bytes_per_process: usize,
    /// Largest input call.
    pub max_input_bytes_per_request: usize,
}

impl Default for ProcessConfig {
    /// sandbox-agent 0.4.2's defaults.
    fn default() -> Self {
        ProcessConfig {
            max_concurrent_processes: 64,
            default_run_timeout_ms: 30_000,
            max_run_timeout_ms: 300_000,
            max_output_bytes: 1 << 20,
            max_log_bytes_per_process: 10 << 20,
            max_input_bytes_per_request: 64 << 10,
        }
    }
}

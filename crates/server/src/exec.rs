//! From an API request to a jail and back: limits and their clamps, the
//! network and seccomp settings, languages, the global concurrency limit,
//! and the ledger row every jail gets.

use std::time::Duration;

use paddock_jail::{
    JailConfig, JailControl, JailError, JailResult, JailStats, Limits, NetworkMode, SeccompLevel, Stdin,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OwnedSemaphorePermit;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::JailEnd;

/// Bytes of each stream kept in a ledger row.
const LEDGER_OUTPUT_CAP: usize = 16 << 10;
/// Most allowlist domains per request.
const MAX_DOMAINS: usize = 32;

/// Limits and isolation settings a request may ask for; absent fields
/// take the defaults, out-of-range values are clamped.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct JailOptions {
    /// Deadline, 1..=3600 s (default 300).
    pub timeout_secs: Option<u64>,
    /// Memory, 16..=8192 MiB (default 512; 0 is not "unlimited").
    pub memory_mb: Option<u64>,
    /// `{mode: none|loopback|allowlist, domains?}`.
    #[schema(nullable = false)]
    pub network: Option<NetworkSpec>,
    /// `standard` or `strict`.
    pub seccomp: Option<String>,
    /// CPU quota, 1..=800 % of a core.
    pub cpu_percent: Option<u32>,
    /// Processes and threads, 1..=1024 (default 256).
    pub max_pids: Option<u32>,
}

/// The request's network setting.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct NetworkSpec {
    /// `none`, `loopback` or `allowlist`.
    pub mode: String,
    /// Hosts for `allowlist` (1..=32, names or `*.` wildcards).
    #[serde(default)]
    pub domains: Vec<String>,
}

/// The effective settings, recorded in the ledger row's `config`.
#[derive(Debug, Clone, Serialize)]
pub struct Effective {
    pub timeout_secs: u64,
    pub memory_mb: u64,
    pub cpu_percent: Option<u32>,
    pub max_pids: u32,
    pub network: NetworkSpec,
    pub seccomp: &'static str,
}

impl JailOptions {
    /// Applies the options to `config`; returns what was applied.
    pub fn apply(&self, config: &mut JailConfig) -> Result<Effective, ApiError> {
        let timeout_secs = self.timeout_secs.unwrap_or(300).clamp(1, 3600);
        let memory_mb = self.memory_mb.unwrap_or(512).clamp(16, 8192);
        let cpu_percent = self.cpu_percent.map(|c| c.clamp(1, 800));
        let max_pids = self.max_pids.unwrap_or(256).clamp(1, 1024);
        let (seccomp, seccomp_name) = match self.seccomp.as_deref() {
            None | Some("standard") => (SeccompLevel::Standard, "standard"),
            Some("strict") => (SeccompLevel::Strict, "strict"),
            Some(other) => {
                return Err(ApiError::bad_request(
                    "BAD_SECCOMP",
                    format!("unknown seccomp level {other:?} (standard or strict)"),
                ))
            }
        };
        let network = self.network.clone().unwrap_or(NetworkSpec {
            mode: "none".into(),
            domains: Vec::new(),
        });
        config.network = network_mode(&network)?;
        config.seccomp = seccomp;
        config.limits = Limits {
            memory_bytes: Some(memory_mb << 20),
            cpu_percent,
            pids: Some(max_pids),
            timeout: Some(Duration::from_secs(timeout_secs)),
            ..Limits::default()
        };
        Ok(Effective {
            timeout_secs,
            memory_mb,
            cpu_percent,
            max_pids,
            network,
            seccomp: seccomp_name,
        })
    }
}

fn network_mode(spec: &NetworkSpec) -> Result<NetworkMode, ApiError> {
    let bad = |msg: String| ApiError::bad_request("BAD_NETWORK", msg);
    match spec.mode.as_str() {
        "none" => Ok(NetworkMode::None),
        "loopback" => Ok(NetworkMode::Loopback),
        "allowlist" => {
            if spec.domains.is_empty() || spec.domains.len() > MAX_DOMAINS {
                return Err(bad(format!("an allowlist needs 1 to {MAX_DOMAINS} domains")));
            }
            NetworkMode::allowlist(&spec.domains, []).map_err(|e| bad(e.to_string()))
        }
        other => Err(bad(format!(
            "unknown network mode {other:?} (none, loopback or allowlist)"
        ))),
    }
}

/// What every exec and run answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecResult {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    pub duration_ms: f64,
    pub timed_out: bool,
    pub oom_killed: bool,
    /// `null` when the jail had no cgroup.
    pub stats: Option<ResourceStats>,
}

/// What a jail's cgroup counted.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ResourceStats {
    pub memory_peak_bytes: u64,
    pub memory_current_bytes: u64,
    pub cpu_usage_usec: u64,
    pub io_read_bytes: u64,
    pub io_write_bytes: u64,
    pub pids_current: u64,
}

impl From<JailStats> for ResourceStats {
    fn from(s: JailStats) -> Self {
        ResourceStats {
            memory_peak_bytes: s.memory_peak_bytes,
            memory_current_bytes: s.memory_current_bytes,
            cpu_usage_usec: s.cpu_usage_usec,
            io_read_bytes: s.io_read_bytes,
            io_write_bytes: s.io_write_bytes,
            pids_current: s.pids_current,
        }
    }
}

impl From<&JailResult> for ExecResult {
    fn from(r: &JailResult) -> Self {
        ExecResult {
            stdout: r.stdout.text().into_owned(),
            stderr: r.stderr.text().into_owned(),
            exit_code: r.exit_code(),
            duration_ms: r.duration.as_secs_f64() * 1000.0,
            timed_out: r.timed_out,
            oom_killed: r.oom_killed,
            stats: r.stats.map(ResourceStats::from),
        }
    }
}

/// The interpreter of a run's `language`; the code arrives on stdin.
pub fn language_command(language: &str) -> Result<(&'static str, &'static [&'static str]), ApiError> {
    match language {
        "javascript" => Ok(("node", &["-"])),
        "python" => Ok(("python3", &["-"])),
        "bash" => Ok(("bash", &["-s"])),
        other => Err(ApiError::bad_request(
            "BAD_LANGUAGE",
            format!("unknown language {other:?} (javascript, python or bash)"),
        )),
    }
}

/// A jail config running `code` in `language` (code on stdin).
pub fn code_config(language: &str, code: &str) -> Result<JailConfig, ApiError> {
    let (program, args) = language_command(language)?;
    let mut config = JailConfig::new(program, args.iter().copied());
    config.stdin = Stdin::Bytes(code.as_bytes().to_vec());
    Ok(config)
}

/// A slot under the global concurrency limit, or 429.
pub fn take_slot(state: &AppState) -> Result<OwnedSemaphorePermit, ApiError> {
    state.slots.clone().try_acquire_owned().map_err(|_| {
        state.metrics.refused_busy();
        ApiError::busy(format!(
            "the server is running its limit of {} jails; retry later",
            state.config.max_concurrent
        ))
    })
}

/// The ledger row's facts about a jail that was started.
pub struct LedgerEntry<'a> {
    pub tenant: &'a str,
    pub kind: &'static str,
    pub session_id: Option<&'a str>,
    pub label: Option<&'a str>,
    pub parent_id: Option<i64>,
    pub config: serde_json::Value,
}

/// Opens the ledger row of a jail about to start.
pub async fn open_ledger(state: &AppState, entry: &LedgerEntry<'_>) -> Result<i64, ApiError> {
    let id = state
        .store
        .insert_jail(
            entry.tenant,
            entry.kind,
            entry.session_id,
            entry.label,
            entry.parent_id,
            &entry.config.to_string(),
        )
        .await?;
    state.metrics.jail_started(entry.kind);
    Ok(id)
}

/// Closes a ledger row with the jail's outcome (or why it failed).
pub async fn close_ledger(
    state: &AppState,
    id: i64,
    outcome: Result<&JailResult, String>,
    started: std::time::Instant,
) {
    let end = match outcome {
        Ok(r) => JailEnd {
            status: "completed",
            exit_code: Some(r.exit_code() as i64),
            duration_ms: Some(r.duration.as_secs_f64() * 1000.0),
            timed_out: r.timed_out,
            oom_killed: r.oom_killed,
            memory_peak_bytes: r.stats.map(|s| s.memory_peak_bytes as i64),
            memory_current_bytes: r.stats.map(|s| s.memory_current_bytes as i64),
            cpu_usage_usec: r.stats.map(|s| s.cpu_usage_usec as i64),
            io_read_bytes: r.stats.map(|s| s.io_read_bytes as i64),
            io_write_bytes: r.stats.map(|s| s.io_write_bytes as i64),
            pids_current: r.stats.map(|s| s.pids_current as i64),
            stdout: cap(&r.stdout.text()),
            stderr: cap(&r.stderr.text()),
            error: None,
        },
        Err(err) => JailEnd {
            status: "error",
            duration_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            error: Some(err),
            ..JailEnd::default()
        },
    };
    let (timed_out, oom) = (end.timed_out, end.oom_killed);
    state
        .metrics
        .jail_finished(end.status, started.elapsed(), timed_out, oom);
    if let Err(err) = state.store.finish_jail(id, &end).await {
        tracing::error!(%err, id, "closing a ledger row");
    }
}

/// Runs a jail under the concurrency limit with its ledger row.
pub async fn run_recorded(
    state: &AppState,
    entry: LedgerEntry<'_>,
    config: JailConfig,
) -> Result<JailResult, ApiError> {
    run_controlled(state, entry, config, |_| {}).await
}

/// [`run_recorded`], handing `on_start` the running jail's control (to
/// freeze it for a snapshot) as soon as it exists.
pub async fn run_controlled(
    state: &AppState,
    entry: LedgerEntry<'_>,
    config: JailConfig,
    on_start: impl FnOnce(JailControl),
) -> Result<JailResult, ApiError> {
    let _slot = take_slot(state)?;
    let started = std::time::Instant::now();
    // The ledger row is written while the jail starts, not before.
    let (id, spawned) = tokio::join!(open_ledger(state, &entry), state.engine.spawn(config));
    // Without its ledger row the jail does not run (dropping it kills it).
    let id = id?;
    let outcome = match spawned {
        Ok(handle) => {
            on_start(handle.control());
            handle.wait().await
        }
        Err(err) => Err(err),
    };
    close_ledger(state, id, outcome.as_ref().map_err(|e| e.to_string()), started).await;
    outcome.map_err(jail_error)
}

/// The API error for an engine error.
pub fn jail_error(err: JailError) -> ApiError {
    match err {
        JailError::InvalidConfig(msg) => ApiError::bad_request("BAD_REQUEST", msg),
        JailError::Exec { command, detail } => {
            ApiError::unavailable(format!("{command} cannot be executed on this host: {detail}"))
        }
        err @ (JailError::LimitUnavailable { .. } | JailError::Unsupported(_)) => {
            ApiError::unavailable(err.to_string())
        }
        other => ApiError::internal(other),
    }
}

/// `text` cut to the ledger cap on a character boundary.
fn cap(text: &str) -> String {
    if text.len() <= LEDGER_OUTPUT_CAP {
        return text.to_owned();
    }
    let mut end = LEDGER_OUTPUT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped_and_zero_memory_is_not_unlimited() {
        let mut config = JailConfig::new("true", Vec::<String>::new());
        let options = JailOptions {
            timeout_secs: Some(99_999),
            memory_mb: Some(0),
            cpu_percent: Some(5000),
            max_pids: Some(0),
            ..JailOptions::default()
        };
        let eff = options.apply(&mut config).unwrap();
        assert_eq!(
            (eff.timeout_secs, eff.memory_mb, eff.cpu_percent, eff.max_pids),
            (3600, 16, Some(800), 1)
        );
        assert_eq!(config.limits.memory_bytes, Some(16 << 20));
        assert_eq!(config.network, NetworkMode::None);
    }

    #[test]
    fn bad_network_and_seccomp_are_refused() {
        let mut config = JailConfig::new("true", Vec::<String>::new());
        for options in [
            JailOptions {
                seccomp: Some("off".into()),
                ..JailOptions::default()
            },
            JailOptions {
                network: Some(NetworkSpec {
                    mode: "host".into(),
                    domains: vec![],
                }),
                ..JailOptions::default()
            },
            JailOptions {
                network: Some(NetworkSpec {
                    mode: "allowlist".into(),
                    domains: vec![],
                }),
                ..JailOptions::default()
            },
            JailOptions {
                network: Some(NetworkSpec {
                    mode: "allowlist".into(),
                    domains: (0..33).map(|i| format!("h{i}.example")).collect(),
                }),
                ..JailOptions::default()
            },
        ] {
            assert_eq!(options.apply(&mut config).unwrap_err().status, 400);
        }
    }

    #[test]
    fn ledger_output_is_cut_on_a_character_boundary() {
        let text = "é".repeat(LEDGER_OUTPUT_CAP);
        let cut = cap(&text);
        assert!(cut.len() <= LEDGER_OUTPUT_CAP && cut.chars().all(|c| c == 'é'));
    }
}

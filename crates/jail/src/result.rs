//! What a finished jail reports, and the events of a streamed jail.

use std::time::Duration;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use paddock_egress::{EgressLog, EgressRecord};

use crate::cgroup::JailStats;
use crate::output::Output;

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal (including the deadline's and the OOM killer's
    /// SIGKILL).
    Signal(i32),
}

/// The outcome of one jail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailResult {
    /// How the command ended.
    pub status: ExitStatus,
    /// Wall time from spawn to the end of the jail.
    pub duration: Duration,
    /// The deadline passed and the jail was killed.
    pub timed_out: bool,
    /// The kernel's OOM killer acted in the jail's cgroup.
    pub oom_killed: bool,
    /// Captured standard output (empty if the caller took the stream).
    pub stdout: Output,
    /// Captured standard error (empty if the caller took the stream).
    pub stderr: Output,
    /// cgroup statistics at the end (`None` without a cgroup).
    pub stats: Option<JailStats>,
    /// Every connection attempt through the egress proxy (allowlist mode
    /// only).
    pub egress: Option<EgressLog>,
}

impl JailResult {
    /// Shell-style exit code: the code, or 128 + the signal number.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            ExitStatus::Code(code) => code,
            ExitStatus::Signal(signal) => 128 + signal,
        }
    }

    /// The signal that ended the command, if any.
    pub fn signal(&self) -> Option<i32> {
        match self.status {
            ExitStatus::Signal(signal) => Some(signal),
            ExitStatus::Code(_) => None,
        }
    }
}

impl Serialize for JailResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("JailResult", 11)?;
        s.serialize_field("exit_code", &self.exit_code())?;
        s.serialize_field("signal", &self.signal())?;
        s.serialize_field("duration_ms", &(self.duration.as_secs_f64() * 1000.0))?;
        s.serialize_field("timed_out", &self.timed_out)?;
        s.serialize_field("oom_killed", &self.oom_killed)?;
        s.serialize_field("stdout", &self.stdout)?;
        s.serialize_field("stdout_truncated", &self.stdout.truncated)?;
        s.serialize_field("stderr", &self.stderr)?;
        s.serialize_field("stderr_truncated", &self.stderr.truncated)?;
        s.serialize_field("stats", &self.stats)?;
        s.serialize_field("egress", &self.egress)?;
        s.end()
    }
}

/// One event of a streamed jail. A stream ends with exactly one
/// `Completed` or `Failed`.
#[derive(Debug)]
pub enum JailEvent {
    /// The jail runs; `pid` is its init's pid on the host.
    Started { pid: i32 },
    /// Bytes of standard output, exactly as written (a chunk may end
    /// inside a line or a UTF-8 character); nothing past the capture cap.
    Stdout(Vec<u8>),
    /// Bytes of standard error, as for `Stdout`.
    Stderr(Vec<u8>),
    /// Periodic resource usage.
    Stats(JailStats),
    /// A connection attempt through the egress proxy ended (allowlist mode).
    Egress(EgressRecord),
    /// The jail ended; output captured up to the cap is included.
    Completed(JailResult),
    /// The jail could not run (setup failure, missing command).
    Failed(crate::error::JailError),
}

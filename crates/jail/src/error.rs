//! Typed errors of the jail engine.
//!
//! Every isolation step that can fail inside the jail has its own
//! [`SetupStep`], so a message such as "pivot_root failed: EINVAL" names the
//! exact step and the kernel's answer.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A step of jail construction, reported when it fails inside the jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupStep {
    /// Writing `uid_map`, `gid_map` or `setgroups` of the user namespace.
    UserNamespaceMaps,
    /// Moving the jail's init into its cgroup.
    JoinCgroup,
    /// `unshare(CLONE_NEWCGROUP)` after joining the cgroup.
    CgroupNamespace,
    /// `sethostname` in the UTS namespace.
    Hostname,
    /// Bringing the loopback interface up.
    Loopback,
    /// Creating a listening socket for the host (egress proxy, host
    /// forwards) and handing it over.
    HostListener,
    /// Making the inherited mount tree private.
    MountPropagation,
    /// Mounting the tmpfs that becomes the jail's root.
    RootTmpfs,
    /// Creating a mount point or file inside the new root.
    MountPoint,
    /// A bind mount (system directories, `/etc`, devices, user binds).
    MountBind,
    /// Changing the flags of a mount (read-only, nosuid, nodev, noexec).
    MountFlags,
    /// Mounting `/dev` (tmpfs, devpts, shm).
    MountDev,
    /// Mounting `/proc` in the new PID namespace.
    MountProc,
    /// Masking or write-protecting paths in `/proc`.
    ProcMasks,
    /// Mounting the size-limited `/tmp`.
    MountTmp,
    /// `pivot_root` into the new root.
    PivotRoot,
    /// Detaching the old root after the pivot.
    UmountOldRoot,
    /// Remounting the new root read-only.
    RootReadOnly,
    /// Forking the command from the jail's init.
    ForkCommand,
    /// Redirecting standard streams.
    Stdio,
    /// Changing into the working directory.
    Workdir,
    /// Setting resource limits.
    Rlimits,
    /// Applying the Landlock ruleset.
    Landlock,
    /// Dropping capabilities and locking securebits.
    Capabilities,
    /// Setting `no_new_privs`.
    NoNewPrivs,
    /// Installing the seccomp filter.
    Seccomp,
    /// `execve` of the command.
    Exec,
    /// Opening a terminal in the jail's devpts for a process.
    Terminal,
    /// Signalling a process of a runtime jail.
    Signal,
    /// Connecting to a port on a runtime jail's loopback.
    Connect,
}

impl std::fmt::Display for SetupStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{self:?}"));
        f.write_str(&name)
    }
}

/// Errors returned by the jail engine.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// The configuration asks for something impossible or unsafe.
    #[error("invalid jail configuration: {0}")]
    InvalidConfig(String),

    /// `Engine::start` was called after other threads were started; forking a
    /// multithreaded process is undefined behaviour (ARCHITECTURE decision 1).
    #[error("the jail engine must be started before any other thread exists (this process has {threads} threads)")]
    NotSingleThreaded { threads: usize },

    /// A resource limit was requested but no usable cgroup controller exists.
    #[error("{limit} limit requested but {reason}")]
    LimitUnavailable { limit: &'static str, reason: String },

    /// A cgroup operation on the host failed.
    #[error("cgroup {op} on {path}: {source}")]
    Cgroup {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A host-side system call failed while preparing or supervising a jail.
    #[error("{op}: {source}")]
    Host {
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// A step of jail construction failed inside the jail.
    #[error("{step} failed: {detail}")]
    Setup { step: SetupStep, detail: String },

    /// The command could not be executed (not found, not executable).
    #[error("cannot execute {command:?}: {detail}")]
    Exec { command: String, detail: String },

    /// The zygote (the single-threaded spawner process) is gone or answered
    /// nonsense.
    #[error("jail spawner: {0}")]
    Spawner(String),

    /// The runtime jail has ended: nothing more can start in it.
    #[error("the jail has ended")]
    Stopped,

    /// The operation needs a cgroup controller the jail does not have.
    #[error("{0} is not available for this jail (no usable cgroup controller)")]
    Unsupported(&'static str),
}

impl JailError {
    pub(crate) fn host(op: &'static str, source: io::Error) -> Self {
        JailError::Host { op, source }
    }
}

/// Result type of the jail engine.
pub type Result<T, E = JailError> = std::result::Result<T, E>;

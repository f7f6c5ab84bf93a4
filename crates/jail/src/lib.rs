//! paddock's isolation engine.
//!
//! A jail is one command and its children in fresh user, mount, PID,
//! network, IPC, UTS and cgroup namespaces (as root, the user namespace maps
//! the jail's ids to a block of host ids of its own), pivoted into a
//! minimal read-only root, with Landlock, no capabilities, `no_new_privs`,
//! rlimits, a seccomp policy and cgroup limits (v1 or v2).
//!
//! ```no_run
//! use paddock_jail::{Engine, EngineOptions, JailConfig};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // First thing in main: the engine forks its spawner while the
//!     // process is still single-threaded.
//!     let engine = Engine::start(EngineOptions::default())?;
//!     let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//!     let result = runtime.block_on(engine.run(JailConfig::new("echo", ["hello"])))?;
//!     assert_eq!(result.stdout.text(), "hello\n");
//!     // Before exiting: release pre-created jails and finished jails' cgroups.
//!     engine.shutdown();
//!     Ok(())
//! }
//! ```
//!
//! The crate knows nothing of HTTP, tenants or databases.

mod cgroup;
mod config;
mod engine;
mod error;
mod executor;
mod forward;
mod handle;
mod ids;
mod ipc;
mod output;
mod reaper;
mod result;
mod runtime;
mod setup;
mod sys;
mod zygote;

pub use cgroup::{CgroupReport, CgroupVersion, Controller, JailStats};
pub use config::{
    BindMount, HostForward, JailConfig, Limits, NetworkMode, Preset, SeccompLevel, Stdin, DEFAULT_PATH,
    EGRESS_PROXY_PORT, MAX_BINDS, MAX_HOST_FORWARDS,
};
pub use engine::{Engine, EngineInfo, EngineOptions};
pub use error::{JailError, Result, SetupStep};
pub use executor::{resize_terminal, JailExecutor, ProcessIo, ProcessSpec, StartedProcess, TerminalSize};
pub use handle::{JailControl, JailHandle};
pub use ids::{IdRange, IDS_PER_JAIL};
pub use output::Output;
pub use paddock_egress as egress;
pub use result::{ExitStatus, JailEvent, JailResult};

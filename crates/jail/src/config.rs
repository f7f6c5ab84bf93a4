//! What a jail runs and under which limits.
//!
//! A [`JailConfig`] is plain data: it is validated on the host, serialized to
//! the spawner and interpreted inside the jail. Nothing here touches the
//! kernel.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use paddock_egress::EgressPolicy;
use serde::{Deserialize, Serialize};

use crate::error::{JailError, Result};

/// Jail paths that are part of the minimal root and cannot be bind targets.
const RESERVED_TARGETS: &[&str] = &[
    "/", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/dev", "/proc", "/sys", "/tmp",
];

/// Default `PATH` inside a jail.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Port of the egress proxy on a jail's own 127.0.0.1 (allowlist mode).
pub const EGRESS_PROXY_PORT: u16 = 3128;

/// The proxy URL the environment of an allowlist jail points at.
const EGRESS_PROXY_URL: &str = "http://127.0.0.1:3128";

/// Network mode of a jail. Every mode gets a fresh network namespace with
/// no route out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NetworkMode {
    /// No interface is up: every socket connect or bind to an address fails.
    #[default]
    None,
    /// Only the jail's own loopback interface is up.
    Loopback,
    /// The jail's own loopback, plus the egress proxy listening on its
    /// 127.0.0.1:3128, served by the host: HTTP `CONNECT` and plain-HTTP
    /// requests to the policy's hosts and ports, nothing else. `HTTP_PROXY`
    /// and friends point at it. On the wire:
    /// `{"mode": "allowlist", "domains": [...], "ports": [...]}`.
    Allowlist(EgressPolicy),
}

impl NetworkMode {
    /// Allowlist mode for these hosts (names, `*.` wildcards, IP
    /// addresses) and ports (empty: 443 and 80).
    pub fn allowlist<S: AsRef<str>>(
        domains: impl IntoIterator<Item = S>,
        ports: impl IntoIterator<Item = u16>,
    ) -> Result<NetworkMode> {
        EgressPolicy::new(domains, ports)
            .map(NetworkMode::Allowlist)
            .map_err(|e| JailError::InvalidConfig(e.to_string()))
    }

    /// Adds upstreams trusted for this jail only (a tenant's) to its
    /// egress policy; in other modes the jail reaches nothing to trust.
    pub fn trust(&mut self, trusted: &paddock_egress::TrustedUpstreams) {
        if let NetworkMode::Allowlist(policy) = self {
            policy.trust(trusted);
        }
    }

    /// Whether the jail's loopback interface is up.
    pub fn has_loopback(&self) -> bool {
        !matches!(self, NetworkMode::None)
    }

    /// The egress policy, in allowlist mode.
    pub fn egress_policy(&self) -> Option<&EgressPolicy> {
        match self {
            NetworkMode::Allowlist(policy) => Some(policy),
            _ => None,
        }
    }
}

/// Seccomp policy level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SeccompLevel {
    /// Refuses kernel attack surface, namespace creation, mounts, ptrace,
    /// `TIOCSTI`, the x32 ABI and foreign architectures.
    #[default]
    Standard,
    /// `Standard` plus no socket creation except `AF_UNIX`.
    Strict,
}

/// One bind mount from the host into the jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    /// Existing host path (file or directory).
    pub source: PathBuf,
    /// Absolute path inside the jail.
    pub target: PathBuf,
    /// Whether the jail may write through this mount.
    pub writable: bool,
}

/// A host service made reachable inside the jail: the jail's init listens
/// on its own `127.0.0.1:port`, and the engine relays each connection to
/// `target` on the host. Works in every network mode (with `none`, only
/// these listeners are on the jail's loopback); the jail chooses nothing,
/// so it reaches exactly these services and no other host address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostForward {
    /// Port on the jail's 127.0.0.1.
    pub port: u16,
    /// Host address the connections are relayed to.
    pub target: std::net::SocketAddr,
}

/// Most host forwards per jail.
pub const MAX_HOST_FORWARDS: usize = 8;

/// Most bind mounts a jail takes (a root-mode jail receives each as a
/// descriptor with its request, and a request carries at most 64).
pub const MAX_BINDS: usize = 64;

/// Standard input of the jailed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Stdin {
    /// `/dev/null`-like: reads return end of file at once.
    #[default]
    Null,
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// A pipe whose write end the caller takes from the handle.
    Pipe,
}

/// Resource limits. `None` means "no limit of this kind".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (cgroup memory controller; swap is included).
    pub memory_bytes: Option<u64>,
    /// CPU quota in percent of one core (100 = one core).
    pub cpu_percent: Option<u32>,
    /// Maximum number of processes and threads.
    pub pids: Option<u32>,
    /// Read bandwidth per block device, bytes per second.
    pub io_read_bps: Option<u64>,
    /// Write bandwidth per block device, bytes per second.
    pub io_write_bps: Option<u64>,
    /// Wall-clock deadline for the whole jail.
    pub timeout: Option<Duration>,
    /// Captured bytes kept per output stream (stdout and stderr each).
    pub output_cap_bytes: usize,
    /// Size of the `/tmp` tmpfs in bytes.
    pub tmp_size_bytes: u64,
    /// Size of the `/dev/shm` tmpfs in bytes.
    pub shm_size_bytes: u64,
    /// `RLIMIT_NOFILE` (soft and hard).
    pub max_open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Some(512 << 20),
            cpu_percent: None,
            pids: Some(64),
            io_read_bps: None,
            io_write_bps: None,
            timeout: Some(Duration::from_secs(300)),
            output_cap_bytes: 1 << 20,
            tmp_size_bytes: 256 << 20,
            shm_size_bytes: 64 << 20,
            max_open_files: 1024,
        }
    }
}

impl Limits {
    /// No cgroup limits and no deadline; output capture and tmpfs sizes keep
    /// their defaults. Useful where the caller enforces limits itself.
    pub fn unlimited() -> Self {
        Limits {
            memory_bytes: None,
            pids: None,
            timeout: None,
            ..Limits::default()
        }
    }

    /// Whether any limit needs a cgroup.
    pub fn needs_cgroup(&self) -> bool {
        self.memory_bytes.is_some()
            || self.cpu_percent.is_some()
            || self.pids.is_some()
            || self.io_read_bps.is_some()
            || self.io_write_bps.is_some()
    }
}

/// Ready-made limit sets for common workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Model-written snippets: 512 MiB, one core, 64 processes, 5 minutes.
    Default,
    /// Package installs and builds: 2 GiB, two cores, 512 processes, 30 minutes, loopback.
    Build,
    /// A coding agent's tool calls: 1 GiB, one core, 256 processes, 10 minutes, loopback.
    Agent,
    /// Interactive development servers: 4 GiB, two cores, 1024 processes, 8 hours, loopback.
    Dev,
}

impl Preset {
    /// Parses a preset name (`default`, `build`, `agent`, `dev`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Preset::Default),
            "build" => Some(Preset::Build),
            "agent" => Some(Preset::Agent),
            "dev" => Some(Preset::Dev),
            _ => None,
        }
    }

    /// The limits and network mode of this preset.
    pub fn settings(self) -> (Limits, NetworkMode) {
        let base = Limits::default();
        let (memory_mib, cpu, pids, timeout_secs, net) = match self {
            Preset::Default => (512, 100, 64, 300, NetworkMode::None),
            Preset::Build => (2048, 200, 512, 1800, NetworkMode::Loopback),
            Preset::Agent => (1024, 100, 256, 600, NetworkMode::Loopback),
            Preset::Dev => (4096, 200, 1024, 8 * 3600, NetworkMode::Loopback),
        };
        let limits = Limits {
            memory_bytes: Some(memory_mib << 20),
            cpu_percent: Some(cpu),
            pids: Some(pids),
            timeout: Some(Duration::from_secs(timeout_secs)),
            ..base
        };
        (limits, net)
    }
}

/// The most open files one jail may be able to hold: half of the host's
/// `fs.file-max` (threat-model row 34), or `None` where it cannot be read.
///
/// Every process of a jail may open `max_open_files` files, so a jail can
/// hold `max_open_files × pids` entries of the host-wide file table, which
/// an unprivileged process finds full at `fs.file-max` (`ENFILE`). Half
/// leaves the other half for the host's unprivileged services and other
/// jails even when one jail fills its share; processes with
/// `CAP_SYS_ADMIN` (the engine as root) are never refused by the kernel.
/// Half rather than less so that the largest limits the API admits (1024
/// processes of 1024 files) still fit on a host with 24 GiB of memory (the
/// kernel sizes `fs.file-max` at about one file per 10 KiB). Many jails at
/// once are bounded by admission (row 36), and each file a jail holds is
/// charged to its memory limit as well. Read once: the setting rarely
/// changes, and admission stays a computation.
fn file_table_budget() -> Option<u64> {
    static BUDGET: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let max: u64 = std::fs::read_to_string("/proc/sys/fs/file-max")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(max / 2)
    })
}

/// Everything that defines one jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailConfig {
    /// Program to run: an absolute jail path, or a name looked up in the
    /// jail's `PATH`.
    pub command: String,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// The complete environment (the host's is never inherited).
    pub env: Vec<(String, String)>,
    /// Working directory inside the jail; defaults to `/workspace` when a
    /// workspace is mounted, `/tmp` otherwise.
    pub workdir: Option<PathBuf>,
    /// Standard input.
    pub stdin: Stdin,
    /// Bind mounts from the host.
    pub mounts: Vec<BindMount>,
    /// Network mode.
    pub network: NetworkMode,
    /// Host services reachable on the jail's loopback.
    #[serde(default)]
    pub forwards: Vec<HostForward>,
    /// Resource limits.
    pub limits: Limits,
    /// Seccomp policy.
    pub seccomp: SeccompLevel,
    /// Hostname inside the UTS namespace.
    pub hostname: String,
}

impl JailConfig {
    /// A jail running `command args...` with default limits, no network and
    /// the default environment.
    pub fn new(command: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        JailConfig {
            command: command.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            workdir: None,
            stdin: Stdin::Null,
            mounts: Vec::new(),
            network: NetworkMode::None,
            forwards: Vec::new(),
            limits: Limits::default(),
            seccomp: SeccompLevel::Standard,
            hostname: "paddock".to_owned(),
        }
    }

    /// Applies a preset's limits and network mode.
    pub fn preset(mut self, preset: Preset) -> Self {
        let (limits, network) = preset.settings();
        self.limits = Limits {
            output_cap_bytes: self.limits.output_cap_bytes,
            ..limits
        };
        self.network = network;
        self
    }

    /// Sets one environment variable (replacing an earlier value).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Mounts `source` read-only at `/workspace` (a source tree).
    pub fn workspace_ro(self, source: impl Into<PathBuf>) -> Self {
        self.bind(source, "/workspace", false)
    }

    /// Mounts `source` read-write at `/workspace`.
    pub fn workspace_rw(self, source: impl Into<PathBuf>) -> Self {
        self.bind(source, "/workspace", true)
    }

    /// Mounts `source` read-write at `/output`.
    pub fn output(self, source: impl Into<PathBuf>) -> Self {
        self.bind(source, "/output", true)
    }

    /// Adds a bind mount.
    pub fn bind(mut self, source: impl Into<PathBuf>, target: impl Into<PathBuf>, writable: bool) -> Self {
        self.mounts.push(BindMount {
            source: source.into(),
            target: target.into(),
            writable,
        });
        self
    }

    /// The working directory the jail will use.
    pub fn effective_workdir(&self) -> PathBuf {
        if let Some(dir) = &self.workdir {
            return dir.clone();
        }
        if self.mounts.iter().any(|m| m.target == Path::new("/workspace")) {
            PathBuf::from("/workspace")
        } else {
            PathBuf::from("/tmp")
        }
    }

    /// The environment the command receives: the configured variables plus
    /// defaults for `PATH`, `HOME`, `LANG` and `TERM` when absent and, in
    /// allowlist mode, the proxy variables curl, git, npm, pip and the
    /// Python and Node HTTP clients read.
    pub fn effective_env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        let home = self.effective_workdir().to_string_lossy().into_owned();
        let mut defaults = vec![
            ("PATH", DEFAULT_PATH.to_owned()),
            ("HOME", home),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "dumb".to_owned()),
        ];
        if let NetworkMode::Allowlist(_) = self.network {
            for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                defaults.push((key, EGRESS_PROXY_URL.to_owned()));
            }
            for key in ["NO_PROXY", "no_proxy"] {
                defaults.push((key, "localhost,127.0.0.1,::1".to_owned()));
            }
            // Node's built-in fetch and http honour the variables with this
            // set (Node 22.21 and later; older versions ignore it).
            defaults.push(("NODE_USE_ENV_PROXY", "1".to_owned()));
        }
        for (key, value) in defaults {
            if !env.iter().any(|(k, _)| k == key) {
                env.push((key.to_owned(), value));
            }
        }
        env
    }

    /// Checks everything that can be checked on the host before spawning.
    pub fn validate(&self) -> Result<()> {
        let invalid = |msg: String| Err(JailError::InvalidConfig(msg));
        if self.command.is_empty() {
            return invalid("the command is empty".into());
        }
        if self.command.contains('\0') || self.args.iter().any(|a| a.contains('\0')) {
            return invalid("the command or an argument contains a NUL byte".into());
        }
        for (key, value) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
                return invalid(format!("invalid environment variable name or value: {key:?}"));
            }
        }
        if self.hostname.is_empty() || self.hostname.len() > 64 || self.hostname.contains('\0') {
            return invalid("the hostname must be 1 to 64 bytes".into());
        }
        if let Some(dir) = &self.workdir {
            check_jail_path(dir, "working directory")?;
        }
        let limits = &self.limits;
        if limits.memory_bytes.is_some_and(|m| m < 4 << 20) {
            return invalid("the memory limit must be at least 4 MiB".into());
        }
        if limits.cpu_percent == Some(0) {
            return invalid("the CPU limit must be at least 1 percent".into());
        }
        if limits.pids == Some(0) {
            return invalid("the pids limit must be at least 1".into());
        }
        if limits.io_read_bps == Some(0) || limits.io_write_bps == Some(0) {
            return invalid("an I/O bandwidth limit must be at least 1 byte per second".into());
        }
        if limits.timeout.is_some_and(|t| t.is_zero()) {
            return invalid("the timeout must be longer than zero".into());
        }
        if limits.tmp_size_bytes < 1 << 20 || limits.shm_size_bytes < 1 << 20 {
            return invalid("/tmp and /dev/shm must be at least 1 MiB".into());
        }
        if limits.max_open_files < 16 {
            return invalid("the open-file limit must be at least 16".into());
        }
        if let (Some(pids), Some(budget)) = (limits.pids, file_table_budget()) {
            let most = limits.max_open_files.saturating_mul(u64::from(pids));
            if most > budget {
                return invalid(format!(
                    "{} open files for each of {pids} processes could take {most} of the host's file table; \
                     one jail may take at most {budget} (half of fs.file-max): lower the open-file or the pids limit",
                    limits.max_open_files
                ));
            }
        }
        if self.forwards.len() > MAX_HOST_FORWARDS {
            return invalid(format!("at most {MAX_HOST_FORWARDS} host forwards are allowed"));
        }
        for (i, forward) in self.forwards.iter().enumerate() {
            if forward.port == 0 || forward.target.port() == 0 {
                return invalid("a host forward needs non-zero ports".into());
            }
            if self.forwards[..i].iter().any(|f| f.port == forward.port) {
                return invalid(format!("two host forwards use port {}", forward.port));
            }
            if self.network.egress_policy().is_some() && forward.port == EGRESS_PROXY_PORT {
                return invalid(format!(
                    "port {EGRESS_PROXY_PORT} is the egress proxy's in allowlist mode"
                ));
            }
        }
        if self.mounts.len() > MAX_BINDS {
            return invalid(format!(
                "{} bind mounts asked; a jail takes at most {MAX_BINDS}",
                self.mounts.len()
            ));
        }
        let mut seen: Vec<&Path> = Vec::new();
        for mount in &self.mounts {
            check_jail_path(&mount.target, "bind target")?;
            let target = mount.target.as_path();
            if RESERVED_TARGETS
                .iter()
                .any(|r| target == Path::new(r) || (*r != "/" && target.starts_with(r)))
            {
                return invalid(format!(
                    "bind target {} is part of the jail's system tree",
                    target.display()
                ));
            }
            if seen.contains(&target) {
                return invalid(format!("two binds target {}", target.display()));
            }
            if seen.iter().any(|other| target.starts_with(other)) {
                return invalid(format!(
                    "bind target {} is nested inside another bind; mount it separately",
                    target.display()
                ));
            }
            seen.push(target);
            if !mount.source.is_absolute() {
                return invalid(format!(
                    "bind source {} must be an absolute path",
                    mount.source.display()
                ));
            }
            if let Err(err) = std::fs::metadata(&mount.source) {
                return invalid(format!("bind source {}: {err}", mount.source.display()));
            }
        }
        Ok(())
    }
}

fn check_jail_path(path: &Path, what: &str) -> Result<()> {
    let text = path.to_string_lossy();
    if !path.is_absolute() || text.contains('\0') {
        return Err(JailError::InvalidConfig(format!(
            "{what} {} must be an absolute path",
            path.display()
        )));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(JailError::InvalidConfig(format!(
            "{what} {} must not contain . or ..",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bind_targets_inside_the_system_tree() {
        for target in ["/usr/local/x", "/etc", "/proc/self", "/", "/tmp/x", "/lib64"] {
            let cfg = JailConfig::new("true", Vec::<String>::new()).bind("/tmp", target, false);
            assert!(cfg.validate().is_err(), "{target} accepted");
        }
        let ok = JailConfig::new("true", Vec::<String>::new()).bind("/tmp", "/data", false);
        ok.validate().unwrap();
    }

    #[test]
    fn rejects_relative_and_dotdot_paths() {
        let cfg = JailConfig::new("true", Vec::<String>::new()).bind("/tmp", "/data/../etc", false);
        assert!(cfg.validate().is_err());
        let cfg = JailConfig::new("true", Vec::<String>::new()).bind("tmp", "/data", false);
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn rejects_nested_and_duplicate_binds() {
        let cfg = JailConfig::new("true", Vec::<String>::new())
            .bind("/tmp", "/data", false)
            .bind("/tmp", "/data/sub", true);
        assert!(cfg.validate().unwrap_err().to_string().contains("nested"));
        let cfg = JailConfig::new("true", Vec::<String>::new())
            .bind("/tmp", "/data", false)
            .bind("/tmp", "/data", true);
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn rejects_missing_bind_source() {
        let cfg = JailConfig::new("true", Vec::<String>::new()).bind("/nonexistent/paddock", "/data", false);
        assert!(cfg.validate().unwrap_err().to_string().contains("/nonexistent/paddock"));
    }

    #[test]
    fn env_defaults_do_not_override_caller_values() {
        let cfg = JailConfig::new("true", Vec::<String>::new()).env("PATH", "/x");
        let env = cfg.effective_env();
        assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1);
        assert!(env.contains(&("PATH".into(), "/x".into())));
        assert!(env.iter().any(|(k, v)| k == "HOME" && v == "/tmp"));
    }

    #[test]
    fn allowlist_mode_points_the_proxy_variables_at_the_jail_proxy() {
        let mut cfg = JailConfig::new("true", Vec::<String>::new()).env("NO_PROXY", "mine");
        cfg.network = NetworkMode::allowlist(["example.com"], []).unwrap();
        let env = cfg.effective_env();
        for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            assert!(env.contains(&(key.into(), "http://127.0.0.1:3128".into())), "{key}");
        }
        assert!(env.contains(&("NO_PROXY".into(), "mine".into())));
        let cfg = JailConfig::new("true", Vec::<String>::new());
        assert!(!cfg.effective_env().iter().any(|(k, _)| k.ends_with("_PROXY")));
    }

    #[test]
    fn network_modes_have_their_wire_form() {
        let mode: NetworkMode =
            serde_json::from_str(r#"{"mode":"allowlist","domains":["*.pypi.org","github.com"]}"#).unwrap();
        let policy = mode.egress_policy().unwrap();
        assert_eq!(policy.domains(), ["*.pypi.org", "github.com"]);
        assert_eq!(policy.ports(), [443, 80]);
        let back: NetworkMode = serde_json::from_str(&serde_json::to_string(&mode).unwrap()).unwrap();
        assert_eq!(back, mode);
        let none: NetworkMode = serde_json::from_str(r#"{"mode":"none"}"#).unwrap();
        assert_eq!(none, NetworkMode::None);
        assert!(serde_json::from_str::<NetworkMode>(r#"{"mode":"allowlist","domains":[]}"#).is_err());
        assert!(serde_json::from_str::<NetworkMode>(r#"{"mode":"allowlist","domains":["*"]}"#).is_err());
        assert!(NetworkMode::allowlist(["ok.example", "bad host"], []).is_err());
    }

    #[test]
    fn workdir_defaults_to_workspace_when_mounted() {
        let cfg = JailConfig::new("true", Vec::<String>::new()).workspace_rw("/tmp");
        assert_eq!(cfg.effective_workdir(), PathBuf::from("/workspace"));
    }

    #[test]
    fn zero_limits_are_rejected() {
        let mut cfg = JailConfig::new("true", Vec::<String>::new());
        cfg.limits.pids = Some(0);
        assert!(cfg.validate().is_err());
        let mut cfg = JailConfig::new("true", Vec::<String>::new());
        cfg.limits.timeout = Some(Duration::ZERO);
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn open_files_times_pids_must_fit_the_file_table_share() {
        let budget = file_table_budget().expect("fs.file-max is readable");
        let mut cfg = JailConfig::new("true", Vec::<String>::new());
        cfg.limits.pids = Some(1024);
        cfg.limits.max_open_files = budget / 1024;
        assert!(cfg.validate().is_ok());
        cfg.limits.max_open_files = budget / 1024 + 1;
        assert!(cfg.validate().is_err());
        // Without a pids limit there is nothing to multiply.
        cfg.limits.pids = None;
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn presets_set_limits_and_network_but_keep_the_output_cap() {
        let mut cfg = JailConfig::new("true", Vec::<String>::new());
        cfg.limits.output_cap_bytes = 123;
        let cfg = cfg.preset(Preset::Build);
        assert_eq!(cfg.limits.memory_bytes, Some(2048 << 20));
        assert_eq!(cfg.limits.pids, Some(512));
        assert_eq!(cfg.limits.cpu_percent, Some(200));
        assert_eq!(cfg.network, NetworkMode::Loopback);
        assert_eq!(cfg.limits.output_cap_bytes, 123);
        assert_eq!(Preset::from_name("agent"), Some(Preset::Agent));
        assert_eq!(Preset::from_name("nope"), None);
        cfg.validate().unwrap();
    }
}

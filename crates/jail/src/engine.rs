//! The engine: starts the zygote, creates cgroups and pipes, and turns a
//! [`JailConfig`] into a running [`JailHandle`].

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::cgroup::{self, CgroupManager, CgroupReport, CgroupVersion, Controller, JailCgroup};
use crate::config::{JailConfig, Stdin};
use crate::error::{JailError, Result};
use crate::handle::{HandleParts, JailHandle};
use crate::ipc::{self, SpawnRequest};
use crate::result::JailEvent;
use crate::runtime;
use crate::setup::{seccomp::SeccompPrograms, JailContext};
use crate::sys;
use crate::zygote::Zygote;

/// Pipe buffer size asked for the output pipes (the default 64 KiB costs
/// a context switch per 64 KiB of output).
const OUTPUT_PIPE_SIZE: libc::c_int = 1 << 20;

/// Pre-created jails kept ready by default.
const DEFAULT_WARM_POOL: usize = 4;

/// Engine settings.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Runtime directory (default `/run/paddock` as root,
    /// `$XDG_RUNTIME_DIR/paddock` or `/tmp/paddock-<uid>` otherwise).
    pub runtime_dir: Option<PathBuf>,
    /// Name of the cgroup directory that holds the jails' cgroups (default
    /// `paddock` as root, `paddock-<uid>` rootless). On v1 it sits under
    /// this process's own cgroup in each hierarchy.
    pub cgroup_parent: Option<String>,
    /// cgroup layout to use; `None` detects it (v1 when v1 controllers are
    /// mounted, as on hybrid hosts, v2 otherwise). `Some(CgroupVersion::None)`
    /// runs without cgroups: requests with limits are then refused.
    pub cgroup_layout: Option<CgroupVersion>,
    /// How many pre-created jails to keep ready (default 4; 0 creates each
    /// jail on demand). Each costs an idle process and its namespaces.
    pub warm_pool: Option<usize>,
}

/// What the engine can enforce on this host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineInfo {
    /// Jails run in a user namespace (the engine is not root).
    pub rootless: bool,
    /// cgroup layout and controllers.
    pub cgroups: CgroupReport,
    /// The runtime directory in use.
    pub runtime_dir: PathBuf,
}

#[derive(Debug)]
struct Inner {
    zygote: Zygote,
    cgroups: Box<dyn CgroupManager>,
    info: EngineInfo,
    next_id: AtomicU64,
}

/// The jail engine. Cheap to clone; all clones share one zygote.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the engine. Must be called while the process is still
    /// single-threaded (first thing in `main`, before any async runtime).
    pub fn start(options: EngineOptions) -> Result<Engine> {
        // SAFETY: getuid/getgid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let rootless = uid != 0;
        let runtime_dir = options
            .runtime_dir
            .unwrap_or_else(|| runtime::default_dir(uid));
        let dirs = runtime::prepare(&runtime_dir, uid, gid)?;
        let parent = options.cgroup_parent.unwrap_or_else(|| {
            if rootless {
                format!("paddock-{uid}")
            } else {
                "paddock".into()
            }
        });
        if parent.is_empty() || parent.contains('/') || parent.starts_with('.') {
            return Err(JailError::InvalidConfig(format!(
                "bad cgroup parent name {parent:?}"
            )));
        }
        let cgroups = cgroup::detect(&parent, rootless, options.cgroup_layout);
        let ctx = JailContext {
            root_mount: dirs.root_mount,
            etc_template: dirs.etc_template,
            user_namespace: rootless.then_some((uid, gid)),
            seccomp: SeccompPrograms::compile()?,
        };
        let zygote = Zygote::start(ctx, options.warm_pool.unwrap_or(DEFAULT_WARM_POOL))?;
        let info = EngineInfo {
            rootless,
            cgroups: CgroupReport {
                version: cgroups.version(),
                controllers: Controller::ALL
                    .iter()
                    .map(|&c| (c, cgroups.controller(c)))
                    .collect(),
            },
            runtime_dir,
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                zygote,
                cgroups,
                info,
                next_id: AtomicU64::new(0),
            }),
        })
    }

    /// What the engine can enforce here.
    pub fn info(&self) -> &EngineInfo {
        &self.inner.info
    }

    /// Pid of the zygote (for diagnostics).
    pub fn zygote_pid(&self) -> i32 {
        self.inner.zygote.pid()
    }

    /// Starts a jail. The deadline (`limits.timeout`) counts from here.
    pub async fn spawn(&self, config: JailConfig) -> Result<JailHandle> {
        config.validate()?;
        let started_at = Instant::now();
        let cgroup = self.cgroup_for(&config)?;
        let result = self.spawn_in(config, cgroup.clone(), started_at).await;
        if result.is_err() {
            if let Some(cgroup) = cgroup {
                let _ = cgroup.remove();
            }
        }
        result
    }

    /// Runs a jail to completion and returns its result.
    pub async fn run(&self, config: JailConfig) -> Result<JailResult> {
        self.spawn(config).await?.wait().await
    }

    /// Runs a jail and streams its events: `Started`, output lines, `Stats`
    /// every `stats_every`, then exactly one `Completed` or `Failed`.
    pub async fn stream(
        &self,
        config: JailConfig,
        stats_every: Duration,
    ) -> mpsc::UnboundedReceiver<JailEvent> {
        let (events, receiver) = mpsc::unbounded_channel();
        match self.spawn(config).await {
            Ok(handle) => {
                tokio::spawn(handle.stream_into(events, stats_every));
            }
            Err(err) => {
                let _ = events.send(JailEvent::Failed(err));
            }
        }
        receiver
    }

    /// A cgroup with the jail's limits; also created without limits when
    /// possible, for statistics and freezing.
    fn cgroup_for(&self, config: &JailConfig) -> Result<Option<Arc<dyn JailCgroup>>> {
        let name = format!(
            "jail-{}-{}",
            std::process::id(),
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let cgroups = &self.inner.cgroups;
        if config.limits.needs_cgroup() {
            return cgroups.create(&name, &config.limits).map(Some);
        }
        if cgroups.version() == CgroupVersion::None {
            return Ok(None);
        }
        Ok(cgroups.create(&name, &config.limits).ok())
    }

    async fn spawn_in(
        &self,
        mut config: JailConfig,
        cgroup: Option<Arc<dyn JailCgroup>>,
        started_at: Instant,
    ) -> Result<JailHandle> {
        let pipe_err = |e| JailError::host("pipe", e);
        let (stdin_r, stdin_w) = sys::pipe().map_err(pipe_err)?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(pipe_err)?;
        let (stderr_r, stderr_w) = sys::pipe().map_err(pipe_err)?;
        let (report_r, report_w) = sys::pipe().map_err(pipe_err)?;
        for fd in [&stdout_w, &stderr_w] {
            // Best effort: an unprivileged user may be capped lower.
            // SAFETY: fcntl on a descriptor we own.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, OUTPUT_PIPE_SIZE) };
        }

        // Stdin bytes travel through the pipe, not through the zygote.
        let stdin = std::mem::take(&mut config.stdin);
        let command = config.command.clone();
        let timeout = config.limits.timeout;
        let output_cap = config.limits.output_cap_bytes;
        let request = SpawnRequest {
            cgroup_procs: cgroup.as_ref().map(|c| c.procs_files()).unwrap_or_default(),
            config,
        };
        let payload =
            serde_json::to_vec(&request).map_err(|e| JailError::Spawner(e.to_string()))?;
        if payload.len() > ipc::MAX_MESSAGE {
            return Err(JailError::InvalidConfig(format!(
                "the jail configuration is {} bytes; at most {} fit (large inputs belong in stdin or a bind)",
                payload.len(),
                ipc::MAX_MESSAGE
            )));
        }
        let fds = [&stdin_r, &stdout_w, &stderr_w, &report_w].map(|fd| fd.as_raw_fd());
        // A pre-created jail that died meanwhile (killed from outside) fails
        // the send; the next one is used.
        let mut attempts = 0;
        let spawned = loop {
            let jail = self.inner.zygote.take().await?;
            match ipc::send_with_fds(jail.requests.as_raw_fd(), &payload, &fds) {
                Ok(()) => break jail,
                Err(err) if attempts < 2 => {
                    tracing::warn!(%err, pid = jail.pid, "a pre-created jail is gone; using another");
                    attempts += 1;
                }
                Err(err) => {
                    return Err(JailError::Spawner(format!(
                        "sending the request to the jail: {err}"
                    )))
                }
            }
        };
        // The jail holds its own copies now.
        drop((stdin_r, stdout_w, stderr_w, report_w));

        let to_receiver =
            |fd| pipe::Receiver::from_owned_fd(fd).map_err(|e| JailError::host("register pipe", e));
        let stdin_sender = pipe::Sender::from_owned_fd(stdin_w)
            .map_err(|e| JailError::host("register pipe", e))?;
        let stdin = match stdin {
            Stdin::Null => None,
            Stdin::Pipe => Some(stdin_sender),
            Stdin::Bytes(bytes) => {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut sender = stdin_sender;
                    // The jail may exit without reading: a broken pipe is fine.
                    let _ = sender.write_all(&bytes).await;
                });
                None
            }
        };
        Ok(JailHandle::new(HandleParts {
            pid: spawned.pid,
            pidfd: spawned.pidfd,
            mount_namespace: spawned.mount_namespace,
            cgroup,
            stdin,
            stdout: to_receiver(stdout_r)?,
            stderr: to_receiver(stderr_r)?,
            report: report_r,
            command,
            started_at,
            timeout,
            output_cap,
        }))
    }
}

use crate::result::JailResult;

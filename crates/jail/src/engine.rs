//! The engine: starts the zygote, and turns a [`JailConfig`] into a
//! running [`JailHandle`] by handing a pre-created jail its limits, pipes
//! and request.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_egress::{EgressProxy, EgressSettings, ProxySession};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use crate::cgroup::{self, CgroupManager, CgroupReport, CgroupVersion, Controller};
use crate::config::{JailConfig, Stdin};
use crate::error::{JailError, Result};
use crate::executor::JailExecutor;
use crate::forward::Forwards;
use crate::handle::{HandleParts, JailHandle};
use crate::ids::{self, IdAllocator, IdRange};
use crate::ipc::{self, SpawnRequest};
use crate::reaper;
use crate::result::{JailEvent, JailResult};
use crate::runtime;
use crate::setup::{seccomp::SeccompPrograms, Identity, JailContext};
use crate::sys;
use crate::zygote::{HostPipes, PreparedJail, Zygote};

/// Events buffered in a stream's channel.
pub(crate) const STREAM_CHANNEL: usize = 256;

/// Pre-created jails kept ready by default.
const DEFAULT_WARM_POOL: usize = 4;

/// Longest wait for an allowlist jail's init to hand over its proxy
/// listener (it does so within a millisecond of getting its request).
const LISTENER_HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Operator settings of the egress proxy that serves allowlist jails:
    /// trusted upstreams, name servers, timeouts and caps.
    pub egress: EgressSettings,
    /// Host ids root-mode jails take their blocks from (default
    /// [`IdRange::default`]); rootless jails map the caller's own ids.
    pub jail_ids: Option<IdRange>,
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
    /// The host ids root-mode jails take their blocks from (`None`
    /// rootless).
    pub jail_ids: Option<IdRange>,
    /// The kernel's Landlock ABI version; `None` means jails run without
    /// Landlock (it is defence in depth: the minimal root and read-only
    /// mounts do not depend on it). Signal and abstract-socket scoping need
    /// version 6.
    pub landlock_abi: Option<u32>,
}

#[derive(Debug)]
struct Inner {
    zygote: Zygote,
    cgroups: Arc<dyn CgroupManager>,
    egress: EgressProxy,
    info: EngineInfo,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.zygote.shutdown();
        reaper::flush();
    }
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
        let runtime_dir = options.runtime_dir.unwrap_or_else(|| runtime::default_dir(uid));
        let dirs = runtime::prepare(&runtime_dir, uid, gid)?;
        let parent = options.cgroup_parent.unwrap_or_else(|| {
            if rootless {
                format!("paddock-{uid}")
            } else {
                "paddock".into()
            }
        });
        if parent.is_empty() || parent.contains('/') || parent.starts_with('.') {
            return Err(JailError::InvalidConfig(format!("bad cgroup parent name {parent:?}")));
        }
        let egress = EgressProxy::new(options.egress).map_err(JailError::InvalidConfig)?;
        let cgroups: Arc<dyn CgroupManager> = cgroup::detect(&parent, rootless, options.cgroup_layout).into();
        cgroup::sweep_stale(cgroups.as_ref());
        // Root inside a container's user namespace has only the ids mapped
        // to it, not a range to give each jail: its jails map its own ids,
        // as rootless jails do.
        let host_root = !rootless && ids::owns_every_id();
        if !rootless && !host_root {
            tracing::warn!(
                "running as root of a user namespace that maps only part of the host's ids: jails share this process's user, without a block of host ids each"
            );
        }
        let ids = if host_root {
            let range = options.jail_ids.unwrap_or_default();
            range.validate().map_err(JailError::InvalidConfig)?;
            ids::check_unused(&range).map_err(JailError::InvalidConfig)?;
            Some(IdAllocator::new(range, ids::lock_dir(&runtime_dir))?)
        } else {
            None
        };
        let ctx = JailContext {
            root_mount: dirs.root_mount,
            etc_template: dirs.etc_template,
            identity: if host_root {
                Identity::Block
            } else {
                Identity::Caller { uid, gid }
            },
            seccomp: SeccompPrograms::compile()?,
            early_pivot: sys::kernel_at_least(6, 15),
            // Set per jail by the zygote.
            pooled: false,
        };
        let jail_ids = ids.as_ref().map(|ids| ids.range());
        let zygote = Zygote::start(
            ctx,
            options.warm_pool.unwrap_or(DEFAULT_WARM_POOL),
            cgroups.clone(),
            ids,
        )?;
        let info = EngineInfo {
            rootless,
            cgroups: CgroupReport {
                version: cgroups.version(),
                controllers: Controller::ALL.iter().map(|&c| (c, cgroups.controller(c))).collect(),
            },
            runtime_dir,
            jail_ids,
            landlock_abi: sys::landlock_abi(),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                zygote,
                cgroups,
                egress,
                info,
            }),
        })
    }

    /// What the engine can enforce here.
    pub fn info(&self) -> &EngineInfo {
        &self.inner.info
    }

    /// Discards the pre-created jails and waits until every finished jail's
    /// cgroup and namespace are released. Call it before a process exits
    /// (`std::process::exit` runs no destructors); dropping the last clone
    /// of the engine does the same. Jails still running are not affected.
    pub fn shutdown(&self) {
        self.inner.zygote.shutdown();
        reaper::flush();
    }

    /// Whether the zygote, which starts every jail, still runs (not
    /// exited, not a zombie): without it no jail can start.
    pub fn is_alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.inner.zygote.pid())).unwrap_or_default();
        // The state is the first field after the parenthesised name.
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        matches!(state, Some(s) if s != 'Z' && s != 'X')
    }

    /// Pid of the zygote (for diagnostics).
    pub fn zygote_pid(&self) -> i32 {
        self.inner.zygote.pid()
    }

    /// Starts a jail. The deadline (`limits.timeout`) counts from here.
    pub async fn spawn(&self, config: JailConfig) -> Result<JailHandle> {
        self.spawn_as(config, false).await
    }

    /// Starts a runtime jail: its init sets the jail up as for `config`
    /// (whose command is not run), brings up its loopback, and then starts
    /// processes on request until the returned handle is killed or dropped
    /// (RUNTIME.md §2). The handle's `wait` ends when the jail does.
    pub async fn spawn_runtime(&self, config: JailConfig) -> Result<(JailHandle, JailExecutor)> {
        let mut handle = self.spawn_as(config, true).await?;
        let socket = handle
            .take_request_socket()
            .ok_or_else(|| JailError::Spawner("a runtime jail without its request socket".into()))?;
        match JailExecutor::attach(socket).await? {
            Some(executor) => Ok((handle, executor)),
            // The init ended during setup: its report says why.
            None => match handle.wait().await {
                Err(err) => Err(err),
                Ok(_) => Err(JailError::Spawner("the runtime jail ended during setup".into())),
            },
        }
    }

    async fn spawn_as(&self, config: JailConfig, runtime: bool) -> Result<JailHandle> {
        config.validate()?;
        // Refused before a pre-created jail is spent on it.
        cgroup::check_limits(self.inner.cgroups.as_ref(), &config.limits)?;
        let started_at = Instant::now();
        // Stdin bytes travel through the pipe, not in the request.
        let mut request = SpawnRequest { config, runtime };
        let mut stdin = Some(std::mem::take(&mut request.config.stdin));
        let payload = serde_json::to_vec(&request).map_err(|e| JailError::Spawner(e.to_string()))?;
        if payload.len() > ipc::MAX_MESSAGE {
            return Err(JailError::InvalidConfig(format!(
                "the jail configuration is {} bytes; at most {} fit (large inputs belong in stdin or a bind)",
                payload.len(),
                ipc::MAX_MESSAGE
            )));
        }
        let config = &request.config;
        let mut attempts = 0;
        loop {
            let jail = self.inner.zygote.take().await?;
            let pid = jail.pid;
            match self.hand_over(jail, config, &payload, &mut stdin, started_at).await {
                Err(Started::JailGone(err)) if attempts < 2 => {
                    // Killed from outside while it waited in the pool.
                    tracing::warn!(%err, pid, "a pre-created jail is gone; using another");
                    attempts += 1;
                }
                Err(Started::JailGone(err)) => {
                    return Err(JailError::Spawner(format!("sending the request to the jail: {err}")))
                }
                Err(Started::Failed(err)) => return Err(err),
                Ok(handle) => return Ok(handle),
            }
        }
    }

    /// Runs a jail to completion and returns its result.
    pub async fn run(&self, config: JailConfig) -> Result<JailResult> {
        self.spawn(config).await?.wait().await
    }

    /// Runs a jail and streams its events: `Started`, output lines, `Stats`
    /// every `stats_every`, then exactly one `Completed` or `Failed`.
    ///
    /// The channel is bounded: a consumer that falls behind pauses the
    /// jail's output rather than letting events pile up in memory; the
    /// deadline still applies. Dropping the receiver lets the jail run to
    /// its end without events.
    pub async fn stream(&self, config: JailConfig, stats_every: Duration) -> mpsc::Receiver<JailEvent> {
        match self.spawn(config).await {
            Ok(handle) => handle.into_events(stats_every),
            Err(err) => {
                let (events, receiver) = mpsc::channel(1);
                let _ = events.try_send(JailEvent::Failed(err));
                receiver
            }
        }
    }

    /// Gives a pre-created jail its limits and its request (`payload`, the
    /// encoded `config`). `stdin` is taken once the request is delivered.
    async fn hand_over(
        &self,
        mut jail: PreparedJail,
        config: &JailConfig,
        payload: &[u8],
        stdin: &mut Option<Stdin>,
        started_at: Instant,
    ) -> std::result::Result<JailHandle, Started> {
        let fail = |jail: PreparedJail, err: JailError| {
            jail.discard();
            Started::Failed(err)
        };
        match &jail.cgroup {
            // Written while the init waits: before the command exists.
            Some(cgroup) => {
                if let Err(err) = cgroup.apply(&config.limits) {
                    return Err(fail(jail, err));
                }
            }
            None if config.limits.needs_cgroup() => {
                let err = JailError::LimitUnavailable {
                    limit: "a resource",
                    reason: "the jail's cgroup could not be created".into(),
                };
                return Err(fail(jail, err));
            }
            None => {}
        }
        // Registered before the request goes out: after that, this thread
        // should get out of the way of the init it wakes, which the kernel
        // often puts on this CPU.
        let Some(pipes) = jail.pipes.take() else {
            return Err(fail(
                jail,
                JailError::Spawner("a pre-created jail without pipes".into()),
            ));
        };
        let streams = match Streams::register(pipes) {
            Ok(streams) => streams,
            Err(err) => return Err(fail(jail, err)),
        };
        let trees = match &jail.ids {
            Some((ids, user_namespace)) => {
                // The init and its pre-forked command wait at the zygote's
                // background priority (see zygote.rs); back to normal before
                // they wake up, so that they are not behind the pool's
                // refill for the CPU. They are the only processes of the
                // block's uid, once the init took it; an init made just now
                // may not have yet (nor forked the command, which then
                // inherits the init's priority), hence the init by pid too.
                // SAFETY: setpriority with integer arguments.
                unsafe {
                    libc::setpriority(libc::PRIO_PROCESS, jail.pid as libc::id_t, 0);
                    libc::setpriority(libc::PRIO_USER, ids.base() as libc::id_t, 0);
                }
                match bind_trees(config, user_namespace) {
                    Ok(trees) => trees,
                    Err(err) => return Err(fail(jail, err)),
                }
            }
            None => Vec::new(),
        };
        // The jail already has its ends of the pipes (see zygote.rs).
        let raw: Vec<_> = trees.iter().map(AsRawFd::as_raw_fd).collect();
        if let Err(err) = ipc::send_with_fds(jail.requests.as_raw_fd(), payload, &raw) {
            jail.discard();
            return Err(Started::JailGone(err));
        }
        drop(trees);
        let mut host_tree = Vec::new();
        let mut streams = streams;
        let (egress, forwards) = match self.serve_listeners(&jail.requests, config, &mut host_tree).await {
            Ok(served) => served,
            Err(err) => return Err(fail(jail, err)),
        };
        let PreparedJail {
            pid,
            pidfd,
            requests,
            mount_namespace,
            cgroup,
            ids,
            running,
            ..
        } = jail;
        let stdin = match streams.feed(stdin.take().unwrap_or_default()) {
            StdinFeed::Caller(sender) => Some(sender),
            StdinFeed::Done => None,
            StdinFeed::Rest(sender, rest) => {
                tokio::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let mut sender = sender;
                    // The jail may exit without reading: a broken pipe is fine.
                    let _ = sender.write_all(&rest).await;
                });
                None
            }
        };
        Ok(JailHandle::new(HandleParts {
            pid,
            pidfd,
            mount_namespace,
            requests,
            host_tree,
            cgroup,
            ids: ids.map(|(ids, _)| ids),
            running,
            stdin,
            stdout: streams.stdout,
            stderr: streams.stderr,
            report: streams.report,
            egress,
            forwards,
            command: config.command.clone(),
            started_at,
            timeout: config.limits.timeout,
            output_cap: config.limits.output_cap_bytes,
        }))
    }
}

/// The binds of a root-mode jail as the host makes them: detached copies
/// of the sources, idmapped with the jail's user namespace (the host's uid
/// 0 on disk is the jail's root, and what the jail writes lands with the
/// ids it sees) and with their flags set. Read-only binds of file systems
/// that cannot be idmapped are plain copies (their files then show as
/// `nobody`); writable ones are refused, since the jail could not write
/// them.
fn bind_trees(config: &JailConfig, user_namespace: &OwnedFd) -> Result<Vec<OwnedFd>> {
    let mut trees = Vec::with_capacity(config.mounts.len());
    for mount in &config.mounts {
        let source = std::ffi::CString::new(mount.source.as_os_str().as_encoded_bytes())
            .map_err(|_| JailError::InvalidConfig(format!("bind source {} contains NUL", mount.source.display())))?;
        let mut attrs = sys::mount_attr::NOSUID | sys::mount_attr::NODEV;
        if !mount.writable {
            attrs |= sys::mount_attr::RDONLY;
        }
        let tree = match sys::detached_tree(&source, attrs, Some(user_namespace)) {
            Ok(tree) => tree,
            // EINVAL: a file system without idmapped mounts; ENOSYS: a
            // kernel without them (before 5.12).
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) && !mount.writable => {
                sys::detached_tree(&source, attrs, None).map_err(|e| JailError::host("copy a bind's tree", e))?
            }
            Err(err) if matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                return Err(JailError::host(
                    "idmap a writable bind (a root-mode jail writes its binds through an idmapped mount, which this file system or kernel lacks)",
                    err,
                ))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(JailError::InvalidConfig(format!(
                    "bind source {}: {err}",
                    mount.source.display()
                )))
            }
            Err(err) => return Err(JailError::host("copy a bind's tree", err)),
        };
        trees.push(tree);
    }
    Ok(trees)
}

/// What becomes of the jail's standard input.
enum StdinFeed {
    /// `Stdin::Pipe`: the caller writes.
    Caller(pipe::Sender),
    /// Closed: `Stdin::Null`, or all the bytes fit in the pipe.
    Done,
    /// These bytes are still to be written.
    Rest(pipe::Sender, Vec<u8>),
}

/// The host's ends of a jail's pipes, registered with the runtime.
struct Streams {
    stdin: Option<pipe::Sender>,
    stdout: pipe::Receiver,
    stderr: pipe::Receiver,
    report: OwnedFd,
}

impl Streams {
    fn register(pipes: HostPipes) -> Result<Self> {
        let register = |e| JailError::host("register pipe", e);
        Ok(Streams {
            stdin: Some(pipe::Sender::from_owned_fd(pipes.stdin_w).map_err(register)?),
            stdout: pipe::Receiver::from_owned_fd(pipes.stdout_r).map_err(register)?,
            stderr: pipe::Receiver::from_owned_fd(pipes.stderr_r).map_err(register)?,
            report: pipes.report_r,
        })
    }

    /// Standard input from `stdin`: bytes that fit in the pipe are written
    /// at once (a task writes the rest).
    fn feed(&mut self, stdin: Stdin) -> StdinFeed {
        let Some(sender) = self.stdin.take() else {
            return StdinFeed::Done;
        };
        match stdin {
            Stdin::Null => StdinFeed::Done,
            Stdin::Pipe => StdinFeed::Caller(sender),
            Stdin::Bytes(bytes) => match sender.try_write(&bytes) {
                Ok(n) if n == bytes.len() => StdinFeed::Done,
                Ok(n) => StdinFeed::Rest(sender, bytes[n..].to_vec()),
                // Full (or broken, which the writer task also finds out).
                Err(_) => StdinFeed::Rest(sender, bytes),
            },
        }
    }
}

impl Engine {
    /// Takes the listeners the jail's init created inside its network
    /// namespace (the egress proxy's, then the host forwards') and serves
    /// them. Nothing is served when the init failed before handing them
    /// over (its report says why).
    /// The init's copy of the host's tree, if it comes first, goes to
    /// `host_tree`.
    async fn serve_listeners(
        &self,
        requests: &OwnedFd,
        config: &JailConfig,
        host_tree: &mut Vec<OwnedFd>,
    ) -> Result<(Option<ProxySession>, Option<Forwards>)> {
        let policy = config.network.egress_policy();
        let expected = policy.is_some() as usize + config.forwards.len();
        if expected == 0 {
            return Ok((None, None));
        }
        let listeners = tokio::time::timeout(LISTENER_HANDOVER_TIMEOUT, receive_listeners(requests, host_tree))
            .await
            .map_err(|_| JailError::Spawner("the jail did not hand over its listeners".into()))?
            .map_err(|e| JailError::host("receiving the jail's listeners", e))?;
        let Some(listeners) = listeners else {
            return Ok((None, None));
        };
        if listeners.len() != expected {
            return Err(JailError::Spawner(format!(
                "the jail handed over {} listeners, expected {expected}",
                listeners.len()
            )));
        }
        let mut listeners = listeners.into_iter();
        let egress = match (policy, policy.and_then(|_| listeners.next())) {
            (Some(policy), Some(listener)) => Some(
                self.inner
                    .egress
                    .serve(listener, policy.clone(), true)
                    .map_err(|e| JailError::host("serving the egress proxy", e))?,
            ),
            _ => None,
        };
        let pairs: Vec<_> = listeners.zip(config.forwards.iter().map(|f| f.target)).collect();
        let forwards = if pairs.is_empty() {
            None
        } else {
            Some(Forwards::start(pairs).map_err(|e| JailError::host("serving host forwards", e))?)
        };
        Ok((egress, forwards))
    }
}

/// Waits on the request socket for the init's listeners message; the
/// host-tree message that may come first goes to `host_tree`.
async fn receive_listeners(
    requests: &OwnedFd,
    host_tree: &mut Vec<OwnedFd>,
) -> std::io::Result<Option<Vec<std::net::TcpListener>>> {
    sys::set_nonblocking(requests.as_raw_fd(), true)?;
    // SAFETY: the registration is dropped at the end of this function,
    // while `requests` (borrowed for all of it) is still open.
    let socket = unsafe { AsyncFd::register_with_interest(requests.as_raw_fd(), tokio::io::Interest::READABLE) }
        .map_err(|e| e.into_parts().1)?;
    let mut buf = Vec::new();
    loop {
        let mut ready = socket.readable().await?;
        match ipc::recv_with_fds(requests.as_raw_fd(), &mut buf, 64) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
            Err(e) => return Err(e),
            Ok(None) => return Ok(None),
            Ok(Some(fds)) if buf.as_slice() == ipc::LISTENER_HANDOVER => {
                return Ok(Some(fds.into_iter().map(std::net::TcpListener::from).collect()));
            }
            Ok(Some(fds)) if buf.as_slice() == ipc::HOST_TREE => host_tree.extend(fds),
            Ok(Some(_)) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "unexpected message on the request socket",
                ))
            }
        }
    }
}

/// Why a pre-created jail could not be started.
enum Started {
    /// It died while waiting; another one may work.
    JailGone(std::io::Error),
    /// The request cannot be served.
    Failed(JailError),
}

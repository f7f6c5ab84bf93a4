//! The zygote: a single-threaded process forked when the engine starts,
//! before the host has any other thread (ARCHITECTURE decision 1), and the
//! pool of jails it pre-creates.
//!
//! Asked over a `SOCK_SEQPACKET` socket, the zygote clones a jail init with
//! fresh namespaces and answers with its pid, a pidfd, the init's request
//! socket and a reference to its mount namespace. The init joins the cgroup
//! named in the request, builds the part of the jail that does not depend
//! on what it will run, and waits. Because the zygote is single-threaded
//! and small, the clone is cheap and the jail's setup code may allocate
//! freely.
//!
//! On the host, one thread owns the zygote socket. It keeps a few
//! pre-created jails ready (the warm pool), each already inside a cgroup of
//! its own, and makes one on demand when the pool is empty; a spawn takes
//! one, writes its limits and sends its request straight to it, so neither
//! the zygote round trip, nor namespace or cgroup creation, nor the shared
//! part of the root is on the spawn's critical path. While the pool has
//! jails to spare, the refill also waits until the jails taken from it end,
//! so that it does not take the CPU they start on.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::cgroup::{self, CgroupManager, CgroupVersion, JailCgroup, JAIL_PREFIX};
use crate::error::{JailError, Result};
use crate::ids::{IdAllocator, IdBlock, IDS_PER_JAIL};
use crate::ipc::{self, SpawnReply};
use crate::reaper::{self, Remains};
use crate::setup::{self, Identity, JailContext};
use crate::sys::{self, Cloned};

/// The jail's fresh namespaces. The user namespace comes first: it owns
/// the others, so that the jail's root has its capabilities over them and
/// none over the host's.
const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// Descriptor number of the zygote's end of the socket.
const ZYGOTE_SOCKET: RawFd = 3;

/// `SECBIT_NO_SETUID_FIXUP`: changing uids keeps the capabilities.
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;

/// Niceness of the zygote and of waiting jail inits (root mode).
const BACKGROUND_NICE: libc::c_int = 10;

/// While the pool holds at least this many jails, its refill waits for the
/// jails taken from it to end (see `refill_wait`).
const POOL_LOW_WATER: usize = 2;

/// The longest a refill waits for running jails after the last take.
const REFILL_WAIT_MAX: Duration = Duration::from_millis(100);

/// Pipe buffer size asked for the output pipes (the default 64 KiB costs
/// a context switch per 64 KiB of output).
const OUTPUT_PIPE_SIZE: libc::c_int = 1 << 20;

/// The host's ends of a jail's four pipes (standard streams and the report
/// pipe), made with the jail: the init receives its ends before its
/// request, and the command inherits them, so a request carries none.
#[derive(Debug)]
pub(crate) struct HostPipes {
    pub stdin_w: OwnedFd,
    pub stdout_r: OwnedFd,
    pub stderr_r: OwnedFd,
    pub report_r: OwnedFd,
}

/// Makes the pipes; returns the host's ends and the jail's
/// (`[stdin_r, stdout_w, stderr_w, report_w]`).
fn make_pipes() -> std::io::Result<(HostPipes, [OwnedFd; 4])> {
    let (stdin_r, stdin_w) = sys::pipe()?;
    let (stdout_r, stdout_w) = sys::pipe()?;
    let (stderr_r, stderr_w) = sys::pipe()?;
    let (report_r, report_w) = sys::pipe()?;
    for fd in [&stdout_w, &stderr_w] {
        // Best effort: an unprivileged user may be capped lower.
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, OUTPUT_PIPE_SIZE) };
    }
    let host = HostPipes {
        stdin_w,
        stdout_r,
        stderr_r,
        report_r,
    };
    Ok((host, [stdin_r, stdout_w, stderr_w, report_w]))
}

/// Host → zygote: pre-create one jail in this cgroup.
#[derive(Debug, Serialize, Deserialize)]
struct PrepareRequest {
    cgroup: CgroupEntry,
    /// Root mode: the first host id of the jail's block.
    id_base: Option<u32>,
    /// Whether the jail will wait in the pool: only then is the early pivot
    /// worth its copy of the host's tree (a jail made for a waiting request
    /// would pivot on the critical path either way).
    pooled: bool,
}

/// How a new init gets into its cgroup. Moving a process into a cgroup
/// takes a global lock whose first taker waits for an RCU grace period
/// (milliseconds), unless a single thread moves itself; so nothing here
/// moves a process other than the writer.
#[derive(Debug, Serialize, Deserialize)]
enum CgroupEntry {
    /// No cgroup.
    None,
    /// v2: cloned straight into this directory (`CLONE_INTO_CGROUP`).
    CloneInto(PathBuf),
    /// v1, rootless: the init writes `0` into these `tasks` files itself.
    InitJoins(Vec<PathBuf>),
    /// v1, root: the zygote moves itself into `tasks` (the init's ids may
    /// not write the host's cgroup files), clones the init there, and moves
    /// itself back to `home`.
    ZygoteCarries { tasks: Vec<PathBuf>, home: Vec<PathBuf> },
}

/// A jail init waiting for its request.
#[derive(Debug)]
pub(crate) struct PreparedJail {
    /// Host pid of the init.
    pub pid: i32,
    /// pidfd of the init.
    pub pidfd: OwnedFd,
    /// Where the init reads its request.
    pub requests: OwnedFd,
    /// The jail's mount namespace, held so that freeing it happens after
    /// the jail ends, off the critical path (see `reaper`).
    pub mount_namespace: Option<OwnedFd>,
    /// The cgroup the init already joined (default limits, see
    /// `cgroup::preset_limits`).
    pub cgroup: Option<Arc<dyn JailCgroup>>,
    /// The host's ends of the jail's pipes (taken when the jail starts).
    pub pipes: Option<HostPipes>,
    /// Root mode: the jail's block of host ids, and its user namespace
    /// (which the host idmaps the binds with).
    pub ids: Option<(IdBlock, OwnedFd)>,
    /// Counts the jail as running (for the pool's refill) until dropped.
    pub running: Option<Running>,
}

/// A jail taken from the zygote and not yet finished. Dropping it tells
/// the pool's client thread, which may be waiting to refill until then.
#[derive(Debug)]
pub(crate) struct Running {
    pool: Arc<Pool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.pool.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Some(wake) = self.pool.wake.lock().ok().as_deref().and_then(Option::as_ref) {
                let _ = wake.send(Job::JailsEnded);
            }
        }
    }
}

impl PreparedJail {
    /// Kills an unused jail and removes its cgroup before returning.
    pub(crate) fn discard(self) {
        let _ = sys::pidfd_send_signal(&self.pidfd, libc::SIGKILL);
        sys::wait_for_exit(&self.pidfd, Duration::from_secs(2));
        if let Some(cgroup) = self.cgroup {
            if let Err(err) = cgroup.remove() {
                tracing::warn!(%err, ?cgroup, "removing an unused jail's cgroup");
            }
        }
        if let Some((ids, _)) = self.ids {
            release_ids(ids, &self.pidfd);
        }
    }
}

/// Returns a jail's id block to the range once its init is gone (it was
/// killed and waited for): by then every process of the jail is gone too,
/// since the init's exit kills its PID namespace and waits for it, and so
/// are their files. An init still there keeps its block out of the range
/// for good, so that another jail never shares its budgets.
pub(crate) fn release_ids(ids: IdBlock, pidfd: &OwnedFd) {
    if sys::has_exited(pidfd) {
        drop(ids);
    } else {
        tracing::warn!(
            base = ids.base(),
            "a jail's init outlived its kill; its id block is retired"
        );
        ids.retire();
    }
}

enum Job {
    /// Make one jail now and hand it over.
    Prepare(oneshot::Sender<Result<PreparedJail>>),
    /// A jail was taken from the pool: top it up.
    Refill,
    /// No jail taken from the pool runs any more: a refill that waited for
    /// that may go ahead.
    JailsEnded,
    /// Answer once every earlier job, and any pre-creation under way, is done.
    Flush(std_mpsc::Sender<()>),
}

#[derive(Debug)]
struct Pool {
    ready: Mutex<VecDeque<PreparedJail>>,
    target: usize,
    /// Set by `shutdown`: nothing is pooled any more.
    closed: AtomicBool,
    /// Jails taken and not yet finished (see [`Running`]).
    running: AtomicUsize,
    /// When a jail was last taken.
    last_take: Mutex<Option<Instant>>,
    /// Wakes the client thread when the last running jail ends; cleared at
    /// shutdown, so that jails still running do not keep the thread (and
    /// the zygote) alive.
    wake: Mutex<Option<std_mpsc::Sender<Job>>>,
}

impl Pool {
    fn new(target: usize) -> Pool {
        Pool {
            ready: Mutex::new(VecDeque::new()),
            target,
            closed: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            last_take: Mutex::new(None),
            wake: Mutex::new(None),
        }
    }

    fn take(&self) -> Option<PreparedJail> {
        self.ready.lock().ok()?.pop_front()
    }

    fn len(&self) -> usize {
        self.ready.lock().map_or(0, |ready| ready.len())
    }

    fn needs_more(&self) -> bool {
        !self.closed.load(Ordering::SeqCst) && self.len() < self.target
    }

    /// Counts a jail as running from now until the guard is dropped.
    fn start_running(self: &Arc<Self>) -> Running {
        self.running.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = self.last_take.lock() {
            *last = Some(Instant::now());
        }
        Running { pool: self.clone() }
    }

    /// How long the refill should still wait, if at all (see
    /// [`refill_wait`]).
    fn should_wait(&self) -> Option<Duration> {
        let since_take = self.last_take.lock().ok().and_then(|last| *last).map(|at| at.elapsed());
        refill_wait(self.len(), self.running.load(Ordering::SeqCst), since_take)
    }

    fn put(&self, jail: PreparedJail) {
        match self.ready.lock() {
            Ok(mut ready) if !self.closed.load(Ordering::SeqCst) => ready.push_back(jail),
            _ => jail.discard(),
        }
    }

    /// Discards every pooled jail and stops pooling.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut wake) = self.wake.lock() {
            *wake = None;
        }
        let drained: Vec<PreparedJail> = match self.ready.lock() {
            Ok(mut ready) => ready.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        drained.into_iter().for_each(PreparedJail::discard);
    }
}

/// How long the pool's refill should wait, given how many jails it holds,
/// how many taken jails are running and how long ago the last was taken.
///
/// Making a jail is a few milliseconds of kernel work (namespaces, cgroups,
/// mounts). On a machine with few cores, doing it while a jail just taken
/// starts and runs takes the CPU that jail's init and command wait for,
/// and delays the caller's result. So while the pool still holds
/// `POOL_LOW_WATER` jails, the refill waits until the jails taken from it
/// have ended, or until `REFILL_WAIT_MAX` after the last take, so that a
/// long-running jail does not keep the pool low for good.
fn refill_wait(pooled: usize, running: usize, since_take: Option<Duration>) -> Option<Duration> {
    if pooled < POOL_LOW_WATER || running == 0 {
        return None;
    }
    REFILL_WAIT_MAX.checked_sub(since_take?).filter(|left| !left.is_zero())
}

/// Creates each pre-created jail's cgroup, and takes its id block.
#[derive(Debug)]
struct CgroupMaker {
    manager: Arc<dyn CgroupManager>,
    next: AtomicU64,
    /// Root mode: the range jails take their id blocks from.
    ids: Option<Arc<IdAllocator>>,
    /// v1: where the zygote moves back to after cloning a root-mode init
    /// in a jail's cgroup (see `CgroupEntry`).
    home: Vec<PathBuf>,
}

impl CgroupMaker {
    /// A fresh cgroup, or `None` without cgroup support (jails without
    /// limits still run; requests with limits are refused before a jail is
    /// taken).
    fn make(&self) -> Option<Arc<dyn JailCgroup>> {
        if self.manager.version() == CgroupVersion::None {
            return None;
        }
        let name = format!(
            "{JAIL_PREFIX}{}-{}",
            std::process::id(),
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        match self.manager.create(&name) {
            Ok(cgroup) => {
                // Written now, so that a request with these limits writes
                // nothing; one that fails here is written in full by the
                // request (see `JailCgroup::apply`).
                if let Err(err) = cgroup.apply(&cgroup::preset_limits(self.manager.as_ref())) {
                    tracing::debug!(%err, "presetting a pre-created jail's limits");
                }
                Some(cgroup)
            }
            Err(err) => {
                tracing::debug!(%err, "no cgroup for a pre-created jail");
                None
            }
        }
    }
}

/// Host-side handle of the zygote.
#[derive(Debug)]
pub(crate) struct Zygote {
    /// The host's end of the socket until the client thread takes it.
    socket: Mutex<Option<OwnedFd>>,
    /// Started on the first spawn, so that several engines can be started
    /// one after the other while the process is still single-threaded.
    jobs: OnceLock<std_mpsc::Sender<Job>>,
    pool: Arc<Pool>,
    cgroups: Arc<CgroupMaker>,
    pid: libc::pid_t,
}

impl Zygote {
    /// Forks the zygote. Fails if the calling process has other threads.
    /// `warm` is how many pre-created jails the host keeps ready.
    pub(crate) fn start(
        ctx: JailContext,
        warm: usize,
        cgroups: Arc<dyn CgroupManager>,
        ids: Option<Arc<IdAllocator>>,
    ) -> Result<Self> {
        let threads = sys::thread_count().map_err(|e| JailError::host("count threads", e))?;
        if threads != 1 {
            return Err(JailError::NotSingleThreaded { threads });
        }
        let (host_end, zygote_end) = ipc::seqpacket_pair().map_err(|e| JailError::host("socketpair", e))?;
        // SAFETY: getpid has no preconditions.
        let host_pid = unsafe { libc::getpid() };
        match sys::fork().map_err(|e| JailError::host("fork the zygote", e))? {
            0 => {
                drop(host_end);
                if ctx.identity == Identity::Block {
                    start_in_own_pid_namespace(ctx, zygote_end, host_pid)
                }
                zygote_main(ctx, zygote_end, Some(host_pid))
            }
            pid => {
                drop(zygote_end);
                Ok(Zygote {
                    socket: Mutex::new(Some(host_end)),
                    jobs: OnceLock::new(),
                    pool: Arc::new(Pool::new(warm)),
                    cgroups: Arc::new(CgroupMaker {
                        home: cgroups.home_files(),
                        manager: cgroups,
                        next: AtomicU64::new(0),
                        ids,
                    }),
                    pid,
                })
            }
        }
    }

    /// Pid of the zygote process.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// A jail init waiting for its request: from the pool when one is
    /// ready, made now otherwise.
    pub(crate) async fn take(&self) -> Result<PreparedJail> {
        let jobs = self.client()?;
        let mut jail = match self.pool.take() {
            Some(jail) => {
                let _ = jobs.send(Job::Refill);
                jail
            }
            None => {
                let (reply, answer) = oneshot::channel();
                jobs.send(Job::Prepare(reply))
                    .map_err(|_| JailError::Spawner("the zygote client thread is gone".into()))?;
                answer
                    .await
                    .map_err(|_| JailError::Spawner("the zygote client thread dropped a request".into()))??
            }
        };
        jail.running = Some(self.pool.start_running());
        Ok(jail)
    }

    /// Discards the pooled jails (and stops pooling), so that a process about
    /// to exit leaves nothing behind.
    pub(crate) fn shutdown(&self) {
        self.pool.close();
        // A jail being pre-created right now is discarded by `Pool::put`
        // once it is ready; wait for that.
        if let Some(jobs) = self.jobs.get() {
            let (done, wait) = std_mpsc::channel();
            if jobs.send(Job::Flush(done)).is_ok() {
                let _ = wait.recv_timeout(Duration::from_secs(10));
            }
        }
    }

    /// The client thread's queue, starting the thread on first use.
    fn client(&self) -> Result<&std_mpsc::Sender<Job>> {
        if let Some(jobs) = self.jobs.get() {
            return Ok(jobs);
        }
        let mut socket = self
            .socket
            .lock()
            .map_err(|_| JailError::Spawner("zygote socket lock poisoned".into()))?;
        if let Some(jobs) = self.jobs.get() {
            return Ok(jobs);
        }
        let sock = socket
            .take()
            .ok_or_else(|| JailError::Spawner("the zygote client thread failed to start".into()))?;
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let pool = self.pool.clone();
        let cgroups = self.cgroups.clone();
        std::thread::Builder::new()
            .name("paddock-zygote-client".into())
            .spawn(move || client_loop(sock, queue, pool, cgroups))
            .map_err(|e| JailError::host("start the zygote client thread", e))?;
        if let Ok(mut wake) = self.pool.wake.lock() {
            if !self.pool.closed.load(Ordering::SeqCst) {
                *wake = Some(jobs.clone());
            }
        }
        // The pool starts filling now.
        let _ = jobs.send(Job::Refill);
        Ok(self.jobs.get_or_init(|| jobs))
    }
}

/// Host side: serves explicit requests first, otherwise keeps the pool full,
/// otherwise sleeps until asked. The zygote answers one request at a time.
fn client_loop(sock: OwnedFd, queue: std_mpsc::Receiver<Job>, pool: Arc<Pool>, cgroups: Arc<CgroupMaker>) {
    let mut buf = Vec::new();
    // After a failure, refill only when asked again (no busy loop against a
    // dead zygote).
    let mut healthy = true;
    loop {
        let job = match queue.try_recv() {
            Ok(job) => job,
            Err(std_mpsc::TryRecvError::Empty) if healthy && pool.needs_more() => {
                if let Some(wait) = pool.should_wait() {
                    match queue.recv_timeout(wait) {
                        Ok(job) => job,
                        Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                } else {
                    match prepare(&sock, &mut buf, &cgroups, true) {
                        Ok(jail) => pool.put(jail),
                        Err(err) => {
                            tracing::warn!(%err, "pre-creating a jail");
                            healthy = false;
                        }
                    }
                    continue;
                }
            }
            Err(std_mpsc::TryRecvError::Empty) => match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(std_mpsc::TryRecvError::Disconnected) => return,
        };
        match job {
            Job::Prepare(reply) => {
                let outcome = prepare(&sock, &mut buf, &cgroups, false);
                healthy = outcome.is_ok();
                if let Err(Ok(jail)) = reply.send(outcome) {
                    // The caller gave up waiting.
                    jail.discard();
                }
            }
            Job::Refill => healthy = true,
            Job::JailsEnded => {}
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Creates a cgroup and has the zygote clone an init that joins it.
fn prepare(sock: &OwnedFd, buf: &mut Vec<u8>, cgroups: &CgroupMaker, pooled: bool) -> Result<PreparedJail> {
    let ids = cgroups.ids.as_ref().map(|ids| ids.take()).transpose()?;
    let cgroup = cgroups.make();
    match ask_zygote(sock, buf, cgroup.as_ref(), &cgroups.home, ids, pooled) {
        Ok(mut jail) => {
            jail.cgroup = cgroup;
            Ok(jail)
        }
        Err(err) => {
            if let Some(cgroup) = cgroup {
                reaper::release_later(Remains::Cgroup(cgroup));
            }
            Err(err)
        }
    }
}

fn ask_zygote(
    sock: &OwnedFd,
    buf: &mut Vec<u8>,
    cgroup: Option<&Arc<dyn JailCgroup>>,
    home: &[PathBuf],
    ids: Option<IdBlock>,
    pooled: bool,
) -> Result<PreparedJail> {
    let (pipes, jail_ends) = make_pipes().map_err(|e| JailError::host("pipe", e))?;
    let entry = match cgroup {
        None => CgroupEntry::None,
        Some(cgroup) => match cgroup.clone_dir() {
            Some(dir) => CgroupEntry::CloneInto(dir),
            None if ids.is_some() => CgroupEntry::ZygoteCarries {
                tasks: cgroup.procs_files(),
                home: home.to_vec(),
            },
            None => CgroupEntry::InitJoins(cgroup.procs_files()),
        },
    };
    let request = PrepareRequest {
        cgroup: entry,
        id_base: ids.as_ref().map(IdBlock::base),
        pooled,
    };
    let request = serde_json::to_vec(&request).map_err(|e| JailError::Spawner(e.to_string()))?;
    ipc::send_with_fds(sock.as_raw_fd(), &request, &[])
        .map_err(|e| JailError::Spawner(format!("sending to the zygote: {e}")))?;
    let fds = ipc::recv_with_fds(sock.as_raw_fd(), buf, 4096)
        .map_err(|e| JailError::Spawner(format!("reading from the zygote: {e}")))?
        .ok_or_else(|| JailError::Spawner("the zygote exited".into()))?;
    let reply: SpawnReply =
        serde_json::from_slice(buf).map_err(|e| JailError::Spawner(format!("bad zygote reply: {e}")))?;
    match reply {
        SpawnReply::Spawned { pid } => {
            let mut fds = fds.into_iter();
            let (Some(pidfd), Some(requests)) = (fds.next(), fds.next()) else {
                return Err(JailError::Spawner("the zygote sent too few descriptors".into()));
            };
            let ids = match ids {
                Some(block) => match fds.next() {
                    Some(user_namespace) => Some((block, user_namespace)),
                    None => {
                        let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
                        sys::wait_for_exit(&pidfd, Duration::from_secs(2));
                        release_ids(block, &pidfd);
                        return Err(JailError::Spawner("the zygote sent no user namespace".into()));
                    }
                },
                None => None,
            };
            let jail = PreparedJail {
                pid,
                pidfd,
                requests,
                mount_namespace: fds.next(),
                cgroup: None,
                pipes: Some(pipes),
                ids,
                running: None,
            };
            // The init waits for its ends before anything else.
            let raw = jail_ends.each_ref().map(|fd| fd.as_raw_fd());
            if let Err(e) = ipc::send_with_fds(jail.requests.as_raw_fd(), ipc::PIPES, &raw) {
                jail.discard();
                return Err(JailError::Spawner(format!("sending the pipes to a jail: {e}")));
            }
            Ok(jail)
        }
        SpawnReply::Failed { message } => Err(JailError::Spawner(message)),
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns; the zygote must not run the host's
    // destructors or atexit handlers.
    unsafe { libc::_exit(code) }
}

/// The zygote process. Never returns.
/// `host_pid` is the parent to check for (`None` when the zygote is PID 1
/// of its own PID namespace, where its parent has no number).
fn zygote_main(ctx: JailContext, sock: OwnedFd, host_pid: Option<libc::pid_t>) -> ! {
    // SAFETY: single-threaded process; these calls only change this
    // process's own signal dispositions, name and descriptors.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if host_pid.is_some_and(|host| libc::getppid() != host) {
            exit(0);
        }
        libc::prctl(libc::PR_SET_NAME, c"paddock-zygote".as_ptr(), 0, 0, 0);
        // Exited jail inits are reaped by the kernel; the host learns of
        // their exit through its pidfd.
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        if sock.as_raw_fd() != ZYGOTE_SOCKET && libc::dup3(sock.as_raw_fd(), ZYGOTE_SOCKET, libc::O_CLOEXEC) == -1 {
            exit(1);
        }
        // Standard input and output go to /dev/null; standard error stays
        // for diagnostics. Every other inherited descriptor is closed.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
        }
    }
    std::mem::forget(sock);
    sys::close_from(ZYGOTE_SOCKET + 1);
    scrub_command_line();
    if ctx.identity == Identity::Block {
        // Pre-creating jails is background work: it yields to running jails
        // (the host returns each jail to normal priority when its request
        // arrives, which takes the privilege only root has, hence root only).
        // SAFETY: setpriority on this process.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BACKGROUND_NICE) };
        // Keeps the capabilities while the effective uid is a jail's (see
        // `clone_jail`).
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) } == -1 {
            exit(1);
        }
    }

    let flags = NAMESPACES;
    let mut buf = Vec::new();
    loop {
        let reply = match ipc::recv_with_fds(ZYGOTE_SOCKET, &mut buf, ipc::MAX_MESSAGE) {
            Ok(Some(_)) => match serde_json::from_slice::<PrepareRequest>(&buf) {
                Ok(request) => clone_jail(&ctx, flags, &request),
                Err(e) => Err(format!("bad zygote request: {e}")),
            },
            // The host closed its end (or vanished): the zygote's work is done.
            Ok(None) | Err(_) => exit(0),
        };
        let (reply, attached) = match reply {
            Ok((pid, fds)) => (SpawnReply::Spawned { pid }, fds),
            Err(message) => (SpawnReply::Failed { message }, Vec::new()),
        };
        let bytes = serde_json::to_vec(&reply).unwrap_or_default();
        let raw: Vec<RawFd> = attached.iter().map(AsRawFd::as_raw_fd).collect();
        if ipc::send_with_fds(ZYGOTE_SOCKET, &bytes, &raw).is_err() {
            exit(0);
        }
    }
}

/// Root mode: the zygote becomes PID 1 of a PID namespace of its own
/// whose `vm.memfd_noexec` is 2, which the jails' namespaces, its
/// children, inherit (threat-model row 17: no jail can execute a memory
/// file, the way round its `noexec` `/tmp`). The scope belongs to the
/// writer's PID namespace, and procfs lets only the host's uid 0 write it,
/// which a root-mode jail's init is not. The process the host forked stays
/// as the zygote's parent and exits with it. Kernels before 6.3 have no
/// such setting, and 6.3 to 6.5 one that refuses ordinary memfds at level
/// 2; jails there keep the host's.
fn start_in_own_pid_namespace(ctx: JailContext, sock: OwnedFd, host_pid: libc::pid_t) -> ! {
    // SAFETY: prctl, getppid and unshare with integer arguments, in a
    // single-threaded process.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != host_pid || libc::unshare(libc::CLONE_NEWPID) == -1 {
            exit(1);
        }
    }
    match sys::fork() {
        Ok(0) => {
            // Before 6.6, level 2 also refused memfd_create without flags,
            // which ordinary programs use. A kernel without the setting
            // (before 6.3), or a /proc/sys that is not writable here (a
            // container), leaves the host's setting: jails still run.
            if sys::kernel_at_least(6, 6) {
                let _ = std::fs::write("/proc/sys/vm/memfd_noexec", b"2");
            }
            zygote_main(ctx, sock, None)
        }
        Ok(zygote) => {
            drop(sock);
            sys::close_from(3);
            loop {
                let mut status = 0;
                // SAFETY: waitpid on our child with a valid out-pointer.
                let pid = unsafe { libc::waitpid(zygote, &mut status, 0) };
                if pid == zygote {
                    exit(if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        1
                    });
                }
                if pid == -1 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    exit(1);
                }
            }
        }
        Err(_) => exit(1),
    }
}

/// The host's pid of the process behind `pidfd` (the zygote's own PID
/// namespace numbers it differently): the `Pid:` line of its fdinfo in the
/// host's procfs.
fn host_pid(pidfd: &OwnedFd) -> std::result::Result<libc::pid_t, String> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd()))
        .map_err(|e| format!("reading a pidfd's fdinfo: {e}"))?;
    info.lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .and_then(|pid| pid.trim().parse().ok())
        .filter(|&pid: &libc::pid_t| pid > 0)
        .ok_or_else(|| "a pidfd's fdinfo has no host pid".to_owned())
}

/// Overwrites this process's copy of the host's command line and
/// environment: every jail init is a clone of the zygote, and a jail can read
/// its init's `/proc/1/cmdline` (no ptrace check applies to it), which would
/// show the host's arguments (database URLs, tokens...).
fn scrub_command_line() {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name; proc(5) numbers them from 1, and the
    // first one after ")" is field 3.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return;
    };
    let fields: Vec<usize> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    for (start, end) in [(field(48), field(49)), (field(50), field(51))] {
        if start == 0 || end <= start || end - start > 1 << 20 {
            continue;
        }
        // SAFETY: [start, end) is this process's own argv (or environ)
        // area on its stack, mapped and writable; the zygote never reads its
        // arguments or environment afterwards.
        unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
    }
    let name = b"paddock-zygote";
    if field(49) > field(48) + name.len() {
        // SAFETY: within the area just cleared.
        unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), field(48) as *mut u8, name.len()) };
    }
}

/// Clones one jail init; returns its pid and `[pidfd, request socket,
/// user namespace (root mode), mount namespace]` for the host.
fn clone_jail(
    ctx: &JailContext,
    flags: libc::c_int,
    request: &PrepareRequest,
) -> std::result::Result<(i32, Vec<OwnedFd>), String> {
    let (host_end, init_end) = ipc::seqpacket_pair().map_err(|e| format!("socketpair: {e}"))?;
    let clone_dir = match &request.cgroup {
        CgroupEntry::CloneInto(dir) => Some(open_cgroup_dir(dir)?),
        _ => None,
    };
    if let CgroupEntry::ZygoteCarries { tasks, home } = &request.cgroup {
        if let Err(e) = join_cgroups(tasks) {
            let _ = join_cgroups(home);
            return Err(format!("entering the jail's cgroup: {e}"));
        }
    }
    let mut cloned = clone_as(flags, request.id_base, clone_dir.as_ref().map(|d| d.as_fd()));
    // `clone3` refused (a seccomp profile around the engine that answers
    // ENOSYS for it, as container runtimes' defaults do): a plain clone,
    // and the init is moved into its cgroup afterwards.
    let mut late_join = None;
    if let (CgroupEntry::CloneInto(dir), Ok(Err(e))) = (&request.cgroup, &cloned) {
        if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EINVAL | libc::E2BIG)) {
            cloned = clone_as(flags, request.id_base, None);
            late_join = Some(dir.join("cgroup.procs"));
        }
    }
    if !matches!(cloned, Ok(Ok(Cloned::Child))) {
        if let CgroupEntry::ZygoteCarries { home, .. } = &request.cgroup {
            // The zygote must not stay in a jail's cgroup: it would count
            // against the jail's limits, and block its removal.
            if let Err(e) = join_cgroups(home) {
                if let Ok(Ok(Cloned::Parent { pidfd, .. })) = &cloned {
                    let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
                }
                return Err(format!("leaving the jail's cgroup: {e}"));
            }
        }
    }
    match cloned? {
        Ok(Cloned::Child) => {
            drop(host_end);
            let ctx = JailContext {
                early_pivot: ctx.early_pivot && request.pooled,
                pooled: request.pooled,
                ..ctx.clone()
            };
            let procs = match (&request.cgroup, late_join) {
                (CgroupEntry::InitJoins(tasks), _) => tasks.clone(),
                // A root-mode init is moved by the zygote (below).
                (_, Some(procs)) if request.id_base.is_none() => vec![procs],
                // Already inside.
                _ => Vec::new(),
            };
            setup::init_main(&ctx, init_end, &procs)
        }
        Ok(Cloned::Parent { pid, pidfd }) => {
            drop(init_end);
            let mut fds = vec![pidfd];
            if let Some(base) = request.id_base {
                // Only after a refused `clone3`; `pid` numbers the init in
                // the zygote's PID namespace, as cgroup.procs reads it. The
                // init waits for its ids before doing anything.
                let moved = match &late_join {
                    Some(procs) => std::fs::write(procs, pid.to_string())
                        .map_err(|e| format!("moving the jail into {}: {e}", procs.display())),
                    None => Ok(()),
                };
                // /proc here is the host's.
                let given = moved
                    .and_then(|()| host_pid(&fds[0]))
                    .and_then(|host| give_block(host, base, &host_end).map(|ns| (host, ns)));
                match given {
                    Ok((host, user_namespace)) => {
                        fds.push(host_end);
                        fds.push(user_namespace);
                        fds.extend(open_mount_namespace(host));
                        return Ok((host, fds));
                    }
                    Err(e) => {
                        let _ = sys::pidfd_send_signal(&fds[0], libc::SIGKILL);
                        return Err(e);
                    }
                }
            } else {
                fds.push(host_end);
            }
            fds.extend(open_mount_namespace(pid));
            Ok((pid, fds))
        }
        Err(e) => Err(format!("clone of the jail's init failed: {e}")),
    }
}

/// Clones the init (into `cgroup` if given). The kernel charges what a
/// user namespace's processes hold to their ids inside it and, one level
/// up, to the namespace's owner: the effective uid of its creator. A
/// root-mode jail's namespace (`id_base`) is made with the block's first id
/// as effective uid, so that neither level is the host's uid 0. The real
/// and saved uids stay 0 (to switch back), and the securebits keep the
/// capabilities meanwhile.
fn clone_as(
    flags: libc::c_int,
    id_base: Option<u32>,
    cgroup: Option<std::os::fd::BorrowedFd<'_>>,
) -> std::result::Result<std::io::Result<Cloned>, String> {
    let Some(base) = id_base else {
        return Ok(sys::clone_with_pidfd(flags, cgroup));
    };
    set_effective_uid(base)?;
    let cloned = sys::clone_with_pidfd(flags, cgroup);
    if !matches!(cloned, Ok(Cloned::Child)) {
        set_effective_uid(0)?;
    }
    Ok(cloned)
}

/// Opens a cgroup v2 directory to clone into.
fn open_cgroup_dir(dir: &Path) -> std::result::Result<OwnedFd, String> {
    std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
        .open(dir)
        .map(OwnedFd::from)
        .map_err(|e| format!("opening the jail's cgroup {}: {e}", dir.display()))
}

/// Moves the calling thread (the single-threaded zygote) into the cgroup of
/// each `tasks` file: a thread that moves itself does not take the global
/// lock a move of another process takes.
fn join_cgroups(tasks: &[PathBuf]) -> std::io::Result<()> {
    for file in tasks {
        std::fs::write(file, b"0")?;
    }
    Ok(())
}

/// `setresuid(-1, uid, -1)` for this (single-threaded) process only.
fn set_effective_uid(uid: u32) -> std::result::Result<(), String> {
    // SAFETY: a raw setresuid with integer arguments; -1 keeps a value.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_setresuid,
            -1 as libc::c_long,
            uid as libc::c_long,
            -1 as libc::c_long,
        )
    };
    if ret == -1 {
        return Err(format!(
            "setting the effective uid {uid}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Gives a root-mode init (host pid `pid`, already in its cgroup) its ids:
/// maps ids 0 to 65535 of its user namespace to the block at `base` (only
/// a writer with the host's `CAP_SETUID` may map more than its own id), and
/// tells it to go on. Returns a reference to its user namespace.
fn give_block(pid: libc::pid_t, base: u32, init: &OwnedFd) -> std::result::Result<OwnedFd, String> {
    let map = format!("0 {base} {IDS_PER_JAIL}\n");
    for file in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{file}"), &map).map_err(|e| format!("writing the jail's {file}: {e}"))?;
    }
    let user_namespace = std::fs::File::open(format!("/proc/{pid}/ns/user"))
        .map_err(|e| format!("opening the jail's user namespace: {e}"))?;
    ipc::send_with_fds(init.as_raw_fd(), ipc::IDS_READY, &[]).map_err(|e| format!("waking the jail's init: {e}"))?;
    Ok(user_namespace.into())
}

/// A reference to a freshly cloned jail's mount namespace.
fn open_mount_namespace(pid: libc::pid_t) -> Option<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(OwnedFd::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refill_waits_only_while_the_pool_is_full_enough_and_a_new_jail_runs() {
        let just_now = Some(Duration::from_millis(1));
        // A jail taken a moment ago still runs, and the pool has jails to
        // spare: wait for it, at most until REFILL_WAIT_MAX after the take.
        let wait = refill_wait(POOL_LOW_WATER, 1, just_now);
        assert_eq!(wait, Some(REFILL_WAIT_MAX - Duration::from_millis(1)));
        // Nothing runs: refill now.
        assert_eq!(refill_wait(POOL_LOW_WATER, 0, just_now), None);
        // The pool is low: refill now even while jails run.
        assert_eq!(refill_wait(POOL_LOW_WATER - 1, 3, just_now), None);
        // A jail that has run for REFILL_WAIT_MAX no longer holds it back.
        assert_eq!(refill_wait(POOL_LOW_WATER, 1, Some(REFILL_WAIT_MAX)), None);
        assert_eq!(refill_wait(POOL_LOW_WATER, 1, Some(REFILL_WAIT_MAX * 3)), None);
        assert_eq!(refill_wait(POOL_LOW_WATER, 1, None), None);
    }
}

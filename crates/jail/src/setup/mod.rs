//! What runs inside a new jail, in order.
//!
//! The zygote clones the jail's init with fresh user (rootless), mount, PID,
//! network, IPC and UTS namespaces ahead of time. The init ([`init_main`])
//! maps ids, joins its cgroup, enters a cgroup namespace and builds the part
//! of the root every jail shares; where the kernel allows binds from a
//! detached copy of the host's tree (see `mounts`), it also mounts `/tmp`
//! and `/dev/shm` and pivots into the root. It forks the command
//! ([`command_main`]), which drops capabilities, installs seccomp and
//! prepares Landlock, and both wait for the request. With the request the
//! init sets the hostname, brings up loopback if asked, sizes `/tmp` and
//! `/dev/shm`, adds the binds (and pivots, on older kernels), and hands the
//! request to the command, which redirects its standard streams, sets
//! rlimits, enforces Landlock and executes. The init stays PID 1: it reaps
//! orphans and, when the command exits, reports the status and exits,
//! which makes the kernel kill everything left in the jail.
//!
//! Both processes are forked from the single-threaded zygote, so they may
//! allocate freely (ARCHITECTURE decision 1).

mod capabilities;
mod landlock;
mod mounts;
mod namespaces;
mod rlimits;
pub(crate) mod seccomp;
mod serve;
mod spawn;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ::landlock::RulesetCreated;

use crate::config::{JailConfig, EGRESS_PROXY_PORT};
use crate::error::SetupStep;
use crate::ipc::{self, Report, SpawnRequest};
use crate::sys;

/// Engine-wide facts the zygote and every jail share.
#[derive(Debug, Clone)]
pub(crate) struct JailContext {
    /// Empty host directory the jail's root tmpfs is mounted on (in the
    /// jail's own mount namespace only).
    pub root_mount: PathBuf,
    /// Host directory holding the minimal `/etc`.
    pub etc_template: PathBuf,
    /// Whose ids the jail's user namespace maps.
    pub identity: Identity,
    /// Compiled seccomp filters.
    pub seccomp: seccomp::SeccompPrograms,
    /// Pre-created jails pivot before their request and take binds from a
    /// detached copy of the host's tree (Linux 6.15 and later; only jails
    /// made for the pool, see zygote.rs).
    pub early_pivot: bool,
    /// This jail waits in the pool (it was not made for a waiting request):
    /// work that only shortens the wait for a later request is worth it.
    pub pooled: bool,
}

/// Every jail has a user namespace; what its ids map to on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Rootless: the engine's own uid and gid, one id each, mapped by the
    /// init itself.
    Caller { uid: u32, gid: u32 },
    /// Root: ids 0 to 65535 map to a block of host ids of the jail's own
    /// (see `ids`), written by the zygote, which also moves the init into
    /// its cgroup (the init has no right to the host's cgroup files); binds
    /// come from the host as idmapped trees, so that what the jail writes
    /// lands on disk with the ids it sees.
    Block,
}

/// A failed setup step, with the kernel's answer.
#[derive(Debug)]
pub(crate) struct StepError {
    step: SetupStep,
    error: io::Error,
    detail: String,
}

pub(crate) type StepResult<T> = Result<T, StepError>;

impl StepError {
    pub(crate) fn new(step: SetupStep, error: io::Error, detail: String) -> Self {
        StepError { step, error, detail }
    }

    /// Reattributes an error from a shared helper to the calling step.
    pub(crate) fn restep(mut self, step: SetupStep) -> Self {
        self.step = step;
        self
    }

    fn report(&self) -> Report {
        Report::SetupFailed {
            step: self.step,
            errno: self.error.raw_os_error().unwrap_or(0),
            detail: if self.detail.is_empty() {
                self.error.to_string()
            } else {
                format!("{}: {}", self.detail, self.error)
            },
        }
    }
}

trait StepContext<T> {
    fn step(self, step: SetupStep, detail: &str) -> StepResult<T>;
}

impl<T> StepContext<T> for io::Result<T> {
    fn step(self, step: SetupStep, detail: &str) -> StepResult<T> {
        self.map_err(|e| StepError::new(step, e, detail.to_owned()))
    }
}

/// Descriptor numbers, the same in the init and the command: the request's
/// pipes once it arrived, the request socket until then, and the socket
/// between the init and the pre-forked command.
const FD_STDIN: RawFd = 3;
const FD_STDOUT: RawFd = 4;
const FD_STDERR: RawFd = 5;
const FD_REPORT: RawFd = 6;
const FD_REQUEST: RawFd = 7;
const FD_COMMAND: RawFd = 8;
/// The init's copy of the host's mount tree (early pivot of rootless jails
/// only: root-mode jails get their binds from the host).
const FD_HOST_TREE: RawFd = 9;

fn report(fd: RawFd, message: &Report) {
    // Nothing useful can be done if the host stopped listening.
    let _ = sys::write_all(fd, &message.encode());
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns and skips atexit handlers, which belong
    // to the zygote's copy of the host program.
    unsafe { libc::_exit(code) }
}

/// Moves `fd` onto `slot` (close-on-exec) and gives up the original number.
fn place(fd: OwnedFd, slot: RawFd) -> io::Result<()> {
    let raw = fd.into_raw_fd();
    if raw != slot {
        // SAFETY: dup3 onto a fixed slot of a descriptor we own; the original
        // is closed right after.
        let placed = sys::check_int(unsafe { libc::dup3(raw, slot, libc::O_CLOEXEC) });
        // SAFETY: closing the original number.
        unsafe { libc::close(raw) };
        placed?;
    }
    Ok(())
}

/// Closes every descriptor from 3 up except those in `keep`.
fn close_all_but(keep: &[RawFd]) {
    let last = keep.iter().copied().max().unwrap_or(2).max(2);
    for fd in 3..=last {
        if !keep.contains(&fd) {
            // SAFETY: closing descriptors this process does not use; EBADF
            // is harmless.
            unsafe { libc::close(fd) };
        }
    }
    sys::close_from(last + 1);
}

/// Waits on `FD_REQUEST` for the request (its JSON stays in `buf`) and
/// the descriptors attached to it. Exits 0 when the sender went away
/// without one (an unused pre-created jail), `failure` when it is
/// malformed.
fn receive_request(buf: &mut Vec<u8>, failure: i32) -> (SpawnRequest, Vec<OwnedFd>) {
    match ipc::recv_with_fds(FD_REQUEST, buf, ipc::MAX_MESSAGE) {
        Ok(Some(fds)) => match ipc::decode_spawn(buf) {
            Ok(decoded) => (decoded, fds),
            Err(_) => exit(failure),
        },
        _ => exit(0),
    }
}

/// Writes the stack and heap pages the request's handling will write, so
/// that they are this process's own before the request arrives: they are
/// shared copy-on-write with the zygote until then, and each first write
/// would fault on the spawn's critical path.
#[inline(never)]
fn warm_up() {
    let mut stack = [0u8; WARM_STACK];
    std::hint::black_box(&mut stack);
    let heap = vec![1u8; WARM_HEAP];
    std::hint::black_box(&heap);
    drop(heap);
    let sample = SpawnRequest {
        config: JailConfig::new("/bin/true", Vec::<String>::new()),
        runtime: false,
    };
    if let Ok(encoded) = serde_json::to_vec(&sample) {
        let _ = ipc::decode_spawn(&encoded);
    }
}

/// Stack and heap written by `warm_up` (below glibc's mmap threshold, so
/// the heap block is reused by later allocations).
const WARM_STACK: usize = 16 << 10;
const WARM_HEAP: usize = 32 << 10;

/// Waits on `FD_REQUEST` for the jail's pipes, the host's first message,
/// and puts them at 3..=6. Exits 0 when the host went away, 1 when the
/// message is malformed.
fn receive_pipes() {
    let mut buf = Vec::new();
    let fds = match ipc::recv_with_fds(FD_REQUEST, &mut buf, 64) {
        Ok(Some(fds)) => match ipc::decode_pipes(&buf, fds) {
            Ok(fds) => fds,
            Err(_) => exit(1),
        },
        _ => exit(0),
    };
    if place_pipes(fds).is_err() {
        exit(1);
    }
}

/// Moves the pipes' four descriptors to 3..=6.
fn place_pipes(fds: [OwnedFd; 4]) -> io::Result<()> {
    let mut high = Vec::with_capacity(4);
    for fd in fds {
        // Out of the way first, so that placing one never clobbers another.
        // SAFETY: duplicating a descriptor we own to a number >= 100.
        let moved = sys::check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) })?;
        drop(fd);
        // SAFETY: the kernel returned a fresh descriptor that we own.
        high.push(unsafe { OwnedFd::from_raw_fd(moved) });
    }
    for (fd, slot) in high.into_iter().zip([FD_STDIN, FD_STDOUT, FD_STDERR, FD_REPORT]) {
        place(fd, slot)?;
    }
    Ok(())
}

/// Entry point of a jail's init (PID 1 of its new PID namespace), cloned
/// before its request exists: builds the shared part of the jail and
/// pre-forks the command, waits for the request on `requests`, finishes the
/// jail, hands the request to the command, and reaps.
pub(crate) fn init_main(ctx: &JailContext, requests: OwnedFd, cgroup_procs: &[PathBuf]) -> ! {
    // Default dispositions: the zygote's SIGCHLD=SIG_IGN (auto-reap) would
    // stop this init from waiting for its children, and handlers the host
    // installed must not run here. Then die with the zygote.
    reset_signals();
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    if place(requests, FD_REQUEST).is_err() {
        exit(1);
    }
    close_all_but(&[FD_REQUEST]);

    // The command is forked now, with the cgroup already joined, so that the
    // fork and its last restrictions happen before the request arrives.
    let mut base = match ctx.identity {
        Identity::Block => take_block_ids(),
        Identity::Caller { .. } => Ok(()),
    };
    base = base.and_then(|()| prepare_base(ctx, cgroup_procs));
    if ctx.early_pivot {
        base = base.and_then(|()| enter_root(ctx));
    }
    // Needed even after a failure: the report pipe is one of them.
    receive_pipes();
    let mut command = None;
    if base.is_ok() {
        match fork_command(ctx) {
            Ok(pid) => command = Some(pid),
            Err(err) => base = Err(err),
        }
    }
    // The init keeps only the report pipe: end of file on the output pipes
    // then means every jailed process is gone.
    for fd in [FD_STDIN, FD_STDOUT, FD_STDERR] {
        // SAFETY: closing our own copies; the command has its own.
        unsafe { libc::close(fd) };
    }

    if ctx.pooled {
        warm_up();
    }
    let mut buf = Vec::new();
    let (request, trees) = receive_request(&mut buf, 1);
    // The request socket stays open until `finish` hands back listeners.
    let mut keep = vec![FD_REPORT, FD_REQUEST, FD_COMMAND, FD_HOST_TREE];
    keep.extend(trees.iter().map(AsRawFd::as_raw_fd));
    close_all_but(&keep);
    // A failure before the request is reported now that there is a pipe.
    let finished = base.and_then(|()| finish(ctx, &request, trees));
    if request.runtime {
        if ctx.early_pivot {
            // SAFETY: closing our copy of the host's tree (as below).
            unsafe { libc::close(FD_HOST_TREE) };
        }
        if let Err(err) = finished {
            report(FD_REPORT, &err.report());
            exit(1);
        }
        // The pre-forked command is not used: it exits when its socket
        // closes (and is reaped by the loop).
        // SAFETY: closing our end of the command's socket.
        unsafe { libc::close(FD_COMMAND) };
        serve::serve(ctx, &request.config);
    }
    // SAFETY: closing our request socket: the host sees end of file if no
    // listener was handed over.
    unsafe { libc::close(FD_REQUEST) };
    if ctx.early_pivot {
        // SAFETY: closing our copy of the host's tree; the host still holds
        // one, so this does not wait for the unmount (see `enter_root`).
        unsafe { libc::close(FD_HOST_TREE) };
    }
    let command = match (finished, command) {
        (Ok(()), Some(pid)) => pid,
        (Err(err), _) => {
            report(FD_REPORT, &err.report());
            exit(1);
        }
        // The fork's failure is `base`'s error, so this cannot happen.
        (Ok(()), None) => exit(1),
    };
    // The command gets the same request (it has the pipes already).
    if let Err(e) = ipc::send_with_fds(FD_COMMAND, &buf, &[]) {
        report(
            FD_REPORT,
            &StepError::new(SetupStep::ForkCommand, e, "handing over the request".into()).report(),
        );
        exit(1);
    }
    // SAFETY: closing our end of the command's socket.
    unsafe { libc::close(FD_COMMAND) };
    // From here on the init only waits and reports: it needs no capability,
    // and it never executes anything, so clearing its sets is enough (one
    // call, while the command it just woke waits for this CPU).
    let _ = capabilities::clear_sets();
    reap_until_exit(command)
}

/// PID 1's loop: reap everything, and finish when the command does.
fn reap_until_exit(command: libc::pid_t) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == -1 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            exit(1);
        }
        if pid == command {
            let message = if libc::WIFSIGNALED(status) {
                Report::Signaled {
                    signal: libc::WTERMSIG(status),
                }
            } else {
                Report::Exited {
                    code: libc::WEXITSTATUS(status),
                }
            };
            report(FD_REPORT, &message);
            // Exiting as PID 1 makes the kernel kill the rest of the jail.
            exit(0);
        }
    }
}

/// A root-mode init's first step: waits until the zygote has written its
/// id maps and moved it into its cgroup, then takes the namespace's root
/// ids. Until then the process still has the zygote's host ids (uid 0 and
/// its supplementary groups, which would count for access checks on the
/// binds); from then on it is the host ids of its block, whose per-user
/// kernel budgets are the jail's own.
fn take_block_ids() -> StepResult<()> {
    let mut buf = Vec::new();
    match ipc::recv_with_fds(FD_REQUEST, &mut buf, 16) {
        Ok(Some(fds)) if fds.is_empty() && buf == ipc::IDS_READY => {}
        // The zygote gave up on this jail (or the engine is gone).
        _ => exit(0),
    }
    // SAFETY: setgroups with an empty list, then setresgid/setresuid to ids
    // the maps define; the process is single-threaded.
    unsafe {
        sys::check_int(libc::setgroups(0, std::ptr::null())).step(SetupStep::UserNamespaceMaps, "setgroups")?;
        sys::check_int(libc::setresgid(0, 0, 0)).step(SetupStep::UserNamespaceMaps, "setresgid")?;
        sys::check_int(libc::setresuid(0, 0, 0)).step(SetupStep::UserNamespaceMaps, "setresuid")?;
        // A change of credentials clears the parent-death signal.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
    }
    Ok(())
}

/// What the init does before its request arrives: id maps (rootless),
/// joining its cgroup where it did not start in it (so that everything
/// after is accounted to the jail; see `zygote::CgroupEntry`), entering a
/// cgroup namespace rooted there, and the shared part of the root.
fn prepare_base(ctx: &JailContext, cgroup_procs: &[PathBuf]) -> StepResult<()> {
    if let Identity::Caller { uid, gid } = ctx.identity {
        namespaces::write_id_maps(uid, gid).step(SetupStep::UserNamespaceMaps, "")?;
    }
    // The init holds a copy of the host's memory as it was when the engine
    // started: its /proc entries must not be readable from the jail.
    // Non-dumpable makes them root-owned and refuses PTRACE_MODE access from
    // processes without CAP_SYS_PTRACE; it must follow the id maps, which
    // the process writes into its own /proc entries.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    for procs in cgroup_procs {
        std::fs::write(procs, b"0").step(SetupStep::JoinCgroup, &procs.display().to_string())?;
    }
    // Entered after joining, so the jail's cgroup is the namespace's root.
    // SAFETY: unshare with a constant flag.
    sys::check_int(unsafe { libc::unshare(libc::CLONE_NEWCGROUP) }).step(SetupStep::CgroupNamespace, "")?;
    mounts::build_base(&ctx.root_mount, &ctx.etc_template, ctx.identity)
}

/// The early pivot (see `mounts::enter_root`): the init keeps its copy of
/// the host's tree at `FD_HOST_TREE` for the request's binds, and sends one
/// to the host first. Dropping the last reference to the copy unmounts it,
/// which waits for an RCU grace period; the host drops its reference on its
/// release thread after the jail ended, so neither this init's request nor
/// its exit waits for that.
fn enter_root(ctx: &JailContext) -> StepResult<()> {
    let Some(host_tree) = mounts::enter_root(&ctx.root_mount, matches!(ctx.identity, Identity::Caller { .. }))? else {
        return Ok(());
    };
    ipc::send_with_fds(FD_REQUEST, ipc::HOST_TREE, &[host_tree.as_raw_fd()])
        .step(SetupStep::MountBind, "handing the host's tree to the host")?;
    place(host_tree, FD_HOST_TREE).step(SetupStep::MountBind, "placing the host's tree")
}

/// What the init does with its request, before forking the command.
/// `trees` are the binds' idmapped trees a root-mode jail gets from the
/// host, one per bind in order.
fn finish(ctx: &JailContext, request: &SpawnRequest, trees: Vec<OwnedFd>) -> StepResult<()> {
    let config = &request.config;
    namespaces::set_hostname(&config.hostname).step(SetupStep::Hostname, "")?;
    // A runtime jail's processes talk to each other, and previews reach
    // them, on its own loopback (in every network mode).
    if request.runtime || config.network.has_loopback() || !config.forwards.is_empty() {
        namespaces::loopback_up().step(SetupStep::Loopback, "lo")?;
    }
    // Listeners the host serves: the egress proxy's first, then the host
    // forwards in order (the host knows the same order from the config).
    let ports = config
        .network
        .egress_policy()
        .map(|_| EGRESS_PROXY_PORT)
        .into_iter()
        .chain(config.forwards.iter().map(|f| f.port));
    let mut listeners = Vec::new();
    for port in ports {
        let detail = format!("127.0.0.1:{port}");
        listeners.push(namespaces::listen_loopback(port).step(SetupStep::HostListener, &detail)?);
    }
    if !listeners.is_empty() {
        let fds: Vec<RawFd> = listeners.iter().map(|l| l.as_raw_fd()).collect();
        ipc::send_with_fds(FD_REQUEST, ipc::LISTENER_HANDOVER, &fds)
            .step(SetupStep::HostListener, "handing the listeners to the host")?;
    }
    let binds = match ctx.identity {
        Identity::Block => {
            if trees.len() != config.mounts.len() {
                return Err(StepError::new(
                    SetupStep::MountBind,
                    io::Error::from_raw_os_error(libc::EINVAL),
                    format!("{} trees for {} binds", trees.len(), config.mounts.len()),
                ));
            }
            mounts::Binds::Trees(trees)
        }
        // SAFETY: FD_HOST_TREE is the init's open copy of the host's tree
        // (placed by `enter_root`, which succeeded since the base did); the
        // borrow ends before `init_main` closes it.
        Identity::Caller { .. } if ctx.early_pivot => {
            mounts::Binds::InTree(unsafe { BorrowedFd::borrow_raw(FD_HOST_TREE) })
        }
        Identity::Caller { .. } => mounts::Binds::Paths,
    };
    if ctx.early_pivot {
        return mounts::finish_in_root(config, binds);
    }
    mounts::finish_root(&ctx.root_mount, config, binds)?;
    mounts::pivot_into(&ctx.root_mount)
}

/// Forks the command; it prepares itself and waits for the request on its
/// end of a socket the init keeps at `FD_COMMAND`.
fn fork_command(ctx: &JailContext) -> StepResult<libc::pid_t> {
    let (init_end, command_end) =
        ipc::seqpacket_pair().map_err(|e| StepError::new(SetupStep::ForkCommand, e, "socketpair".into()))?;
    match sys::fork() {
        Ok(0) => {
            drop(init_end);
            command_main(ctx, command_end)
        }
        Ok(pid) => {
            drop(command_end);
            place(init_end, FD_COMMAND).step(SetupStep::ForkCommand, "placing the command socket")?;
            Ok(pid)
        }
        Err(e) => Err(StepError::new(SetupStep::ForkCommand, e, String::new())),
    }
}

/// The command's process: restrictions that do not depend on the request
/// while it waits, the rest after, then `execve`.
fn command_main(ctx: &JailContext, requests: OwnedFd) -> ! {
    if place(requests, FD_REQUEST).is_err() {
        exit(127);
    }
    close_all_but(&[FD_STDIN, FD_STDOUT, FD_STDERR, FD_REPORT, FD_REQUEST]);
    let early = stdio().and_then(|()| restrict_early(ctx));
    let mut buf = Vec::new();
    if ctx.pooled {
        warm_up();
    }
    // The init forwards the request without descriptors.
    let (request, _) = receive_request(&mut buf, 127);
    // Open now: 0 to 2, the report pipe, the request socket and the Landlock
    // ruleset, all but 0 to 2 close-on-exec.
    // SAFETY: closing our request socket.
    unsafe { libc::close(FD_REQUEST) };
    match early.and_then(|ruleset| restrict_and_exec(ctx, &request.config, ruleset)) {
        Ok(never) => match never {},
        Err(err) => {
            report(FD_REPORT, &err.report());
            exit(127);
        }
    }
}

/// What the command does before its request: a new session (no controlling
/// terminal to inject keystrokes into), default signal handling, no
/// capabilities, `no_new_privs`, the seccomp policy every level shares, and,
/// once the jail has pivoted (early pivot), the Landlock rules of the shared
/// part of the root (enforced later).
fn restrict_early(ctx: &JailContext) -> StepResult<Option<RulesetCreated>> {
    // SAFETY: setsid has no arguments.
    sys::check_int(unsafe { libc::setsid() }).step(SetupStep::Stdio, "setsid")?;
    reset_signals();
    drop_privileges(ctx)?;
    if !ctx.early_pivot {
        return Ok(None);
    }
    prepare_landlock().map(Some)
}

/// No capability for good (empty sets and bounding set), `no_new_privs`
/// and the seccomp policy every level shares: what the command (one-shot
/// jails) or the init (runtime jails) takes on before anything jailed runs.
fn drop_privileges(ctx: &JailContext) -> StepResult<()> {
    capabilities::drop_all().step(SetupStep::Capabilities, "")?;
    // SAFETY: prctl with integer arguments.
    sys::check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).step(SetupStep::NoNewPrivs, "")?;
    seccomp::install(ctx.seccomp.base()).step(SetupStep::Seccomp, "")
}

fn prepare_landlock() -> StepResult<RulesetCreated> {
    landlock::prepare().map_err(|e| StepError::new(SetupStep::Landlock, io::Error::other(e), String::new()))
}

/// Standard streams from the jail's pipes (while waiting: the command
/// writes nothing before `execve`).
fn stdio() -> StepResult<()> {
    for (src, dst) in [(FD_STDIN, 0), (FD_STDOUT, 1), (FD_STDERR, 2)] {
        // SAFETY: dup2 between descriptors this process owns.
        sys::check_int(unsafe { libc::dup2(src, dst) }).step(SetupStep::Stdio, "dup2")?;
    }
    for fd in [FD_STDIN, FD_STDOUT, FD_STDERR] {
        // SAFETY: closing the originals after duplication.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Restricts the calling process to the jail's policy for the command,
/// and executes it. `ruleset` holds the Landlock rules of the shared part
/// of the root when they were prepared already (early pivot).
fn restrict_and_exec(
    ctx: &JailContext,
    config: &JailConfig,
    ruleset: Option<RulesetCreated>,
) -> StepResult<std::convert::Infallible> {
    let command = PreparedCommand::new(config);
    command
        .enter_workdir()
        .step(SetupStep::Workdir, &command.workdir_display())?;
    rlimits::apply(config.limits.max_open_files).step(SetupStep::Rlimits, "")?;
    let ruleset = match ruleset {
        Some(ruleset) => ruleset,
        None => prepare_landlock()?,
    };
    landlock::restrict(ruleset, config)
        .map_err(|e| StepError::new(SetupStep::Landlock, io::Error::other(e), String::new()))?;
    if let Some(extra) = ctx.seccomp.extra(config.seccomp) {
        seccomp::install(extra).step(SetupStep::Seccomp, "")?;
    }
    Err(StepError::new(SetupStep::Exec, command.exec(), config.command.clone()))
}

/// Everything `execve` needs for a command, built before anything runs
/// it: a runtime jail's init prepares it, and the child that executes it
/// (which shares the init's memory until then) only makes system calls.
pub(super) struct PreparedCommand {
    workdir: CString,
    /// Paths to try, in `PATH` order, like `execvp`.
    candidates: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    /// The strings `argv` and `envp` point into (heap buffers, which do not
    /// move with the vectors).
    _strings: Vec<CString>,
}

impl PreparedCommand {
    pub(super) fn new(config: &JailConfig) -> Self {
        let workdir = CString::new(config.effective_workdir().as_os_str().as_bytes()).unwrap_or_default();
        let env = config.effective_env();
        let path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        let candidates = if config.command.contains('/') {
            vec![CString::new(config.command.as_str()).unwrap_or_default()]
        } else {
            path_var
                .split(':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| {
                    CString::new(format!("{}/{}", dir.trim_end_matches('/'), config.command)).unwrap_or_default()
                })
                .collect()
        };
        let args = std::iter::once(config.command.clone())
            .chain(config.args.iter().cloned())
            .map(|a| CString::new(a).unwrap_or_default());
        let mut strings: Vec<CString> = args.collect();
        let argc = strings.len();
        strings.extend(
            env.iter()
                .map(|(k, v)| CString::new(format!("{k}={v}")).unwrap_or_default()),
        );
        let pointers = |range: &[CString]| {
            let mut ptrs: Vec<*const libc::c_char> = range.iter().map(|s| s.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            ptrs
        };
        PreparedCommand {
            workdir,
            candidates,
            argv: pointers(&strings[..argc]),
            envp: pointers(&strings[argc..]),
            _strings: strings,
        }
    }

    /// The working directory, for error reports.
    pub(super) fn workdir_display(&self) -> String {
        self.workdir.to_string_lossy().into_owned()
    }

    /// `chdir` into the command's working directory.
    pub(super) fn enter_workdir(&self) -> io::Result<()> {
        // SAFETY: chdir with a NUL-terminated path.
        sys::check_int(unsafe { libc::chdir(self.workdir.as_ptr()) }).map(drop)
    }

    /// Executes the first candidate that exists; returns why none did.
    /// Allocates nothing.
    pub(super) fn exec(&self) -> io::Error {
        let mut last = io::Error::from_raw_os_error(libc::ENOENT);
        let mut denied = None;
        for path in &self.candidates {
            // SAFETY: NUL-terminated path and NULL-terminated pointer arrays
            // whose strings outlive the call.
            unsafe { libc::execve(path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => last = err,
                Some(libc::EACCES) => denied = Some(err),
                _ => {
                    last = err;
                    break;
                }
            }
        }
        denied.unwrap_or(last)
    }
}

/// Default dispositions and an empty signal mask for the command (ignored
/// signals would otherwise survive `execve`). Dispositions first: a signal
/// unblocked early must not run a handler of the parent's.
fn reset_signals() {
    // SAFETY: sigset manipulation on a local value and signal() with
    // SIG_DFL; SIGKILL and SIGSTOP are skipped because they cannot change.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

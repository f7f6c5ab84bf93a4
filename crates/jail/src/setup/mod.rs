//! What runs inside a new jail, in order.
//!
//! The zygote clones the jail's init with fresh user (rootless), mount, PID,
//! network, IPC and UTS namespaces ahead of time. The init ([`init_main`])
//! maps ids, joins its cgroup, enters a cgroup namespace and builds the part
//! of the root every jail shares, then waits for its request. With the
//! request it sets the hostname, brings up loopback if asked, adds `/tmp`,
//! `/dev/shm` and the binds, and pivots into the root. It then forks the
//! command ([`command_main`]), which redirects its standard streams, sets
//! rlimits, applies Landlock, drops capabilities, installs seccomp and
//! executes. The init stays PID 1: it reaps orphans and, when
//! the command exits, reports the status and exits, which makes the kernel
//! kill everything left in the jail.
//!
//! Both processes are forked from the single-threaded zygote, so they may
//! allocate freely (ARCHITECTURE decision 1).

mod capabilities;
mod landlock;
mod mounts;
mod namespaces;
mod rlimits;
pub(crate) mod seccomp;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

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
    /// `Some((uid, gid))` when jails run in a user namespace (rootless).
    pub user_namespace: Option<(u32, u32)>,
    /// Compiled seccomp filters.
    pub seccomp: seccomp::SeccompPrograms,
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

/// Waits on `FD_REQUEST` for the request (its JSON stays in `buf`) and puts
/// its four descriptors at 3..=6. Exits 0 when the sender went away without
/// one (an unused pre-created jail), `failure` when it is malformed.
fn receive_request(buf: &mut Vec<u8>, failure: i32) -> SpawnRequest {
    let (request, fds) = match ipc::recv_with_fds(FD_REQUEST, buf, ipc::MAX_MESSAGE) {
        Ok(Some(fds)) => match ipc::decode_spawn(buf, fds) {
            Ok(decoded) => decoded,
            Err(_) => exit(failure),
        },
        _ => exit(0),
    };
    if place_request_fds(fds).is_err() {
        exit(failure);
    }
    request
}

/// Moves the request's four descriptors to 3..=6.
fn place_request_fds(fds: [OwnedFd; 4]) -> io::Result<()> {
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
    let mut base = prepare_base(ctx, cgroup_procs);
    let mut command = None;
    if base.is_ok() {
        match fork_command(ctx) {
            Ok(pid) => command = Some(pid),
            Err(err) => base = Err(err),
        }
    }

    let mut buf = Vec::new();
    let request = receive_request(&mut buf, 1);
    // The request socket stays open until `finish` hands back listeners.
    close_all_but(&[FD_STDIN, FD_STDOUT, FD_STDERR, FD_REPORT, FD_REQUEST, FD_COMMAND]);
    if ctx.user_namespace.is_none() {
        // Back from the zygote's background priority (see zygote.rs), for the
        // command too, which no longer has the capability to do it itself.
        // SAFETY: setpriority on this process and its child.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, 0);
            if let Some(pid) = command {
                libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, 0);
            }
        }
    }
    // A failure before the request is reported now that there is a pipe.
    let finished = base.and_then(|()| finish(ctx, &request));
    // SAFETY: closing our request socket: the host sees end of file if no
    // listener was handed over.
    unsafe { libc::close(FD_REQUEST) };
    let command = match (finished, command) {
        (Ok(()), Some(pid)) => pid,
        (Err(err), _) => {
            report(FD_REPORT, &err.report());
            exit(1);
        }
        // The fork's failure is `base`'s error, so this cannot happen.
        (Ok(()), None) => exit(1),
    };
    // The command gets the same request and the pipes.
    let fds = [FD_STDIN, FD_STDOUT, FD_STDERR, FD_REPORT];
    if let Err(e) = ipc::send_with_fds(FD_COMMAND, &buf, &fds) {
        report(
            FD_REPORT,
            &StepError::new(SetupStep::ForkCommand, e, "handing over the request".into()).report(),
        );
        exit(1);
    }
    // The init keeps only the report pipe: end of file on the output pipes
    // then means every jailed process is gone.
    for fd in [FD_STDIN, FD_STDOUT, FD_STDERR, FD_COMMAND] {
        // SAFETY: closing our own copies.
        unsafe { libc::close(fd) };
    }
    // From here on the init only waits and reports: it needs no capability.
    let _ = capabilities::drop_all();
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

/// What the init does before its request arrives: id maps, joining its
/// cgroup (so that everything after is accounted to the jail), entering a
/// cgroup namespace rooted there, and the shared part of the root.
fn prepare_base(ctx: &JailContext, cgroup_procs: &[PathBuf]) -> StepResult<()> {
    if let Some((uid, gid)) = ctx.user_namespace {
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
    mounts::build_base(&ctx.root_mount, &ctx.etc_template, ctx.user_namespace.is_some())
}

/// What the init does with its request, before forking the command.
fn finish(ctx: &JailContext, request: &SpawnRequest) -> StepResult<()> {
    let config = &request.config;
    namespaces::set_hostname(&config.hostname).step(SetupStep::Hostname, "")?;
    if config.network.has_loopback() || !config.forwards.is_empty() {
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
    mounts::finish_root(&ctx.root_mount, config)?;
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
    close_all_but(&[FD_REQUEST]);
    let early = restrict_early(ctx);
    let mut buf = Vec::new();
    let request = receive_request(&mut buf, 127);
    close_all_but(&[FD_STDIN, FD_STDOUT, FD_STDERR, FD_REPORT]);
    match early.and_then(|()| restrict_and_exec(ctx, &request.config)) {
        Ok(never) => match never {},
        Err(err) => {
            report(FD_REPORT, &err.report());
            exit(127);
        }
    }
}

/// What the command does before its request: a new session (no controlling
/// terminal to inject keystrokes into), default signal handling, no
/// capabilities, `no_new_privs`, and the seccomp policy every level shares.
fn restrict_early(ctx: &JailContext) -> StepResult<()> {
    // SAFETY: setsid has no arguments.
    sys::check_int(unsafe { libc::setsid() }).step(SetupStep::Stdio, "setsid")?;
    reset_signals();
    capabilities::drop_all().step(SetupStep::Capabilities, "")?;
    // SAFETY: prctl with integer arguments.
    sys::check_int(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).step(SetupStep::NoNewPrivs, "")?;
    seccomp::install(ctx.seccomp.base()).step(SetupStep::Seccomp, "")
}

fn restrict_and_exec(ctx: &JailContext, config: &JailConfig) -> StepResult<std::convert::Infallible> {
    for (src, dst) in [(FD_STDIN, 0), (FD_STDOUT, 1), (FD_STDERR, 2)] {
        // SAFETY: dup2 between descriptors this process owns.
        sys::check_int(unsafe { libc::dup2(src, dst) }).step(SetupStep::Stdio, "dup2")?;
    }
    for fd in [FD_STDIN, FD_STDOUT, FD_STDERR] {
        // SAFETY: closing the originals after duplication.
        unsafe { libc::close(fd) };
    }

    let workdir = config.effective_workdir();
    let workdir_c = CString::new(workdir.as_os_str().as_bytes()).unwrap_or_default();
    // SAFETY: chdir with a valid path.
    sys::check_int(unsafe { libc::chdir(workdir_c.as_ptr()) })
        .step(SetupStep::Workdir, &workdir.display().to_string())?;

    let argv = std::iter::once(config.command.clone())
        .chain(config.args.iter().cloned())
        .map(|a| CString::new(a).unwrap_or_default())
        .collect::<Vec<_>>();
    let env = config.effective_env();
    let envp = env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")).unwrap_or_default())
        .collect::<Vec<_>>();
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let candidates = command_candidates(&config.command, path_var);

    rlimits::apply(config.limits.max_open_files).step(SetupStep::Rlimits, "")?;
    landlock::restrict(config).map_err(|e| StepError::new(SetupStep::Landlock, io::Error::other(e), String::new()))?;
    if let Some(extra) = ctx.seccomp.extra(config.seccomp) {
        seccomp::install(extra).step(SetupStep::Seccomp, "")?;
    }
    Err(exec_first(&candidates, &argv, &envp, &config.command))
}

/// Paths to try for `command`, in `PATH` order, like `execvp`.
fn command_candidates(command: &str, path_var: &str) -> Vec<CString> {
    if command.contains('/') {
        return vec![CString::new(command).unwrap_or_default()];
    }
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| CString::new(format!("{}/{command}", dir.trim_end_matches('/'))).unwrap_or_default())
        .collect()
}

/// Executes the first candidate that exists; returns the error otherwise.
fn exec_first(candidates: &[CString], argv: &[CString], envp: &[CString], command: &str) -> StepError {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    let mut denied = None;
    for path in candidates {
        // SAFETY: NUL-terminated path and NULL-terminated pointer arrays whose
        // strings outlive the call.
        unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
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
    StepError::new(SetupStep::Exec, denied.unwrap_or(last), command.to_owned())
}

/// Default dispositions and an empty signal mask for the command (ignored
/// signals would otherwise survive `execve`).
fn reset_signals() {
    // SAFETY: sigset manipulation on a local value and signal() with
    // SIG_DFL; SIGKILL and SIGSTOP are skipped because they cannot change.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

//! How a runtime jail's init starts a process: `clone(CLONE_VM)` onto a
//! stack of the init's, as `posix_spawn` does, rather than `fork`. A fork
//! copies the init's page tables, both sides then take copy-on-write
//! faults, and `execve` tears the copy down again; profiled, that was most
//! of the init's share of a `processes/run` (docs/benchmarks.md).
//!
//! The child shares the init's memory until it executes, so it only reads
//! what the init prepared ([`ChildPlan`]) and makes system calls: it
//! allocates nothing, and reports a failure as two numbers on a
//! close-on-exec pipe. The init touches none of that memory meanwhile: it
//! waits on the pipe, bounded, because jailed code could stop the child
//! (SIGSTOP) before it executes; a child that overstays is killed, and a
//! killed process runs no user code again.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use seccompiler::BpfProgram;

use super::{PreparedCommand, StepError, FD_REQUEST};
use crate::error::SetupStep;
use crate::sys;

/// Room for the child's frames (`execve` attempts, the seccomp filter's
/// installation); it needs a few KiB.
const STACK_BYTES: usize = 256 * 1024;

/// The stack every child of the init starts on, with a guard page below.
/// One suffices: the init starts one child at a time and waits until it
/// executed, failed or was killed.
pub(super) struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    pub(super) fn new() -> io::Result<Self> {
        let page = 4096;
        let len = STACK_BYTES + page;
        // SAFETY: an anonymous private mapping; checked below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack { base, len };
        // SAFETY: the lowest page of the mapping made above.
        sys::check_int(unsafe { libc::mprotect(base, page, libc::PROT_NONE) })?;
        Ok(stack)
    }

    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping (stacks grow down).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What the child does, held in the init's memory.
pub(super) struct ChildPlan<'a> {
    /// Its standard streams (the same descriptor thrice for a terminal).
    pub stdio: [RawFd; 3],
    /// Whether `stdio` is a terminal to take as the controlling one.
    pub terminal: bool,
    pub command: &'a PreparedCommand,
    /// The jail's complete Landlock ruleset (`None`: this kernel has no
    /// Landlock).
    pub landlock: Option<RawFd>,
    /// The seccomp filter the process's level adds to the inherited base.
    pub seccomp: Option<&'a BpfProgram>,
    /// The write end of the status pipe (close-on-exec).
    pub status: RawFd,
}

/// The step a child failed at, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
enum ChildStep {
    Stdio = 1,
    Terminal,
    Workdir,
    Landlock,
    Seccomp,
    Exec,
}

impl ChildStep {
    fn from_wire(value: u32) -> Option<Self> {
        [
            ChildStep::Stdio,
            ChildStep::Terminal,
            ChildStep::Workdir,
            ChildStep::Landlock,
            ChildStep::Seccomp,
            ChildStep::Exec,
        ]
        .into_iter()
        .find(|step| *step as u32 == value)
    }
}

/// How a started child ended its setup.
pub(super) enum Outcome {
    /// It executed its command.
    Executed,
    /// It failed before executing, and exits 127.
    Failed(StepError),
    /// It did not execute within the wait, and was killed.
    Stalled,
}

/// Starts the child of `plan` on `stack`; returns its pid.
pub(super) fn spawn(stack: &ChildStack, plan: &ChildPlan<'_>) -> io::Result<libc::pid_t> {
    // SAFETY: the child runs `child_main` on a stack of its own, reading
    // `plan`, which the caller keeps alive and unchanged until `await_exec`
    // returned. SIGCHLD makes it a child like any other for the reaper.
    sys::check_int(unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::SIGCHLD,
            (plan as *const ChildPlan<'_>).cast_mut().cast(),
        )
    })
}

/// Waits for the child's status: end of file once it executed (the pipe is
/// close-on-exec), or its failure. Kills it after `timeout_ms`. `plan`
/// names the failure's details.
pub(super) fn await_exec(
    pid: libc::pid_t,
    status: &OwnedFd,
    plan: &ChildPlan<'_>,
    command: &str,
    timeout_ms: libc::c_int,
) -> Outcome {
    let mut message = [0u8; 8];
    let mut filled = 0;
    loop {
        let mut polled = libc::pollfd {
            fd: status.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        let ready = unsafe { libc::poll(&mut polled, 1, timeout_ms) };
        if ready == 0 {
            // SAFETY: kill of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Outcome::Stalled;
        }
        // SAFETY: reading into the rest of a local buffer.
        let n = unsafe {
            libc::read(
                status.as_raw_fd(),
                message[filled..].as_mut_ptr().cast(),
                message.len() - filled,
            )
        };
        match n {
            0 => break,
            n if n > 0 => filled += n as usize,
            _ if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => break,
        }
        if filled == message.len() {
            break;
        }
    }
    if filled == 0 {
        return Outcome::Executed;
    }
    let step = u32::from_ne_bytes([message[0], message[1], message[2], message[3]]);
    let errno = i32::from_ne_bytes([message[4], message[5], message[6], message[7]]);
    let error = io::Error::from_raw_os_error(errno);
    Outcome::Failed(match ChildStep::from_wire(step).filter(|_| filled == message.len()) {
        Some(ChildStep::Stdio) => StepError::new(SetupStep::Stdio, error, "standard streams".into()),
        Some(ChildStep::Terminal) => StepError::new(SetupStep::Terminal, error, "TIOCSCTTY".into()),
        Some(ChildStep::Workdir) => StepError::new(SetupStep::Workdir, error, plan.command.workdir_display()),
        Some(ChildStep::Landlock) => StepError::new(SetupStep::Landlock, error, String::new()),
        Some(ChildStep::Seccomp) => StepError::new(SetupStep::Seccomp, error, String::new()),
        Some(ChildStep::Exec) => StepError::new(SetupStep::Exec, error, command.to_owned()),
        None => StepError::new(
            SetupStep::ForkCommand,
            io::Error::from_raw_os_error(libc::EPROTO),
            "a malformed status from the child".into(),
        ),
    })
}

extern "C" fn child_main(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the plan `spawn` passed, alive and unchanged while this
    // child can run (see `spawn`).
    let plan = unsafe { &*plan.cast_const().cast::<ChildPlan<'_>>() };
    let (step, error) = plan.run();
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&(step as u32).to_ne_bytes());
    message[4..].copy_from_slice(&error.raw_os_error().unwrap_or(libc::EINVAL).to_ne_bytes());
    // SAFETY: a write of a local buffer, then _exit (no atexit handlers:
    // they are the init's).
    unsafe {
        libc::write(plan.status, message.as_ptr().cast(), message.len());
        libc::_exit(127)
    }
}

impl ChildPlan<'_> {
    /// The child's side: a new session, its standard streams, the jail's
    /// Landlock rules, the seccomp filter of its level and `execve` (the
    /// rest of the jail's policy is the init's, inherited). Returns only on
    /// failure.
    fn run(&self) -> (ChildStep, io::Error) {
        let failed = |step| (step, io::Error::last_os_error());
        // Signal dispositions are the init's defaults; only its mask
        // (SIGCHLD, read from a signalfd) is undone.
        // SAFETY: sigprocmask with an empty set built on the stack.
        unsafe {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        }
        // SAFETY: closing the child's copy of the init's request socket.
        unsafe { libc::close(FD_REQUEST) };
        // SAFETY: setsid has no arguments.
        if unsafe { libc::setsid() } < 0 {
            return failed(ChildStep::Stdio);
        }
        // SAFETY: ioctl on the terminal's slave, which this process holds;
        // a session leader without a terminal may take one.
        if self.terminal && unsafe { libc::ioctl(self.stdio[0], libc::TIOCSCTTY, 0) } < 0 {
            return failed(ChildStep::Terminal);
        }
        for (fd, target) in self.stdio.into_iter().zip(0..) {
            // SAFETY: dup2 between descriptors this process holds.
            if fd != target && unsafe { libc::dup2(fd, target) } < 0 {
                return failed(ChildStep::Stdio);
            }
        }
        for fd in self.stdio.into_iter().filter(|fd| *fd > 2) {
            // SAFETY: closing this process's copies of the originals (a
            // terminal's slave is listed thrice; closing it again is
            // harmless).
            unsafe { libc::close(fd) };
        }
        if self.command.enter_workdir().is_err() {
            return failed(ChildStep::Workdir);
        }
        if let Some(ruleset) = self.landlock {
            // SAFETY: landlock_restrict_self with the ruleset's descriptor
            // and no flags (`no_new_privs` is the init's).
            if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0) } < 0 {
                return failed(ChildStep::Landlock);
            }
        }
        if let Some(program) = self.seccomp {
            if seccompiler::apply_filter(program).is_err() {
                return failed(ChildStep::Seccomp);
            }
        }
        (ChildStep::Exec, self.command.exec())
    }
}

//! A runtime jail's init after setup (RUNTIME.md §2): instead of running
//! one command, PID 1 serves the host's requests on its request socket
//! until the host closes it. Its processes have the jail's whole policy:
//! the init takes most of it on itself before serving (no capability for
//! good, `no_new_privs`, the shared seccomp policy, rlimits), and each
//! process inherits that and adds a new session, the jail's Landlock
//! rules and its level's seccomp filter ([`super::spawn`]). They get pipes
//! the host made or a terminal of the jail's own devpts whose master goes
//! back to the host. The init also signals process groups, makes sockets
//! in the jail's network namespace for the host to reach ports on the
//! jail's loopback (previews), and reports every exit.
//!
//! The init is single-threaded and never blocks on jailed code for long:
//! a started child either executes or reports its failure on a
//! close-on-exec pipe right away. Jailed processes cannot disturb it: it is
//! not dumpable, and as PID 1 it receives no signal it has no handler for
//! from inside its namespace (SIGCHLD is blocked and read from a signalfd).

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::spawn::{self, ChildPlan, ChildStack, Outcome};
use super::{
    drop_privileges, exit, landlock, prepare_landlock, report, reset_signals, rlimits, JailContext, PreparedCommand,
    StepContext, StepError,
};
use super::{FD_REPORT, FD_REQUEST};
use crate::config::JailConfig;
use crate::error::SetupStep;
use crate::executor::ProcessSpec;
use crate::ipc::{self, Report, RuntimeReply, RuntimeRequest};
use crate::sys;

/// How long a started child may take to execute (or report its failure)
/// before the init gives up on it: jailed code could stop it (SIGSTOP)
/// between clone and exec to hold the init.
const EXEC_WAIT_MS: libc::c_int = 10_000;

/// Serves the host until it closes the request socket, then exits, which
/// makes the kernel end every process of the jail.
pub(super) fn serve(ctx: &JailContext, config: &JailConfig) -> ! {
    let prepared = restrict_init(ctx, config).and_then(|()| {
        // The jail's Landlock rules, built once; each process enforces
        // them (the init stays outside their domain, so that with
        // Landlock's scoping jailed code cannot even signal it).
        let landlock = landlock::complete(prepare_landlock()?, config)
            .map_err(|e| StepError::new(SetupStep::Landlock, io::Error::other(e), String::new()))?;
        let stack = ChildStack::new().step(SetupStep::ForkCommand, "child stack")?;
        let signals = child_signals().step(SetupStep::ForkCommand, "signalfd")?;
        Ok((Option::<OwnedFd>::from(landlock), stack, signals))
    });
    let (landlock, stack, signals) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => {
            report(FD_REPORT, &err.report());
            exit(1);
        }
    };
    let mut init = Init {
        ctx,
        config,
        landlock,
        stack,
        processes: HashSet::new(),
    };
    init.reply(&RuntimeReply::Ready, &[]);
    let mut buf = Vec::new();
    loop {
        let (request, signalled) = match sys::poll_either(FD_REQUEST, signals.as_raw_fd()) {
            Ok(ready) => ready,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(_) => exit(1),
        };
        if signalled {
            drain_signalfd(&signals);
            init.reap();
        }
        if request {
            match ipc::recv_with_fds(FD_REQUEST, &mut buf, ipc::MAX_MESSAGE) {
                Ok(Some(fds)) => match serde_json::from_slice::<RuntimeRequest>(&buf) {
                    Ok(request) => init.handle(request, fds),
                    // The host speaks this protocol; anything else is a bug
                    // worth ending the jail for.
                    Err(_) => exit(1),
                },
                // The host closed the socket: the workspace stops.
                Ok(None) => {
                    report(FD_REPORT, &Report::Exited { code: 0 });
                    exit(0);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(_) => exit(1),
            }
        }
    }
}

/// The init's own restrictions, which every process it starts inherits:
/// no capability (for good: empty sets and bounding set), `no_new_privs`,
/// the seccomp policy every level shares (the init needs nothing it
/// refuses), the jail's rlimits and default signal dispositions. Set once
/// here rather than in each child.
fn restrict_init(ctx: &JailContext, config: &JailConfig) -> Result<(), StepError> {
    drop_privileges(ctx)?;
    rlimits::apply(config.limits.max_open_files).step(SetupStep::Rlimits, "")?;
    reset_signals();
    Ok(())
}

/// A signalfd for SIGCHLD, which is blocked (so it is only read there).
fn child_signals() -> io::Result<OwnedFd> {
    // SAFETY: sigset manipulation on a local value, then sigprocmask and
    // signalfd with it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        sys::check_int(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
        let fd = sys::check_int(libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

fn drain_signalfd(signals: &OwnedFd) {
    let mut info = [0u8; 128];
    // SAFETY: reading into a local buffer of the size of one siginfo; the
    // descriptor is non-blocking, so the loop ends when it is empty.
    while unsafe { libc::read(signals.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) } > 0 {}
}

struct Init<'a> {
    ctx: &'a JailContext,
    config: &'a JailConfig,
    /// The jail's complete Landlock ruleset (`None`: this kernel has no
    /// Landlock; it is best effort, as for every jail).
    landlock: Option<OwnedFd>,
    /// The stack the processes start on.
    stack: ChildStack,
    /// Pids (in the jail) of the processes the host started and that have
    /// not been reported ended.
    processes: HashSet<libc::pid_t>,
}

impl Init<'_> {
    fn reply(&self, message: &RuntimeReply, fds: &[RawFd]) {
        let encoded = serde_json::to_vec(message).unwrap_or_default();
        // A host that went away closes the socket; the next poll sees it.
        let _ = ipc::send_with_fds(FD_REQUEST, &encoded, fds);
    }

    fn fail(&self, id: u64, failure: Report) {
        if let Report::SetupFailed { step, errno, detail } = failure {
            self.reply(
                &RuntimeReply::Failed {
                    id,
                    step,
                    errno,
                    detail,
                },
                &[],
            );
        }
    }

    fn handle(&mut self, request: RuntimeRequest, fds: Vec<OwnedFd>) {
        match request {
            RuntimeRequest::Exec { id, process } => match self.exec(&process, fds) {
                Ok((pid, master)) => {
                    let attached: Vec<RawFd> = master.iter().map(|m| m.as_raw_fd()).collect();
                    self.reply(&RuntimeReply::Started { id, pid }, &attached);
                }
                Err(err) => self.fail(id, err),
            },
            RuntimeRequest::Signal { id, pid, signal } => match self.signal(pid, signal) {
                Ok(()) => self.reply(&RuntimeReply::Signaled { id }, &[]),
                Err(e) => self.fail(id, StepError::new(SetupStep::Signal, e, format!("pid {pid}")).report()),
            },
            RuntimeRequest::Sockets { id, count } => match tcp_sockets(count.min(ipc::MAX_FDS as u8)) {
                Ok(sockets) => {
                    let raw: Vec<RawFd> = sockets.iter().map(AsRawFd::as_raw_fd).collect();
                    self.reply(&RuntimeReply::Sockets { id }, &raw);
                }
                Err(e) => self.fail(id, StepError::new(SetupStep::Connect, e, "socket".into()).report()),
            },
        }
    }

    /// Signals the process group of a process the host started (each is
    /// the leader of its own session), or the process alone if its group
    /// is gone.
    fn signal(&self, pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
        if !self.processes.contains(&pid) {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: kill with integer arguments.
        if unsafe { libc::kill(-pid, signal) } == 0 {
            return Ok(());
        }
        // SAFETY: as above.
        sys::check_int(unsafe { libc::kill(pid, signal) }).map(drop)
    }

    /// Reports every ended process the host started; reaps orphans.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid with a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            if !self.processes.remove(&pid) {
                continue;
            }
            let (code, signal) = if libc::WIFSIGNALED(status) {
                (None, Some(libc::WTERMSIG(status)))
            } else {
                (Some(libc::WEXITSTATUS(status)), None)
            };
            self.reply(&RuntimeReply::Exited { pid, code, signal }, &[]);
        }
    }

    /// Starts a process; returns its pid and, on a terminal, the master.
    fn exec(&mut self, spec: &ProcessSpec, fds: Vec<OwnedFd>) -> Result<(libc::pid_t, Option<OwnedFd>), Report> {
        self.start(spec, fds).map_err(|err| err.report())
    }

    fn start(&mut self, spec: &ProcessSpec, fds: Vec<OwnedFd>) -> Result<(libc::pid_t, Option<OwnedFd>), StepError> {
        let mut config = self.config.clone();
        config.command = spec.command.clone();
        config.args = spec.args.clone();
        for (key, value) in &spec.env {
            config.env.retain(|(k, _)| k != key);
            config.env.push((key.clone(), value.clone()));
        }
        if let Some(dir) = &spec.workdir {
            config.workdir = Some(dir.clone());
        }
        // The descriptors stay open here until the child has its copies.
        let (held, master): (Vec<OwnedFd>, Option<OwnedFd>) = match &spec.terminal {
            Some(size) => {
                if !fds.is_empty() {
                    return Err(protocol("a terminal process carries no descriptors"));
                }
                let (master, slave) = open_terminal(size.cols, size.rows).step(SetupStep::Terminal, "/dev/pts/ptmx")?;
                (vec![slave], Some(master))
            }
            None if fds.len() == 3 => (fds, None),
            None => return Err(protocol("a process without a terminal carries three descriptors")),
        };
        let stdio = match held.as_slice() {
            [slave] => [slave.as_raw_fd(); 3],
            [stdin, stdout, stderr] => [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
            _ => return Err(protocol("unexpected descriptors")),
        };
        let command = PreparedCommand::new(&config);
        let (status_r, status_w) = sys::pipe().step(SetupStep::ForkCommand, "status pipe")?;
        let plan = ChildPlan {
            stdio,
            terminal: master.is_some(),
            command: &command,
            landlock: self.landlock.as_ref().map(AsRawFd::as_raw_fd),
            seccomp: self.ctx.seccomp.extra(config.seccomp),
            status: status_w.as_raw_fd(),
        };
        let pid = spawn::spawn(&self.stack, &plan).step(SetupStep::ForkCommand, "clone")?;
        drop(status_w);
        let outcome = spawn::await_exec(pid, &status_r, &plan, &spec.command, EXEC_WAIT_MS);
        drop(held);
        match outcome {
            Outcome::Executed => {
                self.processes.insert(pid);
                Ok((pid, master))
            }
            // It exits 127, or was killed: not a process of the host's.
            Outcome::Failed(err) => Err(err),
            Outcome::Stalled => {
                let stalled = io::Error::from_raw_os_error(libc::ETIMEDOUT);
                Err(StepError::new(SetupStep::Exec, stalled, spec.command.clone()))
            }
        }
    }
}

fn protocol(detail: &str) -> StepError {
    StepError::new(
        SetupStep::ForkCommand,
        io::Error::from_raw_os_error(libc::EPROTO),
        detail.into(),
    )
}

/// A new terminal of the jail's devpts: `(master, slave)`, the slave opened
/// from the master (`TIOCGPTPEER`), never by a path jailed code could
/// replace.
fn open_terminal(cols: u16, rows: u16) -> io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: open of a constant path; the descriptor is owned at once.
    let master = unsafe {
        OwnedFd::from_raw_fd(sys::check_int(libc::open(
            c"/dev/pts/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        ))?)
    };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK takes a pointer to an int.
    sys::check_int(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ takes a pointer to a winsize.
    sys::check_int(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) })?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let slave = sys::check_int(unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel returned a fresh descriptor that we own.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }))
}

/// Fresh TCP sockets of the jail's network namespace, unconnected and
/// non-blocking. A socket keeps the namespace it was made in, so the host
/// connects them to the jail's loopback without a round trip through the
/// init per connection, and a jailed server that does not accept never
/// holds the init.
fn tcp_sockets(count: u8) -> io::Result<Vec<OwnedFd>> {
    (0..count)
        .map(|_| {
            // SAFETY: socket with constant arguments; the descriptor is
            // owned at once.
            sys::check_int(unsafe {
                libc::socket(
                    libc::AF_INET,
                    libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    0,
                )
            })
            // SAFETY: a fresh descriptor that nothing else owns.
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

//! The zygote: a single-threaded process forked when the engine starts,
//! before the host has any other thread (ARCHITECTURE decision 1).
//!
//! The host sends it spawn requests over a `SOCK_SEQPACKET` socket, with the
//! jail's pipe ends attached. It clones each jail's init with the new
//! namespaces and answers with the init's pid and a pidfd. Because the
//! zygote is single-threaded and small, the clone is cheap and the jail's
//! setup code may allocate freely.
//!
//! On the host side one thread owns the socket; async callers hand it jobs
//! and await the answer, so the engine works from any runtime.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::mpsc as std_mpsc;
use std::sync::{Mutex, OnceLock};

use tokio::sync::oneshot;

use crate::error::{JailError, Result};
use crate::ipc::{self, SpawnReply, SpawnRequest};
use crate::setup::{self, JailContext};
use crate::sys::{self, Cloned};

/// The jail's fresh namespaces (the user namespace is added when rootless).
const NAMESPACES: libc::c_int = libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS;

/// Descriptor number of the zygote's end of the socket.
const ZYGOTE_SOCKET: RawFd = 3;

struct Job {
    request: Vec<u8>,
    fds: Vec<OwnedFd>,
    reply: oneshot::Sender<Result<Spawned>>,
}

/// A jail the zygote started.
#[derive(Debug)]
pub(crate) struct Spawned {
    /// Host pid of the jail's init.
    pub pid: i32,
    /// pidfd of the init.
    pub pidfd: OwnedFd,
    /// The jail's mount namespace, held so that freeing it happens after
    /// the jail ends, off the critical path (see `reaper`).
    pub mount_namespace: Option<OwnedFd>,
}

/// Host-side handle of the zygote.
#[derive(Debug)]
pub(crate) struct Zygote {
    /// The host's end of the socket until the client thread takes it.
    socket: Mutex<Option<OwnedFd>>,
    /// Started on the first spawn, so that several engines can be started
    /// one after the other while the process is still single-threaded.
    jobs: OnceLock<std_mpsc::Sender<Job>>,
    pid: libc::pid_t,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Zygote {
    /// Forks the zygote. Fails if the calling process has other threads.
    pub(crate) fn start(ctx: JailContext) -> Result<Self> {
        let threads = sys::thread_count().map_err(|e| JailError::host("count threads", e))?;
        if threads != 1 {
            return Err(JailError::NotSingleThreaded { threads });
        }
        let (host_end, zygote_end) =
            ipc::seqpacket_pair().map_err(|e| JailError::host("socketpair", e))?;
        // SAFETY: getpid has no preconditions.
        let host_pid = unsafe { libc::getpid() };
        match sys::fork().map_err(|e| JailError::host("fork the zygote", e))? {
            0 => {
                drop(host_end);
                zygote_main(ctx, zygote_end, host_pid)
            }
            pid => {
                drop(zygote_end);
                Ok(Zygote {
                    socket: Mutex::new(Some(host_end)),
                    jobs: OnceLock::new(),
                    pid,
                })
            }
        }
    }

    /// Pid of the zygote process.
    pub(crate) fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Asks the zygote to spawn a jail with the four descriptors
    /// `[stdin_read, stdout_write, stderr_write, report_write]`.
    pub(crate) async fn spawn(&self, request: &SpawnRequest, fds: Vec<OwnedFd>) -> Result<Spawned> {
        let request = serde_json::to_vec(request).map_err(|e| JailError::Spawner(e.to_string()))?;
        if request.len() > ipc::MAX_MESSAGE {
            return Err(JailError::InvalidConfig(format!(
                "the jail configuration is {} bytes; at most {} fit",
                request.len(),
                ipc::MAX_MESSAGE
            )));
        }
        let (reply, answer) = oneshot::channel();
        self.client()?
            .send(Job {
                request,
                fds,
                reply,
            })
            .map_err(|_| JailError::Spawner("the zygote client thread is gone".into()))?;
        answer
            .await
            .map_err(|_| JailError::Spawner("the zygote client thread dropped a request".into()))?
    }
}

impl Zygote {
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
        std::thread::Builder::new()
            .name("paddock-zygote-client".into())
            .spawn(move || client_loop(sock, queue))
            .map_err(|e| JailError::host("start the zygote client thread", e))?;
        Ok(self.jobs.get_or_init(|| jobs))
    }
}

/// Host side: one request and its answer at a time (the zygote is serial).
fn client_loop(sock: OwnedFd, queue: std_mpsc::Receiver<Job>) {
    let mut buf = Vec::new();
    for job in queue {
        let raw: Vec<RawFd> = job.fds.iter().map(AsRawFd::as_raw_fd).collect();
        let outcome = ipc::send_with_fds(sock.as_raw_fd(), &job.request, &raw)
            .map_err(|e| JailError::Spawner(format!("sending to the zygote: {e}")))
            .and_then(|()| {
                drop(job.fds);
                receive_reply(&sock, &mut buf)
            });
        let _ = job.reply.send(outcome);
    }
}

fn receive_reply(sock: &OwnedFd, buf: &mut Vec<u8>) -> Result<Spawned> {
    let fds = ipc::recv_with_fds(sock.as_raw_fd(), buf, 4096)
        .map_err(|e| JailError::Spawner(format!("reading from the zygote: {e}")))?
        .ok_or_else(|| JailError::Spawner("the zygote exited".into()))?;
    let reply: SpawnReply = serde_json::from_slice(buf)
        .map_err(|e| JailError::Spawner(format!("bad zygote reply: {e}")))?;
    match reply {
        SpawnReply::Spawned { pid } => {
            let mut fds = fds.into_iter();
            let pidfd = fds
                .next()
                .ok_or_else(|| JailError::Spawner("the zygote sent no pidfd".into()))?;
            Ok(Spawned {
                pid,
                pidfd,
                mount_namespace: fds.next(),
            })
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
fn zygote_main(ctx: JailContext, sock: OwnedFd, host_pid: libc::pid_t) -> ! {
    // SAFETY: single-threaded process; these calls only change this
    // process's own signal dispositions, name and descriptors.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() != host_pid {
            exit(0);
        }
        libc::prctl(libc::PR_SET_NAME, c"paddock-zygote".as_ptr(), 0, 0, 0);
        // Exited jail inits are reaped by the kernel; the host learns of
        // their exit through its pidfd.
        libc::signal(libc::SIGCHLD, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        if sock.as_raw_fd() != ZYGOTE_SOCKET
            && libc::dup3(sock.as_raw_fd(), ZYGOTE_SOCKET, libc::O_CLOEXEC) == -1
        {
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

    let flags = NAMESPACES
        | if ctx.user_namespace.is_some() {
            libc::CLONE_NEWUSER
        } else {
            0
        };
    let mut buf = Vec::new();
    loop {
        let fds = match ipc::recv_with_fds(ZYGOTE_SOCKET, &mut buf, ipc::MAX_MESSAGE) {
            Ok(Some(fds)) => fds,
            // The host closed its end (or vanished): the zygote's work is done.
            Ok(None) | Err(_) => exit(0),
        };
        let reply = match decode(&buf, fds) {
            Err(message) => (SpawnReply::Failed { message }, Vec::new()),
            Ok((request, fds)) => match sys::clone_with_pidfd(flags) {
                Ok(Cloned::Child) => setup::init_main(&ctx, request, fds),
                Ok(Cloned::Parent { pid, pidfd }) => {
                    let mut attached = vec![pidfd];
                    attached.extend(open_mount_namespace(pid));
                    (SpawnReply::Spawned { pid }, attached)
                }
                Err(e) => (
                    SpawnReply::Failed {
                        message: format!("clone of the jail's init failed: {e}"),
                    },
                    Vec::new(),
                ),
            },
        };
        let bytes = serde_json::to_vec(&reply.0).unwrap_or_default();
        let attached: Vec<RawFd> = reply.1.iter().map(AsRawFd::as_raw_fd).collect();
        if ipc::send_with_fds(ZYGOTE_SOCKET, &bytes, &attached).is_err() {
            exit(0);
        }
    }
}

/// A reference to a freshly cloned jail's mount namespace.
fn open_mount_namespace(pid: libc::pid_t) -> Option<OwnedFd> {
    std::fs::File::open(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(OwnedFd::from)
}

fn decode(
    buf: &[u8],
    fds: Vec<OwnedFd>,
) -> std::result::Result<(SpawnRequest, [OwnedFd; 4]), String> {
    let request: SpawnRequest =
        serde_json::from_slice(buf).map_err(|e| format!("bad spawn request: {e}"))?;
    let fds: [OwnedFd; 4] = fds.try_into().map_err(|v: Vec<OwnedFd>| {
        format!("spawn request carried {} descriptors, expected 4", v.len())
    })?;
    Ok((request, fds))
}

//! The host's side of a runtime jail (RUNTIME.md §2): a jail whose init
//! stays up and starts processes on request, each with the jail's whole
//! policy, in the jail's cgroup and namespaces. The host never enters the
//! jail: it sends requests on the init's socket, with the pipes it made
//! for a process's standard streams, and receives a terminal's master, a
//! connection to a port, and every exit.
//!
//! One task reads the socket and completes the waiting calls; sends go
//! through a lock (messages are whole datagrams, so they never interleave).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use crate::error::{JailError, Result};
use crate::handle::setup_error;
use crate::ipc::{self, RuntimeReply, RuntimeRequest};
use crate::result::ExitStatus;
use crate::sys;

/// What to start in a runtime jail. Everything else (mounts, network,
/// limits, seccomp level) is the jail's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// Program: an absolute jail path or a name looked up in `PATH`.
    pub command: String,
    /// Arguments after the program name.
    pub args: Vec<String>,
    /// Environment added to (and overriding) the jail's.
    pub env: Vec<(String, String)>,
    /// Working directory (the jail's by default).
    pub workdir: Option<PathBuf>,
    /// Run on a new terminal of this size instead of pipes.
    pub terminal: Option<TerminalSize>,
}

/// A terminal's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// A started process's standard streams.
#[derive(Debug)]
pub enum ProcessIo {
    /// Pipes: write the input, read both outputs.
    Pipes {
        /// The process's standard input.
        stdin: pipe::Sender,
        /// Its standard output.
        stdout: pipe::Receiver,
        /// Its standard error.
        stderr: pipe::Receiver,
    },
    /// A terminal: its master (non-blocking; reads return the terminal's
    /// output, writes are typed input).
    Terminal(AsyncFd<OwnedFd>),
}

/// A process started in a runtime jail.
#[derive(Debug)]
pub struct StartedProcess {
    /// Its pid inside the jail.
    pub pid: i32,
    /// Its standard streams.
    pub io: ProcessIo,
    /// Resolves once it ended (with `Signal(SIGKILL)` if the jail ended
    /// first).
    pub exit: oneshot::Receiver<ExitStatus>,
}

/// How long a connection into the jail may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sockets of the jail's network namespace asked for at once (each
/// connection the host makes into the jail takes one).
const SOCKET_BATCH: u8 = 16;

/// Sets a terminal's size (on its master, from the host).
pub fn resize_terminal(master: &impl AsRawFd, size: TerminalSize) -> Result<()> {
    let winsize = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ takes a pointer to a winsize.
    sys::check_int(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &winsize) })
        .map(drop)
        .map_err(|e| JailError::host("resizing a terminal", e))
}

/// Starts processes in one runtime jail (cloneable; every clone talks to
/// the same init).
#[derive(Debug, Clone)]
pub struct JailExecutor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    socket: AsyncFd<OwnedFd>,
    send: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
    state: Mutex<State>,
    closed: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    waiting: HashMap<u64, oneshot::Sender<Answer>>,
    exits: HashMap<i32, oneshot::Sender<ExitStatus>>,
    /// Exits that arrived before their start's answer was taken.
    early_exits: HashMap<i32, ExitStatus>,
    /// The init's copy of the host's tree (early pivot), kept until the
    /// jail ends so that its unmount happens then.
    held: Vec<OwnedFd>,
    /// Unconnected sockets of the jail's network namespace, for `connect`
    /// (dropped when the jail ends: they would keep its namespace).
    sockets: Vec<OwnedFd>,
}

/// The init's answer to one request, with its descriptors.
#[derive(Debug)]
struct Answer {
    reply: RuntimeReply,
    fds: Vec<OwnedFd>,
}

impl JailExecutor {
    /// Takes over a runtime jail's request socket and waits for the init's
    /// `Ready`. `Ok(None)`: the init ended during setup (its report pipe
    /// says why).
    pub(crate) async fn attach(socket: OwnedFd) -> Result<Option<JailExecutor>> {
        sys::set_nonblocking(socket.as_raw_fd(), true).map_err(|e| JailError::host("runtime socket", e))?;
        let socket = register(socket).map_err(|e| JailError::host("registering the runtime socket", e))?;
        let inner = Arc::new(Inner {
            socket,
            send: tokio::sync::Mutex::new(()),
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            closed: AtomicBool::new(false),
        });
        let mut held = Vec::new();
        loop {
            match inner.receive().await {
                Ok(Some((RuntimeReply::Ready, _))) => break,
                Ok(Some((_, fds))) => held.extend(fds),
                Ok(None) => return Ok(None),
                Err(e) => return Err(JailError::host("waiting for the runtime jail", e)),
            }
        }
        lock(&inner.state).held = held;
        tokio::spawn(read_replies(inner.clone()));
        Ok(Some(JailExecutor { inner }))
    }

    /// Whether the jail's init is gone (every call then fails).
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::SeqCst)
    }

    /// Starts a process with the jail's policy.
    pub async fn start(&self, spec: ProcessSpec) -> Result<StartedProcess> {
        let command = spec.command.clone();
        let terminal = spec.terminal.is_some();
        let pipes = if terminal {
            None
        } else {
            Some(ProcessPipes::new().map_err(|e| JailError::host("process pipes", e))?)
        };
        let jail_ends: Vec<RawFd> = pipes.as_ref().map(ProcessPipes::jail_ends).unwrap_or_default();
        let (id, answer) = self
            .request(|id| RuntimeRequest::Exec { id, process: spec }, &jail_ends)
            .await?;
        // The jail has its own copies now.
        let pipes = pipes.map(ProcessPipes::into_host_ends);
        let Answer { reply, fds } = answer;
        let pid = match reply {
            RuntimeReply::Started { pid, .. } => pid,
            RuntimeReply::Failed {
                step, errno, detail, ..
            } => return Err(setup_error(step, errno, detail, &command)),
            other => return Err(unexpected(id, &other)),
        };
        let (exit_tx, exit) = oneshot::channel();
        {
            let mut state = lock(&self.inner.state);
            match state.early_exits.remove(&pid) {
                Some(status) => {
                    let _ = exit_tx.send(status);
                }
                None if self.is_closed() => {
                    let _ = exit_tx.send(ExitStatus::Signal(libc::SIGKILL));
                }
                None => {
                    state.exits.insert(pid, exit_tx);
                }
            }
        }
        let io = match pipes {
            Some(host) => host.register()?,
            None => {
                let master = fds
                    .into_iter()
                    .next()
                    .ok_or_else(|| JailError::Spawner("a terminal without its master".into()))?;
                sys::set_nonblocking(master.as_raw_fd(), true).map_err(|e| JailError::host("terminal", e))?;
                ProcessIo::Terminal(register(master).map_err(|e| JailError::host("registering a terminal", e))?)
            }
        };
        Ok(StartedProcess { pid, io, exit })
    }

    /// Sends `signal` to the process group of a process this executor
    /// started (its pid in the jail).
    pub async fn signal(&self, pid: i32, signal: i32) -> Result<()> {
        let (id, answer) = self
            .request(|id| RuntimeRequest::Signal { id, pid, signal }, &[])
            .await?;
        match answer.reply {
            RuntimeReply::Signaled { .. } => Ok(()),
            RuntimeReply::Failed { step, detail, .. } => Err(JailError::Setup { step, detail }),
            other => Err(unexpected(id, &other)),
        }
    }

    /// A connection to `127.0.0.1:port` inside the jail, over a socket of
    /// the jail's network namespace (made by the init, a batch at a time),
    /// waited for at most `CONNECT_TIMEOUT`.
    pub async fn connect(&self, port: u16) -> Result<tokio::net::TcpStream> {
        let socket = self.jail_socket().await?;
        let socket = tokio::net::TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
        let address = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
        let refused = |e| JailError::host("connecting inside the jail", e);
        match tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(address)).await {
            Err(_) => Err(refused(std::io::Error::from(std::io::ErrorKind::TimedOut))),
            Ok(connected) => connected.map_err(refused),
        }
    }

    /// An unconnected TCP socket of the jail's network namespace.
    async fn jail_socket(&self) -> Result<OwnedFd> {
        if let Some(socket) = lock(&self.inner.state).sockets.pop() {
            return Ok(socket);
        }
        let count = SOCKET_BATCH;
        let (id, answer) = self.request(|id| RuntimeRequest::Sockets { id, count }, &[]).await?;
        match answer.reply {
            RuntimeReply::Sockets { .. } => {
                let mut sockets = answer.fds;
                let socket = sockets
                    .pop()
                    .ok_or_else(|| JailError::Spawner("no sockets in the answer".into()))?;
                let mut state = lock(&self.inner.state);
                if !self.is_closed() {
                    state.sockets.extend(sockets);
                }
                Ok(socket)
            }
            RuntimeReply::Failed { errno, .. } => Err(JailError::host(
                "making a socket inside the jail",
                std::io::Error::from_raw_os_error(errno),
            )),
            other => Err(unexpected(id, &other)),
        }
    }

    async fn request(&self, make: impl FnOnce(u64) -> RuntimeRequest, fds: &[RawFd]) -> Result<(u64, Answer)> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let payload = serde_json::to_vec(&make(id)).map_err(|e| JailError::Spawner(e.to_string()))?;
        if payload.len() > ipc::MAX_MESSAGE {
            return Err(JailError::InvalidConfig(format!(
                "the process request is {} bytes; at most {} fit",
                payload.len(),
                ipc::MAX_MESSAGE
            )));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut state = lock(&self.inner.state);
            if self.is_closed() {
                return Err(ended());
            }
            state.waiting.insert(id, tx);
        }
        if let Err(e) = self.inner.send(&payload, fds).await {
            lock(&self.inner.state).waiting.remove(&id);
            return Err(if self.is_closed() {
                ended()
            } else {
                JailError::host("runtime request", e)
            });
        }
        rx.await.map(|answer| (id, answer)).map_err(|_| ended())
    }
}

impl Inner {
    async fn send(&self, payload: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
        let _turn = self.send.lock().await;
        loop {
            let mut ready = self.socket.writable().await?;
            match ipc::send_with_fds(self.socket.as_raw_fd(), payload, fds) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
                other => return other,
            }
        }
    }

    /// The next message, or `None` at end of file.
    async fn receive(&self) -> std::io::Result<Option<(RuntimeReply, Vec<OwnedFd>)>> {
        let mut buf = Vec::new();
        loop {
            let mut ready = self.socket.readable().await?;
            match ipc::recv_with_fds(self.socket.as_raw_fd(), &mut buf, ipc::MAX_MESSAGE) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) => return Err(e),
                Ok(None) => return Ok(None),
                // The early pivot's copy of the host's tree: held, not parsed.
                Ok(Some(fds)) if buf.as_slice() == ipc::HOST_TREE => {
                    lock(&self.state).held.extend(fds);
                }
                Ok(Some(fds)) => {
                    let reply = serde_json::from_slice(&buf)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                    return Ok(Some((reply, fds)));
                }
            }
        }
    }
}

/// Completes calls with the init's answers and exits, until the socket
/// closes; then fails every waiting call and ends every process.
async fn read_replies(inner: Arc<Inner>) {
    loop {
        let (reply, fds) = match inner.receive().await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(err) => {
                tracing::warn!(%err, "reading a runtime jail's replies");
                break;
            }
        };
        let mut state = lock(&inner.state);
        match reply {
            RuntimeReply::Exited { pid, code, signal } => {
                let status = match (code, signal) {
                    (_, Some(signal)) => ExitStatus::Signal(signal),
                    (Some(code), None) => ExitStatus::Code(code),
                    (None, None) => ExitStatus::Signal(libc::SIGKILL),
                };
                match state.exits.remove(&pid) {
                    Some(tx) => {
                        let _ = tx.send(status);
                    }
                    None => {
                        state.early_exits.insert(pid, status);
                    }
                }
            }
            RuntimeReply::Ready => {}
            reply => {
                let id = match &reply {
                    RuntimeReply::Started { id, .. }
                    | RuntimeReply::Failed { id, .. }
                    | RuntimeReply::Signaled { id }
                    | RuntimeReply::Sockets { id } => *id,
                    _ => continue,
                };
                if let Some(tx) = state.waiting.remove(&id) {
                    let _ = tx.send(Answer { reply, fds });
                }
            }
        }
    }
    inner.closed.store(true, Ordering::SeqCst);
    let mut state = lock(&inner.state);
    state.waiting.clear();
    state.sockets.clear();
    for (_, tx) in state.exits.drain() {
        let _ = tx.send(ExitStatus::Signal(libc::SIGKILL));
    }
}

/// The six ends of a process's three pipes.
struct ProcessPipes {
    stdin: (OwnedFd, OwnedFd),
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
}

/// The host's ends, not yet registered with the runtime.
struct HostEnds {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl ProcessPipes {
    fn new() -> std::io::Result<ProcessPipes> {
        Ok(ProcessPipes {
            stdin: sys::pipe()?,
            stdout: sys::pipe()?,
            stderr: sys::pipe()?,
        })
    }

    /// `[stdin read end, stdout write end, stderr write end]`.
    fn jail_ends(&self) -> Vec<RawFd> {
        vec![
            self.stdin.0.as_raw_fd(),
            self.stdout.1.as_raw_fd(),
            self.stderr.1.as_raw_fd(),
        ]
    }

    fn into_host_ends(self) -> HostEnds {
        HostEnds {
            stdin: self.stdin.1,
            stdout: self.stdout.0,
            stderr: self.stderr.0,
        }
    }
}

impl HostEnds {
    fn register(self) -> Result<ProcessIo> {
        let register = |e| JailError::host("register pipe", e);
        Ok(ProcessIo::Pipes {
            stdin: pipe::Sender::from_owned_fd(self.stdin).map_err(register)?,
            stdout: pipe::Receiver::from_owned_fd(self.stdout).map_err(register)?,
            stderr: pipe::Receiver::from_owned_fd(self.stderr).map_err(register)?,
        })
    }
}

/// Registers a descriptor this executor owns with the runtime.
fn register(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: the descriptor is owned by the registration, which
    // deregisters it before closing it.
    unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
}

fn ended() -> JailError {
    JailError::Stopped
}

fn unexpected(id: u64, reply: &RuntimeReply) -> JailError {
    JailError::Spawner(format!("request {id}: unexpected answer {reply:?}"))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

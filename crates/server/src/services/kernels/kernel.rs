//! One Jupyter kernel in a running workspace's runtime jail (RUNTIME.md §6),
//! spoken to over the Jupyter messaging protocol (`jupyter-protocol`,
//! ZeroMQ by `jupyter-zmq-client`).
//!
//! Transport: the kernel listens on TCP ports of the jail's own loopback
//! (every running workspace has one, whatever its network mode). The host
//! reaches them the way previews reach ports (RUNTIME.md §5): each
//! connection is made by the jail's init inside the jail's network
//! namespace and handed back. The ZeroMQ client dials unix sockets in a
//! private host directory (0700), each connection relayed to its port in
//! the jail. No path inside the jail is ever followed by the host, and
//! nothing needs a network between host and jail.
//!
//! The kernel is started by the init like any process (the jail's whole
//! policy applies); a few lines of `sh` write its connection file (the
//! HMAC key comes in the environment) to the jail's `/tmp` and `exec` the
//! real kernel: ipykernel for Python, bash_kernel for bash, tslab for
//! JavaScript and TypeScript.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jupyter_protocol::{
    ConnectionInfo, ExecuteRequest, ExecutionState, JupyterMessage, JupyterMessageContent, KernelInfoRequest,
    ReplyStatus, Stdio, Transport,
};
use jupyter_zmq_client::{ClientIoPubConnection, ClientShellConnection};
use paddock_api::code::{CodeError, CodeLanguage, CodeResultPart};
use paddock_api::{Error, ErrorCode};
use paddock_jail::{ExitStatus, ProcessIo, ProcessSpec};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use super::relay::{Relay, MAX_MESSAGE};
use super::{parts, CodeEvent, Observer};
use crate::services::lock;
use crate::services::runtime::RunningJail;

/// How long a kernel may take to listen and answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After an interrupt, how long the call waits for the kernel to go idle
/// before it kills it.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
/// Most bytes of stdout (and of stderr) kept per call; the rest is counted.
const MAX_STREAM: usize = 16 << 20;
/// Most bytes of rich results kept per call.
const MAX_PARTS_BYTES: usize = 64 << 20;
/// Bytes of a kernel's own stderr kept to explain a failed start.
const STDERR_TAIL: usize = 8 << 10;
/// Ports the kernel listens on in the jail are picked in this range,
/// below Linux's default ephemeral range (32768-60999), so the outgoing
/// ends of connections in the jail (the relays' among them) do not hold
/// them.
const PORTS: std::ops::Range<u16> = 20_000..32_768;
/// Starts tried when the kernel finds a port taken (another process of the
/// workspace may listen anywhere).
const START_ATTEMPTS: usize = 3;
/// tslab answers `abort` (without running it) to any request that arrives
/// within 200 ms of a failed one; the next call waits this long instead.
const TSLAB_SETTLE: Duration = Duration::from_millis(250);

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ran to its end.
    Completed,
    /// The code raised.
    Raised,
    /// Interrupted at its timeout (the kernel lives on).
    TimedOut,
    /// The kernel died (or was killed after an interrupt it ignored).
    Died,
}

/// What a call produced.
#[derive(Debug)]
pub struct Execution {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub parts: Vec<CodeResultPart>,
    pub error: Option<CodeError>,
}

/// A kernel process and the host's client of it.
#[derive(Debug)]
pub struct Kernel {
    pub id: String,
    pub language: CodeLanguage,
    pub session: Option<String>,
    pub started_at: i64,
    runtime: Arc<RunningJail>,
    pid: i32,
    channels: tokio::sync::Mutex<Channels>,
    execution_count: AtomicU64,
    busy: AtomicBool,
    /// Becomes true when the kernel process ends.
    ended: watch::Receiver<bool>,
    /// The relay killed the kernel for a message past its maximum.
    oversized: Arc<AtomicBool>,
    /// The next request is sent no earlier than this (see TSLAB_SETTLE).
    settle_until: Mutex<Option<Instant>>,
    /// Held for its sockets: dropping it closes them.
    _relay: Relay,
}

impl Drop for Kernel {
    /// A kernel nobody holds is killed (a replaced or shut-down kernel, a
    /// start that failed after its process began).
    fn drop(&mut self) {
        if self.is_dead() {
            return;
        }
        let executor = self.runtime.executor().clone();
        let pid = self.pid;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = executor.signal(pid, libc::SIGKILL).await;
            });
        }
    }
}

struct Channels {
    shell: ClientShellConnection,
    iopub: ClientIoPubConnection,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channels")
    }
}

/// The five channel ports, in `ConnectionInfo` order.
#[derive(Debug, Clone, Copy)]
struct Ports {
    shell: u16,
    iopub: u16,
    stdin: u16,
    control: u16,
    hb: u16,
}

impl Ports {
    fn random() -> Ports {
        use rand::seq::IteratorRandom;
        let mut rng = rand::rng();
        let picked = PORTS.choose_multiple(&mut rng, 5);
        Ports {
            shell: picked[0],
            iopub: picked[1],
            stdin: picked[2],
            control: picked[3],
            hb: picked[4],
        }
    }

    fn all(self) -> [u16; 5] {
        [self.shell, self.iopub, self.stdin, self.control, self.hb]
    }
}

impl Kernel {
    /// Starts a kernel of `language` in `runtime` (working directory `cwd`,
    /// the jail's by default) and waits until it answers.
    pub async fn start(
        runtime: Arc<RunningJail>,
        id: String,
        language: CodeLanguage,
        session: Option<String>,
        cwd: Option<String>,
    ) -> Result<Kernel, Error> {
        let mut attempt = 1;
        loop {
            match Kernel::start_once(runtime.clone(), id.clone(), language, session.clone(), cwd.clone()).await {
                Err(err) if attempt < START_ATTEMPTS && port_taken(&err.message) => {
                    tracing::debug!(kernel = %id, attempt, "a kernel's port was taken; starting it on others");
                    attempt += 1;
                }
                started => return started,
            }
        }
    }

    async fn start_once(
        runtime: Arc<RunningJail>,
        id: String,
        language: CodeLanguage,
        session: Option<String>,
        cwd: Option<String>,
    ) -> Result<Kernel, Error> {
        let ports = Ports::random();
        let key = hex::encode(rand::random::<[u8; 32]>());
        let inside = connection_info(Transport::TCP, "127.0.0.1", ports, &key);
        let inside = serde_json::to_string(&inside).map_err(Error::internal)?;
        let launch = launcher(language);
        let spec = ProcessSpec {
            command: "/bin/sh".into(),
            args: vec![
                "-c".into(),
                format!(
                    "umask 077; f=$(mktemp /tmp/.paddock-kernel-XXXXXX.json) && printf '%s' \"$PADDOCK_KERNEL_CONNECTION\" > \"$f\" && unset PADDOCK_KERNEL_CONNECTION && exec {launch}"
                ),
            ],
            env: vec![
                ("PADDOCK_KERNEL_CONNECTION".into(), inside),
                // Kernel state goes to the jail's /tmp, not the tree.
                ("IPYTHONDIR".into(), "/tmp/.ipython".into()),
                ("MPLCONFIGDIR".into(), "/tmp/.matplotlib".into()),
                ("JUPYTER_RUNTIME_DIR".into(), "/tmp/.jupyter".into()),
                ("MPLBACKEND".into(), "module://matplotlib_inline.backend_inline".into()),
                ("PYTHONUNBUFFERED".into(), "1".into()),
            ],
            workdir: cwd.map(Into::into),
            terminal: None,
        };
        let process = runtime.executor().start(spec).await.map_err(|e| {
            Error::new(
                ErrorCode::KernelFailed,
                format!("starting the {} kernel: {e}", language.as_str()),
            )
        })?;
        let pid = process.pid;
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let (ended_tx, ended) = watch::channel(false);
        drain_and_watch(process.io, process.exit, stderr_tail.clone(), ended_tx);

        let oversized = Arc::new(AtomicBool::new(false));
        let relay = match Relay::open(runtime.executor(), ports.all(), pid, oversized.clone()) {
            Ok(relay) => relay,
            Err(err) => {
                let _ = runtime.executor().signal(pid, libc::SIGKILL).await;
                return Err(err);
            }
        };
        let started = async {
            wait_listening(&runtime, ports, &ended).await?;
            let outside = connection_info(Transport::IPC, &relay.prefix(), ports, &key);
            let session_id = uuid_like();
            let identity = jupyter_zmq_client::peer_identity_for_session(&session_id).map_err(Error::internal)?;
            let shell =
                jupyter_zmq_client::create_client_shell_connection_with_identity(&outside, &session_id, identity)
                    .await
                    .map_err(Error::internal)?;
            let iopub = jupyter_zmq_client::create_client_iopub_connection(&outside, "", &session_id)
                .await
                .map_err(Error::internal)?;
            let mut channels = Channels { shell, iopub };
            handshake(&mut channels, &ended).await?;
            Ok::<_, Error>(channels)
        };
        let channels = match tokio::time::timeout(START_TIMEOUT, started).await {
            Ok(Ok(channels)) => channels,
            failed => {
                let _ = runtime.executor().signal(pid, libc::SIGKILL).await;
                let tail = String::from_utf8_lossy(&stderr_tail.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
                let why = match failed {
                    Ok(Err(err)) => err.message,
                    _ => format!("it did not answer within {} s", START_TIMEOUT.as_secs()),
                };
                return Err(start_failure(language, &why, &tail));
            }
        };
        let kernel = Kernel {
            id,
            language,
            session,
            started_at: crate::db::now_ms(),
            runtime,
            pid,
            channels: tokio::sync::Mutex::new(channels),
            execution_count: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            ended,
            oversized,
            settle_until: Mutex::new(None),
            _relay: relay,
        };
        if language == CodeLanguage::Python {
            let setup = kernel.execute_silent(PYTHON_SETUP).await?;
            if setup.outcome != Outcome::Completed {
                kernel.kill().await;
                return Err(start_failure(language, "its setup failed", &setup.stderr));
            }
        }
        Ok(kernel)
    }

    /// tslab runs node and typescript.
    fn is_tslab(&self) -> bool {
        matches!(self.language, CodeLanguage::Node | CodeLanguage::Typescript)
    }

    /// Whether the kernel process is gone (or its runtime jail is).
    pub fn is_dead(&self) -> bool {
        *self.ended.borrow() || self.runtime.has_ended()
    }

    /// Whether the runtime jail the kernel ran in has ended.
    pub fn runtime_ended(&self) -> bool {
        self.runtime.has_ended()
    }

    /// Whether `runtime` is the jail the kernel runs in.
    pub fn runs_in(&self, runtime: &Arc<RunningJail>) -> bool {
        Arc::ptr_eq(&self.runtime, runtime)
    }

    /// `idle`, `busy` or `dead`.
    pub fn state(&self) -> &'static str {
        if self.is_dead() {
            "dead"
        } else if self.busy.load(Ordering::SeqCst) {
            "busy"
        } else {
            "idle"
        }
    }

    pub fn execution_count(&self) -> u64 {
        self.execution_count.load(Ordering::SeqCst)
    }

    /// Interrupts what the kernel runs (SIGINT, ipykernel's and
    /// bash_kernel's interrupt mode).
    pub async fn interrupt(&self) -> Result<(), Error> {
        self.runtime
            .executor()
            .signal(self.pid, libc::SIGINT)
            .await
            .map_err(|e| Error::internal(e.to_string()))
    }

    /// Kills the kernel process.
    pub async fn kill(&self) {
        let _ = self.runtime.executor().signal(self.pid, libc::SIGKILL).await;
    }

    /// Runs `code`, interrupting it after `timeout`; `observer` is told
    /// the output (streams and rich results, not the error) as it comes.
    pub async fn execute(
        &self,
        code: &str,
        timeout: Option<Duration>,
        observer: Option<&Observer>,
    ) -> Result<Execution, Error> {
        self.busy.store(true, Ordering::SeqCst);
        let result = self.run(code, false, timeout, observer).await;
        self.busy.store(false, Ordering::SeqCst);
        result
    }

    /// Runs `code` without history or output counters (setup, env).
    pub async fn execute_silent(&self, code: &str) -> Result<Execution, Error> {
        self.run(code, true, Some(START_TIMEOUT), None).await
    }

    async fn run(
        &self,
        code: &str,
        silent: bool,
        timeout: Option<Duration>,
        observer: Option<&Observer>,
    ) -> Result<Execution, Error> {
        let mut channels = self.channels.lock().await;
        let settle = *lock(&self.settle_until);
        if let Some(settle) = settle {
            tokio::time::sleep_until(settle.into()).await;
        }
        let execution = self.run_locked(&mut channels, code, silent, timeout, observer).await;
        let failed = !matches!(&execution, Ok(e) if e.outcome == Outcome::Completed);
        *lock(&self.settle_until) = (self.is_tslab() && failed).then(|| Instant::now() + TSLAB_SETTLE);
        execution
    }

    async fn run_locked(
        &self,
        channels: &mut Channels,
        code: &str,
        silent: bool,
        timeout: Option<Duration>,
        observer: Option<&Observer>,
    ) -> Result<Execution, Error> {
        let Channels { shell, iopub } = channels;
        let request = JupyterMessage::new(
            ExecuteRequest {
                code: code.to_owned(),
                silent,
                store_history: !silent,
                user_expressions: None,
                allow_stdin: false,
                stop_on_error: true,
            },
            None,
        );
        let msg_id = request.header.msg_id.clone();
        let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let mut interrupt_at = timeout.map_or(far, |t| Instant::now() + t);
        // A kernel that stops reading cannot hold the call past its timeout.
        match tokio::time::timeout_at(interrupt_at.into(), shell.send(request)).await {
            Ok(sent) => sent.map_err(|e| Error::internal(format!("sending to the kernel: {e}")))?,
            Err(_) => {
                self.kill().await;
                let error =
                    died("the kernel did not take the code before its timeout and was killed; its state is lost");
                return Ok(Collected::default().finish(Outcome::Died, Some(error)));
            }
        }

        let mut collected = Collected {
            observer: observer.cloned(),
            ..Collected::default()
        };
        let mut replied: Option<ReplyStatus> = None;
        // An execute reply that does not decode (tslab's `abort`) ends the
        // call when the kernel is idle again.
        let mut undecodable: Option<String> = None;
        let mut idle = false;
        let mut ended = self.ended.clone();
        let mut kill_at = far;
        let mut timed_out = false;
        let ours = |m: &JupyterMessage| m.parent_header.as_ref().is_some_and(|h| h.msg_id == msg_id);
        while !(idle && (replied.is_some() || undecodable.is_some())) {
            tokio::select! {
                message = iopub.read() => match message {
                    Ok(message) if ours(&message) => {
                        if let JupyterMessageContent::Status(status) = &message.content {
                            idle |= status.execution_state == ExecutionState::Idle;
                        } else {
                            collected.take(message.content);
                        }
                    }
                    Ok(_) => {}
                    Err(err) => tracing::debug!(%err, kernel = %self.id, "an iopub message that does not decode"),
                },
                message = shell.read(), if replied.is_none() && undecodable.is_none() => match message {
                    Ok(message) if ours(&message) => {
                        if let JupyterMessageContent::ExecuteReply(reply) = &message.content {
                            if !silent {
                                self.execution_count.store(reply.execution_count.0 as u64, Ordering::SeqCst);
                            }
                            replied = Some(reply.status.clone());
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::debug!(%err, kernel = %self.id, "a shell message that does not decode");
                        // Only one execution is in flight; other replies
                        // (the start's kernel_info) are not this call's.
                        let err = err.to_string();
                        if err.contains("`execute_reply`") {
                            undecodable = Some(err);
                        }
                    }
                },
                () = tokio::time::sleep_until(interrupt_at.into()) => {
                    timed_out = true;
                    interrupt_at = far;
                    kill_at = Instant::now() + INTERRUPT_GRACE;
                    let _ = self.interrupt().await;
                }
                () = tokio::time::sleep_until(kill_at.into()) => {
                    self.kill().await;
                    return Ok(collected.finish(Outcome::Died, Some(died("the kernel ignored the interrupt at its timeout and was killed; its state is lost"))));
                }
                () = wait_ended(&mut ended) => {
                    let why = if self.oversized.load(Ordering::SeqCst) {
                        format!("the kernel sent a message over {} MiB and was stopped; its state is lost", MAX_MESSAGE >> 20)
                    } else {
                        "the kernel died during the call; its state is lost".to_owned()
                    };
                    return Ok(collected.finish(Outcome::Died, Some(died(&why))));
                }
            }
        }
        if timed_out {
            let ms = timeout.map_or(0, |t| t.as_millis());
            // The interrupt's own KeyboardInterrupt is the timeout's.
            collected.parts.retain(|p| !matches!(p, CodeResultPart::Error { .. }));
            collected.error = None;
            let error = CodeError {
                name: "TimeoutError".into(),
                message: format!("interrupted after its timeout of {ms} ms; the kernel and its state live on"),
                traceback: None,
            };
            return Ok(collected.finish(Outcome::TimedOut, Some(error)));
        }
        let outcome = match (&replied, &collected.error) {
            (Some(ReplyStatus::Ok), None) => Outcome::Completed,
            _ => Outcome::Raised,
        };
        if outcome == Outcome::Raised && collected.error.is_none() {
            let error = match (&replied, undecodable) {
                (None, Some(why)) => CodeError {
                    name: "Error".into(),
                    message: format!("the kernel's reply does not decode: {why}"),
                    traceback: None,
                },
                // tslab reports a failure on stderr only.
                _ if self.is_tslab() => parts::error_from_stderr(&collected.stderr),
                _ => CodeError {
                    name: "Error".into(),
                    message: "the kernel reported an error without details".into(),
                    traceback: None,
                },
            };
            collected.push(Some(parts::error_part(&error)));
            collected.error = Some(error);
        }
        let error = collected.error.take();
        Ok(collected.finish(outcome, error))
    }
}

/// The kernel's connection settings, as `transport` reaches them.
fn connection_info(transport: Transport, ip: &str, ports: Ports, key: &str) -> ConnectionInfo {
    ConnectionInfo {
        ip: ip.to_owned(),
        transport,
        shell_port: ports.shell,
        iopub_port: ports.iopub,
        stdin_port: ports.stdin,
        control_port: ports.control,
        hb_port: ports.hb,
        key: key.to_owned(),
        signature_scheme: "hmac-sha256".into(),
        kernel_name: None,
    }
}

/// Whether a failed start says the kernel could not bind a port
/// (ipykernel's ZMQError, Node's EADDRINUSE).
fn port_taken(message: &str) -> bool {
    message.contains("Address already in use") || message.contains("EADDRINUSE")
}

/// The shell command that runs a kernel with its connection file in `$f`.
fn launcher(language: CodeLanguage) -> &'static str {
    match language {
        CodeLanguage::Python => "python3 -m ipykernel_launcher -f \"$f\"",
        CodeLanguage::Bash => "python3 -m bash_kernel -f \"$f\"",
        CodeLanguage::Node => "tslab kernel --js --config-path \"$f\"",
        CodeLanguage::Typescript => "tslab kernel --config-path \"$f\"",
    }
}

fn start_failure(language: CodeLanguage, why: &str, stderr: &str) -> Error {
    let hint = if stderr.contains("No module named") {
        " (the workspace needs a flavor with the kernel: `paddock flavors install python-data` on the server's host, then create the workspace with flavors [\"python-data\"])"
    } else if stderr.contains("tslab: not found") {
        " (the workspace needs a flavor with the kernel: `paddock flavors install typescript` on the server's host, then create the workspace with flavors [\"typescript\"])"
    } else {
        ""
    };
    let stderr = stderr.trim();
    let tail = if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends with: {}", crate::services::tail(stderr, 2000))
    };
    Error::new(
        ErrorCode::KernelFailed,
        format!("the {} kernel did not start: {why}{hint}{tail}", language.as_str()),
    )
}

fn died(message: &str) -> CodeError {
    CodeError {
        name: "KernelDied".into(),
        message: message.into(),
        traceback: None,
    }
}

/// Resolves when the kernel process has ended.
async fn wait_ended(ended: &mut watch::Receiver<bool>) {
    let _ = ended.wait_for(|ended| *ended).await;
}

/// A session id for the client's messages.
fn uuid_like() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Reads the kernel's own stdout and stderr (keeping stderr's tail) so it
/// never blocks on a full pipe, and flags its end.
fn drain_and_watch(
    io: ProcessIo,
    exit: tokio::sync::oneshot::Receiver<ExitStatus>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    ended: watch::Sender<bool>,
) {
    if let ProcessIo::Pipes {
        stdin,
        mut stdout,
        mut stderr,
    } = io
    {
        drop(stdin);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while matches!(stdout.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut tail = stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
        });
    }
    tokio::spawn(async move {
        let _ = exit.await;
        let _ = ended.send(true);
    });
}

/// Waits until the kernel listens on every port (it binds them all before
/// it serves).
async fn wait_listening(runtime: &RunningJail, ports: Ports, ended: &watch::Receiver<bool>) -> Result<(), Error> {
    for port in ports.all() {
        loop {
            if *ended.borrow() {
                return Err(Error::new(ErrorCode::KernelFailed, "it exited"));
            }
            if runtime.executor().connect(port).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    Ok(())
}

/// Asks for the kernel's info until iopub carries a message about it, so
/// the subscription is live before the first execution.
async fn handshake(channels: &mut Channels, ended: &watch::Receiver<bool>) -> Result<(), Error> {
    loop {
        if *ended.borrow() {
            return Err(Error::new(ErrorCode::KernelFailed, "it exited"));
        }
        let request = JupyterMessage::new(KernelInfoRequest {}, None);
        let msg_id = request.header.msg_id.clone();
        channels.shell.send(request).await.map_err(Error::internal)?;
        let heard = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match channels.iopub.read().await {
                    Ok(m) if m.parent_header.as_ref().is_some_and(|h| h.msg_id == msg_id) => return,
                    _ => {}
                }
            }
        })
        .await;
        if heard.is_ok() {
            // The info reply itself is read (and dropped) by the next call's
            // shell loop, which only takes its own.
            return Ok(());
        }
    }
}

/// Output of one call as it arrives, bounded.
#[derive(Default)]
struct Collected {
    /// Told what is kept, as it is.
    observer: Option<Observer>,
    stdout: String,
    stderr: String,
    dropped_stream: usize,
    parts: Vec<CodeResultPart>,
    parts_bytes: usize,
    dropped_parts: usize,
    error: Option<CodeError>,
}

impl Collected {
    fn take(&mut self, content: JupyterMessageContent) {
        match content {
            JupyterMessageContent::StreamContent(stream) => {
                let target = match stream.name {
                    Stdio::Stdout => &mut self.stdout,
                    Stdio::Stderr => &mut self.stderr,
                };
                let room = MAX_STREAM.saturating_sub(target.len());
                let mut cut = stream.text.len().min(room);
                while !stream.text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let kept = &stream.text[..cut];
                target.push_str(kept);
                self.dropped_stream += stream.text.len() - cut;
                if let (Some(observer), false) = (&self.observer, kept.is_empty()) {
                    let event = match stream.name {
                        Stdio::Stdout => CodeEvent::Stdout(kept.to_owned()),
                        Stdio::Stderr => CodeEvent::Stderr(kept.to_owned()),
                    };
                    let _ = observer.send(event);
                }
            }
            JupyterMessageContent::ExecuteResult(result) => self.push(parts::bundle_part(&result.data)),
            JupyterMessageContent::DisplayData(display) => self.push(parts::bundle_part(&display.data)),
            JupyterMessageContent::ErrorOutput(error) => {
                let error = parts::error_of(&error);
                self.push(Some(parts::error_part(&error)));
                self.error = Some(error);
            }
            _ => {}
        }
    }

    fn push(&mut self, part: Option<CodeResultPart>) {
        let Some(part) = part else { return };
        let size = serde_json::to_vec(&part).map_or(0, |v| v.len());
        if self.parts_bytes + size > MAX_PARTS_BYTES {
            self.dropped_parts += 1;
            return;
        }
        self.parts_bytes += size;
        if let (Some(observer), false) = (&self.observer, matches!(part, CodeResultPart::Error { .. })) {
            let _ = observer.send(CodeEvent::Result(part.clone()));
        }
        self.parts.push(part);
    }

    fn finish(mut self, outcome: Outcome, error: Option<CodeError>) -> Execution {
        if self.dropped_stream > 0 {
            self.stderr.push_str(&format!(
                "\n[paddock: {} bytes of output left out past {} MiB]\n",
                self.dropped_stream,
                MAX_STREAM >> 20
            ));
        }
        if self.dropped_parts > 0 {
            self.stderr.push_str(&format!(
                "\n[paddock: {} results left out past {} MiB]\n",
                self.dropped_parts,
                MAX_PARTS_BYTES >> 20
            ));
        }
        if let (Some(error), Outcome::TimedOut | Outcome::Died) = (&error, outcome) {
            self.parts.push(parts::error_part(error));
        }
        Execution {
            outcome,
            stdout: self.stdout,
            stderr: self.stderr,
            parts: self.parts,
            error,
        }
    }
}

/// Run once in each new Python kernel: pandas frames and series also
/// give a table (`application/vnd.dataresource+json`, pandas' own table
/// schema), registered by type name so pandas is imported only by code
/// that uses it.
const PYTHON_SETUP: &str = r#"
def _paddock_setup():
    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName
    class TableSchemaFormatter(BaseFormatter):
        print_method = ObjectName("_repr_data_resource_")
        _return_type = (dict,)
    shell = get_ipython()
    formatter = TableSchemaFormatter(parent=shell.display_formatter)
    shell.display_formatter.formatters["application/vnd.dataresource+json"] = formatter
    def table(frame):
        import pandas
        with pandas.option_context("display.html.table_schema", True):
            return frame._repr_data_resource_()
    # pandas 3 names its classes' module `pandas`, pandas 2 the defining one.
    for module, name in [("pandas", "DataFrame"), ("pandas.core.frame", "DataFrame"), ("pandas", "Series"), ("pandas.core.series", "Series")]:
        formatter.for_type_by_name(module, name, table)
_paddock_setup()
del _paddock_setup
"#;

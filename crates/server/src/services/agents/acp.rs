//! One ACP server: an agent's process in a running workspace, spoken to
//! in JSON-RPC 2.0 over its stdin and stdout (one message per line), with
//! every envelope in both directions written to the database before it is
//! passed on, under an index that only grows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::{Error, ErrorCode};
use paddock_jail::{ExitStatus, ProcessIo};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, oneshot, watch};

use crate::db::{now_ms, AcpEventRow, Db};
use crate::services::lock;
use crate::services::runtime::RunningJail;

/// The longest line an agent may write (a message with a large file or
/// image in it still fits).
const MAX_LINE: usize = 8 << 20;
/// The longest a write to the agent's input may take (an agent that stops
/// reading, a paused workspace).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at storing one of the agent's messages before giving up on it.
const STORE_ATTEMPTS: u32 = 4;
/// Live envelopes buffered for slow SSE readers; one that falls further
/// behind reads the rest from the database.
const LIVE_BUFFER: usize = 1024;
/// Bytes of the agent's stderr kept to explain its failures.
const STDERR_TAIL: usize = 8 << 10;

/// The transcript of one server: appends in order, numbered from 1.
#[derive(Debug)]
pub struct Transcript {
    db: Db,
    pub workspace: String,
    pub server: String,
    last: tokio::sync::Mutex<i64>,
    live: broadcast::Sender<Arc<AcpEventRow>>,
}

impl Transcript {
    /// The transcript of `server`, continuing after `last`.
    pub fn new(db: Db, workspace: String, server: String, last: i64) -> Transcript {
        Transcript {
            db,
            workspace,
            server,
            last: tokio::sync::Mutex::new(last),
            live: broadcast::channel(LIVE_BUFFER).0,
        }
    }

    /// Stores an envelope and tells live readers; its index.
    pub async fn append(&self, outbound: bool, envelope: String) -> Result<i64, Error> {
        let mut last = self.last.lock().await;
        let event = AcpEventRow {
            index: *last + 1,
            outbound,
            envelope,
            created_at: now_ms(),
        };
        self.db.insert_acp_event(&self.workspace, &self.server, &event).await?;
        *last = event.index;
        let _ = self.live.send(Arc::new(event));
        Ok(*last)
    }

    /// Records that the agent process ended: a `_adapter/agent_exited`
    /// notification (as sandbox-agent's adapters send it; `reason` when
    /// paddock knows more) and the server's exit time.
    pub async fn record_exit(&self, code: Option<i32>, reason: Option<&str>) {
        let mut params = serde_json::json!({ "success": code == Some(0), "code": code });
        if let Some(reason) = reason {
            params["reason"] = reason.into();
        }
        let notice = serde_json::json!({ "jsonrpc": "2.0", "method": "_adapter/agent_exited", "params": params });
        if let Err(err) = self.append(false, notice.to_string()).await {
            tracing::warn!(message = %err.message, "storing an agent's exit failed");
        }
        if let Err(err) = self.db.acp_server_exited(&self.workspace, &self.server, now_ms()).await {
            tracing::warn!(%err, "recording an agent's exit failed");
        }
    }

    /// The index of the last envelope stored (0 when none).
    pub async fn last_index(&self) -> i64 {
        *self.last.lock().await
    }

    /// Live envelopes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AcpEventRow>> {
        self.live.subscribe()
    }
}

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

/// A running (or ended) agent process and the requests waiting on it.
#[derive(Debug)]
pub struct AcpServer {
    pub agent: String,
    pub created_at: i64,
    pub transcript: Arc<Transcript>,
    runtime: Arc<RunningJail>,
    pid: i32,
    stdin: Arc<tokio::sync::Mutex<Option<pipe::Sender>>>,
    /// Requests sent to the agent, by their JSON id, awaiting its answer.
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    exited: watch::Receiver<Option<Exit>>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    /// The phantom session whose tokens the agent holds.
    pub phantom_session: Option<String>,
    killed: AtomicBool,
}

/// A request waiting for the agent's answer; forgotten when its caller
/// stops waiting (answered, timed out, or gone).
struct Pending<'a> {
    server: &'a AcpServer,
    id: &'a str,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        lock(&self.server.pending).remove(self.id);
    }
}

/// What a POST carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Envelope {
    /// A request: its id as JSON text.
    Request(String),
    /// An answer to a request of the agent's.
    Response,
    /// Anything else (notifications; the agent judges the rest).
    Notification,
}

/// Sorts an envelope as JSON-RPC does.
pub fn classify(envelope: &Value) -> Envelope {
    let method = envelope.get("method").is_some_and(Value::is_string);
    match envelope.get("id") {
        Some(id) if method && !id.is_null() => Envelope::Request(id.to_string()),
        Some(_) if !method && (envelope.get("result").is_some() || envelope.get("error").is_some()) => {
            Envelope::Response
        }
        _ => Envelope::Notification,
    }
}

impl AcpServer {
    /// Takes over a started agent process: reads its output into the
    /// transcript until it ends.
    pub fn attach(
        agent: String,
        created_at: i64,
        transcript: Arc<Transcript>,
        runtime: Arc<RunningJail>,
        process: paddock_jail::StartedProcess,
        phantom_session: Option<String>,
    ) -> Result<Arc<AcpServer>, Error> {
        let ProcessIo::Pipes { stdin, stdout, stderr } = process.io else {
            return Err(Error::internal("an agent process was started without pipes"));
        };
        let (exit_tx, exited) = watch::channel(None);
        let server = Arc::new(AcpServer {
            agent,
            created_at,
            transcript,
            runtime,
            pid: process.pid,
            stdin: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            pending: Mutex::default(),
            exited,
            stderr_tail: Arc::default(),
            phantom_session,
            killed: AtomicBool::new(false),
        });
        tokio::spawn(keep_tail(stderr, server.stderr_tail.clone()));
        tokio::spawn(read_agent(server.clone(), stdout, process.exit, exit_tx));
        Ok(server)
    }

    /// Resolves once the agent process has ended.
    pub async fn wait_exit(&self) {
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(Option::is_some).await;
    }

    /// Whether the agent process has ended.
    pub fn exit(&self) -> Option<Exit> {
        *self.exited.borrow()
    }

    /// Sends `envelope` (already classified) to the agent, stored first.
    /// A request waits for the agent's answer (at most `timeout`).
    pub async fn send(&self, envelope: &Value, kind: Envelope, timeout: Duration) -> Result<Option<Value>, Error> {
        if let Some(exit) = self.exit() {
            return Err(self.exited_error(exit));
        }
        let waiting = match &kind {
            Envelope::Request(id) => {
                let (tx, rx) = oneshot::channel();
                let mut pending = lock(&self.pending);
                if pending.contains_key(id) {
                    return Err(Error::new(
                        ErrorCode::AcpServerConflict,
                        format!("a request with id {id} is already waiting for the agent's answer"),
                    ));
                }
                pending.insert(id.clone(), tx);
                Some((Pending { server: self, id }, rx))
            }
            _ => None,
        };
        // Stored and written under one lock: the transcript's order is the
        // agent's. The write runs to its end even if this request is
        // dropped, so no half line is left on the agent's input.
        let line = envelope.to_string();
        let written = {
            let mut stdin = self.stdin.clone().lock_owned().await;
            let transcript = self.transcript.clone();
            tokio::spawn(async move {
                transcript.append(true, line.clone()).await?;
                let Some(pipe) = stdin.as_mut() else {
                    return Err(Error::new(ErrorCode::AgentProcessExited, "the agent process has ended"));
                };
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                match tokio::time::timeout(WRITE_TIMEOUT, pipe.write_all(&bytes)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Error::new(
                        ErrorCode::AgentProcessExited,
                        format!("writing to the agent process failed: {e}"),
                    )),
                    Err(_) => {
                        // A half-written line would corrupt the next one.
                        *stdin = None;
                        Err(Error::new(
                            ErrorCode::AgentTimeout,
                            format!(
                                "the agent did not read its input for {} s (is the workspace paused?); its input is closed",
                                WRITE_TIMEOUT.as_secs()
                            ),
                        ))
                    }
                }
            })
            .await
            .map_err(Error::internal)?
        };
        written?;
        let Some((_pending, rx)) = waiting else {
            return Ok(None);
        };
        let mut exited = self.exited.clone();
        tokio::select! {
            biased;
            answer = rx => answer.map(Some).map_err(|_| self.exited_error(self.exit().unwrap_or(Exit { code: None, signal: None }))),
            _ = exited.wait_for(Option::is_some) => {
                Err(self.exited_error(self.exit().unwrap_or(Exit { code: None, signal: None })))
            }
            () = tokio::time::sleep(timeout) => {
                Err(Error::new(
                    ErrorCode::AgentTimeout,
                    format!("the agent did not answer within {} s", timeout.as_secs()),
                ))
            }
        }
    }

    fn exited_error(&self, exit: Exit) -> Error {
        let tail = String::from_utf8_lossy(&lock(&self.stderr_tail)).trim().to_owned();
        let how = match (exit.code, exit.signal) {
            (Some(code), _) => format!("has exited with code {code}"),
            (None, Some(libc::SIGKILL)) => "was killed (SIGKILL; most often the workspace's memory limit: coding agents need 1 to 2 GiB, e.g. `paddock ws create --memory 2g`)".to_owned(),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            (None, None) => "has exited".to_owned(),
        };
        let mut message = format!("the {} agent process {how}", self.agent);
        if !tail.is_empty() {
            message.push_str(&format!("; its stderr ends: {}", crate::services::tail(&tail, 2000)));
        }
        Error::new(ErrorCode::AgentProcessExited, message)
    }

    /// Ends the agent process (SIGTERM, then SIGKILL after `grace`).
    pub async fn kill(&self, grace: Duration) {
        if self.killed.swap(true, Ordering::SeqCst) || self.exit().is_some() {
            return;
        }
        // Signalled first: a write stuck on the agent's input holds the pipe.
        let executor = self.runtime.executor();
        let _ = executor.signal(self.pid, libc::SIGTERM).await;
        if let Ok(mut stdin) = self.stdin.try_lock() {
            stdin.take();
        }
        let mut exited = self.exited.clone();
        if tokio::time::timeout(grace, exited.wait_for(Option::is_some))
            .await
            .is_err()
        {
            let _ = executor.signal(self.pid, libc::SIGKILL).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), exited.wait_for(Option::is_some)).await;
        }
    }

    /// Whether the server's process runs in `runtime`.
    pub fn runs_in(&self, runtime: &Arc<RunningJail>) -> bool {
        Arc::ptr_eq(&self.runtime, runtime)
    }
}

/// Reads the agent's messages into the transcript (answers to waiting
/// requests handed over), then records its end.
async fn read_agent(
    server: Arc<AcpServer>,
    stdout: pipe::Receiver,
    exit: oneshot::Receiver<ExitStatus>,
    exit_tx: watch::Sender<Option<Exit>>,
) {
    let mut reader = BufReader::with_capacity(64 << 10, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() >= MAX_LINE {
            tracing::warn!(agent = %server.agent, "an agent wrote a line over the limit; stopping it");
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let Ok(envelope) = serde_json::from_str::<Value>(text) else {
            tracing::debug!(agent = %server.agent, line = %text, "an agent wrote a line that is not JSON");
            continue;
        };
        let compact = envelope.to_string();
        if !store_with_retries(&server.transcript, compact).await {
            tracing::error!(agent = %server.agent, "storing an agent's message kept failing; stopping it");
            break;
        }
        if classify(&envelope) == Envelope::Response {
            if let Some(id) = envelope.get("id") {
                if let Some(waiter) = lock(&server.pending).remove(&id.to_string()) {
                    let _ = waiter.send(envelope);
                }
            }
        }
    }
    // A reader that stopped early leaves the process to be killed.
    if !server.killed.load(Ordering::SeqCst) {
        let _ = server.runtime.executor().signal(server.pid, libc::SIGKILL).await;
    }
    let status = exit.await.ok();
    let (code, signal) = match status {
        Some(ExitStatus::Code(code)) => (Some(code), None),
        Some(ExitStatus::Signal(signal)) => (None, Some(signal)),
        None => (None, None),
    };
    server.transcript.record_exit(code, None).await;
    lock(&server.pending).clear();
    let _ = exit_tx.send(Some(Exit { code, signal }));
}

/// Stores one of the agent's messages, retrying a failing database a few
/// times (a busy SQLite, a PostgreSQL failover) before giving up.
async fn store_with_retries(transcript: &Transcript, envelope: String) -> bool {
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=STORE_ATTEMPTS {
        match transcript.append(false, envelope.clone()).await {
            Ok(_) => return true,
            Err(err) if attempt < STORE_ATTEMPTS => {
                tracing::warn!(message = %err.message, attempt, "storing an agent's message failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(_) => {}
        }
    }
    false
}

async fn keep_tail(mut stderr: pipe::Receiver, tail: Arc<Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut kept = lock(&tail);
        kept.extend_from_slice(&buf[..n]);
        let excess = kept.len().saturating_sub(STDERR_TAIL);
        kept.drain(..excess);
    }
}

//! A running workspace's processes (RUNTIME.md §1–3): one runtime jail
//! per running workspace, and the host's table of the processes started in
//! it, with their output rings, input and terminals. The jail's init starts
//! each process; the host keeps everything the API reports, so jailed code
//! cannot tamper with it.
//!
//! - [`log`]: output rings and followers.
//!
//! Which workspace runs, and when it stops, is the workspaces service's
//! concern (`services/workspaces/running.rs`).

pub mod log;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use paddock_api::runtime::processes::{
    ProcessConfig, ProcessCreateRequest, ProcessInfo, ProcessInputRequest, ProcessLogsStream, ProcessOwner,
    ProcessRunRequest, ProcessRunResponse, ProcessState, ProcessTerminalSize,
};
use paddock_api::{Error, ErrorCode};
use paddock_jail::{ExitStatus, JailControl, JailError, JailExecutor, ProcessIo, ProcessSpec, TerminalSize};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;

use crate::db::now_ms;
use crate::services::lock;
use log::{Chunk, LogRing};

/// Size of a terminal opened without one (sandbox-agent's default).
const DEFAULT_TERMINAL: TerminalSize = TerminalSize { cols: 80, rows: 24 };
/// Bytes read from a process's stream at once.
const READ_CHUNK: usize = 64 << 10;
/// Most exited records kept per workspace (the oldest go first).
const MAX_EXITED_RECORDS: usize = 128;
/// After a process exits, how long output still held open by children it
/// left behind is read.
const OUTPUT_GRACE: Duration = Duration::from_millis(250);
/// How long an input call waits for a process that does not read it.
const INPUT_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bounds of the process config (a client may lower the limits, never
/// raise them past these).
const CONFIG_CEILING: ProcessConfig = ProcessConfig {
    max_concurrent_processes: 256,
    default_run_timeout_ms: 3_600_000,
    max_run_timeout_ms: 3_600_000,
    max_output_bytes: 16 << 20,
    max_log_bytes_per_process: 32 << 20,
    max_input_bytes_per_request: 1 << 20,
};

/// A workspace's runtime jail and its processes.
#[derive(Debug)]
pub struct RunningJail {
    executor: JailExecutor,
    control: JailControl,
    /// The workspace's tenant.
    tenant: String,
    /// The last runtime call (recorded in the database at most every few
    /// seconds, for the idle timeout).
    last_activity: Mutex<Instant>,
    started_at: i64,
    next_id: AtomicU64,
    /// Runs under way (they count against `maxConcurrentProcesses`).
    runs: std::sync::atomic::AtomicUsize,
    processes: Mutex<BTreeMap<u64, Arc<Managed>>>,
    config: Mutex<ProcessConfig>,
}

/// One process of the table.
#[derive(Debug)]
pub struct Managed {
    id: String,
    pid: i32,
    info: Mutex<ProcessInfo>,
    input: tokio::sync::Mutex<Option<Input>>,
    terminal: Option<Arc<AsyncFd<OwnedFd>>>,
    log: Mutex<LogRing>,
}

#[derive(Debug)]
enum Input {
    Pipe(pipe::Sender),
    Terminal(Arc<AsyncFd<OwnedFd>>),
}

impl RunningJail {
    /// The table of a freshly started runtime jail.
    pub fn new(executor: JailExecutor, control: JailControl, tenant: String) -> RunningJail {
        RunningJail {
            executor,
            control,
            tenant,
            last_activity: Mutex::new(Instant::now()),
            started_at: now_ms(),
            next_id: AtomicU64::new(1),
            runs: std::sync::atomic::AtomicUsize::new(0),
            processes: Mutex::new(BTreeMap::new()),
            config: Mutex::new(ProcessConfig::default()),
        }
    }

    /// The workspace's tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Notes a runtime call; `true` when the database should hear of it
    /// (the first in `every`).
    pub fn note_activity(&self, every: Duration) -> bool {
        let mut last = lock(&self.last_activity);
        if last.elapsed() < every {
            return false;
        }
        *last = Instant::now();
        true
    }

    /// The jail's control (freeze, thaw, kill, stats).
    pub fn control(&self) -> &JailControl {
        &self.control
    }

    /// The jail's executor (connections for previews).
    pub fn executor(&self) -> &JailExecutor {
        &self.executor
    }

    /// Whether the jail has ended.
    pub fn has_ended(&self) -> bool {
        self.executor.is_closed()
    }

    /// When the jail started (ms since the epoch).
    pub fn started_at(&self) -> i64 {
        self.started_at
    }

    /// Processes still running.
    pub fn running_count(&self) -> usize {
        lock(&self.processes)
            .values()
            .filter(|p| lock(&p.info).status == ProcessState::Running)
            .count()
    }

    /// The process limits.
    pub fn config(&self) -> ProcessConfig {
        *lock(&self.config)
    }

    /// Replaces the process limits (validated).
    pub fn set_config(&self, config: ProcessConfig) -> Result<ProcessConfig, Error> {
        let bad = |what: &str| Err(Error::new(ErrorCode::BadRequest, format!("{what} must be at least 1")));
        if config.max_concurrent_processes == 0 {
            return bad("maxConcurrentProcesses");
        }
        if config.default_run_timeout_ms == 0 || config.max_run_timeout_ms == 0 {
            return bad("the run timeouts");
        }
        if config.max_output_bytes == 0
            || config.max_log_bytes_per_process == 0
            || config.max_input_bytes_per_request == 0
        {
            return bad("byte limits");
        }
        // The server's ceilings hold whatever a client asks (its memory is
        // the host's), and the default never exceeds the maximum.
        let ceiling = CONFIG_CEILING;
        let max_run_timeout_ms = config.max_run_timeout_ms.min(ceiling.max_run_timeout_ms);
        let config = ProcessConfig {
            max_concurrent_processes: config.max_concurrent_processes.min(ceiling.max_concurrent_processes),
            default_run_timeout_ms: config.default_run_timeout_ms.min(max_run_timeout_ms),
            max_run_timeout_ms,
            max_output_bytes: config.max_output_bytes.min(ceiling.max_output_bytes),
            max_log_bytes_per_process: config.max_log_bytes_per_process.min(ceiling.max_log_bytes_per_process),
            max_input_bytes_per_request: config
                .max_input_bytes_per_request
                .min(ceiling.max_input_bytes_per_request),
        };
        *lock(&self.config) = config;
        Ok(config)
    }

    /// Every process record, oldest first.
    pub fn list(&self, owner: Option<ProcessOwner>) -> Vec<ProcessInfo> {
        lock(&self.processes)
            .values()
            .map(|p| lock(&p.info).clone())
            .filter(|info| owner.is_none_or(|o| info.owner == o))
            .collect()
    }

    /// One process (404 when unknown).
    pub fn get(&self, id: &str) -> Result<Arc<Managed>, Error> {
        lock(&self.processes)
            .values()
            .find(|p| p.id == id)
            .cloned()
            .ok_or_else(|| process_not_found(id))
    }

    /// Runs a command to its end (or deadline), capturing its output.
    pub async fn run(&self, request: ProcessRunRequest) -> Result<ProcessRunResponse, Error> {
        let config = self.config();
        // Clamped to the maximum, as sandbox-agent does.
        let timeout_ms = request
            .timeout_ms
            .unwrap_or(config.default_run_timeout_ms)
            .clamp(1, config.max_run_timeout_ms);
        let cap = request
            .max_output_bytes
            .unwrap_or(config.max_output_bytes)
            .min(config.max_output_bytes);
        let _run = self.count_run(&config)?;
        let started = Instant::now();
        let spec = spec_of(request.command, request.args, request.cwd, request.env, None)?;
        let process = self.start(spec).await?;
        let ProcessIo::Pipes { stdin, stdout, stderr } = process.io else {
            return Err(Error::internal("a run without pipes"));
        };
        drop(stdin);
        let pid = process.pid;
        let mut exit = process.exit;
        let (mut out, mut err) = (Captured::default(), Captured::default());
        let mut timed_out = false;
        let status = {
            let output = async { tokio::join!(out.read(stdout, cap), err.read(stderr, cap)) };
            tokio::pin!(output);
            let mut output_done = false;
            let run = async {
                tokio::select! {
                    status = &mut exit => status,
                    _ = &mut output => {
                        output_done = true;
                        (&mut exit).await
                    }
                }
            };
            let status = match tokio::time::timeout(Duration::from_millis(timeout_ms), run).await {
                Ok(status) => status.unwrap_or(ExitStatus::Signal(libc::SIGKILL)),
                Err(_) => {
                    timed_out = true;
                    // The whole group: children holding the output go too.
                    let _ = self.executor.signal(pid, libc::SIGKILL).await;
                    tokio::time::timeout(OUTPUT_GRACE * 4, &mut exit)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(ExitStatus::Signal(libc::SIGKILL))
                }
            };
            // What was written before the end, and what children still
            // holding the streams write right after it.
            if !output_done {
                let _ = tokio::time::timeout(OUTPUT_GRACE, output).await;
            }
            status
        };
        let (stdout, stdout_truncated) = (out.bytes, out.truncated);
        let (stderr, stderr_truncated) = (err.bytes, err.truncated);
        Ok(ProcessRunResponse {
            exit_code: match status {
                ExitStatus::Code(code) if !timed_out => Some(code),
                _ => None,
            },
            timed_out,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            stdout_truncated,
            stderr_truncated,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    /// Starts a managed process.
    pub async fn create(self: &Arc<Self>, request: ProcessCreateRequest) -> Result<ProcessInfo, Error> {
        self.create_as(request, ProcessOwner::User).await
    }

    /// [`RunningJail::create`] for `owner` (the desktop's own processes
    /// are listed as `desktop`).
    pub async fn create_as(
        self: &Arc<Self>,
        request: ProcessCreateRequest,
        owner: ProcessOwner,
    ) -> Result<ProcessInfo, Error> {
        let config = self.config();
        self.check_room(&config)?;
        let terminal = request.tty.then_some(DEFAULT_TERMINAL);
        let spec = spec_of(
            request.command.clone(),
            request.args.clone(),
            request.cwd.clone(),
            request.env,
            terminal,
        )?;
        let process = self.start(spec).await?;
        let number = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("proc_{number}");
        let info = ProcessInfo {
            id: id.clone(),
            command: request.command,
            args: request.args,
            cwd: request.cwd,
            tty: request.tty,
            interactive: request.interactive,
            owner,
            status: ProcessState::Running,
            pid: Some(process.pid),
            exit_code: None,
            created_at_ms: now_ms(),
            exited_at_ms: None,
        };
        let (input, terminal, readers) = match process.io {
            ProcessIo::Pipes { stdin, stdout, stderr } => {
                // Open either way, as sandbox-agent keeps it.
                (Some(Input::Pipe(stdin)), None, Readers::Pipes(stdout, stderr))
            }
            ProcessIo::Terminal(master) => {
                let master = Arc::new(master);
                (
                    Some(Input::Terminal(master.clone())),
                    Some(master.clone()),
                    Readers::Terminal(master),
                )
            }
        };
        let managed = Arc::new(Managed {
            id,
            pid: process.pid,
            info: Mutex::new(info.clone()),
            input: tokio::sync::Mutex::new(input),
            terminal,
            log: Mutex::new(LogRing::new(config.max_log_bytes_per_process)),
        });
        {
            let mut table = lock(&self.processes);
            table.insert(number, managed.clone());
            // Forget the oldest exited records (and their output) beyond
            // the cap.
            let exited: Vec<u64> = table
                .iter()
                .filter(|(_, p)| lock(&p.info).status == ProcessState::Exited)
                .map(|(k, _)| *k)
                .collect();
            for key in exited.iter().take(exited.len().saturating_sub(MAX_EXITED_RECORDS)) {
                table.remove(key);
            }
        }
        tokio::spawn(supervise(managed, readers, process.exit));
        Ok(info)
    }

    /// Sends `signal` to a process (and its group); with `wait`, waits up
    /// to that long for it to end. Answers its record.
    pub async fn signal(&self, id: &str, signal: i32, wait: Option<Duration>) -> Result<ProcessInfo, Error> {
        let process = self.get(id)?;
        let mut ended = process.log_subscription();
        if lock(&process.info).status == ProcessState::Running {
            match self.executor.signal(process.pid, signal).await {
                Ok(()) => {}
                // It ended meanwhile: nothing to signal.
                Err(JailError::Setup { .. }) => {}
                Err(JailError::Stopped) => {}
                Err(err) => return Err(Error::internal(err.to_string())),
            }
            if let Some(wait) = wait {
                let _ = tokio::time::timeout(wait, ended.wait_for(|(_, closed)| *closed)).await;
                // The exit is recorded right after the output closes.
                let deadline = Instant::now() + Duration::from_millis(100);
                while lock(&process.info).status == ProcessState::Running && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }
        let info = lock(&process.info).clone();
        Ok(info)
    }

    /// Forgets an exited process (409 while it runs).
    pub fn delete(&self, id: &str) -> Result<(), Error> {
        let mut table = lock(&self.processes);
        let key = table
            .iter()
            .find(|(_, p)| p.id == id)
            .map(|(k, p)| (*k, lock(&p.info).status))
            .ok_or_else(|| process_not_found(id))?;
        if key.1 == ProcessState::Running {
            return Err(Error::new(
                ErrorCode::ProcessConflict,
                format!("process {id} is still running; stop or kill it first"),
            ));
        }
        table.remove(&key.0);
        Ok(())
    }

    /// Starts a process to the end even if the caller goes away meanwhile
    /// (a process the init started is never left out of the table).
    async fn start(&self, spec: ProcessSpec) -> Result<paddock_jail::StartedProcess, Error> {
        let executor = self.executor.clone();
        tokio::spawn(async move { executor.start(spec).await })
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(start_error)
    }

    /// Counts a run among the running processes until the guard drops
    /// (409 at the limit).
    fn count_run(&self, config: &ProcessConfig) -> Result<RunGuard<'_>, Error> {
        self.check_room(config)?;
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(RunGuard(&self.runs))
    }

    fn check_room(&self, config: &ProcessConfig) -> Result<(), Error> {
        if self.running_count() + self.runs.load(Ordering::SeqCst) >= config.max_concurrent_processes {
            return Err(Error::new(
                ErrorCode::ProcessConflict,
                format!(
                    "{} processes already run in this workspace (maxConcurrentProcesses)",
                    config.max_concurrent_processes
                ),
            ));
        }
        Ok(())
    }
}

impl Managed {
    /// Its record.
    pub fn info(&self) -> ProcessInfo {
        lock(&self.info).clone()
    }

    /// Whether it runs on a terminal.
    pub fn is_tty(&self) -> bool {
        self.terminal.is_some()
    }

    /// Retained output.
    pub fn read_log(&self, stream: ProcessLogsStream, since: Option<u64>, tail: Option<usize>) -> Vec<Chunk> {
        lock(&self.log).read(stream, since, tail)
    }

    /// Woken on new output and at its end: `(last sequence, ended)`.
    pub fn log_subscription(&self) -> tokio::sync::watch::Receiver<(u64, bool)> {
        lock(&self.log).subscribe()
    }

    /// Writes to its input (409 when it takes none).
    /// With `end`, closes a pipe input after the data (the process reads
    /// end of file); on a terminal, `end` types the end-of-file character.
    pub async fn write_input(&self, data: &[u8], end: bool) -> Result<usize, Error> {
        let mut input = tokio::time::timeout(INPUT_TIMEOUT, self.input.lock())
            .await
            .map_err(|_| busy_input())?;
        let no_input = || {
            Error::new(
                ErrorCode::ProcessConflict,
                "the process has exited, or its input is closed",
            )
        };
        let write = async {
            match input.as_mut().ok_or_else(no_input)? {
                Input::Pipe(sender) => Ok::<_, Error>(sender.write_all(data).await),
                Input::Terminal(master) => {
                    let written = write_terminal(master, data).await;
                    Ok(match (written, end) {
                        (Ok(()), true) => write_terminal(master, b"\x04").await,
                        (other, _) => other,
                    })
                }
            }
        };
        let written = tokio::time::timeout(INPUT_TIMEOUT, write)
            .await
            .map_err(|_| busy_input())??;
        match written {
            Ok(()) => {
                if end && matches!(*input, Some(Input::Pipe(_))) {
                    *input = None;
                }
                Ok(data.len())
            }
            Err(_) => {
                *input = None;
                Err(Error::new(
                    ErrorCode::ProcessConflict,
                    "the process no longer reads its input",
                ))
            }
        }
    }

    /// Resizes its terminal (400 when it has none).
    pub fn resize(&self, size: ProcessTerminalSize) -> Result<(), Error> {
        let master = self.terminal.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::ProcessConflict,
                "this process has no terminal (create it with tty)",
            )
        })?;
        if size.cols == 0 || size.rows == 0 {
            return Err(Error::new(ErrorCode::BadRequest, "cols and rows must be at least 1"));
        }
        paddock_jail::resize_terminal(
            master.get_ref(),
            TerminalSize {
                cols: size.cols,
                rows: size.rows,
            },
        )
        .map_err(|e| Error::internal(e.to_string()))
    }
}

fn process_not_found(id: &str) -> Error {
    Error::new(ErrorCode::NotFound, format!("process {id} not found"))
        .with_details(serde_json::json!({ "id": id, "resource": "process" }))
}

/// Decodes an input call's data (`base64` by default, or `utf8`/`text`).
pub fn decode_input(request: &ProcessInputRequest, default: &str, max: usize) -> Result<Vec<u8>, Error> {
    let data = match request.encoding.as_deref().unwrap_or(default) {
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(request.data.as_bytes())
            .map_err(|e| Error::new(ErrorCode::BadRequest, format!("data is not base64: {e}")))?,
        "utf8" | "utf-8" | "text" => request.data.clone().into_bytes(),
        other => {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("unknown encoding {other:?}: base64, utf8 or text"),
            ))
        }
    };
    if data.len() > max {
        return Err(Error::new(
            ErrorCode::BodyTooLarge,
            format!(
                "input is {} bytes; at most {max} per request (maxInputBytesPerRequest)",
                data.len()
            ),
        ));
    }
    Ok(data)
}

/// Counts a run among the running processes while it lives.
struct RunGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn busy_input() -> Error {
    Error::new(
        ErrorCode::ProcessConflict,
        "the process is not reading its input (nothing was written for 5 s)",
    )
}

/// What reads a process's output.
enum Readers {
    Pipes(pipe::Receiver, pipe::Receiver),
    Terminal(Arc<AsyncFd<OwnedFd>>),
}

/// Moves a process's output into its ring and records its end: the
/// process has exited when its exit status arrives (children it left in
/// the background may still hold its output, which is read for
/// `OUTPUT_GRACE` more, then dropped).
async fn supervise(process: Arc<Managed>, readers: Readers, mut exit: tokio::sync::oneshot::Receiver<ExitStatus>) {
    let output = async {
        match readers {
            Readers::Pipes(stdout, stderr) => {
                tokio::join!(
                    pump(stdout, &process, ProcessLogsStream::Stdout),
                    pump(stderr, &process, ProcessLogsStream::Stderr)
                );
            }
            Readers::Terminal(master) => {
                let mut buf = vec![0u8; READ_CHUNK];
                while let Ok(n) = read_terminal(&master, &mut buf).await {
                    if n == 0 {
                        break;
                    }
                    lock(&process.log).push(ProcessLogsStream::Pty, &buf[..n]);
                }
            }
        }
    };
    tokio::pin!(output);
    let mut output_done = false;
    let status = tokio::select! {
        status = &mut exit => status,
        () = &mut output => {
            output_done = true;
            (&mut exit).await
        }
    };
    let status = status.unwrap_or(ExitStatus::Signal(libc::SIGKILL));
    if !output_done {
        let _ = tokio::time::timeout(OUTPUT_GRACE, &mut output).await;
    }
    {
        let mut info = lock(&process.info);
        info.status = ProcessState::Exited;
        info.pid = None;
        info.exit_code = match status {
            ExitStatus::Code(code) => Some(code),
            ExitStatus::Signal(_) => None,
        };
        info.exited_at_ms = Some(now_ms());
    }
    *process.input.lock().await = None;
    let mut log = lock(&process.log);
    log.close();
    log.shrink();
}

async fn pump(mut stream: pipe::Receiver, process: &Managed, kind: ProcessLogsStream) {
    let mut buf = vec![0u8; READ_CHUNK];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        lock(&process.log).push(kind, &buf[..n]);
    }
}

/// Output of a run: up to its cap, and whether more came.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    /// Reads a stream to its end, keeping up to `cap` bytes.
    async fn read(&mut self, mut stream: pipe::Receiver, cap: usize) {
        let mut buf = vec![0u8; READ_CHUNK];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let room = cap.saturating_sub(self.bytes.len());
            self.bytes.extend_from_slice(&buf[..n.min(room)]);
            self.truncated |= n > room;
        }
    }
}

/// Reads a terminal's output; `Ok(0)` once every holder of its slave is
/// gone (the kernel answers EIO then).
pub async fn read_terminal(master: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut ready = master.readable().await?;
        let read = ready.try_io(|fd| {
            // SAFETY: reading into a caller's buffer from a descriptor we own.
            let n = unsafe { libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EIO) {
                return Ok(0);
            }
            Err(err)
        });
        match read {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

/// Types `data` on a terminal.
pub async fn write_terminal(master: &AsyncFd<OwnedFd>, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let mut ready = master.writable().await?;
        let written = ready.try_io(|fd| {
            // SAFETY: writing from a caller's buffer to a descriptor we own.
            let n = unsafe { libc::write(fd.get_ref().as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n >= 0 {
                Ok(n as usize)
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
        match written {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// The jail's process spec of a request (checking what the jail would
/// refuse less clearly).
fn spec_of(
    command: String,
    args: Vec<String>,
    cwd: Option<String>,
    env: BTreeMap<String, String>,
    terminal: Option<TerminalSize>,
) -> Result<ProcessSpec, Error> {
    if command.is_empty() {
        return Err(Error::new(ErrorCode::BadCmd, "command is empty"));
    }
    if command.contains('\0') || args.iter().any(|a| a.contains('\0')) {
        return Err(Error::new(ErrorCode::BadCmd, "command and args must not contain NUL"));
    }
    let env: Vec<(String, String)> = env.into_iter().collect();
    crate::services::workspaces::check_env(&env)?;
    // A relative directory is taken from the workspace, the jail's home.
    let workdir = match cwd {
        Some(dir) if dir.contains('\0') => {
            return Err(Error::new(ErrorCode::BadRequest, "cwd must not contain NUL"));
        }
        Some(dir) => Some(std::path::Path::new("/workspace").join(dir)),
        None => None,
    };
    Ok(ProcessSpec {
        command,
        args,
        env,
        workdir,
        terminal,
    })
}

/// A start's failure. A program or working directory that does not exist
/// is sandbox-agent's `stream_error` (502), with the reason.
fn start_error(err: JailError) -> Error {
    match err {
        JailError::Exec { .. } => Error::new(ErrorCode::StreamError, err.to_string()),
        JailError::Setup {
            step: paddock_jail::SetupStep::Workdir,
            ..
        } => Error::new(ErrorCode::StreamError, err.to_string()),
        JailError::Stopped => Error::new(ErrorCode::ProcessConflict, "the workspace stopped; start it again"),
        JailError::InvalidConfig(message) => Error::new(ErrorCode::BadRequest, message),
        other => Error::internal(other.to_string()),
    }
}

//! `paddock ws start|stop|ps|logs|kill|exec`: a workspace's runtime jail
//! and its processes, through the runtime API under
//! `/v1/workspaces/{id}/runtime` (sandbox-agent 0.4.2's `/v1/processes…`
//! shapes, errors as Problem Details).
//!
//! `exec` starts a managed process and follows its output (stdout and
//! stderr kept apart), forwarding standard input with `-i`; with `-t` it
//! attaches the local terminal to the process's terminal over the
//! WebSocket (see [`crate::terminal`] for raw mode). Ctrl-C while an exec
//! runs stops the remote process, then exits 130.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use paddock_api::runtime::processes::{
    ProcessCreateRequest, ProcessInfo, ProcessInputRequest, ProcessListResponse, ProcessLogEntry, ProcessLogsResponse,
    ProcessLogsStream, ProcessState,
};
use paddock_api::workspaces::WorkspaceRunState;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::{describe_error, encode, error_message, print_table, reason, Connection, Failure, Outcome};
use crate::pipe::errln;
use crate::terminal;

/// Largest input call (sandbox-agent's `maxInputBytesPerRequest`).
pub const INPUT_CHUNK: usize = 64 << 10;
/// How long the Ctrl-C path waits for the stop call.
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the terminal loop looks at keystrokes and window changes
/// while no output arrives.
const TERMINAL_TICK: Duration = Duration::from_millis(15);

/// A failed runtime call: its HTTP status, the Problem's `details.code`
/// and the message to print.
pub(crate) struct CallError {
    pub status: u16,
    pub code: Option<String>,
    pub message: String,
}

impl From<CallError> for Failure {
    fn from(err: CallError) -> Failure {
        Failure(err.message)
    }
}

/// A client of one workspace's runtime; cheap to clone into threads.
#[derive(Clone)]
pub(crate) struct Runtime {
    http: Client,
    /// The server, without a trailing `/`.
    pub server: String,
    key: Option<String>,
    /// The workspace.
    pub id: String,
}

impl Runtime {
    pub(crate) fn new(conn: &Connection, id: &str) -> Result<Runtime, Failure> {
        let http = Client::builder()
            .timeout(None)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure(format!("cannot set up the HTTP client: {}", reason(&conn.url, &e))))?;
        Ok(Runtime {
            http,
            server: conn.url.trim_end_matches('/').to_owned(),
            key: conn.api_key.clone(),
            id: id.to_owned(),
        })
    }

    /// `{server}{path}`.
    pub(crate) fn server_url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// `{server}/v1/workspaces/{id}{rest}`.
    pub(crate) fn workspace_url(&self, rest: &str) -> String {
        format!("{}/v1/workspaces/{}{rest}", self.server, encode(&self.id))
    }

    /// `{server}/v1/workspaces/{id}/runtime/v1/{rest}`.
    pub(crate) fn url(&self, rest: &str) -> String {
        self.workspace_url(&format!("/runtime/v1/{rest}"))
    }

    /// A request with the API key.
    pub(crate) fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends; an error answer becomes a [`CallError`] with the server's
    /// message, an unreachable server a [`Failure`] naming the cause.
    pub(crate) fn try_send(&self, request: RequestBuilder) -> Result<Result<Response, CallError>, Failure> {
        let response = request.send().map_err(|e| Failure(describe_error(&self.server, &e)))?;
        if response.status().is_success() {
            return Ok(Ok(response));
        }
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        let code = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
            v["details"]["code"]
                .as_str()
                .or_else(|| v["code"].as_str())
                .map(str::to_owned)
        });
        Ok(Err(CallError {
            status,
            code,
            message: error_message(status, &text),
        }))
    }

    /// Sends; any error answer is a failure.
    pub(crate) fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        Ok(self.try_send(request)??)
    }

    /// Calls and parses the answer; also returns it as it came (`--json`).
    pub(crate) fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(T, String), Failure> {
        let mut request = self.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let raw = self.send(request)?.text().map_err(|e| {
            Failure(format!(
                "the answer from {} broke off: {}",
                self.server,
                reason(&self.server, &e)
            ))
        })?;
        let value = serde_json::from_str(&raw)
            .map_err(|e| Failure(format!("unexpected answer from {url}: {e}: {}", raw.trim())))?;
        Ok((value, raw))
    }

    /// One process.
    pub(crate) fn process(&self, process: &str) -> Result<(ProcessInfo, String), Failure> {
        self.call(Method::GET, &self.url(&format!("processes/{}", encode(process))), None)
    }
}

/// Prints `raw` ending in one newline (what `--json` prints).
pub(crate) fn print_json(raw: &str) {
    if raw.ends_with('\n') {
        print!("{raw}");
    } else {
        println!("{raw}");
    }
}

/// `paddock ws start|stop` and the state they answer.
pub fn lifecycle(conn: &Connection, id: &str, action: &str) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let (state, raw): (WorkspaceRunState, String) =
        runtime.call(Method::POST, &runtime.workspace_url(&format!("/{action}")), None)?;
    if conn.json {
        print_json(&raw);
    } else {
        match &state.started_at {
            Some(at) => println!(
                "{} {} (since {at}, {} processes)",
                state.id, state.state, state.processes
            ),
            None => println!("{} {}", state.id, state.state),
        }
    }
    Ok(0)
}

/// `5s`, `3m`, `2h`, `4d`: how long ago `ms` (milliseconds since the
/// epoch) was.
fn age(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The command line of a process, as a shell would show it.
fn command_line(info: &ProcessInfo) -> String {
    std::iter::once(&info.command)
        .chain(&info.args)
        .map(|word| {
            if !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
            {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `paddock ws ps`: the processes (running ones, or all with `all`).
/// A stopped workspace is not started to answer.
pub fn ps(conn: &Connection, id: &str, all: bool) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let (state, _): (WorkspaceRunState, String) = runtime.call(Method::GET, &runtime.workspace_url("/state"), None)?;
    let (list, raw) = if state.state == "running" {
        runtime.call::<ProcessListResponse>(Method::GET, &runtime.url("processes"), None)?
    } else {
        let empty = ProcessListResponse { processes: Vec::new() };
        let raw = serde_json::to_string(&empty).unwrap_or_default();
        (empty, raw)
    };
    if conn.json {
        print_json(&raw);
        return Ok(0);
    }
    let now = now_ms();
    let rows = list
        .processes
        .iter()
        .filter(|p| all || p.status == ProcessState::Running)
        .map(|p| {
            vec![
                p.id.clone(),
                p.pid.map_or("-".into(), |pid| pid.to_string()),
                match p.status {
                    ProcessState::Running => "running".to_owned(),
                    ProcessState::Exited => "exited".to_owned(),
                },
                match (p.status, p.exit_code) {
                    (_, Some(code)) => code.to_string(),
                    (ProcessState::Exited, None) => "signal".to_owned(),
                    (ProcessState::Running, None) => "-".to_owned(),
                },
                age(p.created_at_ms, now),
                command_line(p),
            ]
        })
        .collect();
    print_table(&["id", "pid", "status", "exit", "age", "command"], rows);
    Ok(0)
}

/// Writes one log entry's bytes where they belong (stderr entries to
/// stderr, everything else to stdout).
fn write_entry(entry: &ProcessLogEntry) -> Result<(), Failure> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(entry.data.as_bytes())
        .map_err(|e| Failure(format!("a log entry is not base64: {e}")))?;
    // Control characters are shown as text where they go to a terminal.
    let written = if entry.stream == ProcessLogsStream::Stderr {
        let stderr = std::io::stderr();
        let bytes = crate::run::for_terminal(&bytes, &stderr);
        let mut err = stderr.lock();
        err.write_all(&bytes).and_then(|()| err.flush())
    } else {
        let stdout = std::io::stdout();
        let bytes = crate::run::for_terminal(&bytes, &stdout);
        let mut out = stdout.lock();
        out.write_all(&bytes).and_then(|()| out.flush())
    };
    match written {
        Ok(()) => Ok(()),
        // `| head -1`: a closed output ends paddock quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure(format!("writing the output: {e}"))),
    }
}

/// Follows a process's log (SSE `event: log`) until the process's output
/// ends, writing each entry as it comes.
fn follow_logs(runtime: &Runtime, process: &str, query: &str) -> Result<(), Failure> {
    let url = runtime.url(&format!("processes/{}/logs?follow=true{query}", encode(process)));
    let response = runtime.send(runtime.request(Method::GET, &url).header("accept", "text/event-stream"))?;
    for message in crate::sse::events(response) {
        let (event, data) =
            message.map_err(|e| Failure(format!("the log stream from {} broke off: {e}", runtime.server)))?;
        if event == "log" && !data.is_empty() {
            let entry: ProcessLogEntry =
                serde_json::from_str(&data).map_err(|e| Failure(format!("unexpected log entry {data:?}: {e}")))?;
            write_entry(&entry)?;
        }
    }
    Ok(())
}

/// `paddock ws logs`.
pub fn logs(
    conn: &Connection,
    id: &str,
    process: &str,
    follow: bool,
    stream: Option<ProcessLogsStream>,
    tail: Option<usize>,
) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let mut query = String::new();
    if let Some(stream) = stream {
        let name = serde_json::to_value(stream)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        query.push_str(&format!("&stream={name}"));
    }
    if let Some(tail) = tail {
        query.push_str(&format!("&tail={tail}"));
    }
    if follow {
        follow_logs(&runtime, process, &query)?;
        return Ok(0);
    }
    let url = runtime.url(&format!("processes/{}/logs?follow=false{query}", encode(process)));
    let (logs, raw): (ProcessLogsResponse, String) = runtime.call(Method::GET, &url, None)?;
    if conn.json {
        print_json(&raw);
        return Ok(0);
    }
    for entry in &logs.entries {
        write_entry(entry)?;
    }
    Ok(0)
}

/// `paddock ws kill`: SIGTERM (`/stop`) or SIGKILL (`/kill`), waiting up
/// to `wait_ms` for the end.
pub fn kill(conn: &Connection, id: &str, process: &str, signal: &str, wait_ms: Option<u64>) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let route = match signal.trim_start_matches("SIG").to_ascii_uppercase().as_str() {
        "TERM" | "15" => "stop",
        "KILL" | "9" => "kill",
        other => return Err(Failure(format!("--signal {other}: the runtime sends TERM or KILL"))),
    };
    let mut url = runtime.url(&format!("processes/{}/{route}", encode(process)));
    if let Some(ms) = wait_ms {
        url.push_str(&format!("?waitMs={ms}"));
    }
    let (info, raw): (ProcessInfo, String) = runtime.call(Method::POST, &url, None)?;
    if conn.json {
        print_json(&raw);
    } else {
        match (info.status, info.exit_code) {
            (ProcessState::Running, _) => println!("{} still running (signal sent)", info.id),
            (ProcessState::Exited, Some(code)) => println!("{} exited {code}", info.id),
            (ProcessState::Exited, None) => println!("{} ended by a signal", info.id),
        }
    }
    Ok(0)
}

/// The exit status of an ended process: its code, or 128 + the signal
/// that ended it. The process info carries no signal number (sandbox-agent
/// 0.4.2's shape), so a signal the answer does not name counts as SIGKILL
/// (137), what the runtime's `kill` and deadlines send.
fn exit_status(info: &Value) -> i32 {
    // Ctrl-C stopped it: the interrupt's thread reports that and exits
    // with 130 (within its stop timeout); this one only waits.
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    if let Some(code) = info["exitCode"].as_i64() {
        return code as i32;
    }
    for field in ["signal", "exitSignal", "termSignal"] {
        if let Some(n) = info[field].as_i64() {
            return 128 + n as i32;
        }
    }
    128 + libc::SIGKILL
}

/// Set once Ctrl-C arrived.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The process to stop on Ctrl-C: its stop URL and the API key.
static STOP_ON_INTERRUPT: Mutex<Option<(String, Option<String>)>> = Mutex::new(None);

/// Makes Ctrl-C stop the exec's remote process (once it is named with
/// [`stop_on_interrupt`]) and exit 130. Call it before any thread starts:
/// SIGINT is blocked here and inherited so, and one thread waits for it.
pub fn install_interrupt() {
    crate::interrupt::install_handler(interrupted);
}

fn stop_on_interrupt(runtime: &Runtime, process: &str) {
    let url = runtime.url(&format!("processes/{}/stop?waitMs=1000", encode(process)));
    let mut target = STOP_ON_INTERRUPT.lock().unwrap_or_else(|p| p.into_inner());
    *target = Some((url, runtime.key.clone()));
}

fn interrupted() -> ! {
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
    let target = STOP_ON_INTERRUPT.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((url, key)) = target {
        let stopped = Client::builder()
            .timeout(STOP_TIMEOUT)
            .connect_timeout(STOP_TIMEOUT)
            .build()
            .and_then(|client| {
                let request = client.post(&url);
                match key {
                    Some(key) => request.bearer_auth(key),
                    None => request,
                }
                .send()
            });
        match stopped {
            Ok(r) if r.status().is_success() => errln!("paddock: interrupted; the process was stopped"),
            Ok(r) => errln!(
                "paddock: interrupted; stopping the process answered HTTP {}",
                r.status().as_u16()
            ),
            Err(e) => errln!("paddock: interrupted; could not stop the process: {e}"),
        }
    }
    std::process::exit(crate::interrupt::EXIT_INTERRUPTED)
}

/// What `paddock ws exec` runs and how.
pub struct ExecOptions<'a> {
    pub id: &'a str,
    pub interactive: bool,
    pub tty: bool,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    pub command: &'a [String],
}

/// `paddock ws exec` (without `--timeout`/`--memory`): a managed process
/// in the running workspace; the process's exit status.
pub fn exec(conn: &Connection, options: ExecOptions) -> Outcome {
    if options.tty && !terminal::is_tty(libc::STDIN_FILENO) {
        return Err(Failure(
            "the input device is not a TTY: -t needs a terminal on standard input (drop -t to pipe input with -i)"
                .into(),
        ));
    }
    let runtime = Runtime::new(conn, options.id)?;
    let request = ProcessCreateRequest {
        command: options.command[0].clone(),
        args: options.command[1..].to_vec(),
        cwd: options.cwd,
        env: options.env,
        interactive: options.interactive,
        tty: options.tty,
    };
    let body = serde_json::to_value(&request).map_err(|e| Failure(e.to_string()))?;
    let (info, _): (ProcessInfo, String) = runtime.call(Method::POST, &runtime.url("processes"), Some(body))?;
    stop_on_interrupt(&runtime, &info.id);
    if options.tty {
        return attach_terminal(&runtime, &info.id, options.interactive);
    }
    if options.interactive {
        let feeder = runtime.clone();
        let process = info.id.clone();
        std::thread::Builder::new()
            .name("paddock-stdin".into())
            .spawn(move || feed_input(&feeder, &process))
            .map_err(|e| Failure(format!("cannot start the input thread: {e}")))?;
    }
    follow_logs(&runtime, &info.id, "&stream=combined")?;
    let (_, raw) = runtime.process(&info.id)?;
    let value: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Ok(exit_status(&value))
}

/// Copies standard input to the process's input, in chunks of at most
/// [`INPUT_CHUNK`] bytes, until it ends or the process stops reading.
fn feed_input(runtime: &Runtime, process: &str) {
    let url = runtime.url(&format!("processes/{}/input", encode(process)));
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; INPUT_CHUNK];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => {
                // End of our input: the process reads end of file too.
                let body = ProcessInputRequest {
                    data: String::new(),
                    encoding: Some("base64".into()),
                    eof: Some(true),
                };
                let _ = runtime.try_send(runtime.request(Method::POST, &url).json(&body));
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                errln!("paddock: reading standard input: {e}");
                return;
            }
        };
        let body = ProcessInputRequest {
            data: base64::engine::general_purpose::STANDARD.encode(&buf[..n]),
            encoding: Some("base64".into()),
            eof: None,
        };
        match runtime.try_send(runtime.request(Method::POST, &url).json(&body)) {
            Ok(Ok(_)) => {}
            // The process ended or closed its input: nothing more to give.
            Ok(Err(err)) if err.status == 409 => return,
            Ok(Err(err)) => {
                errln!("paddock: sending input: {}", err.message);
                return;
            }
            Err(Failure(why)) => {
                errln!("paddock: sending input: {why}");
                return;
            }
        }
    }
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens the terminal WebSocket of `process`.
fn connect_terminal(runtime: &Runtime, process: &str) -> Result<Socket, Failure> {
    use tungstenite::client::IntoClientRequest as _;
    let http_url = runtime.url(&format!("processes/{}/terminal/ws", encode(process)));
    let ws_url = match http_url.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => http_url.clone(),
    };
    let mut request = ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| Failure(format!("bad terminal URL {ws_url}: {e}")))?;
    if let Some(key) = &runtime.key {
        let value = format!("Bearer {key}")
            .parse()
            .map_err(|_| Failure("the API key cannot be sent in a header".into()))?;
        request.headers_mut().insert("authorization", value);
    }
    let (socket, _) = tungstenite::connect(request).map_err(|e| match e {
        tungstenite::Error::Http(response) => {
            let body = response.body().as_deref().unwrap_or_default();
            Failure(error_message(
                response.status().as_u16(),
                &String::from_utf8_lossy(body),
            ))
        }
        other => Failure(format!(
            "cannot open the terminal of {process} at {}: {other}",
            runtime.server
        )),
    })?;
    let stream = socket.get_ref();
    let timeout = Some(TERMINAL_TICK);
    let set = match stream {
        tungstenite::stream::MaybeTlsStream::Plain(tcp) => tcp.set_read_timeout(timeout),
        tungstenite::stream::MaybeTlsStream::Rustls(tls) => tls.get_ref().set_read_timeout(timeout),
        _ => Ok(()),
    };
    set.map_err(|e| Failure(format!("terminal socket: {e}")))?;
    Ok(socket)
}

fn text_frame(value: Value) -> tungstenite::Message {
    tungstenite::Message::text(value.to_string())
}

/// The local size as a resize frame (the size of whichever of stdout and
/// stdin is a terminal).
fn resize_frame() -> Option<tungstenite::Message> {
    let (cols, rows) = terminal::size(libc::STDOUT_FILENO).or_else(|| terminal::size(libc::STDIN_FILENO))?;
    Some(text_frame(json!({ "type": "resize", "cols": cols, "rows": rows })))
}

/// `exec -t`: the local terminal attached to the process's terminal until
/// it exits; its exit status.
fn attach_terminal(runtime: &Runtime, process: &str, interactive: bool) -> Outcome {
    let mut socket = connect_terminal(runtime, process)?;
    terminal::watch_resizes();
    // Raw mode only when keystrokes go to the remote program (then Ctrl-C
    // is a byte for it, as in ssh); restored on every way out.
    let raw = if interactive {
        Some(terminal::RawMode::enter(libc::STDIN_FILENO).map_err(|e| Failure(format!("raw mode: {e}")))?)
    } else {
        None
    };
    let (keys_tx, keys) = mpsc::channel::<Vec<u8>>();
    if interactive {
        std::thread::Builder::new()
            .name("paddock-keys".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    // SAFETY: reading into a buffer we own, of its length.
                    let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
                    if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    if n <= 0 || keys_tx.send(buf[..n as usize].to_vec()).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Failure(format!("cannot start the input thread: {e}")))?;
    }
    let outcome = terminal_loop(&mut socket, &keys);
    let _ = socket.close(None);
    let _ = socket.flush();
    drop(raw);
    match outcome? {
        Some(code) => Ok(code),
        // The socket closed without an exit frame: ask the process.
        None => {
            let (_, raw) = runtime.process(process)?;
            let value: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
            if value["status"] == "running" {
                return Err(Failure(format!("the terminal of {process} closed while it still runs")));
            }
            Ok(exit_status(&value))
        }
    }
}

/// Whether a socket error only means "try again" (the read timeout, or a
/// signal such as SIGWINCH arriving during the call).
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
    )
}

/// Sends a frame; one that a signal or the timeout interrupted stays
/// queued in the socket and is flushed until it is out.
fn send(socket: &mut Socket, frame: tungstenite::Message) -> Result<(), Failure> {
    let broke = |e: tungstenite::Error| Failure(format!("the terminal connection broke: {e}"));
    let mut result = socket.send(frame);
    loop {
        match result {
            Ok(()) => return Ok(()),
            Err(tungstenite::Error::Io(e)) if transient(&e) => result = socket.flush(),
            Err(e) => return Err(broke(e)),
        }
    }
}

/// Moves bytes both ways until the exit frame (its status) or the end of
/// the socket (`None`).
fn terminal_loop(socket: &mut Socket, keys: &mpsc::Receiver<Vec<u8>>) -> Result<Option<i32>, Failure> {
    use tungstenite::Message;
    let broke = |e: tungstenite::Error| Failure(format!("the terminal connection broke: {e}"));
    let mut out = std::io::stdout();
    if let Some(frame) = resize_frame() {
        send(socket, frame)?;
    }
    loop {
        if terminal::take_resized() {
            if let Some(frame) = resize_frame() {
                send(socket, frame)?;
            }
        }
        while let Ok(bytes) = keys.try_recv() {
            let frame = json!({
                "type": "input",
                "data": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "encoding": "base64",
            });
            send(socket, text_frame(frame))?;
        }
        let message = match socket.read() {
            Ok(message) => message,
            // The read timeout passed, or SIGWINCH interrupted the read (a
            // socket read with a timeout is never restarted): nothing lost.
            Err(tungstenite::Error::Io(e)) if transient(&e) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => return Ok(None),
            Err(e) => return Err(broke(e)),
        };
        match message {
            Message::Binary(bytes) if out.write_all(&bytes).and_then(|()| out.flush()).is_err() => return Ok(None),
            // JSON: `ready`, `exit` (`exitCode`) or `error` (`message`).
            Message::Text(text) => {
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
                match frame["type"].as_str() {
                    Some("exit") => return Ok(Some(exit_status(&frame))),
                    Some("error") => errln!(
                        "\r\npaddock: {}\r",
                        frame["message"].as_str().unwrap_or("terminal error")
                    ),
                    _ => {}
                }
            }
            Message::Close(_) => return Ok(None),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_whole_unit() {
        assert_eq!(age(0, 5_999), "5s");
        assert_eq!(age(0, 180_000), "3m");
        assert_eq!(age(0, 7_300_000), "2h");
        assert_eq!(age(0, 4 * 86_400_000), "4d");
        assert_eq!(age(10_000, 0), "0s");
    }

    #[test]
    fn exit_status_is_the_code_or_128_plus_the_signal() {
        assert_eq!(exit_status(&json!({"exitCode": 3})), 3);
        assert_eq!(exit_status(&json!({"exitCode": null, "signal": 15})), 143);
        assert_eq!(exit_status(&json!({"status": "exited"})), 137);
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let info = ProcessInfo {
            id: "proc_1".into(),
            command: "sh".into(),
            args: vec!["-c".into(), "echo 'hi' there".into(), String::new()],
            cwd: None,
            tty: false,
            interactive: false,
            owner: paddock_api::runtime::processes::ProcessOwner::User,
            status: ProcessState::Running,
            pid: Some(2),
            exit_code: None,
            created_at_ms: 0,
            exited_at_ms: None,
        };
        assert_eq!(command_line(&info), r#"sh -c 'echo '\''hi'\'' there' ''"#);
    }
}

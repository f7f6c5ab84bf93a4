//! Running workspaces: the runtime API of a started workspace on a real
//! `paddock serve` (`/v1/workspaces/{id}/runtime/…`, its processes in the
//! workspace's runtime jail), side by side in the same run with
//! sandbox-agent's server, which has the same routes at its root and runs
//! everything unsandboxed. Scenarios: the floor of a runtime call (`GET
//! processes/config`), `processes/run` of `echo ready`, 1 MiB file write
//! and read, and a keystroke's round trip through a terminal WebSocket
//! (typed into `cat` on a PTY, timed until the line discipline's echo
//! comes back). The subjects take turns in blocks of samples, so that the
//! machine's noise falls on both alike.
//!
//! Previews: the same server program (`python3 -m http.server`) in the
//! workspace, reached through a public preview (`Host:
//! 8000--{id}.localhost`), and started directly on the host, reached
//! directly; a tiny file's GET and a 1 GiB download, taking turns too.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tungstenite::Message;

use crate::http::{optional_sandbox_agent, post_json, request, request_to, KeepAlive, Process};
use crate::server::{start_paddock, API_KEY};
use crate::{summarize, Row};

/// The file size of the file rows.
const FILE_BYTES: usize = 1 << 20;

/// One server under test.
struct Subject {
    name: &'static str,
    addr: SocketAddr,
    /// Prefix of the runtime routes (`""` for sandbox-agent).
    base: String,
    auth: Option<&'static str>,
    /// The file the file rows write and read (as `?path=`).
    file: String,
}

impl Subject {
    fn request(&self, method: &str, route: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
        request(method, &format!("{}{route}", self.base), self.auth, content_type, body)
    }
}

/// A new started workspace on paddock; its id.
fn started_workspace(addr: SocketAddr) -> Result<String> {
    let mut client = KeepAlive::connect(addr)?;
    let created: Value = serde_json::from_str(&client.call(&post_json("/v1/workspaces", Some(API_KEY), "{}"))?)?;
    let id = created["id"].as_str().context("workspace id")?.to_owned();
    client.call(&post_json(&format!("/v1/workspaces/{id}/start"), Some(API_KEY), ""))?;
    Ok(id)
}

/// Times `call` `n` times after `warm` untimed calls.
fn time_calls(warm: usize, n: usize, mut call: impl FnMut() -> Result<()>) -> Result<Vec<Duration>> {
    for _ in 0..warm {
        call()?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        call()?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// Runs `block` `rounds` times per subject, the subjects taking turns
/// (`first` is true in the first round: warm up then). Answers each
/// subject's samples.
fn alternate<S>(
    subjects: &[Subject],
    rounds: usize,
    setup: impl Fn(&Subject) -> Result<S>,
    block: impl Fn(&Subject, &mut S, bool) -> Result<Vec<Duration>>,
) -> Result<Vec<Vec<Duration>>> {
    let mut states = subjects.iter().map(&setup).collect::<Result<Vec<S>>>()?;
    let mut samples = vec![Vec::new(); subjects.len()];
    for round in 0..rounds {
        for (i, subject) in subjects.iter().enumerate() {
            let block = block(subject, &mut states[i], round == 0).with_context(|| subject.name)?;
            samples[i].extend(block);
        }
    }
    Ok(samples)
}

/// `GET processes/config`: HTTP, the key, the workspace's lookup (and, on
/// paddock, recording its activity), no process.
fn config_rows(subjects: &[Subject], scale: usize) -> Result<Vec<Row>> {
    let samples = alternate(
        subjects,
        scale,
        |s| {
            Ok((
                KeepAlive::connect(s.addr)?,
                s.request("GET", "/v1/processes/config", "application/json", b""),
            ))
        },
        |_, (client, config), first| time_calls(if first { 50 } else { 0 }, 150, || client.send(config).map(drop)),
    )?;
    Ok(subjects
        .iter()
        .zip(samples)
        .map(|(s, samples)| {
            summarize(
                "runtime GET processes/config (no process)",
                s.name,
                samples,
                None,
                "call floor; one keep-alive client",
            )
        })
        .collect())
}

/// `POST processes/run` of `echo ready`; checks stdout.
fn run_rows(subjects: &[Subject], scale: usize) -> Result<Vec<Row>> {
    let samples = alternate(
        subjects,
        scale,
        |s| {
            let body = br#"{"command":"echo","args":["ready"]}"#;
            Ok((
                KeepAlive::connect(s.addr)?,
                s.request("POST", "/v1/processes/run", "application/json", body),
            ))
        },
        |subject, (client, run), first| {
            let mut answer = String::new();
            let samples = time_calls(if first { 50 } else { 0 }, 150, || {
                answer = client.call(run)?;
                Ok(())
            })?;
            if !answer.contains("\"stdout\":\"ready\\n\"") {
                bail!("{}: unexpected answer {answer}", subject.name);
            }
            Ok(samples)
        },
    )?;
    Ok(subjects
        .iter()
        .zip(samples)
        .map(|(s, samples)| {
            summarize(
                "runtime processes/run `echo ready`, sequential",
                s.name,
                samples,
                None,
                "one keep-alive client",
            )
        })
        .collect())
}

/// MB/s of `bytes` per sample at the median.
fn mb_per_s(bytes: u64, samples: &[Duration]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort();
    bytes as f64 / 1e6 / sorted[sorted.len() / 2].as_secs_f64()
}

/// 1 MiB `PUT fs/file`, then `GET fs/file` of it (checked).
fn file_rows(subjects: &[Subject], scale: usize) -> Result<Vec<Row>> {
    let content: Vec<u8> = (0..FILE_BYTES).map(|i| (i * 7 + i / 4096) as u8).collect();
    let route = |s: &Subject| format!("/v1/fs/file?path={}", s.file);
    let writes = alternate(
        subjects,
        scale,
        |s| {
            let put = s.request("PUT", &route(s), "application/octet-stream", &content);
            Ok((KeepAlive::connect(s.addr)?, put))
        },
        |_, (client, put), first| time_calls(if first { 10 } else { 0 }, 50, || client.send(put).map(drop)),
    )?;
    let reads = alternate(
        subjects,
        scale,
        |s| {
            let get = s.request("GET", &route(s), "application/octet-stream", b"");
            Ok((KeepAlive::connect(s.addr)?, get))
        },
        |subject, (client, get), first| {
            let mut read = Vec::new();
            let samples = time_calls(if first { 10 } else { 0 }, 50, || {
                read = client.send(get)?;
                Ok(())
            })?;
            if read != content {
                bail!("{}: read back {} bytes, not what was written", subject.name, read.len());
            }
            Ok(samples)
        },
    )?;
    let mut rows = Vec::new();
    for (scenario, all) in [
        ("runtime 1 MiB file write (PUT fs/file)", writes),
        ("runtime 1 MiB file read (GET fs/file)", reads),
    ] {
        for (subject, samples) in subjects.iter().zip(all) {
            let rate = mb_per_s(FILE_BYTES as u64, &samples);
            rows.push(summarize(
                scenario,
                subject.name,
                samples,
                Some(rate),
                "per_second = MB/s at p50; one keep-alive client",
            ));
        }
    }
    Ok(rows)
}

type Socket = tungstenite::WebSocket<TcpStream>;

/// Reads frames until a binary one contains `byte`.
fn await_byte(socket: &mut Socket, byte: u8) -> Result<()> {
    loop {
        match socket.read()? {
            Message::Binary(bytes) if bytes.contains(&byte) => return Ok(()),
            Message::Close(_) => bail!("terminal closed"),
            _ => {}
        }
    }
}

/// Reads frames until none came for `quiet`.
fn drain(socket: &mut Socket, quiet: Duration) -> Result<()> {
    socket.get_ref().set_read_timeout(Some(quiet))?;
    loop {
        match socket.read() {
            Ok(Message::Close(_)) => bail!("terminal closed"),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                break
            }
            Err(e) => return Err(e.into()),
        }
    }
    socket.get_ref().set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(())
}

fn input(data: &str) -> Message {
    Message::text(serde_json::json!({ "type": "input", "data": data, "encoding": "utf8" }).to_string())
}

/// A `tty` process running `cat` and its terminal WebSocket, past the
/// ready frame.
fn open_terminal(subject: &Subject) -> Result<Socket> {
    let mut client = KeepAlive::connect(subject.addr)?;
    let create = subject.request(
        "POST",
        "/v1/processes",
        "application/json",
        br#"{"command":"cat","tty":true}"#,
    );
    let created: Value = serde_json::from_str(&client.call(&create)?)?;
    let process = created["id"].as_str().context("process id")?;
    let token = subject
        .auth
        .map(|key| format!("?access_token={key}"))
        .unwrap_or_default();
    let url = format!(
        "ws://{}{}/v1/processes/{process}/terminal/ws{token}",
        subject.addr, subject.base
    );
    let stream = TcpStream::connect(subject.addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let (mut socket, _) = tungstenite::client(url.as_str(), stream).map_err(|e| anyhow::anyhow!("{e}"))?;
    match socket.read()? {
        Message::Text(text) if text.contains("\"ready\"") => Ok(socket),
        other => bail!("{}: expected the ready frame, got {other:?}", subject.name),
    }
}

/// 200 keystrokes, each timed from its send until its echo.
fn keystrokes(socket: &mut Socket, first: bool) -> Result<Vec<Duration>> {
    let keystroke = input("a");
    let warm = if first { 50 } else { 0 };
    let mut samples = Vec::new();
    for i in 0..warm + 200 {
        // Untimed: end the line now and then (the line discipline keeps at
        // most 4095 typed characters) and let cat's copy of it pass.
        if i % 100 == 99 {
            socket.send(input("\r"))?;
            drain(socket, Duration::from_millis(50))?;
        }
        let start = Instant::now();
        socket.send(keystroke.clone())?;
        await_byte(socket, b'a')?;
        if i >= warm {
            samples.push(start.elapsed());
        }
    }
    // Start the next block on an empty line.
    socket.send(input("\r"))?;
    drain(socket, Duration::from_millis(50))?;
    Ok(samples)
}

fn terminal_rows(subjects: &[Subject], scale: usize) -> Result<Vec<Row>> {
    let samples = alternate(subjects, scale, open_terminal, |_, socket, first| {
        keystrokes(socket, first)
    })?;
    Ok(subjects
        .iter()
        .zip(samples)
        .map(|(s, samples)| {
            summarize(
                "runtime terminal keystroke echo (WebSocket)",
                s.name,
                samples,
                None,
                "`cat` on a PTY, one key, until its echo",
            )
        })
        .collect())
}

/// The rows; paddock and sandbox-agent take turns in every scenario.
pub fn rows(paddock: &str, sandbox_agent: Option<&Path>, scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let (paddock_process, paddock_addr, _) = start_paddock(paddock, scratch, &[])?;
    let workspace = started_workspace(paddock_addr)?;
    let mut subjects = vec![Subject {
        name: "paddock workspace (jailed)",
        addr: paddock_addr,
        base: format!("/v1/workspaces/{workspace}/runtime"),
        auth: Some(API_KEY),
        file: "/workspace/bench-1mib.bin".into(),
    }];
    let agent: Option<Process> = match optional_sandbox_agent(sandbox_agent) {
        Some((process, addr)) => {
            let dir = scratch.join("sandbox-agent-files");
            std::fs::create_dir_all(&dir)?;
            subjects.push(Subject {
                name: "sandbox-agent (no sandbox)",
                addr,
                base: String::new(),
                auth: None,
                file: dir.join("bench-1mib.bin").display().to_string(),
            });
            Some(process)
        }
        None => None,
    };
    eprintln!(
        "runtime: paddock serve pid {}, sandbox-agent pid {}",
        paddock_process.id(),
        agent.as_ref().map_or_else(|| "-".into(), |a| a.id().to_string())
    );
    let mut rows = Vec::new();
    type Scenario = fn(&[Subject], usize) -> Result<Vec<Row>>;
    let scenarios: [(&str, Scenario); 4] = [
        ("config", config_rows),
        ("run", run_rows),
        ("files", file_rows),
        ("terminal", terminal_rows),
    ];
    for (scenario, measure) in scenarios {
        // A failing scenario is reported and the others still run.
        match measure(&subjects, scale) {
            Ok(measured) => rows.extend(measured),
            Err(err) => eprintln!("runtime {scenario}: not measured: {err:#}"),
        }
    }
    match preview_rows(paddock_addr, &workspace, scale, scratch) {
        Ok(measured) => rows.extend(measured),
        Err(err) => eprintln!("runtime previews: not measured: {err:#}"),
    }
    Ok(rows)
}

/// The server program of the preview rows, on both sides (the workspace's
/// jail binds the host's `/usr`, so it is the same binary).
const PYTHON: &str = "/usr/bin/python3";
/// The port it listens on inside the workspace.
const PREVIEW_PORT: u16 = 8000;
/// The small file of the preview rows.
const HELLO: &[u8] = b"hello from the workspace\n";
/// The size of the preview rows' download.
const BIG_BYTES: u64 = 1 << 30;

fn http_server_args(port: u16, directory: &str) -> Vec<String> {
    let port = port.to_string();
    [
        "-m",
        "http.server",
        &port,
        "--bind",
        "127.0.0.1",
        "--directory",
        directory,
    ]
    .map(String::from)
    .to_vec()
}

/// A way to reach a `python3 -m http.server`: where to connect, and the
/// `Host` to name. Python's server closes the connection after each
/// answer, so every request has a new connection on both sides.
struct Origin {
    name: &'static str,
    addr: SocketAddr,
    host: String,
}

impl Origin {
    fn get(&self, path: &str) -> Vec<u8> {
        request_to(&self.host, "GET", path, None, "text/plain", b"")
    }

    fn fetch(&self, get: &[u8]) -> Result<Vec<u8>> {
        KeepAlive::connect(self.addr)?.send(get)
    }

    fn download(&self, get: &[u8]) -> Result<u64> {
        KeepAlive::connect(self.addr)?.download(get)
    }

    /// Waits until `path` answers 2xx.
    fn await_ready(&self, path: &str) -> Result<()> {
        let get = self.get(path);
        let started = Instant::now();
        loop {
            match self.fetch(&get) {
                Ok(_) => return Ok(()),
                Err(err) if started.elapsed() > Duration::from_secs(20) => {
                    return Err(err.context(format!("{} did not answer", self.name)))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

/// `sh -c script` in the workspace, through `processes/run`; fails unless
/// it exits 0.
fn run_in_workspace(api: &mut KeepAlive, workspace: &str, script: &str) -> Result<()> {
    let body = serde_json::json!({ "command": "sh", "args": ["-c", script], "timeoutMs": 120_000 });
    let route = format!("/v1/workspaces/{workspace}/runtime/v1/processes/run");
    let answer: Value = serde_json::from_str(&api.call(&post_json(&route, Some(API_KEY), &body.to_string()))?)?;
    if answer["exitCode"] != 0 {
        bail!("`{script}` in the workspace: {answer}");
    }
    Ok(())
}

/// `sh -c script` on the host; fails unless it exits 0.
fn run_on_host(script: &str) -> Result<()> {
    let status = Command::new("sh").args(["-c", script]).status()?;
    if !status.success() {
        bail!("`{script}`: {status}");
    }
    Ok(())
}

/// The preview rows: `python3 -m http.server` in the workspace behind a
/// public preview, against the same program started on the host and
/// fetched directly.
fn preview_rows(paddock: SocketAddr, workspace: &str, scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let mut api = KeepAlive::connect(paddock)?;
    let runtime = format!("/v1/workspaces/{workspace}/runtime/v1");
    api.send(&request(
        "PUT",
        &format!("{runtime}/fs/file?path=/workspace/hello.txt"),
        Some(API_KEY),
        "application/octet-stream",
        HELLO,
    ))?;
    let server = serde_json::json!({ "command": PYTHON, "args": http_server_args(PREVIEW_PORT, "/workspace") });
    api.call(&post_json(
        &format!("{runtime}/processes"),
        Some(API_KEY),
        &server.to_string(),
    ))?;
    let preview: Value = serde_json::from_str(&api.call(&post_json(
        &format!("/v1/workspaces/{workspace}/previews"),
        Some(API_KEY),
        &format!(r#"{{"port":{PREVIEW_PORT},"public":true}}"#),
    ))?)?;
    let url = preview["url"].as_str().context("preview url")?;
    let host = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("preview url {url}"))?;

    let directory = scratch.join("preview-direct");
    std::fs::create_dir_all(&directory)?;
    std::fs::write(directory.join("hello.txt"), HELLO)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let direct_server = Process(
        Command::new(PYTHON)
            .args(http_server_args(port, &directory.display().to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting python3 -m http.server")?,
    );
    let origins = [
        Origin {
            name: "paddock preview relay",
            addr: paddock,
            host: host.to_owned(),
        },
        Origin {
            name: "same server, direct",
            addr: ([127, 0, 0, 1], port).into(),
            host: format!("127.0.0.1:{port}"),
        },
    ];
    for origin in &origins {
        origin.await_ready("/hello.txt")?;
    }
    eprintln!("runtime previews: {host} and direct python pid {}", direct_server.id());

    let mut rows = small_get_rows(&origins, scale)?;
    let big = (|| -> Result<Vec<Row>> {
        run_in_workspace(
            &mut api,
            workspace,
            &format!("head -c {BIG_BYTES} /dev/zero > /workspace/big.bin"),
        )?;
        run_on_host(&format!(
            "head -c {BIG_BYTES} /dev/zero > '{}'",
            directory.join("big.bin").display()
        ))?;
        download_rows(&origins, scale)
    })();
    // The big files go whatever happened.
    let cleaned = run_in_workspace(&mut api, workspace, "rm -f /workspace/big.bin /workspace/hello.txt");
    let _ = std::fs::remove_dir_all(&directory);
    rows.extend(big?);
    cleaned?;
    Ok(rows)
}

/// A tiny file's GET, each on a new connection, the origins taking turns.
fn small_get_rows(origins: &[Origin], scale: usize) -> Result<Vec<Row>> {
    let gets: Vec<Vec<u8>> = origins.iter().map(|o| o.get("/hello.txt")).collect();
    let mut samples = vec![Vec::new(); origins.len()];
    for round in 0..4 * scale {
        for (i, origin) in origins.iter().enumerate() {
            let mut body = Vec::new();
            let block = time_calls(if round == 0 { 30 } else { 0 }, 100, || {
                body = origin.fetch(&gets[i])?;
                Ok(())
            })
            .with_context(|| origin.name)?;
            if body != HELLO {
                bail!("{}: unexpected body {:?}", origin.name, String::from_utf8_lossy(&body));
            }
            samples[i].extend(block);
        }
    }
    let scenario = "preview small GET (25 B file, new connection)";
    let mut rows: Vec<Row> = origins
        .iter()
        .zip(samples)
        .map(|(o, samples)| summarize(scenario, o.name, samples, None, "python3 -m http.server"))
        .collect();
    rows.push(Row {
        scenario: scenario.into(),
        subject: "added by the relay".into(),
        p50_ms: rows[0].p50_ms - rows[1].p50_ms,
        p99_ms: rows[0].p99_ms - rows[1].p99_ms,
        per_second: None,
        cpu_ms: None,
        note: "preview minus direct, p50 and p99".into(),
    });
    Ok(rows)
}

/// A 1 GiB download, the origins taking turns; MB/s at the median.
fn download_rows(origins: &[Origin], scale: usize) -> Result<Vec<Row>> {
    let gets: Vec<Vec<u8>> = origins.iter().map(|o| o.get("/big.bin")).collect();
    let mut samples = vec![Vec::new(); origins.len()];
    for _ in 0..2 + scale {
        for (i, origin) in origins.iter().enumerate() {
            let start = Instant::now();
            let size = origin.download(&gets[i]).with_context(|| origin.name)?;
            samples[i].push(start.elapsed());
            if size != BIG_BYTES {
                bail!("{}: downloaded {size} bytes", origin.name);
            }
        }
    }
    Ok(origins
        .iter()
        .zip(samples)
        .map(|(o, samples)| {
            let rate = mb_per_s(BIG_BYTES, &samples);
            summarize(
                "preview 1 GiB download",
                o.name,
                samples,
                Some(rate),
                "per_second = MB/s at p50; python3 -m http.server",
            )
        })
        .collect())
}

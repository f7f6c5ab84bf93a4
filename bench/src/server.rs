//! Control-plane benchmarks: `POST /v1/runs` of bash `echo ready` against
//! a real `paddock serve`, side by side with sandbox-agent's
//! `POST /v1/processes/run` (no sandbox at all) in the same run. Clients
//! are raw keep-alive HTTP/1.1 connections, so the client's own cost is
//! the same for both.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{summarize, Row};

pub(crate) const API_KEY: &str = "bench-key-0123456789abcdef";

/// A server process killed on drop.
pub(crate) struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `paddock serve` on free ports with a fresh state directory and
/// `extra` flags; returns the control plane's and the phantom proxy's
/// addresses.
pub(crate) fn start_paddock(
    paddock: &str,
    scratch: &Path,
    extra: &[&str],
) -> Result<(Process, SocketAddr, SocketAddr)> {
    let state = scratch.join("serve-state");
    let _ = std::fs::remove_dir_all(&state);
    let mut child = Command::new(paddock)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--proxy-listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(&state)
        .args(extra)
        .env("PADDOCK_API_KEYS", format!("{API_KEY}@bench:admin"))
        .env("RUST_LOG", "warn,paddock::serve=info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting paddock serve")?;
    let stderr = child.stderr.take().context("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let field = |line: &str, name: &str| -> Option<SocketAddr> {
        line.split(&format!(" {name}="))
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let (api, proxy) = loop {
        let line = lines.next().context("paddock serve exited before it was ready")??;
        if let (Some(api), Some(proxy)) = (field(&line, "listen"), field(&line, "proxy_listen")) {
            break (api, proxy);
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((Process(child), api, proxy))
}

/// Starts sandbox-agent's server on a free port.
fn start_sandbox_agent(binary: &Path) -> Result<(Process, SocketAddr)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(binary)
        .args([
            "server",
            "--no-token",
            "--no-telemetry",
            "--host",
            "127.0.0.1",
            "--port",
        ])
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("sandbox-agent did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((Process(child), addr))
}

/// One keep-alive connection sending the same request again and again.
struct KeepAlive {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
}

impl KeepAlive {
    fn connect(addr: SocketAddr, path: &str, auth: Option<&str>, body: &str) -> Result<KeepAlive> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let auth = auth
            .map(|k| format!("authorization: Bearer {k}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        Ok(KeepAlive {
            reader: BufReader::new(stream),
            request,
        })
    }

    /// Sends the request and returns the response body.
    fn call(&mut self) -> Result<String> {
        self.reader.get_mut().write_all(&self.request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        if !line.starts_with("HTTP/1.1 20") {
            bail!("unexpected status {line:?}");
        }
        let mut length = 0usize;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? <= 2 {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse()?;
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body)?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }
}

/// A subject: where to send, what, and how to check the answer.
struct Subject {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    auth: Option<&'static str>,
    body: &'static str,
}

impl Subject {
    fn connect(&self) -> Result<KeepAlive> {
        KeepAlive::connect(self.addr, self.path, self.auth, self.body)
    }
}

/// Both servers answer JSON whose stdout is `ready\n`.
fn check(name: &str, body: &str) -> Result<()> {
    if !body.contains("ready\\n") {
        bail!("{name}: unexpected answer {body}");
    }
    Ok(())
}

/// The rows: sequential latency and 4-client throughput per subject.
pub fn rows(paddock: &str, sandbox_agent: Option<&Path>, scale: usize, scratch: &Path) -> Result<Vec<Row>> {
    let (_paddock, paddock_addr, _) = start_paddock(paddock, scratch, &[])?;
    let mut subjects = vec![Subject {
        name: "paddock serve (jailed)",
        addr: paddock_addr,
        path: "/v1/runs",
        auth: Some(API_KEY),
        body: r#"{"language":"bash","code":"echo ready"}"#,
    }];
    let _agent = match sandbox_agent.map(start_sandbox_agent).transpose() {
        Ok(Some((process, addr))) => {
            subjects.push(Subject {
                name: "sandbox-agent (no sandbox)",
                addr,
                path: "/v1/processes/run",
                auth: None,
                body: r#"{"command":"bash","args":["-c","echo ready"]}"#,
            });
            Some(process)
        }
        Ok(None) => {
            eprintln!("sandbox-agent not measured: pass --sandbox-agent PATH (bench/run.sh installs it)");
            None
        }
        Err(err) => {
            eprintln!("sandbox-agent not measured: {err:#}");
            None
        }
    };
    let mut rows = Vec::new();
    for subject in &subjects {
        let mut client = subject.connect()?;
        for _ in 0..50 {
            check(subject.name, &client.call()?)?;
        }
        let mut samples = Vec::new();
        for _ in 0..150 * scale {
            let start = Instant::now();
            let body = client.call()?;
            samples.push(start.elapsed());
            check(subject.name, &body)?;
        }
        rows.push(summarize(
            "HTTP run `echo ready`, sequential",
            subject.name,
            samples,
            None,
            "one keep-alive client",
        ));
    }
    for subject in &subjects {
        let per_client = 100 * scale;
        let started = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let addr = subject.addr;
                let (name, path, auth, body) = (subject.name, subject.path, subject.auth, subject.body);
                std::thread::spawn(move || -> Result<Vec<Duration>> {
                    let mut client = KeepAlive::connect(addr, path, auth, body)?;
                    let mut samples = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let start = Instant::now();
                        let answer = client.call()?;
                        samples.push(start.elapsed());
                        check(name, &answer)?;
                    }
                    Ok(samples)
                })
            })
            .collect();
        let mut samples = Vec::new();
        for handle in handles {
            samples.extend(handle.join().map_err(|_| anyhow::anyhow!("client thread panicked"))??);
        }
        let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
        rows.push(summarize(
            "HTTP run `echo ready`, 4 clients",
            subject.name,
            samples,
            Some(rate),
            "4 keep-alive clients, 2 cores",
        ));
    }
    Ok(rows)
}

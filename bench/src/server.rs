//! Control-plane benchmarks: `POST /v1/runs` of bash `echo ready` against
//! a real `paddock serve`, side by side with sandbox-agent's
//! `POST /v1/processes/run` (no sandbox at all) in the same run. Clients
//! are raw keep-alive HTTP/1.1 connections, so the client's own cost is
//! the same for both.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::http::{optional_sandbox_agent, post_json, KeepAlive, Process};
use crate::{summarize, Row};

pub(crate) const API_KEY: &str = "bench-key-0123456789abcdef";

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

/// A subject: where to send, what, and how to check the answer.
struct Subject {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    auth: Option<&'static str>,
    body: &'static str,
}

impl Subject {
    fn request(&self) -> Vec<u8> {
        post_json(self.path, self.auth, self.body)
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
    let _agent = optional_sandbox_agent(sandbox_agent).map(|(process, addr)| {
        subjects.push(Subject {
            name: "sandbox-agent (no sandbox)",
            addr,
            path: "/v1/processes/run",
            auth: None,
            body: r#"{"command":"bash","args":["-c","echo ready"]}"#,
        });
        process
    });
    let mut rows = Vec::new();
    for subject in &subjects {
        let mut client = KeepAlive::connect(subject.addr)?;
        let request = subject.request();
        for _ in 0..50 {
            check(subject.name, &client.call(&request)?)?;
        }
        let mut samples = Vec::new();
        for _ in 0..150 * scale {
            let start = Instant::now();
            let body = client.call(&request)?;
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
                let (name, request) = (subject.name, subject.request());
                std::thread::spawn(move || -> Result<Vec<Duration>> {
                    let mut client = KeepAlive::connect(addr)?;
                    let mut samples = Vec::with_capacity(per_client);
                    for _ in 0..per_client {
                        let start = Instant::now();
                        let answer = client.call(&request)?;
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

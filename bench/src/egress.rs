//! Egress proxy benchmarks: the added latency of a request through the
//! proxy over the same request sent directly to a local upstream, and the
//! throughput of a download through a CONNECT tunnel. tinyproxy (Debian's
//! package) is measured in the same run as a peer when installed.
//!
//! The proxy is served exactly as the engine serves a jail's listener
//! (`EgressProxy::serve`), on a host listener so that the client's own
//! costs are the same for every subject.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use paddock_jail::egress::{EgressPolicy, EgressProxy, EgressSettings};

use crate::{summarize, Row};

/// Bytes of the download scenario.
pub(crate) const DOWNLOAD_BYTES: u64 = 1 << 30;
const SMALL_BODY: &[u8] = b"ready\n";

/// A keep-alive HTTP/1.1 server: `/big` streams `DOWNLOAD_BYTES`, anything
/// else answers `ready`.
pub(crate) fn start_upstream() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_nodelay(true);
            std::thread::spawn(move || serve_upstream(stream));
        }
    });
    Ok(port)
}

fn serve_upstream(stream: TcpStream) {
    let mut reader = BufReader::new(stream);
    let chunk = vec![0u8; 1 << 20];
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut close = false;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) <= 2 {
                break;
            }
            close |= line.to_ascii_lowercase().starts_with("connection: close");
        }
        let big = request_line.contains("/big");
        let length = if big { DOWNLOAD_BYTES } else { SMALL_BODY.len() as u64 };
        let stream = reader.get_mut();
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\n");
        let mut ok = stream.write_all(head.as_bytes()).is_ok();
        if big {
            let mut left = DOWNLOAD_BYTES;
            while ok && left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                ok = stream.write_all(&chunk[..n]).is_ok();
                left -= n as u64;
            }
        } else {
            ok = ok && stream.write_all(SMALL_BODY).is_ok();
        }
        if !ok || close {
            return;
        }
    }
}

/// Reads one response head and returns its content length.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<u64> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        bail!("unexpected response {line:?}");
    }
    let mut length = None;
    loop {
        line.clear();
        if reader.read_line(&mut line)? <= 2 {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().ok();
        }
    }
    length.context("no content-length")
}

pub(crate) fn read_response(reader: &mut BufReader<TcpStream>) -> Result<u64> {
    let length = read_head(reader)?;
    let copied = std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())?;
    if copied != length {
        bail!("short body: {copied} of {length}");
    }
    Ok(length)
}

/// How a client reaches the upstream.
#[derive(Clone, Copy)]
enum Route {
    Direct {
        upstream: SocketAddr,
    },
    Proxy {
        proxy: SocketAddr,
        host: &'static str,
        port: u16,
    },
}

impl Route {
    /// A connection on which `GET /path` reaches the upstream: a direct
    /// connection, or a CONNECT tunnel.
    fn tunnel(self) -> Result<BufReader<TcpStream>> {
        match self {
            Route::Direct { upstream } => {
                let stream = TcpStream::connect(upstream)?;
                stream.set_nodelay(true)?;
                Ok(BufReader::new(stream))
            }
            Route::Proxy { proxy, host, port } => {
                let mut stream = TcpStream::connect(proxy)?;
                stream.set_nodelay(true)?;
                write!(stream, "CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n")?;
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                reader.read_line(&mut line)?;
                if !line.contains(" 200") {
                    bail!("CONNECT refused: {line:?}");
                }
                loop {
                    line.clear();
                    if reader.read_line(&mut line)? <= 2 {
                        break;
                    }
                }
                Ok(reader)
            }
        }
    }

    /// One `GET /small` on a new connection (plain-HTTP forwarding through
    /// a proxy), closed after the response.
    fn one_shot(self) -> Result<()> {
        let (addr, target) = match self {
            Route::Direct { upstream } => (upstream, "/small".to_owned()),
            Route::Proxy { proxy, host, port } => (proxy, format!("http://{host}:{port}/small")),
        };
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        write!(
            stream,
            "GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        )?;
        read_response(&mut BufReader::new(stream)).map(drop)
    }
}

/// tinyproxy on a free port, allowing CONNECT to `port`.
pub(crate) struct Tinyproxy {
    child: Child,
    pub(crate) addr: SocketAddr,
    _dir: std::path::PathBuf,
}

impl Tinyproxy {
    pub(crate) fn start(upstream_port: u16, scratch: &std::path::Path) -> Result<Tinyproxy> {
        let probe = TcpListener::bind("127.0.0.1:0")?;
        let addr = probe.local_addr()?;
        drop(probe);
        let dir = scratch.join("tinyproxy");
        std::fs::create_dir_all(&dir)?;
        let conf = dir.join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nAllow 127.0.0.1\nConnectPort {upstream_port}\nLogLevel Critical\nDisableViaHeader Yes\n",
                addr.port()
            ),
        )?;
        let child = Command::new("tinyproxy")
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("tinyproxy")?;
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                bail!("tinyproxy did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Tinyproxy { child, addr, _dir: dir })
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn time_n(n: usize, mut f: impl FnMut() -> Result<()>) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    Ok(samples)
}

/// The egress rows: each subject measured in turn, in this process.
pub fn rows(runtime: &tokio::runtime::Runtime, scale: usize, scratch: &std::path::Path) -> Result<Vec<Row>> {
    let port = start_upstream()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let paddock_addr = listener.local_addr()?;
    let mut settings = EgressSettings::default();
    settings
        .trusted
        .add_host_spec("up.bench=127.0.0.1")
        .map_err(anyhow::Error::msg)?;
    let proxy = EgressProxy::new(settings).map_err(anyhow::Error::msg)?;
    let policy = EgressPolicy::new(["up.bench"], [port])?;
    let _session = runtime.block_on(async { proxy.serve(listener, policy, false) })?;

    let mut subjects = vec![
        (
            "direct (no proxy)",
            Route::Direct {
                upstream: ([127, 0, 0, 1], port).into(),
            },
        ),
        (
            "paddock egress proxy",
            Route::Proxy {
                proxy: paddock_addr,
                host: "up.bench",
                port,
            },
        ),
    ];
    let tiny = match Tinyproxy::start(port, scratch) {
        Ok(tiny) => Some(tiny),
        Err(err) => {
            eprintln!("tinyproxy not measured: {err:#}");
            None
        }
    };
    if let Some(tiny) = &tiny {
        subjects.push((
            "tinyproxy 1.11",
            Route::Proxy {
                proxy: tiny.addr,
                host: "127.0.0.1",
                port,
            },
        ));
    }

    let mut rows = Vec::new();
    let requests = 500 * scale;
    for (subject, route) in &subjects {
        time_n(50, || route.one_shot())?;
        let samples = time_n(requests, || route.one_shot())?;
        rows.push(summarize(
            "egress: GET on a new connection",
            subject,
            samples,
            None,
            "proxies: plain-HTTP forward, new upstream connection",
        ));
    }
    for (subject, route) in &subjects {
        let mut tunnel = route.tunnel()?;
        let samples = time_n(requests * 2, || {
            tunnel
                .get_mut()
                .write_all(b"GET /small HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            read_response(&mut tunnel).map(drop)
        })?;
        rows.push(summarize(
            "egress: GET in an open tunnel",
            subject,
            samples,
            None,
            "keep-alive; proxies: inside CONNECT",
        ));
    }
    for (subject, route) in &subjects {
        let samples = time_n(2 * scale, || {
            let mut tunnel = route.tunnel()?;
            tunnel
                .get_mut()
                .write_all(b"GET /big HTTP/1.1\r\nHost: bench\r\n\r\n")?;
            read_response(&mut tunnel).map(drop)
        })?;
        let mut sorted = samples.clone();
        sorted.sort();
        let rate = DOWNLOAD_BYTES as f64 / 1e6 / sorted[sorted.len() / 2].as_secs_f64();
        rows.push(summarize(
            "egress: 1 GiB download",
            subject,
            samples,
            Some(rate),
            "per_second = MB/s; proxies: CONNECT tunnel",
        ));
    }
    Ok(rows)
}

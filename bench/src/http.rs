//! What the HTTP benchmarks share: server processes killed on drop,
//! sandbox-agent's server, and a raw keep-alive HTTP/1.1 client whose own
//! cost is the same for every subject.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A server process killed on drop.
pub(crate) struct Process(pub(crate) Child);

impl Process {
    /// Its process id (for profiling).
    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Process {
    /// SIGTERM first, so that `paddock serve` removes its jails' cgroups
    /// as it shuts down; SIGKILL if it is still there after 10 s.
    fn drop(&mut self) {
        // SAFETY: kill of our own child, by pid.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// sandbox-agent's server when its binary is given and it starts; otherwise
/// says why not, and the rows measure paddock alone.
pub(crate) fn optional_sandbox_agent(binary: Option<&Path>) -> Option<(Process, SocketAddr)> {
    match binary.map(start_sandbox_agent).transpose() {
        Ok(Some(started)) => Some(started),
        Ok(None) => {
            eprintln!("sandbox-agent not measured: pass --sandbox-agent PATH (bench/run.sh installs it)");
            None
        }
        Err(err) => {
            eprintln!("sandbox-agent not measured: {err:#}");
            None
        }
    }
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

/// A request's bytes, built once and sent as often as wanted.
pub(crate) fn request(method: &str, path: &str, auth: Option<&str>, content_type: &str, body: &[u8]) -> Vec<u8> {
    request_to("bench", method, path, auth, content_type, body)
}

/// [`request`] with this `Host` header.
pub(crate) fn request_to(
    host: &str,
    method: &str,
    path: &str,
    auth: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Vec<u8> {
    let auth = auth
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: {content_type}\r\n{auth}content-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// A JSON `POST`'s bytes.
pub(crate) fn post_json(path: &str, auth: Option<&str>, body: &str) -> Vec<u8> {
    request("POST", path, auth, "application/json", body.as_bytes())
}

/// One keep-alive connection.
pub(crate) struct KeepAlive {
    reader: BufReader<TcpStream>,
}

impl KeepAlive {
    pub(crate) fn connect(addr: SocketAddr) -> Result<KeepAlive> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(KeepAlive {
            reader: BufReader::new(stream),
        })
    }

    /// Sends `request` (from [`request`]) and returns the response body;
    /// fails unless the status is 2xx.
    pub(crate) fn send(&mut self, request: &[u8]) -> Result<Vec<u8>> {
        let head = self.head(request)?;
        self.send_rest(head)
    }

    /// Like [`KeepAlive::send`], but reads a `Content-Length` body in 1 MiB
    /// reads and drops it (no buffer as large as the body); answers its
    /// size.
    pub(crate) fn download(&mut self, request: &[u8]) -> Result<u64> {
        let head = self.head(request)?;
        if !head.ok() || head.chunked {
            return Ok(self.send_rest(head)?.len() as u64);
        }
        let mut buffer = vec![0u8; 1 << 20];
        let mut left = head.length;
        while left > 0 {
            let want = left.min(buffer.len());
            let read = self.reader.read(&mut buffer[..want])?;
            if read == 0 {
                bail!("connection closed {left} bytes before the body's end");
            }
            left -= read;
        }
        Ok(head.length as u64)
    }

    /// The body after `head`, checked as [`KeepAlive::send`] does.
    fn send_rest(&mut self, head: Head) -> Result<Vec<u8>> {
        let body = self.body(&head)?;
        if !head.ok() {
            bail!(
                "unexpected status {:?}: {}",
                head.status,
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        Ok(body)
    }

    /// Writes `request`, reads the status line and the headers.
    fn head(&mut self, request: &[u8]) -> Result<Head> {
        self.reader.get_mut().write_all(request)?;
        let mut status = String::new();
        self.reader.read_line(&mut status)?;
        let mut line = String::new();
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? <= 2 {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse()?;
            } else if let Some(value) = lower.strip_prefix("transfer-encoding:") {
                chunked = value.trim() == "chunked";
            }
        }
        Ok(Head {
            status,
            length,
            chunked,
        })
    }

    /// The whole body after `head`.
    fn body(&mut self, head: &Head) -> Result<Vec<u8>> {
        if head.chunked {
            return self.read_chunked();
        }
        let mut body = vec![0u8; head.length];
        self.reader.read_exact(&mut body)?;
        Ok(body)
    }

    /// A JSON answer to `request`, as text.
    pub(crate) fn call(&mut self, request: &[u8]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.send(request)?).into_owned())
    }

    fn read_chunked(&mut self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    if self.reader.read_line(&mut line)? <= 2 {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            line.clear();
            self.reader.read_line(&mut line)?;
        }
    }
}

/// A response's status line and framing.
struct Head {
    status: String,
    length: usize,
    chunked: bool,
}

impl Head {
    /// A 2xx status, in HTTP/1.1 or HTTP/1.0 (Python's `http.server`).
    fn ok(&self) -> bool {
        self.status.starts_with("HTTP/1.1 20") || self.status.starts_with("HTTP/1.0 20")
    }
}

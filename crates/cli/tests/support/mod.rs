//! What the end-to-end tests of `paddock serve` share: the real binary
//! started on 127.0.0.1 with a temporary state directory, keys for three
//! callers in two tenants, and JSON calls.
#![allow(dead_code)]

pub mod pg_cluster;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;

pub const ADMIN: &str = "admin-token-0123456789@acme:admin";
pub const ADMIN_TOKEN: &str = "admin-token-0123456789";
pub const OP1_TOKEN: &str = "operator-one-0123456789";
pub const OP2_TOKEN: &str = "operator-two-0123456789";

pub fn keys() -> String {
    format!("{ADMIN},{OP1_TOKEN}@t1:operator,{OP2_TOKEN}@t2:operator")
}

/// A running `paddock serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The phantom proxy's address.
    pub proxy: String,
    pub state_dir: PathBuf,
    /// Lines the server printed on stderr (after the ready line).
    pub log: mpsc::Receiver<String>,
    pub first_lines: Vec<String>,
}

impl Server {
    pub fn start(state_dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Server {
        Server::start_limited(state_dir, env, extra, None)
    }

    /// [`Server::start`] with the server's open-files limit (soft and
    /// hard) set to `open_files`.
    pub fn start_limited(state_dir: &Path, env: &[(&str, &str)], extra: &[&str], open_files: Option<u64>) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paddock"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--warm-pool", "1", "--state-dir"])
            .arg(state_dir)
            .args(extra)
            .env_remove("PADDOCK_SERVICES")
            .env_remove("PADDOCK_PROXY_LISTEN")
            .env_remove("PADDOCK_API_KEYS")
            .env_remove("AGENTJAIL_API_KEY")
            .env_remove("DATABASE_URL")
            .env_remove("LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        if !extra.contains(&"--shutdown-grace") {
            // Jails still running when a test ends get a short grace.
            command.args(["--shutdown-grace", "1s"]);
        }
        // Tests share the host's disk: a small reserve, and no reserve
        // file, unless a test sets its own.
        if !extra.contains(&"--min-free-space") {
            command.args(["--min-free-space", "8m"]);
        }
        if !extra.contains(&"--reserve-space") {
            command.args(["--reserve-space", "0"]);
        }
        if !extra.contains(&"--proxy-listen") {
            // Tests run in parallel: each server's proxy gets its own port.
            command.args(["--proxy-listen", "127.0.0.1:0"]);
        }
        if let Some(open_files) = open_files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs
            // between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: open_files,
                        rlim_max: open_files,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("paddock serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first_lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (url, proxy) = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("the server did not become ready: {first_lines:?}"));
            first_lines.push(line.clone());
            if !line.contains("paddock serve ready") {
                continue;
            }
            if let (Some(addr), Some(proxy)) = (ready_field(&line, "listen"), ready_field(&line, "proxy_listen")) {
                break (format!("http://{addr}"), proxy);
            }
        };
        Server {
            child,
            url,
            proxy,
            state_dir: state_dir.to_path_buf(),
            log: rx,
            first_lines,
        }
    }

    pub fn with_keys(state_dir: &Path) -> Server {
        Server::start(state_dir, &[("PADDOCK_API_KEYS", &keys())], &[])
    }

    /// Stops the server (SIGTERM) and returns every line it printed.
    pub fn stop_and_collect(mut self) -> Vec<String> {
        // SAFETY: kill on a child we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
        let mut lines = std::mem::take(&mut self.first_lines);
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(5)) {
            lines.push(line);
        }
        lines
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: kill on a child we own.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().expect("wait")
    }
}

impl Drop for Server {
    /// Stops the server as an operator would (SIGTERM): its jails end and
    /// their cgroups are removed before it exits, so a suite leaves none
    /// behind. A server that does not stop in time is killed.
    fn drop(&mut self) {
        // SAFETY: kill on a child we own and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of the ready line: text logs say ` NAME=VALUE`, JSON logs
/// carry `fields.NAME`.
fn ready_field(line: &str, name: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<Value>(line) {
        return json["fields"][name].as_str().map(str::to_owned);
    }
    line.split(&format!(" {name}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

pub fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client().request(method, format!("{}{path}", server.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().expect("request");
    let status = response.status();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Stores `secret` as tenant t1's credential for `service` and opens a
/// session of t1 for it; returns the session (its `env` holds the phantom
/// token and base URL).
pub fn session_for(server: &Server, service: &str, secret: &str) -> Value {
    let (status, body) = call(
        server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(serde_json::json!({"service": service, "secret": secret})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, session) = call(
        server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(serde_json::json!({"services": [service]})),
    );
    assert_eq!(status, 201, "{session}");
    session
}

/// The `id` of an API object.
pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// `sh -c script` in workspace `ws` as `token`'s caller (60 s deadline);
/// the exec result, once the call answered 200.
pub fn workspace_sh(server: &Server, token: &str, ws: &str, script: &str) -> Value {
    let (status, result) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(token),
        Some(serde_json::json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 60})),
    );
    assert_eq!(status, 200, "{result}");
    result
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A fresh PostgreSQL database on the server `scripts/test` starts
/// (`PADDOCK_TEST_POSTGRES_URL`), dropped with this value.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub fn create(tag: &str) -> PgDatabase {
        let admin_url = std::env::var("PADDOCK_TEST_POSTGRES_URL").expect(
            "PADDOCK_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server (bash scripts/test starts one)",
        );
        let name = format!("paddock_{tag}_{}", std::process::id());
        psql(&admin_url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let (base, _) = admin_url.rsplit_once('/').expect("URL with a database");
        PgDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

fn psql(url: &str, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Executor;
        let pool = sqlx::PgPool::connect(url).await.expect("connect to PostgreSQL");
        pool.execute(sql).await.expect("sql");
        pool.close().await;
    });
}

/// An SSE body as `(event, data)` pairs, parsed as the standard says:
/// frames split on a blank line, `data:` lines joined with `\n`, one
/// optional space after the colon removed.
pub fn parse_sse(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data: Vec<&str> = Vec::new();
            for line in frame.lines() {
                if let Some(rest) = line.strip_prefix("event:") {
                    name = Some(rest.trim().to_owned());
                } else if let Some(rest) = line.strip_prefix("data:") {
                    data.push(rest.strip_prefix(' ').unwrap_or(rest));
                }
            }
            Some((name?, data.join("\n")))
        })
        .collect()
}

/// Mints a scoped token for `ws` as tenant t1 (ten minutes unless
/// `ttl_secs` says otherwise); the whole answer, its secret in `token`.
pub fn mint(server: &Server, ws: &str, capabilities: &[&str], ttl_secs: u64) -> Value {
    let (status, token) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/tokens"),
        Some(OP1_TOKEN),
        Some(serde_json::json!({"capabilities": capabilities, "ttl_secs": ttl_secs, "label": "test"})),
    );
    assert_eq!(status, 201, "{token}");
    token
}

/// One JSON-RPC request to a workspace's MCP endpoint: the HTTP status and
/// the JSON answer.
pub fn mcp(server: &Server, ws: &str, token: &str, id: u64, method: &str, params: Value) -> (u16, Value) {
    let response = client()
        .post(format!("{}/v1/workspaces/{ws}/mcp", server.url))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
        .send()
        .expect("mcp request");
    let status = response.status().as_u16();
    let text = response.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

//! Subcommands that call a running `paddock serve`: credentials, sessions,
//! runs, the ledger, the audit log, API keys, whoami and health. Tables for
//! people, `--json` for scripts (exactly the body the server answered),
//! live output for streams, and a non-zero exit with the server's message
//! on failure.

use std::error::Error as _;
use std::io::Read;
use std::time::Duration;

use clap::{Args, Subcommand};
use paddock_api::runs::{ForkChild, ForkRequest, RunRequest};
use paddock_api::sessions::ExecRequest;
use paddock_api::{JailOptions, NetworkSpec};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::{interrupt, parse};

/// How to reach the server.
#[derive(Debug, Args)]
pub struct Connection {
    /// Server URL (http:// or https://).
    #[arg(long, global = true, env = "PADDOCK_URL", default_value = "http://127.0.0.1:7000", value_parser = parse::server_url)]
    pub url: String,
    /// API key.
    #[arg(long, global = true, env = "PADDOCK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the server's JSON answer as it is instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Limits and network of a run or exec.
#[derive(Debug, Args)]
pub struct JailFlags {
    /// Deadline: 30s, 5m, 1h (a bare number is seconds; whole seconds;
    /// the server allows 1s..1h, default 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
    pub timeout: Option<u64>,
    /// Memory limit: 512m, 1g (a bare number is MiB; whole MiB; the server
    /// allows 16m..8g, default 512m).
    #[arg(long, value_name = "SIZE", value_parser = parse::memory_mib)]
    pub memory: Option<u64>,
    /// CPU quota in percent of a core (1..800).
    #[arg(long)]
    pub cpu: Option<u32>,
    /// Processes and threads (1..1024).
    #[arg(long)]
    pub pids: Option<u32>,
    /// `none`, `loopback` or `allow:HOST[,HOST...]`.
    #[arg(long)]
    pub net: Option<String>,
    /// `standard` or `strict`.
    #[arg(long)]
    pub seccomp: Option<String>,
}

impl JailFlags {
    /// The request's limits and network, as the API takes them.
    pub(crate) fn options(&self) -> JailOptions {
        JailOptions {
            timeout_secs: self.timeout,
            memory_mb: self.memory,
            cpu_percent: self.cpu,
            max_pids: self.pids,
            seccomp: self.seccomp.clone(),
            network: self.net.as_deref().map(network_spec),
        }
    }
}

fn network_spec(text: &str) -> NetworkSpec {
    match text.strip_prefix("allow:") {
        Some(hosts) => NetworkSpec {
            mode: "allowlist".into(),
            domains: hosts.split(',').map(str::to_owned).collect(),
        },
        None => NetworkSpec {
            mode: text.to_owned(),
            domains: Vec::new(),
        },
    }
}

/// A request body from its wire type.
pub(crate) fn body_of(request: &impl serde::Serialize) -> Value {
    serde_json::to_value(request).unwrap_or(Value::Null)
}

/// `paddock credentials ...`
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store (or replace) the tenant's key for a service; the secret is read
    /// from standard input unless --secret is given.
    Put {
        service: String,
        #[arg(long)]
        secret: Option<String>,
    },
    /// List stored credentials (never the secrets).
    List,
    /// Delete the credential of a service.
    Rm { service: String },
}

/// `paddock sessions ...`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Create a session; prints its environment (tokens are shown only now).
    Create {
        /// Service to include (repeatable).
        #[arg(long = "service", required = true)]
        services: Vec<String>,
        /// Lifetime: 30m, 2h (a bare number is seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        ttl: Option<u64>,
        /// Path scope, SERVICE=GLOB (repeatable), e.g. openai=/v1/chat/*.
        #[arg(long = "scope", value_name = "SERVICE=GLOB")]
        scopes: Vec<String>,
        /// Requests the phantom proxy forwards for the session at most.
        #[arg(long, value_name = "N")]
        max_requests: Option<u64>,
    },
    /// List sessions.
    List,
    /// Show one session.
    Get { id: String },
    /// Close a session (its tokens stop working at once).
    Close { id: String },
    /// Run a command with the session's environment.
    Exec {
        id: String,
        #[command(flatten)]
        jail: JailFlags,
        /// The command and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
}

/// Where a run's code comes from.
#[derive(Debug, Args)]
pub struct CodeSource {
    /// javascript, python or bash.
    #[arg(long, short = 'l', default_value = "javascript")]
    pub language: String,
    /// The code itself.
    #[arg(short = 'c', conflicts_with = "file")]
    pub code: Option<String>,
    /// A file with the code, or `-` for standard input.
    pub file: Option<String>,
}

impl CodeSource {
    fn read(&self) -> Result<String, String> {
        match (&self.code, self.file.as_deref()) {
            (Some(code), _) => Ok(code.clone()),
            (None, Some("-")) | (None, None) => {
                let mut code = String::new();
                std::io::stdin()
                    .read_to_string(&mut code)
                    .map_err(|e| format!("reading standard input: {e}"))?;
                Ok(code)
            }
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        }
    }
}

/// `paddock runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Run code and print its output when it ends (live with --stream).
    Create {
        #[command(flatten)]
        source: CodeSource,
        #[command(flatten)]
        jail: JailFlags,
        /// Print the output live, as `paddock runs stream` does.
        #[arg(long)]
        stream: bool,
    },
    /// Run code and print its output live.
    Stream {
        #[command(flatten)]
        source: CodeSource,
        #[command(flatten)]
        jail: JailFlags,
    },
    /// Run a parent, copy its /output at the fork point, run children on
    /// the copies; prints each jail's output.
    Fork {
        /// javascript, python or bash.
        #[arg(long, short = 'l', default_value = "javascript")]
        language: String,
        /// The parent's code, `@FILE` to read a file, or `-` for stdin.
        #[arg(long)]
        parent: String,
        /// A child's code (repeatable, up to 16), `@FILE` for a file.
        #[arg(long = "child", required = true)]
        children: Vec<String>,
        /// When to fork: 1500ms, 2s (a bare number is seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_millis)]
        fork_after: Option<u64>,
        #[command(flatten)]
        jail: JailFlags,
    },
}

/// `CODE`, `@FILE` or `-` (standard input).
fn code_arg(text: &str) -> Result<String, Failure> {
    if text == "-" {
        let mut code = String::new();
        std::io::stdin()
            .read_to_string(&mut code)
            .map_err(|e| Failure(format!("reading standard input: {e}")))?;
        return Ok(code);
    }
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| Failure(format!("{path}: {e}"))),
        None => Ok(text.to_owned()),
    }
}

/// `paddock jails ...`
#[derive(Debug, Subcommand)]
pub enum JailsCommand {
    /// List ledger rows, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long, default_value = "20")]
        limit: u32,
    },
    /// Show one ledger row.
    Get { id: String },
}

/// `paddock keys ...` (admins)
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List API keys (never their tokens).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Create a key; its token is shown only now.
    Create {
        /// The tenant the key acts for.
        #[arg(long)]
        tenant: String,
        /// `operator` (its tenant only) or `admin` (every tenant).
        #[arg(long, default_value = "operator", value_parser = ["operator", "admin"])]
        role: String,
        /// A note to recognise the key by.
        #[arg(long)]
        label: Option<String>,
    },
    /// Revoke a key (it stops working at once).
    Revoke { id: String },
}

/// A failed call: the message and the exit status.
pub struct Failure(pub String);

pub(crate) type Outcome = Result<i32, Failure>;

/// A server's answer: the parsed JSON and the body exactly as it came
/// (what `--json` prints).
pub(crate) struct Reply {
    pub value: Value,
    pub raw: String,
}

pub(crate) struct Api<'a> {
    http: Client,
    conn: &'a Connection,
}

impl<'a> Api<'a> {
    pub(crate) fn new(conn: &'a Connection) -> Result<Api<'a>, Failure> {
        let http = Client::builder()
            .timeout(None)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Failure(format!("cannot set up the HTTP client: {}", reason(&conn.url, &e))))?;
        Ok(Api { http, conn })
    }

    pub(crate) fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.conn.url.trim_end_matches('/'));
        let request = self.http.request(method, url);
        match &self.conn.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    pub(crate) fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let response = request
            .send()
            .map_err(|e| Failure(describe_error(&self.conn.url, &e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().unwrap_or_default();
        Err(Failure(error_message(status.as_u16(), &text)))
    }

    /// Calls the server; the answer parsed and as it came.
    pub(crate) fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Reply, Failure> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self.send(request)?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(Reply {
                value: Value::Null,
                raw: String::new(),
            });
        }
        let raw = response.text().map_err(|e| {
            Failure(format!(
                "the answer from {} broke off: {}",
                self.conn.url,
                reason(&self.conn.url, &e)
            ))
        })?;
        let value = serde_json::from_str(&raw).unwrap_or_else(|_| Value::String(raw.clone()));
        Ok(Reply { value, raw })
    }

    pub(crate) fn get(&self, path: &str) -> Result<Reply, Failure> {
        self.call(reqwest::Method::GET, path, None)
    }

    /// Prints the answer as the server sent it (`--json`), or as `table`
    /// would.
    pub(crate) fn show(&self, reply: &Reply, table: impl FnOnce(&Value)) -> Outcome {
        if self.conn.json {
            print_raw(reply);
        } else {
            table(&reply.value);
        }
        Ok(0)
    }
}

/// The message of an error answer: the control plane's `{error, code}`,
/// the runtime's Problem Details (`{title, status, detail, details.code}`,
/// RFC 9457), or the bare body.
pub(crate) fn error_message(status: u16, text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| {
            let message = v["error"]
                .as_str()
                .or_else(|| v["detail"].as_str())
                .or_else(|| v["title"].as_str())?;
            let code = v["code"].as_str().or_else(|| v["details"]["code"].as_str());
            Some(match code {
                Some(code) => format!("{message} ({code}, HTTP {status})"),
                None => format!("{message} (HTTP {status})"),
            })
        })
        .unwrap_or_else(|| format!("HTTP {status}: {}", text.trim()))
}

/// The body as it came, ending in one newline.
fn print_raw(reply: &Reply) {
    if reply.raw.ends_with('\n') {
        print!("{}", reply.raw);
    } else {
        println!("{}", reply.raw);
    }
}

/// Why `url` could not be reached, from the whole chain of causes, e.g.
/// `cannot reach http://127.0.0.1:7000: connection refused (nothing
/// listens on 127.0.0.1:7000; is paddock serve running there?)`.
pub(crate) fn describe_error(url: &str, err: &reqwest::Error) -> String {
    format!("cannot reach {url}: {}", reason(url, err))
}

/// The cause of a failed request in words: TLS, DNS, refused, reset,
/// timed out, or the innermost message; never reqwest's bare "error
/// sending request".
pub(crate) fn reason(url: &str, err: &reqwest::Error) -> String {
    use std::io::ErrorKind;
    let parsed = reqwest::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.to_owned());
    let address = match parsed.as_ref().and_then(|u| u.port_or_known_default()) {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let chain: Vec<&(dyn std::error::Error + 'static)> =
        std::iter::successors(err.source(), |e| (*e).source()).collect();
    for e in &chain {
        if let Some(tls) = tls_error(*e) {
            let hint = if matches!(tls, rustls::Error::InvalidMessage(_)) {
                " (is the server speaking plain HTTP? then use an http:// URL)"
            } else {
                ""
            };
            return format!("the TLS handshake with {address} failed: {tls}{hint}");
        }
    }
    if err.is_timeout() {
        return format!("{address} did not answer in time (timed out)");
    }
    // hyper-util's resolver: "dns error", caused by getaddrinfo's message.
    if chain.iter().any(|e| e.to_string().starts_with("dns error")) {
        let why = chain.last().map(|e| e.to_string()).unwrap_or_default();
        return format!("cannot resolve the host name {host:?}: {why}");
    }
    for e in &chain {
        let Some(io) = e.downcast_ref::<std::io::Error>() else {
            continue;
        };
        return match io.kind() {
            ErrorKind::ConnectionRefused => {
                format!("connection refused (nothing listens on {address}; is paddock serve running there?)")
            }
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => {
                format!("the connection to {address} was closed ({io})")
            }
            ErrorKind::TimedOut => format!("{address} did not answer in time ({io})"),
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
                format!("{address} is unreachable ({io})")
            }
            _ => format!("{io} ({address})"),
        };
    }
    if err.is_builder() {
        return format!("bad request URL: {}", chain_text(&chain, err));
    }
    // Anything else (a server that does not speak HTTP, a connection
    // closed before the answer): every cause, outermost first.
    format!("{} (is {address} a paddock server?)", chain_text(&chain, err))
}

/// The causes joined with `: ` (skipping repeats), or the error itself.
fn chain_text(chain: &[&(dyn std::error::Error + 'static)], err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in chain {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

/// A rustls error, bare or inside (nested) `io::Error`s, whose `source()`
/// skips the error they wrap.
fn tls_error<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current = e;
    for _ in 0..8 {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner: &(dyn std::error::Error + 'static) = current.downcast_ref::<std::io::Error>()?.get_ref()?;
        current = inner;
    }
    None
}

/// Left-aligned columns.
pub(crate) fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row);
    }
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    }
}

pub(crate) fn cells(v: &Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| text(&v[*f])).collect()
}

/// The rows of a list answer: a bare array, or a page's `rows`.
pub(crate) fn rows(v: &Value) -> Vec<Value> {
    v.get("rows").unwrap_or(v).as_array().cloned().unwrap_or_default()
}

/// A list answer as a table of `fields`.
pub(crate) fn list_table(list: &Value, fields: &[&str]) {
    print_table(fields, rows(list).iter().map(|r| cells(r, fields)).collect());
}

/// One object as `field value` lines.
pub(crate) fn print_fields(v: &Value, fields: &[&str]) {
    let width = fields.iter().map(|f| f.len()).max().unwrap_or(0) + 2;
    for field in fields {
        println!("{field:<width$}{}", text(&v[*field]));
    }
}

/// `paddock whoami`.
pub fn whoami(conn: &Connection) -> Outcome {
    let api = Api::new(conn)?;
    let me = api.get("/v1/whoami")?;
    api.show(&me, |me| {
        println!("tenant {}, role {}", text(&me["tenant"]), text(&me["role"]))
    })
}

/// `paddock health` (no key needed).
pub fn health(conn: &Connection) -> Outcome {
    let api = Api::new(conn)?;
    let health = api.get("/v1/health")?;
    api.show(&health, |h| {
        println!("{} (paddock {})", text(&h["status"]), text(&h["version"]))
    })
}

/// `paddock credentials ...`.
pub fn credentials(conn: &Connection, command: &CredentialsCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        CredentialsCommand::Put { service, secret } => {
            let secret = match secret {
                Some(secret) => secret.clone(),
                None => {
                    let mut secret = String::new();
                    std::io::stdin()
                        .read_to_string(&mut secret)
                        .map_err(|e| Failure(format!("reading the secret from standard input: {e}")))?;
                    secret.trim().to_owned()
                }
            };
            let record = api.call(
                reqwest::Method::POST,
                "/v1/credentials",
                Some(json!({ "service": service, "secret": secret })),
            )?;
            api.show(&record, |r| {
                println!(
                    "stored {} for tenant {} ({})",
                    text(&r["service"]),
                    text(&r["tenant_id"]),
                    text(&r["fingerprint"])
                )
            })
        }
        CredentialsCommand::List => {
            let list = api.get("/v1/credentials")?;
            api.show(&list, |list| {
                list_table(list, &["service", "tenant_id", "fingerprint", "updated_at"])
            })
        }
        CredentialsCommand::Rm { service } => {
            api.call(reqwest::Method::DELETE, &format!("/v1/credentials/{service}"), None)?;
            if !conn.json {
                println!("deleted {service}");
            }
            Ok(0)
        }
    }
}

/// `paddock sessions ...`.
pub fn sessions(conn: &Connection, command: &SessionsCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        SessionsCommand::Create {
            services,
            ttl,
            scopes,
            max_requests,
        } => {
            let mut scope_map = serde_json::Map::new();
            for spec in scopes {
                let (service, glob) = spec
                    .split_once('=')
                    .ok_or_else(|| Failure(format!("--scope {spec:?}: expected SERVICE=GLOB")))?;
                let entry = scope_map.entry(service.to_owned()).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(json!(glob));
                }
            }
            let mut body = json!({ "services": services, "scopes": scope_map });
            if let Some(ttl) = ttl {
                body["ttl_secs"] = json!(ttl);
            }
            if let Some(n) = max_requests {
                body["max_requests"] = json!(n);
            }
            let session = api.call(reqwest::Method::POST, "/v1/sessions", Some(body))?;
            api.show(&session, |s| {
                println!("# session {} (expires {})", text(&s["id"]), text(&s["expires_at"]));
                if let Some(env) = s["env"].as_object() {
                    for (key, value) in env {
                        println!("export {key}={}", text(value));
                    }
                }
            })
        }
        SessionsCommand::List => {
            let list = api.get("/v1/sessions")?;
            api.show(&list, |list| {
                list_table(list, &["id", "status", "services", "created_at", "expires_at"])
            })
        }
        SessionsCommand::Get { id } => {
            let session = api.get(&format!("/v1/sessions/{id}"))?;
            api.show(&session, |s| {
                print_fields(
                    s,
                    &[
                        "id",
                        "status",
                        "services",
                        "created_at",
                        "expires_at",
                        "closed_at",
                        "max_requests",
                        "requests_used",
                    ],
                )
            })
        }
        SessionsCommand::Close { id } => {
            api.call(reqwest::Method::DELETE, &format!("/v1/sessions/{id}"), None)?;
            if !conn.json {
                println!("closed {id}");
            }
            Ok(0)
        }
        SessionsCommand::Exec { id, jail, command } => {
            let body = body_of(&ExecRequest {
                cmd: command[0].clone(),
                args: command[1..].to_vec(),
                options: jail.options(),
            });
            if conn.json {
                let result = api.call(reqwest::Method::POST, &format!("/v1/sessions/{id}/exec"), Some(body))?;
                return print_result(conn, &result);
            }
            stream_post(&api, conn, &format!("/v1/sessions/{id}/exec/stream"), body)
        }
    }
}

/// Prints a run's output (or its JSON) and returns its exit status.
pub(crate) fn print_result(conn: &Connection, result: &Reply) -> Outcome {
    if conn.json {
        print_raw(result);
    } else {
        print_output(&result.value);
        note_truncation(&result.value);
    }
    Ok(exit_status(&result.value))
}

/// Like `paddock run`: 124 on timeout, 137 after an OOM kill, else the code.
fn exit_status(result: &Value) -> i32 {
    if result["timed_out"] == true {
        eprintln!("paddock: the run was killed at its deadline");
        124
    } else if result["oom_killed"] == true {
        eprintln!("paddock: the run ran out of memory and was killed");
        137
    } else {
        result["exit_code"].as_i64().unwrap_or(1) as i32
    }
}

/// `paddock runs ...`.
pub fn runs(conn: &Connection, command: &RunsCommand) -> Outcome {
    let api = Api::new(conn)?;
    let (source, jail, stream) = match command {
        RunsCommand::Create { source, jail, stream } => (source, jail, *stream),
        RunsCommand::Stream { source, jail } => (source, jail, true),
        RunsCommand::Fork {
            language,
            parent,
            children,
            fork_after,
            jail,
        } => {
            let children = children
                .iter()
                .map(|c| code_arg(c).map(|code| ForkChild { code, memory_mb: None }))
                .collect::<Result<Vec<_>, _>>()?;
            let body = body_of(&ForkRequest {
                parent_code: code_arg(parent)?,
                child_code: None,
                children,
                language: language.clone(),
                fork_after_ms: *fork_after,
                options: jail.options(),
            });
            let reply = api.call(reqwest::Method::POST, "/v1/runs/fork", Some(body))?;
            if conn.json {
                print_raw(&reply);
                return Ok(0);
            }
            let result = &reply.value;
            let jails = std::iter::once(("parent".to_owned(), &result["parent"])).chain(
                result["children"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, child)| (format!("child {i}"), child)),
            );
            let mut worst = 0;
            for (name, jail) in jails {
                println!("=== {name}: exit {}", text(&jail["exit_code"]));
                print_output(jail);
                worst = worst.max(exit_status(jail));
            }
            return Ok(worst);
        }
    };
    let body = body_of(&RunRequest {
        code: source.read().map_err(Failure)?,
        language: source.language.clone(),
        options: jail.options(),
    });
    if !stream {
        let result = api.call(reqwest::Method::POST, "/v1/runs", Some(body))?;
        return print_result(conn, &result);
    }
    stream_post(&api, conn, "/v1/runs/stream", body)
}

/// Posts `body` to a streaming route and prints the jail's output as it
/// comes, byte for byte (`?output=chunks`: progress bars redraw as in a
/// terminal); returns the run's exit status.
pub(crate) fn stream_post(api: &Api, conn: &Connection, path: &str, body: Value) -> Outcome {
    let response = api.send(
        api.request(reqwest::Method::POST, &format!("{path}?output=chunks"))
            .json(&body),
    )?;
    // The stream names its run in its headers, before any output: from now
    // on Ctrl-C also cancels it by id. (A blocking request's headers come
    // with its result, when there is nothing left to cancel.)
    interrupt::watch(&conn.url, conn.api_key.as_deref(), response.headers());
    let outcome = follow_stream(conn, response);
    interrupt::forget();
    outcome
}

/// Prints SSE events as they arrive; returns the run's exit status.
fn follow_stream(conn: &Connection, response: Response) -> Outcome {
    // One per stream: a character split between two chunks stays whole.
    let (mut out_filter, mut err_filter) = (crate::run::Neutralizer::default(), crate::run::Neutralizer::default());
    for message in crate::sse::events(response) {
        let (event, raw) = message.map_err(|e| Failure(format!("the stream from {} broke off: {e}", conn.url)))?;
        let data: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
        if conn.json {
            println!("{}", json!({ "event": event, "data": data }));
        }
        match event.as_str() {
            "stdout" if !conn.json => write_chunk(&mut std::io::stdout(), &data, &mut out_filter),
            "stderr" if !conn.json => write_chunk(&mut std::io::stderr(), &data, &mut err_filter),
            // Ended by our own Ctrl-C (its cancel): exit as interrupted.
            "completed" | "error" if interrupt::was_interrupted() => return Ok(interrupt::EXIT_INTERRUPTED),
            "completed" => {
                note_truncation(&data);
                return Ok(exit_status(&data));
            }
            "error" => return Err(Failure(format!("the run failed: {}", text(&data["message"])))),
            _ => {}
        }
    }
    Err(Failure("the stream ended without a result".into()))
}

/// Writes a result's `stdout` and `stderr` (control characters shown as
/// text where they go to a terminal, see [`crate::run::for_terminal`]).
fn print_output(result: &Value) {
    use std::io::Write;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let out = result["stdout"].as_str().unwrap_or("").as_bytes();
    let err = result["stderr"].as_str().unwrap_or("").as_bytes();
    let _ = stdout.lock().write_all(&crate::run::for_terminal(out, &stdout));
    let _ = stderr.lock().write_all(&crate::run::for_terminal(err, &stderr));
    let _ = stdout.lock().flush();
}

/// Writes one output chunk (`{"text"}` or `{"base64"}`) as its bytes,
/// through `filter` where `out` is a terminal.
fn write_chunk<W: std::io::Write + std::io::IsTerminal>(
    out: &mut W,
    chunk: &Value,
    filter: &mut crate::run::Neutralizer,
) {
    use base64::Engine as _;
    let bytes = match (chunk["text"].as_str(), chunk["base64"].as_str()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_default(),
        _ => return,
    };
    let bytes = if out.is_terminal() {
        let mut shown = Vec::with_capacity(bytes.len());
        filter.push(&bytes, &mut shown);
        shown
    } else {
        bytes
    };
    // A closed pipe ends the command quietly elsewhere; nothing to add here.
    let _ = out.write_all(&bytes).and_then(|()| out.flush());
}

/// Says on stderr when the server cut a stream at its capture cap.
fn note_truncation(result: &Value) {
    for stream in ["stdout", "stderr"] {
        if result[format!("{stream}_truncated")] == true {
            eprintln!("paddock: {stream} was longer than the server keeps and was cut");
        }
    }
}

/// `paddock jails ...`.
pub fn jails(conn: &Connection, command: &JailsCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        JailsCommand::List { status, kind, limit } => {
            let mut path = format!("/v1/jails?limit={limit}");
            for (key, value) in [("status", status), ("kind", kind)] {
                if let Some(value) = value {
                    path.push_str(&format!("&{key}={}", encode(value)));
                }
            }
            let list = api.get(&path)?;
            api.show(&list, |list| {
                list_table(
                    list,
                    &[
                        "id",
                        "kind",
                        "status",
                        "exit_code",
                        "duration_ms",
                        "started_at",
                        "session_id",
                    ],
                )
            })
        }
        JailsCommand::Get { id } => {
            let row = api.get(&format!("/v1/jails/{id}"))?;
            api.show(&row, |r| {
                print_fields(
                    r,
                    &[
                        "id",
                        "kind",
                        "status",
                        "exit_code",
                        "duration_ms",
                        "timed_out",
                        "oom_killed",
                        "started_at",
                        "ended_at",
                        "error",
                    ],
                );
                println!("--- stdout\n{}", r["stdout"].as_str().unwrap_or(""));
                println!("--- stderr\n{}", r["stderr"].as_str().unwrap_or(""));
            })
        }
    }
}

/// `paddock audit`: the phantom proxy's requests, or (`--actions`) the
/// control-plane actions.
pub fn audit(conn: &Connection, limit: u32, actions: bool) -> Outcome {
    let api = Api::new(conn)?;
    if actions {
        let list = api.get(&format!("/v1/audit/actions?limit={limit}"))?;
        return api.show(&list, |list| {
            list_table(list, &["id", "at", "tenant_id", "actor", "action", "target"])
        });
    }
    let list = api.get(&format!("/v1/audit?limit={limit}"))?;
    api.show(&list, |list| {
        list_table(
            list,
            &[
                "id",
                "at",
                "session_id",
                "service",
                "method",
                "path",
                "status",
                "reject_reason",
            ],
        )
    })
}

const KEY_FIELDS: [&str; 7] = ["id", "tenant", "role", "label", "source", "created_at", "revoked_at"];

/// `paddock keys ...`.
pub fn keys(conn: &Connection, command: &KeysCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        KeysCommand::List { tenant } => {
            let path = match tenant {
                Some(tenant) => format!("/v1/keys?tenant={}", encode(tenant)),
                None => "/v1/keys".to_owned(),
            };
            let list = api.get(&path)?;
            api.show(&list, |list| list_table(list, &KEY_FIELDS))
        }
        KeysCommand::Create { tenant, role, label } => {
            let mut body = json!({ "tenant": tenant, "role": role });
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            let key = api.call(reqwest::Method::POST, "/v1/keys", Some(body))?;
            api.show(&key, |k| {
                print_fields(k, &["id", "tenant", "role", "label", "created_at", "token"]);
                eprintln!("paddock: store the token now; it is not shown again");
            })
        }
        KeysCommand::Revoke { id } => {
            api.call(reqwest::Method::DELETE, &format!("/v1/keys/{}", encode(id)), None)?;
            if !conn.json {
                println!("revoked {id}");
            }
            Ok(0)
        }
    }
}

/// Percent-encodes a query value or path segment.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn fail(url: &str, client: Client) -> String {
        let err = client.get(format!("{url}/v1/health")).send().unwrap_err();
        reason(url, &err)
    }

    #[test]
    fn a_refused_connection_names_the_address() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let why = fail(&format!("http://{addr}"), Client::new());
        assert_eq!(
            why,
            format!("connection refused (nothing listens on {addr}; is paddock serve running there?)")
        );
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let client = Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
        let why = fail(&url, client);
        assert!(why.contains("did not answer in time (timed out)"), "{why}");
    }

    #[test]
    fn a_server_that_is_not_http_is_described_by_its_causes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let _ = stream.read(&mut [0; 1024]);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.6\r\n");
        });
        let why = fail(&url, Client::new());
        assert!(!why.contains("error sending request"), "{why}");
        assert!(why.to_lowercase().contains("invalid http"), "{why}");
        assert!(why.ends_with("a paddock server?)"), "{why}");
    }

    #[test]
    fn error_messages_read_api_errors_and_problem_details() {
        assert_eq!(
            error_message(404, r#"{"error":"no such workspace","code":"NOT_FOUND"}"#),
            "no such workspace (NOT_FOUND, HTTP 404)"
        );
        let problem = r#"{"type":"urn:sandbox-agent:error:conflict","title":"Conflict","status":409,"detail":"this process takes no input","details":{"code":"PROCESS_CONFLICT"}}"#;
        assert_eq!(
            error_message(409, problem),
            "this process takes no input (PROCESS_CONFLICT, HTTP 409)"
        );
        assert_eq!(
            error_message(400, r#"{"type":"x","title":"Invalid Request","status":400}"#),
            "Invalid Request (HTTP 400)"
        );
        assert_eq!(error_message(502, "bad gateway\n"), "HTTP 502: bad gateway");
    }

    #[test]
    fn encode_escapes_everything_but_unreserved() {
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode("key_1-x.y~"), "key_1-x.y~");
    }
}

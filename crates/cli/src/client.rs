//! Subcommands that call a running `paddock serve`: credentials, sessions,
//! runs, the ledger, the audit log, whoami and health. Tables for people,
//! `--json` for scripts, live output for streams, and a non-zero exit with
//! the server's message on failure.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{json, Value};

use crate::parse;

/// How to reach the server.
#[derive(Debug, Args)]
pub struct Connection {
    /// Server URL.
    #[arg(long, global = true, env = "PADDOCK_URL", default_value = "http://127.0.0.1:7000")]
    pub url: String,
    /// API key.
    #[arg(long, global = true, env = "PADDOCK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Limits and network of a run or exec.
#[derive(Debug, Args)]
pub struct JailFlags {
    /// Deadline in seconds (1..3600, default 300).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Memory in MiB (16..8192, default 512).
    #[arg(long, value_name = "MIB")]
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
    pub(crate) fn apply(&self, body: &mut Value) {
        let fields = [
            ("timeout_secs", self.timeout.map(Value::from)),
            ("memory_mb", self.memory.map(Value::from)),
            ("cpu_percent", self.cpu.map(Value::from)),
            ("max_pids", self.pids.map(Value::from)),
            ("seccomp", self.seccomp.clone().map(Value::from)),
            ("network", self.net.as_deref().map(network_json)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                body[key] = value;
            }
        }
    }
}

fn network_json(text: &str) -> Value {
    match text.strip_prefix("allow:") {
        Some(hosts) => json!({"mode": "allowlist", "domains": hosts.split(',').collect::<Vec<_>>()}),
        None => json!({ "mode": text }),
    }
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
        /// Lifetime (e.g. 30m, 2h).
        #[arg(long, value_parser = parse::duration)]
        ttl: Option<Duration>,
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
    /// Run code and print its output when it ends.
    Create {
        #[command(flatten)]
        source: CodeSource,
        #[command(flatten)]
        jail: JailFlags,
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
        /// When to fork (e.g. 1500ms, 2s).
        #[arg(long, value_parser = parse::duration)]
        fork_after: Option<Duration>,
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

/// A failed call: the message and the exit status.
pub struct Failure(pub String);

pub(crate) type Outcome = Result<i32, Failure>;

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
            .map_err(|e| Failure(e.to_string()))?;
        Ok(Api { http, conn })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let url = format!("{}{path}", self.conn.url.trim_end_matches('/'));
        let request = self.http.request(method, url);
        match &self.conn.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let response = request
            .send()
            .map_err(|e| Failure(format!("cannot reach {}: {e}", self.conn.url)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                let error = v["error"].as_str()?.to_owned();
                Some(match v["code"].as_str() {
                    Some(code) => format!("{error} ({code}, HTTP {})", status.as_u16()),
                    None => format!("{error} (HTTP {})", status.as_u16()),
                })
            })
            .unwrap_or_else(|| format!("HTTP {}: {}", status.as_u16(), text.trim()));
        Err(Failure(message))
    }

    pub(crate) fn json(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Failure> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self.send(request)?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let text = response.text().map_err(|e| Failure(e.to_string()))?;
        serde_json::from_str(&text).or(Ok(Value::String(text)))
    }

    pub(crate) fn get(&self, path: &str) -> Result<Value, Failure> {
        self.json(reqwest::Method::GET, path, None)
    }

    /// Prints `value` as JSON, or as `table` would.
    pub(crate) fn show(&self, value: &Value, table: impl FnOnce(&Value)) -> Outcome {
        if self.conn.json {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
        } else {
            table(value);
        }
        Ok(0)
    }
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

pub(crate) fn rows(v: &Value) -> Vec<Value> {
    v.get("rows").unwrap_or(v).as_array().cloned().unwrap_or_default()
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
            let record = api.json(
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
                let fields = ["service", "tenant_id", "fingerprint", "updated_at"];
                print_table(&fields, rows(list).iter().map(|r| cells(r, &fields)).collect());
            })
        }
        CredentialsCommand::Rm { service } => {
            api.json(reqwest::Method::DELETE, &format!("/v1/credentials/{service}"), None)?;
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
                body["ttl_secs"] = json!(ttl.as_secs().max(1));
            }
            if let Some(n) = max_requests {
                body["max_requests"] = json!(n);
            }
            let session = api.json(reqwest::Method::POST, "/v1/sessions", Some(body))?;
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
                let fields = ["id", "status", "services", "created_at", "expires_at"];
                print_table(&fields, rows(list).iter().map(|r| cells(r, &fields)).collect());
            })
        }
        SessionsCommand::Get { id } => {
            let session = api.get(&format!("/v1/sessions/{id}"))?;
            api.show(&session, |s| {
                for field in [
                    "id",
                    "status",
                    "services",
                    "created_at",
                    "expires_at",
                    "closed_at",
                    "max_requests",
                    "requests_used",
                ] {
                    println!("{field:<11} {}", text(&s[field]));
                }
            })
        }
        SessionsCommand::Close { id } => {
            api.json(reqwest::Method::DELETE, &format!("/v1/sessions/{id}"), None)?;
            if !conn.json {
                println!("closed {id}");
            }
            Ok(0)
        }
        SessionsCommand::Exec { id, jail, command } => {
            let mut body = json!({ "cmd": command[0], "args": &command[1..] });
            jail.apply(&mut body);
            let result = api.json(reqwest::Method::POST, &format!("/v1/sessions/{id}/exec"), Some(body))?;
            print_result(conn, &result)
        }
    }
}

/// Prints a run's output (or its JSON) and returns its exit status.
pub(crate) fn print_result(conn: &Connection, result: &Value) -> Outcome {
    if conn.json {
        println!("{}", serde_json::to_string_pretty(result).unwrap_or_default());
    } else {
        print!("{}", result["stdout"].as_str().unwrap_or(""));
        eprint!("{}", result["stderr"].as_str().unwrap_or(""));
    }
    Ok(exit_status(result))
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
        RunsCommand::Create { source, jail } => (source, jail, false),
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
                .map(|c| code_arg(c).map(|code| json!({ "code": code })))
                .collect::<Result<Vec<_>, _>>()?;
            let mut body = json!({ "language": language, "parent_code": code_arg(parent)?, "children": children });
            if let Some(after) = fork_after {
                body["fork_after_ms"] = json!(after.as_millis() as u64);
            }
            jail.apply(&mut body);
            let result = api.json(reqwest::Method::POST, "/v1/runs/fork", Some(body))?;
            if conn.json {
                println!("{}", serde_json::to_string_pretty(&result).unwrap_or_default());
                return Ok(0);
            }
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
                print!("{}", jail["stdout"].as_str().unwrap_or(""));
                eprint!("{}", jail["stderr"].as_str().unwrap_or(""));
                worst = worst.max(exit_status(jail));
            }
            return Ok(worst);
        }
    };
    let code = source.read().map_err(Failure)?;
    let mut body = json!({ "code": code, "language": source.language });
    jail.apply(&mut body);
    if !stream {
        let result = api.json(reqwest::Method::POST, "/v1/runs", Some(body))?;
        return print_result(conn, &result);
    }
    let response = api.send(api.request(reqwest::Method::POST, "/v1/runs/stream").json(&body))?;
    follow_stream(conn, response)
}

/// Prints SSE events as they arrive; returns the run's exit status.
fn follow_stream(conn: &Connection, response: Response) -> Outcome {
    let mut event = String::new();
    for line in BufReader::new(response).lines() {
        let line = line.map_err(|e| Failure(format!("the stream broke: {e}")))?;
        if let Some(name) = line.strip_prefix("event: ") {
            event = name.to_owned();
            continue;
        }
        let Some(raw) = line.strip_prefix("data:") else {
            continue;
        };
        let raw = raw.strip_prefix(' ').unwrap_or(raw);
        // Output lines are bare text (as agentjail sends them); the rest JSON.
        let data: Value = match event.as_str() {
            "stdout" | "stderr" => Value::String(raw.to_owned()),
            _ => serde_json::from_str(raw).unwrap_or(Value::Null),
        };
        if conn.json {
            println!("{}", json!({ "event": event, "data": data }));
        }
        match event.as_str() {
            "stdout" if !conn.json => println!("{raw}"),
            "stderr" if !conn.json => eprintln!("{raw}"),
            "completed" => return Ok(exit_status(&data)),
            "error" => return Err(Failure(format!("the run failed: {}", text(&data["message"])))),
            _ => {}
        }
    }
    Err(Failure("the stream ended without a result".into()))
}

/// `paddock jails ...`.
pub fn jails(conn: &Connection, command: &JailsCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        JailsCommand::List { status, kind, limit } => {
            let mut path = format!("/v1/jails?limit={limit}");
            for (key, value) in [("status", status), ("kind", kind)] {
                if let Some(value) = value {
                    path.push_str(&format!("&{key}={value}"));
                }
            }
            let list = api.get(&path)?;
            api.show(&list, |list| {
                let fields = [
                    "id",
                    "kind",
                    "status",
                    "exit_code",
                    "duration_ms",
                    "started_at",
                    "session_id",
                ];
                print_table(&fields, rows(list).iter().map(|r| cells(r, &fields)).collect());
            })
        }
        JailsCommand::Get { id } => {
            let row = api.get(&format!("/v1/jails/{id}"))?;
            api.show(&row, |r| {
                for field in [
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
                ] {
                    println!("{field:<12} {}", text(&r[field]));
                }
                println!("--- stdout\n{}", r["stdout"].as_str().unwrap_or(""));
                println!("--- stderr\n{}", r["stderr"].as_str().unwrap_or(""));
            })
        }
    }
}

/// `paddock audit`.
pub fn audit(conn: &Connection, limit: u32) -> Outcome {
    let api = Api::new(conn)?;
    let list = api.get(&format!("/v1/audit?limit={limit}"))?;
    api.show(&list, |list| {
        let fields = [
            "id",
            "at",
            "actor",
            "action",
            "target",
            "service",
            "status",
            "reject_reason",
        ];
        print_table(&fields, rows(list).iter().map(|r| cells(r, &fields)).collect());
    })
}

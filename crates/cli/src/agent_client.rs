//! `paddock agent run` and `paddock agent transcript`: a coding agent in a
//! workspace from the terminal. The CLI is an ACP client of the server's
//! `…/runtime/v1/acp/{server}`: it starts the agent, opens a session,
//! sends the prompt, and prints the conversation as it streams (the
//! agent's words on stdout; tool calls, plans and permission questions on
//! stderr), answering permission requests as the user says.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{encode, Api, Connection, Failure, Outcome};

/// How permission requests are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Permissions {
    /// Ask on the terminal (refused when there is none).
    Ask,
    /// Allow each request once.
    Allow,
    /// Refuse every request.
    Reject,
}

/// `paddock agent run`.
#[derive(Debug, Args)]
pub struct AgentRunArgs {
    /// The agent: claude, codex, opencode, pi or mock.
    pub agent: String,
    /// The workspace it works in.
    #[arg(long = "ws")]
    pub workspace: String,
    /// What to ask.
    #[arg(required = true, num_args = 1..)]
    pub prompt: Vec<String>,
    /// Its working directory.
    #[arg(long, default_value = "/workspace")]
    pub cwd: String,
    /// A session mode the agent offers (claude: default, acceptEdits, plan, …).
    #[arg(long)]
    pub mode: Option<String>,
    /// How permission requests are answered.
    #[arg(long, value_enum, default_value_t = Permissions::Ask)]
    pub permissions: Permissions,
    /// Keep the agent's ACP server (and print its id) instead of ending it.
    #[arg(long)]
    pub keep: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// `paddock agent run`.
pub fn run(args: &AgentRunArgs) -> Outcome {
    let api = Api::new(&args.connection)?;
    let server = format!("cli-{}-{:016x}", args.agent, rand_u64());
    let acp = format!(
        "/v1/workspaces/{}/runtime/v1/acp/{}",
        encode(&args.workspace),
        encode(&server)
    );
    let next_id = std::cell::Cell::new(0u64);
    let request = |method: &str, params: Value, query: &str| -> Result<Value, Failure> {
        next_id.set(next_id.get() + 1);
        let envelope = json!({ "jsonrpc": "2.0", "id": next_id.get(), "method": method, "params": params });
        let reply = api.call(Method::POST, &format!("{acp}{query}"), Some(envelope))?;
        match reply.value.get("error") {
            Some(error) => Err(Failure(format!(
                "the agent refused {method}: {}",
                error["message"].as_str().unwrap_or("(no message)")
            ))),
            None => Ok(reply.value["result"].clone()),
        }
    };
    let started = (|| {
        let init = request(
            "initialize",
            json!({ "protocolVersion": 1, "clientInfo": { "name": "paddock-cli", "version": env!("CARGO_PKG_VERSION") } }),
            &format!("?agent={}", encode(&args.agent)),
        )?;
        // Agents that log in from their environment (the phantom token).
        let env_login = init["authMethods"].as_array().into_iter().flatten().find_map(|m| {
            let id = m["id"].as_str()?;
            matches!(id, "codex-api-key" | "openai-api-key" | "anthropic-api-key").then(|| id.to_owned())
        });
        if let Some(method) = env_login {
            request("authenticate", json!({ "methodId": method }), "")?;
        }
        let session = request("session/new", json!({ "cwd": args.cwd, "mcpServers": [] }), "")?;
        let session_id = session["sessionId"]
            .as_str()
            .ok_or_else(|| Failure("the agent answered session/new without a sessionId".into()))?
            .to_owned();
        if let Some(mode) = &args.mode {
            request(
                "session/set_mode",
                json!({ "sessionId": session_id, "modeId": mode }),
                "",
            )?;
        }
        Ok::<_, Failure>(session_id)
    })();
    // The server is deleted on every way out (unless kept).
    let _server = ServerGuard {
        api: &api,
        acp: &acp,
        keep: args.keep,
    };
    let session_id = started?;

    // The agent's messages, printed (and its questions answered) by a reader.
    let response = api.send(api.request(Method::GET, &acp).header("accept", "text/event-stream"))?;
    let prompt_id = next_id.get() + 1;
    let (done_tx, done_rx) = mpsc::channel();
    let answerer = Answerer {
        http: Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Failure(format!("cannot set up the HTTP client: {e}")))?,
        url: format!("{}{acp}", args.connection.url.trim_end_matches('/')),
        key: args.connection.api_key.clone(),
        permissions: args.permissions,
    };
    std::thread::spawn(move || {
        answerer.read(response, prompt_id);
        let _ = done_tx.send(());
    });
    let text = args.prompt.join(" ");
    let answer = request(
        "session/prompt",
        json!({ "sessionId": session_id, "prompt": [{ "type": "text", "text": text }] }),
        "",
    );
    // Everything the agent said before its answer is printed first.
    let _ = done_rx.recv_timeout(Duration::from_secs(10));
    println!();
    let outcome = match answer {
        Ok(result) => {
            let stop = result["stopReason"].as_str().unwrap_or("unknown").to_owned();
            eprintln!("[{} stopped: {stop}]", args.agent);
            Ok(if stop == "end_turn" { 0 } else { 1 })
        }
        Err(err) => Err(err),
    };
    if args.keep {
        eprintln!(
            "[ACP server {server}: `paddock agent transcript --ws {} {server}`]",
            args.workspace
        );
    }
    outcome
}

/// Deletes the ACP server when dropped (unless kept).
struct ServerGuard<'a> {
    api: &'a Api<'a>,
    acp: &'a str,
    keep: bool,
}

impl Drop for ServerGuard<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.api.call(Method::DELETE, self.acp, None);
        }
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Reads the agent's stream: prints it, answers its permission requests.
struct Answerer {
    http: Client,
    url: String,
    key: Option<String>,
    permissions: Permissions,
}

impl Answerer {
    /// Until the answer to request `prompt_id` passes by (or the stream ends).
    fn read(&self, response: reqwest::blocking::Response, prompt_id: u64) {
        for message in crate::sse::events(response) {
            let Ok((event, data)) = message else { return };
            if event != "message" {
                continue;
            }
            let Ok(envelope) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            match envelope["method"].as_str() {
                Some("session/update") => show_update(&envelope["params"]["update"]),
                Some("session/request_permission") => self.answer(&envelope),
                Some(_) => {}
                None if envelope["id"].as_u64() == Some(prompt_id) => return,
                None => {}
            }
        }
    }

    fn answer(&self, request: &Value) {
        let params = &request["params"];
        let options = params["options"].as_array().cloned().unwrap_or_default();
        let title = params["toolCall"]["title"].as_str().unwrap_or("a tool call");
        let pick = |kinds: &[&str]| {
            kinds.iter().find_map(|kind| {
                options
                    .iter()
                    .find(|o| o["kind"] == *kind)
                    .and_then(|o| o["optionId"].as_str())
                    .map(str::to_owned)
            })
        };
        let choice = match self.permissions {
            Permissions::Allow => pick(&["allow_once", "allow_always"]),
            Permissions::Reject => pick(&["reject_once", "reject_always"]),
            Permissions::Ask if !std::io::stdin().is_terminal() => {
                eprintln!("\n[permission: {title}: refused (no terminal to ask on; use --permissions allow)]");
                pick(&["reject_once", "reject_always"])
            }
            Permissions::Ask => {
                eprintln!("\n[permission] {title}");
                for (i, option) in options.iter().enumerate() {
                    eprintln!("  {}) {}", i + 1, option["name"].as_str().unwrap_or(""));
                }
                loop {
                    eprint!("choose 1-{}: ", options.len());
                    let _ = std::io::stderr().flush();
                    let mut line = String::new();
                    if std::io::stdin().lock().read_line(&mut line).unwrap_or(0) == 0 {
                        break pick(&["reject_once", "reject_always"]);
                    }
                    if let Some(option) = line
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| options.get(n.wrapping_sub(1)))
                    {
                        break option["optionId"].as_str().map(str::to_owned);
                    }
                }
            }
        };
        let outcome = match choice {
            Some(id) => json!({ "outcome": "selected", "optionId": id }),
            None => json!({ "outcome": "cancelled" }),
        };
        let body = json!({ "jsonrpc": "2.0", "id": request["id"], "result": { "outcome": outcome } });
        let mut post = self.http.post(&self.url).json(&body);
        if let Some(key) = &self.key {
            post = post.bearer_auth(key);
        }
        if let Err(err) = post.send().and_then(|r| r.error_for_status()) {
            eprintln!("[answering the permission request failed: {err}]");
        }
    }
}

/// One `session/update`, for a person.
fn show_update(update: &Value) {
    let text = |v: &Value| v["content"]["text"].as_str().unwrap_or("").to_owned();
    match update["sessionUpdate"].as_str() {
        Some("agent_message_chunk") => {
            print!("{}", text(update));
            let _ = std::io::stdout().flush();
        }
        Some("agent_thought_chunk") => eprint!("{}", text(update)),
        Some("tool_call") => eprintln!(
            "\n[tool] {} ({})",
            update["title"].as_str().unwrap_or("?"),
            update["status"].as_str().unwrap_or("pending")
        ),
        Some("tool_call_update") => {
            if let Some(status) = update["status"].as_str() {
                eprintln!("[tool {}] {status}", update["toolCallId"].as_str().unwrap_or("?"));
            }
        }
        Some("plan") => {
            for entry in update["entries"].as_array().into_iter().flatten() {
                eprintln!(
                    "[plan] {} ({})",
                    entry["content"].as_str().unwrap_or(""),
                    entry["status"].as_str().unwrap_or("")
                );
            }
        }
        _ => {}
    }
}

/// `paddock agent transcript`.
#[derive(Debug, Args)]
pub struct TranscriptArgs {
    /// The workspace.
    #[arg(long = "ws")]
    pub workspace: String,
    /// The ACP server (`paddock agent run --keep` prints it; `GET …/v1/acp` lists them).
    pub server: String,
    /// Only envelopes after this index.
    #[arg(long)]
    pub since: Option<i64>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `paddock agent transcript`: what the client and the agent said, in order.
pub fn transcript(args: &TranscriptArgs) -> Outcome {
    let api = Api::new(&args.connection)?;
    let mut since = args.since.unwrap_or(0);
    loop {
        let reply = api.get(&format!(
            "/v1/workspaces/{}/runtime/v1/acp/{}/events?since={since}&limit=1000",
            encode(&args.workspace),
            encode(&args.server)
        ))?;
        let events = reply.value["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            since = event["index"].as_i64().unwrap_or(since);
            if args.connection.json {
                println!("{event}");
            } else {
                let arrow = if event["direction"] == "outbound" { "→" } else { "←" };
                println!("{:>5} {arrow} {}", since, event["envelope"]);
            }
        }
        if reply.value["hasMore"] != Value::Bool(true) || events.is_empty() {
            return Ok(0);
        }
    }
}

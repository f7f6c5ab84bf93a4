//! `paddock ws code` and `paddock code`: run code on a workspace's Jupyter
//! kernel (`POST /v1/workspaces/{id}/code`), or without a workspace
//! (`POST /v1/code`), and show what it does for a terminal as it comes
//! (the `/stream` variant):
//! output streams as they are, text and JSON results printed, tables as
//! tables, images saved to files, an error with its traceback on stderr.
//! The exit status is the result's (0, 1 raised, 124 timed out, 137 the
//! kernel died).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::{Connection, Failure, Outcome};
use crate::run::for_terminal;
use crate::runtime_client::{print_json, Runtime};

/// What `paddock ws code` was given.
#[derive(Debug, clap::Args)]
pub struct CodeArgs {
    /// The workspace.
    pub id: String,
    #[command(flatten)]
    pub call: CallArgs,
}

/// The code and options of a call (`paddock ws code`, `paddock code`).
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// The code (default: --file, or standard input).
    pub code: Option<String>,
    /// python, bash, node or typescript.
    #[arg(long, short = 'l', default_value = "python")]
    pub language: String,
    /// Read the code from this file.
    #[arg(long, short = 'f', conflicts_with = "code")]
    pub file: Option<PathBuf>,
    /// The session whose kernel runs it (its variables are the session's).
    #[arg(long, short = 's')]
    pub session: Option<String>,
    /// Interrupt the code after this long: 30s, 5m (0: never; default 60s).
    #[arg(long, value_name = "DURATION", value_parser = crate::parse::duration)]
    pub timeout: Option<std::time::Duration>,
    /// Idempotency key: a repeat within 15 minutes returns the first
    /// successful result without running again.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Environment variable for this call (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// Working directory of a kernel this call starts.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Where images are saved (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub save_dir: PathBuf,
}

/// `paddock ws code`.
pub fn run(conn: &Connection, args: &CodeArgs) -> Outcome {
    let runtime = Runtime::new(conn, &args.id)?;
    let url = runtime.workspace_url("/code");
    call(conn, &runtime, &url, &args.call)
}

/// `paddock code`: one call in a workspace the server keeps warm (deleted
/// after it, or the session's).
pub fn run_once(conn: &Connection, args: &CallArgs) -> Outcome {
    let runtime = Runtime::new(conn, "")?;
    let url = runtime.server_url("/v1/code");
    call(conn, &runtime, &url, args)
}

/// `--json` prints the result as it came; otherwise the call is streamed
/// (`URL/stream`), its output shown as it comes.
fn call(conn: &Connection, runtime: &Runtime, url: &str, args: &CallArgs) -> Outcome {
    let body = args.body()?;
    let result = if conn.json {
        let (result, raw): (Value, String) = runtime.call(Method::POST, url, Some(body))?;
        print_json(&raw);
        result
    } else {
        let response = runtime.send(
            runtime
                .request(Method::POST, &format!("{url}/stream"))
                .header("accept", "text/event-stream")
                .json(&body),
        )?;
        let result = follow(response, &args.save_dir)?;
        if args.session.is_some() {
            if let Some(workspace) = result["workspaceId"].as_str() {
                eprintln!("paddock: the session's workspace is {workspace}");
            }
        }
        result
    };
    Ok(result["exitCode"].as_i64().unwrap_or(1) as i32)
}

/// Shows a streamed call's events as they come; the `completed` result.
fn follow(response: reqwest::blocking::Response, save_dir: &Path) -> Result<Value, Failure> {
    let mut count = 0;
    let mut shown = 0;
    for message in crate::sse::events(response) {
        let (event, data) = message.map_err(|e| Failure(format!("the code call's stream broke: {e}")))?;
        let value: Value =
            serde_json::from_str(&data).map_err(|e| Failure(format!("a {event} event that is not JSON: {e}")))?;
        match event.as_str() {
            "started" => {
                count = value["executionCount"].as_u64().unwrap_or(0) + 1;
                announce(&value);
            }
            "stdout" => write_safe(&mut std::io::stdout(), value["text"].as_str().unwrap_or("")),
            "stderr" => write_safe(&mut std::io::stderr(), value["text"].as_str().unwrap_or("")),
            "result" => {
                shown += 1;
                show_part(&value, count, shown, save_dir)?;
            }
            "completed" => {
                // The error part comes with the result.
                for part in value["results"].as_array().into_iter().flatten() {
                    if part["type"] == "error" {
                        show_part(part, count, 0, save_dir)?;
                    }
                }
                return Ok(value);
            }
            "error" => {
                return Err(Failure(format!(
                    "{} ({})",
                    value["message"].as_str().unwrap_or("the call failed"),
                    value["code"].as_str().unwrap_or("?")
                )))
            }
            _ => {}
        }
    }
    Err(Failure("the code call's stream ended without its result".into()))
}

impl CallArgs {
    /// The request body.
    fn body(&self) -> Result<Value, Failure> {
        let code = match (&self.code, &self.file) {
            (Some(code), _) => code.clone(),
            (None, Some(file)) => {
                std::fs::read_to_string(file).map_err(|e| Failure(format!("{}: {e}", file.display())))?
            }
            (None, None) => {
                let mut code = String::new();
                std::io::stdin()
                    .read_to_string(&mut code)
                    .map_err(|e| Failure(format!("reading the code from standard input: {e}")))?;
                code
            }
        };
        let mut env = serde_json::Map::new();
        for pair in &self.env {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| Failure(format!("--env takes NAME=VALUE, not {pair:?}")))?;
            env.insert(name.to_owned(), Value::String(value.to_owned()));
        }
        let mut body = json!({"language": self.language, "code": code, "env": env});
        for (field, value) in [
            ("sessionId", &self.session),
            ("idempotencyKey", &self.key),
            ("cwd", &self.cwd),
        ] {
            if let Some(value) = value {
                body[field] = json!(value);
            }
        }
        if let Some(timeout) = self.timeout {
            body["timeoutMs"] = json!(timeout.as_millis() as u64);
        }
        Ok(body)
    }
}

/// Says when the call started its kernel, and why the session's
/// variables are gone.
fn announce(kernel: &Value) {
    if kernel["started"] == true {
        let why = match kernel["restartReason"].as_str() {
            Some("died") => " (the session's previous kernel died: its variables are gone)",
            Some("workspace-stopped") => " (the workspace had stopped: the session's variables are gone)",
            Some("restarted") => " (restarted: the session's variables are gone)",
            _ => "",
        };
        eprintln!("paddock: started kernel {}{why}", kernel["id"].as_str().unwrap_or("?"));
    }
}

/// One result part for a terminal; images are saved as
/// `result-COUNT-N.FORMAT` in `save_dir`.
fn show_part(part: &Value, count: u64, n: usize, save_dir: &Path) -> Result<(), Failure> {
    match part["type"].as_str() {
        Some("text") | Some("html") => {
            let value = part["value"].as_str().unwrap_or("");
            write_safe(&mut std::io::stdout(), &format!("{value}\n"));
        }
        Some("json") => {
            let pretty = serde_json::to_string_pretty(&part["value"]).unwrap_or_default();
            write_safe(&mut std::io::stdout(), &format!("{pretty}\n"));
        }
        Some("dataframe") => write_safe(&mut std::io::stdout(), &table(part)),
        Some("image") => {
            let format = part["format"].as_str().unwrap_or("png");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(part["data"].as_str().unwrap_or(""))
                .map_err(|e| Failure(format!("an image that is not base64: {e}")))?;
            let path = save_dir.join(format!("result-{count}-{n}.{format}"));
            std::fs::write(&path, &bytes).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
            println!("[{format} image, {} bytes: {}]", bytes.len(), path.display());
        }
        Some("error") => {
            let traceback = part["traceback"].as_str().map(|t| format!("{t}\n")).unwrap_or_else(|| {
                format!(
                    "{}: {}\n",
                    part["name"].as_str().unwrap_or("Error"),
                    part["message"].as_str().unwrap_or("")
                )
            });
            write_safe(&mut std::io::stderr(), &traceback);
        }
        _ => {}
    }
    Ok(())
}

/// A dataframe part as an aligned text table.
fn table(part: &Value) -> String {
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "NaN".into(),
        other => other.to_string(),
    };
    let columns: Vec<String> = part["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or("").to_owned())
        .collect();
    let rows: Vec<Vec<String>> = part["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| row.as_array().into_iter().flatten().map(cell).collect())
        .collect();
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&columns[i]))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&columns);
    for row in &rows {
        out.push_str(&line(row));
    }
    if part["truncated"] == true {
        out.push_str("[rows left out]\n");
    }
    out
}

/// Writes `text`, with control characters shown as text on a terminal
/// (code output must not drive the operator's terminal).
fn write_safe<W: Write + IsTerminal>(out: &mut W, text: &str) {
    if text.is_empty() {
        return;
    }
    let shown = for_terminal(text.as_bytes(), out);
    let _ = out.write_all(&shown).and_then(|()| out.flush());
}

//! `paddock ws`, `paddock snapshots` and `paddock flavors`: workspaces and
//! snapshots on a running server, one subcommand per route, and adding a
//! flavor to this host's state directory. The runtime commands of `ws`
//! (`start`, `stop`, `ps`, `logs`, `kill`, `exec`, `cp`, `ls`, `cat`) are
//! in [`crate::runtime_client`] and [`crate::files_client`]; previews
//! (`preview`, `previews`, `unpreview`) are control-plane routes.

use std::path::PathBuf;

use base64::Engine;
use clap::Subcommand;
use reqwest::Method;
use serde_json::json;

use paddock_api::previews::NewPreview;
use paddock_api::runtime::processes::ProcessLogsStream;
use paddock_api::workspaces::{GitSeed, NewWorkspace, RepoSpec, WorkspaceExec};

use crate::client::{
    body_of, cells, encode, list_table, print_fields, print_result, print_table, stream_post, text, Api, Connection,
    Failure, JailFlags, Outcome, Reply,
};
use crate::{files_client, parse, runtime_client};

/// `paddock ws ...`
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace, empty or cloned from git.
    Create {
        /// A label to find it by.
        #[arg(long)]
        label: Option<String>,
        /// A repository to clone, `URL` or `URL#REF` (repeatable: several go
        /// into directories named after them).
        #[arg(long = "git", value_name = "URL[#REF]")]
        repos: Vec<String>,
        /// A flavor to mount at /opt/flavors/NAME (repeatable).
        #[arg(long = "flavor")]
        flavors: Vec<String>,
        /// Pause after this long without an exec: 15m, 1h (a bare number is
        /// seconds).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        idle_timeout: Option<u64>,
        /// Disk limit: the tree lives on a file system of this size (16m to
        /// 16t; the server must run as root). Default: the server's.
        #[arg(long, value_name = "SIZE", value_parser = parse::disk_mib)]
        disk: Option<u64>,
        #[command(flatten)]
        jail: JailFlags,
    },
    /// List workspaces, newest first.
    List {
        /// Search in id, label and repository.
        #[arg(long)]
        q: Option<String>,
        #[arg(long, default_value = "50")]
        limit: u32,
        #[arg(long, default_value = "0")]
        offset: u32,
    },
    /// Show one workspace.
    Get { id: String },
    /// Set (or with no LABEL, clear) a workspace's label.
    Rename { id: String, label: Option<String> },
    /// Delete a workspace (its snapshots stay).
    Rm { id: String },
    /// Run a command in the workspace; exits with its exit status.
    ///
    /// The command is a process of the running workspace (started on
    /// demand), next to the others; files under /workspace persist. A
    /// process ended by a signal exits 128+N (137 when the server does not
    /// say which signal). Output comes live, stdout and stderr apart. `-i` sends standard
    /// input to it, and its end (`echo hi | paddock ws exec -i ID -- cat`
    /// ends). `-it` attaches this terminal to a terminal in the
    /// workspace (raw mode, window size followed). Ctrl-C stops the process
    /// and exits 130. With `--timeout` or `--memory`, the command runs
    /// instead in a one-shot jail of its own (the legacy exec: no -i/-t).
    Exec {
        id: String,
        /// Send standard input to the process.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Run on a terminal, attached to this one (needs a terminal on
        /// standard input).
        #[arg(short = 't', long)]
        tty: bool,
        /// Working directory in the workspace (default /workspace).
        #[arg(long, value_name = "DIR")]
        cwd: Option<String>,
        /// Deadline: 30s, 5m, 1h (a bare number is seconds; default: the
        /// workspace's). Runs the legacy one-shot exec.
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds, conflicts_with_all = ["interactive", "tty", "cwd"])]
        timeout: Option<u64>,
        /// Memory limit: 512m, 1g (a bare number is MiB; default: the
        /// workspace's). Runs the legacy one-shot exec.
        #[arg(long, value_name = "SIZE", value_parser = parse::memory_mib, conflicts_with_all = ["interactive", "tty", "cwd"])]
        memory: Option<u64>,
        /// Environment variable (repeatable).
        #[arg(long = "env", short = 'e', value_name = "K=V")]
        env: Vec<String>,
        /// The command and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Run code on the workspace's Jupyter kernel (python, bash), keeping
    /// its variables between calls: output, results (tables as tables,
    /// images saved to files) and errors; the exit status is the code's.
    Code(crate::code_client::CodeArgs),
    /// Start the workspace's runtime jail (runtime commands also start it
    /// on demand).
    Start { id: String },
    /// Stop the workspace's runtime jail and every process in it (the
    /// files stay).
    Stop { id: String },
    /// List the processes of the workspace (running ones; all with --all).
    Ps {
        id: String,
        /// Exited processes too.
        #[arg(long, short = 'a')]
        all: bool,
    },
    /// Print a process's output (raw bytes; stderr to stderr).
    Logs {
        id: String,
        /// The process (`proc_N`, from `ps`).
        process: String,
        /// Keep printing until the process ends.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Which output: stdout, stderr, combined (default), or pty (the
        /// default for terminal processes).
        #[arg(long, value_parser = parse_log_stream)]
        stream: Option<ProcessLogsStream>,
        /// Only the last N chunks.
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Signal a process: TERM (default) or KILL, to its process group.
    Kill {
        id: String,
        /// The process (`proc_N`).
        process: String,
        /// TERM or KILL.
        #[arg(long, short = 's', default_value = "TERM")]
        signal: String,
        /// Wait up to this many milliseconds for it to end.
        #[arg(long, value_name = "MS")]
        wait: Option<u64>,
    },
    /// Copy files between this machine and a workspace, `ID:PATH` naming
    /// the workspace side (`paddock ws cp ./src wrk_1:/workspace/src`,
    /// `paddock ws cp wrk_1:/workspace/out.tar .`); directories too.
    Cp {
        /// Source: a local path or ID:PATH.
        src: String,
        /// Destination: a local path or ID:PATH (an existing directory
        /// receives the source under its own name).
        dst: String,
    },
    /// List a directory of the workspace (/workspace by default).
    Ls { id: String, path: Option<String> },
    /// Print a file of the workspace.
    Cat { id: String, path: String },
    /// Expose a port of the running workspace at a URL (private: the
    /// tenant's API key, or the one-time `access_url` in a browser).
    Preview {
        id: String,
        /// The port a server listens on inside the workspace.
        port: u32,
        /// Anyone with the URL may use it (until it expires: 1h unless
        /// --ttl says otherwise).
        #[arg(long)]
        public: bool,
        /// Lifetime: 30m, 1d (at most 7 days).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        ttl: Option<u64>,
    },
    /// List the workspace's previews, newest first.
    Previews { id: String },
    /// Revoke a preview (its URL and secret stop working at once).
    Unpreview {
        id: String,
        /// The preview (`prv_...`).
        preview: String,
    },
    /// Mint a scoped token for the workspace: a bearer token that opens
    /// only its routes the capabilities name (shown once).
    Token {
        id: String,
        /// What it may do: processes, files:read, files:write, code,
        /// agents, previews, desktop, browser, mcp (repeat or
        /// comma-separate).
        #[arg(long = "cap", value_name = "CAPABILITY", required = true, value_delimiter = ',')]
        capabilities: Vec<String>,
        /// Lifetime: 90s, 15m, 1d (at most 1 day; default 15m).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        ttl: Option<u64>,
        #[arg(long)]
        label: Option<String>,
    },
    /// List the workspace's scoped tokens, newest first (never secrets).
    Tokens { id: String },
    /// Revoke a scoped token (it stops working at once).
    Untoken {
        id: String,
        /// The token (`tok_...`).
        token: String,
    },
    /// Print a `.mcp.json` for the workspace's MCP endpoint, with a fresh
    /// scoped token (`paddock ws mcp-config wrk_1 > .mcp.json`).
    McpConfig {
        id: String,
        /// The token's capabilities besides mcp (default: processes,
        /// files:read, files:write, code).
        #[arg(long = "cap", value_name = "CAPABILITY", value_delimiter = ',')]
        capabilities: Vec<String>,
        /// The token's lifetime (default 15m, at most 1 day).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        ttl: Option<u64>,
        /// The key under `mcpServers` (default paddock).
        #[arg(long)]
        name: Option<String>,
    },
    /// Run a browser command in the workspace (the `browser` flavor's
    /// agent-browser and Chromium): `open URL`, `snapshot -i`, `click @e1`,
    /// `fill @e2 TEXT`, `get text SEL`, `screenshot`, `tab new URL`,
    /// `eval JS`, `diff snapshot`, `cookies`, `state save FILE` … Options of
    /// paddock go before the command.
    Browser {
        id: String,
        /// The browser session (its own browser, cookies and tabs; default
        /// `default`).
        #[arg(long)]
        session: Option<String>,
        /// Where a screenshot's PNG goes (default screenshot.png).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// How long the command may take: 30s, 2m (at most 2 minutes).
        #[arg(long, value_name = "DURATION", value_parser = parse::whole_seconds)]
        timeout: Option<u64>,
        /// The command and its arguments, as agent-browser takes them.
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Make COUNT independent copies of the workspace.
    Fork {
        id: String,
        #[arg(long, default_value = "1")]
        count: u32,
        #[arg(long)]
        label: Option<String>,
    },
    /// Snapshot the workspace (a running exec is frozen for the copy).
    Snapshot {
        id: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// Make a new workspace from a snapshot of PARENT.
    Restore {
        snapshot: String,
        /// The workspace the snapshot was taken of (ownership proof).
        #[arg(long)]
        parent: String,
        #[arg(long)]
        label: Option<String>,
    },
}

/// `paddock snapshots ...`
#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// List snapshots, newest first.
    List {
        /// Only this workspace's.
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        q: Option<String>,
        #[arg(long, default_value = "50")]
        limit: u32,
        #[arg(long, default_value = "0")]
        offset: u32,
    },
    /// Show one snapshot.
    Get { id: String },
    /// The files of a snapshot with their BLAKE3 hashes.
    Manifest { id: String },
    /// Delete a snapshot (blobs nothing else uses are collected).
    Rm { id: String },
}

/// `paddock flavors ...`
#[derive(Debug, Subcommand)]
pub enum FlavorsCommand {
    /// Flavors the server offers.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Copy DIR into this host's state directory as flavor NAME (run it on
    /// the server's host; `bin/` of a flavor comes first on PATH).
    Add {
        name: String,
        /// The directory to copy.
        #[arg(long)]
        from: PathBuf,
        /// The server's state directory (default as for `paddock serve`).
        #[arg(long, env = "PADDOCK_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Replace an existing flavor of that name.
        #[arg(long)]
        replace: bool,
    },
    /// Build a flavor paddock knows on this host, from the package
    /// registries: `python-data` is Debian's Python 3 (the jails' own
    /// /usr/bin/python3) with numpy, pandas, matplotlib, ipykernel and
    /// bash_kernel from PyPI, what python and bash code kernels need
    /// (needs python3-pip); `typescript` is tslab from npm, the kernel of
    /// node and typescript code for the jails' own /usr/bin/node (needs
    /// npm); `desktop` is the Debian packages of a workspace's desktop
    /// (Xvfb, openbox, ffmpeg, xclip, fonts, python3-tk; apt-get, as root)
    /// and the fontconfig jails need; `browser` is Debian's Chromium
    /// (apt-get, as root) and agent-browser from npm. Run it on the
    /// server's host.
    Install {
        /// The flavor: python-data, typescript, desktop or browser.
        #[arg(value_parser = ["python-data", "typescript", "desktop", "browser"])]
        name: String,
        /// The server's state directory (default as for `paddock serve`).
        #[arg(long, env = "PADDOCK_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Build it again when it exists.
        #[arg(long)]
        replace: bool,
    },
}

const PREVIEW_FIELDS: [&str; 6] = ["id", "port", "public", "state", "expires_at", "url"];
const TOKEN_FIELDS: [&str; 5] = ["id", "capabilities", "state", "expires_at", "label"];
const WORKSPACE_FIELDS: [&str; 5] = ["id", "label", "git_repo", "last_exec_at", "paused_at"];
const SNAPSHOT_FIELDS: [&str; 6] = ["id", "workspace_id", "name", "created_at", "size_bytes", "file_count"];

fn show_workspace(api: &Api, ws: &Reply) -> Outcome {
    api.show(ws, |ws| {
        print_fields(
            ws,
            &[
                "id",
                "label",
                "created_at",
                "git_repo",
                "git_ref",
                "last_exec_at",
                "paused_at",
                "auto_snapshot",
                "config",
            ],
        )
    })
}

fn show_snapshot(api: &Api, snap: &Reply) -> Outcome {
    api.show(snap, |s| {
        print_fields(
            s,
            &[
                "id",
                "workspace_id",
                "name",
                "created_at",
                "size_bytes",
                "file_count",
                "frozen",
            ],
        )
    })
}

/// `--stream stdout|stderr|combined|pty`.
fn parse_log_stream(text: &str) -> Result<ProcessLogsStream, String> {
    serde_json::from_value(json!(text)).map_err(|_| format!("{text:?}: stdout, stderr, combined or pty"))
}

/// Whether the command handles Ctrl-C itself ([`runtime_client::install_interrupt`]):
/// an exec on the runtime stops its process first.
pub fn own_interrupt(command: &WorkspaceCommand) -> bool {
    matches!(
        command,
        WorkspaceCommand::Exec {
            timeout: None,
            memory: None,
            ..
        }
    )
}

/// `paddock ws ...`.
pub fn workspaces(conn: &Connection, command: &WorkspaceCommand) -> Outcome {
    match command {
        WorkspaceCommand::Code(args) => return crate::code_client::run(conn, args),
        WorkspaceCommand::Start { id } => return runtime_client::lifecycle(conn, id, "start"),
        WorkspaceCommand::Stop { id } => return runtime_client::lifecycle(conn, id, "stop"),
        WorkspaceCommand::Ps { id, all } => return runtime_client::ps(conn, id, *all),
        WorkspaceCommand::Logs {
            id,
            process,
            follow,
            stream,
            tail,
        } => return runtime_client::logs(conn, id, process, *follow, *stream, *tail),
        WorkspaceCommand::Kill {
            id,
            process,
            signal,
            wait,
        } => return runtime_client::kill(conn, id, process, signal, *wait),
        WorkspaceCommand::Cp { src, dst } => return files_client::cp(conn, src, dst),
        WorkspaceCommand::Ls { id, path } => return files_client::ls(conn, id, path.as_deref()),
        WorkspaceCommand::Cat { id, path } => return files_client::cat(conn, id, path),
        _ => {}
    }
    // The control plane's workspace routes.
    let api = Api::new(conn)?;
    match command {
        WorkspaceCommand::Create {
            label,
            repos,
            flavors,
            idle_timeout,
            disk,
            jail,
        } => {
            let split = |spec: &String| match spec.split_once('#') {
                Some((url, r)) => (url.to_owned(), Some(r.to_owned())),
                None => (spec.clone(), None),
            };
            let git = match repos.as_slice() {
                [] => None,
                [one] => {
                    let (repo, git_ref) = split(one);
                    Some(GitSeed {
                        repo: Some(repo),
                        git_ref,
                        repos: None,
                    })
                }
                many => Some(GitSeed {
                    repos: Some(
                        many.iter()
                            .map(|spec| {
                                let (repo, git_ref) = split(spec);
                                RepoSpec {
                                    repo,
                                    git_ref,
                                    dir: None,
                                }
                            })
                            .collect(),
                    ),
                    ..GitSeed::default()
                }),
            };
            let body = body_of(&NewWorkspace {
                git,
                label: label.clone(),
                idle_timeout_secs: *idle_timeout,
                flavors: flavors.clone(),
                disk_mb: *disk,
                domains: Vec::new(),
                options: jail.options(),
            });
            let ws = api.call(Method::POST, "/v1/workspaces", Some(body))?;
            show_workspace(&api, &ws)
        }
        WorkspaceCommand::List { q, limit, offset } => {
            let mut path = format!("/v1/workspaces?limit={limit}&offset={offset}");
            if let Some(q) = q {
                path.push_str(&format!("&q={}", encode(q)));
            }
            let page = api.get(&path)?;
            api.show(&page, |page| list_table(page, &WORKSPACE_FIELDS))
        }
        WorkspaceCommand::Get { id } => show_workspace(&api, &api.get(&format!("/v1/workspaces/{id}"))?),
        WorkspaceCommand::Rename { id, label } => {
            let ws = api.call(
                Method::PATCH,
                &format!("/v1/workspaces/{id}"),
                Some(json!({ "label": label })),
            )?;
            show_workspace(&api, &ws)
        }
        WorkspaceCommand::Rm { id } => {
            api.call(Method::DELETE, &format!("/v1/workspaces/{id}"), None)?;
            if !conn.json {
                println!("deleted {id}");
            }
            Ok(0)
        }
        WorkspaceCommand::Exec {
            id,
            interactive,
            tty,
            cwd,
            timeout,
            memory,
            env,
            command,
        } => {
            let env = env
                .iter()
                .map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or_else(|| Failure(format!("--env {kv:?}: expected K=V")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if timeout.is_none() && memory.is_none() {
                return runtime_client::exec(
                    conn,
                    runtime_client::ExecOptions {
                        id,
                        interactive: *interactive,
                        tty: *tty,
                        cwd: cwd.clone(),
                        env: env.into_iter().collect(),
                        command,
                    },
                );
            }
            let body = body_of(&WorkspaceExec {
                cmd: command[0].clone(),
                args: command[1..].to_vec(),
                timeout_secs: *timeout,
                memory_mb: *memory,
                env,
            });
            if conn.json {
                let result = api.call(Method::POST, &format!("/v1/workspaces/{id}/exec"), Some(body))?;
                return print_result(conn, &result);
            }
            stream_post(&api, conn, &format!("/v1/workspaces/{id}/exec/stream"), body)
        }
        WorkspaceCommand::Preview { id, port, public, ttl } => {
            let body = body_of(&NewPreview {
                port: *port,
                public: *public,
                ttl_secs: *ttl,
            });
            let preview = api.call(Method::POST, &format!("/v1/workspaces/{id}/previews"), Some(body))?;
            api.show(&preview, |p| {
                print_fields(
                    p,
                    &[
                        "id",
                        "port",
                        "public",
                        "state",
                        "expires_at",
                        "url",
                        "path_url",
                        "access_url",
                    ],
                );
                if p["access_url"].is_string() {
                    eprintln!("the access_url carries the preview's secret; it is not shown again");
                }
            })
        }
        WorkspaceCommand::Previews { id } => {
            let list = api.get(&format!("/v1/workspaces/{id}/previews"))?;
            api.show(&list, |l| list_table(&l["previews"], &PREVIEW_FIELDS))
        }
        WorkspaceCommand::Unpreview { id, preview } => {
            api.call(Method::DELETE, &format!("/v1/workspaces/{id}/previews/{preview}"), None)?;
            if !conn.json {
                println!("revoked {preview}");
            }
            Ok(0)
        }
        WorkspaceCommand::Token {
            id,
            capabilities,
            ttl,
            label,
        } => {
            let body = json!({ "capabilities": capabilities, "ttl_secs": ttl, "label": label });
            let token = api.call(Method::POST, &format!("/v1/workspaces/{id}/tokens"), Some(body))?;
            api.show(&token, |t| {
                print_fields(t, &["id", "workspace_id", "capabilities", "expires_at", "token"]);
                eprintln!("the token is not shown again");
            })
        }
        WorkspaceCommand::Tokens { id } => {
            let list = api.get(&format!("/v1/workspaces/{id}/tokens"))?;
            api.show(&list, |l| list_table(&l["tokens"], &TOKEN_FIELDS))
        }
        WorkspaceCommand::Untoken { id, token } => {
            api.call(Method::DELETE, &format!("/v1/workspaces/{id}/tokens/{token}"), None)?;
            if !conn.json {
                println!("revoked {token}");
            }
            Ok(0)
        }
        WorkspaceCommand::McpConfig {
            id,
            capabilities,
            ttl,
            name,
        } => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if !capabilities.is_empty() {
                query.append_pair("capabilities", &capabilities.join(","));
            }
            if let Some(ttl) = ttl {
                query.append_pair("ttl_secs", &ttl.to_string());
            }
            if let Some(name) = name {
                query.append_pair("server_name", name);
            }
            let config = api.get(&format!("/v1/workspaces/{id}/mcp-config?{}", query.finish()))?;
            api.show(&config, |config| {
                // Only the paste-able file on stdout, so it can be redirected.
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config["config"]).unwrap_or_default()
                );
                eprintln!(
                    "token {} with {} expires at {}",
                    config["token_id"].as_str().unwrap_or_default(),
                    config["capabilities"],
                    config["expires_at"].as_str().unwrap_or_default()
                );
            })
        }
        WorkspaceCommand::Browser {
            id,
            session,
            output,
            timeout,
            command,
        } => {
            let body = json!({
                "command": command[0],
                "args": &command[1..],
                "session": session,
                "timeoutMs": timeout.map(|secs| secs * 1000),
            });
            let answer = api.call(
                Method::POST,
                &format!("/v1/workspaces/{id}/runtime/v1/browser"),
                Some(body),
            )?;
            if let Some(image) = answer.value["image"]["data"].as_str() {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(image)
                    .map_err(|e| Failure(format!("the screenshot's base64: {e}")))?;
                let path = output.clone().unwrap_or_else(|| "screenshot.png".into());
                std::fs::write(&path, &bytes).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
                eprintln!("wrote {} bytes to {}", bytes.len(), path.display());
            }
            api.show(&answer, |a| {
                // What the command found, without agent-browser's account
                // of how it reached the browser.
                let mut data = a["data"].clone();
                if let Some(object) = data.as_object_mut() {
                    object.remove("lifecycle");
                    object.remove("origin");
                }
                let single = data
                    .as_object()
                    .filter(|o| o.len() == 1)
                    .and_then(|o| o.values().next());
                match (data["snapshot"].as_str(), single) {
                    (Some(tree), _) => println!("{}", tree.trim_end()),
                    (None, Some(serde_json::Value::String(text))) => println!("{text}"),
                    (None, Some(value)) => println!("{value}"),
                    (None, None) if data.as_object().is_some_and(|o| !o.is_empty()) => {
                        println!("{}", serde_json::to_string_pretty(&data).unwrap_or_default())
                    }
                    (None, None) => {}
                }
            })
        }
        WorkspaceCommand::Fork { id, count, label } => {
            let mut body = json!({ "count": count });
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            let forked = api.call(Method::POST, &format!("/v1/workspaces/{id}/fork"), Some(body))?;
            api.show(&forked, |f| {
                println!("# snapshot {}", text(&f["snapshot_id"]));
                let forks = f["forks"].as_array().cloned().unwrap_or_default();
                print_table(
                    &WORKSPACE_FIELDS,
                    forks.iter().map(|r| cells(r, &WORKSPACE_FIELDS)).collect(),
                );
            })
        }
        WorkspaceCommand::Snapshot { id, name } => {
            let body = match name {
                Some(name) => json!({ "name": name }),
                None => json!({}),
            };
            let snap = api.call(Method::POST, &format!("/v1/workspaces/{id}/snapshot"), Some(body))?;
            show_snapshot(&api, &snap)
        }
        WorkspaceCommand::Restore {
            snapshot,
            parent,
            label,
        } => {
            let mut body = json!({ "snapshot_id": snapshot, "parent_workspace_id": parent });
            if let Some(label) = label {
                body["label"] = json!(label);
            }
            let ws = api.call(Method::POST, "/v1/workspaces/from-snapshot", Some(body))?;
            show_workspace(&api, &ws)
        }
        // Answered by the runtime clients above.
        WorkspaceCommand::Code(_)
        | WorkspaceCommand::Start { .. }
        | WorkspaceCommand::Stop { .. }
        | WorkspaceCommand::Ps { .. }
        | WorkspaceCommand::Logs { .. }
        | WorkspaceCommand::Kill { .. }
        | WorkspaceCommand::Cp { .. }
        | WorkspaceCommand::Ls { .. }
        | WorkspaceCommand::Cat { .. } => Ok(0),
    }
}

/// `paddock snapshots ...`.
pub fn snapshots(conn: &Connection, command: &SnapshotsCommand) -> Outcome {
    let api = Api::new(conn)?;
    match command {
        SnapshotsCommand::List {
            workspace,
            q,
            limit,
            offset,
        } => {
            let mut path = format!("/v1/snapshots?limit={limit}&offset={offset}");
            if let Some(w) = workspace {
                path.push_str(&format!("&workspace_id={}", encode(w)));
            }
            if let Some(q) = q {
                path.push_str(&format!("&q={}", encode(q)));
            }
            let page = api.get(&path)?;
            api.show(&page, |page| list_table(page, &SNAPSHOT_FIELDS))
        }
        SnapshotsCommand::Get { id } => show_snapshot(&api, &api.get(&format!("/v1/snapshots/{id}"))?),
        SnapshotsCommand::Manifest { id } => {
            let manifest = api.get(&format!("/v1/snapshots/{id}/manifest"))?;
            api.show(&manifest, |m| {
                let fields = ["path", "mode", "size", "hash"];
                let entries = m["entries"].as_array().cloned().unwrap_or_default();
                let rows = entries
                    .iter()
                    .map(|e| {
                        let mut row = cells(e, &fields);
                        row[1] = format!("{:o}", e["mode"].as_u64().unwrap_or(0));
                        row
                    })
                    .collect();
                print_table(&fields, rows);
            })
        }
        SnapshotsCommand::Rm { id } => {
            api.call(Method::DELETE, &format!("/v1/snapshots/{id}"), None)?;
            if !conn.json {
                println!("deleted {id}");
            }
            Ok(0)
        }
    }
}

/// `paddock flavors ...`.
pub fn flavors(command: &FlavorsCommand) -> Outcome {
    match command {
        FlavorsCommand::List { connection } => {
            let api = Api::new(connection)?;
            let list = api.get("/v1/flavors")?;
            api.show(&list, |list| list_table(list, &["name"]))
        }
        FlavorsCommand::Install {
            name,
            state_dir,
            replace,
        } => crate::flavors::install(
            name,
            state_dir.clone().unwrap_or_else(crate::serve::default_state_dir),
            *replace,
        ),
        FlavorsCommand::Add {
            name,
            from,
            state_dir,
            replace,
        } => {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name != "."
                && name != ".."
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid {
                return Err(Failure(format!(
                    "bad flavor name {name:?} (letters, digits, '_', '-', '.')"
                )));
            }
            if !from.is_dir() {
                return Err(Failure(format!("{} is not a directory", from.display())));
            }
            let root = state_dir
                .clone()
                .unwrap_or_else(crate::serve::default_state_dir)
                .join("flavors");
            std::fs::create_dir_all(&root).map_err(|e| Failure(format!("{}: {e}", root.display())))?;
            let target = root.join(name);
            // Copied next to the target first, so a failed copy leaves the
            // old flavor (or nothing) in place.
            let staging = root.join(format!(".{name}.new"));
            let _ = std::fs::remove_dir_all(&staging);
            if target.exists() && !replace {
                return Err(Failure(format!("flavor {name} exists; pass --replace to replace it")));
            }
            let stats = paddock_store::tree::copy_tree(from, &staging).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staging);
                Failure(format!("copying {}: {e}", from.display()))
            })?;
            if target.exists() {
                std::fs::remove_dir_all(&target).map_err(|e| Failure(format!("{}: {e}", target.display())))?;
            }
            std::fs::rename(&staging, &target).map_err(|e| Failure(format!("{}: {e}", target.display())))?;
            println!(
                "flavor {name}: {} files ({} bytes) in {}",
                stats.files_cloned,
                stats.bytes_cloned,
                target.display()
            );
            if !target.join("bin").is_dir() {
                eprintln!("note: {name} has no bin/ directory, so nothing of it is put on PATH");
            }
            Ok(0)
        }
    }
}

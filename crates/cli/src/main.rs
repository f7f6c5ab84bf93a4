//! The `paddock` binary.
//!
//! The jail engine forks its single-threaded spawner before anything else
//! starts a thread, so `main` parses arguments, starts the engine, and only
//! then builds the async runtime.

mod agent_client;
mod agents;
mod client;
mod code_client;
mod doctor;
mod egress_args;
mod files_client;
mod flavors;
mod interrupt;
mod parse;
mod pipe;
mod run;
mod runtime_client;
mod serve;
mod sse;
mod terminal;
mod workspace_client;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use paddock_jail::egress::EgressSettings;
use paddock_jail::{Engine, EngineOptions};

/// paddock: self-hosted sandboxes for AI agents.
#[derive(Debug, Parser)]
#[command(name = "paddock", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `paddock agent …`.
#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Start AGENT in workspace WS, send PROMPT and print the conversation
    /// as it streams (the agent's words on stdout, tool calls and questions
    /// on stderr); permission requests are asked on the terminal.
    Run(agent_client::AgentRunArgs),
    /// Print what a client and an agent said, in order (both directions).
    Transcript(agent_client::TranscriptArgs),
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the control plane (HTTP API).
    Serve(Box<serve::ServeArgs>),
    /// Run one command in a jail on this machine (no server needed).
    #[command(about = RUN_ABOUT)]
    Run(Box<run::RunArgs>),
    /// Check what the jail engine can enforce on this host (a table of
    /// checks: ok, missing, warn).
    ///
    /// Exit status 0 when jails can run: the engine starts and the memory
    /// and pids controllers are usable (every server jail, and `paddock
    /// run` with its default limits, sets both). 1 when one of these
    /// required checks is missing. The cpu, io and freezer controllers and
    /// Landlock are optional: without them only --cpu, --io-read/--io-write,
    /// snapshots of running execs and forks, or defence in depth are lost,
    /// and they only warn.
    Doctor {
        /// Print the engine's raw report (JSON) instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Print paddock's version.
    Version {
        /// Print `{"version": "..."}`.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell), e.g. `source <(paddock completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the control plane's OpenAPI document (JSON; no server needed).
    Openapi,
    /// Show the caller's tenant and role (server).
    Whoami(client::Connection),
    /// Check that the server answers.
    Health(client::Connection),
    /// Manage upstream credentials (server).
    Credentials(CredentialsArgs),
    /// Manage sessions and run commands in them (server).
    Sessions(SessionsArgs),
    /// Run code on the server.
    Runs(RunsArgs),
    /// Run code on a Jupyter kernel without a workspace (server): python,
    /// bash, node or typescript in a workspace the server keeps warm and
    /// deletes after the call; with --session, the session keeps its
    /// workspace and variables.
    Code(CodeOnceArgs),
    /// Read the jail ledger (server).
    Jails(JailsArgs),
    /// Manage workspaces: persistent trees for many execs (server).
    Ws(WorkspaceArgs),
    /// Read and delete snapshots (server).
    Snapshots(SnapshotsArgs),
    /// Run a coding agent in a workspace, or read a past conversation
    /// (server).
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Coding agents: install them on this host, list them.
    Agents {
        #[command(subcommand)]
        command: agents::AgentsCommand,
    },
    /// List the server's flavors, or add one to this host.
    Flavors {
        #[command(subcommand)]
        command: workspace_client::FlavorsCommand,
    },
    /// Manage API keys (server; admins).
    Keys(KeysArgs),
    /// Read the audit log (server).
    Audit {
        #[command(flatten)]
        connection: client::Connection,
        /// Rows to show (most recent first).
        #[arg(long, default_value = "50")]
        limit: u32,
        /// Control-plane actions (who created, closed, stored or revoked
        /// what) instead of the phantom proxy's requests.
        #[arg(long)]
        actions: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CredentialsArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: client::CredentialsCommand,
}

#[derive(Debug, clap::Args)]
struct SessionsArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: client::SessionsCommand,
}

#[derive(Debug, clap::Args)]
struct RunsArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: client::RunsCommand,
}

#[derive(Debug, clap::Args)]
struct CodeOnceArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(flatten)]
    call: code_client::CallArgs,
}

#[derive(Debug, clap::Args)]
struct WorkspaceArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: workspace_client::WorkspaceCommand,
}

#[derive(Debug, clap::Args)]
struct SnapshotsArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: workspace_client::SnapshotsCommand,
}

#[derive(Debug, clap::Args)]
struct KeysArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: client::KeysCommand,
}

#[derive(Debug, clap::Args)]
struct JailsArgs {
    #[command(flatten)]
    connection: client::Connection,
    #[command(subcommand)]
    command: client::JailsCommand,
}

fn main() {
    // `paddock ... | head -1`: a closed output ends paddock silently; the
    // engine commands below ignore SIGPIPE again (see `pipe`).
    pipe::default_sigpipe();
    if std::env::args_os().nth(1).is_some_and(|first| first == "run") {
        // The one-shot jail people time against bwrap: its options are
        // parsed without building every other subcommand's.
        let command = <run::RunArgs as clap::Args>::augment_args(clap::Command::new("run"))
            .bin_name("paddock run")
            .about(RUN_ABOUT);
        let matches = command.get_matches_from(std::env::args_os().skip(1));
        let args = match run::RunArgs::from_arg_matches(&matches) {
            Ok(args) => args,
            Err(err) => err.exit(),
        };
        std::process::exit(run_command(&args, &matches));
    }
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let code = match cli.command {
        Command::Run(args) => match matches.subcommand_matches("run") {
            Some(sub) => run_command(&args, sub),
            None => 2,
        },
        Command::Serve(args) => {
            pipe::ignore_sigpipe();
            let (config, egress) = match serve::build_config(&args).and_then(|c| Ok((c, args.egress.settings()?))) {
                Ok(parts) => parts,
                Err(msg) => {
                    eprintln!("paddock serve: {msg}");
                    std::process::exit(2);
                }
            };
            let engine = match Engine::start(EngineOptions {
                warm_pool: Some(args.warm_pool),
                jail_ids: args.jail_ids,
                egress,
                ..EngineOptions::default()
            }) {
                Ok(engine) => engine,
                Err(err) => {
                    eprintln!("paddock: cannot start the jail engine: {err}");
                    std::process::exit(125);
                }
            };
            let code = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime.block_on(serve::serve(engine.clone(), config)),
                Err(err) => {
                    eprintln!("paddock: cannot start the async runtime: {err}");
                    125
                }
            };
            engine.shutdown();
            code
        }
        Command::Whoami(connection) => finish(|| client::whoami(&connection)),
        Command::Health(connection) => finish(|| client::health(&connection)),
        Command::Credentials(args) => finish(|| client::credentials(&args.connection, &args.command)),
        Command::Sessions(args) => finish(|| client::sessions(&args.connection, &args.command)),
        Command::Runs(args) => finish(|| client::runs(&args.connection, &args.command)),
        Command::Code(args) => finish(|| code_client::run_once(&args.connection, &args.call)),
        Command::Jails(args) => finish(|| client::jails(&args.connection, &args.command)),
        Command::Ws(args) if workspace_client::own_interrupt(&args.command) => {
            // An exec on the runtime stops its process on Ctrl-C itself.
            runtime_client::install_interrupt();
            report(workspace_client::workspaces(&args.connection, &args.command))
        }
        Command::Ws(args) => finish(|| workspace_client::workspaces(&args.connection, &args.command)),
        Command::Snapshots(args) => finish(|| workspace_client::snapshots(&args.connection, &args.command)),
        Command::Agents { command } => finish(|| agents::run(&command)),
        Command::Agent { command } => finish(|| match &command {
            AgentCommand::Run(args) => agent_client::run(args),
            AgentCommand::Transcript(args) => agent_client::transcript(args),
        }),
        Command::Flavors { command } => finish(|| workspace_client::flavors(&command)),
        Command::Keys(args) => finish(|| client::keys(&args.connection, &args.command)),
        Command::Audit {
            connection,
            limit,
            actions,
        } => finish(|| client::audit(&connection, limit, actions)),
        Command::Version { json } => {
            let version = env!("CARGO_PKG_VERSION");
            if json {
                println!("{}", serde_json::json!({ "version": version }));
            } else {
                println!("paddock {version}");
            }
            0
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "paddock", &mut std::io::stdout());
            0
        }
        Command::Openapi => match paddock_server::routes::openapi().to_pretty_json() {
            Ok(text) => {
                println!("{text}");
                0
            }
            Err(e) => {
                eprintln!("paddock: {e}");
                1
            }
        },
        Command::Doctor { json } => {
            pipe::ignore_sigpipe();
            doctor(json)
        }
    };
    std::process::exit(code);
}

/// What `paddock run --help` says first (the subcommand's doc comment).
const RUN_ABOUT: &str = "Run one command in a jail on this machine (no server needed)";

/// `paddock run`: one jail, its output, its exit status. `matches` are the
/// subcommand's, to tell options given from defaults.
fn run_command(args: &run::RunArgs, matches: &clap::ArgMatches) -> i32 {
    pipe::ignore_sigpipe();
    let explicit = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let (config, egress) = match run::build_config(args, &explicit).and_then(|c| Ok((c, args.egress.settings()?))) {
        Ok(parts) => parts,
        Err(msg) => {
            eprintln!("paddock run: {msg}");
            std::process::exit(2);
        }
    };
    let engine = start_engine(egress);
    let code = block_on(run::run(engine.clone(), config, args.json, args.raw_output));
    engine.shutdown();
    code
}

/// Runs a client subcommand (Ctrl-C exits 130 and cancels a streaming
/// run) and returns its exit status; failures print the server's message.
fn finish(command: impl FnOnce() -> Result<i32, client::Failure>) -> i32 {
    interrupt::install();
    report(command())
}

/// The exit status of a client subcommand; a failure prints its message.
fn report(outcome: Result<i32, client::Failure>) -> i32 {
    match outcome {
        Ok(code) => code,
        Err(client::Failure(message)) => {
            eprintln!("paddock: {message}");
            1
        }
    }
}

/// `paddock doctor`: the table (or the raw report), and 1 when a required
/// check fails.
fn doctor(json: bool) -> i32 {
    let options = EngineOptions {
        warm_pool: Some(0),
        ..EngineOptions::default()
    };
    let (checks, raw) = match Engine::start(options) {
        Ok(engine) => {
            let report = (doctor::checks(engine.info()), doctor::raw(engine.info()));
            engine.shutdown();
            report
        }
        Err(err) => {
            let why = err.to_string();
            (doctor::engine_failed(&why), serde_json::json!({ "error": why }))
        }
    };
    let text = if json {
        format!("{}\n", serde_json::to_string_pretty(&raw).unwrap_or_default())
    } else {
        doctor::render(&checks)
    };
    // A closed pipe (`| head -1`) is no failure of the host.
    pipe::print(&text);
    doctor::exit_status(&checks)
}

fn start_engine(egress: EgressSettings) -> Engine {
    // One jail per process: nothing to gain from pre-creating more.
    let options = EngineOptions {
        warm_pool: Some(0),
        egress,
        ..EngineOptions::default()
    };
    match Engine::start(options) {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("paddock: cannot start the jail engine: {err}");
            std::process::exit(125);
        }
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => {
            eprintln!("paddock: cannot start the async runtime: {err}");
            std::process::exit(125);
        }
    }
}

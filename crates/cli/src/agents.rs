//! `paddock agents`: install coding agents on the server's host (pinned npm
//! packages into the state directory's `agents/`, which every workspace
//! sees read-only), and list them as a workspace sees them.

use std::path::PathBuf;

use clap::Subcommand;
use paddock_api::runtime::agents::AgentInstallRequest;
use paddock_server::services::agents::{catalog, host_dir, install};

use crate::client::{list_table, Api, Connection, Failure, Outcome};

/// `paddock agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Install agents on this host from the npm registry (run it on the
    /// server's host): claude (Claude Code and its ACP adapter), codex
    /// (Codex and its ACP adapter), opencode, pi (with the Node it needs).
    /// Versions are pinned; `paddock agents list` shows them.
    Install {
        /// Agents to install (all four when none is named).
        #[arg(value_parser = ["claude", "codex", "opencode", "pi"])]
        agents: Vec<String>,
        /// The server's state directory (default as for `paddock serve`).
        #[arg(long, env = "PADDOCK_STATE_DIR")]
        state_dir: Option<PathBuf>,
        /// Install again when installed.
        #[arg(long)]
        reinstall: bool,
    },
    /// The agents as workspace WS sees them: installed, version, whether
    /// the tenant has a credential for the model service each calls.
    List {
        /// The workspace.
        #[arg(long = "ws")]
        workspace: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Runs `paddock agents …`.
pub fn run(command: &AgentsCommand) -> Outcome {
    match command {
        AgentsCommand::Install {
            agents,
            state_dir,
            reinstall,
        } => install_here(agents, state_dir.clone(), *reinstall),
        AgentsCommand::List { workspace, connection } => {
            let api = Api::new(connection)?;
            let list = api.get(&format!("/v1/workspaces/{workspace}/runtime/v1/agents"))?;
            api.show(&list, |list| {
                list_table(
                    &list["agents"],
                    &["id", "installed", "version", "credentialsAvailable", "configError"],
                )
            })
        }
    }
}

/// Installs `names` (every installable agent when empty) side by side.
fn install_here(names: &[String], state_dir: Option<PathBuf>, reinstall: bool) -> Outcome {
    let state_dir = state_dir.unwrap_or_else(crate::serve::default_state_dir);
    let dir = host_dir(&state_dir);
    std::fs::create_dir_all(&dir).map_err(|e| Failure(format!("creating {}: {e}", dir.display())))?;
    let specs: Vec<&'static catalog::AgentSpec> = if names.is_empty() {
        catalog::AGENTS
            .iter()
            .filter(|a| matches!(a.source, catalog::Source::Npm(_)))
            .collect()
    } else {
        names.iter().filter_map(|n| catalog::find(n)).collect()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("starting the installer: {e}")))?;
    let request = AgentInstallRequest {
        reinstall: Some(reinstall),
        ..AgentInstallRequest::default()
    };
    let results = runtime.block_on(async {
        let mut installs = tokio::task::JoinSet::new();
        for spec in &specs {
            let (spec, dir, request) = (*spec, dir.clone(), request.clone());
            installs.spawn(async move { (spec.id, install::install(&dir, spec, &request).await) });
        }
        let mut results = Vec::new();
        while let Some(done) = installs.join_next().await {
            results.extend(done.ok());
        }
        results.sort_by_key(|(agent, _)| *agent);
        results
    });
    let mut failed = false;
    for (agent, result) in results {
        match result {
            Ok(done) => {
                let versions: Vec<String> = done
                    .artifacts
                    .iter()
                    .map(|a| {
                        format!(
                            "{}@{}",
                            a.source.trim_start_matches("npm:"),
                            a.version.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                let what = if done.already_installed {
                    "already installed"
                } else {
                    "installed"
                };
                println!("{agent}: {what} ({})", versions.join(", "));
            }
            Err(err) => {
                failed = true;
                eprintln!("paddock: {agent}: {}", err.message);
            }
        }
    }
    println!(
        "agents directory: {} (read-only at {} in workspaces)",
        dir.display(),
        catalog::AGENTS_MOUNT
    );
    Ok(i32::from(failed))
}

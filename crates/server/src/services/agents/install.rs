//! The host's agents directory (`$state_dir/agents`, read-only at
//! [`AGENTS_MOUNT`](super::AGENTS_MOUNT) in every workspace): the built-in
//! agents written at startup, and the npm agents installed with pinned
//! versions, each in its own directory with a `paddock-agent.json` saying
//! what it holds. An install is built beside the directory and renamed
//! into place, so a workspace never sees half of one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use paddock_api::runtime::agents::{AgentInstallArtifact, AgentInstallRequest, AgentInstallResponse};
use paddock_api::{Error, ErrorCode};
use serde::{Deserialize, Serialize};

use super::catalog::{AgentSpec, Source, MOCK_ACP_JS};
use super::AGENTS_MOUNT;

/// What an agent directory holds.
const MARKER: &str = "paddock-agent.json";
/// The Node every workspace runs agents with (jails see the host's `/usr`).
const NODE: &str = "/usr/bin/node";

/// `paddock-agent.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    agent: String,
    packages: Vec<Package>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Package {
    name: String,
    version: String,
}

/// An installed agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The agent CLI's version (`builtin` for built-in agents).
    pub version: String,
}

/// The directory of `spec` under the agents directory.
pub fn dir_name(spec: &AgentSpec) -> &'static str {
    spec.id
}

/// Writes the built-in agents (replacing what an older paddock wrote;
/// nothing when they are current).
pub fn write_builtin(dir: &Path) -> std::io::Result<()> {
    let mock = dir.join("mock");
    std::fs::create_dir_all(&mock)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&mock, std::fs::Permissions::from_mode(0o755))?;
    if std::fs::read(mock.join("mock-acp.js")).is_ok_and(|current| current == MOCK_ACP_JS.as_bytes()) {
        return Ok(());
    }
    let staged = mock.join(".mock-acp.js.new");
    std::fs::write(&staged, MOCK_ACP_JS)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&staged, mock.join("mock-acp.js"))
}

/// Removes what interrupted installs left (staging directories), unless
/// an install runs now.
pub fn remove_leftovers(dir: &Path) {
    let Ok(Some(_lock)) = InstallLock::try_take(dir) else {
        return;
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".install-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The agents directory's install lock (`flock` on `.install.lock`): one
/// install at a time, whether the server or `paddock agents install` runs
/// it.
struct InstallLock(#[allow(dead_code)] std::fs::File);

impl InstallLock {
    fn try_take(dir: &Path) -> std::io::Result<Option<InstallLock>> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".install.lock"))?;
        // SAFETY: flock on a descriptor this function owns.
        let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        Ok(taken.then_some(InstallLock(file)))
    }

    /// Waits for the lock (another install may be running).
    async fn take(dir: &Path, deadline: Instant) -> Result<InstallLock, String> {
        loop {
            match InstallLock::try_take(dir) {
                Ok(Some(lock)) => return Ok(lock),
                Ok(None) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(250)).await,
                Ok(None) => return Err("another install held the agents directory too long".into()),
                Err(e) => return Err(format!("locking the agents directory: {e}")),
            }
        }
    }
}

/// Whether `spec` is installed with its pinned packages.
pub fn installed(dir: &Path, spec: &AgentSpec) -> Option<Installed> {
    match spec.source {
        Source::Unavailable(_) => None,
        Source::Builtin => {
            (Path::new(NODE).exists() && dir.join(dir_name(spec)).join("mock-acp.js").is_file()).then(|| Installed {
                version: "builtin".into(),
            })
        }
        Source::Npm(packages) => {
            let text = std::fs::read(dir.join(dir_name(spec)).join(MARKER)).ok()?;
            let marker: Marker = serde_json::from_slice(&text).ok()?;
            (marker.packages == pinned(packages)).then(|| Installed {
                version: packages.last().map(|(_, v)| (*v).to_owned()).unwrap_or_default(),
            })
        }
    }
}

fn pinned(packages: &[(&str, &str)]) -> Vec<Package> {
    packages
        .iter()
        .map(|(name, version)| Package {
            name: (*name).to_owned(),
            version: (*version).to_owned(),
        })
        .collect()
}

/// The agent's ACP server inside workspaces (its script when a program
/// runs it).
pub fn process_path(spec: &AgentSpec) -> String {
    let base = format!("{AGENTS_MOUNT}/{}", dir_name(spec));
    match spec.args.first() {
        Some(script) if spec.command.starts_with('/') => script.replace("{dir}", &base),
        _ => format!("{base}/{}", spec.command),
    }
}

/// What an install put in place (or finds there).
fn artifacts(spec: &AgentSpec) -> Vec<AgentInstallArtifact> {
    let base = format!("{AGENTS_MOUNT}/{}", dir_name(spec));
    match spec.source {
        Source::Builtin => vec![AgentInstallArtifact {
            kind: "agent_process".into(),
            path: format!("{base}/mock-acp.js"),
            source: "builtin".into(),
            version: Some("builtin".into()),
        }],
        Source::Npm(packages) => packages
            .iter()
            .enumerate()
            .map(|(i, (name, version))| AgentInstallArtifact {
                kind: if i == 0 { "agent_process" } else { "native_agent" }.into(),
                path: format!("{base}/node_modules/{name}"),
                source: format!("npm:{name}"),
                version: Some((*version).to_owned()),
            })
            .collect(),
        Source::Unavailable(_) => Vec::new(),
    }
}

/// Installs `spec` into `dir` from npm (pinned versions only).
pub async fn install(
    dir: &Path,
    spec: &AgentSpec,
    request: &AgentInstallRequest,
) -> Result<AgentInstallResponse, Error> {
    let packages = match spec.source {
        Source::Unavailable(why) => {
            return Err(Error::new(ErrorCode::AgentNotInstalled, format!("{}: {why}", spec.id)))
        }
        Source::Builtin => {
            return Ok(AgentInstallResponse {
                already_installed: true,
                artifacts: artifacts(spec),
            })
        }
        Source::Npm(packages) => packages,
    };
    let pinned_agent = packages.last().map(|(_, v)| *v);
    let pinned_process = packages.first().map(|(_, v)| *v);
    for (asked, pin, what) in [
        (&request.agent_version, pinned_agent, "agentVersion"),
        (&request.agent_process_version, pinned_process, "agentProcessVersion"),
    ] {
        if let Some(asked) = asked {
            if Some(asked.as_str()) != pin {
                return Err(Error::new(
                    ErrorCode::BadRequest,
                    format!(
                        "{what} {asked:?}: paddock installs the pinned version of {} only ({})",
                        spec.id,
                        pin.unwrap_or("")
                    ),
                ));
            }
        }
    }
    if installed(dir, spec).is_some() && request.reinstall != Some(true) {
        return Ok(AgentInstallResponse {
            already_installed: true,
            artifacts: artifacts(spec),
        });
    }
    npm_install(dir, spec, packages).await?;
    Ok(AgentInstallResponse {
        already_installed: false,
        artifacts: artifacts(spec),
    })
}

/// `npm install` of `packages` into a staging directory, checked, then
/// renamed over the agent's directory.
async fn npm_install(dir: &Path, spec: &AgentSpec, packages: &[(&str, &str)]) -> Result<(), Error> {
    let failed = |what: String| Error::new(ErrorCode::InstallFailed, format!("installing {}: {what}", spec.id));
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    let _lock = InstallLock::take(dir, deadline).await.map_err(failed)?;
    let staging = dir.join(format!(".install-{}-{:016x}", spec.id, rand::random::<u64>()));
    std::fs::create_dir_all(&staging).map_err(|e| failed(format!("creating {}: {e}", staging.display())))?;
    let manifest = serde_json::json!({ "name": format!("paddock-agent-{}", spec.id), "private": true });
    std::fs::write(staging.join("package.json"), manifest.to_string())
        .map_err(|e| failed(format!("writing package.json: {e}")))?;
    let specs: Vec<String> = packages.iter().map(|(n, v)| format!("{n}@{v}")).collect();
    tracing::info!(agent = spec.id, packages = ?specs, "installing an agent from npm");
    // npm and the packages' install scripts see only what they need, not
    // the server's environment (its database URL, its keys).
    let mut npm = tokio::process::Command::new("npm");
    npm.arg("install")
        .args([
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--omit=dev",
            "--save-exact",
            "--loglevel=error",
        ])
        .args(&specs)
        .current_dir(&staging)
        .env_clear()
        .envs(std::env::vars().filter(|(k, _)| npm_may_see(k)))
        .env("NO_UPDATE_NOTIFIER", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), npm.output()).await;
    let result = match output {
        Err(_) => Err(failed(format!(
            "npm did not finish within {} minutes",
            INSTALL_TIMEOUT.as_secs() / 60
        ))),
        Ok(Err(e)) => Err(failed(format!("running npm: {e} (is Node's npm installed?)"))),
        Ok(Ok(out)) if !out.status.success() => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let tail: String = stderr
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            Err(failed(format!("npm install failed ({}): {tail}", out.status)))
        }
        Ok(Ok(_)) => check_and_place(dir, spec, packages, &staging).map_err(failed),
    };
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// Checks the staged install (the ACP server's program is there and
/// runnable), writes its marker and puts it in place.
fn check_and_place(dir: &Path, spec: &AgentSpec, packages: &[(&str, &str)], staging: &Path) -> Result<(), String> {
    let program = staging.join(spec.command);
    if !program.exists() {
        return Err(format!("npm installed no {}", spec.command));
    }
    let marker = Marker {
        agent: spec.id.to_owned(),
        packages: pinned(packages),
    };
    let text = serde_json::to_vec_pretty(&marker).map_err(|e| e.to_string())?;
    std::fs::write(staging.join(MARKER), text).map_err(|e| format!("writing {MARKER}: {e}"))?;
    make_readable(staging).map_err(|e| format!("making the install readable: {e}"))?;
    let target = dir.join(dir_name(spec));
    if !target.exists() {
        return std::fs::rename(staging, &target).map_err(|e| format!("putting the install in place: {e}"));
    }
    // Swapped in one step (the agent is never missing), then the old one
    // (now at the staging path) removed.
    exchange(staging, &target).map_err(|e| format!("putting the install in place: {e}"))?;
    let _ = std::fs::remove_dir_all(staging);
    Ok(())
}

/// The longest an install may take (waiting for another one included).
const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Variables npm gets from the server's environment: where it runs, its
/// own settings, proxies and certificates.
fn npm_may_see(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        name,
        "PATH" | "HOME" | "USER" | "LANG" | "TMPDIR" | "SSL_CERT_FILE" | "SSL_CERT_DIR" | "NODE_EXTRA_CA_CERTS"
    ) || lower.starts_with("npm_config_")
        || matches!(lower.as_str(), "http_proxy" | "https_proxy" | "no_proxy")
}

/// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let a = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let b = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths that live across the call.
    let done = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Workspaces run as other users: everything readable, directories and
/// executables searchable.
fn make_readable(root: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let wanted = if meta.is_dir() || mode & 0o100 != 0 {
        mode | 0o555
    } else {
        mode | 0o444
    };
    if wanted != mode {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(wanted))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(root)? {
            make_readable(&entry?.path())?;
        }
    }
    Ok(())
}

/// Models, modes and thought levels an agent offers before a session
/// says more (sandbox-agent's `configOptions` shape).
pub fn config_options(spec: &AgentSpec) -> Vec<serde_json::Value> {
    let select = |id: &str, name: &str, current: &str, values: &[(&str, &str)]| {
        serde_json::json!({
            "id": id, "name": name, "category": id, "type": "select", "currentValue": current,
            "options": values.iter().map(|(value, name)| serde_json::json!({ "value": value, "name": name })).collect::<Vec<_>>(),
        })
    };
    match spec.id {
        "claude" => vec![select(
            "mode",
            "Mode",
            "default",
            &[
                ("default", "Default"),
                ("acceptEdits", "Accept Edits"),
                ("plan", "Plan"),
                ("dontAsk", "Don't Ask"),
                ("bypassPermissions", "Bypass Permissions"),
            ],
        )],
        "codex" => vec![
            select(
                "mode",
                "Mode",
                "auto",
                &[
                    ("read-only", "Read Only"),
                    ("auto", "Auto"),
                    ("full-access", "Full Access"),
                ],
            ),
            select(
                "thought_level",
                "Thought Level",
                "medium",
                &[
                    ("low", "Low"),
                    ("medium", "Medium"),
                    ("high", "High"),
                    ("xhigh", "Extra High"),
                ],
            ),
        ],
        "mock" => vec![select(
            "mode",
            "Mode",
            "default",
            &[("default", "Default"), ("acceptEdits", "Accept Edits")],
        )],
        _ => Vec::new(),
    }
}

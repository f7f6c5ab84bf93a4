//! A workspace's browser: agent-browser's commands, run by the real
//! `agent-browser` (the `browser` flavor) in the workspace's jail. Its
//! daemon and Debian's Chromium live there as the workspace's processes;
//! the jail is Chromium's sandbox, and the workspace's network is its
//! network (in allowlist mode its pages go through the egress proxy, as
//! the jail's `HTTP_PROXY` says). Each call runs one `agent-browser --json`
//! client and answers its result.
//!
//! URLs a command navigates to are checked against the workspace's network
//! first, so a page it cannot reach is refused with the reason rather than
//! Chromium's error page; the proxy still decides every request a page
//! makes.

use std::time::Instant;

use base64::Engine;
use paddock_api::runtime::browser::{
    BrowserCommandRequest, BrowserCommandResponse, BrowserImage, BROWSER_COMMANDS, DEFAULT_BROWSER_TIMEOUT_MS,
    MAX_BROWSER_TIMEOUT_MS,
};
use paddock_api::runtime::processes::ProcessRunRequest;
use paddock_api::workspaces::Workspace;
use paddock_api::{Error, ErrorCode};
use paddock_jail::egress::{EgressPolicy, Host};

use crate::services::files;
use crate::services::identity::Caller;
use crate::services::space::StateDisk;
use crate::services::workspaces::Workspaces;

/// The flavor a workspace needs for its browser.
pub const FLAVOR: &str = "browser";
/// How users get the browser.
pub const INSTALL_COMMAND: &str =
    "paddock flavors install browser (on the server's host), then create the workspace with --flavor browser";
/// The flavor's `agent-browser` (its wrapper sets Chromium's launch).
const AGENT_BROWSER: &str = "/opt/flavors/browser/bin/agent-browser";
/// Where screenshots the server asked for are written, then read and
/// removed (relative to the workspace's root, `/workspace`).
const SHOTS_DIR: &str = ".paddock/browser";
/// Longest session name.
const MAX_SESSION: usize = 64;
/// Most bytes of arguments one call takes.
const MAX_ARGS_BYTES: usize = 1 << 20;
/// Most bytes of output a command answers (a snapshot of a large page).
const MAX_OUTPUT: usize = 8 << 20;
/// Largest screenshot answered (a full-page one of a long page); the file
/// is the workspace's to change before it is read, so it is bounded.
const MAX_IMAGE: usize = 32 << 20;
/// agent-browser's flags that take a value (the value is not a URL to
/// check, nor the command's argument).
const VALUE_FLAGS: &[&str] = &[
    "--user-agent",
    "--headers",
    "--proxy",
    "--proxy-bypass",
    "--profile",
    "--state",
    "--session-name",
    "--restore",
    "--restore-save",
    "--restore-check-url",
    "--restore-check-text",
    "--restore-check-fn",
    "--extension",
    "--init-script",
    "--enable",
    "--device",
    "--color-scheme",
    "--download-path",
    "--screenshot-dir",
    "--screenshot-quality",
    "--screenshot-format",
    "--hide-scrollbars",
    "--ca-cert",
    "--max-output",
    "--wait-until",
    "--selector",
    "--baseline",
    "--timeout",
    "-d",
    "--depth",
    "-s",
];

/// The browsers of `workspaces`, whose flavors are in `flavors`.
#[derive(Debug, Clone)]
pub struct Browsers {
    workspaces: Workspaces,
    flavors: std::path::PathBuf,
    disk: StateDisk,
}

impl Browsers {
    pub fn new(workspaces: Workspaces, flavors: std::path::PathBuf, disk: StateDisk) -> Browsers {
        Browsers {
            workspaces,
            flavors,
            disk,
        }
    }

    /// Runs one command in workspace `id`'s browser (starting the
    /// workspace, and the browser, when they are not running).
    pub async fn run(
        &self,
        caller: &Caller,
        id: &str,
        request: BrowserCommandRequest,
    ) -> Result<BrowserCommandResponse, Error> {
        let command = request.command.trim().to_owned();
        check_command(&command, &request.args)?;
        let session = session_name(request.session.as_deref())?;
        let timeout_ms = match request.timeout_ms {
            None => DEFAULT_BROWSER_TIMEOUT_MS,
            Some(ms @ 1..=MAX_BROWSER_TIMEOUT_MS) => ms,
            Some(other) => {
                return Err(bad(format!(
                    "timeoutMs {other} is out of range (1..={MAX_BROWSER_TIMEOUT_MS})"
                )))
            }
        };
        let workspace = self.workspaces.get(caller, id).await?;
        self.check_flavor(&workspace)?;
        let network = (&workspace.config.network_mode, &workspace.config.network_domains);
        for url in navigation_targets(&command, &request.args) {
            check_reach(network, url)?;
        }

        let mut args = vec!["--json".to_owned(), command.clone()];
        args.extend(request.args.iter().cloned());
        // A screenshot without a path of the caller's goes to a file the
        // server reads back and removes.
        let shot = (command == "screenshot" && positional(&request.args).next().is_none()).then(|| {
            let name = format!("{SHOTS_DIR}/{}.png", hex::encode(rand::random::<[u8; 12]>()));
            args.push(format!("/workspace/{name}"));
            name
        });
        if shot.is_some() {
            let access = self.workspaces.tree_access(caller, id).await?;
            files::mkdir(access, &self.disk, SHOTS_DIR).await?;
        }

        let runtime = self.workspaces.running(caller, id).await?;
        let _keep_alive = self.workspaces.keep_alive(id);
        let started = Instant::now();
        let ran = runtime
            .run(ProcessRunRequest {
                command: AGENT_BROWSER.into(),
                args,
                cwd: None,
                env: [("AGENT_BROWSER_SESSION".to_owned(), session.clone())].into(),
                timeout_ms: Some(timeout_ms),
                max_output_bytes: Some(MAX_OUTPUT),
            })
            .await?;
        let duration_ms = started.elapsed().as_millis() as u64;
        let image = match &shot {
            Some(name) => self.take_image(caller, id, name).await,
            None => Ok(None),
        };
        if ran.timed_out {
            return Err(Error::new(
                ErrorCode::BrowserCommandFailed,
                format!("{command} did not finish within {timeout_ms} ms (timeoutMs sets the deadline)"),
            )
            .with_details(serde_json::json!({"command": command, "timedOut": true})));
        }
        if ran.stdout_truncated {
            return Err(Error::new(
                ErrorCode::BrowserCommandFailed,
                format!(
                    "{command} answered more than {} MiB (scope a snapshot with -s SELECTOR or -d DEPTH)",
                    MAX_OUTPUT >> 20
                ),
            ));
        }
        let answer: serde_json::Value = serde_json::from_str(ran.stdout.trim()).map_err(|_| {
            let said = if ran.stderr.trim().is_empty() {
                &ran.stdout
            } else {
                &ran.stderr
            };
            Error::new(
                ErrorCode::BrowserCommandFailed,
                format!(
                    "agent-browser answered no result (exit code {:?}): {}",
                    ran.exit_code,
                    crate::services::tail(said.trim(), 1000)
                ),
            )
        })?;
        if answer["success"] != serde_json::Value::Bool(true) {
            let why = answer["error"].as_str().unwrap_or("no reason given");
            return Err(
                Error::new(ErrorCode::BrowserCommandFailed, format!("{command} failed: {why}"))
                    .with_details(serde_json::json!({"command": command, "error": why})),
            );
        }
        let image = image?;
        let mut data = match answer.get("data") {
            Some(data) if data.is_object() => data.clone(),
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(other) => serde_json::json!({ "value": other }),
        };
        if image.is_some() {
            // The file the path names is gone.
            if let Some(object) = data.as_object_mut() {
                object.remove("path");
            }
        }
        Ok(BrowserCommandResponse {
            command,
            session,
            data,
            image,
            duration_ms,
        })
    }

    /// 409 with what is missing when the workspace cannot have a browser.
    fn check_flavor(&self, workspace: &Workspace) -> Result<(), Error> {
        let missing = if !self.flavors.join(FLAVOR).is_dir() {
            "the browser flavor is not installed on this host"
        } else if !workspace.config.flavors.iter().any(|f| f == FLAVOR) {
            "the workspace was made without the browser flavor"
        } else {
            return Ok(());
        };
        Err(Error::new(
            ErrorCode::BrowserNotReady,
            format!("{missing}: {INSTALL_COMMAND}"),
        ))
    }

    /// Reads and removes the screenshot at `name` (relative to the root).
    async fn take_image(&self, caller: &Caller, id: &str, name: &str) -> Result<Option<BrowserImage>, Error> {
        let access = self.workspaces.tree_access(caller, id).await?;
        let read = files::read_whole(access, name, MAX_IMAGE).await;
        let access = self.workspaces.tree_access(caller, id).await?;
        // Removed whatever the read found, so nothing is left behind.
        match files::remove(access, name, false).await {
            Err(err) if err.code != ErrorCode::PathNotFound => return Err(err),
            _ => {}
        }
        // None: the command failed before writing it (its error says why).
        let Some(bytes) = read? else { return Ok(None) };
        let mime_type = if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            "image/jpeg"
        } else {
            "image/png"
        };
        Ok(Some(BrowserImage {
            mime_type: mime_type.into(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        }))
    }
}

fn bad(message: String) -> Error {
    Error::new(ErrorCode::BadBrowserCommand, message)
}

/// 400 for a command the route does not run, or arguments it cannot pass.
fn check_command(command: &str, args: &[String]) -> Result<(), Error> {
    if !BROWSER_COMMANDS.contains(&command) {
        return Err(bad(format!(
            "{command:?} is not a browser command paddock runs (one of: {})",
            BROWSER_COMMANDS.join(", ")
        )));
    }
    if args.iter().any(|a| a.contains('\0')) {
        return Err(bad("an argument holds a NUL byte".into()));
    }
    if args.iter().map(String::len).sum::<usize>() > MAX_ARGS_BYTES {
        return Err(bad(format!("the arguments pass {MAX_ARGS_BYTES} bytes")));
    }
    // The launch is the server's: these would start another browser than
    // the workspace's, or another session than the call's.
    const LAUNCH_FLAGS: &[&str] = &[
        "--session",
        "--executable-path",
        "--args",
        "--cdp",
        "-p",
        "--provider",
        "--auto-connect",
        "--engine",
        "--config",
        "--namespace",
    ];
    if let Some(flag) = args
        .iter()
        .find(|a| LAUNCH_FLAGS.contains(&a.split('=').next().unwrap_or(a)))
    {
        return Err(bad(format!(
            "{flag} is the server's to set (the session is the call's `session`)"
        )));
    }
    Ok(())
}

/// The session's name: `default`, or letters, digits, `-` and `_`.
fn session_name(session: Option<&str>) -> Result<String, Error> {
    let name = session.unwrap_or("default");
    let valid = !name.is_empty()
        && name.len() <= MAX_SESSION
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(bad(format!(
            "session {name:?}: 1 to {MAX_SESSION} letters, digits, '-' or '_'"
        )));
    }
    Ok(name.to_owned())
}

/// The arguments that are neither flags nor flags' values.
fn positional(args: &[String]) -> impl Iterator<Item = &str> {
    let mut skip_value = false;
    args.iter().map(String::as_str).filter(move |arg| {
        if std::mem::take(&mut skip_value) {
            return false;
        }
        if arg.starts_with('-') {
            skip_value = VALUE_FLAGS.contains(arg);
            return false;
        }
        true
    })
}

/// The URLs `command` navigates to (agent-browser prefixes one without a
/// scheme with `https://`): `open URL`, `tab new URL`, `diff url A B`,
/// `read|vitals|a11y [URL]`, `record start PATH [URL]`.
fn navigation_targets<'a>(command: &str, args: &'a [String]) -> Vec<&'a str> {
    let words: Vec<&str> = positional(args).collect();
    match (command, words.as_slice()) {
        ("open" | "goto" | "navigate" | "read" | "vitals" | "a11y", [url, ..]) => vec![url],
        ("tab", ["new", url, ..]) => vec![url],
        ("diff", ["url", rest @ ..]) => rest.iter().take(2).copied().collect(),
        ("record", ["start" | "restart", _, url, ..]) => vec![url],
        _ => Vec::new(),
    }
}

/// 403 when a workspace's network (its mode and allowlist) cannot reach
/// `url`'s host and port.
fn check_reach((mode, domains): (&String, &Vec<String>), url: &str) -> Result<(), Error> {
    // Pages that are not fetched from a host stay in the jail.
    let local = ["data:", "about:", "blob:", "javascript:", "file:", "chrome:"];
    if local
        .iter()
        .any(|scheme| url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme)))
    {
        return Ok(());
    }
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    };
    let Ok(uri) = full.parse::<axum::http::Uri>() else {
        return Err(bad(format!("{url:?} is not a URL")));
    };
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        // file:, data:, about: … stay in the jail.
        _ => return Ok(()),
    };
    let Some(host) = uri.host() else {
        return Err(bad(format!("{url:?} names no host")));
    };
    let port = uri.port_u16().unwrap_or(default_port);
    let refused = |why: String| Err(Error::new(ErrorCode::BrowserUrlRefused, why));
    if mode == "none" {
        return refused(format!(
            "{url} is out of reach: the workspace's network is none (no interface is up, not even loopback); make it with network loopback or an allowlist"
        ));
    }
    let parsed = Host::parse(host).map_err(|e| bad(format!("{url:?}: {e}")))?;
    if is_loopback(&parsed) {
        return Ok(());
    }
    if mode != "allowlist" {
        return refused(format!(
            "{url} is out of reach: the workspace's network is {mode} (only its own 127.0.0.1)"
        ));
    }
    let policy = EgressPolicy::new(domains, []).map_err(Error::internal)?;
    if !policy.allows_host(&parsed) {
        return refused(format!(
            "{host} is not on this workspace's allowlist ({})",
            domains.join(", ")
        ));
    }
    if !policy.allows_port(port) {
        let ports: Vec<String> = policy.ports().iter().map(u16::to_string).collect();
        return refused(format!(
            "port {port} of {host} is closed: the allowlist reaches ports {}",
            ports.join(", ")
        ));
    }
    Ok(())
}

/// Hosts inside the jail: its own loopback.
fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Ip(ip) => ip.is_loopback(),
        Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_against_the_workspace_network() {
        let network = |mode: &str, domains: &[&str]| {
            (
                mode.to_owned(),
                domains.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            )
        };
        let none = network("none", &[]);
        let none = (&none.0, &none.1);
        let err = check_reach(none, "http://127.0.0.1:8000/").unwrap_err();
        assert_eq!(err.code, ErrorCode::BrowserUrlRefused);
        assert!(err.message.contains("network is none"), "{}", err.message);
        assert!(check_reach(none, "file:///workspace/x.html").is_ok());
        assert!(check_reach(none, "data:text/html,<h1>hi</h1>").is_ok());
        assert!(check_reach(none, "about:blank").is_ok());

        let loopback = network("loopback", &[]);
        let loopback = (&loopback.0, &loopback.1);
        assert!(check_reach(loopback, "http://127.0.0.1:8000/form.html").is_ok());
        assert!(check_reach(loopback, "localhost:3000").is_ok());
        assert!(check_reach(loopback, "http://[::1]:80/").is_ok());
        assert_eq!(
            check_reach(loopback, "example.com").unwrap_err().code,
            ErrorCode::BrowserUrlRefused
        );

        let listed = network("allowlist", &["*.example.com", "docs.rs"]);
        let listed = (&listed.0, &listed.1);
        assert!(check_reach(listed, "https://api.example.com/x").is_ok());
        assert!(check_reach(listed, "docs.rs").is_ok());
        assert!(check_reach(listed, "http://127.0.0.1:9999/").is_ok());
        let err = check_reach(listed, "http://other.test/").unwrap_err();
        assert!(
            err.message.contains("other.test is not on this workspace's allowlist"),
            "{}",
            err.message
        );
        let err = check_reach(listed, "http://docs.rs:8080/").unwrap_err();
        assert!(err.message.contains("port 8080"), "{}", err.message);
        assert_eq!(
            check_reach(listed, "http://exa mple/").unwrap_err().code,
            ErrorCode::BadBrowserCommand
        );
    }

    #[test]
    fn commands_sessions_and_flags_are_checked() {
        assert!(check_command("snapshot", &["-i".into()]).is_ok());
        assert_eq!(
            check_command("install", &[]).unwrap_err().code,
            ErrorCode::BadBrowserCommand
        );
        assert_eq!(
            check_command("mcp", &[]).unwrap_err().code,
            ErrorCode::BadBrowserCommand
        );
        let err = check_command("open", &["--executable-path=/bin/sh".into()]).unwrap_err();
        assert!(err.message.contains("--executable-path"), "{}", err.message);
        assert!(check_command("fill", &["@e1".into(), "a\0b".into()]).is_err());
        assert_eq!(session_name(None).unwrap(), "default");
        assert!(session_name(Some("a b")).is_err());
        assert!(session_name(Some("")).is_err());
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(navigation_targets("open", &args(&["example.com"])), ["example.com"]);
        assert_eq!(navigation_targets("tab", &args(&["new", "http://a/"])), ["http://a/"]);
        assert!(navigation_targets("tab", &args(&["2"])).is_empty());
        assert_eq!(
            navigation_targets("diff", &args(&["url", "a.test", "b.test"])),
            ["a.test", "b.test"]
        );
        assert!(navigation_targets("diff", &args(&["snapshot"])).is_empty());
        assert_eq!(
            navigation_targets("record", &args(&["start", "v.webm", "c.test"])),
            ["c.test"]
        );
        assert!(navigation_targets("click", &args(&["@e1"])).is_empty());
        // A flag's value is not the URL.
        assert_eq!(
            navigation_targets("open", &args(&["--user-agent", "localhost", "http://other.test/"])),
            ["http://other.test/"]
        );
        assert_eq!(navigation_targets("open", &args(&["--headed", "a.test"])), ["a.test"]);
    }
}

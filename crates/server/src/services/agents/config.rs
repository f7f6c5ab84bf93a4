//! The MCP servers and skills of a directory's agents (sandbox-agent
//! 0.4.2's `/v1/config/mcp` and `/v1/config/skills`): named entries kept
//! where sandbox-agent keeps them, `{directory}/.sandbox-agent/config/
//! mcp.json` and `skills.json` in the workspace, written and read through
//! the file API (beneath the workspace's root).
//!
//! sandbox-agent only stores them; paddock applies them when an agent
//! opens a session in that directory (`session/new` or `session/load` with
//! it as `cwd`, from any ACP client or an agent session): the MCP servers
//! are added to the request's `mcpServers` (ACP's own way to give an agent
//! MCP servers, which every agent here reads), and the skills are copied
//! where the agent looks for a project's skills (`.claude/skills` for
//! Claude Code, `.agents/skills` for Codex, `.opencode/skills` for
//! OpenCode, `.pi/skills` for Pi), a directory per skill with its
//! `SKILL.md`. Skills from git are cloned inside the workspace, under its
//! network policy.

use std::collections::BTreeMap;

use axum::body::Bytes;
use futures_util::StreamExt;
use paddock_api::runtime::agents::{McpServerConfig, SkillSource, SkillsConfig};
use paddock_api::runtime::processes::ProcessRunRequest;
use paddock_api::{Error, ErrorCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::Agents;
use crate::services::files::{self, RelPath};
use crate::services::identity::Caller;

/// Where sandbox-agent keeps a directory's configuration.
const CONFIG_DIR: &str = ".sandbox-agent/config";
/// Where skills cloned from git are kept, under the directory.
const CLONES_DIR: &str = ".sandbox-agent/skills";
/// Largest configuration file read.
const MAX_CONFIG_BYTES: usize = 4 << 20;
/// Most bytes of skills copied when one session opens.
const MAX_SKILLS_BYTES: usize = 64 << 20;
/// Most skills sources applied when one session opens.
const MAX_SOURCES: usize = 32;
/// How long applying the configuration may hold up a session's start.
const APPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// How long a clone of a skills repository may take.
const CLONE_TIMEOUT_MS: u64 = 120_000;

/// One of the two configuration files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Mcp,
    Skills,
}

impl ConfigKind {
    fn file(self) -> &'static str {
        match self {
            ConfigKind::Mcp => "mcp.json",
            ConfigKind::Skills => "skills.json",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            ConfigKind::Mcp => "mcp",
            ConfigKind::Skills => "skills",
        }
    }
}

impl Agents {
    /// One entry (404 as sandbox-agent answers when there is none).
    pub async fn config_entry<T: DeserializeOwned>(
        &self,
        caller: &Caller,
        workspace: &str,
        kind: ConfigKind,
        directory: &str,
        name: &str,
    ) -> Result<T, Error> {
        let path = config_path(kind, directory, name)?;
        let entries = self.read_config(caller, workspace, &path).await?;
        let entry = entries
            .get(name)
            .cloned()
            .ok_or_else(|| super::server_not_found(&format!("{}:{name}", kind.prefix())))?;
        serde_json::from_value(entry).map_err(|e| {
            Error::new(
                ErrorCode::BadRequest,
                format!(
                    "entry '{name}' of {path} does not read as a {} entry: {e}",
                    kind.prefix()
                ),
            )
        })
    }

    /// Stores an entry (replacing one of the same name).
    pub async fn set_config_entry<T: Serialize>(
        &self,
        caller: &Caller,
        workspace: &str,
        kind: ConfigKind,
        directory: &str,
        name: &str,
        value: &T,
    ) -> Result<(), Error> {
        let value = serde_json::to_value(value).map_err(Error::internal)?;
        self.update_config(caller, workspace, kind, directory, name, Some(value))
            .await
    }

    /// Removes an entry (nothing to do when there is none).
    pub async fn delete_config_entry(
        &self,
        caller: &Caller,
        workspace: &str,
        kind: ConfigKind,
        directory: &str,
        name: &str,
    ) -> Result<(), Error> {
        self.update_config(caller, workspace, kind, directory, name, None).await
    }

    async fn update_config(
        &self,
        caller: &Caller,
        workspace: &str,
        kind: ConfigKind,
        directory: &str,
        name: &str,
        value: Option<Value>,
    ) -> Result<(), Error> {
        let path = config_path(kind, directory, name)?;
        // Read, changed and written whole: one writer of the file at a time.
        let _one = self.named_lock(workspace, "config", &path).lock_owned().await;
        let mut entries = self.read_config(caller, workspace, &path).await?;
        let changed = match value {
            Some(value) => entries.insert(name.to_owned(), value.clone()) != Some(value),
            None => entries.remove(name).is_some(),
        };
        if !changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec_pretty(&entries).map_err(Error::internal)?;
        let access = self.inner.workspaces.tree_access(caller, workspace).await?;
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
        files::write(access, &self.inner.disk, &path, body).await?;
        self.inner
            .audit
            .record(
                caller,
                &format!("agent_config.{}", kind.prefix()),
                &format!("{workspace}/{path}/{name}"),
            )
            .await;
        Ok(())
    }

    /// The entries of a configuration file (none when it does not exist).
    async fn read_config(
        &self,
        caller: &Caller,
        workspace: &str,
        path: &str,
    ) -> Result<BTreeMap<String, Value>, Error> {
        let access = self.inner.workspaces.tree_access(caller, workspace).await?;
        let Some(bytes) = files::read_whole(access, path, MAX_CONFIG_BYTES).await? else {
            return Ok(BTreeMap::new());
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorCode::BadRequest,
                format!("{path} is not a JSON object of named entries ({e}); fix or delete it with the file API"),
            )
        })
    }

    /// Applies the configuration of a session's directory to an ACP
    /// request that opens a session (`session/new`, `session/load`): its
    /// MCP servers joined to `mcpServers`, its skills copied where `agent`
    /// reads them. Other envelopes, and directories outside the workspace
    /// tree, are left alone. A configuration that cannot be applied (a
    /// file that does not read, a source that is gone, a clone that fails)
    /// is logged and the session opens without it: the client's request
    /// was fine.
    pub(super) async fn apply_config(&self, caller: &Caller, workspace: &str, agent: &str, envelope: &mut Value) {
        let method = envelope.get("method").and_then(Value::as_str);
        if !matches!(method, Some("session/new" | "session/load")) {
            return;
        }
        let Some(cwd) = envelope
            .pointer("/params/cwd")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return;
        };
        let Ok(directory) = RelPath::parse(&cwd) else {
            return;
        };
        let applied = tokio::time::timeout(APPLY_TIMEOUT, async {
            match self
                .read_config(caller, workspace, &file_path(ConfigKind::Mcp, &directory))
                .await
            {
                Ok(mcp) => add_mcp_servers(envelope, mcp),
                Err(err) => tracing::warn!(message = %err.message, %cwd, "the MCP configuration was not applied"),
            }
            let Some(target) = skills_dir(agent) else {
                return;
            };
            match self
                .read_config(caller, workspace, &file_path(ConfigKind::Skills, &directory))
                .await
            {
                Ok(skills) => {
                    self.install_all_skills(caller, workspace, &directory, target, skills)
                        .await
                }
                Err(err) => tracing::warn!(message = %err.message, %cwd, "the skills configuration was not applied"),
            }
        })
        .await;
        if applied.is_err() {
            tracing::warn!(%cwd, "applying the agents' configuration took over {} s; the session opens with what was done", APPLY_TIMEOUT.as_secs());
        }
    }

    /// Copies every skill of every source of `skills` (at most
    /// [`MAX_SOURCES`] sources and [`MAX_SKILLS_BYTES`] in all).
    async fn install_all_skills(
        &self,
        caller: &Caller,
        workspace: &str,
        directory: &RelPath,
        target: &str,
        skills: BTreeMap<String, Value>,
    ) {
        let mut budget = MAX_SKILLS_BYTES;
        let mut sources = 0;
        for (name, entry) in skills {
            let config: SkillsConfig = match serde_json::from_value(entry) {
                Ok(config) => config,
                Err(err) => {
                    tracing::warn!(%name, %err, "a skills entry that does not read; left out");
                    continue;
                }
            };
            for source in &config.sources {
                sources += 1;
                if sources > MAX_SOURCES {
                    tracing::warn!(
                        max = MAX_SOURCES,
                        "more skills sources than a session applies; the rest left out"
                    );
                    return;
                }
                if let Err(err) = self
                    .install_skills(caller, workspace, directory, target, source, &mut budget)
                    .await
                {
                    tracing::warn!(%name, source = %source.source, message = %err.message, "a skills source was not applied");
                }
            }
        }
    }

    /// Copies the skills of `source` into `{directory}/{target}/`: the
    /// source itself when it is a skill (it has a `SKILL.md`), else the
    /// skills among its directories (and those of its `skills/`).
    async fn install_skills(
        &self,
        caller: &Caller,
        workspace: &str,
        directory: &RelPath,
        target: &str,
        source: &SkillSource,
        budget: &mut usize,
    ) -> Result<(), Error> {
        let bad = |why: String| {
            Error::new(
                ErrorCode::BadRequest,
                format!("skills source {:?}: {why}", source.source),
            )
        };
        let root = match source.kind.as_str() {
            "local" => RelPath::parse(&source.source).map_err(|e| bad(e.message))?,
            "git" | "github" => self.clone_skills(caller, workspace, directory, source).await?,
            other => return Err(bad(format!("type {other:?} is not local, git or github"))),
        };
        let root = match &source.subpath {
            Some(sub) => RelPath::parse(&format!("{}/{sub}", root.jail())).map_err(|e| bad(e.message))?,
            None => root,
        };
        let destination = format!("{}/{target}", directory.jail());
        if root.jail() == destination || destination.starts_with(&format!("{}/", root.jail())) {
            return Err(bad("the source holds the directory the skills are copied to".into()));
        }
        let mut found = Vec::new();
        if self.is_skill(caller, workspace, &root.jail()).await? {
            found.push((root.last_name().to_owned(), root.jail()));
        } else {
            for parent in [root.jail(), format!("{}/skills", root.jail())] {
                let access = self.inner.workspaces.tree_access(caller, workspace).await?;
                let Ok(entries) = files::list(access, Some(&parent)).await else {
                    continue;
                };
                for entry in entries {
                    let is_dir = matches!(entry.entry_type, paddock_api::runtime::fs::FsEntryType::Directory);
                    let path = format!("{parent}/{}", entry.name);
                    if is_dir && self.is_skill(caller, workspace, &path).await? {
                        found.push((entry.name, path));
                    }
                }
            }
        }
        found.retain(|(name, _)| source.skills.as_ref().is_none_or(|only| only.contains(name)));
        if found.is_empty() {
            return Err(bad("no skill (a directory with a SKILL.md) found".into()));
        }
        for (name, path) in found {
            // Read whole, then written: one tree access at a time.
            let access = self.inner.workspaces.tree_access(caller, workspace).await?;
            let mut tar = files::archive(access, Some(&path)).await?;
            let mut bytes = Vec::new();
            while let Some(chunk) = tar.next().await {
                bytes.extend_from_slice(&chunk.map_err(Error::internal)?);
                if bytes.len() > *budget {
                    return Err(bad(format!(
                        "the skills of a session are at most {} MiB in all",
                        MAX_SKILLS_BYTES >> 20
                    )));
                }
            }
            *budget -= bytes.len();
            let access = self.inner.workspaces.tree_access(caller, workspace).await?;
            let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from(bytes))]);
            files::upload_tar(access, &self.inner.disk, Some(&format!("{destination}/{name}")), body).await?;
        }
        Ok(())
    }

    /// Whether `path` is a skill's directory (it holds a `SKILL.md`).
    async fn is_skill(&self, caller: &Caller, workspace: &str, path: &str) -> Result<bool, Error> {
        let access = self.inner.workspaces.tree_access(caller, workspace).await?;
        Ok(files::stat(access, &format!("{path}/SKILL.md")).await.is_ok())
    }

    /// Clones a git (or GitHub) source inside the workspace, under its
    /// network policy, once per URL and ref: into a directory of its own,
    /// moved into place only when the clone (and the ref's checkout)
    /// succeeded. The clone's directory.
    async fn clone_skills(
        &self,
        caller: &Caller,
        workspace: &str,
        directory: &RelPath,
        source: &SkillSource,
    ) -> Result<RelPath, Error> {
        let url = if source.kind == "github" {
            format!("https://github.com/{}.git", source.source.trim_matches('/'))
        } else {
            source.source.clone()
        };
        let safe = |s: &str| !s.is_empty() && !s.starts_with('-') && !s.chars().any(char::is_control);
        if !safe(&url) || source.git_ref.as_deref().is_some_and(|r| !safe(r)) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "a skills source URL or ref is empty, starts with '-' or holds control characters",
            ));
        }
        let key = blake3_hex(&format!("{url}\0{}", source.git_ref.as_deref().unwrap_or("")));
        let clone = RelPath::parse(&format!("{}/{CLONES_DIR}/{key}", directory.jail()))?;
        // One clone of a source at a time; a second session waits for it.
        let _one = self.named_lock(workspace, "clone", &clone.jail()).lock_owned().await;
        let access = self.inner.workspaces.tree_access(caller, workspace).await?;
        if files::stat(access, &clone.jail()).await.is_ok() {
            return Ok(clone);
        }
        let staging = format!("{}.partial-{:08x}", clone.jail(), rand::random::<u32>());
        let runtime = self.inner.workspaces.running(caller, workspace).await?;
        let git = |args: Vec<String>| ProcessRunRequest {
            command: "git".into(),
            args,
            cwd: None,
            env: BTreeMap::from([("GIT_TERMINAL_PROMPT".to_owned(), "0".to_owned())]),
            timeout_ms: Some(CLONE_TIMEOUT_MS),
            max_output_bytes: Some(8 << 10),
        };
        // A ref may be a commit: the whole history, then its checkout.
        let mut steps = vec![match &source.git_ref {
            Some(_) => vec![
                "clone".into(),
                "--no-checkout".into(),
                "--".into(),
                url.clone(),
                staging.clone(),
            ],
            None => vec![
                "clone".into(),
                "--depth".into(),
                "1".into(),
                "--".into(),
                url.clone(),
                staging.clone(),
            ],
        }];
        if let Some(git_ref) = &source.git_ref {
            steps.push(vec![
                "-C".into(),
                staging.clone(),
                "checkout".into(),
                "--quiet".into(),
                git_ref.clone(),
            ]);
        }
        for args in steps {
            let ran = runtime.run(git(args)).await?;
            if ran.exit_code != Some(0) {
                let access = self.inner.workspaces.tree_access(caller, workspace).await?;
                let _ = files::remove(access, &staging, true).await;
                return Err(Error::new(
                    ErrorCode::GitCloneFailed,
                    format!(
                        "cloning skills from {} in the workspace failed: {}",
                        redact(&url),
                        ran.stderr.trim()
                    ),
                ));
            }
        }
        let access = self.inner.workspaces.tree_access(caller, workspace).await?;
        files::rename(access, &self.inner.disk, &staging, &clone.jail(), false).await?;
        Ok(clone)
    }
}

/// Joins the MCP servers of a directory to a session request's
/// `mcpServers` (a server the client named itself wins).
fn add_mcp_servers(envelope: &mut Value, mcp: BTreeMap<String, Value>) {
    if mcp.is_empty() {
        return;
    }
    let Some(params) = envelope.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    let servers = params.entry("mcpServers").or_insert_with(|| json!([]));
    let Some(servers) = servers.as_array_mut() else {
        return;
    };
    for (name, entry) in mcp {
        if servers
            .iter()
            .any(|s| s.get("name").and_then(Value::as_str) == Some(&name))
        {
            continue;
        }
        match serde_json::from_value::<McpServerConfig>(entry) {
            Ok(config) => servers.extend(acp_mcp_server(&name, config)),
            Err(err) => tracing::warn!(%name, %err, "an MCP entry that does not read; left out"),
        }
    }
}

/// A URL without the credentials it may carry.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.find('/').unwrap_or(rest.len());
    match rest[..authority].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The path of a configuration file, the query checked as sandbox-agent
/// checks it.
fn config_path(kind: ConfigKind, directory: &str, name: &str) -> Result<String, Error> {
    for (value, what) in [(directory, "directory"), (name, kind_name(kind))] {
        if value.trim().is_empty() {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("missing required '{what}' query parameter"),
            ));
        }
    }
    Ok(file_path(kind, &RelPath::parse(directory)?))
}

/// The configuration file of `kind` for `directory`.
fn file_path(kind: ConfigKind, directory: &RelPath) -> String {
    format!("{}/{CONFIG_DIR}/{}", directory.jail(), kind.file())
}

fn kind_name(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Mcp => "mcpName",
        ConfigKind::Skills => "skillName",
    }
}

/// Where `agent` reads a project's skills, relative to its `cwd`.
fn skills_dir(agent: &str) -> Option<&'static str> {
    match agent {
        "claude" | "mock" => Some(".claude/skills"),
        "codex" => Some(".agents/skills"),
        "opencode" => Some(".opencode/skills"),
        "pi" => Some(".pi/skills"),
        _ => None,
    }
}

/// A stored MCP entry as ACP's `McpServer` (none when disabled).
fn acp_mcp_server(name: &str, config: McpServerConfig) -> Option<Value> {
    let pairs = |map: BTreeMap<String, String>| -> Vec<Value> {
        map.into_iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    };
    match config {
        McpServerConfig::Local {
            command,
            args,
            env,
            enabled,
            ..
        } if enabled != Some(false) => Some(json!({"name": name, "command": command, "args": args, "env": pairs(env)})),
        McpServerConfig::Remote {
            url,
            headers,
            transport,
            enabled,
            ..
        } if enabled != Some(false) => {
            let kind = if transport.as_deref() == Some("sse") {
                "sse"
            } else {
                "http"
            };
            Some(json!({"type": kind, "name": name, "url": url, "headers": pairs(headers)}))
        }
        _ => None,
    }
}

fn blake3_hex(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex()[..16].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_become_acp_mcp_servers() {
        let local: McpServerConfig =
            serde_json::from_value(json!({"type": "stdio", "command": "node", "args": ["s.js"], "env": {"A": "1"}}))
                .unwrap();
        assert_eq!(
            acp_mcp_server("echo", local),
            Some(json!({"name": "echo", "command": "node", "args": ["s.js"], "env": [{"name": "A", "value": "1"}]}))
        );
        let remote: McpServerConfig =
            serde_json::from_value(json!({"type": "http", "url": "http://127.0.0.1:9/mcp", "headers": {"X": "y"}}))
                .unwrap();
        assert_eq!(
            serde_json::to_value(&remote).unwrap(),
            json!({"type": "remote", "url": "http://127.0.0.1:9/mcp", "headers": {"X": "y"}})
        );
        assert_eq!(
            acp_mcp_server("r", remote),
            Some(
                json!({"type": "http", "name": "r", "url": "http://127.0.0.1:9/mcp", "headers": [{"name": "X", "value": "y"}]})
            )
        );
        let off: McpServerConfig =
            serde_json::from_value(json!({"type": "local", "command": "x", "enabled": false})).unwrap();
        assert_eq!(acp_mcp_server("off", off), None);
        assert!(serde_json::from_value::<McpServerConfig>(json!({"type": "weird"})).is_err());
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redact("https://user:tok@git.example/a/b.git"),
            "https://…@git.example/a/b.git"
        );
        assert_eq!(redact("https://git.example/a@b.git"), "https://git.example/a@b.git");
        assert_eq!(redact("/workspace/repo"), "/workspace/repo");
    }

    #[test]
    fn paths_are_checked() {
        assert_eq!(
            config_path(ConfigKind::Mcp, "/workspace/app", "x").unwrap(),
            "/workspace/app/.sandbox-agent/config/mcp.json"
        );
        assert_eq!(
            config_path(ConfigKind::Skills, "app", "x").unwrap(),
            "/workspace/app/.sandbox-agent/config/skills.json"
        );
        assert_eq!(
            config_path(ConfigKind::Mcp, "", "x").unwrap_err().code,
            ErrorCode::BadRequest
        );
        assert!(config_path(ConfigKind::Mcp, "/etc", "x").is_err());
        assert!(config_path(ConfigKind::Skills, "/workspace", " ").is_err());
    }
}

//! Coding agents (issue 17; RUNTIME.md §3, §6): the real agent CLIs and
//! their ACP adapters, run as processes of a running workspace and spoken
//! to over the Agent Client Protocol, behind sandbox-agent 0.4.2's
//! `/v1/agents` and `/v1/acp` routes under the workspace's runtime base
//! URL.
//!
//! - [`catalog`]: which agents exist, how each is installed and started.
//! - [`acp`]: one ACP server (an agent process) and its transcript.
//! - [`install`]: pinned npm packages into the host's agents directory.
//!
//! Unlike sandbox-agent, paddock keeps every envelope in its database
//! under an index that only grows, so a client that reconnects (or comes
//! back after a paddock restart) replays from its `Last-Event-ID`, and the
//! transcript stays readable after the agent is gone. An agent's model
//! traffic goes through the phantom proxy: its process gets a phantom
//! session's tokens and base URLs on the jail's own loopback, never a
//! real key.

pub mod acp;
pub mod catalog;
pub mod config;
pub mod install;
pub mod sessions;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::runtime::agents::{
    AcpEvent, AcpEventList, AcpServerInfo, AcpServerListResponse, AgentInfo, AgentInstallRequest, AgentInstallResponse,
    AgentListResponse, ServerStatusInfo,
};
use paddock_api::{Error, ErrorCode};
use paddock_jail::ProcessSpec;
use serde_json::Value;

use crate::config::Role;
use crate::db::{now_ms, AcpEventRow, AcpServerRow, Db, Scope};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::lock;
use crate::services::sessions::Sessions;
use crate::services::workspaces::Workspaces;
use acp::{classify, AcpServer, Transcript};
pub use catalog::AGENTS_MOUNT;
use catalog::{AgentSpec, Source, AGENTS};

/// How long a request to an agent may wait for its answer (a prompt is
/// answered when its turn ends).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How long an agent has to end after SIGTERM.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// Longest ACP server id.
const MAX_SERVER_ID: usize = 128;
/// Most envelopes one transcript page holds.
const MAX_PAGE: i64 = 10_000;
/// Most bytes of envelopes one transcript page holds (it ends early).
const MAX_PAGE_BYTES: usize = 16 << 20;
/// Most agent processes one workspace runs at once.
const MAX_SERVERS: usize = 8;

/// The host's agents directory under the state directory.
pub fn host_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("agents")
}

/// Coding agents of this server's workspaces.
#[derive(Debug, Clone)]
pub struct Agents {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workspaces: Workspaces,
    sessions: Sessions,
    db: Db,
    audit: AuditLog,
    dir: PathBuf,
    /// The state disk (configuration files are written to workspaces).
    disk: crate::services::space::StateDisk,
    /// Live servers by workspace and server id (an entry goes when its
    /// agent process ends).
    servers: Mutex<HashMap<ServerKey, Arc<AcpServer>>>,
    /// One lock per server id: its creation, deletion and first look by a
    /// reader happen one at a time. Agent sessions, configuration files and
    /// skills clones take theirs here too ([`Agents::named_lock`]).
    locks: Mutex<HashMap<ServerKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A server: its workspace and id.
type ServerKey = (String, String);

fn key(workspace: &str, server: &str) -> ServerKey {
    (workspace.to_owned(), server.to_owned())
}

impl Agents {
    /// The agents service; writes the built-in agents into `state_dir`'s
    /// agents directory and marks servers an earlier run left as exited.
    pub async fn open(
        state_dir: &Path,
        workspaces: Workspaces,
        sessions: Sessions,
        db: Db,
        audit: AuditLog,
        disk: crate::services::space::StateDisk,
    ) -> anyhow::Result<Agents> {
        use anyhow::Context;
        let dir = host_dir(state_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // A full disk must not keep the server from starting: the mock then
        // reads as not installed.
        if let Err(err) = install::write_builtin(&dir) {
            tracing::warn!(%err, dir = %dir.display(), "writing the built-in agents failed");
        }
        install::remove_leftovers(&dir);
        // No agent process outlives the server that ran it; nor do its tokens.
        let ended = db.acp_servers_not_exited().await?;
        for row in &ended {
            let last = db.last_acp_event(&row.workspace_id, &row.server_id).await?;
            Transcript::new(db.clone(), row.workspace_id.clone(), row.server_id.clone(), last)
                .record_exit(None, Some("paddock stopped"))
                .await;
            if let Some(session) = &row.phantom_session {
                let caller = Caller::server(&row.tenant_id);
                if let Err(err) = sessions.close(&caller, &Scope::All, session).await {
                    tracing::debug!(session = %session, message = %err.message, "an agent's phantom session of an earlier run");
                }
            }
        }
        if !ended.is_empty() {
            tracing::info!(
                ended = ended.len(),
                "ACP servers of an earlier run marked as exited (their transcripts stay)"
            );
        }
        Ok(Agents {
            inner: Arc::new(Inner {
                workspaces,
                sessions,
                db,
                audit,
                dir,
                disk,
                servers: Mutex::default(),
                locks: Mutex::default(),
            }),
        })
    }

    /// Every agent as the workspace sees it.
    pub async fn list(&self, caller: &Caller, workspace: &str, config: bool) -> Result<AgentListResponse, Error> {
        let tenant = self.tenant_of(caller, workspace).await?;
        let mut agents = Vec::with_capacity(AGENTS.len());
        for spec in AGENTS {
            agents.push(self.info(&tenant, workspace, spec, config).await?);
        }
        Ok(AgentListResponse { agents })
    }

    /// One agent.
    pub async fn get(&self, caller: &Caller, workspace: &str, agent: &str, config: bool) -> Result<AgentInfo, Error> {
        let spec = spec(agent)?;
        let tenant = self.tenant_of(caller, workspace).await?;
        self.info(&tenant, workspace, spec, config).await
    }

    /// Installs an agent on the server's host (every workspace sees it).
    pub async fn install(
        &self,
        caller: &Caller,
        workspace: &str,
        agent: &str,
        request: &AgentInstallRequest,
    ) -> Result<AgentInstallResponse, Error> {
        let spec = spec(agent)?;
        self.tenant_of(caller, workspace).await?;
        if caller.role != Role::Admin {
            return Err(Error::new(
                ErrorCode::Forbidden,
                "installing an agent runs npm on the server's host for every tenant: it takes an admin's key (or `paddock agents install` on the host)",
            ));
        }
        let response = install::install(&self.inner.dir, spec, request).await?;
        if !response.already_installed {
            self.inner.audit.record(caller, "agent.install", agent).await;
        }
        Ok(response)
    }

    /// The workspace's ACP servers, oldest first.
    pub async fn servers(&self, caller: &Caller, workspace: &str) -> Result<AcpServerListResponse, Error> {
        self.tenant_of(caller, workspace).await?;
        let rows = self.inner.db.acp_servers(workspace).await?;
        Ok(AcpServerListResponse {
            servers: rows
                .into_iter()
                .map(|row| AcpServerInfo {
                    status: if self.is_running(workspace, &row.server_id) {
                        "running"
                    } else {
                        "exited"
                    }
                    .to_owned(),
                    server_id: row.server_id,
                    agent: row.agent,
                    created_at_ms: row.created_at,
                })
                .collect(),
        })
    }

    /// Sends a JSON-RPC envelope to server `server` (started with `agent`
    /// on the first POST). A request gets the agent's answer; anything
    /// else `None` once the agent has it.
    pub async fn post(
        &self,
        caller: &Caller,
        workspace: &str,
        server: &str,
        agent: Option<&str>,
        envelope: Value,
    ) -> Result<Option<Value>, Error> {
        if server.contains('~') {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "'~' in an ACP server id is kept for the agents of agent sessions (…/agent-sessions)",
            ));
        }
        self.send_envelope(caller, workspace, server, agent, envelope).await
    }

    /// [`Agents::post`] for paddock's own ACP client (agent sessions),
    /// whose servers' ids may hold `~`.
    pub(super) async fn send_envelope(
        &self,
        caller: &Caller,
        workspace: &str,
        server: &str,
        agent: Option<&str>,
        mut envelope: Value,
    ) -> Result<Option<Value>, Error> {
        check_server_id(server)?;
        if !envelope.is_object() {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "the body must be a JSON-RPC 2.0 envelope (an object)",
            ));
        }
        let live = self.server_for_post(caller, workspace, server, agent).await?;
        // A turn (or a clone of skills) can outlast the workspace's idle
        // timeout.
        let _alive = self.inner.workspaces.keep_alive(workspace);
        self.apply_config(caller, workspace, &live.agent, &mut envelope).await;
        let kind = classify(&envelope);
        live.send(&envelope, kind, ANSWER_TIMEOUT).await
    }

    /// What an SSE reader of `server` needs: the stored agent envelopes
    /// after `since`, and (subscribed before they were read, so nothing
    /// falls between) the live ones.
    pub async fn follow(&self, caller: &Caller, workspace: &str, server: &str) -> Result<Arc<Transcript>, Error> {
        self.tenant_of(caller, workspace).await?;
        // Not while the server is being made (its transcript is not live yet).
        let _one = self.server_lock(workspace, server).lock_owned().await;
        if let Some(live) = self.live(workspace, server) {
            return Ok(live.transcript.clone());
        }
        if self.row(workspace, server).await?.deleted_at.is_some() {
            return Err(server_not_found(server));
        }
        // An ended server's transcript no longer grows.
        let last = self.inner.db.last_acp_event(workspace, server).await?;
        Ok(Arc::new(Transcript::new(
            self.inner.db.clone(),
            workspace.to_owned(),
            server.to_owned(),
            last,
        )))
    }

    /// Stored envelopes after `since` (`inbound_only`: the agent's).
    pub async fn stored(
        &self,
        workspace: &str,
        server: &str,
        since: i64,
        limit: i64,
        inbound_only: bool,
    ) -> Result<Vec<AcpEventRow>, Error> {
        Ok(self
            .inner
            .db
            .acp_events(workspace, server, since, limit, inbound_only)
            .await?)
    }

    /// The transcript (both directions) after `since`.
    pub async fn events(
        &self,
        caller: &Caller,
        workspace: &str,
        server: &str,
        since: Option<i64>,
        limit: Option<i64>,
    ) -> Result<AcpEventList, Error> {
        self.tenant_of(caller, workspace).await?;
        self.row(workspace, server).await?;
        let limit = limit.unwrap_or(1000);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        let since = since.unwrap_or(0).max(0);
        let mut rows = self.stored(workspace, server, since, limit + 1, false).await?;
        let mut has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let mut bytes = 0;
        if let Some(cut) = rows.iter().position(|row| {
            bytes += row.envelope.len();
            bytes > MAX_PAGE_BYTES
        }) {
            // At least one envelope, so a page always moves on.
            rows.truncate(cut.max(1));
            has_more = true;
        }
        Ok(AcpEventList {
            events: rows
                .into_iter()
                .map(|row| AcpEvent {
                    index: row.index,
                    direction: if row.outbound { "outbound" } else { "inbound" }.to_owned(),
                    created_at_ms: row.created_at,
                    envelope: serde_json::from_str(&row.envelope).unwrap_or(Value::Null),
                })
                .collect(),
            has_more,
        })
    }

    /// Ends a server's agent and takes it off the list (nothing to do for
    /// an unknown id, as sandbox-agent answers). Its transcript stays
    /// readable at `…/events` until the id is used again.
    pub async fn delete(&self, caller: &Caller, workspace: &str, server: &str) -> Result<(), Error> {
        self.tenant_of(caller, workspace).await?;
        let _one = self.server_lock(workspace, server).lock_owned().await;
        let live = lock(&self.inner.servers).remove(&key(workspace, server));
        if let Some(live) = live {
            live.kill(KILL_GRACE).await;
        }
        if self
            .inner
            .db
            .mark_acp_server_deleted(workspace, server, now_ms())
            .await?
        {
            self.inner
                .audit
                .record(caller, "acp.delete", &format!("{workspace}/{server}"))
                .await;
        }
        Ok(())
    }

    /// The live server, started on the first POST.
    async fn server_for_post(
        &self,
        caller: &Caller,
        workspace: &str,
        server: &str,
        agent: Option<&str>,
    ) -> Result<Arc<AcpServer>, Error> {
        let tenant = self.tenant_of(caller, workspace).await?;
        let _one = self.server_lock(workspace, server).lock_owned().await;
        let existing = self.inner.db.acp_server(workspace, server).await?;
        let reused = match existing {
            Some(row) if row.deleted_at.is_none() => return self.existing(caller, &row, agent).await,
            Some(_) => true,
            None => false,
        };
        let Some(agent) = agent else {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("missing required 'agent' query parameter for first POST to /v1/acp/{server}"),
            ));
        };
        let spec = spec(agent)?;
        let program = self.program(spec)?;
        let running = lock(&self.inner.servers)
            .iter()
            .filter(|((ws, _), s)| ws == workspace && s.exit().is_none())
            .count();
        if running >= MAX_SERVERS {
            return Err(Error::new(
                ErrorCode::TooManyRequests,
                format!("the workspace runs {MAX_SERVERS} agents, the most it may; DELETE one (…/v1/acp/{{server}})"),
            ));
        }
        let runtime = self.inner.workspaces.running(caller, workspace).await?;
        // A deleted server's id used again: its transcript goes, and the
        // index goes on from where it was (a reader's cursor stays valid).
        let mut last = 0;
        if reused {
            last = self.inner.db.last_acp_event(workspace, server).await?;
            self.inner.db.delete_acp_server(workspace, server).await?;
        }
        let created_at = now_ms();
        let row = AcpServerRow {
            workspace_id: workspace.to_owned(),
            server_id: server.to_owned(),
            tenant_id: tenant.clone(),
            agent: agent.to_owned(),
            created_at,
            exited_at: None,
            deleted_at: None,
            phantom_session: None,
        };
        if !self.inner.db.insert_acp_server(&row).await? {
            return Err(Error::new(
                ErrorCode::AcpServerConflict,
                format!("server '{server}' already exists"),
            ));
        }
        let started = self.start_agent(caller, &tenant, spec, program, &runtime).await;
        let (process, phantom_session) = match started {
            Ok(started) => started,
            Err(err) => {
                if let Err(db) = self.inner.db.delete_acp_server(workspace, server).await {
                    tracing::warn!(%db, "removing a server whose agent did not start");
                }
                return Err(err);
            }
        };
        if let Some(session) = &phantom_session {
            if let Err(err) = self.inner.db.set_acp_phantom_session(workspace, server, session).await {
                tracing::warn!(%err, "recording an agent's phantom session");
            }
        }
        let transcript = Arc::new(Transcript::new(
            self.inner.db.clone(),
            workspace.to_owned(),
            server.to_owned(),
            last,
        ));
        let pid = process.pid;
        let live = match AcpServer::attach(
            agent.to_owned(),
            created_at,
            transcript,
            runtime.clone(),
            process,
            phantom_session.clone(),
        ) {
            Ok(live) => live,
            Err(err) => {
                let _ = runtime.executor().signal(pid, libc::SIGKILL).await;
                self.close_phantom(caller, phantom_session).await;
                return Err(err);
            }
        };
        lock(&self.inner.servers).insert(key(workspace, server), live.clone());
        self.inner
            .audit
            .record(caller, "acp.create", &format!("{workspace}/{server}"))
            .await;
        // The agent's tokens, and its place in the map, go when it does.
        let (agents, watched, caller, server_key) =
            (self.clone(), live.clone(), caller.clone(), key(workspace, server));
        tokio::spawn(async move {
            watched.wait_exit().await;
            agents.close_phantom(&caller, phantom_session).await;
            let mut servers = lock(&agents.inner.servers);
            if servers.get(&server_key).is_some_and(|s| Arc::ptr_eq(s, &watched)) {
                servers.remove(&server_key);
            }
        });
        Ok(live)
    }

    /// A POST to a server that exists: its live agent (the workspace
    /// resumed and its activity noted), or why there is none.
    async fn existing(
        &self,
        caller: &Caller,
        row: &AcpServerRow,
        agent: Option<&str>,
    ) -> Result<Arc<AcpServer>, Error> {
        if let Some(asked) = agent.filter(|a| *a != row.agent) {
            return Err(Error::new(
                ErrorCode::AcpServerConflict,
                format!(
                    "server '{}' already exists for agent '{}'; requested '{asked}'",
                    row.server_id, row.agent
                ),
            ));
        }
        let exited = || {
            Error::new(
                ErrorCode::AgentProcessExited,
                format!(
                    "the {} agent of server '{}' has exited (its transcript stays readable); DELETE the server and start a new one",
                    row.agent, row.server_id
                ),
            )
        };
        let live = self
            .live(&row.workspace_id, &row.server_id)
            .filter(|live| live.exit().is_none())
            .ok_or_else(exited)?;
        let runtime = self.inner.workspaces.running(caller, &row.workspace_id).await?;
        if !live.runs_in(&runtime) {
            return Err(exited());
        }
        Ok(live)
    }

    /// The lock of one server id.
    fn server_lock(&self, workspace: &str, server: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.lock_of(key(workspace, server))
    }

    /// The lock of something else of a workspace that is changed one at a
    /// time (`kind`: an agent session, a configuration file, a skills
    /// clone). Its name starts with a NUL, which no server id holds.
    pub(super) fn named_lock(&self, workspace: &str, kind: &str, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.lock_of((workspace.to_owned(), format!("\0{kind}:{name}")))
    }

    fn lock_of(&self, name: ServerKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = lock(&self.inner.locks);
        if locks.len() > 1024 {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(name).or_default().clone()
    }

    /// Starts `spec`'s ACP server in `runtime` with a phantom session's
    /// tokens (closed again if the start fails).
    async fn start_agent(
        &self,
        caller: &Caller,
        tenant: &str,
        spec: &AgentSpec,
        program: String,
        runtime: &crate::services::runtime::RunningJail,
    ) -> Result<(paddock_jail::StartedProcess, Option<String>), Error> {
        let phantom = self.inner.sessions.open_for_jail(caller, tenant, spec.services).await?;
        let (phantom_session, mut env) = phantom.map_or((None, Vec::new()), |(id, env)| (Some(id), env));
        env.extend(spec.env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        for (name, from) in spec.aliases {
            if let Some(value) = env.iter().find(|(k, _)| k == from).map(|(_, v)| v.clone()) {
                env.push(((*name).to_owned(), value));
            }
        }
        let dir = format!("{AGENTS_MOUNT}/{}", install::dir_name(spec));
        let mut args: Vec<String> = spec.args.iter().map(|a| a.replace("{dir}", &dir)).collect();
        // `sh -c 'mkdir HOME; PATH; SETUP; exec "$0" "$@"' PROGRAM ARGS…`:
        // the agent's own programs first on its PATH (adapters run the
        // CLI they drive by name).
        args.insert(0, program);
        args.insert(
            0,
            format!(
                "mkdir -p \"$HOME\" || exit 1\nexport AGENT_DIR=\"{dir}\"\nexport PATH=\"$AGENT_DIR/node_modules/.bin:$PATH\"\n{}\nexec \"$0\" \"$@\"",
                spec.setup
            ),
        );
        args.insert(0, "-c".into());
        let command = "/bin/sh".to_owned();
        let process = ProcessSpec {
            command,
            args,
            env,
            workdir: None,
            terminal: None,
        };
        match runtime.executor().start(process).await {
            Ok(started) => Ok((started, phantom_session)),
            Err(err) => {
                self.close_phantom(caller, phantom_session).await;
                Err(Error::new(
                    ErrorCode::StreamError,
                    format!("failed to spawn the {} agent process: {err}", spec.id),
                ))
            }
        }
    }

    /// Closes an agent's phantom session (its tokens stop working).
    async fn close_phantom(&self, caller: &Caller, session: Option<String>) {
        if let Some(id) = session {
            if let Err(err) = self.inner.sessions.close(caller, &Scope::All, &id).await {
                tracing::warn!(session = %id, message = %err.message, "closing an agent's phantom session");
            }
        }
    }

    /// Whether server `server`'s agent process runs.
    pub fn is_running(&self, workspace: &str, server: &str) -> bool {
        self.live(workspace, server).is_some_and(|s| s.exit().is_none())
    }

    fn live(&self, workspace: &str, server: &str) -> Option<Arc<AcpServer>> {
        lock(&self.inner.servers).get(&key(workspace, server)).cloned()
    }

    async fn row(&self, workspace: &str, server: &str) -> Result<AcpServerRow, Error> {
        self.inner
            .db
            .acp_server(workspace, server)
            .await?
            .ok_or_else(|| server_not_found(server))
    }

    /// The workspace's tenant, when the caller may use it (404 otherwise).
    async fn tenant_of(&self, caller: &Caller, workspace: &str) -> Result<String, Error> {
        Ok(self.inner.workspaces.get(caller, workspace).await?.tenant_id)
    }

    async fn info(&self, tenant: &str, workspace: &str, spec: &AgentSpec, config: bool) -> Result<AgentInfo, Error> {
        let installed = install::installed(&self.inner.dir, spec);
        let mut credentials_available = spec.services.is_empty();
        for service in spec.services {
            credentials_available |= self.inner.db.credential(tenant, service).await?.is_some();
        }
        let config_error = match spec.source {
            Source::Unavailable(why) => Some(why.to_owned()),
            _ if installed.is_none() => Some(format!(
                "not installed on this host: `paddock agents install {}` (or POST …/v1/agents/{}/install)",
                spec.id, spec.id
            )),
            _ => None,
        };
        let running: Vec<i64> = lock(&self.inner.servers)
            .iter()
            .filter(|((ws, _), s)| ws == workspace && s.agent == spec.id && s.exit().is_none())
            .map(|(_, s)| s.created_at)
            .collect();
        Ok(AgentInfo {
            id: spec.id.to_owned(),
            installed: installed.is_some(),
            credentials_available,
            version: installed.as_ref().map(|i| i.version.clone()),
            path: installed.map(|_| install::process_path(spec)),
            capabilities: spec.capabilities,
            config_options: config.then(|| install::config_options(spec)),
            config_error,
            server_status: Some(ServerStatusInfo {
                status: if running.is_empty() { "stopped" } else { "running" }.to_owned(),
                uptime_ms: running.iter().min().map(|t| now_ms() - t),
            }),
        })
    }

    /// The agent's ACP server program inside the jail, when installed.
    fn program(&self, spec: &AgentSpec) -> Result<String, Error> {
        if let Source::Unavailable(why) = spec.source {
            return Err(Error::new(ErrorCode::AgentNotInstalled, format!("{}: {why}", spec.id)));
        }
        if install::installed(&self.inner.dir, spec).is_none() {
            return Err(Error::new(
                ErrorCode::AgentNotInstalled,
                format!(
                    "the {0} agent is not installed on this host: run `paddock agents install {0}` there, or POST …/v1/agents/{0}/install",
                    spec.id
                ),
            ));
        }
        Ok(self.jail_path(spec, spec.command))
    }

    /// `relative` inside the agent's directory as the jail sees it
    /// (absolute paths stay).
    fn jail_path(&self, spec: &AgentSpec, relative: &str) -> String {
        if relative.starts_with('/') {
            relative.to_owned()
        } else {
            format!("{AGENTS_MOUNT}/{}/{relative}", install::dir_name(spec))
        }
    }
}

fn spec(agent: &str) -> Result<&'static AgentSpec, Error> {
    catalog::find(agent).ok_or_else(|| {
        Error::new(ErrorCode::UnsupportedAgent, format!("unsupported agent: {agent}"))
            .with_details(serde_json::json!({ "agent": agent }))
    })
}

fn server_not_found(server: &str) -> Error {
    Error::new(ErrorCode::AcpServerNotFound, format!("session not found: {server}"))
        .with_details(serde_json::json!({ "sessionId": server }))
}

fn check_server_id(server: &str) -> Result<(), Error> {
    let ok = !server.is_empty()
        && server.len() <= MAX_SERVER_ID
        && server.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '/' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::BadRequest,
            format!("an ACP server id is 1 to {MAX_SERVER_ID} printable ASCII characters without slashes"),
        ))
    }
}

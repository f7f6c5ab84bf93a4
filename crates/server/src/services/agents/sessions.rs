//! Agent sessions: paddock's own layer over one ACP session of a coding
//! agent (RUNTIME.md §8 names them; `session` alone is agentjail's
//! credential session). paddock is the ACP client here: it starts the
//! agent's ACP server, opens the session, sends each turn's prompt and
//! answers the agent's permission requests by the session's policy (or
//! keeps them for a person to answer).
//!
//! Each turn is a row with Tangle's marker: `streaming` from its start,
//! then `completed` (the agent answered the prompt) or `interrupted` with
//! the reason (cancelled, the agent's exit, a paddock restart). The row is
//! written before the prompt is sent, so a turn id is run at most once:
//! the same id again answers with the stored turn and nothing reaches the
//! agent or its model. A turn runs in its own task, whatever its caller
//! does; a detached caller reads the result later.
//!
//! Every envelope of a turn is also in the ACP server's transcript
//! (`…/runtime/v1/acp/{server}`), which ACP clients can follow while
//! paddock drives the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::agent_sessions::{
    AgentSession, AgentSessionList, AgentTurn, AgentTurnList, CreateAgentSession, CreateTurn, PendingPermission,
    PermissionPolicy, PermissionReply, TurnPrompt, TurnToolCall,
};
use paddock_api::{Error, ErrorCode};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use super::acp::Transcript;
use super::{catalog, Agents};
use crate::db::{now_ms, AcpEventRow, AgentSessionRow, AgentTurnRow, Db};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::lock;

/// Longest agent session and turn id.
const MAX_ID: usize = 100;
/// Largest prompt (its JSON).
const MAX_PROMPT_BYTES: usize = 1 << 20;
/// Longest `waitMs` of a turn's read.
const MAX_WAIT: Duration = Duration::from_secs(600);
/// How long a cancel waits for the agent to end the turn.
const CANCEL_WAIT: Duration = Duration::from_secs(15);
/// How long a delete waits for a running turn to be recorded as ended.
const DELETE_WAIT: Duration = Duration::from_secs(10);
/// ACP's protocol version paddock speaks.
const PROTOCOL_VERSION: u64 = 1;

/// Agent sessions of every workspace.
#[derive(Debug, Clone)]
pub struct AgentSessions {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    agents: Agents,
    db: Db,
    audit: AuditLog,
    /// The turn each session runs now.
    running: Mutex<HashMap<SessionKey, RunningTurn>>,
    /// The agents' permission requests waiting for an answer, by session.
    pending: Mutex<HashMap<SessionKey, Vec<Waiting>>>,
}

/// A workspace and an agent session id.
type SessionKey = (String, String);

fn key(workspace: &str, session: &str) -> SessionKey {
    (workspace.to_owned(), session.to_owned())
}

#[derive(Debug, Clone)]
struct RunningTurn {
    turn_id: String,
    /// True once the turn's end is stored.
    ended: watch::Receiver<bool>,
    cancelled: Arc<AtomicBool>,
}

/// Ends a running turn when dropped (its task ended, or panicked): the
/// session is free again and waiters wake.
struct TurnEnd {
    sessions: AgentSessions,
    key: SessionKey,
    ended: watch::Sender<bool>,
}

impl Drop for TurnEnd {
    fn drop(&mut self) {
        lock(&self.sessions.inner.running).remove(&self.key);
        let _ = self.ended.send(true);
    }
}

/// A permission request of the agent waiting for an answer.
#[derive(Debug, Clone)]
struct Waiting {
    /// The JSON-RPC id as the agent sent it.
    raw_id: Value,
    shown: PendingPermission,
}

/// What a turn has gathered from the agent's updates.
#[derive(Debug, Default)]
struct Gathered {
    text: String,
    tool_calls: Vec<TurnToolCall>,
    usage: Option<Value>,
    /// The last transcript index read.
    last: i64,
}

impl AgentSessions {
    /// The service; turns a previous run left streaming are interrupted
    /// (no agent process outlives the server that ran it).
    pub async fn open(agents: Agents, db: Db, audit: AuditLog) -> anyhow::Result<AgentSessions> {
        let interrupted = db
            .interrupt_streaming_turns("paddock stopped while the turn was streaming", now_ms())
            .await?;
        if interrupted > 0 {
            tracing::info!(interrupted, "agent turns of an earlier run marked as interrupted");
        }
        Ok(AgentSessions {
            inner: Arc::new(Inner {
                agents,
                db,
                audit,
                running: Mutex::default(),
                pending: Mutex::default(),
            }),
        })
    }

    /// Starts an agent in the workspace and opens an ACP session on it.
    pub async fn create(
        &self,
        caller: &Caller,
        workspace: &str,
        request: CreateAgentSession,
    ) -> Result<AgentSession, Error> {
        let tenant = self.inner.agents.tenant_of(caller, workspace).await?;
        if catalog::find(&request.agent).is_none() {
            return Err(Error::new(
                ErrorCode::UnsupportedAgent,
                format!("unsupported agent: {}", request.agent),
            ));
        }
        let id = match request.id {
            Some(id) => check_id("an agent session id", id)?,
            None => format!("ags_{:024x}", rand::random::<u128>() >> 32),
        };
        let cwd = request.cwd.unwrap_or_else(|| "/workspace".to_owned());
        if !cwd.starts_with('/') || cwd.contains('\0') || cwd.len() > 4096 {
            return Err(Error::new(
                ErrorCode::BadPath,
                "cwd must be an absolute path in the workspace (at most 4096 bytes)",
            ));
        }
        if let Some(mode) = &request.mode {
            if mode.is_empty() || mode.len() > 200 {
                return Err(Error::new(ErrorCode::BadRequest, "mode must be 1 to 200 characters"));
            }
        }
        let _one = self.session_lock(workspace, &id).lock_owned().await;
        let taken = || {
            Error::new(
                ErrorCode::AgentSessionExists,
                format!("the workspace already has an agent session (or an ACP server) with id '{id}'"),
            )
        };
        if self.inner.db.agent_session(workspace, &id).await?.is_some()
            || self
                .inner
                .db
                .acp_server(workspace, &id)
                .await?
                .is_some_and(|s| s.deleted_at.is_none())
        {
            return Err(taken());
        }
        let server = server_id(&id, 1);
        let opened = self
            .open_acp(
                caller,
                workspace,
                &server,
                &request.agent,
                &cwd,
                request.mode.as_deref(),
                None,
            )
            .await;
        let acp_session = match opened {
            Ok(acp_session) => acp_session,
            Err(err) => {
                let _ = self.inner.agents.delete(caller, workspace, &server).await;
                return Err(err);
            }
        };
        let row = AgentSessionRow {
            workspace_id: workspace.to_owned(),
            session_id: id.clone(),
            tenant_id: tenant,
            agent: request.agent,
            server_id: server.clone(),
            acp_session_id: acp_session,
            cwd,
            mode: request.mode,
            permissions: policy_name(request.permissions).to_owned(),
            generation: 1,
            created_at: now_ms(),
        };
        let inserted = self.inner.db.insert_agent_session(&row).await;
        if !matches!(inserted, Ok(true)) {
            let _ = self.inner.agents.delete(caller, workspace, &server).await;
            return Err(inserted.err().map_or_else(taken, Error::from));
        }
        self.inner
            .audit
            .record(caller, "agent_session.create", &format!("{workspace}/{id}"))
            .await;
        self.info(row).await
    }

    /// The workspace's agent sessions.
    pub async fn list(&self, caller: &Caller, workspace: &str) -> Result<AgentSessionList, Error> {
        self.inner.agents.tenant_of(caller, workspace).await?;
        let mut sessions = Vec::new();
        for row in self.inner.db.agent_sessions(workspace).await? {
            sessions.push(self.info(row).await?);
        }
        Ok(AgentSessionList { sessions })
    }

    /// One agent session.
    pub async fn get(&self, caller: &Caller, workspace: &str, session: &str) -> Result<AgentSession, Error> {
        let row = self.row(caller, workspace, session).await?;
        self.info(row).await
    }

    /// Ends the session's agent and removes the session and its turns (the
    /// ACP transcripts stay readable until their server ids are reused).
    pub async fn delete(&self, caller: &Caller, workspace: &str, session: &str) -> Result<(), Error> {
        self.row(caller, workspace, session).await?;
        let _one = self.session_lock(workspace, session).lock_owned().await;
        // Read under the lock: a turn may have started the agent again.
        let row = self.row(caller, workspace, session).await?;
        for generation in 1..=row.generation {
            self.inner
                .agents
                .delete(caller, workspace, &server_id(session, generation))
                .await?;
        }
        let running = lock(&self.inner.running).get(&key(workspace, session)).cloned();
        if let Some(mut running) = running {
            let _ = tokio::time::timeout(DELETE_WAIT, running.ended.wait_for(|ended| *ended)).await;
        }
        lock(&self.inner.pending).remove(&key(workspace, session));
        self.inner.db.delete_agent_session(workspace, session).await?;
        self.inner
            .audit
            .record(caller, "agent_session.delete", &format!("{workspace}/{session}"))
            .await;
        Ok(())
    }

    /// Starts a turn, or answers with the stored turn of a turn id seen
    /// before (nothing runs again). Waits for its end unless `detach`
    /// (the turn is then answered `streaming`).
    pub async fn prompt(
        &self,
        caller: &Caller,
        workspace: &str,
        session: &str,
        request: CreateTurn,
    ) -> Result<AgentTurn, Error> {
        self.row(caller, workspace, session).await?;
        let blocks = prompt_blocks(request.prompt)?;
        let prompt = blocks.to_string();
        let turn_id = match request.turn_id {
            Some(id) => check_id("a turn id", id)?,
            None => format!("turn_{:024x}", rand::random::<u128>() >> 32),
        };
        let one = self.session_lock(workspace, session).lock_owned().await;
        // Read under the lock: a delete may have come first.
        let row = self.row(caller, workspace, session).await?;
        if let Some(seen) = self.inner.db.agent_turn(workspace, session, &turn_id).await? {
            drop(one);
            if seen.prompt != prompt {
                return Err(Error::new(
                    ErrorCode::TurnConflict,
                    format!("turn '{turn_id}' was started with a different prompt; a turn id names one prompt"),
                ));
            }
            let mut turn = if request.detach {
                self.present(seen)
            } else {
                self.wait_turn(workspace, session, &turn_id, MAX_WAIT * 6).await?
            };
            turn.replayed = true;
            return Ok(turn);
        }
        if let Some(running) = lock(&self.inner.running).get(&key(workspace, session)) {
            return Err(Error::new(
                ErrorCode::AgentSessionBusy,
                format!(
                    "turn '{}' of agent session '{session}' is still streaming; wait for it or cancel it",
                    running.turn_id
                ),
            ));
        }
        // The session is reloaded: a restart of its agent may change it.
        let row = self.ensure_agent(caller, row).await?;
        let transcript = self.inner.agents.follow(caller, workspace, &row.server_id).await?;
        let live = transcript.subscribe();
        let first_event = transcript.last_index().await + 1;
        let turn = AgentTurnRow {
            workspace_id: workspace.to_owned(),
            session_id: session.to_owned(),
            turn_id: turn_id.clone(),
            seq: 0,
            status: "streaming".to_owned(),
            prompt,
            text: String::new(),
            tool_calls: "[]".to_owned(),
            stop_reason: None,
            interrupt_reason: None,
            usage: None,
            server_id: row.server_id.clone(),
            first_event,
            last_event: None,
            started_at: now_ms(),
            completed_at: None,
            interrupted_at: None,
        };
        // Registered before its row: a stored `streaming` turn that is not
        // running is one whose end could not be stored.
        let (ended_tx, ended) = watch::channel(false);
        let cancelled = Arc::new(AtomicBool::new(false));
        lock(&self.inner.running).insert(
            key(workspace, session),
            RunningTurn {
                turn_id: turn_id.clone(),
                ended,
                cancelled: cancelled.clone(),
            },
        );
        let ending = TurnEnd {
            sessions: self.clone(),
            key: key(workspace, session),
            ended: ended_tx,
        };
        if !self.inner.db.insert_agent_turn(&turn).await.map_err(Error::from)? {
            return Err(Error::new(
                ErrorCode::TurnConflict,
                format!("turn '{turn_id}' was stored by another server meanwhile"),
            ));
        }
        let task = TurnTask {
            sessions: self.clone(),
            caller: caller.clone(),
            session: row,
            turn,
            blocks,
            transcript,
            cancelled,
        };
        let accepted = turn_info(task.turn.clone());
        tokio::spawn(async move {
            // Dropped at the end, or if the task panics.
            let _ending = ending;
            task.run(live).await;
        });
        drop(one);
        self.inner
            .audit
            .record(
                caller,
                "agent_session.turn",
                &format!("{workspace}/{session}/{turn_id}"),
            )
            .await;
        if request.detach {
            return Ok(accepted);
        }
        self.wait_turn(workspace, session, &turn_id, MAX_WAIT * 6).await
    }

    /// A session's turns, oldest first.
    pub async fn turns(&self, caller: &Caller, workspace: &str, session: &str) -> Result<AgentTurnList, Error> {
        self.row(caller, workspace, session).await?;
        let turns = self.inner.db.agent_turns(workspace, session).await?;
        Ok(AgentTurnList {
            turns: turns.into_iter().map(|t| self.present(t)).collect(),
        })
    }

    /// One turn; with `wait`, once it has ended (or `wait` has passed).
    pub async fn turn(
        &self,
        caller: &Caller,
        workspace: &str,
        session: &str,
        turn: &str,
        wait: Option<Duration>,
    ) -> Result<AgentTurn, Error> {
        self.row(caller, workspace, session).await?;
        let wait = wait.unwrap_or_default();
        if wait > MAX_WAIT {
            return Err(Error::new(
                ErrorCode::BadRequest,
                format!("waitMs is at most {}", MAX_WAIT.as_millis()),
            ));
        }
        self.wait_turn(workspace, session, turn, wait).await
    }

    /// Asks the agent to stop a streaming turn (ACP's `session/cancel`;
    /// permission requests waiting are answered `cancelled`) and waits a
    /// little for the turn to end. A turn that has ended is left as it is.
    pub async fn cancel(
        &self,
        caller: &Caller,
        workspace: &str,
        session: &str,
        turn: &str,
    ) -> Result<AgentTurn, Error> {
        self.row(caller, workspace, session).await?;
        // Held until the cancel is sent: ACP cancels the session's turn, so
        // no other turn may start in between.
        let one = self.session_lock(workspace, session).lock_owned().await;
        let row = self.row(caller, workspace, session).await?;
        let stored = self
            .inner
            .db
            .agent_turn(workspace, session, turn)
            .await?
            .ok_or_else(|| turn_not_found(turn))?;
        let running = lock(&self.inner.running)
            .get(&key(workspace, session))
            .filter(|r| r.turn_id == turn)
            .cloned();
        let Some(running) = running else {
            return Ok(self.present(stored));
        };
        self.stop_turn(caller, &row, &running.cancelled).await;
        drop(one);
        self.inner
            .audit
            .record(caller, "agent_session.cancel", &format!("{workspace}/{session}/{turn}"))
            .await;
        self.wait_turn(workspace, session, turn, CANCEL_WAIT).await
    }

    /// Marks the running turn cancelled, answers its waiting permission
    /// requests `cancelled` and sends ACP's `session/cancel`. Failures are
    /// logged: the agent may be gone already.
    async fn stop_turn(&self, caller: &Caller, row: &AgentSessionRow, cancelled: &AtomicBool) {
        let waiting = {
            let mut pending = lock(&self.inner.pending);
            cancelled.store(true, Ordering::SeqCst);
            pending
                .remove(&key(&row.workspace_id, &row.session_id))
                .unwrap_or_default()
        };
        let answers = waiting.into_iter().map(
            |request| json!({"jsonrpc": "2.0", "id": request.raw_id, "result": {"outcome": {"outcome": "cancelled"}}}),
        );
        let notice = json!({"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": row.acp_session_id}});
        for envelope in answers.chain([notice]) {
            if let Err(err) = self.send(caller, row, envelope).await {
                tracing::debug!(message = %err.message, session = %row.session_id, "stopping a turn");
            }
        }
    }

    /// Answers one of the agent's permission requests.
    pub async fn answer_permission(
        &self,
        caller: &Caller,
        workspace: &str,
        session: &str,
        request: &str,
        reply: PermissionReply,
    ) -> Result<(), Error> {
        let row = self.row(caller, workspace, session).await?;
        let Some(waiting) = self
            .take_pending(&key(workspace, session), |w| w.shown.id == request)
            .pop()
        else {
            return Err(Error::new(
                ErrorCode::PermissionNotFound,
                format!("no permission request '{request}' waits in agent session '{session}'"),
            ));
        };
        let kinds: &[&str] = match reply {
            PermissionReply::Once => &["allow_once", "allow_always"],
            PermissionReply::Always => &["allow_always", "allow_once"],
            PermissionReply::Reject => &["reject_once", "reject_always"],
        };
        let answer = permission_answer(&waiting.raw_id, &waiting.shown.options, kinds);
        self.send(caller, &row, answer).await?;
        self.inner
            .audit
            .record(
                caller,
                "agent_session.permission",
                &format!("{workspace}/{session}/{request}"),
            )
            .await;
        Ok(())
    }

    /// Sends an envelope to the session's agent.
    async fn send(&self, caller: &Caller, row: &AgentSessionRow, envelope: Value) -> Result<Option<Value>, Error> {
        self.inner
            .agents
            .send_envelope(caller, &row.workspace_id, &row.server_id, Some(&row.agent), envelope)
            .await
    }

    /// The session's agent, started again (a new ACP server, the session
    /// loaded where the agent can, a new one otherwise) when its process
    /// has ended: a paddock restart, a stopped workspace, a crash.
    async fn ensure_agent(&self, caller: &Caller, row: AgentSessionRow) -> Result<AgentSessionRow, Error> {
        if self.inner.agents.is_running(&row.workspace_id, &row.server_id) {
            return Ok(row);
        }
        let generation = row.generation + 1;
        let server = server_id(&row.session_id, generation);
        let opened = self
            .open_acp(
                caller,
                &row.workspace_id,
                &server,
                &row.agent,
                &row.cwd,
                row.mode.as_deref(),
                Some(&row.acp_session_id),
            )
            .await;
        let acp_session = match opened {
            Ok(acp_session) => acp_session,
            Err(err) => {
                let _ = self.inner.agents.delete(caller, &row.workspace_id, &server).await;
                return Err(err);
            }
        };
        let stored = self
            .inner
            .db
            .set_agent_session_server(&row.workspace_id, &row.session_id, &server, &acp_session, generation)
            .await;
        if let Err(err) = stored {
            let _ = self.inner.agents.delete(caller, &row.workspace_id, &server).await;
            return Err(err.into());
        }
        tracing::info!(workspace = %row.workspace_id, session = %row.session_id, server = %server, "an agent session's agent started again");
        Ok(AgentSessionRow {
            server_id: server,
            acp_session_id: acp_session,
            generation,
            ..row
        })
    }

    /// Starts `agent` as ACP server `server` and opens a session on it:
    /// `initialize`, then `session/load` of `resume` where the agent can
    /// load sessions, `session/new` otherwise, then the mode. The agent's
    /// session id.
    #[allow(clippy::too_many_arguments)]
    async fn open_acp(
        &self,
        caller: &Caller,
        workspace: &str,
        server: &str,
        agent: &str,
        cwd: &str,
        mode: Option<&str>,
        resume: Option<&str>,
    ) -> Result<String, Error> {
        let agents = &self.inner.agents;
        let call = |id: &str, method: &str, params: Value| json!({"jsonrpc": "2.0", "id": format!("paddock-{id}"), "method": method, "params": params});
        let initialize = call(
            "initialize",
            "initialize",
            json!({
                "protocolVersion": PROTOCOL_VERSION,
                "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
                "clientInfo": {"name": "paddock", "version": env!("CARGO_PKG_VERSION")},
            }),
        );
        let answer = agents
            .send_envelope(caller, workspace, server, Some(agent), initialize)
            .await?;
        let answer = result_of(answer, "initialize")?;
        let can_load = answer
            .pointer("/agentCapabilities/loadSession")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut session = None;
        if let Some(resume) = resume.filter(|_| can_load) {
            let load = call(
                "session-load",
                "session/load",
                json!({"sessionId": resume, "cwd": cwd, "mcpServers": []}),
            );
            match result_of(
                agents.send_envelope(caller, workspace, server, None, load).await?,
                "session/load",
            ) {
                Ok(_) => session = Some(resume.to_owned()),
                Err(err) => {
                    tracing::info!(message = %err.message, "an agent could not load its session; starting a new one")
                }
            }
        }
        let session = match session {
            Some(session) => session,
            None => {
                let new = call("session-new", "session/new", json!({"cwd": cwd, "mcpServers": []}));
                let answer = result_of(
                    agents.send_envelope(caller, workspace, server, None, new).await?,
                    "session/new",
                )?;
                answer
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::StreamError,
                            "the agent's session/new answer has no sessionId",
                        )
                    })?
                    .to_owned()
            }
        };
        if let Some(mode) = mode {
            let set = call(
                "set-mode",
                "session/set_mode",
                json!({"sessionId": session, "modeId": mode}),
            );
            result_of(
                agents.send_envelope(caller, workspace, server, None, set).await?,
                "session/set_mode",
            )
            .map_err(|err| Error::new(ErrorCode::BadRequest, format!("mode '{mode}': {}", err.message)))?;
        }
        Ok(session)
    }

    /// The turn once it has ended, or as it is after `wait`.
    async fn wait_turn(&self, workspace: &str, session: &str, turn: &str, wait: Duration) -> Result<AgentTurn, Error> {
        let running = lock(&self.inner.running)
            .get(&key(workspace, session))
            .filter(|r| r.turn_id == turn)
            .cloned();
        if let Some(mut running) = running {
            let _ = tokio::time::timeout(wait, running.ended.wait_for(|ended| *ended)).await;
        }
        let stored = self.inner.db.agent_turn(workspace, session, turn).await?;
        stored.map(|t| self.present(t)).ok_or_else(|| turn_not_found(turn))
    }

    /// A stored turn as answered: one stored `streaming` that no task runs
    /// any more is one whose end could not be stored (it is `interrupted`
    /// at the next start too).
    fn present(&self, row: AgentTurnRow) -> AgentTurn {
        let runs = lock(&self.inner.running)
            .get(&key(&row.workspace_id, &row.session_id))
            .is_some_and(|r| r.turn_id == row.turn_id);
        let mut turn = turn_info(row);
        if turn.status == "streaming" && !runs {
            turn.status = "interrupted".into();
            turn.interrupt_reason = Some("the turn's end could not be stored".into());
        }
        turn
    }

    /// The caller's session (404 when the caller may not see it).
    async fn row(&self, caller: &Caller, workspace: &str, session: &str) -> Result<AgentSessionRow, Error> {
        self.inner.agents.tenant_of(caller, workspace).await?;
        self.inner.db.agent_session(workspace, session).await?.ok_or_else(|| {
            Error::new(
                ErrorCode::AgentSessionNotFound,
                format!("no agent session '{session}' in workspace {workspace}"),
            )
        })
    }

    async fn info(&self, row: AgentSessionRow) -> Result<AgentSession, Error> {
        let session_key = key(&row.workspace_id, &row.session_id);
        let status = if lock(&self.inner.running).contains_key(&session_key) {
            "streaming"
        } else if self.inner.agents.is_running(&row.workspace_id, &row.server_id) {
            "idle"
        } else {
            "exited"
        };
        let pending_permissions = lock(&self.inner.pending)
            .get(&session_key)
            .map(|list| list.iter().map(|w| w.shown.clone()).collect())
            .unwrap_or_default();
        let turns = self
            .inner
            .db
            .agent_turn_count(&row.workspace_id, &row.session_id)
            .await?;
        Ok(AgentSession {
            permissions: match row.permissions.as_str() {
                "allow" => PermissionPolicy::Allow,
                "reject" => PermissionPolicy::Reject,
                _ => PermissionPolicy::Ask,
            },
            id: row.session_id,
            workspace_id: row.workspace_id,
            agent: row.agent,
            server_id: row.server_id,
            acp_session_id: row.acp_session_id,
            cwd: row.cwd,
            mode: row.mode,
            status: status.to_owned(),
            turns,
            pending_permissions,
            created_at: row.created_at,
        })
    }

    fn session_lock(&self, workspace: &str, session: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.inner.agents.named_lock(workspace, "session", session)
    }

    /// Removes (and returns) a session's waiting permission requests that
    /// `picked` selects; a session left with none leaves the map.
    fn take_pending(&self, session_key: &SessionKey, picked: impl Fn(&Waiting) -> bool) -> Vec<Waiting> {
        let mut pending = lock(&self.inner.pending);
        let Some(list) = pending.get_mut(session_key) else {
            return Vec::new();
        };
        let (taken, kept) = std::mem::take(list).into_iter().partition(|w| picked(w));
        *list = kept;
        if list.is_empty() {
            pending.remove(session_key);
        }
        taken
    }
}

/// One turn, run to its end in its own task.
struct TurnTask {
    sessions: AgentSessions,
    caller: Caller,
    session: AgentSessionRow,
    turn: AgentTurnRow,
    blocks: Value,
    transcript: Arc<Transcript>,
    cancelled: Arc<AtomicBool>,
}

impl TurnTask {
    async fn run(self, mut live: broadcast::Receiver<Arc<AcpEventRow>>) {
        let prompt = json!({
            "jsonrpc": "2.0",
            "id": format!("paddock-turn-{}", self.turn.turn_id),
            "method": "session/prompt",
            "params": {"sessionId": self.session.acp_session_id, "prompt": self.blocks},
        });
        let mut gathered = Gathered {
            last: self.turn.first_event - 1,
            ..Gathered::default()
        };
        let sent = self.sessions.send(&self.caller, &self.session, prompt);
        tokio::pin!(sent);
        let mut live_open = true;
        let answer = loop {
            tokio::select! {
                answer = &mut sent => break answer,
                event = live.recv(), if live_open => match event {
                    Ok(event) => self.take(&mut gathered, &event),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up(&mut gathered).await,
                    Err(broadcast::error::RecvError::Closed) => live_open = false,
                },
            }
        };
        // What the agent sent before its answer is stored already.
        self.catch_up(&mut gathered).await;
        let mut row = self.turn.clone();
        row.text = gathered.text;
        row.tool_calls = serde_json::to_string(&gathered.tool_calls).unwrap_or_else(|_| "[]".into());
        row.usage = gathered.usage.map(|u| u.to_string());
        row.last_event = Some(self.transcript.last_index().await);
        let now = now_ms();
        let stop_reason = answer
            .as_ref()
            .ok()
            .and_then(|a| a.as_ref())
            .and_then(|a| a.pointer("/result/stopReason"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let interrupted = match (&answer, &stop_reason) {
            (Err(err), _) => Some(err.message.clone()),
            (Ok(Some(a)), _) if a.get("error").is_some() => Some(format!(
                "the agent answered the prompt with an error: {}",
                a.pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)")
            )),
            (_, Some(reason)) if reason == "cancelled" => Some("cancelled".to_owned()),
            (_, None) => Some("the agent's answer to the prompt has no stopReason".to_owned()),
            _ => None,
        };
        row.stop_reason = stop_reason;
        match interrupted {
            Some(reason) => {
                row.status = "interrupted".into();
                row.interrupt_reason = Some(reason);
                row.interrupted_at = Some(now);
            }
            None => {
                row.status = "completed".into();
                row.completed_at = Some(now);
            }
        }
        if answer.is_err() {
            // No answer (a timeout, a write that failed): the agent may
            // still be at the turn; it is told to stop, and what it asked
            // is answered.
            self.sessions
                .stop_turn(&self.caller, &self.session, &self.cancelled)
                .await;
        }
        // Requests of this turn no longer wait: the agent has moved on.
        let session_key = key(&self.session.workspace_id, &self.session.session_id);
        self.sessions
            .take_pending(&session_key, |w| w.shown.turn_id == self.turn.turn_id);
        // A database that fails for a while is waited for (about a minute
        // and a half); past that the turn reads as interrupted.
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=8 {
            match self.sessions.inner.db.finish_agent_turn(&row).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(%err, attempt, turn = %row.turn_id, "storing a turn's end failed");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(20));
                }
            }
        }
    }

    /// Reads what the live stream skipped from the database.
    async fn catch_up(&self, gathered: &mut Gathered) {
        let (workspace, server) = (&self.session.workspace_id, &self.session.server_id);
        loop {
            let rows = match self
                .sessions
                .inner
                .agents
                .stored(workspace, server, gathered.last, 1000, false)
                .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(message = %err.message, "reading a turn's envelopes");
                    return;
                }
            };
            if rows.is_empty() {
                return;
            }
            for row in rows {
                self.take(gathered, &row);
            }
        }
    }

    /// Takes one envelope of the transcript into the turn.
    fn take(&self, gathered: &mut Gathered, event: &AcpEventRow) {
        if event.index <= gathered.last {
            return;
        }
        gathered.last = event.index;
        let Ok(envelope) = serde_json::from_str::<Value>(&event.envelope) else {
            return;
        };
        let ours = envelope.pointer("/params/sessionId").and_then(Value::as_str) == Some(&self.session.acp_session_id);
        let method = envelope.get("method").and_then(Value::as_str);
        let session_key = key(&self.session.workspace_id, &self.session.session_id);
        if event.outbound {
            // An answer from any client settles a waiting request.
            if let (None, Some(id)) = (method, envelope.get("id")) {
                self.sessions.take_pending(&session_key, |w| &w.raw_id == id);
            }
            return;
        }
        match method {
            Some("session/update") if ours => {
                if let Some(update) = envelope.pointer("/params/update") {
                    gather(gathered, update);
                }
            }
            Some("session/request_permission") if ours => {
                let Some(id) = envelope.get("id").cloned() else {
                    return;
                };
                let options = envelope.pointer("/params/options").cloned().unwrap_or(json!([]));
                let kinds: &[&str] = match self.session.permissions.as_str() {
                    "allow" => &["allow_once", "allow_always"],
                    "reject" => &["reject_once", "reject_always"],
                    _ => &[],
                };
                if kinds.is_empty() {
                    // The flag is read under the lock a cancel sets it
                    // under: a request is kept, or answered, never lost.
                    let mut pending = lock(&self.sessions.inner.pending);
                    if !self.cancelled.load(Ordering::SeqCst) {
                        let shown = PendingPermission {
                            id: id.as_str().map_or_else(|| id.to_string(), str::to_owned),
                            turn_id: self.turn.turn_id.clone(),
                            tool_call: envelope.pointer("/params/toolCall").cloned().unwrap_or(Value::Null),
                            options,
                        };
                        pending
                            .entry(session_key)
                            .or_default()
                            .push(Waiting { raw_id: id, shown });
                        return;
                    }
                }
                let answer = if kinds.is_empty() {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": {"outcome": "cancelled"}}})
                } else {
                    permission_answer(&id, &options, kinds)
                };
                // Sent from its own task: the agent's answer to the prompt
                // cannot come before this one is written.
                let (sessions, caller, session) = (self.sessions.clone(), self.caller.clone(), self.session.clone());
                tokio::spawn(async move {
                    if let Err(err) = sessions.send(&caller, &session, answer).await {
                        tracing::warn!(message = %err.message, "answering an agent's permission request");
                    }
                });
            }
            _ => {}
        }
    }
}

/// Takes one `session/update` into what the turn has gathered.
fn gather(gathered: &mut Gathered, update: &Value) {
    let text = |key: &str| update.get(key).and_then(Value::as_str).map(str::to_owned);
    match update.get("sessionUpdate").and_then(Value::as_str) {
        Some("agent_message_chunk") => {
            if let Some(chunk) = update.pointer("/content/text").and_then(Value::as_str) {
                gathered.text.push_str(chunk);
            }
        }
        Some(kind @ ("tool_call" | "tool_call_update")) => {
            let Some(id) = text("toolCallId") else {
                return;
            };
            let at = match gathered.tool_calls.iter().position(|c| c.tool_call_id == id) {
                Some(at) => at,
                None if kind == "tool_call" || update.get("title").is_some() => {
                    gathered.tool_calls.push(TurnToolCall {
                        tool_call_id: id,
                        title: None,
                        kind: None,
                        status: None,
                    });
                    gathered.tool_calls.len() - 1
                }
                None => return,
            };
            let call = &mut gathered.tool_calls[at];
            call.title = text("title").or(call.title.take());
            call.kind = text("kind").or(call.kind.take());
            call.status = text("status").or(call.status.take());
        }
        Some("usage_update") => {
            let mut usage = update.clone();
            if let Some(object) = usage.as_object_mut() {
                object.remove("sessionUpdate");
            }
            gathered.usage = Some(usage);
        }
        _ => {}
    }
}

/// The answer to a permission request choosing the first offered option
/// of `kinds` (the request cancelled when none is offered).
fn permission_answer(id: &Value, options: &Value, kinds: &[&str]) -> Value {
    let offered = options.as_array().map(Vec::as_slice).unwrap_or_default();
    let chosen = kinds.iter().find_map(|kind| {
        offered
            .iter()
            .find(|o| o.get("kind").and_then(Value::as_str) == Some(kind))
            .and_then(|o| o.get("optionId").cloned())
    });
    let outcome = match chosen {
        Some(option) => json!({"outcome": "selected", "optionId": option}),
        None => json!({"outcome": "cancelled"}),
    };
    json!({"jsonrpc": "2.0", "id": id, "result": {"outcome": outcome}})
}

/// The result of an answer to one of paddock's requests.
fn result_of(answer: Option<Value>, method: &str) -> Result<Value, Error> {
    let answer = answer.unwrap_or(Value::Null);
    if let Some(error) = answer.get("error") {
        let message = error.get("message").and_then(Value::as_str).unwrap_or("(no message)");
        return Err(Error::new(
            ErrorCode::StreamError,
            format!("the agent refused {method}: {message}"),
        ));
    }
    Ok(answer.get("result").cloned().unwrap_or(Value::Null))
}

/// A prompt as ACP content blocks: text becomes one text block.
fn prompt_blocks(prompt: TurnPrompt) -> Result<Value, Error> {
    let bad = |why: &str| Error::new(ErrorCode::BadRequest, format!("prompt: {why}"));
    let blocks = match prompt {
        TurnPrompt::Text(text) if text.trim().is_empty() => return Err(bad("the text is empty")),
        TurnPrompt::Text(text) => json!([{"type": "text", "text": text}]),
        TurnPrompt::Blocks(blocks) if blocks.is_empty() => return Err(bad("no content blocks")),
        TurnPrompt::Blocks(blocks) => {
            if !blocks.iter().all(|b| b.get("type").is_some_and(Value::is_string)) {
                return Err(bad("each content block has a `type` (text, image, resource_link, …)"));
            }
            json!(blocks)
        }
    };
    if blocks.to_string().len() > MAX_PROMPT_BYTES {
        return Err(Error::new(
            ErrorCode::BodyTooLarge,
            format!("a prompt is at most {} MiB", MAX_PROMPT_BYTES >> 20),
        ));
    }
    Ok(blocks)
}

fn check_id(what: &str, id: String) -> Result<String, Error> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(id)
    } else {
        Err(Error::new(
            ErrorCode::BadRequest,
            format!("{what} is 1 to {MAX_ID} of A-Z, a-z, 0-9, '.', '_' and '-'"),
        ))
    }
}

/// The ACP server of a session's `generation`th agent process (`~` is not
/// in session ids, so no other session's server has the name).
fn server_id(session: &str, generation: i64) -> String {
    if generation <= 1 {
        session.to_owned()
    } else {
        format!("{session}~{generation}")
    }
}

fn policy_name(policy: PermissionPolicy) -> &'static str {
    match policy {
        PermissionPolicy::Ask => "ask",
        PermissionPolicy::Allow => "allow",
        PermissionPolicy::Reject => "reject",
    }
}

fn turn_not_found(turn: &str) -> Error {
    Error::new(
        ErrorCode::TurnNotFound,
        format!("no turn '{turn}' in the agent session"),
    )
}

fn turn_info(row: AgentTurnRow) -> AgentTurn {
    AgentTurn {
        prompt: serde_json::from_str(&row.prompt).unwrap_or(Value::Null),
        tool_calls: serde_json::from_str(&row.tool_calls).unwrap_or_default(),
        usage: row.usage.as_deref().and_then(|u| serde_json::from_str(u).ok()),
        turn_id: row.turn_id,
        session_id: row.session_id,
        status: row.status,
        text: row.text,
        stop_reason: row.stop_reason,
        interrupt_reason: row.interrupt_reason,
        server_id: row.server_id,
        first_event: row.first_event,
        last_event: row.last_event,
        started_at: row.started_at,
        completed_at: row.completed_at,
        interrupted_at: row.interrupted_at,
        replayed: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_gather_into_text_tool_calls_and_usage() {
        let mut gathered = Gathered::default();
        for update in [
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "I wrote "}}),
            json!({"sessionUpdate": "tool_call", "toolCallId": "t1", "title": "Write hello.txt", "kind": "edit", "status": "pending"}),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "t1", "status": "completed"}),
            json!({"sessionUpdate": "tool_call_update", "toolCallId": "unknown", "status": "completed"}),
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": "hello.txt."}}),
            json!({"sessionUpdate": "usage_update", "used": 120, "size": 200000}),
        ] {
            gather(&mut gathered, &update);
        }
        assert_eq!(gathered.text, "I wrote hello.txt.");
        assert_eq!(
            gathered.tool_calls,
            [TurnToolCall {
                tool_call_id: "t1".into(),
                title: Some("Write hello.txt".into()),
                kind: Some("edit".into()),
                status: Some("completed".into()),
            }]
        );
        assert_eq!(gathered.usage, Some(json!({"used": 120, "size": 200000})));
    }

    #[test]
    fn permission_answers_pick_the_offered_kind() {
        let options = json!([
            {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
            {"optionId": "never", "name": "Reject", "kind": "reject_once"},
        ]);
        let id = json!("req-1");
        assert_eq!(
            permission_answer(&id, &options, &["allow_always", "allow_once"])["result"]["outcome"],
            json!({"outcome": "selected", "optionId": "yes"})
        );
        assert_eq!(
            permission_answer(&id, &options, &["reject_once", "reject_always"])["result"]["outcome"]["optionId"],
            "never"
        );
        assert_eq!(
            permission_answer(&id, &json!([]), &["allow_once"])["result"]["outcome"],
            json!({"outcome": "cancelled"})
        );
    }

    #[test]
    fn prompts_and_ids_are_checked() {
        let prompt = |v: Value| serde_json::from_value::<TurnPrompt>(v).unwrap();
        assert_eq!(
            prompt_blocks(prompt(json!("hi"))).unwrap(),
            json!([{"type": "text", "text": "hi"}])
        );
        for bad in [json!(""), json!([]), json!([{"text": "no type"}])] {
            assert_eq!(prompt_blocks(prompt(bad)).unwrap_err().code, ErrorCode::BadRequest);
        }
        assert!(serde_json::from_value::<TurnPrompt>(json!(42)).is_err());
        assert!(check_id("a turn id", "turn-1.a_b".into()).is_ok());
        for bad in ["", "a/b", "a~2", &"x".repeat(101)] {
            assert!(check_id("a turn id", bad.to_owned()).is_err(), "{bad}");
        }
        assert_eq!(server_id("s", 1), "s");
        assert_eq!(server_id("s", 3), "s~3");
    }
}

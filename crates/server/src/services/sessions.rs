//! Sessions: a set of services whose phantom tokens a jail may use, with
//! a lifetime, optional path scopes and (ext) a request budget. A
//! session's environment (tokens and base URLs) is stored sealed with the
//! master key, next to the tokens' hashes the proxy looks up, and is
//! returned by create, get and list as agentjail returns it. Closing a
//! session revokes its tokens at once; a closed session is gone (404)
//! and leaves the list. Execs run a command with the session's services,
//! each with its own tokens, revoked the moment the exec ends (however it
//! ends), so a token the jail leaked is worth nothing once the jail is
//! gone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use paddock_api::sessions::{ExecRequest, NewSession, Session};
use paddock_api::{Error, ErrorCode};
use paddock_jail::{HostForward, JailConfig, JailEvent};
use paddock_phantom::{PhantomProxy, Service, Services};
use tokio::sync::mpsc;

use crate::config::{reachable, ServerConfig};
use crate::crypto::{new_id, new_token, token_hash, MasterKey};
use crate::db::{now_ms, Db, Scope, SessionRow, TokenRow};
use crate::phantom::DbAuthority;
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::jails::{Finished, JailRunner, JailStream, LedgerEntry};
use crate::services::{limits, rfc3339};

/// Most globs per service scope, and their longest length.
const MAX_GLOBS: usize = 64;
const MAX_GLOB_BYTES: usize = 512;
/// Largest request budget.
const MAX_BUDGET: u64 = 1_000_000_000;
/// Stats events of a streamed exec, this often.
const STATS_EVERY: Duration = Duration::from_millis(500);
/// Events of a streamed exec waiting for its client.
const STREAM_EVENTS: usize = 64;

/// Creates, reads, closes and runs commands in sessions.
#[derive(Debug, Clone)]
pub struct Sessions {
    db: Db,
    master_key: MasterKey,
    phantom: PhantomProxy<DbAuthority>,
    runner: JailRunner,
    audit: AuditLog,
    /// The proxy's URL for processes outside jails (session `env`).
    proxy_url: String,
    /// The proxy's listener (forwarded onto each exec's own loopback).
    proxy_listen: SocketAddr,
    ttl_default: Duration,
    ttl_max: Duration,
}

impl Sessions {
    /// Sessions in `db` with the settings of `config`.
    pub fn new(
        config: &ServerConfig,
        db: Db,
        master_key: MasterKey,
        phantom: PhantomProxy<DbAuthority>,
        runner: JailRunner,
        audit: AuditLog,
    ) -> Sessions {
        Sessions {
            db,
            master_key,
            phantom,
            runner,
            audit,
            proxy_url: config.proxy_url(),
            proxy_listen: config.proxy_listen,
            ttl_default: config.session_ttl_default,
            ttl_max: config.session_ttl_max,
        }
    }

    /// Creates a session of `tenant`, with fresh phantom tokens.
    pub async fn create(&self, caller: &Caller, tenant: &str, body: &NewSession) -> Result<Session, Error> {
        let services = validate(body, self.phantom.services())?;
        for service in &services {
            if self.db.credential(tenant, &service.name).await?.is_none() {
                return Err(Error::new(
                    ErrorCode::NoCredential,
                    format!(
                        "no credential is stored for {}; POST /v1/credentials first",
                        service.name
                    ),
                ));
            }
        }
        let ttl = match body.ttl_secs {
            Some(secs) => Duration::from_secs(secs).min(self.ttl_max),
            None => self.ttl_default,
        };
        let now = now_ms();
        let mut row = SessionRow {
            id: new_id("sess_"),
            tenant_id: tenant.to_owned(),
            created_at: now,
            expires_at: now + ttl.as_millis() as i64,
            closed_at: None,
            services: serde_json::to_string(&body.services).map_err(Error::internal)?,
            scopes: serde_json::to_string(&body.scopes).map_err(Error::internal)?,
            max_requests: body.max_requests.map(|n| n as i64),
            requests_used: 0,
            env_nonce: None,
            env_sealed: None,
        };
        let (env, tokens) = mint_env(&row, &services, &self.proxy_url);
        let env: BTreeMap<String, String> = env.into_iter().collect();
        let plain = serde_json::to_vec(&env).map_err(Error::internal)?;
        let (nonce, sealed) = self.master_key.seal(&plain, &env_context(&row));
        row.env_nonce = Some(nonce);
        row.env_sealed = Some(sealed);
        self.db.insert_session(&row, &tokens).await?;
        self.audit.record(caller, "session.create", &row.id).await;
        Ok(record(&row, env))
    }

    /// A session for a long-lived process of a running workspace (a
    /// coding agent): those of `services` the tenant has a credential
    /// for, with tokens whose base URLs point at the proxy on the jail's
    /// own loopback (where every running workspace has it, at
    /// [`JAIL_PROXY_PORT`](crate::services::workspaces::JAIL_PROXY_PORT)). `None` when
    /// the tenant has a credential for none of them. Close it with
    /// [`Sessions::close`] when the process ends.
    pub async fn open_for_jail(
        &self,
        caller: &Caller,
        tenant: &str,
        services: &[&str],
    ) -> Result<Option<(String, Vec<(String, String)>)>, Error> {
        let mut usable = Vec::new();
        for name in services {
            if self.phantom.services().get(name).is_some() && self.db.credential(tenant, name).await?.is_some() {
                usable.push((*name).to_owned());
            }
        }
        if usable.is_empty() {
            return Ok(None);
        }
        let body = NewSession {
            services: usable,
            ttl_secs: Some(self.ttl_max.as_secs()),
            scopes: BTreeMap::new(),
            max_requests: None,
        };
        let session = self.create(caller, tenant, &body).await?;
        let inside = format!("http://127.0.0.1:{}", crate::services::workspaces::JAIL_PROXY_PORT);
        let env = session
            .env
            .into_iter()
            .map(|(key, value)| match value.strip_prefix(&self.proxy_url) {
                Some(path) if value.starts_with("http") => (key, format!("{inside}{path}")),
                _ => (key, value),
            })
            .collect();
        Ok(Some((session.id, env)))
    }

    /// A session in scope that is not closed.
    pub async fn get(&self, scope: &Scope, id: &str) -> Result<Session, Error> {
        let row = self.open_row(scope, id).await?;
        Ok(record(&row, self.env(&row)))
    }

    /// Sessions in scope, newest first (closed ones only with
    /// `include_closed`), and how many there are in all.
    pub async fn list(
        &self,
        scope: &Scope,
        include_closed: bool,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<Session>, i64), Error> {
        let (rows, total) = self.db.list_sessions(scope, include_closed, limit, offset).await?;
        Ok((rows.iter().map(|row| record(row, self.env(row))).collect(), total))
    }

    /// Closes a session in scope and revokes its tokens (requests still
    /// streaming through the proxy are cut too). A closed or unknown
    /// session is not found.
    pub async fn close(&self, caller: &Caller, scope: &Scope, id: &str) -> Result<(), Error> {
        if !self.db.close_session(scope, id).await? {
            return Err(not_found(id));
        }
        let cut = self.phantom.revoke_session(id);
        self.audit.record(caller, "session.close", id).await;
        if cut > 0 {
            tracing::info!(session = %id, cut, "closing a session cut proxied requests in flight");
        }
        Ok(())
    }

    /// Runs a command with the session's environment to its end; its
    /// tokens are revoked before the result is returned.
    pub async fn exec(&self, scope: &Scope, id: &str, body: &ExecRequest) -> Result<Finished, Error> {
        let (config, entry, tokens) = self.prepare_exec(scope, id, body).await?;
        // A request dropped mid-run revokes through the guard's drop.
        let finished = self.runner.run(entry, config).await;
        tokens.revoke().await;
        finished
    }

    /// Starts a command with the session's environment and streams its
    /// events; the jail is killed when the stream's ledger is dropped
    /// before it is closed. Its tokens are revoked before the client
    /// receives the last event (or when the stream is dropped).
    pub async fn exec_stream(&self, scope: &Scope, id: &str, body: &ExecRequest) -> Result<JailStream, Error> {
        let (config, entry, tokens) = self.prepare_exec(scope, id, body).await?;
        let mut stream = self.runner.stream(entry, config, STATS_EVERY).await?;
        let (tx, rx) = mpsc::channel(STREAM_EVENTS);
        let events = std::mem::replace(&mut stream.events, rx);
        tokio::spawn(revoke_at_the_end(events, tx, tokens));
        Ok(stream)
    }

    /// The jail and ledger entry of an exec. Each exec gets its own
    /// phantom tokens (revoked when it ends, and with the session), and
    /// the proxy is reachable on the jail's own `127.0.0.1` whatever its
    /// network mode.
    async fn prepare_exec(
        &self,
        scope: &Scope,
        id: &str,
        body: &ExecRequest,
    ) -> Result<(JailConfig, LedgerEntry, ExecTokens), Error> {
        let session = self.open_row(scope, id).await?;
        if session.expires_at <= now_ms() {
            return Err(Error::new(ErrorCode::SessionExpired, "the session has expired"));
        }
        if body.cmd.is_empty() {
            return Err(Error::new(ErrorCode::BadCmd, "cmd is empty"));
        }
        let names: Vec<String> = serde_json::from_str(&session.services).map_err(Error::internal)?;
        // A service the operator has since removed gets no token.
        let services: Vec<Service> = names
            .iter()
            .filter_map(|n| self.phantom.services().get(n).cloned())
            .collect();
        let proxy_port = self.proxy_listen.port();
        let (env, tokens) = mint_env(&session, &services, &format!("http://127.0.0.1:{proxy_port}"));
        // The tokens themselves, to cut requests still in flight with them.
        let minted: Vec<String> = services
            .iter()
            .filter_map(|service| env.iter().find(|(key, _)| *key == service.key_env))
            .map(|(_, token)| token.clone())
            .collect();
        let mut config = JailConfig::new(body.cmd.clone(), body.args.clone());
        let applied = limits::apply(&body.options, &mut config)?;
        for (key, value) in env {
            config = config.env(key, value);
        }
        config.forwards = vec![HostForward {
            port: proxy_port,
            target: reachable(self.proxy_listen),
        }];
        self.db.insert_tokens(&tokens).await?;
        let guard = ExecTokens {
            db: self.db.clone(),
            phantom: self.phantom.clone(),
            session_id: session.id.clone(),
            hashes: tokens.iter().map(|t| t.token_hash.clone()).collect(),
            tokens: minted,
            revoked: false,
        };
        let entry = LedgerEntry {
            tenant: session.tenant_id.clone(),
            kind: "exec",
            session_id: Some(session.id.clone()),
            label: Some(body.cmd.clone()),
            parent_id: None,
            config: serde_json::json!({ "cmd": body.cmd, "args": body.args, "limits": applied }),
        };
        Ok((config, entry, guard))
    }

    /// A session in scope that is not closed, or 404.
    async fn open_row(&self, scope: &Scope, id: &str) -> Result<SessionRow, Error> {
        self.db
            .session(scope, id)
            .await?
            .filter(|row| row.closed_at.is_none())
            .ok_or_else(|| not_found(id))
    }

    /// The session's environment, opened (empty for sessions stored
    /// before environments were kept, or when it does not open).
    fn env(&self, row: &SessionRow) -> BTreeMap<String, String> {
        let (Some(nonce), Some(sealed)) = (&row.env_nonce, &row.env_sealed) else {
            return BTreeMap::new();
        };
        let opened = self
            .master_key
            .open(nonce, sealed, &env_context(row))
            .and_then(|plain| serde_json::from_slice(&plain).ok());
        if opened.is_none() {
            tracing::error!(session = %row.id, "a session's environment does not open with this master key");
        }
        opened.unwrap_or_default()
    }
}

/// The phantom tokens one exec minted. They are revoked when the exec
/// ends, whatever the ending (completed, failed, timed out, cancelled, the
/// client gone): explicitly with [`ExecTokens::revoke`] before the answer,
/// or by the drop of a guard whose request was abandoned.
struct ExecTokens {
    db: Db,
    phantom: PhantomProxy<DbAuthority>,
    session_id: String,
    hashes: Vec<String>,
    /// The tokens in clear, only to find their requests in flight.
    tokens: Vec<String>,
    revoked: bool,
}

impl ExecTokens {
    /// Revokes the tokens now and cuts the requests streaming with them.
    async fn revoke(mut self) {
        self.revoked = true;
        revoke_exec_tokens(&self.db, &self.phantom, &self.session_id, &self.hashes, &self.tokens).await;
    }
}

impl Drop for ExecTokens {
    fn drop(&mut self) {
        if self.revoked {
            return;
        }
        let (db, phantom) = (self.db.clone(), self.phantom.clone());
        let session_id = std::mem::take(&mut self.session_id);
        let hashes = std::mem::take(&mut self.hashes);
        let tokens = std::mem::take(&mut self.tokens);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    revoke_exec_tokens(&db, &phantom, &session_id, &hashes, &tokens).await;
                });
            }
            Err(_) => {
                tracing::error!(session = %session_id, "an exec's phantom tokens could not be revoked: no runtime")
            }
        }
    }
}

/// Revokes an exec's tokens in the database (so the next request is
/// refused), then cuts its requests in flight.
async fn revoke_exec_tokens(
    db: &Db,
    phantom: &PhantomProxy<DbAuthority>,
    session_id: &str,
    hashes: &[String],
    tokens: &[String],
) {
    if let Err(err) = db.revoke_tokens(session_id, hashes).await {
        // They stay valid until the session closes or expires.
        tracing::error!(session = %session_id, %err, "revoking an ended exec's phantom tokens failed");
    }
    let cut = phantom.revoke_tokens(session_id, tokens);
    if cut > 0 {
        tracing::info!(session = %session_id, cut, "an exec's end cut proxied requests in flight");
    }
}

/// Passes a streamed exec's events on, revoking its tokens before the
/// last one (`completed` or `error`) goes out, or when either end goes
/// away.
async fn revoke_at_the_end(mut events: mpsc::Receiver<JailEvent>, tx: mpsc::Sender<JailEvent>, tokens: ExecTokens) {
    let mut tokens = Some(tokens);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = tx.closed() => break,
        };
        let Some(event) = event else { break };
        if matches!(event, JailEvent::Completed(_) | JailEvent::Failed(_)) {
            if let Some(tokens) = tokens.take() {
                tokens.revoke().await;
            }
        }
        if tx.send(event).await.is_err() {
            break;
        }
    }
    if let Some(tokens) = tokens {
        tokens.revoke().await;
    }
}

/// agentjail's message for a missing session.
fn not_found(id: &str) -> Error {
    Error::new(ErrorCode::NotFound, format!("session {id} not found"))
}

/// AEAD context of a session's environment: it only opens as this
/// session's.
fn env_context(row: &SessionRow) -> String {
    format!("session-env:{}:{}", row.tenant_id, row.id)
}

fn record(row: &SessionRow, env: BTreeMap<String, String>) -> Session {
    let status = if row.closed_at.is_some() {
        "closed"
    } else if row.expires_at <= now_ms() {
        "expired"
    } else {
        "active"
    };
    Session {
        id: row.id.clone(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        services: serde_json::from_str(&row.services).unwrap_or_default(),
        env,
        tenant_id: row.tenant_id.clone(),
        closed_at: row.closed_at.map(rfc3339),
        status: status.to_owned(),
        scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
        max_requests: row.max_requests,
        requests_used: row.requests_used,
    }
}

/// Fresh phantom tokens for `services` of `session`, and the environment
/// that hands them out with base URLs under `proxy`.
fn mint_env(session: &SessionRow, services: &[Service], proxy: &str) -> (Vec<(String, String)>, Vec<TokenRow>) {
    let mut env = Vec::new();
    let mut tokens = Vec::new();
    for service in services {
        let token = new_token("phm_");
        tokens.push(TokenRow {
            token_hash: token_hash(&token),
            session_id: session.id.clone(),
            tenant_id: session.tenant_id.clone(),
            service: service.name.clone(),
            expires_at: session.expires_at,
            revoked_at: None,
        });
        env.push((service.key_env.clone(), token));
        env.push((service.url_env.clone(), format!("{proxy}{}", service.proxy_base_path())));
    }
    (env, tokens)
}

fn check_scopes(services: &[String], scopes: &BTreeMap<String, Vec<String>>) -> Result<(), Error> {
    let bad = |msg: String| Error::new(ErrorCode::BadScope, msg);
    for (service, globs) in scopes {
        if !services.contains(service) {
            return Err(bad(format!(
                "a scope names {service:?}, which is not among the session's services"
            )));
        }
        if globs.is_empty() || globs.len() > MAX_GLOBS {
            return Err(bad(format!("{service}: a scope needs 1 to {MAX_GLOBS} paths")));
        }
        // `*` is a wildcard (the agentjail SDK's examples use it inside a
        // path too, as in `/repos/my-org/*/issues*`).
        for glob in globs {
            if !glob.starts_with('/')
                || glob.len() > MAX_GLOB_BYTES
                || glob.contains("**")
                || glob.chars().any(|c| c.is_control() || c == '?' || c == '#')
            {
                return Err(bad(format!(
                    "{service}: scope path {glob:?} must start with '/', without a query, '#' or '**'"
                )));
            }
        }
    }
    Ok(())
}

/// Everything about a new session that can be checked without the store:
/// the services (known, not repeated), the scopes, the TTL and the budget.
pub fn validate(body: &NewSession, known: &Services) -> Result<Vec<Service>, Error> {
    if body.services.is_empty() {
        return Err(Error::new(
            ErrorCode::NoServices,
            "a session needs at least one service",
        ));
    }
    let mut found = Vec::new();
    for name in &body.services {
        let service = known.get(name).cloned().ok_or_else(|| {
            Error::new(
                ErrorCode::UnknownService,
                format!("unknown service {name:?} (known: {})", known.names()),
            )
        })?;
        if found.contains(&service) {
            return Err(Error::new(
                ErrorCode::DuplicateService,
                format!("{name} is listed twice"),
            ));
        }
        found.push(service);
    }
    check_scopes(&body.services, &body.scopes)?;
    if body.ttl_secs == Some(0) {
        return Err(Error::new(ErrorCode::BadTtl, "ttl_secs must be at least 1"));
    }
    if body.max_requests.is_some_and(|n| n == 0 || n > MAX_BUDGET) {
        return Err(Error::new(
            ErrorCode::BadBudget,
            format!("max_requests must be 1 to {MAX_BUDGET}"),
        ));
    }
    Ok(found)
}

//! The workspace-less `POST /v1/code`: one call and no lifecycle. Each
//! tenant has a few workspaces kept warm (started, with a Python kernel
//! waiting); a call without `sessionId` takes one, runs, and the workspace
//! is deleted after it, so nothing of one call is seen by the next. A call
//! with `sessionId` keeps its workspace for the session's later calls (its
//! variables live on) until the session has been idle for
//! [`SESSION_IDLE`] or is ended. Taken workspaces are replaced in the
//! background; a tenant that makes no call for [`POOL_IDLE`] has its warm
//! workspaces deleted (they hold jails and memory of its budgets).
//!
//! Pool workspaces are ordinary workspaces of the tenant, listed with the
//! others and counted in its limits, labelled [`POOL_LABEL`] (a label
//! callers cannot give, so what the server deletes as its own is never a
//! caller's); the ones a previous server left are deleted at start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::code::{CodeExecutionResult, CodeLanguage, CodeRequest};
use paddock_api::workspaces::NewWorkspace;
use paddock_api::{Error, ErrorCode};
use tokio_util::sync::CancellationToken;

use super::{run_to_end, stream_events, CodeEvent, Kernels, Observer};
use crate::db::{now_ms, CodeKey, Scope};
use crate::services::identity::Caller;
use crate::services::lock;
use crate::services::workspaces::Workspaces;

/// The label of pool workspaces.
pub const POOL_LABEL: &str = "paddock:code-pool";
/// A session's workspace is deleted after this long without a call.
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);
/// A tenant's warm workspaces are deleted after this long without a call.
pub const POOL_IDLE: Duration = Duration::from_secs(5 * 60);
/// How often idle sessions and pools are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// The flavors pool workspaces get, those of them the host has.
const POOL_FLAVORS: [&str; 2] = ["python-data", "typescript"];

/// Warm workspaces per tenant for `POST /v1/code`.
#[derive(Debug, Clone)]
pub struct CodePool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    kernels: Kernels,
    workspaces: Workspaces,
    /// Warm workspaces kept per tenant (0: every call makes its own).
    size: usize,
    /// When this server's pool began: older pool workspaces are leftovers.
    started: i64,
    tenants: Mutex<HashMap<String, TenantPool>>,
    /// Workspaces whose delete failed (an exec ran in one), retried by
    /// the sweep.
    doomed: Mutex<Vec<(Caller, String)>>,
}

#[derive(Debug, Default)]
struct TenantPool {
    /// Started workspaces waiting for a call.
    warm: Vec<String>,
    /// Workspaces being made for `warm`.
    filling: usize,
    /// Session id → its workspace.
    sessions: HashMap<String, Session>,
    /// The tenant's last call, and its caller (to delete warm workspaces
    /// as it).
    last_call: Option<(Instant, Caller)>,
}

#[derive(Debug, Clone)]
struct Session {
    workspace: String,
    /// Calls of one session run one at a time, as on one kernel.
    turn: Arc<tokio::sync::Mutex<()>>,
    last_used: Instant,
    /// The caller whose key made it (to delete it as that caller).
    owner: Caller,
}

impl CodePool {
    pub fn new(kernels: Kernels, workspaces: Workspaces, size: usize) -> CodePool {
        CodePool {
            inner: Arc::new(Inner {
                kernels,
                workspaces,
                size,
                started: now_ms(),
                tenants: Mutex::default(),
                doomed: Mutex::default(),
            }),
        }
    }

    /// Deletes the pool workspaces an earlier server left (their kernels
    /// and sessions ended with it), then every [`SWEEP_EVERY`] the
    /// workspaces of idle sessions and pools, until `stop`.
    pub async fn maintenance_loop(self, stop: CancellationToken) {
        self.delete_leftovers(&stop).await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SWEEP_EVERY) => self.sweep().await,
            }
        }
    }

    /// Runs `request` in a pool workspace of the caller's tenant (see the
    /// module's doc). The call runs to its end when its client goes away.
    pub async fn execute(&self, caller: &Caller, request: CodeRequest) -> Result<CodeExecutionResult, Error> {
        super::validate(&request)?;
        let (this, caller) = (self.clone(), caller.clone());
        run_to_end(async move { this.execute_to_end(&caller, request, None).await }).await
    }

    /// [`CodePool::execute`] with its events as they come.
    pub fn execute_streamed(
        &self,
        caller: &Caller,
        request: CodeRequest,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<CodeEvent>, Error> {
        super::validate(&request)?;
        let (this, caller) = (self.clone(), caller.clone());
        Ok(stream_events(move |observer| async move {
            this.execute_to_end(&caller, request, Some(&observer)).await
        }))
    }

    /// Idempotency keys are per tenant and session.
    async fn execute_to_end(
        &self,
        caller: &Caller,
        request: CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        let Some(key) = request.idempotency_key.clone() else {
            return self.execute_unkeyed(caller, request, observer).await;
        };
        let code_key = CodeKey {
            tenant: caller.tenant.clone(),
            // No workspace id has this form.
            workspace: format!("pool:{}", caller.tenant),
            session: request.session_id.clone().unwrap_or_default(),
            key,
        };
        self.inner
            .kernels
            .once(code_key, || self.execute_unkeyed(caller, request, observer))
            .await
    }

    async fn execute_unkeyed(
        &self,
        caller: &Caller,
        mut request: CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        // The session is the workspace; in it, the language's own kernel.
        let session = request.session_id.take();
        request.idempotency_key = None;
        lock(&self.inner.tenants)
            .entry(caller.tenant.clone())
            .or_default()
            .last_call = Some((Instant::now(), caller.clone()));
        // A warm workspace's Python kernel started in /workspace: a call
        // that names a working directory gets a new workspace whose
        // kernels start there.
        let fresh = request.cwd.is_some();
        let result = match session {
            None => {
                let workspace = self.take(caller, fresh).await?;
                let result = self.run_in(caller, &workspace, request, observer).await;
                let (this, caller) = (self.clone(), caller.clone());
                tokio::spawn(async move { this.delete(&caller, &workspace).await });
                result
            }
            Some(session) => {
                let (workspace, turn) = self.session(caller, &session, fresh).await?;
                let _turn = turn.lock().await;
                let result = self.run_in(caller, &workspace, request, observer).await;
                self.touch(&caller.tenant, &session);
                result
            }
        };
        self.refill(caller);
        result
    }

    async fn run_in(
        &self,
        caller: &Caller,
        workspace: &str,
        request: CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        let mut result = self
            .inner
            .kernels
            .execute_to_end(caller, workspace, request, observer)
            .await?;
        result.workspace_id = Some(workspace.to_owned());
        Ok(result)
    }

    /// Marks `session` used now (so the sweep leaves it).
    fn touch(&self, tenant: &str, session: &str) {
        if let Some(bound) = lock(&self.inner.tenants)
            .get_mut(tenant)
            .and_then(|pool| pool.sessions.get_mut(session))
        {
            bound.last_used = Instant::now();
        }
    }

    /// The workspace of `session`, taken from the pool on its first call
    /// (and again when its workspace was deleted).
    async fn session(
        &self,
        caller: &Caller,
        session: &str,
        fresh: bool,
    ) -> Result<(String, Arc<tokio::sync::Mutex<()>>), Error> {
        let bound = {
            let mut tenants = lock(&self.inner.tenants);
            tenants
                .get_mut(&caller.tenant)
                .and_then(|pool| pool.sessions.get_mut(session))
                .map(|bound| {
                    bound.last_used = Instant::now();
                    bound.clone()
                })
        };
        let stale = match bound {
            Some(bound) => match self.inner.workspaces.get(caller, &bound.workspace).await {
                Ok(_) => return Ok((bound.workspace, bound.turn)),
                Err(err) if err.code == ErrorCode::NotFound => Some(bound.workspace),
                Err(err) => return Err(err),
            },
            None => None,
        };
        let workspace = self.take(caller, fresh).await?;
        let mut tenants = lock(&self.inner.tenants);
        let pool = tenants.entry(caller.tenant.clone()).or_default();
        // Two first calls of a session at once: the first bound wins and
        // the other's workspace goes back to the pool.
        if let Some(bound) = pool
            .sessions
            .get(session)
            .filter(|b| Some(&b.workspace) != stale.as_ref())
        {
            pool.warm.push(workspace);
            return Ok((bound.workspace.clone(), bound.turn.clone()));
        }
        let bound = Session {
            workspace: workspace.clone(),
            turn: Arc::default(),
            last_used: Instant::now(),
            owner: caller.clone(),
        };
        pool.sessions.insert(session.to_owned(), bound.clone());
        Ok((workspace, bound.turn))
    }

    /// A warm workspace of the caller's tenant (unless `fresh`), or a new
    /// one.
    async fn take(&self, caller: &Caller, fresh: bool) -> Result<String, Error> {
        let warm = if fresh {
            None
        } else {
            lock(&self.inner.tenants)
                .get_mut(&caller.tenant)
                .and_then(|pool| pool.warm.pop())
        };
        match warm {
            Some(workspace) => Ok(workspace),
            None => {
                self.refill(caller);
                self.make(caller).await
            }
        }
    }

    /// Starts making workspaces until the tenant's pool is full.
    fn refill(&self, caller: &Caller) {
        let wanted = {
            let mut tenants = lock(&self.inner.tenants);
            let pool = tenants.entry(caller.tenant.clone()).or_default();
            let wanted = self.inner.size.saturating_sub(pool.warm.len() + pool.filling);
            pool.filling += wanted;
            wanted
        };
        for _ in 0..wanted {
            let (this, caller) = (self.clone(), caller.clone());
            tokio::spawn(async move {
                let made = this.make_warm(&caller).await;
                let mut tenants = lock(&this.inner.tenants);
                let pool = tenants.entry(caller.tenant.clone()).or_default();
                pool.filling -= 1;
                match made {
                    Ok(workspace) => pool.warm.push(workspace),
                    // The next call makes its own (and says why if it fails too).
                    Err(err) => tracing::warn!(tenant = %caller.tenant, error = %err.message, "filling the code pool"),
                }
            });
        }
    }

    /// A new pool workspace.
    async fn make(&self, caller: &Caller) -> Result<String, Error> {
        let installed = self.inner.workspaces.flavor_names();
        let flavors = POOL_FLAVORS
            .iter()
            .filter(|f| installed.iter().any(|i| i == *f))
            .map(|f| (*f).to_owned())
            .collect();
        let body = NewWorkspace {
            label: Some(POOL_LABEL.to_owned()),
            flavors,
            ..NewWorkspace::default()
        };
        let created = self
            .inner
            .workspaces
            .create_for_server(caller, &caller.tenant, body)
            .await?;
        Ok(created.id)
    }

    /// A new pool workspace, started, with a Python kernel waiting when
    /// the host has one for it.
    async fn make_warm(&self, caller: &Caller) -> Result<String, Error> {
        let workspace = self.make(caller).await?;
        let warm_up = CodeRequest {
            language: CodeLanguage::Python,
            code: String::new(),
            session_id: None,
            timeout_ms: None,
            env: Default::default(),
            cwd: None,
            idempotency_key: None,
        };
        if let Err(err) = self
            .inner
            .kernels
            .execute_to_end(caller, &workspace, warm_up, None)
            .await
        {
            // Still a workspace; its first call starts the kernel it needs.
            tracing::debug!(workspace = %workspace, error = %err.message, "warming a pool workspace's Python kernel");
        }
        Ok(workspace)
    }

    /// Deletes a pool workspace; one that cannot go now (an exec runs in
    /// it) is retried by the sweep.
    async fn delete(&self, caller: &Caller, workspace: &str) {
        if let Err(err) = self.remove(caller, workspace).await {
            tracing::warn!(workspace = %workspace, error = %err.message, "deleting a pool workspace; retried later");
            lock(&self.inner.doomed).push((caller.clone(), workspace.to_owned()));
        }
    }

    /// Removes a pool workspace and what its kernels left; one already
    /// gone is fine.
    async fn remove(&self, caller: &Caller, workspace: &str) -> Result<(), Error> {
        match self.inner.workspaces.remove(caller, workspace).await {
            Err(err) if err.code != ErrorCode::NotFound => Err(err),
            _ => {
                self.inner.kernels.forget(workspace);
                Ok(())
            }
        }
    }

    /// Ends session `session` of the caller's tenant: its workspace (and
    /// variables) are deleted, after a call of it still running. 404 for a
    /// session the tenant does not have.
    pub async fn end_session(&self, caller: &Caller, session: &str) -> Result<(), Error> {
        let ended = lock(&self.inner.tenants)
            .get_mut(&caller.tenant)
            .and_then(|pool| pool.sessions.remove(session));
        let Some(ended) = ended else {
            return Err(Error::not_found("code session"));
        };
        let _turn = ended.turn.lock().await;
        let removed = self.remove(&ended.owner, &ended.workspace).await;
        if removed.is_err() {
            // The session stays as it was.
            let mut tenants = lock(&self.inner.tenants);
            let pool = tenants.entry(caller.tenant.clone()).or_default();
            pool.sessions.entry(session.to_owned()).or_insert_with(|| ended.clone());
        }
        removed
    }

    /// Deletes the workspaces of idle sessions, the warm workspaces of
    /// tenants that stopped calling, and those whose delete failed.
    async fn sweep(&self) {
        let mut doomed = std::mem::take(&mut *lock(&self.inner.doomed));
        {
            let mut tenants = lock(&self.inner.tenants);
            for pool in tenants.values_mut() {
                pool.sessions.retain(|_, session| {
                    let keep = session.last_used.elapsed() < SESSION_IDLE || session.turn.try_lock().is_err();
                    if !keep {
                        doomed.push((session.owner.clone(), session.workspace.clone()));
                    }
                    keep
                });
                if let Some((at, caller)) = &pool.last_call {
                    if at.elapsed() >= POOL_IDLE {
                        doomed.extend(pool.warm.drain(..).map(|w| (caller.clone(), w)));
                    }
                }
            }
        }
        for (owner, workspace) in doomed {
            self.delete(&owner, &workspace).await;
        }
    }

    /// Deletes pool workspaces made before this server's pool began.
    async fn delete_leftovers(&self, stop: &CancellationToken) {
        let leftovers = match self
            .inner
            .workspaces
            .labelled(&Scope::All, POOL_LABEL, self.inner.started)
            .await
        {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err.message, "listing an earlier server's pool workspaces");
                return;
            }
        };
        for (workspace, tenant) in leftovers {
            if stop.is_cancelled() {
                return;
            }
            self.delete(&Caller::server(&tenant), &workspace).await;
        }
    }
}

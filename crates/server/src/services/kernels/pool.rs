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
//! Pool workspaces are ordinary workspaces of the tenant (labelled
//! [`POOL_LABEL`], listed with the others, counted in its limits); the ones
//! a previous server left are deleted at start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::code::{CodeExecutionResult, CodeLanguage, CodeRequest};
use paddock_api::workspaces::NewWorkspace;
use paddock_api::Error;
use tokio_util::sync::CancellationToken;

use super::{CodeEvent, Kernels, Observer};
use crate::db::{CodeKey, Scope};
use crate::services::identity::Caller;
use crate::services::lock;
use crate::services::workspaces::Workspaces;

/// The label of pool workspaces.
pub const POOL_LABEL: &str = "code-pool";
/// A session's workspace is deleted after this long without a call.
pub const SESSION_IDLE: Duration = Duration::from_secs(15 * 60);
/// A tenant's warm workspaces are deleted after this long without a call.
pub const POOL_IDLE: Duration = Duration::from_secs(5 * 60);
/// How often idle sessions and pools are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// The flavors pool workspaces get, those of them the host has.
const POOL_FLAVORS: [&str; 2] = ["python-data", "typescript"];
/// The workspace in idempotency keys of pooled calls (no real id is empty).
const POOL_KEY_WORKSPACE: &str = "";

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
    tenants: Mutex<HashMap<String, TenantPool>>,
}

#[derive(Debug, Default)]
struct TenantPool {
    /// Started workspaces waiting for a call.
    warm: Vec<String>,
    /// Workspaces being made for `warm`.
    filling: usize,
    /// Session id → its workspace.
    sessions: HashMap<String, Session>,
    /// The tenant's last call.
    last_call: Option<Instant>,
    /// The caller of the last call (to delete warm workspaces as it).
    last_caller: Option<Caller>,
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
                tenants: Mutex::default(),
            }),
        }
    }

    /// Deletes the pool workspaces an earlier server left (their kernels
    /// and sessions ended with it), then deletes idle sessions' workspaces
    /// every [`SWEEP_EVERY`] until `stop`.
    pub async fn maintenance_loop(self, stop: CancellationToken) {
        self.delete_leftovers(crate::db::now_ms()).await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SWEEP_EVERY) => self.end_idle_sessions().await,
            }
        }
    }

    /// Runs `request` in a pool workspace of the caller's tenant (see the
    /// module's doc). Idempotency keys are per tenant and session.
    pub async fn execute(
        &self,
        caller: &Caller,
        request: CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        super::validate(&request)?;
        let this = self.clone();
        let caller = caller.clone();
        let observer = observer.cloned();
        // Spawned: the call runs to its end when its client goes away.
        tokio::spawn(async move {
            let Some(key) = request.idempotency_key.clone() else {
                return this.execute_unkeyed(&caller, request, observer.as_ref()).await;
            };
            let code_key = CodeKey {
                tenant: caller.tenant.clone(),
                workspace: POOL_KEY_WORKSPACE.to_owned(),
                session: request.session_id.clone().unwrap_or_default(),
                key,
            };
            let kernels = this.inner.kernels.clone();
            kernels
                .once(code_key, || this.execute_unkeyed(&caller, request, observer.as_ref()))
                .await
        })
        .await
        .map_err(|e| Error::internal(format!("a code call's task: {e}")))?
    }

    /// [`CodePool::execute`] with its events as they come.
    pub fn execute_streamed(
        &self,
        caller: &Caller,
        request: CodeRequest,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<CodeEvent>, Error> {
        super::validate(&request)?;
        let (observer, events) = tokio::sync::mpsc::unbounded_channel();
        let (this, caller) = (self.clone(), caller.clone());
        tokio::spawn(async move {
            let last = match this.execute(&caller, request, Some(&observer)).await {
                Ok(result) => CodeEvent::Completed(result),
                Err(err) => CodeEvent::Failed(err),
            };
            let _ = observer.send(last);
        });
        Ok(events)
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
        let tenant = caller.tenant.clone();
        {
            let mut tenants = lock(&self.inner.tenants);
            let pool = tenants.entry(tenant.clone()).or_default();
            pool.last_call = Some(Instant::now());
            pool.last_caller = Some(caller.clone());
        }
        let result = match session {
            None => {
                let workspace = self.take(caller).await?;
                let result = self.run_in(caller, &workspace, request, observer).await;
                self.delete(caller, &workspace).await;
                result
            }
            Some(session) => {
                let (workspace, turn) = self.session(caller, &session).await?;
                let _turn = turn.lock().await;
                let result = self.run_in(caller, &workspace, request, observer).await;
                if let Some(bound) = lock(&self.inner.tenants)
                    .get_mut(&tenant)
                    .and_then(|pool| pool.sessions.get_mut(&session))
                {
                    bound.last_used = Instant::now();
                }
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

    /// The workspace of `session`, taken from the pool on its first call.
    async fn session(&self, caller: &Caller, session: &str) -> Result<(String, Arc<tokio::sync::Mutex<()>>), Error> {
        let bound = lock(&self.inner.tenants)
            .get(&caller.tenant)
            .and_then(|pool| pool.sessions.get(session).cloned());
        if let Some(bound) = bound {
            if self.inner.workspaces.get(caller, &bound.workspace).await.is_ok() {
                return Ok((bound.workspace, bound.turn));
            }
        }
        let workspace = self.take(caller).await?;
        let mut tenants = lock(&self.inner.tenants);
        let pool = tenants.entry(caller.tenant.clone()).or_default();
        // Two first calls of a session at once: the first bound wins and
        // the other's workspace goes back to the pool.
        if let Some(bound) = pool.sessions.get(session) {
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

    /// A warm workspace of the caller's tenant, or a new one when none is.
    async fn take(&self, caller: &Caller) -> Result<String, Error> {
        let warm = lock(&self.inner.tenants)
            .get_mut(&caller.tenant)
            .and_then(|pool| pool.warm.pop());
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
        Ok(self.inner.workspaces.create(caller, &caller.tenant, body).await?.id)
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

    async fn delete(&self, caller: &Caller, workspace: &str) {
        if let Err(err) = self.inner.workspaces.remove(caller, workspace).await {
            tracing::warn!(workspace = %workspace, error = %err.message, "deleting a used pool workspace");
        }
        self.inner.kernels.forget(workspace);
    }

    /// Ends session `session` of the caller's tenant: its workspace (and
    /// variables) are deleted. 404 for a session it does not have.
    pub async fn end_session(&self, caller: &Caller, session: &str) -> Result<(), Error> {
        let ended = lock(&self.inner.tenants)
            .get_mut(&caller.tenant)
            .and_then(|pool| pool.sessions.remove(session));
        let Some(ended) = ended else {
            return Err(Error::not_found("code session"));
        };
        // A call of the session still running ends first.
        let _turn = ended.turn.lock().await;
        self.delete(&ended.owner, &ended.workspace).await;
        Ok(())
    }

    /// Deletes the workspaces of idle sessions, and the warm workspaces of
    /// tenants that stopped calling.
    async fn end_idle_sessions(&self) {
        let mut doomed: Vec<(Caller, String)> = Vec::new();
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
                let quiet = pool.last_call.is_none_or(|at| at.elapsed() >= POOL_IDLE);
                if let (true, Some(caller)) = (quiet, &pool.last_caller) {
                    doomed.extend(pool.warm.drain(..).map(|w| (caller.clone(), w)));
                }
            }
        }
        for (owner, workspace) in doomed {
            self.delete(&owner, &workspace).await;
        }
    }

    /// Deletes pool workspaces made before `started` (by an earlier server).
    async fn delete_leftovers(&self, started: i64) {
        let leftovers = match self.inner.workspaces.labelled(&Scope::All, POOL_LABEL, started).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err.message, "listing an earlier server's pool workspaces");
                return;
            }
        };
        for (workspace, tenant) in leftovers {
            let owner = Caller::server(&tenant);
            self.delete(&owner, &workspace).await;
        }
    }
}

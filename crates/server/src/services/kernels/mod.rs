//! Code kernels (issue 16; RUNTIME.md §6): Tangle's `runCode` on real
//! Jupyter kernels that live in a running workspace's runtime jail, one per
//! workspace, session and language, keeping their variables between calls.
//!
//! - [`kernel`]: one kernel process and the host's Jupyter client of it.
//! - [`parts`]: MIME bundles and errors to result parts.
//! - [`pool`]: warm workspaces for the workspace-less `POST /v1/code`.
//!
//! A call starts the workspace (and the kernel) when needed; a kernel that
//! died, or whose workspace stopped, is replaced by the next call, which
//! says so (`kernel.started`, `kernel.restartReason`). Idempotency keys
//! keep the first successful result 15 minutes in the database, so a retry
//! after a server restart gets it too; a duplicate that arrives while the
//! first runs waits for it.

pub mod kernel;
mod parts;
pub mod pool;
mod relay;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::code::{CodeExecutionResult, CodeLanguage, CodeRequest, KernelInfo, KernelList, KernelRef};
use paddock_api::{Error, ErrorCode};

use crate::crypto::new_id;
use crate::db::{now_ms, CodeKey, Db};
use crate::services::audit::AuditLog;
use crate::services::identity::Caller;
use crate::services::lock;
use crate::services::rfc3339;
use crate::services::runtime::RunningJail;
use crate::services::workspaces::Workspaces;
use kernel::{Kernel, Outcome};

/// A call's timeout when it gives none, ms (Tangle's default).
const DEFAULT_TIMEOUT_MS: u64 = 60_000;
/// Longest timeout a call may ask for, ms (a day).
const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;
/// How long an idempotency key's result is kept.
const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Largest source of one call.
const MAX_CODE_BYTES: usize = 1 << 20;
/// Longest session id and idempotency key.
const MAX_ID_LEN: usize = 256;
/// Most kernels one workspace runs at once (sessions times languages).
const MAX_KERNELS: usize = 16;

/// What a streamed call tells its caller, in order: `Started` once the
/// kernel is ready, output as it comes, then `Completed` or `Failed`.
#[derive(Debug)]
pub enum CodeEvent {
    Started(KernelRef),
    Stdout(String),
    Stderr(String),
    /// A rich result (errors come with `Completed`).
    Result(paddock_api::code::CodeResultPart),
    Completed(CodeExecutionResult),
    Failed(Error),
}

/// Where a call's events go (unbounded: what is sent is what the call
/// keeps, which its limits bound).
pub type Observer = tokio::sync::mpsc::UnboundedSender<CodeEvent>;

/// Runs `call` in a task of its own, so it ends even when its caller
/// goes away, and returns its result.
async fn run_to_end<R>(call: R) -> Result<CodeExecutionResult, Error>
where
    R: std::future::Future<Output = Result<CodeExecutionResult, Error>> + Send + 'static,
{
    tokio::spawn(call)
        .await
        .map_err(|e| Error::internal(format!("a code call's task: {e}")))?
}

/// Runs `call` to its end in a task of its own, telling its events to the
/// returned receiver, and always a last `Completed` or `Failed` (also when
/// the call's task panics).
fn stream_events<F, R>(call: F) -> tokio::sync::mpsc::UnboundedReceiver<CodeEvent>
where
    F: FnOnce(Observer) -> R,
    R: std::future::Future<Output = Result<CodeExecutionResult, Error>> + Send + 'static,
{
    let (observer, events) = tokio::sync::mpsc::unbounded_channel();
    let running = run_to_end(call(observer.clone()));
    tokio::spawn(async move {
        let last = match running.await {
            Ok(result) => CodeEvent::Completed(result),
            Err(err) => CodeEvent::Failed(err),
        };
        let _ = observer.send(last);
    });
    events
}

/// The kernels of every running workspace.
#[derive(Debug, Clone)]
pub struct Kernels {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workspaces: Workspaces,
    db: Db,
    audit: AuditLog,
    slots: Mutex<HashMap<SlotKey, Arc<Slot>>>,
    /// Calls with an idempotency key under way, one lock per key.
    in_flight: Mutex<HashMap<CodeKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// One kernel's place: a workspace, a session, a language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    workspace: String,
    session: Option<String>,
    language: CodeLanguage,
}

#[derive(Debug, Default)]
struct Slot {
    /// Calls run one at a time (a kernel executes one request at a time
    /// anyway; this keeps a replacement from racing another).
    turn: tokio::sync::Mutex<()>,
    kernel: Mutex<Option<Arc<Kernel>>>,
    /// Why the slot's last kernel went, for the next call to say.
    gone: Mutex<Option<&'static str>>,
    /// Working directory of the slot's kernels.
    cwd: Mutex<Option<String>>,
}

impl Kernels {
    pub fn new(workspaces: Workspaces, db: Db, audit: AuditLog) -> Kernels {
        Kernels {
            inner: Arc::new(Inner {
                workspaces,
                db,
                audit,
                slots: Mutex::default(),
                in_flight: Mutex::default(),
            }),
        }
    }

    /// Runs `request` in workspace `id` (started if it is not running).
    /// The call runs to its end even when its client goes away, so its
    /// environment is restored, its result kept for its idempotency key,
    /// and a retry with that key waits for it instead of running again.
    pub async fn execute(&self, caller: &Caller, id: &str, request: CodeRequest) -> Result<CodeExecutionResult, Error> {
        validate(&request)?;
        let this = self.clone();
        let (caller, id) = (caller.clone(), id.to_owned());
        run_to_end(async move { this.execute_to_end(&caller, &id, request, None).await }).await
    }

    /// [`Kernels::execute`] with its events as they come. Bad input and an
    /// unknown workspace are refused before anything runs; later failures
    /// end the events with `Failed`.
    pub async fn execute_streamed(
        &self,
        caller: &Caller,
        id: &str,
        request: CodeRequest,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<CodeEvent>, Error> {
        validate(&request)?;
        self.inner.workspaces.get(caller, id).await?;
        let this = self.clone();
        let (caller, id) = (caller.clone(), id.to_owned());
        Ok(stream_events(move |observer| async move {
            this.execute_to_end(&caller, &id, request, Some(&observer)).await
        }))
    }

    async fn execute_to_end(
        &self,
        caller: &Caller,
        id: &str,
        request: CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        self.sweep();
        let runtime = self.inner.workspaces.running(caller, id).await?;
        let Some(key) = request.idempotency_key.clone() else {
            return self.run(&runtime, id, &request, observer).await;
        };
        let code_key = CodeKey {
            tenant: runtime.tenant().to_owned(),
            workspace: id.to_owned(),
            session: request.session_id.clone().unwrap_or_default(),
            key,
        };
        self.once(code_key, || self.run(&runtime, id, &request, observer)).await
    }

    /// Runs `call` once per idempotency key: the first successful result
    /// is kept 15 minutes and returned again without running; a duplicate
    /// in flight waits for the first.
    pub(super) async fn once<F, R>(&self, key: CodeKey, call: F) -> Result<CodeExecutionResult, Error>
    where
        F: FnOnce() -> R,
        R: std::future::Future<Output = Result<CodeExecutionResult, Error>>,
    {
        let turn = lock(&self.inner.in_flight).entry(key.clone()).or_default().clone();
        let result = {
            let _turn = turn.lock().await;
            self.once_locked(&key, call).await
        };
        // The last caller of a key removes its lock.
        let mut in_flight = lock(&self.inner.in_flight);
        if Arc::strong_count(&turn) == 2 {
            in_flight.remove(&key);
        }
        result
    }

    async fn once_locked<F, R>(&self, key: &CodeKey, call: F) -> Result<CodeExecutionResult, Error>
    where
        F: FnOnce() -> R,
        R: std::future::Future<Output = Result<CodeExecutionResult, Error>>,
    {
        let window = i64::try_from(IDEMPOTENCY_WINDOW.as_millis()).unwrap_or(i64::MAX);
        if let Some(json) = self.inner.db.code_result(key, now_ms() - window).await? {
            return serde_json::from_str(&json).map_err(Error::internal);
        }
        let result = call().await?;
        if result.exit_code == 0 {
            let json = serde_json::to_string(&result).map_err(Error::internal)?;
            let now = now_ms();
            self.inner.db.put_code_result(key, &json, now, now - window).await?;
        }
        Ok(result)
    }

    async fn run(
        &self,
        runtime: &Arc<RunningJail>,
        id: &str,
        request: &CodeRequest,
        observer: Option<&Observer>,
    ) -> Result<CodeExecutionResult, Error> {
        let slot_key = SlotKey {
            workspace: id.to_owned(),
            session: request.session_id.clone(),
            language: request.language,
        };
        let slot = self.slot(&slot_key)?;
        let _turn = slot.turn.lock().await;
        let current = lock(&slot.kernel).clone();
        let (kernel, started, restart_reason) = match current {
            Some(kernel) if kernel.runs_in(runtime) && !kernel.is_dead() => (kernel, false, None),
            previous => {
                let reason = match previous {
                    Some(old) if !old.runs_in(runtime) => Some("workspace-stopped"),
                    Some(_) => Some("died"),
                    None => lock(&slot.gone).take(),
                };
                if request.cwd.is_some() {
                    *lock(&slot.cwd) = request.cwd.clone();
                }
                let cwd = lock(&slot.cwd).clone();
                let kernel = self.start(runtime, &slot_key, cwd).await?;
                *lock(&slot.kernel) = Some(kernel.clone());
                (kernel, true, reason)
            }
        };

        let _keep_alive = self.inner.workspaces.keep_alive(id);
        if let Some(observer) = observer {
            let _ = observer.send(CodeEvent::Started(KernelRef {
                id: kernel.id.clone(),
                execution_count: kernel.execution_count(),
                started,
                restart_reason: restart_reason.map(str::to_owned),
            }));
        }
        let began = Instant::now();
        let env = env_scripts(request.language, &request.env);
        if let Some((set, _)) = &env {
            let set = kernel.execute_silent(set).await?;
            match set.outcome {
                Outcome::Completed => {}
                Outcome::Raised => {
                    let why = set
                        .error
                        .map(|e| format!("{}: {}", e.name, e.message))
                        .unwrap_or_default();
                    return Err(Error::new(
                        ErrorCode::BadEnv,
                        format!("setting the call's environment failed: {why}"),
                    ));
                }
                Outcome::TimedOut | Outcome::Died => {
                    *lock(&slot.gone) = Some("died");
                    *lock(&slot.kernel) = None;
                    return Err(Error::new(
                        ErrorCode::KernelFailed,
                        "the kernel died while the call's environment was set; the next call starts a new one",
                    ));
                }
            }
        }
        let timeout = match request.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        let execution = kernel.execute(&request.code, timeout, observer).await;
        if let (Some((_, restore)), false) = (&env, kernel.is_dead()) {
            if let Err(err) = kernel.execute_silent(restore).await {
                tracing::warn!(kernel = %kernel.id, error = %err.message, "restoring a kernel's environment after a call");
            }
        }
        let execution = execution?;
        if execution.outcome == Outcome::Died {
            *lock(&slot.gone) = Some("died");
            *lock(&slot.kernel) = None;
        }
        Ok(CodeExecutionResult {
            exit_code: match execution.outcome {
                Outcome::Completed => 0,
                Outcome::Raised => 1,
                Outcome::TimedOut => 124,
                Outcome::Died => 137,
            },
            stdout: execution.stdout,
            stderr: execution.stderr,
            duration_ms: began.elapsed().as_millis() as u64,
            results: execution.parts,
            error: execution.error,
            workspace_id: None,
            kernel: KernelRef {
                id: kernel.id.clone(),
                execution_count: kernel.execution_count(),
                started,
                restart_reason: restart_reason.map(str::to_owned),
            },
        })
    }

    async fn start(
        &self,
        runtime: &Arc<RunningJail>,
        key: &SlotKey,
        cwd: Option<String>,
    ) -> Result<Arc<Kernel>, Error> {
        let id = new_id("kern_");
        let kernel = Kernel::start(runtime.clone(), id, key.language, key.session.clone(), cwd).await?;
        tracing::info!(kernel = %kernel.id, workspace = %key.workspace, language = key.language.as_str(), "kernel started");
        Ok(Arc::new(kernel))
    }

    /// The slot of `key`, made if needed; a workspace holds at most
    /// [`MAX_KERNELS`] slots with a kernel (429 past that).
    fn slot(&self, key: &SlotKey) -> Result<Arc<Slot>, Error> {
        let mut slots = lock(&self.inner.slots);
        if let Some(slot) = slots.get(key) {
            return Ok(slot.clone());
        }
        let held = slots
            .iter()
            .filter(|(k, slot)| k.workspace == key.workspace && lock(&slot.kernel).is_some())
            .count();
        if held >= MAX_KERNELS {
            return Err(Error::new(
                ErrorCode::TooManyRequests,
                format!("the workspace runs {MAX_KERNELS} kernels, the most it may; shut one down (DELETE /v1/workspaces/{{id}}/kernels/{{kernel}}) or use a session that has one"),
            ));
        }
        Ok(slots.entry(key.clone()).or_default().clone())
    }

    /// The kernels of workspace `id` (running or dead; a workspace that is
    /// not running has none).
    pub async fn list(&self, caller: &Caller, id: &str) -> Result<KernelList, Error> {
        self.inner.workspaces.get(caller, id).await?;
        self.sweep();
        let live = self.inner.workspaces.running_jail(id);
        let mut kernels: Vec<KernelInfo> = self
            .kernels_of(id)
            .into_iter()
            .filter(|k| live.as_ref().is_some_and(|r| k.runs_in(r)))
            .map(|k| info(&k))
            .collect();
        kernels.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id.cmp(&b.id)));
        Ok(KernelList { kernels })
    }

    /// Interrupts what kernel `kernel` of workspace `id` runs.
    pub async fn interrupt(&self, caller: &Caller, id: &str, kernel: &str) -> Result<(), Error> {
        let (_, found) = self.find(caller, id, kernel).await?;
        found.interrupt().await?;
        self.inner.audit.record(caller, "kernel.interrupt", kernel).await;
        Ok(())
    }

    /// Replaces kernel `kernel` of workspace `id` with a new one (its
    /// variables are gone).
    pub async fn restart(&self, caller: &Caller, id: &str, kernel: &str) -> Result<KernelInfo, Error> {
        let (slot_key, old) = self.find(caller, id, kernel).await?;
        // Killed first: a call running on it ends (as died) and lets go.
        old.kill().await;
        let runtime = self.inner.workspaces.running(caller, id).await?;
        let slot = self.slot(&slot_key)?;
        let _turn = slot.turn.lock().await;
        if let Some(current) = lock(&slot.kernel).take() {
            tokio::spawn(async move { current.kill().await });
        }
        let cwd = lock(&slot.cwd).clone();
        let new = self.start(&runtime, &slot_key, cwd).await?;
        *lock(&slot.kernel) = Some(new.clone());
        self.inner.audit.record(caller, "kernel.restart", kernel).await;
        Ok(info(&new))
    }

    /// Ends kernel `kernel` of workspace `id`.
    pub async fn shutdown(&self, caller: &Caller, id: &str, kernel: &str) -> Result<(), Error> {
        let (slot_key, found) = self.find(caller, id, kernel).await?;
        found.kill().await;
        if let Some(slot) = lock(&self.inner.slots).remove(&slot_key) {
            *lock(&slot.kernel) = None;
        }
        self.inner.audit.record(caller, "kernel.shutdown", kernel).await;
        Ok(())
    }

    /// Lets go of kernels that are gone (their process ended, or their
    /// workspace's runtime did), so their relays close; the slot keeps
    /// why, for the next call to say.
    fn sweep(&self) {
        let mut slots = lock(&self.inner.slots);
        slots.retain(|_, slot| {
            let mut kernel = lock(&slot.kernel);
            if let Some(dead) = kernel.as_ref().filter(|k| k.is_dead()) {
                *lock(&slot.gone) = Some(if dead.runtime_ended() {
                    "workspace-stopped"
                } else {
                    "died"
                });
                *kernel = None;
            }
            // A slot with nothing to say and nobody in it goes.
            kernel.is_some() || lock(&slot.gone).is_some() || slot.turn.try_lock().is_err()
        });
    }

    /// Drops what is kept of deleted workspace `id`'s kernels.
    pub fn forget(&self, id: &str) {
        lock(&self.inner.slots).retain(|key, _| key.workspace != id);
    }

    fn kernels_of(&self, id: &str) -> Vec<Arc<Kernel>> {
        let slots: Vec<Arc<Slot>> = lock(&self.inner.slots)
            .iter()
            .filter(|(key, _)| key.workspace == id)
            .map(|(_, slot)| slot.clone())
            .collect();
        slots.iter().filter_map(|slot| lock(&slot.kernel).clone()).collect()
    }

    async fn find(&self, caller: &Caller, id: &str, kernel: &str) -> Result<(SlotKey, Arc<Kernel>), Error> {
        self.inner.workspaces.get(caller, id).await?;
        let slots = lock(&self.inner.slots);
        slots
            .iter()
            .filter(|(key, _)| key.workspace == id)
            .find_map(|(key, slot)| {
                lock(&slot.kernel)
                    .as_ref()
                    .filter(|k| k.id == kernel && !k.is_dead())
                    .map(|k| (key.clone(), k.clone()))
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::KernelNotFound,
                    format!("no kernel {kernel} runs in this workspace"),
                )
            })
    }
}

fn info(kernel: &Kernel) -> KernelInfo {
    KernelInfo {
        id: kernel.id.clone(),
        language: kernel.language,
        session_id: kernel.session.clone(),
        state: kernel.state().to_owned(),
        execution_count: kernel.execution_count(),
        started_at: rfc3339(kernel.started_at),
    }
}

fn validate(request: &CodeRequest) -> Result<(), Error> {
    if request.code.len() > MAX_CODE_BYTES {
        return Err(Error::new(
            ErrorCode::CodeTooLarge,
            format!("code is {} bytes; at most {MAX_CODE_BYTES}", request.code.len()),
        ));
    }
    for (field, value) in [
        ("sessionId", &request.session_id),
        ("idempotencyKey", &request.idempotency_key),
    ] {
        if let Some(value) = value {
            if value.is_empty() || value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
                return Err(Error::new(
                    ErrorCode::BadRequest,
                    format!("{field} must be 1 to {MAX_ID_LEN} bytes without control characters"),
                ));
            }
        }
    }
    if request.timeout_ms.is_some_and(|ms| ms > MAX_TIMEOUT_MS) {
        return Err(Error::new(
            ErrorCode::BadLimit,
            format!("timeoutMs is at most {MAX_TIMEOUT_MS} (a day); 0 disables it"),
        ));
    }
    if let Some(cwd) = &request.cwd {
        if !cwd.starts_with('/') || cwd.contains('\0') {
            return Err(Error::new(
                ErrorCode::BadRequest,
                "cwd must be an absolute path in the jail",
            ));
        }
    }
    for name in request.env.keys() {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::new(
                ErrorCode::BadEnv,
                format!("bad environment variable name {name:?}"),
            ));
        }
    }
    if request.env.values().any(|v| v.contains('\0')) {
        return Err(Error::new(
            ErrorCode::BadEnv,
            "environment values cannot hold NUL bytes",
        ));
    }
    Ok(())
}

/// The code that sets a call's environment in the kernel, and the code
/// that puts the previous one back (None without variables).
fn env_scripts(language: CodeLanguage, env: &std::collections::BTreeMap<String, String>) -> Option<(String, String)> {
    if env.is_empty() {
        return None;
    }
    match language {
        CodeLanguage::Python => {
            // JSON strings are Python string literals.
            let json = serde_json::to_string(env).unwrap_or_default();
            Some((
                format!(
                    "import os as _paddock_os\n_paddock_env = {json}\n_paddock_saved = {{k: _paddock_os.environ.get(k) for k in _paddock_env}}\n_paddock_os.environ.update(_paddock_env)\ndel _paddock_env\n"
                ),
                "for _paddock_k, _paddock_v in _paddock_saved.items():\n    if _paddock_v is None:\n        _paddock_os.environ.pop(_paddock_k, None)\n    else:\n        _paddock_os.environ[_paddock_k] = _paddock_v\ndel _paddock_saved, _paddock_os\n".into(),
            ))
        }
        CodeLanguage::Node | CodeLanguage::Typescript => {
            // Valid JavaScript and TypeScript alike; JSON is a JS literal.
            let json = serde_json::to_string(env).unwrap_or_default();
            Some((
                format!(
                    "{{ const env = {json}; const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]])); Object.assign(process.env, env); Reflect.set(globalThis, \"__paddock_saved\", saved); }}"
                ),
                "{ const saved = Reflect.get(globalThis, \"__paddock_saved\"); for (const [k, v] of Object.entries(saved)) { if (v === undefined) { delete process.env[k]; } else { process.env[k] = String(v); } } Reflect.deleteProperty(globalThis, \"__paddock_saved\"); }".into(),
            ))
        }
        CodeLanguage::Bash => {
            let quote = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
            let mut set = String::new();
            let mut restore = String::new();
            for (name, value) in env {
                set.push_str(&format!(
                    "if [ -n \"${{{name}+x}}\" ]; then __paddock_had_{name}=1; __paddock_old_{name}=\"${name}\"; else __paddock_had_{name}=0; fi; export {name}={}\n",
                    quote(value)
                ));
                restore.push_str(&format!(
                    "if [ \"$__paddock_had_{name}\" = 1 ]; then export {name}=\"$__paddock_old_{name}\"; else unset {name}; fi; unset __paddock_had_{name} __paddock_old_{name}\n"
                ));
            }
            Some((set, restore))
        }
    }
}

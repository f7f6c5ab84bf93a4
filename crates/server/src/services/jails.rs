//! Running jails for the API: admission (the global and per-tenant
//! concurrency limits and memory budgets), the ledger row every jail gets,
//! each tenant's trusted upstreams, cancellation (by id, or by the caller
//! going away), and a jail's result in the wire's shape.
//!
//! Admission never promises more memory than the host has: a jail is
//! admitted only if the memory limits of every running jail (runs, execs,
//! forks, clones and running workspaces alike), its own included, add up
//! to at most the jails' budget (host memory × overcommit − reserve), and
//! its tenant's share to at most the tenant's budget. A tenant also runs
//! at most its share of the slots, so one tenant can never hold every slot
//! or all the memory while another is refused.
//!
//! A jail's ledger row is written before the jail starts (no row, no
//! jail) and is closed exactly once: with the jail's result, with the
//! reason it could not run, as `error` when the server's shutdown killed
//! it, or as `cancelled` when it was cancelled or its caller went away
//! (the [`Ledger`] guard sees to the last case even when the request
//! future is simply dropped). No jail starts while the state disk is below
//! its free-space watermark.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::identity::TenantBudgets;
use paddock_api::{EgressAttempt, EgressRefusal, Error, ErrorCode, ExecResult, ResourceStats};
use paddock_jail::egress::{EgressRecord, Outcome, TrustedUpstreams};
use paddock_jail::{
    Engine, JailConfig, JailControl, JailError, JailEvent, JailExecutor, JailHandle, JailResult, JailStats,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::db::{retry_after_failure, Db, DbFault, JailEnd, RetryPolicy, Scope};
use crate::metrics::Metrics;
use crate::services::lock;
use crate::services::space::StateDisk;

/// Retries of closing a ledger row while the database is down (about an
/// hour), before the next start's recovery takes over.
const ROW_CLOSE_RETRY: RetryPolicy = RetryPolicy {
    first_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(30),
    attempts: 128,
};

/// Bytes of each stream kept in a ledger row.
const LEDGER_OUTPUT_CAP: usize = 16 << 10;

/// Starts jails under the server's limit, each with its ledger row.
#[derive(Debug, Clone)]
pub struct JailRunner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    db: Db,
    metrics: Arc<Metrics>,
    /// Slots and memory in use, against the budgets.
    admission: Arc<Admission>,
    /// Upstreams trusted for one tenant's allowlist jails, by tenant.
    tenant_trust: BTreeMap<String, TrustedUpstreams>,
    /// Jails running now, by ledger id: their tenant and how to cancel them.
    live: Mutex<HashMap<i64, Live>>,
    /// Where jails write: no jail starts below its watermark.
    disk: StateDisk,
    /// The server is shutting down: no jail starts, and the ones it kills
    /// end as errors rather than as cancellations.
    shutting_down: AtomicBool,
}

/// Why a jail killed at shutdown ended, in its row and its answer.
const KILLED_AT_SHUTDOWN: &str = "the server shut down; the jail was killed";

#[derive(Debug)]
struct Live {
    tenant: String,
    cancel: CancellationToken,
    /// Set when the shutdown cancels the jail.
    shutdown_kill: Arc<AtomicBool>,
}

/// A jail's admission: a slot under the global and its tenant's limits,
/// and its memory limit counted in both budgets, given back when dropped
/// (however the jail ends).
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] Reservation);

/// The admission budgets (`paddock serve --max-concurrent`,
/// `--tenant-max-concurrent`, `--memory-overcommit`, `--memory-reserve`,
/// `--tenant-memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Jails at once, every tenant together.
    pub max_concurrent: usize,
    /// Jails at once per tenant.
    pub tenant_max_concurrent: usize,
    /// The sum of running jails' memory limits, MiB, every tenant together.
    pub memory_mb: u64,
    /// The sum of one tenant's running jails' memory limits, MiB.
    pub tenant_memory_mb: u64,
}

/// The smallest memory limit a jail gets (see `limits::resolve`): a budget
/// below it admits nothing.
const MIN_JAIL_MEMORY_MB: u64 = 16;

impl Budgets {
    /// The budgets `config` describes, with the defaults worked out:
    /// a tenant gets half the slots (rounded up) and half the memory, so
    /// that while one tenant uses all it may, the other half is left to
    /// the others; the reserve is an eighth of the host's memory, at least
    /// 512 MiB. Errors name the flag to change.
    pub fn of(config: &ServerConfig) -> Result<Budgets, String> {
        let overcommit = config.memory_overcommit;
        if !overcommit.is_finite() || overcommit <= 0.0 {
            return Err(format!(
                "--memory-overcommit must be a number above 0, got {overcommit}"
            ));
        }
        let host = config.host_memory_mb;
        let reserve = config.memory_reserve_mb.unwrap_or((host / 8).max(512));
        let memory_mb = ((host as f64 * overcommit) as u64).saturating_sub(reserve);
        if memory_mb < MIN_JAIL_MEMORY_MB {
            return Err(format!(
                "no memory is left for jails: {host} MiB of host memory × --memory-overcommit {overcommit} − --memory-reserve {reserve} MiB is {memory_mb} MiB, less than the smallest jail ({MIN_JAIL_MEMORY_MB} MiB)"
            ));
        }
        let tenant_memory_mb = config.tenant_memory_mb.unwrap_or(memory_mb.div_ceil(2));
        if tenant_memory_mb < MIN_JAIL_MEMORY_MB {
            return Err(format!(
                "--tenant-memory of {tenant_memory_mb} MiB is less than the smallest jail ({MIN_JAIL_MEMORY_MB} MiB)"
            ));
        }
        let max_concurrent = config.max_concurrent.max(1);
        let tenant_max_concurrent = config.tenant_max_concurrent.unwrap_or(max_concurrent.div_ceil(2));
        if tenant_max_concurrent == 0 {
            return Err("--tenant-max-concurrent must be at least 1".into());
        }
        Ok(Budgets {
            max_concurrent,
            tenant_max_concurrent: tenant_max_concurrent.min(max_concurrent),
            memory_mb,
            tenant_memory_mb: tenant_memory_mb.min(memory_mb),
        })
    }
}

/// What running jails hold: in all, and per tenant.
#[derive(Debug, Default)]
struct Usage {
    jails: usize,
    memory_mb: u64,
    /// Only tenants with a running jail (an entry goes with its last jail).
    tenants: HashMap<String, TenantUsage>,
}

/// What one tenant's running jails hold.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TenantUsage {
    /// Jails running.
    pub jails: usize,
    /// The sum of their memory limits, MiB.
    pub memory_mb: u64,
}

/// Admission against the budgets. One lock over all the counters, so a
/// jail is admitted against every budget at once or against none.
#[derive(Debug)]
struct Admission {
    budgets: Budgets,
    usage: Mutex<Usage>,
}

/// Why a jail was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Every slot of the server is taken.
    Slots,
    /// Every slot of the tenant is taken.
    TenantSlots,
    /// The tenant's memory budget has too little left.
    TenantMemory { used: u64 },
    /// The jails' memory budget has too little left.
    HostMemory { used: u64 },
    /// The jail asks for more than a budget holds in all: it could never run.
    NeverFits { budget: u64, tenant: bool },
    /// The jail has no memory limit, so it cannot be counted.
    Unlimited,
}

/// A jail's share of the budgets, given back when dropped.
#[derive(Debug)]
struct Reservation {
    admission: Arc<Admission>,
    tenant: String,
    memory_mb: u64,
}

impl Admission {
    fn new(budgets: Budgets) -> Admission {
        Admission {
            budgets,
            usage: Mutex::default(),
        }
    }

    /// Admits a jail of `tenant` with a memory limit of `memory_mb` MiB
    /// (`None`: no limit), or says why not.
    fn admit(self: &Arc<Self>, tenant: &str, memory_mb: Option<u64>) -> Result<Reservation, Refusal> {
        let b = self.budgets;
        let memory_mb = memory_mb.ok_or(Refusal::Unlimited)?;
        if memory_mb > b.tenant_memory_mb {
            return Err(Refusal::NeverFits {
                budget: b.tenant_memory_mb,
                tenant: true,
            });
        }
        if memory_mb > b.memory_mb {
            return Err(Refusal::NeverFits {
                budget: b.memory_mb,
                tenant: false,
            });
        }
        let mut usage = lock(&self.usage);
        let mine = usage.tenants.get(tenant).copied().unwrap_or_default();
        if usage.jails >= b.max_concurrent {
            return Err(Refusal::Slots);
        }
        if mine.jails >= b.tenant_max_concurrent {
            return Err(Refusal::TenantSlots);
        }
        if mine.memory_mb + memory_mb > b.tenant_memory_mb {
            return Err(Refusal::TenantMemory { used: mine.memory_mb });
        }
        if usage.memory_mb + memory_mb > b.memory_mb {
            return Err(Refusal::HostMemory { used: usage.memory_mb });
        }
        usage.jails += 1;
        usage.memory_mb += memory_mb;
        let entry = usage.tenants.entry(tenant.to_owned()).or_default();
        entry.jails += 1;
        entry.memory_mb += memory_mb;
        Ok(Reservation {
            admission: self.clone(),
            tenant: tenant.to_owned(),
            memory_mb,
        })
    }

    /// What `tenant`'s running jails hold, and what all of them hold.
    fn usage(&self, tenant: &str) -> (TenantUsage, TenantUsage) {
        let usage = lock(&self.usage);
        let all = TenantUsage {
            jails: usage.jails,
            memory_mb: usage.memory_mb,
        };
        (usage.tenants.get(tenant).copied().unwrap_or_default(), all)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut usage = lock(&self.admission.usage);
        usage.jails = usage.jails.saturating_sub(1);
        usage.memory_mb = usage.memory_mb.saturating_sub(self.memory_mb);
        if let Some(entry) = usage.tenants.get_mut(&self.tenant) {
            entry.jails = entry.jails.saturating_sub(1);
            entry.memory_mb = entry.memory_mb.saturating_sub(self.memory_mb);
            if entry.jails == 0 {
                usage.tenants.remove(&self.tenant);
            }
        }
    }
}

/// The answer for a jail that was not admitted: 429 (with `Retry-After`)
/// while waiting for other jails to end can help, 400 when it cannot.
fn refusal_error(refusal: Refusal, budgets: &Budgets, tenant: &str, memory_mb: u64) -> Error {
    let busy = |message: String| Error::new(ErrorCode::TooManyRequests, message);
    match refusal {
        Refusal::Slots => busy(format!(
            "the server is running its limit of {} jails; retry later",
            budgets.max_concurrent
        )),
        Refusal::TenantSlots => busy(format!(
            "tenant {tenant} is running its limit of {} jails at once (the per-tenant concurrency budget); retry when one of them ends",
            budgets.tenant_max_concurrent
        )),
        Refusal::TenantMemory { used } => busy(format!(
            "tenant {tenant}'s memory budget is {} MiB and its running jails hold {used} MiB of it; this jail asks for {memory_mb} MiB; retry when one of them ends, or ask for less memory",
            budgets.tenant_memory_mb
        )),
        Refusal::HostMemory { used } => busy(format!(
            "the host's memory budget for jails is {} MiB and running jails hold {used} MiB of it; this jail asks for {memory_mb} MiB; retry later, or ask for less memory",
            budgets.memory_mb
        )),
        Refusal::NeverFits { budget, tenant: per_tenant } => Error::new(
            ErrorCode::BadLimit,
            format!(
                "this jail asks for {memory_mb} MiB of memory, more than {} of {budget} MiB in all; ask for at most {budget} MiB",
                if per_tenant {
                    format!("tenant {tenant}'s memory budget")
                } else {
                    "the host's memory budget for jails".to_owned()
                }
            ),
        ),
        Refusal::Unlimited => Error::new(
            ErrorCode::BadLimit,
            "a jail without a memory limit cannot be admitted: its memory could not be counted in the budgets",
        ),
    }
}

/// The ledger row's facts about a jail about to start.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub tenant: String,
    /// `run`, `stream`, `exec`, `fork` or `workspace`.
    pub kind: &'static str,
    pub session_id: Option<String>,
    pub label: Option<String>,
    pub parent_id: Option<i64>,
    pub config: serde_json::Value,
}

/// A streamed jail: its ledger id, its events, and what must live as
/// long as it runs (its slot, and its open ledger row, which the consumer
/// closes with the outcome; dropped unclosed, it records `cancelled`).
#[derive(Debug)]
pub struct JailStream {
    pub id: i64,
    pub events: mpsc::Receiver<JailEvent>,
    pub slot: Slot,
    pub ledger: Ledger,
}

/// How a jail ended, with its ledger id.
#[derive(Debug)]
pub struct Finished {
    pub id: i64,
    pub result: JailResult,
    /// It was cancelled (through the API) before it ended by itself.
    pub cancelled: bool,
}

impl Finished {
    /// The wire form.
    pub fn to_wire(&self) -> ExecResult {
        exec_result(self.id, &self.result, self.cancelled)
    }
}

/// An open ledger row. Closing it records the outcome; dropping it
/// unclosed (the request went away mid-run) records `cancelled`.
#[derive(Debug)]
pub struct Ledger {
    runner: JailRunner,
    id: i64,
    started: Instant,
    cancel: CancellationToken,
    /// The shutdown cancelled this jail (see [`Ledger::killed_at_shutdown`]).
    shutdown_kill: Arc<AtomicBool>,
    open: bool,
}

impl Ledger {
    /// The row's id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Cancelled through the API (or by the caller going away).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Closes the row with the jail's outcome.
    pub async fn close(mut self, outcome: Result<&JailResult, String>, cancelled: bool) {
        self.open = false;
        self.runner.forget(self.id);
        let end = match outcome {
            Ok(r) => JailEnd {
                status: if cancelled { "cancelled" } else { "completed" },
                exit_code: Some(r.exit_code() as i64),
                duration_ms: Some(r.duration.as_millis() as f64),
                timed_out: r.timed_out,
                oom_killed: r.oom_killed,
                memory_peak_bytes: r.stats.map(|s| s.memory_peak_bytes as i64),
                memory_current_bytes: r.stats.map(|s| s.memory_current_bytes as i64),
                cpu_usage_usec: r.stats.map(|s| s.cpu_usage_usec as i64),
                io_read_bytes: r.stats.map(|s| s.io_read_bytes as i64),
                io_write_bytes: r.stats.map(|s| s.io_write_bytes as i64),
                pids_current: r.stats.map(|s| s.pids_current as i64),
                stdout: cap(&r.stdout.text()),
                stderr: cap(&r.stderr.text()),
                error: cancelled.then(|| "cancelled".to_owned()),
                egress: egress_log(r),
            },
            Err(err) => JailEnd {
                status: if cancelled { "cancelled" } else { "error" },
                duration_ms: Some(self.started.elapsed().as_millis() as f64),
                error: Some(err),
                ..JailEnd::default()
            },
        };
        self.runner.finish_row(self.id, end, self.started).await;
        // Ends the jail's kill watcher, if it has one.
        self.cancel.cancel();
    }

    /// Whether the jail was cancelled (through the API) so far.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether the jail was killed by the server's shutdown, given how it
    /// ended (`None`: it failed without a result): the shutdown cancelled
    /// it, and it died of that kill, not of its own exit, its deadline or
    /// the OOM killer. A jail that finished as the shutdown began keeps its
    /// result, so a client never retries work that was done. The answer of
    /// a killed one is [`shutdown_error`].
    pub fn killed_at_shutdown(&self, ended: Option<&JailResult>) -> bool {
        self.shutdown_kill.load(Ordering::SeqCst)
            && ended.is_none_or(|r| r.signal() == Some(libc::SIGKILL) && !r.timed_out && !r.oom_killed)
    }

    /// Closes the row of a jail killed by the shutdown (status `error`).
    pub async fn close_killed_at_shutdown(self) {
        self.close(Err(KILLED_AT_SHUTDOWN.to_owned()), false).await;
    }
}

/// The answer for a jail asked for while the server shuts down.
fn no_start_at_shutdown() -> Error {
    Error::new(
        ErrorCode::ShuttingDown,
        "the server is shutting down and starts no more jails; retry once it is back",
    )
}

/// The answer for a jail the server's shutdown killed.
pub fn shutdown_error() -> Error {
    Error::new(
        ErrorCode::ShuttingDown,
        format!("{KILLED_AT_SHUTDOWN}; run it again once the server is back"),
    )
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // The request that owned the jail is gone (its client disconnected
        // or aborted): the jail was killed with its handle; record that.
        self.cancel.cancel();
        self.runner.forget(self.id);
        let end = JailEnd {
            status: "cancelled",
            duration_ms: Some(self.started.elapsed().as_millis() as f64),
            error: Some("the client went away; the jail was killed".into()),
            ..JailEnd::default()
        };
        let (runner, id, started) = (self.runner.clone(), self.id, self.started);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { runner.finish_row(id, end, started).await });
        }
    }
}

impl JailRunner {
    /// A runner over `engine` with `config`'s budgets and per-tenant
    /// trusted upstreams; an error names the flag that makes the budgets
    /// impossible.
    pub fn new(
        engine: Engine,
        db: Db,
        metrics: Arc<Metrics>,
        config: &ServerConfig,
        disk: StateDisk,
    ) -> Result<JailRunner, String> {
        let budgets = Budgets::of(config)?;
        Ok(JailRunner {
            inner: Arc::new(Inner {
                engine,
                db,
                metrics,
                admission: Arc::new(Admission::new(budgets)),
                tenant_trust: config.tenant_trust.clone(),
                live: Mutex::default(),
                disk,
                shutting_down: AtomicBool::new(false),
            }),
        })
    }

    /// The engine (for what only it can tell, like its capabilities).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Slots free now.
    pub fn free_slots(&self) -> usize {
        let (_, all) = self.inner.admission.usage("");
        self.inner.admission.budgets.max_concurrent.saturating_sub(all.jails)
    }

    /// The budgets admission holds jails to.
    pub fn budgets(&self) -> Budgets {
        self.inner.admission.budgets
    }

    /// What `tenant`'s running jails hold now, and what every tenant's do.
    pub fn usage(&self, tenant: &str) -> (TenantUsage, TenantUsage) {
        self.inner.admission.usage(tenant)
    }

    /// `tenant`'s budgets and their use now, in the wire's shape.
    pub fn tenant_budgets(&self, tenant: &str) -> TenantBudgets {
        let budgets = self.budgets();
        let (mine, _) = self.usage(tenant);
        TenantBudgets {
            max_concurrent: budgets.tenant_max_concurrent as u64,
            running: mine.jails as u64,
            memory_mb: budgets.tenant_memory_mb,
            memory_in_use_mb: mine.memory_mb,
        }
    }

    /// Admits a jail of `tenant` with `config`'s memory limit: a slot under
    /// the global and the tenant's concurrency limits, and its memory
    /// counted in the host's and the tenant's budgets; or 429 with the
    /// budget that is full (400 when the jail could never fit, 503 once
    /// the server is shutting down). Taken before the jail starts and held
    /// until it has ended.
    pub fn take_slot(&self, tenant: &str, config: &JailConfig) -> Result<Slot, Error> {
        if self.is_shutting_down() {
            return Err(no_start_at_shutdown());
        }
        let memory_mb = config.limits.memory_bytes.map(|bytes| bytes.div_ceil(1 << 20));
        self.inner
            .admission
            .admit(tenant, memory_mb)
            .map(Slot)
            .map_err(|refusal| {
                if !matches!(refusal, Refusal::NeverFits { .. } | Refusal::Unlimited) {
                    self.inner.metrics.refused_busy();
                }
                refusal_error(refusal, &self.inner.admission.budgets, tenant, memory_mb.unwrap_or(0))
            })
    }

    /// `config` with `tenant`'s own trusted upstreams added to its egress
    /// policy (allowlist jails only): the proxy of this jail, and no other
    /// tenant's, may reach them.
    fn with_tenant_trust(&self, tenant: &str, mut config: JailConfig) -> JailConfig {
        if let Some(trusted) = self.inner.tenant_trust.get(tenant) {
            config.network.trust(trusted);
        }
        config
    }

    /// Opens the ledger row of a jail about to start.
    pub async fn open_ledger(&self, entry: &LedgerEntry) -> Result<Ledger, Error> {
        let id = self
            .inner
            .db
            .insert_jail(
                &entry.tenant,
                entry.kind,
                entry.session_id.as_deref(),
                entry.label.as_deref(),
                entry.parent_id,
                &entry.config.to_string(),
            )
            .await?;
        self.inner.metrics.jail_started(entry.kind);
        let cancel = CancellationToken::new();
        let shutdown_kill = Arc::new(AtomicBool::new(false));
        {
            let mut live = lock(&self.inner.live);
            live.insert(
                id,
                Live {
                    tenant: entry.tenant.clone(),
                    cancel: cancel.clone(),
                    shutdown_kill: shutdown_kill.clone(),
                },
            );
            // Registered after the shutdown went through the live jails:
            // this one is killed as soon as it starts.
            if self.is_shutting_down() {
                shutdown_kill.store(true, Ordering::SeqCst);
                cancel.cancel();
            }
        }
        Ok(Ledger {
            runner: self.clone(),
            id,
            started: Instant::now(),
            cancel,
            shutdown_kill,
            open: true,
        })
    }

    /// Starts a jail with its ledger row, written first: a jail whose row
    /// cannot be stored does not run. Refused with 507 while the state disk
    /// is below its free-space watermark.
    pub async fn start(&self, entry: &LedgerEntry, config: JailConfig) -> Result<(Ledger, JailHandle), Error> {
        let config = self.with_tenant_trust(&entry.tenant, config);
        self.start_with(entry, "start a jail", self.inner.engine.spawn(config))
            .await
    }

    /// Starts a runtime jail (a running workspace's) with its ledger row.
    pub async fn start_runtime(
        &self,
        entry: &LedgerEntry,
        config: JailConfig,
    ) -> Result<(Ledger, JailHandle, JailExecutor), Error> {
        let config = self.with_tenant_trust(&entry.tenant, config);
        let (ledger, (handle, executor)) = self
            .start_with(entry, "start a workspace", self.inner.engine.spawn_runtime(config))
            .await?;
        Ok((ledger, handle, executor))
    }

    /// Opens the ledger row, then spawns (`spawn` runs only if the server
    /// is not shutting down and the disk has room); a failed spawn closes
    /// the row with its error.
    async fn start_with<T>(
        &self,
        entry: &LedgerEntry,
        what: &str,
        spawn: impl std::future::Future<Output = paddock_jail::Result<T>>,
    ) -> Result<(Ledger, T), Error> {
        if self.is_shutting_down() {
            return Err(no_start_at_shutdown());
        }
        self.inner.disk.ensure_room(what)?;
        let ledger = self.open_ledger(entry).await?;
        match spawn.await {
            Ok(started) => Ok((ledger, started)),
            Err(err) => {
                ledger.close(Err(err.to_string()), false).await;
                Err(jail_error(err))
            }
        }
    }

    /// Runs a jail under the concurrency limit with its ledger row.
    pub async fn run(&self, entry: LedgerEntry, config: JailConfig) -> Result<Finished, Error> {
        self.run_controlled(entry, config, |_| {}).await
    }

    /// [`JailRunner::run`], handing `on_start` the running jail's control
    /// (to freeze it for a snapshot) as soon as it exists.
    pub async fn run_controlled(
        &self,
        entry: LedgerEntry,
        config: JailConfig,
        on_start: impl FnOnce(JailControl),
    ) -> Result<Finished, Error> {
        let _slot = self.take_slot(&entry.tenant, &config)?;
        let (ledger, handle) = self.start(&entry, config).await?;
        let control = handle.control();
        on_start(control.clone());
        self.wait(ledger, handle).await
    }

    /// Waits for a started jail, killing it if it is cancelled, and closes
    /// its ledger row.
    pub async fn wait(&self, ledger: Ledger, handle: JailHandle) -> Result<Finished, Error> {
        let control = handle.control();
        let cancel = ledger.cancel_token();
        let mut waiting = Box::pin(handle.wait());
        let (outcome, cancelled) = tokio::select! {
            outcome = &mut waiting => (outcome, false),
            () = cancel.cancelled() => {
                let _ = control.kill();
                (waiting.await, true)
            }
        };
        let id = ledger.id();
        if cancelled && ledger.killed_at_shutdown(outcome.as_ref().ok()) {
            ledger.close_killed_at_shutdown().await;
            return Err(shutdown_error());
        }
        ledger
            .close(outcome.as_ref().map_err(|e| e.to_string()), cancelled)
            .await;
        match outcome {
            Ok(result) => Ok(Finished { id, result, cancelled }),
            Err(err) => Err(jail_error(err)),
        }
    }

    /// Starts a jail under the concurrency limit and streams its events
    /// (output as the jail wrote it, stats every `stats_every`); it is
    /// killed when cancelled.
    pub async fn stream(
        &self,
        entry: LedgerEntry,
        config: JailConfig,
        stats_every: Duration,
    ) -> Result<JailStream, Error> {
        let slot = self.take_slot(&entry.tenant, &config)?;
        let (ledger, handle) = self.start(&entry, config).await?;
        Ok(self.stream_started(slot, ledger, handle, stats_every))
    }

    /// Streams the events of a jail already started (with
    /// [`JailRunner::start`], under `slot`); it is killed when cancelled.
    pub fn stream_started(&self, slot: Slot, ledger: Ledger, handle: JailHandle, stats_every: Duration) -> JailStream {
        let control = handle.control();
        let cancel = ledger.cancel_token();
        let events = handle.into_events(stats_every);
        tokio::spawn(async move {
            cancel.cancelled().await;
            let _ = control.kill();
        });
        JailStream {
            id: ledger.id(),
            events,
            slot,
            ledger,
        }
    }

    /// Cancels a running jail in `scope`: 404 when there is no such jail,
    /// 409 when it already ended.
    pub async fn cancel(&self, scope: &Scope, id: i64) -> Result<(), Error> {
        let token = {
            let live = lock(&self.inner.live);
            live.get(&id)
                .filter(|l| scope.includes(&l.tenant))
                .map(|l| l.cancel.clone())
        };
        match token {
            Some(token) => {
                token.cancel();
                Ok(())
            }
            None => match self.inner.db.jail(scope, id).await? {
                Some(_) => Err(Error::new(
                    ErrorCode::RunFinished,
                    format!("jail {id} already ended; there is nothing to cancel"),
                )),
                None => Err(Error::not_found("run")),
            },
        }
    }

    /// Whether [`JailRunner::shut_down`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Shutdown: starts no more jails and kills the running ones; their
    /// requests answer [`shutdown_error`].
    pub fn shut_down(&self) {
        let live = lock(&self.inner.live);
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for live in live.values() {
            live.shutdown_kill.store(true, Ordering::SeqCst);
            live.cancel.cancel();
        }
    }

    fn forget(&self, id: i64) {
        lock(&self.inner.live).remove(&id);
    }

    async fn finish_row(&self, id: i64, end: JailEnd, started: Instant) {
        self.inner
            .metrics
            .jail_finished(end.status, started.elapsed(), end.timed_out, end.oom_killed);
        // A jail may have filled the disk: the reserve goes first, so the
        // row can be written.
        self.inner.disk.relieve();
        let Err(err) = self.inner.db.finish_jail(id, &end).await else {
            return;
        };
        if err.fault() == DbFault::Other {
            tracing::error!(%err, id, "closing a ledger row");
            return;
        }
        // The database is down or full for now: the jail has ended, so
        // its row is closed once the database is back rather than left
        // `running` until the next start.
        tracing::warn!(%err, id, "closing a ledger row failed; retrying in the background");
        let db = self.inner.db.clone();
        tokio::spawn(async move {
            match retry_after_failure(err, ROW_CLOSE_RETRY, None, || db.finish_jail(id, &end)).await {
                Ok(_) => tracing::info!(id, "ledger row closed after the database came back"),
                Err(err) if err.fault() == DbFault::Other => tracing::error!(%err, id, "closing a ledger row"),
                Err(_) => tracing::error!(id, "gave up closing a ledger row; the next start closes it"),
            }
        });
    }
}

/// How many egress attempts a ledger row keeps (the first ones).
pub const LEDGER_EGRESS_ATTEMPTS: usize = 100;

/// The JSON of a jail's egress log for its ledger row (`None` without an
/// egress proxy): its first [`LEDGER_EGRESS_ATTEMPTS`] attempts.
fn egress_log(r: &JailResult) -> Option<String> {
    let log = r.egress.as_ref()?;
    let attempts: Vec<EgressAttempt> = log
        .records
        .iter()
        .take(LEDGER_EGRESS_ATTEMPTS)
        .map(egress_attempt)
        .collect();
    serde_json::to_string(&attempts).ok()
}

/// One egress record in the wire's shape.
fn egress_attempt(rec: &EgressRecord) -> EgressAttempt {
    EgressAttempt {
        method: rec.method.clone(),
        host: rec.host.clone(),
        port: rec.port,
        address: rec.address.map(|a| a.to_string()),
        outcome: rec.outcome.as_str().to_owned(),
        reason: rec.reason.map(|r| r.as_str().to_owned()),
        detail: rec.detail.clone(),
        status: rec.status,
        bytes_up: rec.bytes_up,
        bytes_down: rec.bytes_down,
        duration_ms: rec.duration.as_millis() as u64,
    }
}

/// A jail's result as every run and exec answers it.
pub fn exec_result(id: i64, r: &JailResult, cancelled: bool) -> ExecResult {
    ExecResult {
        id,
        stdout: r.stdout.text().into_owned(),
        stderr: r.stderr.text().into_owned(),
        exit_code: r.exit_code(),
        duration_ms: r.duration.as_millis() as u64,
        timed_out: r.timed_out,
        oom_killed: r.oom_killed,
        stdout_truncated: r.stdout.truncated,
        stderr_truncated: r.stderr.truncated,
        cancelled,
        stats: r.stats.map(resource_stats),
        egress_refusals: r
            .egress
            .iter()
            .flat_map(|log| &log.records)
            .filter(|rec| rec.outcome != Outcome::Allowed)
            .map(|rec| EgressRefusal {
                method: rec.method.clone(),
                host: rec.host.clone(),
                port: rec.port,
                outcome: rec.outcome.as_str().to_owned(),
                reason: rec.reason.map(|r| r.as_str().to_owned()),
                detail: rec.detail.clone(),
            })
            .collect(),
    }
}

/// A cgroup's counters in the wire's shape.
pub fn resource_stats(s: JailStats) -> ResourceStats {
    ResourceStats {
        memory_peak_bytes: s.memory_peak_bytes,
        memory_current_bytes: s.memory_current_bytes,
        cpu_usage_usec: s.cpu_usage_usec,
        io_read_bytes: s.io_read_bytes,
        io_write_bytes: s.io_write_bytes,
        pids_current: s.pids_current,
    }
}

/// The API error for an engine error.
pub fn jail_error(err: JailError) -> Error {
    match err {
        JailError::InvalidConfig(msg) => Error::new(ErrorCode::BadRequest, msg),
        JailError::Exec { command, detail } => Error::new(
            ErrorCode::CommandNotFound,
            format!("{command} cannot be executed in the jail: {detail}"),
        ),
        err @ (JailError::LimitUnavailable { .. } | JailError::Unsupported(_)) => {
            Error::new(ErrorCode::Unsupported, err.to_string())
        }
        other => Error::internal(other),
    }
}

/// `text` cut to the ledger cap on a character boundary.
fn cap(text: &str) -> String {
    if text.len() <= LEDGER_OUTPUT_CAP {
        return text.to_owned();
    }
    let mut end = LEDGER_OUTPUT_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(max: usize, tenant_max: usize, memory: u64, tenant_memory: u64) -> Arc<Admission> {
        Arc::new(Admission::new(Budgets {
            max_concurrent: max,
            tenant_max_concurrent: tenant_max,
            memory_mb: memory,
            tenant_memory_mb: tenant_memory,
        }))
    }

    #[test]
    fn a_tenant_gets_its_share_of_the_slots_and_others_still_get_in() {
        let admission = budgets(4, 2, 10_000, 10_000);
        let a1 = admission.admit("a", Some(100)).unwrap();
        let _a2 = admission.admit("a", Some(100)).unwrap();
        assert_eq!(admission.admit("a", Some(100)).unwrap_err(), Refusal::TenantSlots);
        let _b1 = admission.admit("b", Some(100)).unwrap();
        let _b2 = admission.admit("b", Some(100)).unwrap();
        // Every slot taken: the global limit answers, whoever asks.
        assert_eq!(admission.admit("c", Some(100)).unwrap_err(), Refusal::Slots);
        drop(a1);
        assert_eq!(admission.admit("b", Some(100)).unwrap_err(), Refusal::TenantSlots);
        let _a3 = admission.admit("a", Some(100)).unwrap();
    }

    #[test]
    fn memory_limits_never_add_up_past_the_budgets() {
        let admission = budgets(100, 100, 1000, 600);
        let a = admission.admit("a", Some(500)).unwrap();
        assert_eq!(
            admission.admit("a", Some(200)).unwrap_err(),
            Refusal::TenantMemory { used: 500 }
        );
        let _a_small = admission.admit("a", Some(100)).unwrap();
        let _b = admission.admit("b", Some(300)).unwrap();
        // 900 of 1000 promised: 100 more fit, 101 do not.
        assert_eq!(
            admission.admit("c", Some(101)).unwrap_err(),
            Refusal::HostMemory { used: 900 }
        );
        let _c = admission.admit("c", Some(100)).unwrap();
        // More than a budget holds in all is never admitted.
        assert_eq!(
            admission.admit("d", Some(601)).unwrap_err(),
            Refusal::NeverFits {
                budget: 600,
                tenant: true
            }
        );
        assert_eq!(admission.admit("d", None).unwrap_err(), Refusal::Unlimited);
        drop(a);
        let _b2 = admission.admit("b", Some(300)).unwrap();
    }

    #[test]
    fn dropped_reservations_give_everything_back() {
        let admission = budgets(3, 3, 1000, 1000);
        let held: Vec<_> = ["a", "a", "b"]
            .iter()
            .map(|t| admission.admit(t, Some(300)).unwrap())
            .collect();
        let (a, all) = admission.usage("a");
        assert_eq!((a.jails, a.memory_mb, all.jails, all.memory_mb), (2, 600, 3, 900));
        // Refusals hold nothing.
        assert!(admission.admit("c", Some(16)).is_err());
        drop(held);
        let usage = lock(&admission.usage);
        assert_eq!((usage.jails, usage.memory_mb), (0, 0));
        assert!(usage.tenants.is_empty(), "{:?}", usage.tenants);
    }

    #[test]
    fn budgets_default_to_half_for_a_tenant_and_refuse_impossible_settings() {
        let mut config = ServerConfig::new("/nonexistent".into());
        config.max_concurrent = 16;
        config.host_memory_mb = 23 * 1024;
        let b = Budgets::of(&config).unwrap();
        // An eighth of 23 GiB kept for the host.
        assert_eq!(b.memory_mb, 23 * 1024 - 23 * 128);
        assert_eq!((b.tenant_max_concurrent, b.tenant_memory_mb), (8, b.memory_mb / 2));
        config.max_concurrent = 1;
        assert_eq!(Budgets::of(&config).unwrap().tenant_max_concurrent, 1);
        config.memory_overcommit = 1.5;
        config.memory_reserve_mb = Some(1024);
        config.tenant_max_concurrent = Some(5);
        config.tenant_memory_mb = Some(1 << 30);
        let b = Budgets::of(&config).unwrap();
        assert_eq!(b.memory_mb, 23 * 1024 * 3 / 2 - 1024);
        // A tenant's budgets are never larger than the whole.
        assert_eq!((b.tenant_max_concurrent, b.tenant_memory_mb), (1, b.memory_mb));
        config.memory_reserve_mb = Some(40 * 1024);
        assert!(Budgets::of(&config).unwrap_err().contains("--memory-reserve"));
        config.memory_reserve_mb = None;
        config.memory_overcommit = f64::NAN;
        assert!(Budgets::of(&config).unwrap_err().contains("--memory-overcommit"));
    }

    #[test]
    fn ledger_output_is_cut_on_a_character_boundary() {
        let text = "é".repeat(LEDGER_OUTPUT_CAP);
        let cut = cap(&text);
        assert!(cut.len() <= LEDGER_OUTPUT_CAP && cut.chars().all(|c| c == 'é'));
    }
}

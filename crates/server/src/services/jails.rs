//! Running jails for the API: the global concurrency limit, the ledger row
//! every jail gets, cancellation (by id, or by the caller going away), and
//! a jail's result in the wire's shape.
//!
//! A jail's ledger row is written before the jail starts (no row, no
//! jail) and is closed exactly once: with the jail's result, with the
//! reason it could not run, as `error` when the server's shutdown killed
//! it, or as `cancelled` when it was cancelled or its caller went away
//! (the [`Ledger`] guard sees to the last case even when the request
//! future is simply dropped). No jail starts while the state disk is below
//! its free-space watermark.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paddock_api::{EgressRefusal, Error, ErrorCode, ExecResult, ResourceStats};
use paddock_jail::egress::Outcome;
use paddock_jail::{
    Engine, JailConfig, JailControl, JailError, JailEvent, JailExecutor, JailHandle, JailResult, JailStats,
};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::db::{retry_after_failure, Db, DbFault, JailEnd, RetryPolicy, Scope};
use crate::metrics::Metrics;
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
    slots: Arc<Semaphore>,
    max_concurrent: usize,
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

/// A slot under the global concurrency limit.
#[derive(Debug)]
pub struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

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
    /// A runner over `engine` allowing `max_concurrent` jails at once.
    pub fn new(engine: Engine, db: Db, metrics: Arc<Metrics>, max_concurrent: usize, disk: StateDisk) -> JailRunner {
        JailRunner {
            inner: Arc::new(Inner {
                engine,
                db,
                metrics,
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                live: Mutex::default(),
                disk,
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The engine (for what only it can tell, like its capabilities).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Slots free now.
    pub fn free_slots(&self) -> usize {
        self.inner.slots.available_permits()
    }

    /// A slot under the global concurrency limit, or 429 (503 once the
    /// server is shutting down).
    pub fn take_slot(&self) -> Result<Slot, Error> {
        if self.is_shutting_down() {
            return Err(no_start_at_shutdown());
        }
        self.inner.slots.clone().try_acquire_owned().map(Slot).map_err(|_| {
            self.inner.metrics.refused_busy();
            Error::new(
                ErrorCode::TooManyRequests,
                format!(
                    "the server is running its limit of {} jails; retry later",
                    self.inner.max_concurrent
                ),
            )
        })
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
        self.start_with(entry, "start a jail", self.inner.engine.spawn(config))
            .await
    }

    /// Starts a runtime jail (a running workspace's) with its ledger row.
    pub async fn start_runtime(
        &self,
        entry: &LedgerEntry,
        config: JailConfig,
    ) -> Result<(Ledger, JailHandle, JailExecutor), Error> {
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
        let _slot = self.take_slot()?;
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
        let slot = self.take_slot()?;
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
                outcome: match rec.outcome {
                    Outcome::Denied => "denied",
                    _ => "failed",
                }
                .to_owned(),
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

    #[test]
    fn ledger_output_is_cut_on_a_character_boundary() {
        let text = "é".repeat(LEDGER_OUTPUT_CAP);
        let cut = cap(&text);
        assert!(cut.len() <= LEDGER_OUTPUT_CAP && cut.chars().all(|c| c == 'é'));
    }
}

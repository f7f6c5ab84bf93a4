//! Running workspaces (RUNTIME.md §1): one long-lived runtime jail per
//! workspace, started on demand by any runtime call or by `start`, with
//! the workspace's tree, limits (one cgroup for every process) and network
//! mode, and no deadline. It ends on `stop`, on delete, on idle timeout
//! (its processes are killed, and the log says so), at shutdown, or when
//! cancelled through the ledger; its processes end with it.

use std::sync::Arc;
use std::time::Duration;

use paddock_api::workspaces::WorkspaceRunState;
use paddock_api::Error;

use super::{lock, Slot, StoredSpec, Workspaces};
use crate::config::Role;
use crate::db::WorkspaceRow;
use crate::services::identity::Caller;
use crate::services::jails::LedgerEntry;
use crate::services::limits;
use crate::services::runtime::RunningJail;

/// The port of the phantom proxy on every running workspace's own
/// loopback: above the ephemeral range and the kernels' ports, where a
/// workspace's own servers do not go (previews of it are refused).
pub const JAIL_PROXY_PORT: u16 = 65443;

/// Activity of a workspace while held; see [`Workspaces::keep_alive`].
#[derive(Debug)]
pub struct KeepAlive(tokio::task::JoinHandle<()>);

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long a stop waits for the runtime jail to be gone.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// A running workspace's activity reaches the database at most this often
/// (the idle timeout counts in seconds).
const ACTIVITY_EVERY: Duration = Duration::from_secs(5);

impl Workspaces {
    /// The runtime of one of the caller's workspaces, started if it is not
    /// running (the tree resumed first if paused). Counts as activity for
    /// the idle timeout.
    pub async fn running(&self, caller: &Caller, id: &str) -> Result<Arc<RunningJail>, Error> {
        caller.permit_workspace(id)?;
        let slot = self.slot(id);
        // A running workspace of the caller's answers without the
        // database: delete and stop take the runtime out of the slot first.
        if let Some(running) = live(&slot).filter(|r| caller.role == Role::Admin || caller.tenant == r.tenant()) {
            if running.note_activity(ACTIVITY_EVERY) {
                self.touch(id).await;
            }
            // A paused workspace resumes for whatever is asked of it.
            if running.control().is_frozen() {
                running.control().thaw().map_err(|e| Error::internal(e.to_string()))?;
            }
            return Ok(running);
        }
        self.find(caller, id).await?;
        let _maintenance = slot.maintenance.lock().await;
        if let Some(running) = live(&slot) {
            return Ok(running);
        }
        // Re-read under the lock: a pause or a delete may have happened.
        let row = self
            .db()
            .workspace(&caller.scope(None), id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        if row.auto_snapshot.is_some() {
            self.inner.disk.ensure_room("resume a paused workspace")?;
            self.resume(&row).await?;
        }
        let running = self.start_runtime(&row, &slot).await?;
        self.touch(id).await;
        Ok(running)
    }

    /// Notes activity in a running workspace that does not go through
    /// [`Workspaces::running`] (terminal input, preview requests), for its
    /// idle timeout.
    pub async fn note_activity(&self, id: &str) {
        if live(&self.slot(id)).is_some_and(|r| r.note_activity(ACTIVITY_EVERY)) {
            self.touch(id).await;
        }
    }

    /// Counts as activity of workspace `id` (for its idle timeout) until
    /// the guard is dropped: a long call (a kernel's, an agent's turn) keeps
    /// its workspace from being stopped as idle.
    pub fn keep_alive(&self, id: &str) -> KeepAlive {
        let workspaces = self.clone();
        let id = id.to_owned();
        KeepAlive(tokio::spawn(async move {
            loop {
                workspaces.note_activity(&id).await;
                tokio::time::sleep(ACTIVITY_EVERY).await;
            }
        }))
    }

    /// The runtime jail of a workspace if it runs now, never starting it
    /// (previews relay only into a workspace that is already running).
    pub fn running_jail(&self, id: &str) -> Option<Arc<RunningJail>> {
        live(&self.slot(id))
    }

    /// Starts one of the caller's workspaces (if it is not running).
    pub async fn start(&self, caller: &Caller, id: &str) -> Result<WorkspaceRunState, Error> {
        let running = self.running(caller, id).await?;
        self.inner.audit.record(caller, "workspace.start", id).await;
        Ok(run_state(id, Some(&running)))
    }

    /// Pauses one of the caller's running workspaces: its jail is frozen
    /// (memory kept, no CPU) until `resume` or the next runtime call.
    pub async fn pause(&self, caller: &Caller, id: &str) -> Result<WorkspaceRunState, Error> {
        self.find(caller, id).await?;
        let slot = self.slot(id);
        let _maintenance = slot.maintenance.lock().await;
        let running = live(&slot).ok_or_else(not_running)?;
        running.control().freeze().map_err(|e| match e {
            paddock_jail::JailError::Unsupported(what) => Error::new(
                paddock_api::ErrorCode::Unsupported,
                format!("{what} needs a cgroup freezer, which this host does not give the server"),
            ),
            other => Error::internal(other.to_string()),
        })?;
        self.inner.audit.record(caller, "workspace.pause", id).await;
        Ok(run_state(id, Some(&running)))
    }

    /// Resumes one of the caller's paused workspaces.
    pub async fn resume_running(&self, caller: &Caller, id: &str) -> Result<WorkspaceRunState, Error> {
        self.find(caller, id).await?;
        let slot = self.slot(id);
        let _maintenance = slot.maintenance.lock().await;
        let running = live(&slot).ok_or_else(not_running)?;
        running.control().thaw().map_err(|e| Error::internal(e.to_string()))?;
        self.inner.audit.record(caller, "workspace.resume", id).await;
        Ok(run_state(id, Some(&running)))
    }

    /// One of the caller's workspaces' runtime if it runs now, without
    /// starting it.
    pub async fn running_now(&self, caller: &Caller, id: &str) -> Result<Option<Arc<RunningJail>>, Error> {
        self.find(caller, id).await?;
        Ok(live(&self.slot(id)))
    }

    /// Whether one of the caller's workspaces runs.
    pub async fn run_state(&self, caller: &Caller, id: &str) -> Result<WorkspaceRunState, Error> {
        self.find(caller, id).await?;
        Ok(run_state(id, live(&self.slot(id)).as_deref()))
    }

    /// Stops one of the caller's workspaces: every process is killed, the
    /// tree stays.
    pub async fn stop(&self, caller: &Caller, id: &str) -> Result<WorkspaceRunState, Error> {
        self.find(caller, id).await?;
        let slot = self.slot(id);
        let _maintenance = slot.maintenance.lock().await;
        if self.stop_runtime(&slot).await? {
            self.inner.audit.record(caller, "workspace.stop", id).await;
        }
        Ok(run_state(id, None))
    }

    /// Kills the runtime jail of `slot`, if any, and waits until it is gone.
    /// A jail that does not end in `STOP_WAIT` is put back and answers 503
    /// (its tree must not be touched while it may still run).
    pub(super) async fn stop_runtime(&self, slot: &Slot) -> Result<bool, Error> {
        let Some(running) = lock(&slot.runtime).take() else {
            return Ok(false);
        };
        let control = running.control();
        // A frozen jail cannot die until thawed.
        let _ = control.thaw();
        if let Err(err) = control.kill() {
            tracing::warn!(%err, "killing a workspace's runtime jail");
        }
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        while !running.has_ended() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if !running.has_ended() {
            lock(&slot.runtime).get_or_insert(running);
            tracing::error!("a workspace's runtime jail did not end within {STOP_WAIT:?} of its kill");
            return Err(Error::unavailable(
                "the workspace's jail did not stop in time; try again",
            ));
        }
        Ok(true)
    }

    async fn start_runtime(&self, row: &WorkspaceRow, slot: &Arc<Slot>) -> Result<Arc<RunningJail>, Error> {
        let spec = StoredSpec::of(row)?;
        let mut config = paddock_jail::JailConfig::new("/bin/true", Vec::<String>::new());
        let options = limits::options_of(&spec.limits(), None, None);
        let applied = limits::apply(&options, &mut config)?;
        // Lives until stopped; processes have their own deadlines.
        config.limits.timeout = None;
        let mut config = self.mount(config, &row.id, &spec);
        config.forwards.push(paddock_jail::HostForward {
            port: JAIL_PROXY_PORT,
            target: crate::config::reachable(self.inner.proxy_listen),
        });
        let entry = LedgerEntry {
            tenant: row.tenant_id.clone(),
            kind: "workspace",
            session_id: None,
            label: row.label.clone(),
            parent_id: None,
            config: serde_json::json!({ "workspace_id": row.id, "runtime": true, "limits": applied }),
        };
        let jail_slot = self.inner.runner.take_slot(&entry.tenant, &config)?;
        let (ledger, handle, executor) = self.inner.runner.start_runtime(&entry, config).await?;
        let running = Arc::new(RunningJail::new(executor, handle.control(), row.tenant_id.clone()));
        *lock(&slot.runtime) = Some(running.clone());
        let (runner, workspace, slot, ended) =
            (self.inner.runner.clone(), row.id.clone(), slot.clone(), running.clone());
        tokio::spawn(async move {
            let outcome = runner.wait(ledger, handle).await;
            drop(jail_slot);
            {
                let mut current = lock(&slot.runtime);
                if current.as_ref().is_some_and(|r| Arc::ptr_eq(r, &ended)) {
                    *current = None;
                }
            }
            match outcome {
                Ok(finished) => tracing::info!(%workspace, jail = finished.id, "a workspace's runtime jail ended"),
                Err(err) => tracing::warn!(%workspace, %err, "a workspace's runtime jail ended"),
            }
        });
        tracing::info!(workspace = %row.id, "workspace running");
        Ok(running)
    }

    async fn touch(&self, id: &str) {
        if let Err(err) = self.db().touch_workspace(id).await {
            tracing::warn!(%err, workspace = %id, "recording a workspace's activity");
        }
    }
}

fn run_state(id: &str, running: Option<&RunningJail>) -> WorkspaceRunState {
    WorkspaceRunState {
        id: id.to_owned(),
        state: match running {
            Some(r) if r.control().is_frozen() => "paused",
            Some(_) => "running",
            None => "stopped",
        }
        .to_owned(),
        started_at: running.map(|r| crate::services::rfc3339(r.started_at())),
        processes: running.map_or(0, RunningJail::running_count),
    }
}

fn not_running() -> Error {
    Error::new(
        paddock_api::ErrorCode::WorkspaceNotRunning,
        "the workspace is not running (start it first)",
    )
}

/// The slot's runtime if its jail still runs.
fn live(slot: &Slot) -> Option<Arc<RunningJail>> {
    lock(&slot.runtime).clone().filter(|r| !r.has_ended())
}

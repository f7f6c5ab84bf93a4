//! Execs in a workspace: any number at once, a paused workspace resumed
//! first, the workspace's stored limits with the exec's own deadline and
//! memory; to their end, or streamed.

use std::time::Duration;

use paddock_api::workspaces::WorkspaceExec;
use paddock_api::{Error, ErrorCode, ExecResult};
use paddock_jail::{JailConfig, JailEvent, JailHandle};
use tokio::sync::mpsc;

use super::{Running, StoredSpec, Workspaces};
use crate::services::identity::Caller;
use crate::services::jails::{JailStream, Ledger, LedgerEntry, Slot as JailSlot};
use crate::services::limits;

/// Most extra environment variables of an exec.
const MAX_ENV: usize = 128;
/// Stats events of a streamed exec, this often.
const STATS_EVERY: Duration = Duration::from_millis(500);

/// A started exec: what must live as long as its jail runs.
struct Started {
    running: Running,
    slot: JailSlot,
    ledger: Ledger,
    handle: JailHandle,
}

impl Workspaces {
    /// Runs a command in one of the caller's workspaces to its end.
    pub async fn exec(&self, caller: &Caller, id: &str, body: WorkspaceExec) -> Result<ExecResult, Error> {
        let started = self.start_exec(caller, id, body).await?;
        let finished = self.inner.runner.wait(started.ledger, started.handle).await;
        drop(started.slot);
        drop(started.running);
        // The command may have filled the disk: give up the reserve before
        // writing, and never turn a result into an error for this record
        // (only idle pause reads it).
        self.inner.disk.relieve();
        if let Err(err) = self.db().touch_workspace(id).await {
            tracing::warn!(%err, workspace = %id, "recording a workspace's last exec");
        }
        Ok(finished?.to_wire())
    }

    /// Starts a command in one of the caller's workspaces and streams its
    /// events. The exec counts as running in the workspace until the
    /// jail ends; it is killed when the stream's ledger is dropped before
    /// it is closed.
    pub async fn exec_stream(&self, caller: &Caller, id: &str, body: WorkspaceExec) -> Result<JailStream, Error> {
        let Started {
            running,
            slot,
            ledger,
            handle,
        } = self.start_exec(caller, id, body).await?;
        let mut stream = self.inner.runner.stream_started(slot, ledger, handle, STATS_EVERY);
        // Relay the events, holding the workspace until the jail ends: it
        // is free again (and its last exec recorded) before the consumer
        // sees `completed` or `error`.
        let (tx, rx) = mpsc::channel(64);
        let mut events = std::mem::replace(&mut stream.events, rx);
        let (workspaces, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            let mut running = Some(running);
            while let Some(event) = events.recv().await {
                if matches!(event, JailEvent::Completed(_) | JailEvent::Failed(_)) {
                    workspaces.exec_ended(&id, running.take()).await;
                }
                // A consumer that went away has cancelled the jail: drain
                // its events to the end all the same.
                let _ = tx.send(event).await;
            }
            workspaces.exec_ended(&id, running.take()).await;
        });
        Ok(stream)
    }

    /// Frees the workspace after its exec (once) and records the exec.
    async fn exec_ended(&self, id: &str, running: Option<Running>) {
        let Some(running) = running else { return };
        drop(running);
        self.inner.disk.relieve();
        if let Err(err) = self.db().touch_workspace(id).await {
            tracing::error!(%err, workspace = %id, "recording a workspace's last exec");
        }
    }

    /// Checks an exec, counts it in the workspace, resumes a paused tree, and starts the jail under the server's limit
    /// (429); the jail's control is published for snapshots.
    async fn start_exec(&self, caller: &Caller, id: &str, body: WorkspaceExec) -> Result<Started, Error> {
        if body.cmd.is_empty() {
            return Err(Error::new(ErrorCode::BadCmd, "cmd is empty"));
        }
        check_env(&body.env)?;
        self.find(caller, id).await?;
        let slot = self.slot(id);
        // Execs run side by side; only lifecycle operations wait.
        let running = Running::start(slot.clone());
        let maintenance = slot.maintenance.lock().await;
        // Re-read under the lock: a pause or a delete may have happened.
        let row = self
            .db()
            .workspace(&caller.scope(None), id)
            .await?
            .ok_or_else(|| Error::not_found("workspace"))?;
        if row.auto_snapshot.is_some() {
            // Bringing the tree back writes it all: not on a full disk.
            self.inner.disk.ensure_room("resume a paused workspace")?;
            self.resume(&row).await?;
        }
        let spec = StoredSpec::of(&row)?;
        let mut config = JailConfig::new(body.cmd.clone(), body.args.clone());
        let options = limits::options_of(&spec.limits(), body.timeout_secs, body.memory_mb);
        let applied = limits::apply(&options, &mut config)?;
        for (key, value) in body.env {
            config = config.env(key, value);
        }
        let config = self.mount(config, id, &spec);
        self.db().touch_workspace(id).await?;
        let entry = LedgerEntry {
            tenant: row.tenant_id.clone(),
            kind: "workspace",
            session_id: None,
            label: row.label.clone(),
            parent_id: None,
            config: serde_json::json!({ "workspace_id": id, "cmd": body.cmd, "args": body.args, "limits": applied }),
        };
        let jail_slot = self.inner.runner.take_slot(&entry.tenant, &config)?;
        let (ledger, handle) = self.inner.runner.start(&entry, config).await?;
        running.publish(handle.control());
        // From here a snapshot may freeze the jail instead of waiting.
        drop(maintenance);
        Ok(Started {
            running,
            slot: jail_slot,
            ledger,
            handle,
        })
    }
}

pub(crate) fn check_env(env: &[(String, String)]) -> Result<(), Error> {
    if env.len() > MAX_ENV {
        return Err(Error::new(ErrorCode::BadEnv, format!("at most {MAX_ENV} variables")));
    }
    for (name, value) in env {
        let valid = !name.is_empty()
            && name.len() <= 128
            && !name.as_bytes()[0].is_ascii_digit()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid || value.contains('\0') || value.len() > 32 << 10 {
            return Err(Error::new(
                ErrorCode::BadEnv,
                format!("bad variable {name:?}: names are letters, digits and '_'; values at most 32 KiB without NUL"),
            ));
        }
    }
    Ok(())
}

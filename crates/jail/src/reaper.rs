//! Finishes jails' teardown off the critical path.
//!
//! Two kernel operations at the end of a jail are slow and need nobody to
//! wait for them:
//! - freeing a mount namespace unmounts its tree and waits for an RCU grace
//!   period (`synchronize_rcu_expedited` in `namespace_unlock`); if the
//!   jail's init dropped the last reference, that wait would sit between
//!   the command's exit and the host learning of it. The host holds a
//!   reference (`/proc/<pid>/ns/mnt`) and drops it here instead;
//! - dropping the last reference to a jail's detached copy of the host's
//!   mount tree (early pivot, see `setup::mounts`) unmounts it, with the
//!   same wait; the host holds it (through the jail's request socket) so
//!   that the init can close its own copy cheaply;
//! - removing a cgroup (a directory per v1 hierarchy) after its statistics
//!   were read.

use std::os::fd::OwnedFd;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::cgroup::JailCgroup;

/// Something left of a finished jail.
pub(crate) enum Remains {
    MountNamespace(OwnedFd),
    /// A copy of the host's mount tree, or a socket holding one.
    MountTree(OwnedFd),
    Cgroup(Arc<dyn JailCgroup>),
    /// Not a remain: answered once everything queued before it is released.
    Flush(Sender<()>),
}

impl Remains {
    fn release(self) {
        match self {
            Remains::MountNamespace(fd) | Remains::MountTree(fd) => drop(fd),
            Remains::Flush(done) => {
                let _ = done.send(());
            }
            Remains::Cgroup(cgroup) => {
                if let Err(err) = cgroup.remove() {
                    tracing::warn!(%err, ?cgroup, "removing a jail's cgroup");
                }
            }
        }
    }
}

static RELEASER: OnceLock<Option<Mutex<Sender<Remains>>>> = OnceLock::new();

/// Releases `remains` on the background thread (or right here if that
/// thread cannot run).
pub(crate) fn release_later(remains: Remains) {
    let sender = RELEASER.get_or_init(|| {
        let (sender, receiver) = channel::<Remains>();
        std::thread::Builder::new()
            .name("paddock-release".into())
            .spawn(move || receiver.into_iter().for_each(Remains::release))
            .ok()
            .map(|_| Mutex::new(sender))
    });
    let unsent = match sender.as_ref().map(|s| s.lock()) {
        Some(Ok(sender)) => sender.send(remains).err().map(|e| e.0),
        _ => Some(remains),
    };
    if let Some(remains) = unsent {
        remains.release();
    }
}

/// Waits (up to ten seconds) until everything queued so far is released.
pub(crate) fn flush() {
    let (done, wait) = channel();
    release_later(Remains::Flush(done));
    let _ = wait.recv_timeout(std::time::Duration::from_secs(10));
}

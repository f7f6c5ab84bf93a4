//! The state disk: the file system holding the database (when SQLite),
//! workspace trees, snapshots and run outputs.
//!
//! Two guards keep room for the record (the database and its journal):
//!
//! - **The watermark** (`min_free_space`): new work that writes to the disk
//!   (jails, workspace creates, snapshots, forks, restores) is refused with
//!   507 while the space free for the record is below it. Reads and deletes
//!   are never refused.
//! - **The reserve file** (`reserve_space` bytes at `<state_dir>/reserve`,
//!   really allocated): space taken before anything else can take it. The
//!   watermark cannot stop a writer already running (a jail filling its
//!   workspace) or a process outside paddock; when free space falls below
//!   half the watermark, the reserve is deleted, so the database can still
//!   record what happens and the deletes that free space can run. It is
//!   taken again once free space is back above `min_free_space +
//!   reserve_space`, so taking it never brings the disk back under the
//!   watermark.
//!
//! The reserve counts as free for the record: [`DiskStatus::free_bytes`]
//! adds it back while it is held, so holding or giving it up never changes
//! what the watermark decides, and a reserve cannot make the server refuse
//! work forever. The reserve is the part of the watermark that is
//! physically set aside; keep it below half the watermark (the defaults are
//! 256 MiB and 64 MiB).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_api::{Error, ErrorCode};
use tokio_util::sync::CancellationToken;

/// Name of the reserve file in the state directory.
pub const RESERVE_FILE: &str = "reserve";
/// Name of a reserve file being allocated (removed at start if left).
const RESERVE_TEMP: &str = "reserve.tmp";

/// Free space on the state disk, as readiness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskStatus {
    /// Bytes free for the record: what an unprivileged writer may still
    /// use, plus the reserve file while it is held (it is given up before
    /// the record runs short).
    pub free_bytes: u64,
    /// Size of the file system.
    pub total_bytes: u64,
    /// The watermark: below it new work is refused.
    pub min_free_bytes: u64,
    /// The configured size of the reserve file (0: none).
    pub reserve_bytes: u64,
    /// Whether the reserve file is held now.
    pub reserve_held: bool,
}

impl DiskStatus {
    /// Whether new work may start.
    pub fn has_room(&self) -> bool {
        self.free_bytes >= self.min_free_bytes
    }
}

/// What [`StateDisk::prepare`] found and did at startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReserveReport {
    /// The reserve file was held at the end.
    pub held: bool,
    /// The reserve file was given up because the disk was short.
    pub released: bool,
    /// The reserve file was (re)created.
    pub created: bool,
    /// Free space for the record after the decision.
    pub free_bytes: u64,
}

/// The state directory's file system, its watermark and its reserve file.
/// Cheap to clone; clones share the reserve's state.
#[derive(Debug, Clone)]
pub struct StateDisk {
    dir: PathBuf,
    min_free: u64,
    reserve: u64,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The reserve file exists with its full size.
    held: AtomicBool,
    /// Serializes creating and deleting the reserve file.
    changing: Mutex<()>,
    /// The last attempt to take the reserve failed (logged once).
    create_failed: AtomicBool,
}

impl StateDisk {
    /// The disk holding `dir`, keeping `min_free` bytes free, without a
    /// reserve file (see [`StateDisk::with_reserve`]).
    pub fn new(dir: &Path, min_free: u64) -> StateDisk {
        StateDisk {
            dir: dir.to_path_buf(),
            min_free,
            reserve: 0,
            shared: Arc::default(),
        }
    }

    /// The same disk keeping a reserve file of `bytes` (0: none).
    pub fn with_reserve(mut self, bytes: u64) -> StateDisk {
        self.reserve = bytes;
        self
    }

    /// The reserve file's path.
    pub fn reserve_path(&self) -> PathBuf {
        self.dir.join(RESERVE_FILE)
    }

    /// Below this many bytes free outside the reserve, the reserve is
    /// given up: the watermark was passed by something it cannot stop.
    fn release_below(&self) -> u64 {
        self.min_free / 2
    }

    /// Whether the reserve file is held now.
    pub fn reserve_held(&self) -> bool {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// The watermark (`--min-free-space`), bytes.
    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    /// The configured size of the reserve file, bytes.
    pub fn reserve_size(&self) -> u64 {
        self.reserve
    }

    /// Free and total space now (the reserve counted as free while held).
    pub fn status(&self) -> std::io::Result<DiskStatus> {
        let (available, total_bytes) = free_space(&self.dir)?;
        let held = self.reserve_held();
        Ok(DiskStatus {
            free_bytes: available + if held { self.reserve } else { 0 },
            total_bytes,
            min_free_bytes: self.min_free,
            reserve_bytes: self.reserve,
            reserve_held: held,
        })
    }

    /// `Ok` when new work that writes to the state disk (`what`, for the
    /// message) may start; 507 when the disk is below its watermark. Gives
    /// up the reserve first if the disk is that short, so what follows (a
    /// refusal is not recorded, but the work in flight is) finds room.
    pub fn ensure_room(&self, what: &str) -> Result<(), Error> {
        self.relieve();
        let status = self.status().map_err(Error::internal)?;
        if status.has_room() {
            return Ok(());
        }
        // The host path is for the operator's log, not for the client.
        tracing::warn!(
            free_mib = status.free_bytes >> 20,
            min_free_mib = status.min_free_bytes >> 20,
            dir = %self.dir.display(),
            "refused new work: the state disk is below the --min-free-space watermark"
        );
        Err(Error::new(
            ErrorCode::InsufficientStorage,
            format!(
                "cannot {what}: the state disk has {} MiB free, below the --min-free-space watermark of {} MiB; delete workspaces or snapshots, or ask the operator to free space on the state disk",
                status.free_bytes >> 20,
                status.min_free_bytes >> 20,
            ),
        ))
    }

    /// Gives up the reserve file if the space free outside it is below
    /// half the watermark; cheap (one `statvfs`) when nothing is to do.
    /// Called before writes that free space (deletes) and by the monitor.
    /// Returns whether it was given up now.
    pub fn relieve(&self) -> bool {
        if !self.reserve_held() {
            return false;
        }
        match free_space(&self.dir) {
            Ok((available, _)) if available < self.release_below() => self.release(available),
            _ => false,
        }
    }

    /// Deletes the reserve file (`available`: free bytes before, for the
    /// log). Never waits: while the reserve is being allocated (or given
    /// up by another thread) it returns `false` at once, so a request
    /// never waits behind `posix_fallocate`; the monitor tries again the
    /// next second.
    fn release(&self, available: u64) -> bool {
        let _changing = match self.shared.changing.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        if !self.reserve_held() {
            return false;
        }
        match std::fs::remove_file(self.reserve_path()) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::error!(%err, path = %self.reserve_path().display(), "giving up the reserve file");
                return false;
            }
        }
        self.shared.held.store(false, Ordering::SeqCst);
        tracing::warn!(
            free_mib = available >> 20,
            reserve_mib = self.reserve >> 20,
            dir = %self.dir.display(),
            "the state disk is nearly full: reserve file given up so the database can record what happens; new work is refused until free space is back above --min-free-space"
        );
        true
    }

    /// Takes the reserve file when it is not held and free space is above
    /// the watermark plus the reserve (so taking it keeps the disk above
    /// the watermark). Blocking: it allocates the file.
    fn take(&self) -> bool {
        if self.reserve == 0 || self.reserve_held() {
            return false;
        }
        let Ok((available, _)) = free_space(&self.dir) else {
            return false;
        };
        if available < self.min_free.saturating_add(self.reserve) {
            return false;
        }
        let _changing = self.shared.changing.lock().unwrap_or_else(|e| e.into_inner());
        match allocate(&self.dir, self.reserve) {
            Ok(()) => {
                self.shared.held.store(true, Ordering::SeqCst);
                if self.shared.create_failed.swap(false, Ordering::SeqCst) {
                    tracing::info!(reserve_mib = self.reserve >> 20, "reserve file taken again");
                } else {
                    tracing::info!(
                        reserve_mib = self.reserve >> 20,
                        "reserve file taken: the state disk has room again"
                    );
                }
                true
            }
            Err(err) => {
                if !self.shared.create_failed.swap(true, Ordering::SeqCst) {
                    tracing::warn!(%err, path = %self.reserve_path().display(), "cannot allocate the reserve file; retrying");
                }
                false
            }
        }
    }

    /// One check: give up the reserve when the disk is short, take it
    /// again when there is room. Blocking.
    pub fn tend(&self) {
        if !self.relieve() {
            self.take();
        }
    }

    /// Startup: adopts a reserve file left by the previous run (of the
    /// configured size), removes a half-allocated one, gives it up when the
    /// disk is short (so the server starts on a full disk) and takes it
    /// when there is room. Call before the database opens.
    pub fn prepare(&self) -> std::io::Result<ReserveReport> {
        remove_if_present(&self.dir.join(RESERVE_TEMP))?;
        let path = self.reserve_path();
        match std::fs::metadata(&path) {
            Ok(meta) if self.reserve > 0 && meta.is_file() && allocated(&meta) >= self.reserve => {
                self.shared.held.store(true, Ordering::SeqCst);
            }
            // Another size (the setting changed), sparse, or no reserve
            // wanted: start over.
            Ok(_) => remove_if_present(&path)?,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let released = self.relieve();
        let created = !released && self.take();
        let status = self.status()?;
        Ok(ReserveReport {
            held: status.reserve_held,
            released,
            created,
            free_bytes: status.free_bytes,
        })
    }

    /// Tends the reserve every `interval` until `stop`.
    pub async fn monitor(self, interval: Duration, stop: CancellationToken) {
        if self.reserve == 0 {
            return;
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
            let disk = self.clone();
            // Allocation blocks; a panic there only costs this round.
            let _ = tokio::task::spawn_blocking(move || disk.tend()).await;
        }
    }
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Bytes really allocated to a file (not its apparent size).
fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

/// Creates `<dir>/reserve` with `bytes` really allocated (not sparse):
/// allocated under a temporary name, flushed, then renamed, so a reserve
/// file of the wrong size is never taken for a full one.
fn allocate(dir: &Path, bytes: u64) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temp = dir.join(RESERVE_TEMP);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    let allocated = preallocate(&file, bytes).and_then(|()| file.sync_all());
    drop(file);
    if let Err(err) = allocated.and_then(|()| std::fs::rename(&temp, dir.join(RESERVE_FILE))) {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    Ok(())
}

/// Allocates `bytes` to `file`: `fallocate`, or zeros written where the
/// file system cannot preallocate (as `posix_fallocate` does), so the
/// space is used either way.
fn preallocate(file: &std::fs::File, bytes: u64) -> std::io::Result<()> {
    use std::io::Write;
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, bytes) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::OPNOTSUPP) => {
            let zeros = vec![0u8; 1 << 20];
            let mut left = bytes;
            let mut writer = file;
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                writer.write_all(&zeros[..n])?;
                left -= n as u64;
            }
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// `(available to unprivileged writers, total)` bytes of the file system
/// holding `path`.
fn free_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let stat = rustix::fs::statvfs(path)?;
    let fragment = stat.f_frsize;
    Ok((
        stat.f_bavail.saturating_mul(fragment),
        stat.f_blocks.saturating_mul(fragment),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_really_allocated_and_counted_as_free() {
        let dir = tempfile::tempdir().unwrap();
        let disk = StateDisk::new(dir.path(), 1 << 20).with_reserve(4 << 20);
        let report = disk.prepare().unwrap();
        assert!(
            report.held,
            "the reserve was not taken: this test needs 5 MiB free in the temporary directory ({}): {report:?}",
            dir.path().display()
        );
        assert!(report.created);
        let meta = std::fs::metadata(disk.reserve_path()).unwrap();
        assert!(allocated(&meta) >= 4 << 20, "not sparse");
        let status = disk.status().unwrap();
        let (available, _) = free_space(dir.path()).unwrap();
        assert!(status.free_bytes >= available + (4 << 20) - (1 << 20));
        // A restart adopts it instead of allocating again.
        let again = StateDisk::new(dir.path(), 1 << 20).with_reserve(4 << 20);
        let report = again.prepare().unwrap();
        assert!(report.held && !report.created);
        // No reserve wanted: the file goes.
        let none = StateDisk::new(dir.path(), 1 << 20);
        assert!(!none.prepare().unwrap().held);
        assert!(!disk.reserve_path().exists());
    }
}

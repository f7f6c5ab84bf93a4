//! The state disk: the file system holding the database (when SQLite),
//! workspace trees, snapshots and run outputs. New work is refused with
//! 507 while its free space is below the configured reserve, so jails and
//! snapshots cannot take the space the record needs.

use std::path::{Path, PathBuf};

use paddock_api::{Error, ErrorCode};

/// Free space on the state disk, as readiness reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiskStatus {
    /// Bytes an unprivileged writer may still use.
    pub free_bytes: u64,
    /// Size of the file system.
    pub total_bytes: u64,
    /// The configured reserve: below it new work is refused.
    pub min_free_bytes: u64,
}

impl DiskStatus {
    /// Whether new work may start.
    pub fn has_room(&self) -> bool {
        self.free_bytes >= self.min_free_bytes
    }
}

/// The state directory's file system and its free-space reserve.
#[derive(Debug, Clone)]
pub struct StateDisk {
    dir: PathBuf,
    min_free: u64,
}

impl StateDisk {
    /// The disk holding `dir`, keeping `min_free` bytes free.
    pub fn new(dir: &Path, min_free: u64) -> StateDisk {
        StateDisk {
            dir: dir.to_path_buf(),
            min_free,
        }
    }

    /// Free and total space now.
    pub fn status(&self) -> std::io::Result<DiskStatus> {
        let (free_bytes, total_bytes) = free_space(&self.dir)?;
        Ok(DiskStatus {
            free_bytes,
            total_bytes,
            min_free_bytes: self.min_free,
        })
    }

    /// `Ok` when new work that writes to the state disk (`what`, for the
    /// message) may start; 507 when the disk is below its reserve.
    pub fn ensure_room(&self, what: &str) -> Result<(), Error> {
        let status = self.status().map_err(Error::internal)?;
        if status.has_room() {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::InsufficientStorage,
            format!(
                "cannot {what}: the state disk has {} MiB free, below its reserve of {} MiB; delete workspaces or snapshots, or free space on the disk of {}",
                status.free_bytes >> 20,
                status.min_free_bytes >> 20,
                self.dir.display()
            ),
        ))
    }
}

/// `(available to unprivileged writers, total)` bytes of the file system
/// holding `path`.
fn free_space(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path with a NUL byte"))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a
    // valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fragment = stat.f_frsize as u64;
    Ok((stat.f_bavail as u64 * fragment, stat.f_blocks as u64 * fragment))
}

//! The state directory's ownership and permissions, checked at every start.
//!
//! The state directory holds the database (API-key hashes, sealed
//! credentials, ledger output), the master key file, every workspace tree
//! and snapshot blob. A new one is made 0700, but one made by an older
//! version, by hand, or restored from a backup may be 0755 with 0644 files
//! in it, and then every local user reads tenants' files. So at start the
//! server refuses a directory another user owns (that user could read or
//! swap everything), makes its own directory 0700 and the files directly
//! in it owner-only, and logs each change.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Entries only paddock puts in a state directory. A directory readable by
/// others is tightened only when it is empty or holds one of them, so that
/// a mistyped `--state-dir /var/lib` is refused, never made 0700.
const MARKERS: [&str; 7] = [
    "paddock.db",
    "master.key",
    "reserve",
    "blobs",
    "workspaces",
    "flavors",
    "agents",
];

/// Left as it is: a master key file others could read may have leaked, so
/// loading it refuses to start until the operator deals with it (see
/// `MasterKey::load`), rather than being quietly fixed here.
const MASTER_KEY_FILE: &str = "master.key";

/// Why the state directory is refused.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// It is not a directory.
    #[error("the state directory {0} is not a directory")]
    NotADirectory(PathBuf),
    /// Another user owns it.
    #[error(
        "refusing to start: the state directory {path} belongs to uid {owner}, not to this user (uid {me}); that user could read or replace the database, the master key and every workspace. Use a directory of your own (--state-dir), or chown -R it to uid {me}"
    )]
    OwnedByOther {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The server's effective uid.
        me: u32,
    },
    /// Others may read or enter it, and it does not look like paddock's.
    #[error(
        "refusing to start: the state directory {path} is open to other users (mode {mode:04o}) and holds none of paddock's files, so it is not made private on a guess; give paddock an empty directory or one of its own, or chmod 700 it"
    )]
    Shared {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
    },
    /// Reading or changing it failed.
    #[error("the state directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// One permission change made at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    /// The directory or file.
    pub path: PathBuf,
    /// Its mode before.
    pub from: u32,
    /// Its mode now.
    pub to: u32,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateDirError + '_ {
    move |source| StateDirError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks the state directory `dir` (which exists) and tightens it: it
/// must belong to this process's user; it becomes 0700 and the regular
/// files directly in it lose every group and other bit (0644 becomes
/// 0600). Returns what changed (also logged).
pub fn secure(dir: &Path) -> Result<Vec<Tightened>, StateDirError> {
    let meta = std::fs::metadata(dir).map_err(io(dir))?;
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory(dir.to_path_buf()));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(StateDirError::OwnedByOther {
            path: dir.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    let mut changed = Vec::new();
    if mode != 0o700 {
        if mode & 0o077 != 0 && !looks_like_paddocks(dir)? {
            return Err(StateDirError::Shared {
                path: dir.to_path_buf(),
                mode,
            });
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        changed.push(Tightened {
            path: dir.to_path_buf(),
            from: mode,
            to: 0o700,
        });
    }
    changed.extend(secure_files(dir)?);
    Ok(changed)
}

/// Removes group and other bits from the regular files directly in `dir`
/// that this user owns (the database and its journals, the reserve file;
/// not the master key, see [`MASTER_KEY_FILE`]); symlinks and directories
/// are left as they are
/// (the directory itself being 0700 closes everything beneath it). Call it
/// again once the database is open: SQLite creates its files 0644.
pub fn secure_files(dir: &Path) -> Result<Vec<Tightened>, StateDirError> {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let mut changed = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        if entry.file_name() == MASTER_KEY_FILE {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Gone meanwhile (a temporary file).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(io(&path)(err)),
        };
        let mode = meta.mode() & 0o7777;
        if !meta.file_type().is_file() || meta.uid() != me || mode & 0o077 == 0 {
            continue;
        }
        let to = mode & 0o700;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(to)).map_err(io(&path))?;
        changed.push(Tightened { path, from: mode, to });
    }
    Ok(changed)
}

/// Logs each change, so an operator sees what start-up tightened.
pub fn log(changed: &[Tightened]) {
    for change in changed {
        tracing::warn!(
            path = %change.path.display(),
            from = %format!("{:04o}", change.from),
            to = %format!("{:04o}", change.to),
            "state directory permissions tightened"
        );
    }
}

fn looks_like_paddocks(dir: &Path) -> Result<bool, StateDirError> {
    let mut entries = std::fs::read_dir(dir).map_err(io(dir))?.peekable();
    if entries.peek().is_none() {
        return Ok(true);
    }
    Ok(MARKERS.iter().any(|name| dir.join(name).symlink_metadata().is_ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn a_loose_state_directory_and_its_files_become_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::write(state.join("paddock.db"), b"x").unwrap();
        std::fs::write(state.join("other"), b"x").unwrap();
        std::fs::create_dir(state.join("workspaces")).unwrap();
        for (path, mode) in [
            (state.clone(), 0o755),
            (state.join("paddock.db"), 0o644),
            (state.join("other"), 0o640),
            (state.join("workspaces"), 0o755),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let changed = secure(&state).unwrap();
        assert_eq!(changed.len(), 3, "{changed:?}");
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join("paddock.db")), 0o600);
        assert_eq!(mode(&state.join("other")), 0o600);
        // Beneath a 0700 directory nothing else needs changing.
        assert_eq!(mode(&state.join("workspaces")), 0o755);
        // Nothing left to do the second time.
        assert!(secure(&state).unwrap().is_empty());
    }

    #[test]
    fn a_shared_directory_that_is_not_paddocks_is_refused_not_changed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("someone-elses"), b"x").unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = secure(dir.path()).unwrap_err();
        assert!(matches!(err, StateDirError::Shared { mode: 0o755, .. }), "{err}");
        assert_eq!(mode(dir.path()), 0o755);
    }
}

//! Typed errors of the snapshot store.
//!
//! A failing system call is reported as [`StoreError::Io`] with the
//! [`Step`] that failed and the path it worked on, so a message such as
//! "create blob temp file /var/lib/paddock/blobs/tmp/41-7: No space left on
//! device" names the exact place. Refusals (a hostile manifest, a tree that
//! is too large) have their own variants.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::hash::BlobHash;

/// The operation that failed, in [`StoreError::Io`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Creating the pool's directories.
    CreatePool,
    /// Opening the pool's root directory.
    OpenPool,
    /// Opening a directory of the tree being read.
    OpenDir,
    /// Reading a directory's entries.
    ReadDir,
    /// `lstat` of an entry (never follows symlinks).
    Stat,
    /// Opening a regular file to read it.
    OpenFile,
    /// Reading a regular file.
    ReadFile,
    /// Reading a symlink's target.
    ReadLink,
    /// Checking whether a blob exists.
    StatBlob,
    /// Creating a temporary file in the pool.
    CreateTemp,
    /// Writing a temporary file in the pool.
    WriteTemp,
    /// Creating a fan-out directory of the pool.
    CreateFanout,
    /// Renaming a complete temporary file to its blob name.
    PublishBlob,
    /// Flushing the pool's file system (`syncfs`).
    SyncPool,
    /// Opening a blob to restore it.
    OpenBlob,
    /// Creating the restore or copy target.
    CreateTarget,
    /// Creating a directory in the target.
    CreateDir,
    /// Creating a regular file in the target.
    CreateFile,
    /// Reflinking or copying file contents.
    CopyData,
    /// Creating a symlink in the target.
    CreateSymlink,
    /// Setting permission bits.
    SetMode,
    /// Setting timestamps.
    SetTimes,
    /// Removing a garbage blob or a stale temporary file.
    Remove,
    /// Removing a partial target after a failure.
    Cleanup,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::CreatePool => "create pool directory",
            Step::OpenPool => "open pool",
            Step::OpenDir => "open directory",
            Step::ReadDir => "read directory",
            Step::Stat => "lstat",
            Step::OpenFile => "open file",
            Step::ReadFile => "read file",
            Step::ReadLink => "read symlink",
            Step::StatBlob => "stat blob",
            Step::CreateTemp => "create blob temp file",
            Step::WriteTemp => "write blob temp file",
            Step::CreateFanout => "create pool fan-out directory",
            Step::PublishBlob => "rename blob into place",
            Step::SyncPool => "syncfs pool",
            Step::OpenBlob => "open blob",
            Step::CreateTarget => "create target",
            Step::CreateDir => "create directory",
            Step::CreateFile => "create file",
            Step::CopyData => "reflink or copy",
            Step::CreateSymlink => "create symlink",
            Step::SetMode => "set mode",
            Step::SetTimes => "set times",
            Step::Remove => "remove",
            Step::Cleanup => "remove partial target",
        })
    }
}

/// Errors of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A system call failed.
    #[error("{step} {}: {source}", path.display())]
    Io {
        step: Step,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A manifest entry is refused by restore's validation (nothing was
    /// written).
    #[error("manifest entry {index} ({path:?}) refused: {reason}")]
    InvalidEntry {
        index: usize,
        path: String,
        reason: &'static str,
    },

    /// A manifest names a blob the pool does not have.
    #[error("blob {hash} (for {path:?}) is missing from the pool {}", pool.display())]
    MissingBlob {
        hash: BlobHash,
        path: String,
        pool: PathBuf,
    },

    /// A blob's size differs from its manifest entry's.
    #[error("blob {hash} (for {path:?}) has {found} bytes, the manifest says {expected}")]
    BlobSize {
        hash: BlobHash,
        path: String,
        expected: u64,
        found: u64,
    },

    /// The tree is nested deeper than the limit.
    #[error("{} is nested deeper than {max} directories", path.display())]
    TooDeep { path: PathBuf, max: usize },

    /// The tree or manifest has more entries than the limit.
    #[error("{} has more than {max} entries", path.display())]
    TooManyEntries { path: PathBuf, max: usize },

    /// The tree to snapshot or copy is not a directory (or is a symlink).
    #[error("{} is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    /// The restore or copy target already exists.
    #[error("target {} already exists", path.display())]
    TargetExists { path: PathBuf },

    /// A string is not a 64-digit hex BLAKE3 hash.
    #[error("invalid blob hash {0:?}")]
    InvalidHash(String),
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Builds a [`StoreError::Io`] from a rustix error.
pub(crate) fn io_err(step: Step, path: impl Into<PathBuf>, errno: rustix::io::Errno) -> StoreError {
    StoreError::Io {
        step,
        path: path.into(),
        source: errno.into(),
    }
}

/// Builds a [`StoreError::Io`] from a std error.
pub(crate) fn std_err(step: Step, path: impl Into<PathBuf>, source: io::Error) -> StoreError {
    StoreError::Io {
        step,
        path: path.into(),
        source,
    }
}

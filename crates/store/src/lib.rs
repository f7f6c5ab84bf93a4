//! paddock's content-addressed snapshot store (ARCHITECTURE decision 8).
//!
//! A [`BlobPool`] keeps file contents keyed by BLAKE3-256. [`snapshot`]
//! walks a directory (never following a symlink) into a [`Manifest`] and
//! stores new contents; given the [`StatCache`] of the previous snapshot of
//! the same tree, it reads only files that changed. [`restore`] validates a
//! manifest and materializes it into a new directory by reflink or copy,
//! never by hard link, without setuid, setgid or sticky bits.
//! [`BlobPool::gc`] removes blobs no committed manifest refers to.
//! [`tree::copy_tree`] copies a live tree for forks. [`volume`] keeps a
//! tree on a size-limited file system of its own.
//!
//! ```no_run
//! use std::collections::HashSet;
//! use std::path::Path;
//! use std::time::Duration;
//!
//! fn main() -> Result<(), paddock_store::StoreError> {
//!     let pool = paddock_store::BlobPool::open("/var/lib/paddock/blobs")?;
//!     let first = paddock_store::snapshot(&pool, Path::new("/srv/work"), None)?;
//!     // ... commit first.manifest and keep first.cache for the workspace ...
//!     let again = paddock_store::snapshot(&pool, Path::new("/srv/work"), Some(&first.cache))?;
//!     // Files unchanged since the first snapshot are not read again.
//!     println!("read {} files, reused {}", again.stats.files_hashed, again.stats.files_reused);
//!     let restored = paddock_store::restore(&pool, &again.manifest, Path::new("/srv/copy"))?;
//!     println!("restored by {}", restored.stats.method.as_str());
//!     let live: HashSet<_> = again.manifest.blobs().copied().collect();
//!     pool.gc(&live, Duration::from_secs(3600))?;
//!     Ok(())
//! }
//! ```
//!
//! The crate knows nothing of HTTP, databases or cgroups: the caller
//! persists manifests and stat caches, and freezes the jail whose tree it
//! snapshots or copies.

mod cache;
mod error;
mod hash;
mod manifest;
mod pool;
mod restore;
mod snapshot;
mod sys;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tree;
pub mod volume;

pub use cache::{CachedStat, StatCache, RACY_WINDOW};
pub use error::{Result, Step, StoreError};
pub use hash::BlobHash;
pub use manifest::{Entry, EntryKind, Limits, Manifest};
pub use pool::{BlobPool, GcStats};
pub use restore::{restore, restore_with, Method, RestoreStats, Restored};
pub use snapshot::{snapshot, snapshot_with, Snapshot, SnapshotStats};
pub use sys::reflink_supported;

/// Serde for a [`std::time::Duration`] as fractional milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64() * 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(ms / 1000.0).map_err(serde::de::Error::custom)
    }
}

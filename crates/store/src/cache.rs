//! The stat cache that makes snapshots incremental.
//!
//! For each regular file of a tree it remembers `(size, mtime, ctime,
//! inode)` and the file's hash. The next snapshot of the same tree reuses the
//! hash of a file whose four values are unchanged, without reading it.
//! `mtime` alone is not enough against a hostile jail, which can rewrite a
//! file and set its mtime back (`touch -d`, `utimensat`); it cannot set the
//! ctime, which the kernel moves to "now" on every write, chmod and
//! utimensat, and a replaced file has a new inode.
//!
//! One window remains on kernels whose timestamps are coarse (the clock
//! tick; multigrain timestamps in Linux 6.13+ close it on ext4, xfs, btrfs
//! and tmpfs): a file changed within one tick of the moment it was recorded
//! could get the same ctime again. As in git's "racily clean" rule, a
//! snapshot's entries whose ctime is within [`RACY_WINDOW`] of the moment
//! the snapshot ended are not trusted next time: those files are read again.
//! Entries recorded by a restore are trusted (the files were written by the
//! store itself, before any jail ran on them).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hash::BlobHash;

/// Files whose ctime is this close to the end of the snapshot that
/// recorded them are read again by the next snapshot (two ticks at the
/// coarsest kernel clock, `HZ=100`).
pub const RACY_WINDOW: Duration = Duration::from_millis(20);

/// What a snapshot or restore saw of one regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, ns since the epoch.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
    /// The file's contents.
    pub hash: BlobHash,
}

/// Which pool (and which of its garbage collections) a cache was made
/// against: while it matches, every hash in the cache names a blob that is
/// still in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PoolStamp {
    pub(crate) instance: u64,
    pub(crate) generation: u64,
}

/// Path → what was seen of that file, returned by
/// [`snapshot`](crate::snapshot) and [`restore`](crate::restore) and given
/// back to the next `snapshot` of the same tree. Serializable, so the
/// caller can keep it per workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatCache {
    #[serde(default)]
    pub(crate) pool: Option<PoolStamp>,
    /// End of the snapshot that recorded the entries (ns since the epoch),
    /// for the racy rule; `None` when a restore recorded them.
    #[serde(default)]
    pub(crate) taken_ns: Option<i64>,
    #[serde(default)]
    pub(crate) files: HashMap<String, CachedStat>,
}

impl StatCache {
    /// An empty cache (the next snapshot reads every file).
    pub fn new() -> Self {
        StatCache::default()
    }

    /// Number of files remembered.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether no file is remembered.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// What was seen of the file at `path`.
    pub fn get(&self, path: &str) -> Option<&CachedStat> {
        self.files.get(path)
    }

    /// The hash to reuse for `path` if `seen` matches the cached entry in
    /// size, mtime, ctime and inode and the entry is not racy.
    pub(crate) fn reusable(&self, path: &str, seen: &CachedStat) -> Option<BlobHash> {
        let cached = self.files.get(path)?;
        let same = cached.size == seen.size
            && cached.mtime_ns == seen.mtime_ns
            && cached.ctime_ns == seen.ctime_ns
            && cached.ino == seen.ino;
        let racy = self
            .taken_ns
            .is_some_and(|taken| cached.ctime_ns >= taken.saturating_sub(RACY_WINDOW.as_nanos() as i64));
        (same && !racy).then_some(cached.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(ctime_ns: i64) -> CachedStat {
        CachedStat {
            size: 4,
            mtime_ns: 1,
            ctime_ns,
            ino: 7,
            hash: BlobHash::of(b"data"),
        }
    }

    #[test]
    fn reuses_only_an_exact_match_that_is_not_racy() {
        let now = 10_000_000_000;
        let mut cache = StatCache {
            taken_ns: Some(now),
            ..StatCache::default()
        };
        cache.files.insert("old".into(), stat(now - 1_000_000_000));
        cache.files.insert("racy".into(), stat(now - 1_000_000));
        assert!(cache.reusable("old", &stat(now - 1_000_000_000)).is_some());
        assert!(cache.reusable("racy", &stat(now - 1_000_000)).is_none());
        let mut moved = stat(now - 1_000_000_000);
        moved.ino = 8;
        assert!(cache.reusable("old", &moved).is_none());
        let mut rewritten = stat(now - 1_000_000_000);
        rewritten.ctime_ns += 1;
        assert!(cache.reusable("old", &rewritten).is_none());
        assert!(cache.reusable("missing", &stat(0)).is_none());
        cache.taken_ns = None;
        assert!(cache.reusable("racy", &stat(now - 1_000_000)).is_some());
    }

    #[test]
    fn round_trips_through_json() {
        let mut cache = StatCache::new();
        cache.files.insert("a/b".into(), stat(5));
        cache.pool = Some(PoolStamp {
            instance: u64::MAX,
            generation: 3,
        });
        let json = serde_json::to_string(&cache).unwrap();
        assert_eq!(serde_json::from_str::<StatCache>(&json).unwrap(), cache);
    }
}

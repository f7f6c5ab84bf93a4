//! Restoring a snapshot: materialize a [`Manifest`] into a new directory.
//!
//! Every entry is validated before anything is written
//! ([`Manifest::validate_with`]). Then each entry is created relative to
//! its parent's open directory descriptor: directories with `mkdirat`,
//! files with `O_CREAT | O_EXCL | O_NOFOLLOW`, symlinks with `symlinkat`
//! (their target kept verbatim and never followed). Files get their
//! contents by reflink from the blob where the file system can, by a
//! hole-preserving copy otherwise (a sparse blob restores sparse), never
//! by hard link: writing a restored file changes neither the pool nor
//! another restore (threat model row 22). Setuid, setgid and sticky bits
//! are dropped (rows 15, 21); directories keep at least owner `rwx`, so
//! the caller can always remove them. On any error the partial target is
//! removed.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{self as rfs, AtFlags, Mode};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::cache::{CachedStat, StatCache};
use crate::error::{io_err, std_err, Result, Step, StoreError};
use crate::manifest::{tree_order, Entry, EntryKind, Limits, Manifest};
use crate::pool::BlobPool;
use crate::sys::{self, Cloner};

/// How file contents were produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every file was reflinked (copy-on-write clones).
    Reflink,
    /// No file was reflinked (or there were no files).
    #[default]
    Copy,
    /// Some files were reflinked, some copied.
    Mixed,
}

impl Method {
    /// From the number of reflinked files out of all files.
    pub fn from_counts(reflinked: u64, files: u64) -> Method {
        match (reflinked, files) {
            (0, _) => Method::Copy,
            (r, f) if r == f => Method::Reflink,
            _ => Method::Mixed,
        }
    }

    /// `reflink`, `copy` or `mixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Reflink => "reflink",
            Method::Copy => "copy",
            Method::Mixed => "mixed",
        }
    }
}

/// What [`restore`] returns.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The stat cache of the restored tree, so the first snapshot after a
    /// restore reads nothing that was not changed.
    pub cache: StatCache,
    /// What the restore did.
    pub stats: RestoreStats,
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestoreStats {
    /// Regular files restored.
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symlinks restored.
    pub symlinks: u64,
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Files reflinked from their blob rather than copied.
    pub files_reflinked: u64,
    /// `reflink`, `copy` or `mixed`.
    pub method: Method,
    /// Wall time of the whole call.
    #[serde(rename = "elapsed_ms", with = "crate::duration_ms")]
    pub elapsed: Duration,
}

/// Restores `manifest` from `pool` into `target`, which must not exist
/// (its parent must), with the default [`Limits`].
pub fn restore(pool: &BlobPool, manifest: &Manifest, target: &Path) -> Result<Restored> {
    restore_with(pool, manifest, target, &Limits::default())
}

/// [`restore`] with explicit limits on the manifest.
pub fn restore_with(pool: &BlobPool, manifest: &Manifest, target: &Path, limits: &Limits) -> Result<Restored> {
    let started = Instant::now();
    manifest.validate_with(limits)?;
    // Depth first, so each entry's parent is the innermost open directory.
    let mut order: Vec<&Entry> = manifest.entries.iter().collect();
    if !order.is_sorted_by(|a, b| tree_order(&a.path, &b.path).is_le()) {
        order.sort_by(|a, b| tree_order(&a.path, &b.path));
    }
    match rfs::mkdir(target, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Err(StoreError::TargetExists { path: target.into() }),
        Err(e) => return Err(io_err(Step::CreateTarget, target, e)),
    }
    let result = sys::open_tree(target)
        .map_err(|e| io_err(Step::CreateTarget, target, e))
        .and_then(|root| {
            let _shared = pool.shared();
            let stamp = pool.stamp();
            let mut run = Run {
                pool,
                target,
                cloner: Cloner::new(),
                cache: HashMap::with_capacity(order.len()),
                stats: RestoreStats::default(),
            };
            run.entries(root, &order)?;
            pool.touch(manifest.blobs());
            Ok((run, stamp))
        });
    match result {
        Ok((run, stamp)) => {
            let mut stats = run.stats;
            stats.method = Method::from_counts(stats.files_reflinked, stats.files);
            stats.elapsed = started.elapsed();
            Ok(Restored {
                cache: StatCache {
                    pool: Some(stamp),
                    taken_ns: None,
                    files: run.cache,
                },
                stats,
            })
        }
        Err(err) => {
            // std's remove_dir_all never follows symlinks.
            if let Err(cleanup) = std::fs::remove_dir_all(target) {
                return Err(std_err(Step::Cleanup, target, cleanup));
            }
            Err(err)
        }
    }
}

struct Run<'a> {
    pool: &'a BlobPool,
    target: &'a Path,
    cloner: Cloner,
    cache: HashMap<String, CachedStat>,
    stats: RestoreStats,
}

/// An open directory of the target and the entry it was made from (`None`
/// for the target itself).
struct Open<'e> {
    path: &'e str,
    fd: OwnedFd,
    entry: Option<&'e Entry>,
}

impl<'e> Run<'_> {
    fn full(&self, rel: &str) -> PathBuf {
        self.target.join(rel)
    }

    fn entries(&mut self, root: OwnedFd, order: &[&'e Entry]) -> Result<()> {
        let mut stack: Vec<Open<'e>> = vec![Open {
            path: "",
            fd: root,
            entry: None,
        }];
        for entry in order {
            let (parent, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
            while stack.last().is_some_and(|top| top.path != parent) {
                if let Some(done) = stack.pop() {
                    self.finish_dir(done)?;
                }
            }
            let Some(top) = stack.last() else {
                // Unreachable after validation and ordering; refuse anyway.
                return Err(StoreError::InvalidEntry {
                    index: 0,
                    path: entry.path.clone(),
                    reason: "its parent is not an earlier directory entry",
                });
            };
            let dir = top.fd.as_fd();
            match entry.kind {
                EntryKind::Dir => {
                    rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| io_err(Step::CreateDir, self.full(&entry.path), e))?;
                    let fd =
                        sys::open_dir_at(dir, name).map_err(|e| io_err(Step::OpenDir, self.full(&entry.path), e))?;
                    self.stats.dirs += 1;
                    stack.push(Open {
                        path: &entry.path,
                        fd,
                        entry: Some(entry),
                    });
                }
                EntryKind::File => self.file(dir, name, entry)?,
                EntryKind::Symlink => {
                    let target = entry.target.as_deref().unwrap_or_default();
                    rfs::symlinkat(target, dir, name)
                        .map_err(|e| io_err(Step::CreateSymlink, self.full(&entry.path), e))?;
                    rfs::utimensat(dir, name, &sys::mtime_only(entry.mtime_ns), AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io_err(Step::SetTimes, self.full(&entry.path), e))?;
                    self.stats.symlinks += 1;
                }
            }
        }
        while let Some(done) = stack.pop() {
            self.finish_dir(done)?;
        }
        Ok(())
    }

    /// Sets a directory's mode and mtime once its children exist (creating
    /// them moved the mtime). The target itself gets 0755.
    fn finish_dir(&self, done: Open<'_>) -> Result<()> {
        let (mode, mtime) = match done.entry {
            Some(entry) => ((entry.mode & 0o777) | 0o700, Some(entry.mtime_ns)),
            None => (0o755, None),
        };
        let path = || {
            if done.path.is_empty() {
                self.target.to_path_buf()
            } else {
                self.full(done.path)
            }
        };
        rfs::fchmod(&done.fd, Mode::from_raw_mode(mode)).map_err(|e| io_err(Step::SetMode, path(), e))?;
        if let Some(mtime) = mtime {
            rfs::futimens(&done.fd, &sys::mtime_only(mtime)).map_err(|e| io_err(Step::SetTimes, path(), e))?;
        }
        Ok(())
    }

    fn file(&mut self, dir: std::os::fd::BorrowedFd<'_>, name: &str, entry: &Entry) -> Result<()> {
        let Some(hash) = entry.hash else {
            return Err(StoreError::InvalidEntry {
                index: 0,
                path: entry.path.clone(),
                reason: "a file without a hash",
            });
        };
        let blob = self.pool.open_blob(&hash)?.ok_or_else(|| StoreError::MissingBlob {
            hash,
            path: entry.path.clone(),
            pool: self.pool.root().into(),
        })?;
        let blob_st = rfs::fstat(&blob).map_err(|e| io_err(Step::OpenBlob, self.pool.blob_path(&hash), e))?;
        if blob_st.st_size as u64 != entry.size {
            return Err(StoreError::BlobSize {
                hash,
                path: entry.path.clone(),
                expected: entry.size,
                found: blob_st.st_size as u64,
            });
        }
        let target = self.target;
        let path = || target.join(&entry.path);
        let out = sys::create_file_at(dir, name, 0o600).map_err(|e| io_err(Step::CreateFile, path(), e))?;
        let reflinked = self
            .cloner
            .clone_file(blob.as_fd(), out.as_fd())
            .map_err(|e| io_err(Step::CopyData, path(), e))?;
        rfs::fchmod(&out, Mode::from_raw_mode(entry.mode & 0o777)).map_err(|e| io_err(Step::SetMode, path(), e))?;
        rfs::futimens(&out, &sys::mtime_only(entry.mtime_ns)).map_err(|e| io_err(Step::SetTimes, path(), e))?;
        let st = rfs::fstat(&out).map_err(|e| io_err(Step::Stat, path(), e))?;
        self.cache.insert(
            entry.path.clone(),
            CachedStat {
                size: st.st_size as u64,
                mtime_ns: sys::mtime_ns(&st),
                ctime_ns: sys::ctime_ns(&st),
                ino: st.st_ino,
                hash,
            },
        );
        self.stats.files += 1;
        self.stats.files_reflinked += reflinked as u64;
        self.stats.bytes += entry.size;
        Ok(())
    }
}

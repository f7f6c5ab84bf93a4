//! Taking a snapshot: walk a tree, record its directories, regular files
//! and symlinks in a [`Manifest`], and store new file contents in the pool.
//!
//! The walk never follows a symlink: every directory is opened relative to
//! its parent with `O_NOFOLLOW | O_DIRECTORY`, every entry is examined with
//! `lstat` (or its directory entry type) relative to its directory, and
//! files are opened with `O_NOFOLLOW | O_NONBLOCK` (a FIFO swapped in does
//! not block). FIFOs, sockets and devices are skipped and counted, as are
//! names that are not UTF-8 (a manifest is JSON). Depth and entry count are
//! bounded.
//!
//! The walk itself is sequential; files that must be read are collected and
//! read, hashed and written to the pool by a few threads at a time (up to
//! 1024 files and 64 open directories per round, so a huge tree never holds
//! many descriptors).
//!
//! The tree should not change during the walk (the caller freezes the jail
//! that writes it); a file that does is recorded as read, and is read again
//! by the next snapshot; one that is replaced by something else than a
//! regular file while the walk runs is left out.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustix::fs::{FileType, Stat};
use rustix::io::Errno;
use serde::{Deserialize, Serialize};

use crate::cache::{CachedStat, StatCache};
use crate::error::{io_err, Result, Step, StoreError};
use crate::hash::BlobHash;
use crate::manifest::{Entry, EntryKind, Limits, Manifest};
use crate::pool::{Batch, BlobPool};
use crate::sys;

/// Files up to this size are read whole into memory before their blob is
/// written; larger ones are streamed to a temporary file as they are hashed.
const BUFFER: usize = 1 << 20;
/// Most files collected before they are read.
const MAX_JOBS: usize = 1024;
/// Most directories kept open for collected files.
const MAX_HELD_DIRS: usize = 64;
/// Fewest files worth a thread of their own.
const MIN_JOBS_PER_THREAD: usize = 32;

/// What [`snapshot`] returns.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The tree's entries; every file's blob is durable in the pool.
    pub manifest: Manifest,
    /// Give this back to the next snapshot of the same tree.
    pub cache: StatCache,
    /// What the snapshot did.
    pub stats: SnapshotStats,
}

/// What a snapshot did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Regular files recorded.
    pub files: u64,
    /// Directories recorded.
    pub dirs: u64,
    /// Symlinks recorded.
    pub symlinks: u64,
    /// Bytes of the regular files.
    pub bytes: u64,
    /// Files read and hashed.
    pub files_hashed: u64,
    /// Files whose hash was reused from the stat cache without reading.
    pub files_reused: u64,
    /// New blobs written to the pool.
    pub blobs_written: u64,
    /// Bytes of the new blobs.
    pub bytes_written: u64,
    /// FIFOs, sockets and devices skipped.
    pub skipped_specials: u64,
    /// Entries skipped because their name or symlink target is not UTF-8.
    pub skipped_names: u64,
    /// Wall time of the whole call.
    #[serde(rename = "elapsed_ms", with = "crate::duration_ms")]
    pub elapsed: Duration,
}

/// Snapshots `tree` into `pool` with the default [`Limits`]. `previous` is
/// the stat cache returned by the previous snapshot (or restore) of the
/// same tree; files it vouches for are not read again.
pub fn snapshot(pool: &BlobPool, tree: &Path, previous: Option<&StatCache>) -> Result<Snapshot> {
    snapshot_with(pool, tree, previous, &Limits::default())
}

/// [`snapshot`] with explicit limits; exceeding one is an error
/// ([`StoreError::TooDeep`], [`StoreError::TooManyEntries`]).
pub fn snapshot_with(pool: &BlobPool, tree: &Path, previous: Option<&StatCache>, limits: &Limits) -> Result<Snapshot> {
    let started = Instant::now();
    let root = sys::open_tree(tree).map_err(|e| match e {
        Errno::NOTDIR | Errno::LOOP => StoreError::NotADirectory { path: tree.into() },
        e => io_err(Step::OpenDir, tree, e),
    })?;
    // No blob disappears while this is held; the stamp is stable with it.
    let _shared = pool.shared();
    let stamp = pool.stamp();
    let batch = Batch::new(pool);
    let mut walk = Walk {
        tree,
        limits,
        previous,
        // The previous cache's blobs are known to exist only if no
        // collection removed anything since it was made.
        trust_blobs: previous.is_some_and(|p| p.pool == Some(stamp)),
        batch: &batch,
        threads: pool.threads(),
        entries: Vec::new(),
        cache: HashMap::with_capacity(previous.map_or(0, |p| p.len())),
        stats: SnapshotStats::default(),
        jobs: Vec::new(),
        held_dirs: 0,
        buf: Vec::new(),
        seen: 0,
    };
    walk.dir(Arc::new(root), "", 0)?;
    walk.flush()?;
    let Walk {
        mut entries,
        cache,
        mut stats,
        threads,
        ..
    } = walk;
    // Files that vanished or changed kind while collected.
    entries.retain(|e| e.kind != EntryKind::File || e.hash.is_some());
    stats.bytes_written = batch.bytes_written();
    stats.blobs_written = batch.commit(threads)?;
    let manifest = Manifest { entries };
    pool.touch(manifest.blobs());
    let taken_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    stats.elapsed = started.elapsed();
    Ok(Snapshot {
        manifest,
        cache: StatCache {
            pool: Some(stamp),
            taken_ns: Some(taken_ns),
            files: cache,
        },
        stats,
    })
}

/// A regular file to read: where it is, and the manifest slot it fills.
struct Job {
    slot: usize,
    dir: Arc<OwnedFd>,
    name: CString,
}

/// A file read and stored.
struct Done {
    slot: usize,
    st: Stat,
    hash: BlobHash,
    size: u64,
}

struct Walk<'a> {
    tree: &'a Path,
    limits: &'a Limits,
    previous: Option<&'a StatCache>,
    trust_blobs: bool,
    batch: &'a Batch<'a>,
    threads: usize,
    entries: Vec<Entry>,
    cache: HashMap<String, CachedStat>,
    stats: SnapshotStats,
    jobs: Vec<Job>,
    held_dirs: usize,
    buf: Vec<u8>,
    seen: usize,
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        let mut path = String::with_capacity(prefix.len() + 1 + name.len());
        path.push_str(prefix);
        path.push('/');
        path.push_str(name);
        path
    }
}

fn seen_of(st: &Stat, hash: BlobHash) -> CachedStat {
    CachedStat {
        size: st.st_size as u64,
        mtime_ns: sys::mtime_ns(st),
        ctime_ns: sys::ctime_ns(st),
        ino: st.st_ino,
        hash,
    }
}

fn full(tree: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        tree.to_path_buf()
    } else {
        tree.join(rel)
    }
}

impl Walk<'_> {
    fn full(&self, rel: &str) -> PathBuf {
        full(self.tree, rel)
    }

    /// Records the entries of the directory `dir` (at `prefix`, `depth`
    /// components below the top).
    fn dir(&mut self, dir: Arc<OwnedFd>, prefix: &str, depth: usize) -> Result<()> {
        let names = sys::read_names(dir.as_fd(), &|| self.full(prefix))?;
        let mut holding = false;
        for (name, d_type) in names {
            self.seen += 1;
            if self.seen > self.limits.max_entries {
                return Err(StoreError::TooManyEntries {
                    path: self.tree.into(),
                    max: self.limits.max_entries,
                });
            }
            let Some(text) = sys::utf8(&name) else {
                self.stats.skipped_names += 1;
                continue;
            };
            let path = join(prefix, text);
            // A regular file nobody remembers is read without an lstat (the
            // reader's fstat is all it needs); everything else is lstat-ed.
            let unknown = self.previous.is_none_or(|p| p.get(&path).is_none());
            if d_type == FileType::RegularFile && unknown {
                self.collect(&dir, name, path, &mut holding)?;
                continue;
            }
            let st = match sys::lstat_at(dir.as_fd(), name.as_c_str()) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err(Step::Stat, self.full(&path), e)),
            };
            match sys::file_type(&st) {
                FileType::Directory => {
                    if depth + 1 > self.limits.max_depth {
                        return Err(StoreError::TooDeep {
                            path: self.full(&path),
                            max: self.limits.max_depth,
                        });
                    }
                    let sub = match sys::open_dir_at(dir.as_fd(), name.as_c_str()) {
                        Ok(fd) => fd,
                        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                        Err(e) => return Err(io_err(Step::OpenDir, self.full(&path), e)),
                    };
                    self.entries.push(Entry {
                        path: path.clone(),
                        kind: EntryKind::Dir,
                        mode: st.st_mode & 0o7777,
                        size: 0,
                        hash: None,
                        target: None,
                        mtime_ns: sys::mtime_ns(&st),
                    });
                    self.stats.dirs += 1;
                    self.dir(Arc::new(sub), &path, depth + 1)?;
                }
                FileType::RegularFile => {
                    if !self.reuse(&path, &st)? {
                        self.collect(&dir, name, path, &mut holding)?;
                    }
                }
                FileType::Symlink => self.symlink(dir.as_fd(), &name, path, &st)?,
                _ => self.stats.skipped_specials += 1,
            }
        }
        Ok(())
    }

    /// Reuses the cached hash of an unchanged file. `false` if the file must
    /// be read.
    fn reuse(&mut self, path: &str, st: &Stat) -> Result<bool> {
        let Some(previous) = self.previous else {
            return Ok(false);
        };
        let seen = seen_of(st, BlobHash::of(b""));
        let Some(hash) = previous.reusable(path, &seen) else {
            return Ok(false);
        };
        // A cache made before a collection may name a removed blob: then
        // the file is read again (and its blob rewritten).
        if !self.trust_blobs && self.batch.need(&hash, seen.size)?.is_some() {
            return Ok(false);
        }
        self.cache.insert(path.to_owned(), seen_of(st, hash));
        self.entries.push(Entry {
            path: path.to_owned(),
            kind: EntryKind::File,
            mode: st.st_mode & 0o7777,
            size: seen.size,
            hash: Some(hash),
            target: None,
            mtime_ns: sys::mtime_ns(st),
        });
        self.stats.files += 1;
        self.stats.bytes += seen.size;
        self.stats.files_reused += 1;
        Ok(true)
    }

    /// Queues the regular file `name` of `dir` to be read, in a placeholder
    /// entry filled by [`flush`](Self::flush).
    fn collect(&mut self, dir: &Arc<OwnedFd>, name: CString, path: String, holding: &mut bool) -> Result<()> {
        if !*holding {
            *holding = true;
            self.held_dirs += 1;
        }
        self.jobs.push(Job {
            slot: self.entries.len(),
            dir: dir.clone(),
            name,
        });
        self.entries.push(Entry {
            path,
            kind: EntryKind::File,
            mode: 0,
            size: 0,
            hash: None,
            target: None,
            mtime_ns: 0,
        });
        if self.jobs.len() >= MAX_JOBS || self.held_dirs >= MAX_HELD_DIRS {
            self.flush()?;
            // This directory stays held by its own later files.
            *holding = false;
        }
        Ok(())
    }

    /// Reads, hashes and stores the collected files, on up to `threads`
    /// threads, and fills their entries.
    fn flush(&mut self) -> Result<()> {
        let jobs = std::mem::take(&mut self.jobs);
        self.held_dirs = 0;
        if jobs.is_empty() {
            return Ok(());
        }
        let threads = self.threads.min(jobs.len() / MIN_JOBS_PER_THREAD).max(1);
        let next = AtomicUsize::new(0);
        let (batch, tree, entries) = (self.batch, self.tree, &self.entries);
        let read = |buf: &mut Vec<u8>| read_jobs(batch, tree, entries, &jobs, &next, buf);
        let done: Vec<Done> = if threads == 1 {
            read(&mut self.buf)?
        } else {
            let results: Vec<Result<Vec<Done>>> = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads).map(|_| scope.spawn(|| read(&mut Vec::new()))).collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join().unwrap_or_else(|_| {
                            Err(StoreError::Io {
                                step: Step::ReadFile,
                                path: tree.into(),
                                source: std::io::Error::other("a reading thread panicked"),
                            })
                        })
                    })
                    .collect()
            });
            let mut all = Vec::with_capacity(jobs.len());
            for result in results {
                all.extend(result?);
            }
            all
        };
        for Done { slot, st, hash, size } in done {
            // A file that changed while it was read is not cached.
            if size == st.st_size as u64 {
                self.cache.insert(self.entries[slot].path.clone(), seen_of(&st, hash));
            }
            let entry = &mut self.entries[slot];
            entry.mode = st.st_mode & 0o7777;
            entry.size = size;
            entry.hash = Some(hash);
            entry.mtime_ns = sys::mtime_ns(&st);
            self.stats.files += 1;
            self.stats.bytes += size;
            self.stats.files_hashed += 1;
        }
        Ok(())
    }

    fn symlink(&mut self, dir: BorrowedFd<'_>, name: &CStr, path: String, st: &Stat) -> Result<()> {
        let target = match rustix::fs::readlinkat(dir, name, Vec::new()) {
            Ok(target) => target,
            Err(Errno::NOENT | Errno::INVAL) => return Ok(()),
            Err(e) => return Err(io_err(Step::ReadLink, self.full(&path), e)),
        };
        let Ok(target) = target.into_string() else {
            self.stats.skipped_names += 1;
            return Ok(());
        };
        self.entries.push(Entry {
            path,
            kind: EntryKind::Symlink,
            mode: st.st_mode & 0o7777,
            size: target.len() as u64,
            hash: None,
            target: Some(target),
            mtime_ns: sys::mtime_ns(st),
        });
        self.stats.symlinks += 1;
        Ok(())
    }
}

/// Takes jobs from `jobs` (the next index in `next`) until none is left;
/// a file that vanished or is no longer a regular file is left out.
fn read_jobs(
    batch: &Batch<'_>,
    tree: &Path,
    entries: &[Entry],
    jobs: &[Job],
    next: &AtomicUsize,
    buf: &mut Vec<u8>,
) -> Result<Vec<Done>> {
    let mut done = Vec::new();
    loop {
        let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(done);
        };
        let path = || full(tree, &entries[job.slot].path);
        let fd = match sys::open_file_at(job.dir.as_fd(), job.name.as_c_str()) {
            Ok(fd) => fd,
            // Gone, or replaced by a symlink or a FIFO.
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => continue,
            Err(e) => return Err(io_err(Step::OpenFile, path(), e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err(Step::Stat, path(), e))?;
        if sys::file_type(&st) != FileType::RegularFile {
            continue;
        }
        let (hash, size) = store(batch, buf, fd.as_fd(), st.st_size as u64, &path)?;
        done.push(Done {
            slot: job.slot,
            st,
            hash,
            size,
        });
    }
}

/// Reads the file `fd` (about `size` bytes), hashing it, and writes its
/// blob if the pool lacks it. Returns the hash and the bytes read.
///
/// Holes (`SEEK_DATA`/`SEEK_HOLE`, see [`sys::span_at`]) are never read,
/// and blocks of zeros are never written ([`sys::pwrite_sparse`]; the blob
/// gets its length by `ftruncate`): a sparse file makes a sparse blob, so
/// `truncate -s 4G` in a workspace costs its snapshots no disk. A file
/// with a hole is named by its [`SparseHasher`] digest, which costs no CPU
/// for the holes either (hashing the 8 TiB of zeros `truncate -s 8T` reads
/// as would take hours); a file without one by the BLAKE3 of its bytes.
fn store(
    batch: &Batch<'_>,
    buf: &mut Vec<u8>,
    fd: BorrowedFd<'_>,
    size: u64,
    path: &dyn Fn() -> PathBuf,
) -> Result<(BlobHash, u64)> {
    if buf.is_empty() {
        // Zeroed by the allocator (fresh pages): only what is read into is
        // touched.
        *buf = vec![0; BUFFER];
    }
    let read_err = |e| io_err(Step::ReadFile, path(), e);
    // Decided once, before reading: a hole anywhere below the size fstat
    // gave (at the start or after the first data extent) makes the file
    // sparse. A file system without `SEEK_HOLE` reports all data.
    let sparse = match sys::span_at(fd, 0).map_err(read_err)? {
        sys::Span::Hole(_) => true,
        sys::Span::Data(end) => end < size,
        sys::Span::End => false,
    };
    // A dense file is read up to the size it had when it was found dense:
    // holes punched or a size grown meanwhile (the jail should be frozen,
    // but is not trusted) cost at most that many zeros to hash, never the
    // apparent size of a file `truncate` grew after the check.
    let limit = if sparse { u64::MAX } else { size };
    let mut hasher = if sparse {
        Identity::Sparse(SparseHasher::new())
    } else {
        Identity::Plain(blake3::Hasher::new())
    };
    let mut temp = None;
    // `buf[..filled]` holds the bytes from `total - filled` to `total`.
    let mut filled = 0;
    let mut total = 0u64;
    // Where the current data extent ends (0: ask again).
    let mut data_end = 0u64;
    loop {
        if filled == buf.len() {
            // Larger than the buffer: stream it to a temporary file.
            let t = match temp.take() {
                Some(t) => t,
                None => batch.create_temp(None)?,
            };
            hasher.update(buf);
            t.write_at(buf, total - filled as u64)?;
            temp = Some(t);
            filled = 0;
        }
        if total >= limit {
            break;
        }
        if total >= data_end {
            match sys::span_at(fd, total).map_err(read_err)? {
                sys::Span::Data(end) => data_end = end.min(limit),
                sys::Span::Hole(end) => {
                    let end = end.min(limit);
                    let hole = end - total;
                    if temp.is_none() && filled as u64 + hole <= buf.len() as u64 {
                        // Small so far: keep the zeros in the buffer.
                        buf[filled..filled + hole as usize].fill(0);
                        filled += hole as usize;
                    } else {
                        // Flush what is buffered, then hash the hole
                        // without reading or writing it.
                        let t = match temp.take() {
                            Some(t) => t,
                            None => batch.create_temp(None)?,
                        };
                        hasher.update(&buf[..filled]);
                        t.write_at(&buf[..filled], total - filled as u64)?;
                        temp = Some(t);
                        filled = 0;
                        hasher.zeros(hole);
                    }
                    total = end;
                    continue;
                }
                sys::Span::End => break,
            }
        }
        let want = (buf.len() - filled).min((data_end - total).min(usize::MAX as u64) as usize);
        let n = sys::pread(fd, &mut buf[filled..filled + want], total).map_err(read_err)?;
        filled += n;
        total += n as u64;
        // Stop at EOF, or once the size fstat promised is in (saves the read
        // that would return 0).
        if n == 0 || (total >= size && temp.is_none()) {
            break;
        }
    }
    let data = &buf[..filled];
    hasher.update(data);
    let hash = hasher.finalize();
    if let Some(need) = batch.need(&hash, total)? {
        let t = match temp {
            Some(t) => t,
            None => batch.create_temp(Some(&hash))?,
        };
        t.write_at(data, total - filled as u64)?;
        t.set_len(total)?;
        batch.add(t, hash, total, need);
    }
    // Present already: a streamed temporary file is removed on drop.
    Ok((hash, total))
}

/// How a file's blob is named: the BLAKE3 of its bytes, or for a file
/// with holes its [`SparseHasher`] digest. Both see the bytes in order.
enum Identity {
    Plain(blake3::Hasher),
    Sparse(SparseHasher),
}

impl Identity {
    /// The next bytes of the file.
    fn update(&mut self, data: &[u8]) {
        match self {
            Identity::Plain(h) => {
                h.update(data);
            }
            Identity::Sparse(h) => h.update(data),
        }
    }

    /// The next `len` bytes of the file are a hole (zeros, never read).
    fn zeros(&mut self, mut len: u64) {
        match self {
            Identity::Plain(h) => {
                // Bounded by the size the file had when it was found dense
                // (the caller's `limit`).
                static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
                while len > 0 {
                    let n = len.min(ZEROS.len() as u64) as usize;
                    h.update(&ZEROS[..n]);
                    len -= n as u64;
                }
            }
            Identity::Sparse(h) => h.zeros(len),
        }
    }

    fn finalize(self) -> BlobHash {
        match self {
            Identity::Plain(h) => BlobHash::from(h.finalize()),
            Identity::Sparse(h) => h.finalize(),
        }
    }
}

/// Names a sparse file's blob in time proportional to its data, not its
/// apparent size.
///
/// BLAKE3 itself has no shortcut for runs of zeros: each 1 KiB chunk's
/// chaining value depends on its position (the chunk counter), so every
/// zero chunk of a hole would have to be compressed. Instead the file is
/// cut into aligned [`SPARSE_BLOCK`]-byte blocks, and what is hashed (with
/// BLAKE3 in key-derivation mode under its own context, so it can never
/// collide with a plain digest) is, for each block holding a non-zero
/// byte in order, its index (u64 little-endian) and its bytes (the last
/// block may be short), then the file's length (u64 little-endian). That
/// encoding determines the contents (the length is the last 8 bytes, each
/// record's length follows from its index and the length, every block not
/// recorded is zeros), so equal digests mean equal contents; and it
/// depends on the contents alone, not on where the file system put holes,
/// so equal sparse files share a blob. A hole costs at most the two
/// partial blocks at its ends.
struct SparseHasher {
    hasher: blake3::Hasher,
    /// The current block's bytes so far (`block[..fill]`).
    block: Vec<u8>,
    fill: usize,
    /// Whether `block[..fill]` holds a non-zero byte.
    nonzero: bool,
    /// The current block's index.
    index: u64,
}

/// Block size of [`SparseHasher`].
const SPARSE_BLOCK: usize = 64 * 1024;
/// Key-derivation context of [`SparseHasher`] (never to change: blobs are
/// named by it).
const SPARSE_CONTEXT: &str = "paddock-store 2026-12-03 sparse file blob v1";

impl SparseHasher {
    fn new() -> SparseHasher {
        SparseHasher {
            hasher: blake3::Hasher::new_derive_key(SPARSE_CONTEXT),
            block: vec![0; SPARSE_BLOCK],
            fill: 0,
            nonzero: false,
            index: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.fill == 0 && data.len() >= SPARSE_BLOCK {
                // A whole block in place: no copy.
                let (whole, rest) = data.split_at(SPARSE_BLOCK);
                if whole.iter().any(|&b| b != 0) {
                    self.hasher.update(&self.index.to_le_bytes());
                    self.hasher.update(whole);
                }
                self.index += 1;
                data = rest;
                continue;
            }
            let n = (SPARSE_BLOCK - self.fill).min(data.len());
            let (part, rest) = data.split_at(n);
            self.nonzero |= part.iter().any(|&b| b != 0);
            self.block[self.fill..self.fill + n].copy_from_slice(part);
            self.fill += n;
            data = rest;
            if self.fill == SPARSE_BLOCK {
                self.end_block();
            }
        }
    }

    fn zeros(&mut self, mut len: u64) {
        if self.fill > 0 {
            let n = ((SPARSE_BLOCK - self.fill) as u64).min(len) as usize;
            self.block[self.fill..self.fill + n].fill(0);
            self.fill += n;
            len -= n as u64;
            if self.fill < SPARSE_BLOCK {
                return; // the hole ended inside this block
            }
            self.end_block();
        }
        // Whole blocks of zeros are skipped; the hole's tail starts a block.
        let block = SPARSE_BLOCK as u64;
        self.index += len / block;
        let tail = (len % block) as usize;
        self.block[..tail].fill(0);
        self.fill = tail;
    }

    /// Records the current block if it holds a non-zero byte.
    fn end_block(&mut self) {
        if self.nonzero {
            self.hasher.update(&self.index.to_le_bytes());
            self.hasher.update(&self.block[..self.fill]);
        }
        self.index += 1;
        self.fill = 0;
        self.nonzero = false;
    }

    fn finalize(mut self) -> BlobHash {
        let len = self.index * SPARSE_BLOCK as u64 + self.fill as u64;
        if self.fill > 0 {
            self.end_block();
        }
        self.hasher.update(&len.to_le_bytes());
        BlobHash::from(self.hasher.finalize())
    }
}

#[cfg(test)]
mod sparse_hash_tests {
    use super::*;

    /// The digest of `data` fed in pieces of `step`, runs of zeros of at
    /// least `hole` bytes given as holes.
    fn digest(data: &[u8], step: usize, hole: usize) -> BlobHash {
        // Zeros starting at each offset.
        let mut run = vec![0usize; data.len() + 1];
        for i in (0..data.len()).rev() {
            run[i] = if data[i] == 0 { run[i + 1] + 1 } else { 0 };
        }
        let mut h = SparseHasher::new();
        let mut at = 0;
        while at < data.len() {
            let zeros = run[at];
            if zeros >= hole {
                h.zeros(zeros as u64);
                at += zeros;
                continue;
            }
            let n = step.min(data.len() - at);
            h.update(&data[at..at + n]);
            at += n;
        }
        h.finalize()
    }

    #[test]
    fn the_digest_depends_on_the_contents_alone() {
        let mut data = vec![0u8; 5 * SPARSE_BLOCK + 123];
        data[7] = 1;
        data[SPARSE_BLOCK + 5000..SPARSE_BLOCK + 9000].fill(0xab);
        data[4 * SPARSE_BLOCK - 1] = 2;
        data[5 * SPARSE_BLOCK + 100] = 3;
        let want = digest(&data, data.len(), usize::MAX);
        for step in [7, 4096, SPARSE_BLOCK, SPARSE_BLOCK + 1, 3 * SPARSE_BLOCK] {
            for hole in [1, 4096, SPARSE_BLOCK, 2 * SPARSE_BLOCK, usize::MAX] {
                assert_eq!(digest(&data, step, hole), want, "step {step}, hole {hole}");
            }
        }
        // Any byte changed, or the length, changes it; and it is never the
        // plain digest.
        let mut other = data.clone();
        other[3 * SPARSE_BLOCK] = 9;
        assert_ne!(digest(&other, 4096, 4096), want);
        other = data.clone();
        other.push(0);
        assert_ne!(digest(&other, 4096, 4096), want);
        assert_ne!(want, BlobHash::of(&data));
        let zeros = |len: u64| {
            let mut h = SparseHasher::new();
            h.zeros(len);
            h.finalize()
        };
        // 16 TiB of hole costs nothing, and its length counts.
        assert_ne!(zeros(1 << 44), zeros((1 << 44) + 1));
        assert_ne!(zeros(0), zeros(1));
    }
}

//! Copying a jail's output tree for forks: reflink (copy-on-write) where
//! the file system can, a hole-preserving copy otherwise (a sparse file
//! stays sparse). Symlinks are recreated as symlinks and never followed;
//! special files are skipped; setuid, setgid and sticky bits are dropped;
//! directories keep owner `rwx`; mtimes are kept. Depth and entry count
//! are bounded. On error the partial copy is removed.
//!
//! Like a snapshot, the copy works relative to open directory descriptors
//! on both sides (`openat`, `mkdirat`, `symlinkat` with `O_NOFOLLOW`), so a
//! jail that swaps a directory for a symlink mid-copy cannot redirect it.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode};
use rustix::io::Errno;

use crate::error::{io_err, std_err, Result, Step, StoreError};
use crate::manifest::Limits;
use crate::restore::Method;
use crate::sys::{self, Cloner};

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyStats {
    /// Regular files copied (either way).
    pub files_cloned: u64,
    /// Of those, files shared copy-on-write (reflink).
    pub files_cow: u64,
    /// Bytes of the regular files copied.
    pub bytes_cloned: u64,
    /// `reflink`, `copy`, or `mixed`.
    pub method: &'static str,
}

/// Copies the tree under `from` into `to` (which must not exist; its parent
/// must), with the default [`Limits`].
pub fn copy_tree(from: &Path, to: &Path) -> Result<CopyStats> {
    copy_tree_with(from, to, &Limits::default())
}

/// [`copy_tree`] with explicit limits.
pub fn copy_tree_with(from: &Path, to: &Path, limits: &Limits) -> Result<CopyStats> {
    let source = sys::open_tree(from).map_err(|e| match e {
        Errno::NOTDIR | Errno::LOOP => StoreError::NotADirectory { path: from.into() },
        e => io_err(Step::OpenDir, from, e),
    })?;
    let source_st = rfs::fstat(&source).map_err(|e| io_err(Step::Stat, from, e))?;
    match rfs::mkdir(to, Mode::from_raw_mode(0o700)) {
        Ok(()) => {}
        Err(Errno::EXIST) => return Err(StoreError::TargetExists { path: to.into() }),
        Err(e) => return Err(io_err(Step::CreateTarget, to, e)),
    }
    let mut copy = Copy {
        from,
        to,
        limits,
        cloner: Cloner::new(),
        stats: CopyStats::default(),
        seen: 0,
    };
    let result = sys::open_tree(to)
        .map_err(|e| io_err(Step::CreateTarget, to, e))
        .and_then(|target| {
            copy.dir(source.as_fd(), target.as_fd(), Path::new(""), 0)?;
            let mode = (source_st.st_mode & 0o777) | 0o700;
            rfs::fchmod(&target, Mode::from_raw_mode(mode)).map_err(|e| io_err(Step::SetMode, to, e))
        });
    match result {
        Ok(()) => {
            let mut stats = copy.stats;
            stats.method = Method::from_counts(stats.files_cow, stats.files_cloned).as_str();
            Ok(stats)
        }
        Err(err) => {
            if let Err(cleanup) = std::fs::remove_dir_all(to) {
                return Err(std_err(Step::Cleanup, to, cleanup));
            }
            Err(err)
        }
    }
}

struct Copy<'a> {
    from: &'a Path,
    to: &'a Path,
    limits: &'a Limits,
    cloner: Cloner,
    stats: CopyStats,
    seen: usize,
}

impl Copy<'_> {
    fn source(&self, rel: &Path) -> PathBuf {
        self.from.join(rel)
    }

    fn target(&self, rel: &Path) -> PathBuf {
        self.to.join(rel)
    }

    fn dir(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>, rel: &Path, depth: usize) -> Result<()> {
        let names = sys::read_names(src, &|| self.source(rel))?;
        for (name, _) in names {
            self.seen += 1;
            if self.seen > self.limits.max_entries {
                return Err(StoreError::TooManyEntries {
                    path: self.from.into(),
                    max: self.limits.max_entries,
                });
            }
            let child = rel.join(OsStr::from_bytes(name.to_bytes()));
            let st = match sys::lstat_at(src, name.as_c_str()) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err(Step::Stat, self.source(&child), e)),
            };
            let mode = st.st_mode & 0o777;
            let mtime = sys::mtime_only(sys::mtime_ns(&st));
            match sys::file_type(&st) {
                FileType::Symlink => {
                    let target = match rfs::readlinkat(src, name.as_c_str(), Vec::new()) {
                        Ok(target) => target,
                        Err(Errno::NOENT | Errno::INVAL) => continue,
                        Err(e) => return Err(io_err(Step::ReadLink, self.source(&child), e)),
                    };
                    rfs::symlinkat(target.as_c_str(), dst, name.as_c_str())
                        .map_err(|e| io_err(Step::CreateSymlink, self.target(&child), e))?;
                    rfs::utimensat(dst, name.as_c_str(), &mtime, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| io_err(Step::SetTimes, self.target(&child), e))?;
                }
                FileType::Directory => {
                    if depth + 1 > self.limits.max_depth {
                        return Err(StoreError::TooDeep {
                            path: self.source(&child),
                            max: self.limits.max_depth,
                        });
                    }
                    let sub_src = match sys::open_dir_at(src, name.as_c_str()) {
                        Ok(fd) => fd,
                        Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                        Err(e) => return Err(io_err(Step::OpenDir, self.source(&child), e)),
                    };
                    rfs::mkdirat(dst, name.as_c_str(), Mode::from_raw_mode(0o700))
                        .map_err(|e| io_err(Step::CreateDir, self.target(&child), e))?;
                    let sub_dst = sys::open_dir_at(dst, name.as_c_str())
                        .map_err(|e| io_err(Step::OpenDir, self.target(&child), e))?;
                    self.dir(sub_src.as_fd(), sub_dst.as_fd(), &child, depth + 1)?;
                    rfs::fchmod(&sub_dst, Mode::from_raw_mode(mode | 0o700))
                        .map_err(|e| io_err(Step::SetMode, self.target(&child), e))?;
                    rfs::futimens(&sub_dst, &mtime).map_err(|e| io_err(Step::SetTimes, self.target(&child), e))?;
                }
                FileType::RegularFile => self.file(src, dst, name.as_c_str(), &child, mode)?,
                // FIFOs, sockets, devices.
                _ => {}
            }
        }
        Ok(())
    }

    fn file(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr, child: &Path, mode: u32) -> Result<()> {
        let input = match sys::open_file_at(src, name) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => return Ok(()),
            Err(e) => return Err(io_err(Step::OpenFile, self.source(child), e)),
        };
        let st = rfs::fstat(&input).map_err(|e| io_err(Step::Stat, self.source(child), e))?;
        if sys::file_type(&st) != FileType::RegularFile {
            return Ok(());
        }
        let output =
            sys::create_file_at(dst, name, 0o600).map_err(|e| io_err(Step::CreateFile, self.target(child), e))?;
        let cow = self
            .cloner
            .clone_file(input.as_fd(), output.as_fd())
            .map_err(|e| io_err(Step::CopyData, self.target(child), e))?;
        rfs::fchmod(&output, Mode::from_raw_mode(mode)).map_err(|e| io_err(Step::SetMode, self.target(child), e))?;
        rfs::futimens(&output, &sys::mtime_only(sys::mtime_ns(&st)))
            .map_err(|e| io_err(Step::SetTimes, self.target(child), e))?;
        self.stats.files_cloned += 1;
        self.stats.files_cow += cow as u64;
        self.stats.bytes_cloned += st.st_size as u64;
        Ok(())
    }
}

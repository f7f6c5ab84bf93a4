//! File-system primitives shared by snapshot, restore and tree copies,
//! all relative to an open directory (`openat` and friends), so a path is
//! never resolved twice and a symlink is never followed by accident.
//!
//! rustix wraps the system calls; this module adds the flag sets the crate
//! uses everywhere and the reflink-or-copy helper.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, FileType, Mode, OFlags, RawDir, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::{io_err, Result, Step};

/// Opens a directory below `dir` without following a symlink in its place.
pub(crate) fn open_dir_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Opens the top of a tree (refusing a symlink in its last component).
pub(crate) fn open_tree(path: &Path) -> rustix::io::Result<OwnedFd> {
    open_dir_at(rfs::CWD, path)
}

/// Opens a regular file below `dir` for reading: never through a symlink,
/// and without blocking if a FIFO was swapped in.
pub(crate) fn open_file_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
    )
}

/// Creates a new regular file below `dir` for writing: fails if anything
/// (a file, a symlink) already has the name.
pub(crate) fn create_file_at<P: rustix::path::Arg>(
    dir: BorrowedFd<'_>,
    name: P,
    mode: u32,
) -> rustix::io::Result<OwnedFd> {
    rfs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
}

/// `lstat` relative to `dir`.
pub(crate) fn lstat_at<P: rustix::path::Arg>(dir: BorrowedFd<'_>, name: P) -> rustix::io::Result<Stat> {
    rfs::statat(dir, name, rfs::AtFlags::SYMLINK_NOFOLLOW)
}

/// The file type of a `stat`.
pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode as _)
}

/// Modification time in nanoseconds since the epoch.
pub(crate) fn mtime_ns(st: &Stat) -> i64 {
    st.st_mtime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_mtime_nsec as i64)
}

/// Status-change time in nanoseconds since the epoch.
pub(crate) fn ctime_ns(st: &Stat) -> i64 {
    st.st_ctime
        .saturating_mul(1_000_000_000)
        .saturating_add(st.st_ctime_nsec as i64)
}

/// Timestamps that set the modification time to `mtime_ns` and leave the
/// access time alone.
pub(crate) fn mtime_only(mtime_ns: i64) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: mtime_ns.div_euclid(1_000_000_000),
            tv_nsec: mtime_ns.rem_euclid(1_000_000_000) as _,
        },
    }
}

/// The entries of a directory (without `.` and `..`) and their `d_type`,
/// sorted by name bytes. `what` names the directory in errors. Reads from
/// the descriptor's current offset and leaves it at the end: use a
/// descriptor opened for the purpose.
pub(crate) fn read_names(
    dir: BorrowedFd<'_>,
    what: &dyn Fn() -> std::path::PathBuf,
) -> Result<Vec<(CString, FileType)>> {
    let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
    let mut reader = RawDir::new(dir, &mut buf);
    let mut names = Vec::new();
    while let Some(entry) = reader.next() {
        let entry = entry.map_err(|e| io_err(Step::ReadDir, what(), e))?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        names.push((name.to_owned(), entry.file_type()));
    }
    names.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(names)
}

/// Writes all of `data` to `fd`.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads into `buf`, retrying on `EINTR`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> rustix::io::Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

/// How files get their contents: remembered across the files of one
/// restore or copy, so a file system that cannot reflink is asked once.
#[derive(Debug)]
pub(crate) struct Cloner {
    try_reflink: bool,
    try_copy_range: bool,
    buf: Vec<u8>,
}

impl Cloner {
    pub(crate) fn new() -> Self {
        Cloner {
            try_reflink: true,
            try_copy_range: true,
            buf: Vec::new(),
        }
    }

    /// Gives `dst` (new, empty) the contents of `src`: a reflink (`FICLONE`:
    /// the two files share extents copy-on-write, so writing one never
    /// changes the other) where the file system can, a copy otherwise.
    /// Never a hard link. Returns `true` when it was a reflink.
    pub(crate) fn clone_file(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> rustix::io::Result<bool> {
        if self.try_reflink {
            match rfs::ioctl_ficlone(dst, src) {
                Ok(()) => return Ok(true),
                // The file system (or this pair of file systems) cannot
                // reflink at all: stop asking.
                Err(Errno::OPNOTSUPP | Errno::XDEV | Errno::NOTTY | Errno::NOSYS) => self.try_reflink = false,
                // Something about this file (EINVAL for an inline or
                // nodatacow file, ETXTBSY...): copy this one, keep trying.
                Err(_) => {}
            }
        }
        self.copy(src, dst)?;
        Ok(false)
    }

    fn copy(&mut self, src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> rustix::io::Result<()> {
        let mut copied = 0u64;
        while self.try_copy_range {
            match rfs::copy_file_range(src, None, dst, None, 1 << 30) {
                Ok(0) => return Ok(()),
                Ok(n) => copied += n as u64,
                Err(Errno::INTR) => {}
                // Not supported between these files: fall back to read and
                // write (only before the first byte, so nothing is doubled).
                Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) if copied == 0 => {
                    self.try_copy_range = false
                }
                Err(e) => return Err(e),
            }
        }
        if self.buf.is_empty() {
            self.buf = vec![0; 256 * 1024];
        }
        loop {
            let n = read(src, &mut self.buf)?;
            if n == 0 {
                return Ok(());
            }
            write_all(dst, &self.buf[..n])?;
        }
    }
}

/// Whether the file system holding `dir` can reflink (`FICLONE`) one file
/// into another in that directory. Probes with two unnamed temporary files
/// (`O_TMPFILE`), falling back to named ones that are removed at once.
pub fn reflink_supported(dir: &Path) -> Result<bool> {
    let fd = open_tree(dir).map_err(|e| io_err(Step::OpenDir, dir, e))?;
    let probe = |n: u32| -> Result<(OwnedFd, Option<String>)> {
        let flags = OFlags::RDWR | OFlags::CLOEXEC;
        match rfs::openat(fd.as_fd(), c".", flags | OFlags::TMPFILE, Mode::from_raw_mode(0o600)) {
            Ok(file) => Ok((file, None)),
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                let name = format!(".paddock-reflink-probe-{}-{n}", std::process::id());
                let file = rfs::openat(
                    fd.as_fd(),
                    name.as_str(),
                    flags | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io_err(Step::CreateFile, dir.join(&name), e))?;
                Ok((file, Some(name)))
            }
            Err(e) => Err(io_err(Step::CreateFile, dir, e)),
        }
    };
    let (src, src_name) = probe(0)?;
    let dst = probe(1);
    let result = dst.and_then(|(dst, dst_name)| {
        let written = write_all(src.as_fd(), &[0x5a; 4096]).map_err(|e| io_err(Step::WriteTemp, dir, e));
        let cloned = written.map(|()| rfs::ioctl_ficlone(dst.as_fd(), src.as_fd()).is_ok());
        if let Some(name) = dst_name {
            let _ = rfs::unlinkat(fd.as_fd(), name.as_str(), rfs::AtFlags::empty());
        }
        cloned
    });
    if let Some(name) = src_name {
        let _ = rfs::unlinkat(fd.as_fd(), name.as_str(), rfs::AtFlags::empty());
    }
    result
}

/// `CStr` to `&str`, if it is UTF-8.
pub(crate) fn utf8(name: &CStr) -> Option<&str> {
    name.to_str().ok()
}

//! File-system primitives shared by snapshot, restore and tree copies,
//! all relative to an open directory (`openat` and friends), so a path is
//! never resolved twice and a symlink is never followed by accident.
//!
//! rustix wraps the system calls; this module adds the flag sets the crate
//! uses everywhere and the reflink-or-copy helper, whose copy preserves
//! holes ([`copy_sparse`]).

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

/// Reads into `buf` at `offset` (`pread`), retrying on `EINTR`.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> rustix::io::Result<usize> {
    loop {
        match rustix::io::pread(fd, &mut *buf, offset) {
            Err(Errno::INTR) => {}
            other => return other,
        }
    }
}

/// Writes all of `data` to `fd` at `offset` (`pwrite`, the file offset
/// untouched).
pub(crate) fn pwrite_all(fd: BorrowedFd<'_>, mut data: &[u8], mut offset: u64) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::pwrite(fd, data, offset) {
            Ok(0) => return Err(Errno::IO),
            Ok(n) => {
                data = &data[n..];
                offset += n as u64;
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Block size below which zeros are written rather than skipped.
const SPARSE_BLOCK: usize = 4096;

/// Writes `data` to `fd` at `offset` like [`pwrite_all`], except that
/// aligned blocks of zeros are skipped (left as holes). The caller sets the
/// file's length (`ftruncate`) so that trailing zeros exist too.
pub(crate) fn pwrite_sparse(fd: BorrowedFd<'_>, data: &[u8], offset: u64) -> rustix::io::Result<()> {
    let mut run: Option<usize> = None;
    let mut at = 0;
    while at < data.len() {
        // Blocks aligned to the file, not to `data`.
        let misalign = ((offset + at as u64) % SPARSE_BLOCK as u64) as usize;
        let end = (at + SPARSE_BLOCK - misalign).min(data.len());
        let block = &data[at..end];
        // A fold (not `all`) so that it vectorizes.
        let zero = block.iter().fold(0u8, |acc, b| acc | b) == 0;
        match (zero, run) {
            (false, None) => run = Some(at),
            (true, Some(start)) => {
                pwrite_all(fd, &data[start..at], offset + start as u64)?;
                run = None;
            }
            _ => {}
        }
        at = end;
    }
    if let Some(start) = run {
        pwrite_all(fd, &data[start..], offset + start as u64)?;
    }
    Ok(())
}

/// What lies at an offset of a file, from `SEEK_DATA`/`SEEK_HOLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Data up to (not including) this offset, where a hole or the end of
    /// the file begins.
    Data(u64),
    /// A hole (reads as zeros, takes no space) up to this offset, where data
    /// or the end of the file begins.
    Hole(u64),
    /// At or past the end of the file.
    End,
}

/// What lies at `pos` in the file `fd`. A file system without
/// `SEEK_DATA`/`SEEK_HOLE` support reports the whole file as data (the
/// kernel's generic answer), so callers fall back to a plain copy there.
pub(crate) fn span_at(fd: BorrowedFd<'_>, pos: u64) -> rustix::io::Result<Span> {
    match rfs::seek(fd, rfs::SeekFrom::Data(pos)) {
        Ok(data) if data > pos => Ok(Span::Hole(data)),
        Ok(_) => Ok(Span::Data(rfs::seek(fd, rfs::SeekFrom::Hole(pos))?.max(pos + 1))),
        // No data at or after `pos`: a hole up to the end, or the end.
        Err(Errno::NXIO) => {
            let size = rfs::fstat(fd)?.st_size as u64;
            Ok(if pos >= size { Span::End } else { Span::Hole(size) })
        }
        // Not seekable this way (old kernels, odd file systems): all data.
        Err(Errno::INVAL | Errno::OPNOTSUPP | Errno::NOSYS) => Ok(Span::Data(u64::MAX)),
        Err(e) => Err(e),
    }
}

/// Copies the regular file `src` into `dst` (new, empty, open for writing)
/// **preserving holes**: `dst` is first given `src`'s length (`ftruncate`,
/// so it is one hole), then only the data extents `SEEK_DATA`/`SEEK_HOLE`
/// report are copied, in the kernel (`copy_file_range`) where it can and
/// by `pread`/`pwrite` otherwise. A 4 GiB file made by `truncate -s 4G`
/// costs its copy nothing on disk, and a few written bytes inside it cost
/// a block. Returns the length given to `dst` (the length of `src` when
/// the copy began; a source that grows meanwhile is cut there, one that
/// shrinks leaves zeros).
///
/// This is the one place file contents are copied: restores (blob to
/// tree), workspace forks (a snapshot and restores) and run forks
/// ([`crate::tree::copy_tree`]) reach it through [`Cloner::clone_file`],
/// which tries a reflink first. Snapshots write blobs while hashing them
/// (a blob must hold exactly the bytes hashed) and use the same two
/// primitives, [`span_at`] and [`pwrite_sparse`].
///
/// `try_copy_range` is cleared (and the copy goes on by read and write)
/// when `copy_file_range` cannot work between these files; `buf` is the
/// read buffer for that case, grown on first use.
pub(crate) fn copy_sparse(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    try_copy_range: &mut bool,
    buf: &mut Vec<u8>,
) -> rustix::io::Result<u64> {
    let len = rfs::fstat(src)?.st_size as u64;
    rfs::ftruncate(dst, len)?;
    let mut pos = 0u64;
    while pos < len {
        let end = match span_at(src, pos)? {
            Span::End => break,
            Span::Hole(end) => {
                pos = end;
                continue;
            }
            Span::Data(end) => end.min(len),
        };
        if !copy_range(src, dst, pos, end, try_copy_range, buf)? {
            break; // the source shrank
        }
        pos = end;
    }
    Ok(len)
}

/// Copies bytes `[from, to)` of `src` to the same offsets of `dst`.
/// `false` if `src` ended before `to`.
fn copy_range(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    from: u64,
    to: u64,
    try_copy_range: &mut bool,
    buf: &mut Vec<u8>,
) -> rustix::io::Result<bool> {
    let mut pos = from;
    while *try_copy_range && pos < to {
        let (mut off_in, mut off_out) = (pos, pos);
        let want = (to - pos).min(1 << 30) as usize;
        match rfs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), want) {
            Ok(0) => return Ok(false),
            Ok(n) => pos += n as u64,
            Err(Errno::INTR) => {}
            // Not supported between these files: read and write the rest
            // (offsets are explicit, so nothing is doubled).
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) => *try_copy_range = false,
            Err(e) => return Err(e),
        }
    }
    if buf.is_empty() {
        *buf = vec![0; 256 * 1024];
    }
    while pos < to {
        let want = ((to - pos) as usize).min(buf.len());
        let n = pread(src, &mut buf[..want], pos)?;
        if n == 0 {
            return Ok(false);
        }
        pwrite_sparse(dst, &buf[..n], pos)?;
        pos += n as u64;
    }
    Ok(true)
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
    /// changes the other) where the file system can, a hole-preserving
    /// copy ([`copy_sparse`]) otherwise. Never a hard link. Returns `true`
    /// when it was a reflink.
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
        copy_sparse(src, dst, &mut self.try_copy_range, &mut self.buf)?;
        Ok(false)
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

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const MIB: u64 = 1 << 20;

    /// Bytes the file takes on disk (`st_blocks` × 512).
    fn allocated(f: &File) -> u64 {
        f.metadata().unwrap().blocks() * 512
    }

    /// A sparse file of `len` bytes with `data` written at each offset.
    fn sparse(dir: &Path, name: &str, len: u64, writes: &[(u64, &[u8])]) -> File {
        let mut f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .unwrap();
        f.set_len(len).unwrap();
        for (at, data) in writes {
            f.seek(SeekFrom::Start(*at)).unwrap();
            f.write_all(data).unwrap();
        }
        f.sync_all().unwrap();
        f
    }

    /// Copies `src` into a new file with [`copy_sparse`] (with or without
    /// `copy_file_range`) and returns it.
    fn copy_of(dir: &Path, src: &File, name: &str, copy_range: bool) -> File {
        let dst = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .unwrap();
        let mut try_copy_range = copy_range;
        let len = copy_sparse(src.as_fd(), dst.as_fd(), &mut try_copy_range, &mut Vec::new()).unwrap();
        assert_eq!(len, src.metadata().unwrap().len());
        dst.sync_all().unwrap();
        dst
    }

    fn contents(f: &File) -> Vec<u8> {
        let mut out = Vec::new();
        let mut f = f;
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut out).unwrap();
        out
    }

    /// Reads `len` bytes at `at`.
    fn read_at(f: &File, at: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        std::os::unix::fs::FileExt::read_exact_at(f, &mut out, at).unwrap();
        out
    }

    #[test]
    fn a_file_that_is_all_hole_copies_to_all_hole() {
        let dir = tempfile::tempdir().unwrap();
        let len = 4 << 30; // 4 GiB, nothing written
        let src = sparse(dir.path(), "src", len, &[]);
        for copy_range in [true, false] {
            let dst = copy_of(dir.path(), &src, &format!("dst-{copy_range}"), copy_range);
            assert_eq!(dst.metadata().unwrap().len(), len);
            assert_eq!(
                allocated(&dst),
                0,
                "an all-hole file took blocks (copy_file_range: {copy_range})"
            );
            assert_eq!(read_at(&dst, len - 4096, 4096), vec![0; 4096]);
        }
    }

    #[test]
    fn data_in_holes_and_at_the_end_is_kept_and_the_holes_stay_holes() {
        let dir = tempfile::tempdir().unwrap();
        let len = 3 << 30; // larger than any buffer, and than copy_file_range's chunk
        let writes: &[(u64, &[u8])] = &[
            (0, b"start"),
            (MIB + 17, b"inside a hole"),
            ((1 << 30) + 5, &[0xab; 300_000]), // spans block boundaries
            (len - 3, b"end"),                 // data at the very end
        ];
        let src = sparse(dir.path(), "src", len, writes);
        let src_allocated = allocated(&src);
        assert!(
            src_allocated < 4 * MIB,
            "the source is not sparse here ({src_allocated} bytes)"
        );
        for copy_range in [true, false] {
            let dst = copy_of(dir.path(), &src, &format!("dst-{copy_range}"), copy_range);
            assert_eq!(dst.metadata().unwrap().len(), len);
            let got = allocated(&dst);
            assert!(
                got <= src_allocated + 64 * 1024,
                "copy took {got} bytes, source {src_allocated} (copy_file_range: {copy_range})"
            );
            for (at, data) in writes {
                assert_eq!(&read_at(&dst, *at, data.len()), data, "at {at}");
            }
            // Around the data: zeros.
            assert_eq!(read_at(&dst, MIB, 17), vec![0; 17]);
            assert_eq!(read_at(&dst, len - 4096, 4093), vec![0; 4093]);
        }
    }

    #[test]
    fn a_dense_file_larger_than_the_buffer_copies_identically() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3 * MIB as usize + 12_345).map(|i| (i * 31 % 251) as u8).collect();
        let src = sparse(dir.path(), "src", 0, &[(0, &data)]);
        for copy_range in [true, false] {
            let dst = copy_of(dir.path(), &src, &format!("dst-{copy_range}"), copy_range);
            assert_eq!(contents(&dst), data);
        }
        // And an empty file.
        let empty = sparse(dir.path(), "empty", 0, &[]);
        assert_eq!(contents(&copy_of(dir.path(), &empty, "empty-copy", true)), b"");
    }

    #[test]
    fn pwrite_sparse_skips_zero_blocks_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let f = sparse(dir.path(), "f", 0, &[]);
        let mut data = vec![0u8; 8 * MIB as usize];
        data[100] = 1;
        data[5 * MIB as usize + 4095] = 2; // last byte of a block
        data[8 * MIB as usize - 1] = 3;
        // At an unaligned offset, so blocks straddle `data`.
        pwrite_sparse(f.as_fd(), &data, 1000).unwrap();
        f.set_len(1000 + data.len() as u64).unwrap();
        f.sync_all().unwrap();
        assert!(allocated(&f) <= 64 * 1024, "{} bytes allocated", allocated(&f));
        let got = contents(&f);
        assert_eq!(&got[..1000], &[0; 1000][..]);
        assert_eq!(&got[1000..], &data[..]);
    }

    #[test]
    fn span_at_reports_data_holes_and_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let f = sparse(dir.path(), "f", 10 * MIB, &[(4 * MIB, b"x")]);
        assert_eq!(span_at(f.as_fd(), 0).unwrap(), Span::Hole(4 * MIB));
        assert!(matches!(span_at(f.as_fd(), 4 * MIB).unwrap(), Span::Data(end) if end > 4 * MIB && end < 10 * MIB));
        assert!(matches!(span_at(f.as_fd(), 6 * MIB).unwrap(), Span::Hole(end) if end == 10 * MIB));
        assert_eq!(span_at(f.as_fd(), 10 * MIB).unwrap(), Span::End);
    }
}

//! Operations beneath a workspace's root, safe against a jail that changes
//! the tree while the host works on it (RUNTIME.md §4).
//!
//! Every path is resolved with `openat2` relative to an `O_PATH` descriptor
//! of the tree, with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV`:
//!
//! - `RESOLVE_IN_ROOT` rather than `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`:
//!   trees are full of symlinks that stay inside (`node_modules/.bin`,
//!   virtualenvs, `current -> releases/3`), and agents expect to read
//!   through them. `IN_ROOT` makes the kernel treat the tree as `/` for the
//!   whole resolution, including `..` and absolute link targets, so a link
//!   to `/etc` names the tree's `etc`, never the host's. The resolution is
//!   one system call, so a jail that swaps a directory for a symlink during
//!   it cannot make it step out (the kernel answers `EAGAIN` when a rename
//!   races a `..`; we retry).
//! - `RESOLVE_NO_MAGICLINKS`: `/proc/<pid>/fd/*`-style links would jump
//!   anywhere; the tree never has a `/proc`, but refuse them regardless.
//! - `RESOLVE_NO_XDEV`: the tree is one file system; a mount point inside
//!   it, on the host, would be something that is not the workspace's.
//!
//! After one resolution, every later step works on descriptors already
//! opened (`*at` calls on a parent directory descriptor with a single,
//! final name, never following a final symlink), so no path string is ever
//! resolved twice. A held descriptor stays inside the tree: the jail can
//! only rename within its own `/workspace` mount (renames across mounts
//! fail with `EXDEV`).
//!
//! Writes go to a temporary file in the target's directory, renamed over
//! the target at the end: readers never see half a file, a failed upload
//! leaves the old file as it was, and a hard link from the tree to a file
//! elsewhere is replaced instead of written through. sandbox-agent writes
//! in place; the rename is the only visible difference (a new inode).
//!
//! Ownership: as root, the server and the jails are both uid 0; rootless,
//! the jail's uid 0 is the server's own uid. Files the host creates here
//! therefore belong to the jail's root in both modes, with nothing to
//! change.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use paddock_api::runtime::fs::{FsEntry, FsEntryType, FsStat};
use paddock_api::{Error, ErrorCode};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use super::{modified, RelPath};

/// How every path is resolved (see the module comment).
const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// Tries of a resolution the kernel refused with `EAGAIN` (a rename raced
/// it); past them the client is asked to retry.
const RESOLVE_TRIES: usize = 16;

/// Deepest directory tree walked by a recursive delete or an archive: each
/// level holds one descriptor.
pub(super) const MAX_DEPTH: usize = 512;

/// Bytes written between two checks of the state disk's free space.
const DISK_CHECK_EVERY: u64 = 64 << 20;

/// Permission bits a created file or directory may have: never setuid,
/// setgid or sticky.
const PERMISSION_BITS: u32 = 0o777;

/// An error of one path: the paddock error for `path`.
pub(super) fn io_error(err: io::Error, path: &RelPath) -> Error {
    let jail = path.jail();
    let Some(errno) = err.raw_os_error().map(Errno::from_raw_os_error) else {
        // Our own refusals (a tree too deep) carry their reason.
        if err.kind() == io::ErrorKind::Other {
            return Error::new(ErrorCode::BadPath, format!("{jail}: {err}"));
        }
        return Error::internal(format!("{jail}: {err}"));
    };
    match errno {
        Errno::NOENT => Error::new(ErrorCode::PathNotFound, format!("path not found: {jail}")),
        Errno::NOTDIR => Error::new(
            ErrorCode::BadPath,
            format!("a component of the path is not a directory: {jail}"),
        ),
        Errno::LOOP => Error::new(
            ErrorCode::BadPath,
            format!("too many symbolic links, or a symbolic link where none may be: {jail}"),
        ),
        Errno::XDEV => Error::new(
            ErrorCode::BadPath,
            format!("the path crosses a mount point: {jail}"),
        ),
        Errno::NAMETOOLONG => Error::new(ErrorCode::BadPath, format!("path too long: {jail}")),
        Errno::ISDIR => stream_error(Errno::ISDIR, &format!("{jail} is a directory")),
        Errno::EXIST => Error::new(ErrorCode::PathExists, format!("path already exists: {jail}")),
        Errno::NOTEMPTY => stream_error(
            Errno::NOTEMPTY,
            &format!("{jail} (pass recursive=true to delete it with its contents)"),
        ),
        Errno::INVAL => stream_error(Errno::INVAL, &jail),
        Errno::NOSPC | Errno::DQUOT => Error::new(
            ErrorCode::InsufficientStorage,
            format!("no space left for {jail}: the workspace's disk or quota is full; what was being written was removed"),
        ),
        Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::TXTBSY => {
            Error::new(ErrorCode::Forbidden, format!("permission denied: {jail}"))
        }
        Errno::AGAIN | Errno::MFILE | Errno::NFILE | Errno::NOMEM => Error::unavailable(format!(
            "the server cannot work on {jail} right now (the tree changed during the request, or the server is out of descriptors); retry"
        )),
        Errno::NOSYS => Error::new(
            ErrorCode::Unsupported,
            "the host kernel lacks openat2 (Linux 5.6 or later is needed for the file API)",
        ),
        _ => Error::internal(format!("{jail}: {err}")),
    }
}

/// An operation the file system refused, answered as sandbox-agent answers
/// it (502 `stream_error`, its message the OS error's, as Rust's standard
/// library writes it, then what it was about).
fn stream_error(errno: Errno, what: &str) -> Error {
    let os = io::Error::from(errno);
    let message = format!("{os}: {what}");
    Error::new(ErrorCode::StreamError, format!("stream error: {message}"))
        .with_details(serde_json::json!({ "message": message }))
}

/// A client body that broke off, as the blocking side sees it.
pub(super) fn body_error(err: &io::Error) -> Error {
    Error::new(
        ErrorCode::BadRequest,
        format!("the request body could not be read to its end: {err}; nothing was stored"),
    )
}

/// The open root of a workspace tree.
#[derive(Debug)]
pub(super) struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens the tree at `dir` (the server's own path, trusted; still
    /// opened without following a final symlink).
    pub(super) fn open(dir: &Path) -> Result<Root, Error> {
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|err| Error::internal(format!("open the workspace tree {}: {err}", dir.display())))?;
        Ok(Root { fd })
    }

    /// Resolves `path` beneath the root (following symlinks that stay in
    /// it) and opens it with `flags`.
    pub(super) fn open_at(&self, path: &RelPath, flags: OFlags) -> io::Result<OwnedFd> {
        let text = if path.is_root() { "." } else { path.as_str() };
        for _ in 0..RESOLVE_TRIES {
            match rustix::fs::openat2(&self.fd, text, flags | OFlags::CLOEXEC, Mode::empty(), RESOLVE) {
                Err(Errno::AGAIN) => continue,
                other => return other.map_err(io::Error::from),
            }
        }
        Err(Errno::AGAIN.into())
    }

    /// `stat` of `path`, following symlinks inside the tree (as
    /// sandbox-agent's `stat` follows them).
    pub(super) fn stat(&self, path: &RelPath) -> Result<FsStat, Error> {
        let fd = self.open_at(path, OFlags::PATH).map_err(|e| io_error(e, path))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error(e.into(), path))?;
        Ok(FsStat {
            path: path.jail(),
            entry_type: entry_type(&st),
            size: st.st_size as u64,
            modified: Some(modified(&st)),
        })
    }

    /// The entries of the directory at `path`, sorted by name. Each entry
    /// is described as it is (a symlink is not followed), as sandbox-agent
    /// lists them.
    pub(super) fn list(&self, path: &RelPath) -> Result<Vec<FsEntry>, Error> {
        let fd = self.open_at(path, OFlags::RDONLY | OFlags::DIRECTORY).map_err(|e| {
            match e.raw_os_error().map(Errno::from_raw_os_error) {
                Some(Errno::NOTDIR) if self.exists(path) => {
                    Error::new(ErrorCode::BadPath, format!("path is not a directory: {}", path.jail()))
                }
                _ => io_error(e, path),
            }
        })?;
        let mut entries = Vec::new();
        for entry in Dir::read_from(&fd).map_err(|e| io_error(e.into(), path))? {
            let entry = entry.map_err(|e| io_error(e.into(), path))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let st = match rustix::fs::statat(&fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // Removed since it was listed.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_error(e.into(), path)),
            };
            let name = String::from_utf8_lossy(name).into_owned();
            entries.push(FsEntry {
                path: path.child_jail(&name),
                name,
                entry_type: entry_type(&st),
                size: st.st_size as u64,
                modified: Some(modified(&st)),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Whether something is at `path` (for messages only).
    fn exists(&self, path: &RelPath) -> bool {
        self.open_at(path, OFlags::PATH).is_ok()
    }

    /// Opens the regular file at `path` for reading: its descriptor and
    /// size. Anything else (a directory, a FIFO that would block, a device,
    /// a socket) is refused.
    pub(super) fn open_file(&self, path: &RelPath) -> Result<(std::fs::File, u64), Error> {
        // Look before opening for reading: opening a device can have
        // effects of its own, and only a regular file is read.
        let probe = self.open_at(path, OFlags::PATH).map_err(|e| io_error(e, path))?;
        let first = rustix::fs::fstat(&probe).map_err(|e| io_error(e.into(), path))?;
        regular(&first, path)?;
        // O_NONBLOCK: should the path have become a FIFO since, the open
        // does not wait for a writer; O_NOCTTY: nor can a terminal become
        // the server's.
        let fd = self
            .open_at(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
            .map_err(|e| io_error(e, path))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_error(e.into(), path))?;
        regular(&st, path)?;
        if (st.st_dev, st.st_ino) != (first.st_dev, first.st_ino) {
            return Err(Error::unavailable(format!(
                "{} changed while it was opened; retry",
                path.jail()
            )));
        }
        Ok((std::fs::File::from(fd), st.st_size as u64))
    }

    /// The directory holding `path` and the last name of `path`; with
    /// `create`, missing directories on the way are made (0755).
    pub(super) fn parent<'p>(&self, path: &'p RelPath, create: bool) -> Result<(OwnedFd, &'p str), Error> {
        let (parent, name) = path.split_last().ok_or_else(|| {
            Error::new(
                ErrorCode::BadPath,
                "this operation cannot work on /workspace itself, only on what is in it",
            )
        })?;
        let fd = if create {
            self.mkdir_all(&parent, PERMISSION_BITS & 0o755)?
        } else {
            self.open_at(&parent, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(|e| io_error(e, &parent))?
        };
        Ok((fd, name))
    }

    /// Makes `path` and every missing directory above it (`mkdir -p`);
    /// returns the directory (`O_PATH`). A file in the way is
    /// `PATH_EXISTS`.
    pub(super) fn mkdir_all(&self, path: &RelPath, mode: u32) -> Result<OwnedFd, Error> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY;
        if let Ok(fd) = self.open_at(path, dir_flags) {
            return Ok(fd);
        }
        let mut current = self
            .open_at(&RelPath::root(), dir_flags)
            .map_err(|e| io_error(e, path))?;
        for depth in 1..=path.len() {
            let prefix = path.prefix(depth);
            let name = prefix.last_name();
            let mut made = false;
            current = loop {
                match self.open_at(&prefix, dir_flags) {
                    Ok(fd) => break fd,
                    Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) && !made => {
                        // mkdirat never follows `name`: a symlink there is
                        // EEXIST, and the open above then follows it inside
                        // the root.
                        match rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(mode & PERMISSION_BITS)) {
                            Ok(()) | Err(Errno::EXIST) => made = true,
                            Err(e) => return Err(io_error(e.into(), &prefix)),
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
                        return Err(stream_error(
                            Errno::EXIST,
                            &format!("a file that is not a directory is in the way: {}", prefix.jail()),
                        ))
                    }
                    Err(e) => return Err(io_error(e, &prefix)),
                }
            };
        }
        Ok(current)
    }

    /// Writes `body` to the file at `path` (parents made as needed) through
    /// a temporary file renamed over it. The mode is `mode` when given,
    /// else the replaced file's permission bits, else 0644; setuid, setgid
    /// and sticky bits are never set. `room` is asked every 64 MiB whether
    /// the state disk still has room.
    pub(super) fn write_file(
        &self,
        path: &RelPath,
        body: &mut dyn Read,
        mode: Option<u32>,
        room: &dyn Fn() -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let (dir, name) = self.parent(path, true)?;
        let previous = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::NOENT) => None,
            Err(e) => return Err(io_error(e.into(), path)),
        };
        if previous
            .as_ref()
            .is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
        {
            return Err(stream_error(Errno::ISDIR, &format!("{} is a directory", path.jail())));
        }
        let mode = mode.unwrap_or_else(|| match &previous {
            Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => st.st_mode,
            _ => 0o644,
        }) & PERMISSION_BITS;
        let temp = temp_name();
        let fd = rustix::fs::openat(
            &dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_error(e.into(), path))?;
        let result = fill(fd, body, mode, room, path).and_then(|(written, fd)| {
            drop(fd);
            rustix::fs::renameat(&dir, temp.as_str(), &dir, name)
                .map(|()| written)
                .map_err(|e| io_error(e.into(), path))
        });
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&dir, temp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Makes the directory `path` and its parents; an existing directory is
    /// fine, anything else in the way is `PATH_EXISTS`.
    pub(super) fn mkdir(&self, path: &RelPath) -> Result<(), Error> {
        self.mkdir_all(path, 0o755).map(drop)
    }

    /// Sets the permission bits of the directory at `path` (through a
    /// descriptor of it, never a path that could have become a symlink).
    pub(super) fn chmod_dir(&self, path: &RelPath, mode: u32) -> Result<(), Error> {
        let fd = self
            .open_at(path, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| io_error(e, path))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode & PERMISSION_BITS)).map_err(|e| io_error(e.into(), path))
    }

    /// Creates the symlink `path` → `target` (replacing a file or link
    /// there). The target is only text: the host resolves every path in
    /// the root, and the jail resolves it in its own namespace, where it
    /// could make the same link itself.
    pub(super) fn symlink(&self, path: &RelPath, target: &OsStr) -> Result<(), Error> {
        let (dir, name) = self.parent(path, true)?;
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                return Err(Error::new(
                    ErrorCode::PathExists,
                    format!("a directory is in the way: {}", path.jail()),
                ));
            }
            Ok(_) => rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| io_error(e.into(), path))?,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io_error(e.into(), path)),
        }
        rustix::fs::symlinkat(target, &dir, name).map_err(|e| io_error(e.into(), path))
    }

    /// Deletes the entry at `path` (a symlink itself, never its target); a
    /// directory with contents only with `recursive`.
    pub(super) fn remove(&self, path: &RelPath, recursive: bool) -> Result<(), Error> {
        let (dir, name) = self.parent(path, false)?;
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| io_error(e.into(), path))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return rustix::fs::unlinkat(&dir, name, AtFlags::empty()).map_err(|e| io_error(e.into(), path));
        }
        if recursive {
            return remove_tree(dir.as_fd(), OsStr::new(name), 0).map_err(|e| io_error(e, path));
        }
        rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR).map_err(|e| io_error(e.into(), path))
    }

    /// Moves `from` to `to` (parents of `to` made as needed). Without
    /// `overwrite` an existing destination is `PATH_EXISTS`; with it, the
    /// destination is replaced, a directory with its contents (as
    /// sandbox-agent does).
    pub(super) fn rename(&self, from: &RelPath, to: &RelPath, overwrite: bool) -> Result<(), Error> {
        let (from_dir, from_name) = self.parent(from, false)?;
        let source = rustix::fs::statat(&from_dir, from_name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| io_error(e.into(), from))?;
        if to.starts_with(from) && to.len() > from.len() {
            // What rename(2) answers (EINVAL), before any parent of `to` is
            // made inside `from`.
            return Err(stream_error(
                Errno::INVAL,
                &format!("cannot move {} into itself ({})", from.jail(), to.jail()),
            ));
        }
        if from == to {
            // Nothing to do, and an overwrite must not delete the source.
            return Ok(());
        }
        if overwrite && from.starts_with(to) {
            return Err(Error::new(
                ErrorCode::BadPath,
                format!(
                    "cannot replace {} with something inside it ({})",
                    to.jail(),
                    from.jail()
                ),
            ));
        }
        let (to_dir, to_name) = self.parent(to, true)?;
        let flags = if overwrite {
            match rustix::fs::statat(&to_dir, to_name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(dest) => {
                    let dest_dir = FileType::from_raw_mode(dest.st_mode) == FileType::Directory;
                    let source_dir = FileType::from_raw_mode(source.st_mode) == FileType::Directory;
                    // rename(2) replaces a file with a file atomically, but
                    // not a non-empty directory, nor across kinds.
                    if dest_dir {
                        remove_tree(to_dir.as_fd(), OsStr::new(to_name), 0).map_err(|e| io_error(e, to))?;
                    } else if source_dir {
                        rustix::fs::unlinkat(&to_dir, to_name, AtFlags::empty()).map_err(|e| io_error(e.into(), to))?;
                    }
                    RenameFlags::empty()
                }
                Err(Errno::NOENT) => RenameFlags::empty(),
                Err(e) => return Err(io_error(e.into(), to)),
            }
        } else {
            RenameFlags::NOREPLACE
        };
        rustix::fs::renameat_with(&from_dir, from_name, &to_dir, to_name, flags).map_err(|e| match e {
            Errno::EXIST | Errno::NOTEMPTY => Error::new(
                ErrorCode::PathExists,
                format!("destination already exists: {}", to.jail()),
            ),
            e => io_error(e.into(), to),
        })
    }
}

/// `file` or `directory`, as sandbox-agent reports them (a symlink, a FIFO
/// or a device is a `file`).
fn entry_type(st: &Stat) -> FsEntryType {
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        FsEntryType::Directory
    } else {
        FsEntryType::File
    }
}

/// Refuses anything but a regular file.
fn regular(st: &Stat, path: &RelPath) -> Result<(), Error> {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        FileType::Directory => Err(Error::new(
            ErrorCode::BadPath,
            format!("path is not a file: {}", path.jail()),
        )),
        _ => Err(Error::new(
            ErrorCode::BadPath,
            format!("path is not a regular file (a FIFO, socket or device): {}", path.jail()),
        )),
    }
}

/// A fresh name for an upload's temporary file.
fn temp_name() -> String {
    format!(".paddock-upload-{:016x}", rand::random::<u64>())
}

/// Copies `body` into the new file `fd`, sets its mode; returns the bytes
/// written and the descriptor.
fn fill(
    fd: OwnedFd,
    body: &mut dyn Read,
    mode: u32,
    room: &dyn Fn() -> Result<(), Error>,
    path: &RelPath,
) -> Result<(u64, OwnedFd), Error> {
    let mut file = std::fs::File::from(fd);
    let mut buf = vec![0u8; 256 << 10];
    let mut written = 0u64;
    let mut next_check = DISK_CHECK_EVERY;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(body_error(&e)),
        };
        file.write_all(&buf[..n]).map_err(|e| io_error(e, path))?;
        written += n as u64;
        if written >= next_check {
            room()?;
            next_check = written + DISK_CHECK_EVERY;
        }
    }
    // Explicitly, not through the umask.
    rustix::fs::fchmod(&file, Mode::from_raw_mode(mode)).map_err(|e| io_error(e.into(), path))?;
    Ok((written, OwnedFd::from(file)))
}

/// Deletes the directory `name` in `parent` with everything in it, never
/// following a symlink: each level is opened with `O_NOFOLLOW` from the
/// descriptor of the one above, so a directory swapped for a symlink by the
/// jail is unlinked as a link, not entered.
fn remove_tree(parent: BorrowedFd<'_>, name: &OsStr, depth: usize) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Err(io::Error::other(
            "the tree is too deep to delete from the host; delete it with an exec",
        ));
    }
    let dir = match rustix::fs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        // Became a symlink or a file since it was looked at: unlink that.
        Err(Errno::LOOP | Errno::NOTDIR) => {
            return rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(Into::into)
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut children = Vec::new();
    for entry in Dir::read_from(&dir)? {
        let entry = entry?;
        let child = entry.file_name().to_bytes();
        if child != b"." && child != b".." {
            children.push((OsStr::from_bytes(child).to_owned(), entry.file_type()));
        }
    }
    for (child, kind) in children {
        let is_dir = match kind {
            FileType::Directory => true,
            FileType::Unknown => rustix::fs::statat(&dir, child.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            _ => false,
        };
        if is_dir {
            remove_tree(dir.as_fd(), &child, depth + 1)?;
        } else {
            match rustix::fs::unlinkat(&dir, child.as_os_str(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                // A directory after all (it replaced the file meanwhile).
                Err(Errno::ISDIR) => remove_tree(dir.as_fd(), &child, depth + 1)?,
                Err(e) => return Err(e.into()),
            }
        }
    }
    drop(dir);
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

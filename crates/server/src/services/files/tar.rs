//! Tar in and out of a workspace tree: `upload-batch` extracts a streamed
//! tar through the same beneath-the-root operations as single files, and
//! `archive` walks a directory by descriptors and streams it out.
//!
//! Uploads are validated as snapshot manifests are: relative paths only,
//! no `..`, no hard links, devices or FIFOs, and permission bits masked to
//! 0o777 (no setuid, setgid or sticky bit). Symlinks are created as they
//! are, as sandbox-agent creates them: a link is only text, the host
//! resolves every path inside the root (an entry written "through" a link
//! to `/` lands in the tree), and the jail could make the same link itself.
//! The archive is read as it streams in, so entries before a refused one
//! stay written. The body reaches the `tar` crate through a [`TarGuard`],
//! which refuses GNU long names and links and PAX headers over 64 KiB
//! before `tar` reads them whole into memory.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Component;

use paddock_api::{Error, ErrorCode};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags};
use rustix::io::Errno;
use tar::{Archive, Builder, EntryType, Header};

use super::beneath::{body_error, Root, MAX_DEPTH};
use super::tar_guard::{Refused, TarGuard};
use super::RelPath;

/// Paths listed in an upload's answer; past them `truncated` is set (every
/// entry is still written).
pub(super) const MAX_LISTED_PATHS: usize = 1024;

/// Entries extracted between two checks of the state disk's free space
/// (large files are also checked as they are written).
const DISK_CHECK_ENTRIES: usize = 1000;

/// Extracts the tar read from `body` into the directory `base` (made as
/// needed); returns the jail paths written, at most [`MAX_LISTED_PATHS`],
/// and whether there were more.
pub(super) fn extract(
    root: &Root,
    base: &RelPath,
    body: &mut dyn Read,
    room: &dyn Fn() -> Result<(), Error>,
) -> Result<(Vec<String>, bool), Error> {
    root.mkdir_all(base, 0o755)?;
    let mut archive = Archive::new(TarGuard::new(body));
    let mut paths = Vec::new();
    let mut truncated = false;
    let entries = archive.entries().map_err(|e| bad_tar(&e))?;
    for (n, entry) in entries.enumerate() {
        if n > 0 && n % DISK_CHECK_ENTRIES == 0 {
            room()?;
        }
        let mut entry = entry.map_err(|e| bad_tar(&e))?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let parts = entry_parts(&raw)?;
        let path = base.join(parts);
        let mode = entry.header().mode().map_err(|e| bad_tar(&e))? & 0o777;
        match kind {
            EntryType::Directory => {
                root.mkdir_all(&path, 0o755)?;
                if !path.is_root() {
                    root.chmod_dir(&path, mode | 0o700)?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                if path.is_root() {
                    return Err(refused(&name, "a file cannot replace the upload's directory"));
                }
                root.write_file(&path, &mut entry, Some(mode), room)?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .filter(|t| !t.is_empty() && !t.contains(&0))
                    .ok_or_else(|| refused(&name, "a symlink without a target"))?
                    .into_owned();
                root.symlink(&path, OsStr::from_bytes(&target))?;
            }
            EntryType::Link => return Err(refused(&name, "hard links are refused")),
            EntryType::Char | EntryType::Block => return Err(refused(&name, "device nodes are refused")),
            EntryType::Fifo => return Err(refused(&name, "FIFOs are refused")),
            _ => return Err(refused(&name, "only files, directories and symlinks are accepted")),
        }
        if paths.len() < MAX_LISTED_PATHS {
            paths.push(path.jail());
        } else {
            truncated = true;
        }
    }
    Ok((paths, truncated))
}

/// The normalized components of an entry's path: relative, no `..`, each
/// valid UTF-8 (jail paths are text in this API).
fn entry_parts(raw: &[u8]) -> Result<Vec<String>, Error> {
    let name = String::from_utf8_lossy(raw);
    let mut parts = Vec::new();
    for component in std::path::Path::new(OsStr::from_bytes(raw)).components() {
        match component {
            Component::Normal(part) => {
                let part = part
                    .to_str()
                    .ok_or_else(|| refused(&name, "entry names must be UTF-8"))?;
                parts.push(part.to_owned());
            }
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(&name, "'..' is not allowed in an entry's path")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(&name, "absolute entry paths are refused"))
            }
        }
    }
    Ok(parts)
}

/// A refused entry.
fn refused(name: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::BadArchive,
        format!("tar entry {name:?}: {why}; nothing after it was written"),
    )
}

/// A tar that cannot be read: a broken body, not a tar, or one the guard
/// refused.
fn bad_tar(err: &io::Error) -> Error {
    if err.kind() == io::ErrorKind::ConnectionAborted {
        return body_error(err);
    }
    if let Some(Refused(why)) = err.get_ref().and_then(|e| e.downcast_ref::<Refused>()) {
        return Error::new(ErrorCode::BadArchive, format!("{why}; nothing after it was written"));
    }
    Error::new(ErrorCode::BadArchive, format!("the body is not a readable tar: {err}"))
}

/// Writes the directory `dir` (open for reading) as a tar to `out`: its
/// entries relative to it, directories, regular files and symlinks (FIFOs,
/// sockets and devices are left out), permission bits only, owner 0.
pub(super) fn write_archive(dir: OwnedFd, out: &mut dyn Write) -> io::Result<()> {
    let mut builder = Builder::new(out);
    append_dir(&mut builder, dir.as_fd(), "", 0)?;
    builder.into_inner()?.flush()
}

/// Appends the entries of `dir` (recursively) under `prefix`.
fn append_dir(
    builder: &mut Builder<&mut dyn Write>,
    dir: BorrowedFd<'_>,
    prefix: &str,
    depth: usize,
) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Err(io::Error::other("the tree is too deep to archive"));
    }
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_owned());
        }
    }
    names.sort();
    for name in names {
        let st = match rustix::fs::statat(dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let path = format!("{prefix}{}", name.to_string_lossy());
        let mut header = Header::new_gnu();
        header.set_mode(st.st_mode & 0o777);
        header.set_mtime(st.st_mtime.max(0) as u64);
        header.set_uid(0);
        header.set_gid(0);
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                // O_NOFOLLOW from the parent's descriptor: a directory the
                // jail swapped for a symlink since is not entered.
                let child = match rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                    Err(e) => return Err(e.into()),
                };
                header.set_entry_type(EntryType::Directory);
                header.set_size(0);
                builder.append_data(&mut header, format!("{path}/"), io::empty())?;
                append_dir(builder, child.as_fd(), &format!("{path}/"), depth + 1)?;
            }
            FileType::RegularFile => {
                // O_NONBLOCK and a second look: what is opened is the
                // regular file that was looked at, or it is left out.
                let file = match rustix::fs::openat(
                    dir,
                    name.as_os_str(),
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::LOOP) => continue,
                    Err(e) => return Err(e.into()),
                };
                let st = rustix::fs::fstat(&file)?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    continue;
                }
                let size = st.st_size as u64;
                header.set_entry_type(EntryType::Regular);
                header.set_size(size);
                // Exactly `size` bytes whatever the file does meanwhile:
                // cut when it grew, zeros when it shrank, so the archive
                // stays well formed.
                let body = std::fs::File::from(file).take(size).chain(io::repeat(0)).take(size);
                builder.append_data(&mut header, &path, body)?;
            }
            FileType::Symlink => {
                let target = match rustix::fs::readlinkat(dir, name.as_os_str(), Vec::new()) {
                    Ok(target) => target,
                    Err(Errno::NOENT | Errno::INVAL) => continue,
                    Err(e) => return Err(e.into()),
                };
                header.set_entry_type(EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &path, OsStr::from_bytes(target.as_bytes()))?;
            }
            _ => {}
        }
    }
    Ok(())
}

//! `paddock ws cp|ls|cat`: files of a workspace through the runtime's file
//! API (`…/runtime/v1/fs/*`), streamed both ways in bounded memory.
//!
//! `cp` names the workspace side as `ID:PATH` (as `docker cp` does). A file
//! goes up with `PUT /fs/file` (the local file is the body) and comes down
//! with `GET /fs/file` copied straight into the local file; a directory
//! goes up as a tar built on a thread while it is sent
//! (`/fs/upload-batch`) and comes down as a tar (`/fs/archive`) unpacked
//! as it arrives, entry by entry, refusing anything that would land
//! outside the destination.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;

use paddock_api::runtime::fs::{FsEntry, FsEntryType, FsStat, FsUploadBatchResponse, FsWriteResponse};
use reqwest::blocking::Body;
use reqwest::Method;

use crate::client::{encode, print_table, Connection, Failure, Outcome};
use crate::runtime_client::{print_json, Runtime};

/// Bytes per piece of a tar on its way up.
const TAR_PIECE: usize = 256 << 10;
/// Pieces in flight between the tar thread and the request.
const TAR_PIECES_QUEUED: usize = 4;

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this machine.
    Local(PathBuf),
    /// `ID:PATH` in a workspace.
    Remote { id: String, path: String },
}

/// `ID:PATH` is a workspace path when ID is a plain id (letters, digits,
/// `_`, `-`); anything else (`./a:b`, `/x:y`, `a`) is local.
pub fn location(arg: &str) -> Location {
    if let Some((id, path)) = arg.split_once(':') {
        let plain = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if plain {
            let path = if path.is_empty() { "/workspace" } else { path };
            return Location::Remote {
                id: id.to_owned(),
                path: path.to_owned(),
            };
        }
    }
    Location::Local(PathBuf::from(arg))
}

/// `…/fs/{route}?path=PATH`.
fn fs_url(runtime: &Runtime, route: &str, path: &str) -> String {
    runtime.url(&format!("fs/{route}?path={}", encode(path)))
}

/// The remote entry at `path`, or `None` when nothing is there.
fn remote_stat(runtime: &Runtime, path: &str) -> Result<Option<FsStat>, Failure> {
    let request = runtime.request(Method::GET, &fs_url(runtime, "stat", path));
    match runtime.try_send(request)? {
        Ok(response) => {
            let stat = response
                .json::<FsStat>()
                .map_err(|e| Failure(format!("unexpected stat answer for {path}: {e}")))?;
            Ok(Some(stat))
        }
        Err(err) if err.code.as_deref() == Some("PATH_NOT_FOUND") => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The last component of a path (`/a/b/` → `b`), if it has one.
fn base_name(path: &str) -> Option<&str> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
}

/// `a` + `b` with one `/`.
fn join_remote(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

/// `paddock ws cp SRC DST`.
pub fn cp(conn: &Connection, src: &str, dst: &str) -> Outcome {
    match (location(src), location(dst)) {
        (Location::Local(from), Location::Remote { id, path }) => upload(conn, &from, &id, &path),
        (Location::Remote { id, path }, Location::Local(to)) => download(conn, &id, &path, &to),
        (Location::Remote { .. }, Location::Remote { .. }) => Err(Failure(
            "copying between two workspace paths is not supported: one side must be local".into(),
        )),
        (Location::Local(_), Location::Local(_)) => Err(Failure(
            "one side must be a workspace path, ID:PATH (e.g. wrk_123:/workspace/file)".into(),
        )),
    }
}

/// Local → workspace.
fn upload(conn: &Connection, from: &Path, id: &str, to: &str) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let meta = std::fs::metadata(from).map_err(|e| Failure(format!("{}: {e}", from.display())))?;
    let existing = remote_stat(&runtime, to)?;
    let into_dir = existing
        .as_ref()
        .is_some_and(|s| s.entry_type == FsEntryType::Directory);
    if meta.is_dir() {
        if existing.is_some() && !into_dir {
            return Err(Failure(format!("{id}:{to} exists and is not a directory")));
        }
        // Into an existing directory: as a directory of its name there.
        let target = match (into_dir, base_name(&from.to_string_lossy())) {
            (true, Some(name)) => join_remote(to, name),
            _ => to.to_owned(),
        };
        let (pieces_tx, pieces) = mpsc::sync_channel(TAR_PIECES_QUEUED);
        let root = from.to_path_buf();
        let builder = std::thread::Builder::new()
            .name("paddock-tar".into())
            .spawn(move || {
                let mut tar = tar::Builder::new(PieceWriter {
                    pending: Vec::with_capacity(TAR_PIECE),
                    pieces: pieces_tx.clone(),
                });
                tar.follow_symlinks(false);
                let built = append_tree(&mut tar, &root, Path::new("")).and_then(|()| tar.into_inner());
                match built.and_then(|mut w| w.flush().map(|()| w)) {
                    Ok(_) => {}
                    Err(e) => {
                        let _ = pieces_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| Failure(format!("cannot start the tar thread: {e}")))?;
        let body = Body::new(PieceReader {
            pieces,
            current: std::io::Cursor::new(Vec::new()),
        });
        let request = runtime
            .request(Method::POST, &fs_url(&runtime, "upload-batch", &target))
            .header("content-type", "application/x-tar")
            .body(body);
        let sent = runtime.send(request);
        let _ = builder.join();
        let response = sent?;
        let raw = response
            .text()
            .map_err(|e| Failure(format!("the answer of the upload broke off: {e}")))?;
        if conn.json {
            print_json(&raw);
        } else {
            let done: FsUploadBatchResponse =
                serde_json::from_str(&raw).map_err(|e| Failure(format!("unexpected upload answer: {e}")))?;
            let more = if done.truncated { "+" } else { "" };
            println!(
                "{} -> {id}:{target} ({}{more} entries)",
                from.display(),
                done.paths.len()
            );
        }
        return Ok(0);
    }
    if !meta.is_file() {
        return Err(Failure(format!("{}: not a regular file or directory", from.display())));
    }
    let target = match (into_dir || to.ends_with('/'), from.file_name()) {
        (true, Some(name)) => join_remote(to, &name.to_string_lossy()),
        _ => to.to_owned(),
    };
    let file = std::fs::File::open(from).map_err(|e| Failure(format!("{}: {e}", from.display())))?;
    let request = runtime
        .request(Method::PUT, &fs_url(&runtime, "file", &target))
        .header("content-type", "application/octet-stream")
        .body(Body::sized(file, meta.len()));
    let raw = runtime
        .send(request)?
        .text()
        .map_err(|e| Failure(format!("the answer of the upload broke off: {e}")))?;
    if conn.json {
        print_json(&raw);
    } else {
        let written: FsWriteResponse =
            serde_json::from_str(&raw).map_err(|e| Failure(format!("unexpected upload answer: {e}")))?;
        println!(
            "{} -> {id}:{} ({} bytes)",
            from.display(),
            written.path,
            written.bytes_written
        );
    }
    Ok(0)
}

/// Adds the tree under `dir` to the tar as `prefix/...`: directories,
/// regular files and symlinks (stored as links, never followed); FIFOs,
/// sockets and devices are left out with a note.
fn append_tree<W: Write>(tar: &mut tar::Builder<W>, dir: &Path, prefix: &Path) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = prefix.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tar.append_dir(&name, &path)?;
            append_tree(tar, &path, &name)?;
        } else if kind.is_file() || kind.is_symlink() {
            tar.append_path_with_name(&path, &name)?;
        } else {
            eprintln!(
                "paddock: {} is not a file, directory or symlink; left out",
                path.display()
            );
        }
    }
    Ok(())
}

/// The writing end of the tar thread: fixed-size pieces into a bounded
/// channel, so the tar is never whole in memory.
struct PieceWriter {
    pending: Vec<u8>,
    pieces: mpsc::SyncSender<std::io::Result<Vec<u8>>>,
}

impl PieceWriter {
    fn ship(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.pending, Vec::with_capacity(TAR_PIECE));
        self.pieces
            .send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload ended"))
    }
}

impl Write for PieceWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = TAR_PIECE - self.pending.len();
        let n = buf.len().min(room);
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == TAR_PIECE {
            self.ship()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.ship()
    }
}

/// The reading end: the request body.
struct PieceReader {
    pieces: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl Read for PieceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.pieces.recv() {
                Ok(Ok(piece)) => self.current = std::io::Cursor::new(piece),
                Ok(Err(e)) => return Err(std::io::Error::new(e.kind(), format!("building the tar: {e}"))),
                // The tar thread finished: the end of the body.
                Err(_) => return Ok(0),
            }
        }
    }
}

/// Workspace → local.
fn download(conn: &Connection, id: &str, from: &str, to: &Path) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let stat =
        remote_stat(&runtime, from)?.ok_or_else(|| Failure(format!("{id}:{from}: no such file or directory")))?;
    let local_dir = to.is_dir();
    if stat.entry_type == FsEntryType::Directory {
        // Into an existing directory: as a directory of its name there;
        // else the directory is made and takes the contents.
        let target = match (local_dir, base_name(from)) {
            (true, Some(name)) => to.join(name),
            _ => to.to_path_buf(),
        };
        if target.exists() && !target.is_dir() {
            return Err(Failure(format!("{} exists and is not a directory", target.display())));
        }
        std::fs::create_dir_all(&target).map_err(|e| Failure(format!("{}: {e}", target.display())))?;
        let response = runtime.send(runtime.request(Method::GET, &fs_url(&runtime, "archive", from)))?;
        let count = unpack(response, &target)?;
        if !conn.json {
            println!("{id}:{from} -> {} ({count} entries)", target.display());
        }
        return Ok(0);
    }
    let target = match (local_dir, base_name(from)) {
        (true, Some(name)) => to.join(name),
        _ => to.to_path_buf(),
    };
    let mut response = runtime.send(runtime.request(Method::GET, &fs_url(&runtime, "file", from)))?;
    // Written next to the target and renamed over it when complete, so a
    // broken transfer leaves no half file behind.
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let partial = parent.join(format!(".{name}.paddock-partial-{}", std::process::id()));
    let copied = (|| -> std::io::Result<u64> {
        let mut file = std::fs::File::create(&partial)?;
        let n = response.copy_to(&mut file).map_err(std::io::Error::other)?;
        file.sync_all()?;
        std::fs::rename(&partial, &target)?;
        Ok(n)
    })();
    let bytes = copied.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        Failure(format!("{id}:{from} -> {}: {e}", target.display()))
    })?;
    if bytes != stat.size && !conn.json {
        eprintln!("paddock: note: {id}:{from} changed size while it was copied");
    }
    if !conn.json {
        println!("{id}:{from} -> {} ({bytes} bytes)", target.display());
    }
    Ok(0)
}

/// Whether a tar entry's path stays beneath the destination: relative,
/// without `..`.
fn contained(path: &Path) -> bool {
    path.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Unpacks a tar as it streams in: directories, regular files and
/// symlinks whose target stays beneath `dst`; anything else (absolute
/// paths, `..`, links out, hard links, devices) is refused.
fn unpack(body: impl Read, dst: &Path) -> Result<u64, Failure> {
    let mut archive = tar::Archive::new(body);
    archive.set_overwrite(true);
    archive.set_preserve_permissions(true);
    archive.set_unpack_xattrs(false);
    archive.set_preserve_ownerships(false);
    let bad = |e: std::io::Error| Failure(format!("reading the archive: {e}"));
    let mut count = 0;
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.into_owned();
        if !contained(&path) {
            return Err(Failure(format!(
                "refused archive entry {}: outside the destination",
                path.display()
            )));
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Directory | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .ok_or_else(|| Failure(format!("symlink {} has no target", path.display())))?;
                // The link resolves from its own directory.
                let resolved = path.parent().unwrap_or(Path::new("")).join(&target);
                if target.is_absolute() || !stays_beneath(&resolved) {
                    return Err(Failure(format!(
                        "refused archive entry {}: a symlink out of the destination ({})",
                        path.display(),
                        target.display()
                    )));
                }
            }
            other => {
                return Err(Failure(format!(
                    "refused archive entry {}: {other:?} entries are not unpacked",
                    path.display()
                )))
            }
        }
        // `unpack_in` refuses paths out of `dst` and writes through no
        // symlink that leads out of it.
        let inside = entry
            .unpack_in(dst)
            .map_err(|e| Failure(format!("unpacking {}: {e}", path.display())))?;
        if !inside {
            return Err(Failure(format!(
                "refused archive entry {}: outside the destination",
                path.display()
            )));
        }
        count += 1;
    }
    Ok(count)
}

/// Whether a relative path, with `..` applied lexically, never climbs
/// above where it starts.
fn stays_beneath(path: &Path) -> bool {
    let mut depth: i64 = 0;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// `paddock ws ls ID [PATH]`.
pub fn ls(conn: &Connection, id: &str, path: Option<&str>) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let url = match path {
        Some(path) => fs_url(&runtime, "entries", path),
        None => runtime.url("fs/entries"),
    };
    let (entries, raw): (Vec<FsEntry>, String) = runtime.call(Method::GET, &url, None)?;
    if conn.json {
        print_json(&raw);
        return Ok(0);
    }
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                match e.entry_type {
                    FsEntryType::File => "file".to_owned(),
                    FsEntryType::Directory => "dir".to_owned(),
                },
                e.size.to_string(),
                e.modified.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    print_table(&["name", "type", "size", "modified"], rows);
    Ok(0)
}

/// `paddock ws cat ID PATH`: the file's bytes to stdout as they come.
pub fn cat(conn: &Connection, id: &str, path: &str) -> Outcome {
    let runtime = Runtime::new(conn, id)?;
    let mut response = runtime.send(runtime.request(Method::GET, &fs_url(&runtime, "file", path)))?;
    let mut out = std::io::stdout().lock();
    match response.copy_to(&mut out) {
        Ok(_) => {}
        Err(e) => {
            // A closed pipe (`| head`) ends paddock quietly.
            let closed = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<std::io::Error>())
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
            if closed {
                return Ok(0);
            }
            return Err(Failure(format!("{id}:{path}: {e}")));
        }
    }
    let _ = out.flush();
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_like_docker_cp() {
        assert_eq!(
            location("wrk_1:/workspace/a"),
            Location::Remote {
                id: "wrk_1".into(),
                path: "/workspace/a".into()
            }
        );
        assert_eq!(
            location("wrk_1:"),
            Location::Remote {
                id: "wrk_1".into(),
                path: "/workspace".into()
            }
        );
        assert_eq!(location("./a:b"), Location::Local("./a:b".into()));
        assert_eq!(location("/tmp/x:y"), Location::Local("/tmp/x:y".into()));
        assert_eq!(location("file"), Location::Local("file".into()));
    }

    #[test]
    fn base_names_ignore_trailing_slashes() {
        assert_eq!(base_name("/workspace/dir/"), Some("dir"));
        assert_eq!(base_name("dir"), Some("dir"));
        assert_eq!(base_name("/"), None);
        assert_eq!(base_name("a/.."), None);
    }

    #[test]
    fn symlink_targets_must_stay_beneath() {
        assert!(stays_beneath(Path::new("a/../b")));
        assert!(stays_beneath(Path::new("a/b/../../c")));
        assert!(!stays_beneath(Path::new("a/../../etc")));
        assert!(!stays_beneath(Path::new("/etc")));
    }

    /// A tar with one entry of `kind` at `path` (linking to `link`).
    fn tar_with(kind: tar::EntryType, path: &str, link: Option<&str>) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(if kind == tar::EntryType::Regular { 2 } else { 0 });
        header.set_mode(0o644);
        // Written raw: `set_path` itself refuses `..`.
        let name = &mut header.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            header.set_link_name(link).unwrap();
        }
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        if kind == tar::EntryType::Regular {
            let mut block = [0u8; 512];
            block[..2].copy_from_slice(b"hi");
            out.extend_from_slice(&block);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn hostile_archives_are_refused_and_write_nothing_outside() {
        let base = tempfile::tempdir().unwrap();
        let dst = base.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let cases = [
            tar_with(tar::EntryType::Regular, "../escaped", None),
            tar_with(tar::EntryType::Regular, "/abs", None),
            tar_with(tar::EntryType::Symlink, "link", Some("/etc")),
            tar_with(tar::EntryType::Symlink, "link2", Some("../../x")),
            tar_with(tar::EntryType::Link, "hard", Some("/etc/passwd")),
            tar_with(tar::EntryType::Char, "dev", None),
        ];
        for tar in cases {
            assert!(unpack(&tar[..], &dst).is_err());
        }
        assert!(!base.path().join("escaped").exists());
        assert_eq!(std::fs::read_dir(&dst).unwrap().count(), 0);
        let ok = tar_with(tar::EntryType::Regular, "sub-file", None);
        assert_eq!(unpack(&ok[..], &dst).map_err(|f| f.0).unwrap(), 1);
        assert_eq!(std::fs::read(dst.join("sub-file")).unwrap(), b"hi");
    }
}

//! The file API of a workspace (RUNTIME.md §4, sandbox-agent 0.4.2's
//! `/v1/fs/*`): files served from the host, beneath the workspace's tree.
//!
//! - [`RelPath`] maps a jail path (`/workspace/a`, `a`, `~/a`) into the
//!   tree and refuses anything else;
//! - `beneath` does every operation with descriptors beneath the tree's
//!   root (the security core);
//! - `tar` extracts uploads and streams directories out as tar.
//!
//! Every function takes the [`TreeAccess`] and keeps it until its work is
//! done, streamed bodies included, so a snapshot, pause or delete of the
//! workspace waits for it. Blocking file-system work runs on tokio's
//! blocking threads; bodies cross between them and the async side through
//! bounded channels, so a body of any size moves in bounded memory.

mod beneath;
mod tar;
mod tar_guard;

use std::io;

use axum::body::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use paddock_api::runtime::fs::{
    FsActionResponse, FsEntry, FsMoveResponse, FsStat, FsUploadBatchResponse, FsWriteResponse,
};
use paddock_api::{Error, ErrorCode};
use rustix::fs::OFlags;
use tokio::sync::mpsc;

use crate::services::space::StateDisk;
use crate::services::workspaces::TreeAccess;
use beneath::Root;

/// The jail's directory the tree is mounted at.
pub const JAIL_ROOT: &str = "/workspace";

/// Longest path accepted (the kernel's `PATH_MAX`).
const MAX_PATH_BYTES: usize = 4096;

/// Chunks in flight between a body and the blocking side.
const CHANNEL_CHUNKS: usize = 8;

/// Size of the chunks sent out of the blocking side.
const CHUNK_BYTES: usize = 64 << 10;

/// A path inside the workspace tree, relative to its root: normalized
/// components, none empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    parts: Vec<String>,
    joined: String,
}

impl RelPath {
    /// The tree's root (`/workspace`).
    pub fn root() -> RelPath {
        RelPath {
            parts: Vec::new(),
            joined: String::new(),
        }
    }

    /// Maps a path as the jail sees it into the tree: `/workspace` and
    /// `/workspace/…` as they are; relative paths from `/workspace` (the
    /// jail's working directory); `~` and `~/…` from `/workspace` too (the
    /// jail has no other home that the host serves); an empty path is the
    /// root. Any other absolute path, `..`, or a NUL byte is `BAD_PATH`.
    pub fn parse(path: &str) -> Result<RelPath, Error> {
        if path.len() > MAX_PATH_BYTES {
            return Err(Error::new(ErrorCode::BadPath, "path too long"));
        }
        if path.contains('\0') {
            return Err(Error::new(ErrorCode::BadPath, "a path cannot hold a NUL byte"));
        }
        let relative = if path == "~" {
            ""
        } else if let Some(rest) = path.strip_prefix("~/") {
            rest
        } else if path.starts_with('/') {
            match path.strip_prefix(JAIL_ROOT) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
                _ => {
                    return Err(Error::new(
                        ErrorCode::BadPath,
                        format!("only paths under {JAIL_ROOT} are served: {path} is outside it"),
                    ))
                }
            }
        } else {
            path
        };
        let mut parts = Vec::new();
        for part in relative.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(Error::new(
                        ErrorCode::BadPath,
                        format!("'..' is not allowed in a path: {path}"),
                    ))
                }
                part => parts.push(part.to_owned()),
            }
        }
        Ok(RelPath::from_parts(parts))
    }

    fn from_parts(parts: Vec<String>) -> RelPath {
        let joined = parts.join("/");
        RelPath { parts, joined }
    }

    /// Whether this is the root itself.
    pub fn is_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The components joined with `/` (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.joined
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether there are no components (the root).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The first `n` components.
    pub fn prefix(&self, n: usize) -> RelPath {
        RelPath::from_parts(self.parts[..n.min(self.parts.len())].to_vec())
    }

    /// The last component (empty for the root).
    pub fn last_name(&self) -> &str {
        self.parts.last().map(String::as_str).unwrap_or("")
    }

    /// The parent and the last component; `None` for the root.
    pub fn split_last(&self) -> Option<(RelPath, &str)> {
        let (last, parent) = self.parts.split_last()?;
        Some((RelPath::from_parts(parent.to_vec()), last))
    }

    /// Whether `other`'s components start this path.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        self.parts.starts_with(&other.parts)
    }

    /// This path with `more` components appended (already validated).
    pub fn join(&self, more: Vec<String>) -> RelPath {
        let mut parts = self.parts.clone();
        parts.extend(more);
        RelPath::from_parts(parts)
    }

    /// The path as the jail sees it (`/workspace/a/b`).
    pub fn jail(&self) -> String {
        if self.is_root() {
            JAIL_ROOT.to_owned()
        } else {
            format!("{JAIL_ROOT}/{}", self.joined)
        }
    }

    /// The jail path of the entry `name` in this directory.
    pub fn child_jail(&self, name: &str) -> String {
        format!("{}/{name}", self.jail())
    }
}

/// A modification time as sandbox-agent writes it (chrono's RFC 3339:
/// `2026-12-03T09:23:09.083104927+00:00`, the fraction in 3, 6 or 9 digits
/// or none, as the value needs).
pub(crate) fn modified(st: &rustix::fs::Stat) -> String {
    let nanos = st.st_mtime_nsec as u32;
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(st.st_mtime) else {
        return String::new();
    };
    // Nine digits, less each trailing group of three zeros.
    let mut fraction = format!(".{nanos:09}");
    while fraction.ends_with("000") {
        fraction.truncate(fraction.len() - 3);
    }
    if fraction == "." {
        fraction.clear();
    }
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses an optional path (absent: the root).
fn parse_optional(path: Option<&str>) -> Result<RelPath, Error> {
    path.map_or_else(|| Ok(RelPath::root()), RelPath::parse)
}

/// Runs `work` with the tree's root open, on a blocking thread; the access
/// is held until it ends.
async fn beneath<T, F>(access: TreeAccess, work: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&Root) -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let root = Root::open(access.root())?;
        let result = work(&root);
        drop(access);
        result
    })
    .await
    .map_err(Error::internal)?
}

/// `GET …/v1/fs/entries`: the directory's entries (the root when `path` is
/// absent).
pub async fn list(access: TreeAccess, path: Option<&str>) -> Result<Vec<FsEntry>, Error> {
    let path = parse_optional(path)?;
    beneath(access, move |root| root.list(&path)).await
}

/// `GET …/v1/fs/stat`.
pub async fn stat(access: TreeAccess, path: &str) -> Result<FsStat, Error> {
    let path = RelPath::parse(path)?;
    beneath(access, move |root| root.stat(&path)).await
}

/// `POST …/v1/fs/mkdir`: the directory and its parents.
pub async fn mkdir(access: TreeAccess, disk: &StateDisk, path: &str) -> Result<FsActionResponse, Error> {
    let path = RelPath::parse(path)?;
    disk.ensure_room("create a directory")?;
    let jail = path.jail();
    beneath(access, move |root| root.mkdir(&path)).await?;
    Ok(FsActionResponse { path: jail })
}

/// `DELETE …/v1/fs/entry`.
pub async fn remove(access: TreeAccess, path: &str, recursive: bool) -> Result<FsActionResponse, Error> {
    let path = RelPath::parse(path)?;
    let jail = path.jail();
    beneath(access, move |root| root.remove(&path, recursive)).await?;
    Ok(FsActionResponse { path: jail })
}

/// `POST …/v1/fs/move`.
pub async fn rename(
    access: TreeAccess,
    disk: &StateDisk,
    from: &str,
    to: &str,
    overwrite: bool,
) -> Result<FsMoveResponse, Error> {
    let (from, to) = (RelPath::parse(from)?, RelPath::parse(to)?);
    // A move may make the destination's parents.
    disk.ensure_room("move a file")?;
    let answer = FsMoveResponse {
        from: from.jail(),
        to: to.jail(),
    };
    beneath(access, move |root| root.rename(&from, &to, overwrite)).await?;
    Ok(answer)
}

/// A file being read out: its length and its bytes.
pub struct FileStream {
    /// Bytes the stream will carry.
    pub len: u64,
    /// The bytes, in chunks; an error ends the stream early.
    pub stream: BoxStream<'static, io::Result<Bytes>>,
}

/// `GET …/v1/fs/file`: the regular file at `path`, streamed.
pub async fn read(access: TreeAccess, path: &str) -> Result<FileStream, Error> {
    let path = RelPath::parse(path)?;
    let (file, len, access) = tokio::task::spawn_blocking(move || {
        let root = Root::open(access.root())?;
        let (file, len) = root.open_file(&path)?;
        Ok::<_, Error>((file, len, access))
    })
    .await
    .map_err(Error::internal)??;
    let stream = stream_out(move |out| {
        use std::io::Read;
        let _held = access;
        let copied = io::copy(&mut file.take(len), out)?;
        if copied < len {
            // The file shrank while it was sent: end the body short (the
            // client sees a broken transfer, never a wrong length).
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        Ok(())
    });
    Ok(FileStream { len, stream })
}

/// The whole file at `path` when it is at most `max` bytes (400 past
/// that), or `None` when there is none (or a file stands where a
/// directory of the path should).
pub async fn read_whole(access: TreeAccess, path: &str, max: usize) -> Result<Option<Vec<u8>>, Error> {
    let file = match read(access, path).await {
        Ok(file) => file,
        Err(err) if matches!(err.code, ErrorCode::PathNotFound | ErrorCode::BadPath) => return Ok(None),
        Err(err) => return Err(err),
    };
    if file.len > max as u64 {
        return Err(Error::new(
            ErrorCode::BadRequest,
            format!("{path} is over {} MiB", max >> 20),
        ));
    }
    let mut stream = file.stream;
    let mut bytes = Vec::with_capacity(file.len as usize);
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(Error::internal)?);
    }
    Ok(Some(bytes))
}

/// `PUT …/v1/fs/file`: `body` streamed into the file at `path` (parents
/// made as needed), replacing it whole when it exists.
pub async fn write<S, E>(access: TreeAccess, disk: &StateDisk, path: &str, body: S) -> Result<FsWriteResponse, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let path = RelPath::parse(path)?;
    disk.ensure_room("write a file")?;
    let jail = path.jail();
    let disk = disk.clone();
    let bytes_written = stream_in(body, move |reader| {
        let root = Root::open(access.root())?;
        let room = || disk.ensure_room("go on writing the file");
        let written = root.write_file(&path, reader, None, &room);
        drop(access);
        written
    })
    .await?;
    Ok(FsWriteResponse {
        path: jail,
        bytes_written,
    })
}

/// `POST …/v1/fs/upload-batch`: a tar `body` extracted into the directory
/// at `path` (the root when absent; made as needed).
pub async fn upload_tar<S, E>(
    access: TreeAccess,
    disk: &StateDisk,
    path: Option<&str>,
    body: S,
) -> Result<FsUploadBatchResponse, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let base = parse_optional(path)?;
    disk.ensure_room("upload files")?;
    let disk = disk.clone();
    let (paths, truncated) = stream_in(body, move |reader| {
        let root = Root::open(access.root())?;
        let room = || disk.ensure_room("go on uploading files");
        let result = tar::extract(&root, &base, reader, &room);
        drop(access);
        result
    })
    .await?;
    Ok(FsUploadBatchResponse { paths, truncated })
}

/// `GET …/v1/fs/archive`: the directory at `path` (the root when absent)
/// as a tar, streamed.
pub async fn archive(access: TreeAccess, path: Option<&str>) -> Result<BoxStream<'static, io::Result<Bytes>>, Error> {
    let path = parse_optional(path)?;
    // Open the directory first, so that a missing path is a proper error
    // answer rather than a broken stream.
    let (dir, access) = tokio::task::spawn_blocking(move || {
        let root = Root::open(access.root())?;
        let dir = root
            .open_at(&path, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| beneath::io_error(e, &path))?;
        Ok::<_, Error>((dir, access))
    })
    .await
    .map_err(Error::internal)??;
    Ok(stream_out(move |out| {
        let _held = access;
        tar::write_archive(dir, out)
    }))
}

/// Runs `work` on a blocking thread with a reader of `body`, which is fed
/// from here through a bounded channel.
async fn stream_in<S, E, T, F>(mut body: S, work: F) -> Result<T, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
    T: Send + 'static,
    F: FnOnce(&mut dyn io::Read) -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    let task = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        work(&mut reader)
    });
    while let Some(chunk) = body.next().await {
        let item = chunk.map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()));
        let failed = item.is_err();
        // A closed channel: the blocking side stopped (refused the body);
        // its answer says why.
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    task.await.map_err(Error::internal)?
}

/// The reading end of a body on a blocking thread.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(bytes)) => self.current = bytes,
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// A stream of what `work` writes on a blocking thread, in chunks through a
/// bounded channel; an error of `work` ends the stream with it. A dropped
/// stream (the client went away) makes `work`'s writes fail, so it stops.
fn stream_out<F>(work: F) -> BoxStream<'static, io::Result<Bytes>>
where
    F: FnOnce(&mut dyn io::Write) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = work(&mut out).and_then(|()| io::Write::flush(&mut out));
        if let Err(err) = result {
            tracing::warn!(%err, "a streamed file answer ended early");
            let _ = tx.blocking_send(Err(err));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// The writing end of a streamed answer on a blocking thread.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client stopped reading"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_paths_map_into_the_tree_and_nothing_else_does() {
        for (input, rel) in [
            ("", ""),
            ("/workspace", ""),
            ("/workspace/", ""),
            ("/workspace/a/b.txt", "a/b.txt"),
            ("/workspace//a/./b/", "a/b"),
            ("a/b", "a/b"),
            ("./a", "a"),
            ("~", ""),
            ("~/a", "a"),
            ("~x", "~x"),
        ] {
            let path = RelPath::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(path.as_str(), rel, "{input}");
        }
        for bad in [
            "/etc/passwd",
            "/workspacex/a",
            "/tmp",
            "/",
            "../x",
            "a/../../b",
            "/workspace/..",
            "a\0b",
        ] {
            let err = RelPath::parse(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::BadPath, "{bad}");
        }
        assert_eq!(
            RelPath::parse("a/b").map(|p| p.jail()).ok().as_deref(),
            Some("/workspace/a/b")
        );
        assert_eq!(RelPath::root().jail(), "/workspace");
    }

    #[test]
    fn modified_times_are_written_as_sandbox_agent_writes_them() {
        // SAFETY: a plain struct of integers, all zero is a valid value.
        let mut st: rustix::fs::Stat = unsafe { std::mem::zeroed() };
        st.st_mtime = 1_796_289_789;
        st.st_mtime_nsec = 83_104_927;
        assert_eq!(modified(&st), "2026-12-03T09:23:09.083104927+00:00");
        st.st_mtime_nsec = 0;
        assert_eq!(modified(&st), "2026-12-03T09:23:09+00:00");
        st.st_mtime_nsec = 500_000_000;
        assert_eq!(modified(&st), "2026-12-03T09:23:09.500+00:00");
    }
}

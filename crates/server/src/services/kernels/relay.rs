//! The host's way to a kernel's ports: unix sockets in a private host
//! directory (0700) that the ZeroMQ client dials, each connection relayed
//! to the kernel's port by a socket the jail's init makes in the jail's
//! network namespace.
//!
//! What comes back from the jail is read as ZMTP 3 (a 64-byte greeting,
//! then frames of a flags byte, a 1- or 8-byte length and the body) and
//! cut, with the kernel killed, when a frame or a multipart message passes
//! [`MAX_MESSAGE`]: the ZeroMQ client reserves a frame's announced length
//! before reading it, so code in the jail could otherwise make the server
//! reserve any amount.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use paddock_api::Error;
use paddock_jail::JailExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Largest frame, and largest message, a kernel may send the host.
pub const MAX_MESSAGE: u64 = 128 << 20;
/// ZMTP 3's greeting.
const GREETING: usize = 64;

/// The relay of one kernel.
#[derive(Debug)]
pub struct Relay {
    dir: tempfile::TempDir,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Relay {
    /// One socket per port of `ports`, relayed into the jail of
    /// `executor`; a kernel (process `pid`) that sends too much is killed
    /// and `oversized` set.
    pub fn open(
        executor: &JailExecutor,
        ports: [u16; 5],
        pid: i32,
        oversized: Arc<AtomicBool>,
    ) -> Result<Relay, Error> {
        let dir = tempfile::Builder::new()
            .prefix("paddock-kernel-")
            .tempdir()
            .map_err(|e| Error::internal(format!("the kernel's relay directory: {e}")))?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).map_err(Error::internal)?;
        let mut tasks = Vec::new();
        for port in ports {
            let listener =
                tokio::net::UnixListener::bind(dir.path().join(format!("k-{port}"))).map_err(Error::internal)?;
            let executor = executor.clone();
            let oversized = oversized.clone();
            tasks.push(tokio::spawn(async move {
                while let Ok((outside, _)) = listener.accept().await {
                    let executor = executor.clone();
                    let oversized = oversized.clone();
                    tokio::spawn(async move {
                        let Ok(inside) = executor.connect(port).await else {
                            return;
                        };
                        if relay(outside, inside).await.is_err() {
                            oversized.store(true, Ordering::SeqCst);
                            let _ = executor.signal(pid, libc::SIGKILL).await;
                        }
                    });
                }
            }));
        }
        Ok(Relay { dir, tasks })
    }

    /// The `ip` of an ipc `ConnectionInfo` (`{ip}-{port}` is a socket).
    pub fn prefix(&self) -> String {
        self.dir.path().join("k").to_string_lossy().into_owned()
    }
}

/// Copies both ways until either side ends; `Err` when the jail's side
/// sent a frame or message past [`MAX_MESSAGE`].
async fn relay(outside: tokio::net::UnixStream, inside: tokio::net::TcpStream) -> Result<(), Oversized> {
    let (mut from_host, mut to_host) = outside.into_split();
    let (mut from_jail, mut to_jail) = inside.into_split();
    let upstream = tokio::io::copy(&mut from_host, &mut to_jail);
    let downstream = async {
        let mut guard = FrameGuard::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match from_jail.read(&mut buf).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => n,
            };
            guard.feed(&buf[..n])?;
            if to_host.write_all(&buf[..n]).await.is_err() {
                return Ok(());
            }
        }
    };
    tokio::select! {
        _ = upstream => Ok(()),
        ended = downstream => ended,
    }
}

/// A frame or message past [`MAX_MESSAGE`].
#[derive(Debug, PartialEq, Eq)]
pub struct Oversized;

/// Follows the ZMTP 3 framing of one direction of a connection.
#[derive(Debug)]
struct FrameGuard {
    state: State,
    /// Bytes of the message under way (its frames so far).
    message: u64,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Greeting(usize),
    Flags,
    Size {
        long: bool,
        more: bool,
        got: usize,
        bytes: [u8; 8],
    },
    Body(u64),
}

impl Default for FrameGuard {
    fn default() -> FrameGuard {
        FrameGuard {
            state: State::Greeting(GREETING),
            message: 0,
        }
    }
}

impl FrameGuard {
    fn feed(&mut self, mut data: &[u8]) -> Result<(), Oversized> {
        while !data.is_empty() {
            self.state = match self.state {
                State::Greeting(left) => {
                    let n = left.min(data.len());
                    data = &data[n..];
                    if left == n {
                        State::Flags
                    } else {
                        State::Greeting(left - n)
                    }
                }
                State::Flags => {
                    let flags = data[0];
                    data = &data[1..];
                    // 0x01 more frames follow, 0x02 long length, 0x04 a
                    // command (never part of a message).
                    State::Size {
                        long: flags & 0x02 != 0,
                        more: flags & 0x01 != 0 && flags & 0x04 == 0,
                        got: 0,
                        bytes: [0; 8],
                    }
                }
                State::Size {
                    long,
                    more,
                    mut got,
                    mut bytes,
                } => {
                    let need = if long { 8 } else { 1 };
                    let n = (need - got).min(data.len());
                    bytes[got..got + n].copy_from_slice(&data[..n]);
                    got += n;
                    data = &data[n..];
                    if got < need {
                        State::Size { long, more, got, bytes }
                    } else {
                        let size = if long {
                            u64::from_be_bytes(bytes)
                        } else {
                            u64::from(bytes[0])
                        };
                        let total = self.message.saturating_add(size);
                        if total > MAX_MESSAGE {
                            return Err(Oversized);
                        }
                        self.message = if more { total } else { 0 };
                        if size == 0 {
                            State::Flags
                        } else {
                            State::Body(size)
                        }
                    }
                }
                State::Body(left) => {
                    let n = left.min(data.len() as u64);
                    data = &data[n as usize..];
                    if left == n {
                        State::Flags
                    } else {
                        State::Body(left - n)
                    }
                }
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![flags];
        if body.len() > 255 {
            out[0] |= 0x02;
            out.extend_from_slice(&(body.len() as u64).to_be_bytes());
        } else {
            out.push(body.len() as u8);
        }
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn ordinary_traffic_passes_in_any_chunking() {
        let mut stream = vec![0xffu8; GREETING];
        stream.extend(frame(0x04, b"\x05READYmetadata"));
        stream.extend(frame(0x01, b"<IDS|MSG>"));
        stream.extend(frame(0x01, &[7; 300]));
        stream.extend(frame(0x00, b"{}"));
        for chunk in [1, 3, 7, 64, 4096] {
            let mut guard = FrameGuard::default();
            for piece in stream.chunks(chunk) {
                assert_eq!(guard.feed(piece), Ok(()));
            }
            assert!(matches!(guard.state, State::Flags), "chunks of {chunk}");
            assert_eq!(guard.message, 0);
        }
    }

    #[test]
    fn a_huge_announced_frame_is_refused_before_its_body() {
        let mut guard = FrameGuard::default();
        guard.feed(&[0; GREETING]).unwrap();
        let mut header = vec![0x02];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        assert_eq!(guard.feed(&header), Err(Oversized));
    }

    /// Through real sockets: a jail side that announces a 1 TiB frame is
    /// cut after the greeting; the host side never sees the header.
    #[tokio::test]
    async fn the_relay_cuts_a_connection_that_announces_a_huge_frame() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let inside = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut jail, _) = listener.accept().await.unwrap();
        let (outside, mut host) = tokio::net::UnixStream::pair().unwrap();
        let relayed = tokio::spawn(relay(outside, inside));
        jail.write_all(&[0x7f; GREETING]).await.unwrap();
        let mut greeting = [0u8; GREETING];
        host.read_exact(&mut greeting).await.unwrap();
        let mut header = vec![0x02];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        jail.write_all(&header).await.unwrap();
        assert_eq!(relayed.await.unwrap(), Err(Oversized));
        let mut rest = Vec::new();
        host.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the header reached the host: {rest:?}");
    }

    #[test]
    fn a_message_of_many_frames_counts_whole() {
        let mut guard = FrameGuard::default();
        guard.feed(&[0; GREETING]).unwrap();
        let mut header = vec![0x03];
        header.extend_from_slice(&(MAX_MESSAGE / 2 + 1).to_be_bytes());
        guard.feed(&header).unwrap();
        guard.state = State::Flags;
        assert_eq!(guard.feed(&header), Err(Oversized));
    }
}

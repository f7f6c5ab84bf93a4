//! Messages between the host, the zygote and the jail, and descriptor
//! passing over unix sockets (`SCM_RIGHTS`).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Serialize};

use crate::config::JailConfig;
use crate::error::SetupStep;
use crate::sys::check;

/// Largest request (a config with many binds and a large environment fits
/// easily; stdin bytes travel through a pipe). A seqpacket message must fit
/// the socket's send buffer, whose default maximum is about 208 KiB.
pub(crate) const MAX_MESSAGE: usize = 128 << 10;
/// Most descriptors passed with one message.
pub(crate) const MAX_FDS: usize = 64;

/// Host → a pre-created jail's init: what to run (no descriptors: the jail
/// has its pipes from `PIPES`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SpawnRequest {
    pub config: JailConfig,
    /// A runtime jail: the init serves [`RuntimeRequest`]s on the request
    /// socket instead of running `config.command`.
    #[serde(default)]
    pub runtime: bool,
}

/// Host → a runtime jail's init, on the request socket. `Exec` of a
/// process without a terminal carries its `[stdin, stdout, stderr]`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum RuntimeRequest {
    /// Start a process with the jail's policy.
    Exec {
        id: u64,
        process: crate::executor::ProcessSpec,
    },
    /// Send a signal to a process's group.
    Signal { id: u64, pid: i32, signal: i32 },
    /// Make `count` TCP sockets in the jail's network namespace, which the
    /// host connects to ports on the jail's loopback.
    Sockets { id: u64, count: u8 },
}

/// A runtime jail's init → host, on the request socket.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum RuntimeReply {
    /// The jail is set up and serves requests.
    Ready,
    /// A process runs (with its terminal's master when it has one).
    Started { id: u64, pid: i32 },
    /// A request failed.
    Failed {
        id: u64,
        step: SetupStep,
        errno: i32,
        detail: String,
    },
    /// A signal was delivered.
    Signaled { id: u64 },
    /// Sockets were made (attached, unconnected).
    Sockets { id: u64 },
    /// A process started by `Exec` ended.
    Exited {
        pid: i32,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// Host → a freshly cloned jail's init, first on the request socket: the
/// jail's ends of its pipes are attached,
/// `[stdin_read, stdout_write, stderr_write, report_write]`.
pub(crate) const PIPES: &[u8] = b"pipes";

/// Jail init → host, on the request socket: listening sockets created
/// inside the jail's network namespace are attached (the egress proxy's
/// first, then the host forwards').
pub(crate) const LISTENER_HANDOVER: &[u8] = b"listeners";

/// Jail init → host, on the request socket, before the request (early
/// pivot): the init's detached copy of the host's mount tree is attached.
/// The host keeps it (unread in the socket, or received) until the jail's
/// release, so that the unmount of the last copy happens there.
pub(crate) const HOST_TREE: &[u8] = b"host-tree";

/// Zygote → host: the outcome of pre-creating a jail. `Spawned` comes with
/// `[pidfd, request socket, mount namespace (if it could be opened)]`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum SpawnReply {
    Spawned { pid: i32 },
    Failed { message: String },
}

/// Jail → host, one JSON line each on the report pipe. Each line is shorter
/// than `PIPE_BUF`, so lines from the init and the command never interleave.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Report {
    /// A setup step failed; the command never ran.
    SetupFailed {
        step: SetupStep,
        errno: i32,
        detail: String,
    },
    /// The command exited normally.
    Exited { code: i32 },
    /// The command was killed by a signal.
    Signaled { signal: i32 },
}

impl Report {
    /// Encodes the report as one line of at most 1024 bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        if line.len() > 1023 {
            if let Report::SetupFailed { step, errno, detail } = self {
                let cut = floor_char_boundary(detail, 512);
                line = serde_json::to_vec(&Report::SetupFailed {
                    step: *step,
                    errno: *errno,
                    detail: detail[..cut].to_owned(),
                })
                .unwrap_or_default();
            }
        }
        line.push(b'\n');
        line
    }
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// Decodes a spawn request. For a root-mode jail's init it comes with one
/// idmapped tree per bind (see `setup::Identity::Block`); the receiver
/// checks those.
pub(crate) fn decode_spawn(buf: &[u8]) -> Result<SpawnRequest, String> {
    serde_json::from_slice(buf).map_err(|e| format!("bad spawn request: {e}"))
}

/// Zygote → root-mode jail init, on its request socket: the id maps are
/// written and the init is in its cgroup.
pub(crate) const IDS_READY: &[u8] = b"ids";

/// Checks the pipes message and returns its four descriptors.
pub(crate) fn decode_pipes(buf: &[u8], fds: Vec<OwnedFd>) -> Result<[OwnedFd; 4], String> {
    if buf != PIPES {
        return Err("expected the pipes first".into());
    }
    fds.try_into()
        .map_err(|v: Vec<OwnedFd>| format!("pipes message carried {} descriptors, expected 4", v.len()))
}

/// A connected `SOCK_SEQPACKET` pair, close-on-exec.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } as libc::c_long)?;
    // SAFETY: fresh descriptors owned by us from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends one message with descriptors attached.
pub(crate) fn send_with_fds(sock: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_FDS);
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) } as usize;
    let mut control = vec![0u8; space.max(1)];
    // SAFETY: msghdr is plain data; every pointer set below stays valid for
    // the duration of sendmsg.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: the control buffer is CMSG_SPACE bytes long, enough for one
        // header carrying `fds`.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast::<RawFd>(), fds.len());
        }
    }
    loop {
        // SAFETY: `msg` is fully initialised above.
        let ret = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if ret >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Receives one message (at most `capacity` bytes) and the descriptors
/// attached to it into `buf`. Returns `Ok(None)` at end of stream.
pub(crate) fn recv_with_fds(sock: RawFd, buf: &mut Vec<u8>, capacity: usize) -> io::Result<Option<Vec<OwnedFd>>> {
    // Size the buffer to the waiting message (a seqpacket socket reports
    // its full length with MSG_PEEK | MSG_TRUNC) instead of zero-filling the
    // largest possible one on every request.
    let waiting = loop {
        // SAFETY: a zero-length peek; no buffer is written.
        let n = unsafe { libc::recv(sock, std::ptr::null_mut(), 0, libc::MSG_PEEK | libc::MSG_TRUNC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    if waiting > capacity {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message larger than allowed",
        ));
    }
    buf.clear();
    buf.resize(waiting.max(1), 0);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: plain data, pointers valid for the recvmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let n = loop {
        // SAFETY: `msg` points at live buffers of the declared sizes.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel filled in; each
    // SCM_RIGHTS payload is an array of fresh descriptors we now own.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let payload = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let count = payload / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    if msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "message truncated"));
    }
    buf.truncate(n);
    Ok(Some(fds))
}

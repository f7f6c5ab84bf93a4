//! Per-process resource limits: a cap on open files, no core dumps, and
//! small caps on the per-user kernel queues a jail shares with every other
//! process of its uid on the host (pending signals, POSIX message queues).

use std::io;

use crate::sys::check_int;

/// Queued signals a jail may have pending (the host default is about
/// 96 000, counted per uid across the host).
const MAX_PENDING_SIGNALS: u64 = 1024;
/// Bytes of POSIX message queues a jail may allocate (counted per uid).
const MAX_MESSAGE_QUEUE_BYTES: u64 = 256 * 1024;

fn set(resource: libc::__rlimit_resource_t, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `limit` is a valid rlimit.
    check_int(unsafe { libc::setrlimit(resource, &limit) }).map(drop)
}

/// Applies `RLIMIT_NOFILE` and `RLIMIT_CORE = 0`.
/// The open-file limit is clamped to the current hard limit, which only a
/// privileged process could raise.
pub(crate) fn apply(max_open_files: u64) -> io::Result<()> {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid out-parameter.
    check_int(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) })?;
    set(libc::RLIMIT_NOFILE, max_open_files.min(current.rlim_max))?;
    set(libc::RLIMIT_CORE, 0)?;
    set(libc::RLIMIT_SIGPENDING, MAX_PENDING_SIGNALS)?;
    set(libc::RLIMIT_MSGQUEUE, MAX_MESSAGE_QUEUE_BYTES)
}

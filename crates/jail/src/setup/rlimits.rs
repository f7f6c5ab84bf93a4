//! Per-process resource limits: a cap on open files and no core dumps.

use std::io;

use crate::sys::check_int;

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
    set(libc::RLIMIT_CORE, 0)
}

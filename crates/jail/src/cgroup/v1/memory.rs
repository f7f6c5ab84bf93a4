//! v1 memory controller: limit (swap and TCP buffers included where
//! accounted), usage, OOM.

use std::path::Path;

use crate::cgroup::{read_keyed, read_u64, write, JailStats, StatFiles};
use crate::error::Result;

/// Whether swap is accounted (`memory.memsw.*` exists).
pub(super) fn swap_accounted(dir: &Path) -> bool {
    dir.join("memory.memsw.limit_in_bytes").exists()
}

/// Whether TCP socket memory can be limited (`memory.kmem.tcp.*` exists).
pub(super) fn tcp_accounted(dir: &Path) -> bool {
    dir.join(TCP_LIMIT).exists()
}

/// v1 charges a socket's buffers to a counter of their own, and only once
/// this file has been written for the cgroup (threat-model row 33); sockets
/// made before that are never charged, so it is written with the memory
/// limit, before the jail runs (a pre-created jail's cgroup gets it with
/// its preset limits).
const TCP_LIMIT: &str = "memory.kmem.tcp.limit_in_bytes";

/// Sets the limit to `bytes` (`None`: no limit) from `current` (`None`: not
/// known). With swap accounting, memory+swap gets the same cap so the jail
/// cannot escape its limit by swapping; the kernel keeps memory at most
/// memory+swap, so a raise writes memory+swap first. Where TCP memory is
/// accounted, it gets the same cap too, so a jail holds at most its limit
/// in memory plus as much again in socket buffers (instead of all the
/// host's TCP memory, `net.ipv4.tcp_mem`).
pub(super) fn apply(dir: &Path, current: Option<Option<u64>>, bytes: Option<u64>, swap: bool, tcp: bool) -> Result<()> {
    let value = bytes.map_or_else(|| "-1".to_owned(), |b| b.to_string());
    if tcp {
        write(dir, TCP_LIMIT, &value)?;
    }
    if !swap {
        return write(dir, "memory.limit_in_bytes", &value);
    }
    let raising = match (current, bytes) {
        (_, None) => true,
        (Some(None), Some(_)) => false,
        (Some(Some(before)), Some(after)) => after > before,
        // Not known: lift memory+swap out of the way first.
        (None, Some(_)) => {
            write(dir, "memory.memsw.limit_in_bytes", "-1")?;
            false
        }
    };
    if raising {
        write(dir, "memory.memsw.limit_in_bytes", &value)?;
        write(dir, "memory.limit_in_bytes", &value)
    } else {
        write(dir, "memory.limit_in_bytes", &value)?;
        write(dir, "memory.memsw.limit_in_bytes", &value)
    }
}

/// Files `stats` and `oom_killed` read.
pub(super) const STAT_FILES: &[&str] = &[
    "memory.max_usage_in_bytes",
    "memory.usage_in_bytes",
    "memory.oom_control",
];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    stats.memory_peak_bytes = read_u64(files, dir, "memory.max_usage_in_bytes").unwrap_or(0);
    stats.memory_current_bytes = read_u64(files, dir, "memory.usage_in_bytes").unwrap_or(0);
}

pub(super) fn oom_killed(files: &StatFiles, dir: &Path) -> bool {
    read_keyed(files, dir, "memory.oom_control", "oom_kill").is_some_and(|n| n > 0)
}

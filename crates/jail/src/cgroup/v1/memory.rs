//! v1 memory controller: limit (swap included where accounted), usage, OOM.

use std::path::Path;

use crate::cgroup::{read_keyed, read_u64, write, JailStats, StatFiles};
use crate::error::Result;

/// Whether swap is accounted (`memory.memsw.*` exists).
pub(super) fn swap_accounted(dir: &Path) -> bool {
    dir.join("memory.memsw.limit_in_bytes").exists()
}

/// Sets the limit to `bytes` (`None`: no limit) from `current` (`None`: not
/// known). With swap accounting, memory+swap gets the same cap so the jail
/// cannot escape its limit by swapping; the kernel keeps memory at most
/// memory+swap, so a raise writes memory+swap first.
pub(super) fn apply(dir: &Path, current: Option<Option<u64>>, bytes: Option<u64>, swap: bool) -> Result<()> {
    let value = bytes.map_or_else(|| "-1".to_owned(), |b| b.to_string());
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

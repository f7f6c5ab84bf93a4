//! v2 memory controller: `memory.max`, no swap, whole-group OOM kills.

use std::path::Path;

use crate::cgroup::{read_keyed, read_u64, write, JailStats};
use crate::error::Result;

pub(super) fn apply(dir: &Path, bytes: u64) -> Result<()> {
    write(dir, "memory.max", &bytes.to_string())?;
    if dir.join("memory.swap.max").exists() {
        write(dir, "memory.swap.max", "0")?;
    }
    // An OOM kill takes the whole jail, not one random process in it.
    if dir.join("memory.oom.group").exists() {
        write(dir, "memory.oom.group", "1")?;
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, stats: &mut JailStats) {
    stats.memory_current_bytes = read_u64(dir, "memory.current").unwrap_or(0);
    // memory.peak exists since Linux 5.19.
    stats.memory_peak_bytes = read_u64(dir, "memory.peak").unwrap_or(stats.memory_current_bytes);
}

pub(super) fn oom_killed(dir: &Path) -> bool {
    read_keyed(dir, "memory.events", "oom_kill").is_some_and(|n| n > 0)
        || read_keyed(dir, "memory.events", "oom_group_kill").is_some_and(|n| n > 0)
}

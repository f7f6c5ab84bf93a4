//! v1 memory controller: limit (swap included where accounted), usage, OOM.

use std::path::Path;

use crate::cgroup::{read_keyed, read_u64, write, JailStats};
use crate::error::Result;

pub(super) fn apply(dir: &Path, bytes: u64) -> Result<()> {
    write(dir, "memory.limit_in_bytes", &bytes.to_string())?;
    // With swap accounting, memory+swap gets the same cap so the jail cannot
    // escape its limit by swapping.
    if dir.join("memory.memsw.limit_in_bytes").exists() {
        write(dir, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, stats: &mut JailStats) {
    stats.memory_peak_bytes = read_u64(dir, "memory.max_usage_in_bytes").unwrap_or(0);
    stats.memory_current_bytes = read_u64(dir, "memory.usage_in_bytes").unwrap_or(0);
}

pub(super) fn oom_killed(dir: &Path) -> bool {
    read_keyed(dir, "memory.oom_control", "oom_kill").is_some_and(|n| n > 0)
}

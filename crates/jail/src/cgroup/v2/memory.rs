//! v2 memory controller: `memory.max`, no swap, whole-group OOM kills.
//! Socket buffers are charged to `memory.current` like any other memory
//! (unless the host boots with `cgroup.memory=nosocket`), so unlike v1 there
//! is nothing to enable for them (threat-model row 33).

use std::path::Path;

use crate::cgroup::{read_u64, write, JailStats, StatFiles};
use crate::error::Result;

/// Which optional memory files the cgroup has.
#[derive(Debug, Clone, Copy)]
pub(super) struct MemoryFiles {
    /// `memory.max`: the controller is enabled for the cgroup.
    pub max: bool,
    swap_max: bool,
    oom_group: bool,
}

impl MemoryFiles {
    pub(super) fn find(dir: &Path) -> Self {
        MemoryFiles {
            max: dir.join("memory.max").exists(),
            swap_max: dir.join("memory.swap.max").exists(),
            oom_group: dir.join("memory.oom.group").exists(),
        }
    }
}

/// Sets the limit to `bytes`, without swap, or (`None`) removes it and
/// restores what a fresh cgroup has.
pub(super) fn apply(dir: &Path, bytes: Option<u64>, files: MemoryFiles) -> Result<()> {
    write(
        dir,
        "memory.max",
        &bytes.map_or_else(|| "max".to_owned(), |b| b.to_string()),
    )?;
    if files.swap_max {
        write(dir, "memory.swap.max", if bytes.is_some() { "0" } else { "max" })?;
    }
    // An OOM kill takes the whole jail, not one random process in it.
    if files.oom_group {
        write(dir, "memory.oom.group", if bytes.is_some() { "1" } else { "0" })?;
    }
    Ok(())
}

/// Files `stats` and `oom_killed` read.
pub(super) const STAT_FILES: &[&str] = &["memory.current", "memory.peak", "memory.events"];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    stats.memory_current_bytes = read_u64(files, dir, "memory.current").unwrap_or(0);
    // memory.peak exists since Linux 5.19.
    stats.memory_peak_bytes = read_u64(files, dir, "memory.peak").unwrap_or(stats.memory_current_bytes);
}

pub(super) fn oom_killed(files: &StatFiles, dir: &Path) -> bool {
    let Some(events) = files.read(dir, "memory.events") else {
        return false;
    };
    events.lines().any(|line| {
        line.split_once(' ').is_some_and(|(key, value)| {
            matches!(key, "oom_kill" | "oom_group_kill") && value.trim().parse::<u64>().is_ok_and(|n| n > 0)
        })
    })
}

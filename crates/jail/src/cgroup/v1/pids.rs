//! v1 pids controller.

use std::path::Path;

use crate::cgroup::{read_u64, write, JailStats, StatFiles};
use crate::error::Result;

/// Sets the limit to `max` (`None`: no limit).
pub(super) fn apply(dir: &Path, max: Option<u32>) -> Result<()> {
    write(
        dir,
        "pids.max",
        &max.map_or_else(|| "max".to_owned(), |m| m.to_string()),
    )
}

/// Files `stats` reads.
pub(super) const STAT_FILES: &[&str] = &["pids.current"];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    stats.pids_current = read_u64(files, dir, "pids.current").unwrap_or(0);
}

//! v2 pids controller.

use std::path::Path;

use crate::cgroup::{read_u64, write, JailStats};
use crate::error::Result;

pub(super) fn apply(dir: &Path, max: u32) -> Result<()> {
    write(dir, "pids.max", &max.to_string())
}

pub(super) fn stats(dir: &Path, stats: &mut JailStats) {
    stats.pids_current = read_u64(dir, "pids.current").unwrap_or(0);
}

//! v2 cpu controller: `cpu.max` quota; usage from `cpu.stat`, which exists
//! even without the controller.

use std::path::Path;

use crate::cgroup::{read_keyed, write, JailStats, StatFiles};
use crate::error::Result;

const PERIOD_USEC: u64 = 100_000;

pub(super) fn apply(dir: &Path, percent: u32) -> Result<()> {
    let quota = (PERIOD_USEC * u64::from(percent) / 100).max(1000);
    write(dir, "cpu.max", &format!("{quota} {PERIOD_USEC}"))
}

/// Files `stats` reads.
pub(super) const STAT_FILES: &[&str] = &["cpu.stat"];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    stats.cpu_usage_usec = read_keyed(files, dir, "cpu.stat", "usage_usec").unwrap_or(0);
}

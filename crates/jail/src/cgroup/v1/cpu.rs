//! v1 cpu (CFS quota) and cpuacct (usage) controllers.

use std::path::Path;

use crate::cgroup::{read_u64, write, JailStats, StatFiles};
use crate::error::Result;

const PERIOD_USEC: u64 = 100_000;

pub(super) fn apply(dir: &Path, percent: u32) -> Result<()> {
    write(dir, "cpu.cfs_period_us", &PERIOD_USEC.to_string())?;
    let quota = PERIOD_USEC * u64::from(percent) / 100;
    write(dir, "cpu.cfs_quota_us", &quota.max(1000).to_string())
}

/// Files `stats` reads (in the cpuacct hierarchy).
pub(super) const STAT_FILES: &[&str] = &["cpuacct.usage"];

/// Reads `cpuacct.usage` (nanoseconds).
pub(super) fn stats(files: &StatFiles, cpuacct_dir: &Path, stats: &mut JailStats) {
    stats.cpu_usage_usec = read_u64(files, cpuacct_dir, "cpuacct.usage").unwrap_or(0) / 1000;
}

//! v2 cpu controller: `cpu.max` quota; usage from `cpu.stat`, which exists
//! even without the controller.

use std::path::Path;

use crate::cgroup::{read_keyed, write, JailStats};
use crate::error::Result;

const PERIOD_USEC: u64 = 100_000;

pub(super) fn apply(dir: &Path, percent: u32) -> Result<()> {
    let quota = (PERIOD_USEC * u64::from(percent) / 100).max(1000);
    write(dir, "cpu.max", &format!("{quota} {PERIOD_USEC}"))
}

pub(super) fn stats(dir: &Path, stats: &mut JailStats) {
    stats.cpu_usage_usec = read_keyed(dir, "cpu.stat", "usage_usec").unwrap_or(0);
}

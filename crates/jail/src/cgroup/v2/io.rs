//! v2 io controller: `io.max` per device, usage from `io.stat`.

use std::path::Path;

use crate::cgroup::{write_per_device, JailStats, StatFiles};
use crate::error::Result;

pub(super) fn apply(dir: &Path, read_bps: Option<u64>, write_bps: Option<u64>) -> Result<()> {
    if read_bps.is_none() && write_bps.is_none() {
        return Ok(());
    }
    let mut spec = String::new();
    if let Some(bps) = read_bps {
        spec.push_str(&format!(" rbps={bps}"));
    }
    if let Some(bps) = write_bps {
        spec.push_str(&format!(" wbps={bps}"));
    }
    write_per_device(dir, "io.max", |device| format!("{device}{spec}"))
}

/// Files `stats` reads.
pub(super) const STAT_FILES: &[&str] = &["io.stat"];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    let Some(text) = files.read(dir, "io.stat") else {
        return;
    };
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            stats.io_read_bytes += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            stats.io_write_bytes += v.parse::<u64>().unwrap_or(0);
        }
    }
}

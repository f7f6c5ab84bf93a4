//! v2 io controller: `io.max` per device, usage from `io.stat`.

use std::path::Path;

use crate::cgroup::{block_devices, write, JailStats};
use crate::error::{JailError, Result};

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
    let mut applied = 0;
    let mut last_error = None;
    for device in block_devices() {
        match write(dir, "io.max", &format!("{device}{spec}")) {
            Ok(()) => applied += 1,
            Err(e) => last_error = Some(e),
        }
    }
    if applied == 0 {
        return Err(last_error.unwrap_or(JailError::LimitUnavailable {
            limit: "I/O bandwidth",
            reason: "no block device accepts io.max".into(),
        }));
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, stats: &mut JailStats) {
    let Ok(text) = std::fs::read_to_string(dir.join("io.stat")) else {
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

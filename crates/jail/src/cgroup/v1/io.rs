//! v1 blkio throttling. v1 throttles only I/O the kernel can attribute to
//! the cgroup at submission time: direct I/O and reads; buffered writeback
//! is charged to the flusher. v2's io controller does not have this gap.

use std::path::Path;

use crate::cgroup::{disks, write_per_device, JailStats, StatFiles};
use crate::error::Result;

pub(super) fn apply(dir: &Path, read_bps: Option<u64>, write_bps: Option<u64>) -> Result<()> {
    for (file, bps) in [
        ("blkio.throttle.read_bps_device", read_bps),
        ("blkio.throttle.write_bps_device", write_bps),
    ] {
        if let Some(bps) = bps {
            write_per_device(dir, file, |device| format!("{device} {bps}"))?;
        }
    }
    Ok(())
}

/// Makes the kernel count I/O per cgroup. v1 blkio accounts bytes in the
/// throttling layer, which the kernel sets up for a disk only when some
/// cgroup first writes a throttle rule for it; until then every cgroup
/// reads zero. Writing a limit of 0 (that is, "no limit") for each disk in
/// the engine's own base cgroup sets the layer up without throttling
/// anything. Best effort: a disk that refuses simply reports no I/O.
pub(super) fn enable_accounting(base: &Path) {
    // An earlier engine's rules outlive it: once the base lists every disk
    // the writes are skipped (this check costs two reads, the writes a
    // pair of opens per disk on every `paddock run`). Hosts with disks that
    // refuse a rule (idle loop devices) keep writing, as before.
    if accounting_covers_every_disk(base) {
        return;
    }
    let _ = write_per_device(base, "blkio.throttle.read_bps_device", |device| format!("{device} 0"));
}

/// Whether `base` already counts I/O for as many disks as the host has.
fn accounting_covers_every_disk(base: &Path) -> bool {
    let Ok(disks) = disks().map(Iterator::count) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(base.join("blkio.throttle.io_service_bytes")) else {
        return false;
    };
    let counted: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|device| device.contains(':'))
        .collect();
    disks > 0 && counted.len() >= disks
}

/// Files `stats` reads.
pub(super) const STAT_FILES: &[&str] = &["blkio.throttle.io_service_bytes_recursive"];

pub(super) fn stats(files: &StatFiles, dir: &Path, stats: &mut JailStats) {
    let Some(text) = files.read(dir, "blkio.throttle.io_service_bytes_recursive") else {
        return;
    };
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(_device), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match op {
            "Read" => stats.io_read_bytes += value,
            "Write" => stats.io_write_bytes += value,
            _ => {}
        }
    }
}

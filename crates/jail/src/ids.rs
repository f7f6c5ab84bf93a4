//! Host ids for root-mode jails (threat-model row 31).
//!
//! A root-mode jail runs in a user namespace of its own whose ids 0 to
//! 65535 map to a block of host ids that no other jail holds while it runs,
//! and that is never the server's. The kernel keeps several budgets per
//! host user (inotify instances and watches, epoll watches, processes,
//! message queues, pending signals, locked memory); with a block of its
//! own, a jail that uses up one of them only hurts itself.
//!
//! Blocks come from a range the operator can configure ([`IdRange`]). A
//! block returns to the range when its jail's init is gone, so its kernel
//! objects (files, processes) are gone with it. Every engine on the host
//! (a server, each `paddock run`) takes blocks from the same range, so a
//! block is also held by an exclusive lock on a file of its own in the
//! runtime directory, which the kernel releases if the process dies.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{JailError, Result};

/// Ids in one jail's block: a full 16-bit range, so that `chown` to any
/// common id works inside the jail and lands on disk unchanged through the
/// idmapped binds.
pub const IDS_PER_JAIL: u32 = 65536;

/// A range of host uids and gids (the same numbers for both) that
/// root-mode jails take their blocks from. Nothing else on the host may use
/// these ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IdRange {
    /// First host id of the range.
    pub start: u32,
    /// How many ids; a multiple of [`IDS_PER_JAIL`].
    pub count: u32,
}

impl Default for IdRange {
    /// 2³⁰ ids from 2³¹ (16384 jails at once): above the ranges
    /// distributions give users, system services, systemd's dynamic users
    /// and `/etc/subuid` (which start at 100000 and grow by 65536 a user).
    fn default() -> Self {
        IdRange {
            start: 1 << 31,
            count: 1 << 30,
        }
    }
}

impl IdRange {
    /// Parses `START:COUNT`.
    pub fn parse(text: &str) -> std::result::Result<IdRange, String> {
        let (start, count) = text
            .split_once(':')
            .ok_or_else(|| format!("expected START:COUNT, got {text:?}"))?;
        let number = |what: &str, value: &str| {
            value
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} {value:?} is not a number from 0 to {}", u32::MAX))
        };
        let range = IdRange {
            start: number("start", start)?,
            count: number("count", count)?,
        };
        range.validate()?;
        Ok(range)
    }

    /// Refuses ranges that would include id 0 (the server's), the invalid
    /// id 2³²−1, or a partial block.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.start == 0 {
            return Err("the jail id range may not start at 0: that is the server's own user".into());
        }
        if self.count < IDS_PER_JAIL || !self.count.is_multiple_of(IDS_PER_JAIL) {
            return Err(format!(
                "the jail id range must hold a positive multiple of {IDS_PER_JAIL} ids (one block per jail), not {}",
                self.count
            ));
        }
        if u64::from(self.start) + u64::from(self.count) > u64::from(u32::MAX) {
            return Err(format!(
                "the jail id range {}:{} goes past the largest valid id {}",
                self.start,
                self.count,
                u32::MAX - 1
            ));
        }
        Ok(())
    }

    fn blocks(&self) -> u32 {
        self.count / IDS_PER_JAIL
    }
}

/// Whether this process's user namespace maps every id of the host's
/// (`0 0 4294967295`): only then can jails get blocks of their own.
pub(crate) fn owns_every_id() -> bool {
    let full = |file: &str| {
        std::fs::read_to_string(file).is_ok_and(|map| {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields == ["0", "0", "4294967295"]
        })
    };
    full("/proc/self/uid_map") && full("/proc/self/gid_map")
}

/// Refuses a range that holds the id of a user or group of this host
/// (`/etc/passwd`, `/etc/group`): that user would own a jail's user
/// namespace, and with it every capability over the jail.
pub(crate) fn check_unused(range: &IdRange) -> std::result::Result<(), String> {
    let end = u64::from(range.start) + u64::from(range.count);
    for (file, what) in [("/etc/passwd", "user"), ("/etc/group", "group")] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(id)) = (fields.next(), fields.nth(1)) else {
                continue;
            };
            if let Ok(id) = id.parse::<u32>() {
                if (u64::from(range.start)..end).contains(&u64::from(id)) {
                    return Err(format!(
                        "the jail id range {}:{} holds {what} {name:?} ({id}) of this host; choose a range no user or group uses (--jail-ids)",
                        range.start, range.count
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Where the blocks' lock files live: one directory for every root engine
/// on the host, whatever its runtime directory (`runtime_dir` only serves
/// when there is no `/run`).
pub(crate) fn lock_dir(runtime_dir: &Path) -> PathBuf {
    if Path::new("/run").is_dir() {
        PathBuf::from("/run/paddock-ids")
    } else {
        runtime_dir.join("ids")
    }
}

/// Hands out blocks of an [`IdRange`] that no engine on the host holds.
#[derive(Debug)]
pub(crate) struct IdAllocator {
    range: IdRange,
    /// One lock file per block in use.
    locks: PathBuf,
    free: Mutex<Free>,
}

#[derive(Debug)]
struct Free {
    /// Blocks given back, reused first.
    returned: Vec<u32>,
    /// Blocks never handed out start here.
    next: u32,
    /// Blocks another engine held when this one tried them: tried again
    /// once the range is used up.
    busy: Vec<u32>,
}

impl IdAllocator {
    /// An allocator over `range` whose lock files live in `locks` (made
    /// owner-only if missing).
    pub(crate) fn new(range: IdRange, locks: PathBuf) -> Result<Arc<IdAllocator>> {
        match std::fs::DirBuilder::new().mode(0o700).create(&locks) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(JailError::host("create the id block lock directory", e)),
        }
        Ok(Arc::new(IdAllocator {
            range,
            locks,
            free: Mutex::new(Free {
                returned: Vec::new(),
                next: 0,
                busy: Vec::new(),
            }),
        }))
    }

    /// Locks block `index` for this process; `None` if another holds it.
    /// The lock file is named after the block's first host id, so that
    /// engines with different (even overlapping) ranges still exclude each
    /// other from the same ids.
    fn lock(&self, index: u32) -> Result<Option<File>> {
        let base = self.range.start + index * IDS_PER_JAIL;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.locks.join(base.to_string()))
            .map_err(|e| JailError::host("open an id block's lock file", e))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(file));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        Err(JailError::host("lock an id block", err))
    }

    pub(crate) fn range(&self) -> IdRange {
        self.range
    }

    /// A block no running jail on the host holds: one this engine gave
    /// back, else the next one no other engine holds.
    pub(crate) fn take(self: &Arc<Self>) -> Result<IdBlock> {
        let mut free = self
            .free
            .lock()
            .map_err(|_| JailError::Spawner("jail id allocator lock poisoned".into()))?;
        let mut retry = Vec::new();
        let mut retried = false;
        loop {
            let index = match free.returned.pop() {
                Some(index) => index,
                None if free.next < self.range.blocks() => {
                    free.next += 1;
                    free.next - 1
                }
                None if !retried && !free.busy.is_empty() => {
                    retried = true;
                    retry = std::mem::take(&mut free.busy);
                    continue;
                }
                None => match retry.pop() {
                    Some(index) => index,
                    None => {
                        return Err(JailError::Spawner(format!(
                            "all {} id blocks of the jail id range {}:{} are in use",
                            self.range.blocks(),
                            self.range.start,
                            self.range.count
                        )))
                    }
                },
            };
            if let Some(lock) = self.lock(index)? {
                free.busy.append(&mut retry);
                return Ok(IdBlock {
                    base: self.range.start + index * IDS_PER_JAIL,
                    owner: self.clone(),
                    _lock: lock,
                });
            }
            free.busy.push(index);
        }
    }

    fn give_back(&self, base: u32) {
        if let Ok(mut free) = self.free.lock() {
            free.returned.push((base - self.range.start) / IDS_PER_JAIL);
        }
    }
}

/// One jail's block of host ids; returned to the range when dropped, which
/// must only happen once the jail's init is gone.
#[derive(Debug)]
pub(crate) struct IdBlock {
    base: u32,
    owner: Arc<IdAllocator>,
    /// Held while the block is in use (closing it unlocks).
    _lock: File,
}

impl IdBlock {
    /// The host id of the jail's root.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// Keeps the block out of the range for good: for a jail whose init
    /// could not be confirmed gone.
    pub(crate) fn retire(self) {
        std::mem::forget(self);
    }
}

impl Drop for IdBlock {
    fn drop(&mut self) {
        self.owner.give_back(self.base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_and_checked() {
        assert_eq!(
            IdRange::parse("2147483648:131072"),
            Ok(IdRange {
                start: 1 << 31,
                count: 131072
            })
        );
        for bad in ["0:65536", "100000:1000", "100000:0", "4294901760:65536", "1:x", "65536"] {
            assert!(IdRange::parse(bad).is_err(), "{bad} was accepted");
        }
        assert!(IdRange::default().validate().is_ok());
    }

    #[test]
    fn overlapping_ranges_exclude_each_other_by_host_id() {
        let locks = tempfile::tempdir().expect("tempdir");
        let dir = locks.path().join("ids");
        let wide = IdAllocator::new(
            IdRange {
                start: 1 << 20,
                count: 3 * IDS_PER_JAIL,
            },
            dir.clone(),
        )
        .expect("allocator");
        let shifted = IdAllocator::new(
            IdRange {
                start: (1 << 20) + IDS_PER_JAIL,
                count: 2 * IDS_PER_JAIL,
            },
            dir,
        )
        .expect("allocator");
        let held = shifted.take().expect("the shifted range's first block");
        assert_eq!(held.base(), (1 << 20) + IDS_PER_JAIL);
        let first = wide.take().expect("first");
        let second = wide.take().expect("second");
        assert_eq!(first.base(), 1 << 20);
        assert_eq!(
            second.base(),
            (1 << 20) + 2 * IDS_PER_JAIL,
            "took ids another engine holds"
        );
        // Once given back by the other engine, the skipped block is found.
        drop(held);
        assert_eq!(wide.take().expect("retried").base(), (1 << 20) + IDS_PER_JAIL);
    }

    #[test]
    fn blocks_are_exclusive_until_returned() {
        let locks = tempfile::tempdir().expect("tempdir");
        let range = IdRange {
            start: 1 << 20,
            count: 3 * IDS_PER_JAIL,
        };
        let ids = IdAllocator::new(range, locks.path().join("ids")).expect("allocator");
        // Another engine on the host holds the first block.
        let other = IdAllocator::new(range, locks.path().join("ids")).expect("second allocator");
        let held = other.take().expect("the other engine's block");
        assert_eq!(held.base(), 1 << 20);
        let first = ids.take().expect("first block");
        let second = ids.take().expect("second block");
        assert_eq!(first.base(), (1 << 20) + IDS_PER_JAIL);
        assert_eq!(second.base(), (1 << 20) + 2 * IDS_PER_JAIL);
        assert!(ids.take().is_err(), "a third block from a range of two");
        let base = first.base();
        drop(first);
        let again = ids.take().expect("returned block");
        assert_eq!(again.base(), base);
        second.retire();
        assert!(ids.take().is_err(), "a retired block came back");
    }
}

//! cgroups v1 and v2 behind one interface (ARCHITECTURE decision 2).
//!
//! [`detect`] looks at the host once: a pure v2 host uses `v2`, a v1 or
//! hybrid host (v1 controllers plus a possibly empty cgroup2 mount) uses
//! `v1`. Each version has one file per controller; adding a controller
//! touches one file per version. A jail asks for a [`JailCgroup`] with its
//! limits; a limit whose controller is missing is an error, never a silent
//! "unlimited".

mod v1;
mod v2;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Limits;
use crate::error::{JailError, Result};

/// Resource usage of a jail, read from its cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JailStats {
    /// Highest memory use seen, bytes.
    pub memory_peak_bytes: u64,
    /// Memory use now, bytes.
    pub memory_current_bytes: u64,
    /// CPU time used, microseconds.
    pub cpu_usage_usec: u64,
    /// Bytes read from block devices.
    pub io_read_bytes: u64,
    /// Bytes written to block devices.
    pub io_write_bytes: u64,
    /// Processes and threads alive now.
    pub pids_current: u64,
}

/// Which cgroup layout the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    /// Per-controller v1 hierarchies (v1-only or hybrid hosts).
    V1,
    /// The unified v2 hierarchy.
    V2,
    /// No usable cgroup at all.
    None,
}

/// A controller the engine knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
    Io,
    Freezer,
}

impl Controller {
    /// Every controller, in reporting order.
    pub const ALL: [Controller; 5] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Pids,
        Controller::Io,
        Controller::Freezer,
    ];

    fn limit_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "CPU",
            Controller::Pids => "pids",
            Controller::Io => "I/O bandwidth",
            Controller::Freezer => "freeze",
        }
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
            Controller::Io => "io",
            Controller::Freezer => "freezer",
        })
    }
}

/// What the engine found on this host, for diagnostics.
#[derive(Debug, Clone, Serialize)]
pub struct CgroupReport {
    /// Layout in use.
    pub version: CgroupVersion,
    /// Each controller: `Ok(base directory)` or why it is unusable.
    pub controllers: Vec<(Controller, std::result::Result<PathBuf, String>)>,
}

/// One jail's cgroup (a directory per v1 hierarchy, or one v2 directory).
pub trait JailCgroup: Send + Sync + fmt::Debug {
    /// Files a single-threaded process writes `0` into to move itself in
    /// (the jail's init, or the zygote carrying it; see `zygote.rs`).
    fn procs_files(&self) -> Vec<PathBuf>;
    /// The directory a process can be cloned straight into
    /// (`CLONE_INTO_CGROUP`, v2 only).
    fn clone_dir(&self) -> Option<PathBuf>;
    /// Writes the limits (before the jail's command starts). Memory and pids
    /// limits already in place (a pre-created jail's cgroup gets the
    /// defaults, see [`preset_limits`]) are rewritten only where they
    /// differ; `None` there means "no limit" and removes one.
    fn apply(&self, limits: &Limits) -> Result<()>;
    /// Current usage.
    fn stats(&self) -> JailStats;
    /// Whether the kernel's OOM killer acted in this cgroup.
    fn oom_killed(&self) -> bool;
    /// Freezes every process; returns once they are frozen.
    fn freeze(&self) -> io::Result<()>;
    /// Thaws every process.
    fn thaw(&self) -> io::Result<()>;
    /// Whether freezing is possible.
    fn can_freeze(&self) -> bool;
    /// Kills every process where the version can do it in one step (v2's
    /// `cgroup.kill`); a no-op on v1.
    fn kill_all(&self) -> io::Result<()>;
    /// Removes the directories (processes must be gone).
    fn remove(&self) -> io::Result<()>;
}

/// A cgroup layout able to create jail cgroups.
pub(crate) trait CgroupManager: Send + Sync + fmt::Debug {
    fn version(&self) -> CgroupVersion;
    /// Usability of each controller.
    fn controller(&self, controller: Controller) -> std::result::Result<PathBuf, String>;
    /// Creates `name`, without limits yet.
    fn create(&self, name: &str) -> Result<Arc<dyn JailCgroup>>;
    /// Directories holding the jails' cgroups (one per v1 hierarchy).
    fn bases(&self) -> Vec<PathBuf>;
    /// v1: the `tasks` files of the cgroups this process runs in, one per
    /// hierarchy the jails use (empty on v2, where nothing moves back).
    fn home_files(&self) -> Vec<PathBuf>;
}

/// A host with no usable cgroup: jails without limits still run.
#[derive(Debug)]
struct NoCgroups {
    reason: String,
}

impl CgroupManager for NoCgroups {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::None
    }
    fn controller(&self, _: Controller) -> std::result::Result<PathBuf, String> {
        Err(self.reason.clone())
    }
    fn create(&self, _: &str) -> Result<Arc<dyn JailCgroup>> {
        Err(JailError::LimitUnavailable {
            limit: "a resource",
            reason: self.reason.clone(),
        })
    }
    fn bases(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    fn home_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Controllers a set of limits needs.
pub(crate) fn required_controllers(limits: &Limits) -> Vec<Controller> {
    let mut needed = Vec::new();
    if limits.memory_bytes.is_some() {
        needed.push(Controller::Memory);
    }
    if limits.cpu_percent.is_some() {
        needed.push(Controller::Cpu);
    }
    if limits.pids.is_some() {
        needed.push(Controller::Pids);
    }
    if limits.io_read_bps.is_some() || limits.io_write_bps.is_some() {
        needed.push(Controller::Io);
    }
    needed
}

/// Fails with a clear message if a limit's controller is unusable.
pub(crate) fn check_limits(manager: &dyn CgroupManager, limits: &Limits) -> Result<()> {
    for controller in required_controllers(limits) {
        if let Err(reason) = manager.controller(controller) {
            return Err(JailError::LimitUnavailable {
                limit: controller.limit_name(),
                reason,
            });
        }
    }
    Ok(())
}

/// Looks at the host and picks a layout (or uses `forced`). `parent` names
/// the directory that holds the jails' cgroups: under this process's own
/// cgroup on v1, at the top of the hierarchy (root) or under the own cgroup
/// (rootless) on v2.
pub(crate) fn detect(parent: &str, rootless: bool, forced: Option<CgroupVersion>) -> Box<dyn CgroupManager> {
    if forced == Some(CgroupVersion::None) {
        return Box::new(NoCgroups {
            reason: "cgroups are disabled in the engine options".into(),
        });
    }
    let mounts = match CgroupMounts::read() {
        Ok(mounts) => mounts,
        Err(err) => {
            return Box::new(NoCgroups {
                reason: format!("cannot read /proc/self/mountinfo: {err}"),
            })
        }
    };
    let has_v1 = mounts
        .v1
        .iter()
        .any(|m| m.controllers.iter().any(|c| c == "memory" || c == "pids"));
    let use_v1 = match forced {
        Some(CgroupVersion::V1) => true,
        Some(CgroupVersion::V2) => false,
        _ => has_v1,
    };
    if use_v1 {
        if !has_v1 {
            return Box::new(NoCgroups {
                reason: "no cgroup v1 hierarchy is mounted".into(),
            });
        }
        return Box::new(v1::V1Manager::new(&mounts, parent, rootless));
    }
    if let Some(unified) = &mounts.v2 {
        return Box::new(v2::V2Manager::new(unified, &mounts.own_path(None), parent, rootless));
    }
    Box::new(NoCgroups {
        reason: "no cgroup file system is mounted".into(),
    })
}

/// Name prefix of every jail cgroup: `jail-<host pid>-<n>`.
pub(crate) const JAIL_PREFIX: &str = "jail-";

/// Removes jail cgroups left by engines that died without cleaning up
/// (killed hosts): directories named after a process that no longer exists.
pub(crate) fn sweep_stale(manager: &dyn CgroupManager) {
    for base in manager.bases() {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(owner) = name
                .to_str()
                .and_then(|n| n.strip_prefix(JAIL_PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{owner}")).exists() {
                // Fails harmlessly if a process is still inside.
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
}

/// A v1 hierarchy mount.
#[derive(Debug, Clone)]
pub(crate) struct V1Mount {
    pub mount_point: PathBuf,
    pub controllers: Vec<String>,
}

/// cgroup mounts of this process, and its own path in each hierarchy.
#[derive(Debug, Clone)]
pub(crate) struct CgroupMounts {
    pub v1: Vec<V1Mount>,
    pub v2: Option<PathBuf>,
    /// `/proc/self/cgroup`: (controllers, path); v2 has an empty list.
    pub own: Vec<(Vec<String>, PathBuf)>,
}

impl CgroupMounts {
    fn read() -> io::Result<Self> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            // Fields: id parent maj:min root mount-point options [optional...] - fstype source super-options
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            if left.len() < 5 || right.len() < 3 {
                continue;
            }
            let mount_point = PathBuf::from(unescape_mountinfo(left[4]));
            match right[0] {
                "cgroup2" if v2.is_none() => v2 = Some(mount_point),
                "cgroup" => {
                    let controllers = right[2]
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro" | "nosuid" | "nodev" | "noexec" | "relatime")
                                && !o.starts_with("name=")
                                && !o.contains('=')
                        })
                        .map(str::to_owned)
                        .collect::<Vec<_>>();
                    if !controllers.is_empty() {
                        v1.push(V1Mount {
                            mount_point,
                            controllers,
                        });
                    }
                }
                _ => {}
            }
        }
        let own = std::fs::read_to_string("/proc/self/cgroup")?
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ':');
                let _id = parts.next()?;
                let controllers = parts.next()?;
                let path = parts.next()?;
                let list = if controllers.is_empty() {
                    Vec::new()
                } else {
                    controllers.split(',').map(str::to_owned).collect()
                };
                Some((list, PathBuf::from(path)))
            })
            .collect();
        Ok(CgroupMounts { v1, v2, own })
    }

    /// This process's path in the hierarchy that has `controller` (v1) or
    /// in the unified hierarchy (`None`).
    pub(crate) fn own_path(&self, controller: Option<&str>) -> PathBuf {
        self.own
            .iter()
            .find(|(list, _)| match controller {
                Some(c) => list.iter().any(|x| x == c),
                None => list.is_empty(),
            })
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| PathBuf::from("/"))
    }
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Joins a cgroup path (absolute within its hierarchy) onto a mount point.
pub(crate) fn under(mount_point: &Path, cgroup_path: &Path) -> PathBuf {
    mount_point.join(cgroup_path.strip_prefix("/").unwrap_or(cgroup_path))
}

/// Makes sure `dir` exists and that this process may create cgroups in it.
pub(crate) fn prepare_base(dir: &Path, rootless: bool) -> std::result::Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if rootless => {
            return Err(format!(
                "{} cannot be created ({e}); delegate it to this user (see README, \"Rootless mode\")",
                dir.display()
            ))
        }
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    }
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap_or_default();
    // SAFETY: access with a valid path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!(
            "{} is not writable by this user; delegate it (see README, \"Rootless mode\")",
            dir.display()
        ));
    }
    Ok(())
}

/// Writes a control file, naming it in the error.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| JailError::Cgroup {
        op: "write",
        path,
        source,
    })
}

/// Usage files of one jail cgroup, opened when the cgroup is made (before
/// its jail's request), so that reading usage when the jail ends costs a
/// `pread` per file rather than a path walk, an open and a close. Files not
/// opened here are read by path.
#[derive(Debug, Default)]
pub(crate) struct StatFiles {
    files: std::sync::Mutex<Vec<(PathBuf, std::fs::File)>>,
}

impl StatFiles {
    /// Opens `names` in `dir` (those that exist).
    pub(crate) fn open(&self, dir: &Path, names: &[&str]) {
        let opened = names.iter().filter_map(|name| {
            let path = dir.join(name);
            std::fs::File::open(&path).ok().map(|file| (path, file))
        });
        if let Ok(mut files) = self.files.lock() {
            files.extend(opened);
        }
    }

    /// Closes every file (before the cgroup is removed).
    pub(crate) fn close(&self) {
        if let Ok(mut files) = self.files.lock() {
            files.clear();
        }
    }

    /// The current contents of `dir/file`.
    pub(crate) fn read(&self, dir: &Path, file: &str) -> Option<String> {
        let path = dir.join(file);
        if let Ok(files) = self.files.lock() {
            if let Some((_, opened)) = files.iter().find(|(p, _)| *p == path) {
                return read_from_start(opened);
            }
        }
        std::fs::read_to_string(path).ok()
    }
}

/// Reads a whole control file through an open descriptor (a control file
/// is generated anew by each read from offset 0).
fn read_from_start(file: &std::fs::File) -> Option<String> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// The limits a pre-created jail's cgroup gets while it waits: the default
/// memory and pids limits (where the controller is usable), so that a
/// request with those writes nothing when it starts.
pub(crate) fn preset_limits(manager: &dyn CgroupManager) -> Limits {
    let defaults = Limits::default();
    let usable = |controller| manager.controller(controller).is_ok();
    Limits {
        memory_bytes: defaults.memory_bytes.filter(|_| usable(Controller::Memory)),
        pids: defaults.pids.filter(|_| usable(Controller::Pids)),
        cpu_percent: None,
        io_read_bps: None,
        io_write_bps: None,
        ..defaults
    }
}

/// A limit a cgroup has: `Some(None)` none, `Some(Some(n))` n, `None` not
/// known (a write failed half-way), so that the next request writes it in
/// full.
pub(crate) type Written<T> = std::sync::Mutex<Option<Option<T>>>;

/// Sets `written` to `wanted` with `write(current)`, unless it already is.
pub(crate) fn rewrite<T: Copy + PartialEq>(
    written: &Written<T>,
    wanted: Option<T>,
    write: impl FnOnce(Option<Option<T>>) -> Result<()>,
) -> Result<()> {
    let mut written = written.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *written == Some(wanted) {
        return Ok(());
    }
    let current = written.take();
    write(current)?;
    *written = Some(wanted);
    Ok(())
}

/// Reads a control file as one unsigned number (`max` reads as `u64::MAX`).
pub(crate) fn read_u64(files: &StatFiles, dir: &Path, file: &str) -> Option<u64> {
    let text = files.read(dir, file)?;
    let text = text.trim();
    if text == "max" {
        return Some(u64::MAX);
    }
    text.parse().ok()
}

/// Reads `key value` lines (v2 `*.stat`, `*.events`, v1 `oom_control`).
pub(crate) fn read_keyed(files: &StatFiles, dir: &Path, file: &str, key: &str) -> Option<u64> {
    let text = files.read(dir, file)?;
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Removes a cgroup directory, retrying while the kernel still counts an
/// exiting process in it.
pub(crate) fn remove_dir(dir: &Path) -> io::Result<()> {
    let mut delay = Duration::from_micros(200);
    for _ in 0..40 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    std::fs::remove_dir(dir)
}

/// The disks I/O limits apply to: every whole disk the kernel lists in
/// `/sys/block`, except RAM disks.
pub(crate) fn disks() -> io::Result<impl Iterator<Item = std::fs::DirEntry>> {
    Ok(std::fs::read_dir("/sys/block")?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("ram")))
}

/// The `major:minor` numbers of [`disks`].
pub(crate) fn block_devices() -> Vec<String> {
    let Ok(disks) = disks() else {
        return Vec::new();
    };
    let mut devices: Vec<String> = disks
        .filter_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .map(|s| s.trim().to_owned())
        .collect();
    devices.sort();
    devices
}

/// Writes `line(device)` into `file` for every block device. Devices
/// without a request queue (unused loop devices) refuse; at least one must
/// accept, or the I/O limit is reported unavailable.
pub(crate) fn write_per_device(dir: &Path, file: &str, line: impl Fn(&str) -> String) -> Result<()> {
    let mut applied = 0;
    let mut last_error = None;
    for device in block_devices() {
        match write(dir, file, &line(&device)) {
            Ok(()) => applied += 1,
            Err(e) => last_error = Some(e),
        }
    }
    if applied > 0 {
        return Ok(());
    }
    Err(last_error.unwrap_or(JailError::LimitUnavailable {
        limit: "I/O bandwidth",
        reason: "no block device accepts an I/O limit".into(),
    }))
}

/// Polls `done` until it holds or a second passes (freezing is asynchronous
/// in both versions).
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) -> io::Result<()> {
    let mut delay = Duration::from_micros(100);
    for _ in 0..60 {
        if done() {
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
    if done() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "cgroup did not reach the requested state",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_controllers_follow_limits() {
        let limits = Limits {
            memory_bytes: None,
            pids: None,
            io_write_bps: Some(1),
            ..Limits::default()
        };
        assert_eq!(required_controllers(&limits), vec![Controller::Io]);
        assert!(required_controllers(&Limits::unlimited()).is_empty());
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo("/a\\040b"), "/a b");
    }
}

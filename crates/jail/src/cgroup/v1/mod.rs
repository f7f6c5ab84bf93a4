//! cgroup v1: one hierarchy per controller (some may be co-mounted, such as
//! `cpu,cpuacct`). A jail gets a directory in each hierarchy it needs.

mod cpu;
mod freezer;
mod io;
mod memory;
mod pids;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::{
    prepare_base, remove_dir, rewrite, under, CgroupManager, CgroupMounts, CgroupVersion, Controller, JailCgroup,
    JailStats, StatFiles, Written,
};
use crate::config::Limits;
use crate::error::{JailError, Result};

/// v1 subsystem names the engine uses.
const SUBSYSTEMS: &[&str] = &["memory", "cpu", "cpuacct", "pids", "blkio", "freezer"];

fn subsystem(controller: Controller) -> &'static str {
    match controller {
        Controller::Memory => "memory",
        Controller::Cpu => "cpu",
        Controller::Pids => "pids",
        Controller::Io => "blkio",
        Controller::Freezer => "freezer",
    }
}

/// The v1 layout: a base directory per subsystem.
#[derive(Debug)]
pub(crate) struct V1Manager {
    bases: BTreeMap<&'static str, std::result::Result<PathBuf, String>>,
}

impl V1Manager {
    pub(crate) fn new(mounts: &CgroupMounts, parent: &str, rootless: bool) -> Self {
        let mut bases = BTreeMap::new();
        for &name in SUBSYSTEMS {
            let base = match mounts.v1.iter().find(|m| m.controllers.iter().any(|c| c == name)) {
                None => Err(format!("no cgroup v1 hierarchy has the {name} controller")),
                Some(mount) => {
                    let dir = under(&mount.mount_point, &mounts.own_path(Some(name))).join(parent);
                    prepare_base(&dir, rootless).map(|()| dir)
                }
            };
            if let (true, Ok(dir)) = (name == subsystem(Controller::Io), &base) {
                io::enable_accounting(dir);
            }
            bases.insert(name, base);
        }
        V1Manager { bases }
    }

    fn base(&self, name: &str) -> Option<&PathBuf> {
        self.bases.get(name).and_then(|b| b.as_ref().ok())
    }
}

impl CgroupManager for V1Manager {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V1
    }

    fn controller(&self, controller: Controller) -> std::result::Result<PathBuf, String> {
        self.bases
            .get(subsystem(controller))
            .cloned()
            .unwrap_or_else(|| Err("unknown controller".into()))
    }

    fn create(&self, name: &str) -> Result<Arc<dyn JailCgroup>> {
        let mut cgroup = V1Cgroup::default();
        for &sub in SUBSYSTEMS {
            let Some(base) = self.base(sub) else { continue };
            let dir = base.join(name);
            // Co-mounted subsystems share one directory.
            if !cgroup.dirs.contains(&dir) {
                if let Err(source) = std::fs::create_dir(&dir) {
                    let _ = cgroup.remove();
                    return Err(JailError::Cgroup {
                        op: "mkdir",
                        path: dir,
                        source,
                    });
                }
                cgroup.dirs.push(dir.clone());
            }
            cgroup.by_subsystem.insert(sub, dir);
        }
        for (sub, names) in [
            ("memory", memory::STAT_FILES),
            ("cpuacct", cpu::STAT_FILES),
            ("pids", pids::STAT_FILES),
            ("blkio", io::STAT_FILES),
        ] {
            if let Some(dir) = cgroup.dir(sub) {
                cgroup.files.open(dir, names);
            }
        }
        cgroup.swap_accounted = cgroup.dir("memory").is_some_and(|dir| memory::swap_accounted(dir));
        cgroup.tcp_accounted = cgroup.dir("memory").is_some_and(|dir| memory::tcp_accounted(dir));
        // A fresh cgroup has no limits.
        cgroup.memory_limit = std::sync::Mutex::new(Some(None));
        cgroup.pids_limit = std::sync::Mutex::new(Some(None));
        Ok(Arc::new(cgroup))
    }

    fn bases(&self) -> Vec<PathBuf> {
        let mut bases: Vec<PathBuf> = self.bases.values().filter_map(|b| b.as_ref().ok().cloned()).collect();
        bases.dedup();
        bases
    }

    fn home_files(&self) -> Vec<PathBuf> {
        // Each base is `paddock` under this process's own cgroup.
        self.bases()
            .iter()
            .filter_map(|base| base.parent().map(|home| home.join("tasks")))
            .collect()
    }
}

/// A jail's directories in the v1 hierarchies.
#[derive(Debug, Default)]
struct V1Cgroup {
    dirs: Vec<PathBuf>,
    by_subsystem: BTreeMap<&'static str, PathBuf>,
    files: StatFiles,
    swap_accounted: bool,
    tcp_accounted: bool,
    memory_limit: Written<u64>,
    pids_limit: Written<u32>,
}

impl V1Cgroup {
    fn dir(&self, subsystem: &str) -> Option<&PathBuf> {
        self.by_subsystem.get(subsystem)
    }
}

impl JailCgroup for V1Cgroup {
    fn apply(&self, limits: &Limits) -> Result<()> {
        if let Some(dir) = self.dir("memory") {
            rewrite(&self.memory_limit, limits.memory_bytes, |current| {
                memory::apply(
                    dir,
                    current,
                    limits.memory_bytes,
                    self.swap_accounted,
                    self.tcp_accounted,
                )
            })?;
        }
        if let (Some(dir), Some(percent)) = (self.dir("cpu"), limits.cpu_percent) {
            cpu::apply(dir, percent)?;
        }
        if let Some(dir) = self.dir("pids") {
            rewrite(&self.pids_limit, limits.pids, |_| pids::apply(dir, limits.pids))?;
        }
        if let Some(dir) = self.dir("blkio") {
            io::apply(dir, limits.io_read_bps, limits.io_write_bps)?;
        }
        Ok(())
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        // `tasks` moves only the writing thread, which spares the kernel the
        // global threadgroup lock (an RCU grace period) that a
        // `cgroup.procs` write takes; the jail's init is single-threaded, so
        // this moves the whole process.
        self.dirs.iter().map(|d| d.join("tasks")).collect()
    }

    fn clone_dir(&self) -> Option<PathBuf> {
        None
    }

    fn stats(&self) -> JailStats {
        let mut stats = JailStats::default();
        if let Some(dir) = self.dir("memory") {
            memory::stats(&self.files, dir, &mut stats);
        }
        if let Some(dir) = self.dir("cpuacct") {
            cpu::stats(&self.files, dir, &mut stats);
        }
        if let Some(dir) = self.dir("pids") {
            pids::stats(&self.files, dir, &mut stats);
        }
        if let Some(dir) = self.dir("blkio") {
            io::stats(&self.files, dir, &mut stats);
        }
        stats
    }

    fn oom_killed(&self) -> bool {
        self.dir("memory")
            .is_some_and(|dir| memory::oom_killed(&self.files, dir))
    }

    fn freeze(&self) -> std::io::Result<()> {
        freezer::set(self.dir("freezer").ok_or_else(no_freezer)?, true)
    }

    fn thaw(&self) -> std::io::Result<()> {
        freezer::set(self.dir("freezer").ok_or_else(no_freezer)?, false)
    }

    fn can_freeze(&self) -> bool {
        self.dir("freezer").is_some()
    }

    fn kill_all(&self) -> std::io::Result<()> {
        // v1 has no cgroup.kill, and emulating it (freeze, signal each
        // listed pid, thaw) would block and race with pid reuse. Nothing is
        // lost: the caller kills the jail's init, which ends its whole PID
        // namespace.
        Ok(())
    }

    fn remove(&self) -> std::io::Result<()> {
        self.files.close();
        let mut first_error = None;
        for dir in self.dirs.iter().rev() {
            if let Err(e) = remove_dir(dir) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn no_freezer() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::Unsupported, "no v1 freezer hierarchy")
}

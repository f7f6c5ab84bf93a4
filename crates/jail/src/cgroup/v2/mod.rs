//! cgroup v2: one directory per jail in the unified hierarchy. Controllers
//! must be enabled in every ancestor's `cgroup.subtree_control`; the
//! freezer and `cgroup.kill` are core files and need no controller.

mod cpu;
mod freezer;
mod io;
mod memory;
mod pids;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    prepare_base, remove_dir, rewrite, under, write, CgroupManager, CgroupVersion, Controller, JailCgroup, JailStats,
    StatFiles, Written,
};
use crate::config::Limits;
use crate::error::{JailError, Result};

fn controller_name(controller: Controller) -> &'static str {
    match controller {
        Controller::Memory => "memory",
        Controller::Cpu => "cpu",
        Controller::Pids => "pids",
        Controller::Io => "io",
        Controller::Freezer => "freezer",
    }
}

/// The v2 layout: jails are children of one base directory.
#[derive(Debug)]
pub(crate) struct V2Manager {
    base: std::result::Result<PathBuf, String>,
    enabled: Vec<String>,
}

impl V2Manager {
    /// As root the base sits at the top of the hierarchy (the root cgroup is
    /// exempt from the no-internal-processes rule); rootless it must be a
    /// delegated directory under this process's own cgroup.
    pub(crate) fn new(mount_point: &Path, own: &Path, parent: &str, rootless: bool) -> Self {
        let top = if rootless {
            under(mount_point, own)
        } else {
            mount_point.to_path_buf()
        };
        let base = top.join(parent);
        if let Err(reason) = prepare_base(&base, rootless) {
            return V2Manager {
                base: Err(reason),
                enabled: Vec::new(),
            };
        }
        // Enabling is best effort: what ends up enabled is read back below.
        for dir in [&top, &base] {
            for name in ["memory", "cpu", "pids", "io"] {
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{name}"));
            }
        }
        let enabled = std::fs::read_to_string(base.join("cgroup.subtree_control"))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        V2Manager {
            base: Ok(base),
            enabled,
        }
    }
}

impl CgroupManager for V2Manager {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V2
    }

    fn controller(&self, controller: Controller) -> std::result::Result<PathBuf, String> {
        let base = self.base.clone()?;
        let name = controller_name(controller);
        if controller == Controller::Freezer || self.enabled.iter().any(|c| c == name) {
            Ok(base)
        } else {
            Err(format!(
                "the {name} controller is not enabled in {}/cgroup.subtree_control (on a hybrid host it may be bound to a v1 hierarchy)",
                base.display()
            ))
        }
    }

    fn create(&self, name: &str) -> Result<Arc<dyn JailCgroup>> {
        let base = self.base.as_ref().map_err(|reason| JailError::LimitUnavailable {
            limit: "a resource",
            reason: reason.clone(),
        })?;
        let dir = base.join(name);
        std::fs::create_dir(&dir).map_err(|source| JailError::Cgroup {
            op: "mkdir",
            path: dir.clone(),
            source,
        })?;
        let files = StatFiles::default();
        for names in [memory::STAT_FILES, cpu::STAT_FILES, pids::STAT_FILES, io::STAT_FILES] {
            files.open(&dir, names);
        }
        Ok(Arc::new(V2Cgroup {
            memory_files: memory::MemoryFiles::find(&dir),
            pids_max: dir.join("pids.max").exists(),
            dir,
            files,
            // A fresh cgroup has no limits.
            memory_limit: std::sync::Mutex::new(Some(None)),
            pids_limit: std::sync::Mutex::new(Some(None)),
        }))
    }

    fn bases(&self) -> Vec<PathBuf> {
        self.base.iter().cloned().collect()
    }

    fn home_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

#[derive(Debug)]
struct V2Cgroup {
    dir: PathBuf,
    files: StatFiles,
    memory_files: memory::MemoryFiles,
    pids_max: bool,
    memory_limit: Written<u64>,
    pids_limit: Written<u32>,
}

impl JailCgroup for V2Cgroup {
    fn apply(&self, limits: &Limits) -> Result<()> {
        // Without the controller there is no limit to keep or remove; asking
        // for one fails on the missing file.
        if self.memory_files.max || limits.memory_bytes.is_some() {
            rewrite(&self.memory_limit, limits.memory_bytes, |_| {
                memory::apply(&self.dir, limits.memory_bytes, self.memory_files)
            })?;
        }
        if let Some(percent) = limits.cpu_percent {
            cpu::apply(&self.dir, percent)?;
        }
        if self.pids_max || limits.pids.is_some() {
            rewrite(&self.pids_limit, limits.pids, |_| pids::apply(&self.dir, limits.pids))?;
        }
        io::apply(&self.dir, limits.io_read_bps, limits.io_write_bps)
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    fn clone_dir(&self) -> Option<PathBuf> {
        Some(self.dir.clone())
    }

    fn stats(&self) -> JailStats {
        let mut stats = JailStats::default();
        memory::stats(&self.files, &self.dir, &mut stats);
        cpu::stats(&self.files, &self.dir, &mut stats);
        pids::stats(&self.files, &self.dir, &mut stats);
        io::stats(&self.files, &self.dir, &mut stats);
        stats
    }

    fn oom_killed(&self) -> bool {
        memory::oom_killed(&self.files, &self.dir)
    }

    fn freeze(&self) -> std::io::Result<()> {
        freezer::set(&self.dir, true)
    }

    fn thaw(&self) -> std::io::Result<()> {
        freezer::set(&self.dir, false)
    }

    fn can_freeze(&self) -> bool {
        self.dir.join("cgroup.freeze").exists()
    }

    fn kill_all(&self) -> std::io::Result<()> {
        write(&self.dir, "cgroup.kill", "1").map_err(std::io::Error::other)
    }

    fn remove(&self) -> std::io::Result<()> {
        self.files.close();
        remove_dir(&self.dir)
    }
}

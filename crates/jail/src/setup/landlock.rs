//! Landlock, applied after `pivot_root` (ARCHITECTURE decision 7): system
//! directories are read-and-execute only, `/tmp` and `/dev/shm` writable but
//! not executable, and only the writable binds accept both.
//!
//! Landlock is defence in depth on top of the minimal root and read-only
//! mounts, so kernels without it run the jail without it (best effort).

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, ABI,
};

use crate::config::JailConfig;

const TARGET_ABI: ABI = ABI::V6;

/// System directories of the minimal root.
const SYSTEM_DIRS: &[&str] = &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"];

/// Whether Landlock was enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LandlockOutcome {
    Enforced,
    Partial,
    Unsupported,
}

fn read_exec() -> BitFlags<AccessFs> {
    AccessFs::ReadFile | AccessFs::ReadDir | AccessFs::Execute
}

fn write_no_exec(abi: ABI) -> BitFlags<AccessFs> {
    let mut access = AccessFs::from_all(abi);
    access.remove(AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock);
    access
}

fn rule(path: &Path, access: BitFlags<AccessFs>) -> Option<PathBeneath<PathFd>> {
    PathFd::new(path).ok().map(|fd| PathBeneath::new(fd, access))
}

/// Restricts the calling process (and what it executes) to the jail's paths.
pub(crate) fn restrict(config: &JailConfig) -> Result<LandlockOutcome, landlock::RulesetError> {
    let abi = TARGET_ABI;
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = vec![(PathBuf::from("/"), AccessFs::ReadDir.into())];
    rules.extend(SYSTEM_DIRS.iter().map(|d| (PathBuf::from(d), read_exec())));
    rules.push((
        PathBuf::from("/dev"),
        AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::ReadDir | AccessFs::IoctlDev,
    ));
    rules.push((
        PathBuf::from("/proc"),
        AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::ReadDir,
    ));
    rules.push((PathBuf::from("/tmp"), write_no_exec(abi)));
    rules.push((PathBuf::from("/dev/shm"), write_no_exec(abi)));
    for mount in &config.mounts {
        let access = if mount.writable {
            write_no_exec(abi) | AccessFs::Execute
        } else {
            read_exec()
        };
        rules.push((mount.target.clone(), access));
    }

    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?
        .add_rules(
            rules
                .iter()
                .filter_map(|(path, access)| rule(path, *access))
                .map(Ok::<_, landlock::RulesetError>),
        )?
        .restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockOutcome::Enforced,
        RulesetStatus::PartiallyEnforced => LandlockOutcome::Partial,
        RulesetStatus::NotEnforced => LandlockOutcome::Unsupported,
    })
}

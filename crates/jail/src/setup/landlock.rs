//! Landlock, applied after `pivot_root` (ARCHITECTURE decision 7): system
//! directories are read-and-execute only, `/tmp` and `/dev/shm` writable but
//! not executable, and only the writable binds accept both.
//!
//! Landlock is defence in depth on top of the minimal root and read-only
//! mounts, so kernels without it run the jail without it (best effort).
//!
//! When the jail pivots before its request (see `mounts`), the rules for
//! the shared part of the root are added while the command waits
//! ([`prepare`]); the request's paths are added and the ruleset enforced
//! with the request ([`restrict`]). Either way this runs after the pivot.

use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, ABI,
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

fn add(ruleset: RulesetCreated, rules: &[(PathBuf, BitFlags<AccessFs>)]) -> Result<RulesetCreated, RulesetError> {
    ruleset.add_rules(
        rules
            .iter()
            .filter_map(|(path, access)| rule(path, *access))
            .map(Ok::<_, RulesetError>),
    )
}

/// A ruleset with the rules of the shared part of the root (after the
/// pivot). Nothing is enforced yet.
pub(crate) fn prepare() -> Result<RulesetCreated, RulesetError> {
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
    let ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?;
    add(ruleset, &rules)
}

/// Adds the request's paths to `ruleset` (from [`prepare`]) and restricts
/// the calling process (and what it executes) to the jail's paths. Runs
/// after the pivot.
pub(crate) fn restrict(ruleset: RulesetCreated, config: &JailConfig) -> Result<LandlockOutcome, RulesetError> {
    enforce(complete(ruleset, config)?)
}

/// Adds the request's paths to `ruleset` (from [`prepare`]) without
/// enforcing it: a runtime jail's init builds it once, and each process it
/// starts enforces a copy ([`enforce`]).
pub(crate) fn complete(ruleset: RulesetCreated, config: &JailConfig) -> Result<RulesetCreated, RulesetError> {
    let abi = TARGET_ABI;
    let mut rules: Vec<(PathBuf, BitFlags<AccessFs>)> = vec![(PathBuf::from("/tmp"), write_no_exec(abi))];
    rules.push((PathBuf::from("/dev/shm"), write_no_exec(abi)));
    for mount in &config.mounts {
        let access = if mount.writable {
            write_no_exec(abi) | AccessFs::Execute
        } else {
            read_exec()
        };
        rules.push((mount.target.clone(), access));
    }

    add(ruleset, &rules)
}

/// Restricts the calling process (and what it executes) to a complete
/// ruleset.
pub(crate) fn enforce(ruleset: RulesetCreated) -> Result<LandlockOutcome, RulesetError> {
    let status = ruleset.restrict_self()?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockOutcome::Enforced,
        RulesetStatus::PartiallyEnforced => LandlockOutcome::Partial,
        RulesetStatus::NotEnforced => LandlockOutcome::Unsupported,
    })
}

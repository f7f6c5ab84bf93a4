//! `paddock doctor`: what the jail engine can enforce on this host, as a
//! table of checks.
//!
//! Required (a failure exits 1): the engine starts (namespaces, the
//! minimal root, the spawner), and the memory and pids controllers are
//! usable, because every jail `paddock serve` runs and every `paddock run`
//! with its default limits sets both. Optional (`warn`, exit 0): the cpu
//! and io controllers (`--cpu`, `--io-read`/`--io-write`), the freezer
//! (snapshots of a running exec, forks, idle pause) and Landlock (defence
//! in depth).

use paddock_jail::{CgroupVersion, Controller, EngineInfo};
use serde_json::Value;

/// Exit status when a required check fails.
pub const EXIT_REQUIRED_MISSING: i32 = 1;

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// `ok`, `missing` (a required check failed) or `warn` (an optional one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Missing,
    Warn,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Missing => "missing",
            Status::Warn => "warn",
        }
    }
}

fn check(name: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        name: name.to_owned(),
        status,
        detail: detail.into(),
    }
}

/// What each controller is for, and whether jails need it at all.
fn controller_role(controller: Controller) -> (bool, &'static str) {
    match controller {
        Controller::Memory => (
            true,
            "every server jail and `paddock run` by default set a memory limit",
        ),
        Controller::Pids => (true, "every server jail and `paddock run` by default set a pids limit"),
        Controller::Cpu => (false, "needed for --cpu / cpu_percent"),
        Controller::Io => (false, "needed for --io-read / --io-write"),
        Controller::Freezer => (
            false,
            "needed to snapshot a running exec, fork runs and pause idle workspaces",
        ),
    }
}

/// The checks for an engine that started.
pub fn checks(info: &EngineInfo) -> Vec<Check> {
    let mut checks = vec![check(
        "jail engine",
        Status::Ok,
        if info.rootless {
            format!(
                "started rootless (user namespace), runtime {}",
                info.runtime_dir.display()
            )
        } else {
            let ids = info
                .jail_ids
                .map(|r| format!(", each jail a block of 65536 host ids from {}:{}", r.start, r.count))
                .unwrap_or_default();
            format!("started as root, runtime {}{ids}", info.runtime_dir.display())
        },
    )];
    let version = match info.cgroups.version {
        CgroupVersion::V1 => "v1 (or hybrid)",
        CgroupVersion::V2 => "v2",
        CgroupVersion::None => "none found",
    };
    checks.push(check(
        "cgroups",
        if info.cgroups.version == CgroupVersion::None {
            Status::Missing
        } else {
            Status::Ok
        },
        version,
    ));
    for (controller, state) in &info.cgroups.controllers {
        let (required, purpose) = controller_role(*controller);
        let name = format!("{controller} controller");
        checks.push(match state {
            Ok(dir) => check(&name, Status::Ok, dir.display().to_string()),
            Err(why) if required => check(&name, Status::Missing, format!("required: {purpose}; {why}")),
            Err(why) => check(&name, Status::Warn, format!("optional, {purpose}; {why}")),
        });
    }
    // A controller the report does not list is as good as unusable.
    for controller in [Controller::Memory, Controller::Pids] {
        if !info.cgroups.controllers.iter().any(|(c, _)| *c == controller) {
            let (_, purpose) = controller_role(controller);
            checks.push(check(
                &format!("{controller} controller"),
                Status::Missing,
                format!("required: {purpose}; not found"),
            ));
        }
    }
    checks.push(match info.landlock_abi {
        Some(abi) if abi >= 6 => check("landlock", Status::Ok, format!("ABI {abi}")),
        Some(abi) => check(
            "landlock",
            Status::Ok,
            format!("ABI {abi} (signal and abstract-socket scoping need 6)"),
        ),
        None => check(
            "landlock",
            Status::Warn,
            "optional, not in this kernel: jails run without it (defence in depth only)",
        ),
    });
    checks
}

/// The check for an engine that could not start.
pub fn engine_failed(why: &str) -> Vec<Check> {
    vec![check("jail engine", Status::Missing, format!("cannot start: {why}"))]
}

/// 0 when every required check passed, else [`EXIT_REQUIRED_MISSING`].
pub fn exit_status(checks: &[Check]) -> i32 {
    if checks.iter().any(|c| c.status == Status::Missing) {
        EXIT_REQUIRED_MISSING
    } else {
        0
    }
}

/// The report as text: a table and a verdict line.
pub fn render(checks: &[Check]) -> String {
    let width = |f: &dyn Fn(&Check) -> usize, header: &str| checks.iter().map(f).max().unwrap_or(0).max(header.len());
    let name_w = width(&|c| c.name.len(), "CHECK");
    let status_w = width(&|c| c.status.as_str().len(), "STATUS");
    let mut out = format!("{:<name_w$}  {:<status_w$}  DETAIL\n", "CHECK", "STATUS");
    for c in checks {
        out.push_str(&format!(
            "{:<name_w$}  {:<status_w$}  {}\n",
            c.name,
            c.status.as_str(),
            c.detail
        ));
    }
    let missing = checks.iter().filter(|c| c.status == Status::Missing).count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push('\n');
    out.push_str(&match (missing, warnings) {
        (0, 0) => "jails can run with every limit\n".to_owned(),
        (0, n) => format!("jails can run; {n} optional feature(s) unavailable\n"),
        (n, _) => format!("jails cannot run with their default limits: {n} required check(s) failed\n"),
    });
    out
}

/// The engine's report as JSON (`paddock doctor --json`).
pub fn raw(info: &EngineInfo) -> Value {
    serde_json::to_value(info).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use paddock_jail::CgroupReport;

    use super::*;

    fn info(controllers: Vec<(Controller, Result<PathBuf, String>)>, landlock: Option<u32>) -> EngineInfo {
        EngineInfo {
            rootless: true,
            cgroups: CgroupReport {
                version: CgroupVersion::V2,
                controllers,
            },
            runtime_dir: PathBuf::from("/run/user/1000/paddock"),
            jail_ids: None,
            landlock_abi: landlock,
        }
    }

    fn all_ok() -> Vec<(Controller, Result<PathBuf, String>)> {
        [
            Controller::Memory,
            Controller::Cpu,
            Controller::Pids,
            Controller::Io,
            Controller::Freezer,
        ]
        .into_iter()
        .map(|c| (c, Ok(PathBuf::from(format!("/sys/fs/cgroup/{c}")))))
        .collect()
    }

    #[test]
    fn a_complete_host_passes() {
        let checks = checks(&info(all_ok(), Some(6)));
        assert!(checks.iter().all(|c| c.status == Status::Ok), "{checks:?}");
        assert_eq!(exit_status(&checks), 0);
        let text = render(&checks);
        assert!(text.starts_with("CHECK"), "{text}");
        assert!(text.contains("memory controller"), "{text}");
        assert!(text.ends_with("jails can run with every limit\n"), "{text}");
    }

    #[test]
    fn optional_features_only_warn() {
        let mut controllers = all_ok();
        for (c, state) in &mut controllers {
            if matches!(c, Controller::Cpu | Controller::Io | Controller::Freezer) {
                *state = Err("not delegated".into());
            }
        }
        let checks = checks(&info(controllers, None));
        assert_eq!(exit_status(&checks), 0);
        let warned: Vec<&str> = checks
            .iter()
            .filter(|c| c.status == Status::Warn)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(
            warned,
            ["cpu controller", "io controller", "freezer controller", "landlock"]
        );
        assert!(render(&checks).contains("4 optional feature(s) unavailable"));
    }

    #[test]
    fn memory_or_pids_missing_fails() {
        for missing in [Controller::Memory, Controller::Pids] {
            let mut controllers = all_ok();
            for (c, state) in &mut controllers {
                if *c == missing {
                    *state = Err("cannot be created (Permission denied)".into());
                }
            }
            let checks = checks(&info(controllers, Some(3)));
            assert_eq!(exit_status(&checks), EXIT_REQUIRED_MISSING, "{missing}");
            let row = checks.iter().find(|c| c.status == Status::Missing).unwrap();
            assert_eq!(row.name, format!("{missing} controller"));
            assert!(row.detail.starts_with("required: ") && row.detail.contains("Permission denied"));
        }
        // Not listed at all counts as missing too.
        let checks = checks(&info(vec![], Some(6)));
        assert_eq!(exit_status(&checks), EXIT_REQUIRED_MISSING);
    }

    #[test]
    fn an_engine_that_cannot_start_fails() {
        let checks = engine_failed("unshare: Operation not permitted");
        assert_eq!(exit_status(&checks), EXIT_REQUIRED_MISSING);
        assert!(render(&checks).contains("jail engine  missing  cannot start: unshare"));
    }
}

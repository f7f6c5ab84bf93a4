//! The cgroup v2 implementation, driven for real on the unified hierarchy.
//!
//! On a pure v2 host every controller is there and the limit tests apply;
//! on a hybrid host (v1 controllers plus an empty cgroup2 mount, like the
//! machines this is developed on) the core files still work: the freezer,
//! `cgroup.kill`, `cpu.stat`, and a clear refusal for a limit whose
//! controller is bound to v1.

use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::{CgroupVersion, Controller, JailError, Limits};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        v2_test(
            "v2_engine_uses_the_unified_hierarchy",
            v2_engine_uses_the_unified_hierarchy,
        ),
        v2_test("v2_freeze_thaw_and_stats", v2_freeze_thaw_and_stats),
        v2_test("v2_kill_reaches_a_frozen_jail", v2_kill_reaches_a_frozen_jail),
        v2_test("v2_memory_limit_or_a_clear_refusal", v2_memory_limit_or_a_clear_refusal),
        v2_test("v2_pids_limit_or_a_clear_refusal", v2_pids_limit_or_a_clear_refusal),
    ]
}

fn engine_v2() -> Result<&'static paddock_jail::Engine, Failed> {
    v2_engine().ok_or_else(|| "the v2 engine did not start".into())
}

fn unlimited(script: &str) -> paddock_jail::JailConfig {
    let mut config = sh(script);
    config.limits = Limits::unlimited();
    config.limits.timeout = Some(Duration::from_secs(30));
    config
}

fn v2_engine_uses_the_unified_hierarchy() -> Result<(), Failed> {
    let info = engine_v2()?.info();
    check(
        info.cgroups.version == CgroupVersion::V2,
        format!("{:?}", info.cgroups.version),
    )?;
    let freezer = info
        .cgroups
        .controllers
        .iter()
        .find(|(c, _)| *c == Controller::Freezer)
        .ok_or("no freezer entry")?;
    let base = freezer.1.clone().map_err(|e| format!("freezer unusable: {e}"))?;
    let mount = cgroup2_mount().ok_or("no cgroup2 mount")?;
    check(
        base.starts_with(&mount),
        format!("{} is not under {}", base.display(), mount.display()),
    )
}

fn v2_freeze_thaw_and_stats() -> Result<(), Failed> {
    block_on(async { freeze_thaw_round_trip(engine_v2()?.spawn(unlimited("while :; do :; done")).await?).await })
}

fn v2_kill_reaches_a_frozen_jail() -> Result<(), Failed> {
    block_on(async {
        let handle = engine_v2()?.spawn(unlimited("sleep 60 & sleep 60")).await?;
        handle.freeze()?;
        handle.kill()?;
        expect_killed(handle).await
    })
}

fn controller_usable(controller: Controller) -> Result<Result<(), String>, Failed> {
    let info = engine_v2()?.info();
    let entry = info
        .cgroups
        .controllers
        .iter()
        .find(|(c, _)| *c == controller)
        .ok_or("missing entry")?;
    Ok(entry.1.clone().map(drop))
}

fn v2_memory_limit_or_a_clear_refusal() -> Result<(), Failed> {
    let mut config = unlimited("python3 -c 'a = bytearray(256 << 20)'");
    config.limits.memory_bytes = Some(32 << 20);
    let outcome = block_on(engine_v2()?.run(config));
    match controller_usable(Controller::Memory)? {
        Ok(()) => {
            let result = outcome?;
            check(result.oom_killed, format!("no OOM under memory.max: {result:?}"))
        }
        Err(reason) => match outcome {
            Err(JailError::LimitUnavailable { limit, reason: got }) => {
                check(limit == "memory" && got == reason, got.clone())?;
                check(got.contains("memory controller is not enabled"), got)
            }
            other => Err(format!("ran without its memory limit: {other:?}").into()),
        },
    }
}

fn v2_pids_limit_or_a_clear_refusal() -> Result<(), Failed> {
    let mut config = unlimited("for i in $(seq 40); do sleep 5 & done 2>/dev/null; echo survived");
    config.limits.pids = Some(8);
    let outcome = block_on(engine_v2()?.run(config));
    match controller_usable(Controller::Pids)? {
        Ok(()) => {
            let result = outcome?;
            check(result.stats.ok_or("no stats")?.pids_current <= 8, "pids above pids.max")
        }
        Err(_) => match outcome {
            Err(JailError::LimitUnavailable { limit, .. }) => check(limit == "pids", limit),
            other => Err(format!("ran without its pids limit: {other:?}").into()),
        },
    }
}

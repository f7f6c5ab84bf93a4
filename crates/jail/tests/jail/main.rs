//! Integration and threat-model regression tests of the jail engine.
//!
//! The engine must start while the process is single-threaded, so this
//! test binary has its own `main` (libtest-mimic): it starts the engine,
//! then runs the tests on threads. Run it as root for the full suite and as
//! an unprivileged user for the rootless subset; tests that need root are
//! reported as ignored there, never as passed.

mod behaviour;
mod budgets;
mod cgroup_v2;
mod egress;
mod identity;
mod runtime;
mod support;
mod threats;

use libtest_mimic::{Arguments, Trial};

fn main() {
    let args = Arguments::from_args();
    support::init();
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(threats::trials());
    trials.extend(budgets::trials());
    trials.extend(behaviour::trials());
    trials.extend(cgroup_v2::trials());
    trials.extend(egress::trials());
    trials.extend(identity::trials());
    trials.extend(runtime::trials());
    let conclusion = libtest_mimic::run(&args, trials);
    // `exit` runs no destructors: release pooled jails and cgroups first.
    support::shutdown();
    conclusion.exit();
}

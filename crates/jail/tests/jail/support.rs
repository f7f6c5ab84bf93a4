//! Shared helpers: the engine, a runtime per test, and small builders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::egress::testkit::ScriptedDns;
use paddock_jail::egress::EgressSettings;
use paddock_jail::{CgroupVersion, Engine, EngineOptions, JailConfig, JailError, JailResult, Limits};

static ENGINE: OnceLock<Engine> = OnceLock::new();
static V2_ENGINE: OnceLock<Engine> = OnceLock::new();
static EGRESS_ENGINE: OnceLock<Engine> = OnceLock::new();
static EGRESS_DNS: OnceLock<ScriptedDns> = OnceLock::new();

/// Names the egress engine's operator settings send to 127.0.0.1 (where
/// the tests' upstreams listen).
pub const TRUSTED_NAMES: &[&str] = &["up.test", "other.test", "wild.test", "a.wild.test", "evil-wild.test"];

/// What the egress engine's name server answers: `rebind.test` first a
/// public address, then loopback; `private.test` a private address.
const DNS_SCRIPT: &[(&str, &[[u8; 4]])] = &[
    ("rebind.test", &[[1, 1, 1, 1], [127, 0, 0, 1]]),
    ("private.test", &[[10, 0, 0, 7]]),
    ("localhost", &[[127, 0, 0, 1]]),
];

/// Starts the engines (called first thing in `main`, single-threaded): the
/// default one, and, as root on a host with a cgroup2 mount, one forced onto
/// the unified hierarchy so the v2 code runs even on a hybrid host.
pub fn init() {
    if is_root() {
        // Supplementary groups as a root login shell has them (this runner
        // may have none): jails must not keep them (row 31).
        let groups: [libc::gid_t; 2] = [0, 4242];
        // SAFETY: setgroups with a valid array of its length, before any
        // thread exists.
        let set = unsafe { libc::setgroups(groups.len(), groups.as_ptr()) };
        assert_eq!(set, 0, "setgroups: {}", std::io::Error::last_os_error());
    }
    let engine = Engine::start(EngineOptions::default()).expect("engine starts");
    ENGINE.set(engine).expect("engine set once");
    if is_root() && cgroup2_mount().is_some() {
        let v2 = Engine::start(EngineOptions {
            cgroup_parent: Some("paddock-tests-v2".into()),
            cgroup_layout: Some(CgroupVersion::V2),
            ..EngineOptions::default()
        })
        .expect("v2 engine starts");
        V2_ENGINE.set(v2).expect("v2 engine set once");
    }
    // The egress engine trusts the test names and asks a scripted name
    // server, bound now and served once the engines exist (a thread).
    let dns_socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the test DNS port");
    let mut egress = EgressSettings {
        nameservers: vec![dns_socket.local_addr().expect("dns address")],
        connect_timeout: Duration::from_secs(1),
        ..EgressSettings::default()
    };
    for name in TRUSTED_NAMES {
        egress
            .trusted
            .add_host_spec(&format!("{name}=127.0.0.1"))
            .expect("trusted host");
    }
    // Network tests need no cgroup limits: this engine runs without cgroups
    // (its jails use `net_limits`), so it needs no delegation when rootless.
    let egress_engine = Engine::start(EngineOptions {
        cgroup_layout: Some(CgroupVersion::None),
        warm_pool: Some(1),
        egress,
        ..EngineOptions::default()
    })
    .expect("egress engine starts");
    EGRESS_ENGINE.set(egress_engine).expect("egress engine set once");
    EGRESS_DNS
        .set(ScriptedDns::serve(dns_socket, DNS_SCRIPT))
        .expect("dns set once");
}

/// The engine whose egress proxy trusts [`TRUSTED_NAMES`] and resolves
/// through the scripted name server.
pub fn egress_engine() -> &'static Engine {
    EGRESS_ENGINE.get().expect("egress engine started in main")
}

/// The egress engine's scripted name server.
pub fn egress_dns() -> &'static ScriptedDns {
    EGRESS_DNS.get().expect("dns started in main")
}

/// Releases the engines' pre-created jails and finished jails' cgroups.
pub fn shutdown() {
    engine().shutdown();
    egress_engine().shutdown();
    if let Some(v2) = v2_engine() {
        v2.shutdown();
    }
}

/// The mount point of the unified (v2) hierarchy, if any.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.starts_with("cgroup2 ") {
            left.split(' ').nth(4).map(PathBuf::from)
        } else {
            None
        }
    })
}

/// The engine forced onto cgroup v2 (root only).
pub fn v2_engine() -> Option<&'static Engine> {
    V2_ENGINE.get()
}

/// A test of the v2 code paths; ignored without root or a cgroup2 mount.
pub fn v2_test(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    Trial::test(name, f).with_ignored_flag(!(is_root() && cgroup2_mount().is_some()))
}

pub fn engine() -> &'static Engine {
    ENGINE.get().expect("engine started in main")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether cgroup limits are usable (root, or rootless with delegation).
pub fn has_limits() -> bool {
    engine().info().cgroups.controllers.iter().all(|(_, c)| c.is_ok())
}

/// A test that runs everywhere.
pub fn test(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    Trial::test(name, f)
}

/// A test that needs root; ignored (not passed) when rootless.
pub fn root_test(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    Trial::test(name, f).with_ignored_flag(!is_root())
}

/// A test that needs cgroup limits; ignored when none are delegated.
pub fn limits_test(name: &str, f: fn() -> Result<(), Failed>) -> Trial {
    Trial::test(name, f).with_ignored_flag(!has_limits())
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// Limits of the egress engine's jails: no cgroup, a deadline.
pub fn net_limits() -> Limits {
    let mut limits = Limits::unlimited();
    limits.timeout = Some(Duration::from_secs(60));
    limits
}

/// Limits every test can use: cgroup limits only where available.
pub fn base_limits() -> Limits {
    let mut limits = if has_limits() {
        Limits::default()
    } else {
        Limits::unlimited()
    };
    limits.timeout = Some(Duration::from_secs(60));
    limits
}

/// `command args...` with the test limits.
pub fn command(command: &str, args: &[&str]) -> JailConfig {
    let mut config = JailConfig::new(command, args.iter().copied());
    config.limits = base_limits();
    config
}

/// `sh -c script` with the test limits.
pub fn sh(script: &str) -> JailConfig {
    let mut config = JailConfig::new("/bin/sh", ["-c", script]);
    config.limits = base_limits();
    config
}

/// `python3 -c code` with the test limits.
pub fn python(code: &str) -> JailConfig {
    let mut config = JailConfig::new("python3", ["-c", code]);
    config.limits = base_limits();
    config
}

pub fn run(config: JailConfig) -> Result<JailResult, JailError> {
    block_on(engine().run(config))
}

/// Runs and requires exit code 0, returning stdout.
pub fn run_ok(config: JailConfig) -> Result<String, Failed> {
    let result = run(config).map_err(|e| format!("jail failed: {e}"))?;
    if result.exit_code() != 0 {
        return Err(format!(
            "exit {} (timed_out {}), stdout {:?}, stderr {:?}",
            result.exit_code(),
            result.timed_out,
            result.stdout.text(),
            result.stderr.text()
        )
        .into());
    }
    Ok(result.stdout.text().into_owned())
}

pub fn check(condition: bool, message: impl Into<String>) -> Result<(), Failed> {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

/// Waits (at most ten seconds) for a jail that was killed and checks that
/// it ended by SIGKILL without counting as a timeout.
pub async fn expect_killed(handle: paddock_jail::JailHandle) -> Result<(), Failed> {
    let result = tokio::time::timeout(Duration::from_secs(10), handle.wait()).await??;
    check(!result.timed_out, "a killed jail was marked timed out")?;
    check(
        result.status == paddock_jail::ExitStatus::Signal(libc::SIGKILL),
        format!("{:?}", result.status),
    )
}

/// Freezes a jail that burns CPU, checks that its CPU time stops, thaws it,
/// checks that it runs again, and kills it.
/// Waits (up to 10 s: other tests may hold both cores) until the jail
/// used more than `more` µs of CPU after `from`; returns its use then.
async fn cpu_after(handle: &paddock_jail::JailHandle, from: u64, more: u64) -> Result<u64, Failed> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let used = handle.stats().map(|s| s.cpu_usage_usec).ok_or("no stats")?;
        if used > from + more || std::time::Instant::now() > deadline {
            return Ok(used);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn freeze_thaw_round_trip(handle: paddock_jail::JailHandle) -> Result<(), Failed> {
    let cpu = |handle: &paddock_jail::JailHandle| handle.stats().map(|s| s.cpu_usage_usec).ok_or("no stats");
    check(
        cpu_after(&handle, 0, 50_000).await? > 50_000,
        "the jail did not run before freezing",
    )?;
    handle.freeze()?;
    let frozen_at = cpu(&handle)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = cpu(&handle)?;
    check(
        still - frozen_at < 20_000,
        format!("a frozen jail used {}us of CPU", still - frozen_at),
    )?;
    handle.thaw()?;
    let resumed = cpu_after(&handle, still, 50_000).await?;
    check(
        resumed - still > 50_000,
        format!("a thawed jail used only {}us", resumed - still),
    )?;
    handle.kill()?;
    expect_killed(handle).await
}

/// A temporary directory readable by everyone (the rootless jail user and
/// the host user are the same, but root-created dirs must be traversable).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let _ = std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755));
    dir
}

/// Compiles a C program with the host's gcc into `dir`.
pub fn compile_c(dir: &Path, name: &str, source: &str) -> Result<PathBuf, Failed> {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source)?;
    let status = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .map_err(|e| format!("gcc is required for this test: {e}"))?;
    check(status.success(), "gcc failed")?;
    Ok(bin)
}

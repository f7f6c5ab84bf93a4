//! Shared helpers: the engine, a runtime per test, and small builders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::{Engine, EngineOptions, JailConfig, JailError, JailResult, Limits};

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// Starts the engine (called first thing in `main`).
pub fn init() {
    let engine = Engine::start(EngineOptions::default()).expect("engine starts");
    ENGINE.set(engine).expect("engine set once");
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
    engine()
        .info()
        .cgroups
        .controllers
        .iter()
        .all(|(_, c)| c.is_ok())
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

/// A temporary directory readable by everyone (the rootless jail user and
/// the host user are the same, but root-created dirs must be traversable).
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let _ = std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
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

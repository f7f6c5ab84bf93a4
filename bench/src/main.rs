//! paddock benchmarks, run side by side with their peers in one process
//! (the machine is shared and noisy: ratios measured together are what
//! counts). See docs/benchmarks.md for the method and the recorded figures.
//!
//!   cargo run --release -p paddock-bench -- [--quick] [--jail-only] [--egress-only] [--server-only]
//!       [--phantom-only] [--store-only] [--runtime-only] [--code-only]
//!       [--sandbox-agent PATH] [--json FILE]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod code;
mod egress;
mod http;
mod phantom;
mod runtime;
mod server;
mod store;

use anyhow::{bail, Context, Result};
use paddock_jail::{Engine, EngineOptions, JailConfig, Limits, Stdin};

/// One measured scenario.
#[derive(Debug, serde::Serialize)]
struct Row {
    scenario: String,
    subject: String,
    p50_ms: f64,
    p99_ms: f64,
    per_second: Option<f64>,
    /// Busy CPU time of the whole machine per sample, where measured.
    cpu_ms: Option<f64>,
    note: String,
}

/// Busy CPU time of the whole machine so far, all cores (`/proc/stat`).
/// Around a loop of spawns it counts what each costs in every process and
/// kernel thread involved (helpers, the pool's refill, deferred teardown),
/// not only in the measuring one.
fn machine_busy() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    // cpu user nice system idle iowait irq softirq steal: all but idle and
    // iowait are busy.
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    if fields.len() < 8 {
        bail!("unexpected /proc/stat line {line:?}");
    }
    let busy: u64 = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7];
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_micros(busy * 1_000_000 / ticks))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn summarize(scenario: &str, subject: &str, mut samples: Vec<Duration>, per_second: Option<f64>, note: &str) -> Row {
    samples.sort();
    Row {
        scenario: scenario.into(),
        subject: subject.into(),
        p50_ms: percentile(&samples, 0.5),
        p99_ms: percentile(&samples, 0.99),
        per_second,
        cpu_ms: None,
        note: note.into(),
    }
}

/// A row of spawns timed by `measure` (the samples and their rate), with
/// the machine's busy CPU time per spawn meanwhile.
fn spawn_row(
    scenario: &str,
    subject: &str,
    note: &str,
    measure: impl FnOnce() -> Result<(Vec<Duration>, f64)>,
) -> Result<Row> {
    let before = machine_busy()?;
    let (samples, rate) = measure()?;
    let busy = machine_busy()?.saturating_sub(before);
    let spawns = samples.len().max(1) as f64;
    Ok(Row {
        cpu_ms: Some(busy.as_secs_f64() * 1000.0 / spawns),
        ..summarize(scenario, subject, samples, Some(rate), note)
    })
}

/// The jail every in-process spawn uses: full isolation and cgroup limits.
fn true_jail() -> (JailConfig, &'static str) {
    let mut config = JailConfig::new("/bin/true", Vec::<String>::new());
    config.limits = Limits::default();
    (config, "")
}

/// The jail `POST /v1/runs` makes for bash `echo ready`: the code on stdin
/// and the server's default limits (`services::limits::resolve`).
fn http_run_jail() -> (JailConfig, &'static str) {
    let mut config = JailConfig::new("bash", ["-s"]);
    config.stdin = Stdin::Bytes(b"echo ready".to_vec());
    config.limits = Limits {
        memory_bytes: Some(512 << 20),
        pids: Some(256),
        timeout: Some(Duration::from_secs(300)),
        ..Limits::default()
    };
    (config, "ready\n")
}

fn bwrap_args() -> Vec<&'static str> {
    vec![
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/bin",
        "/bin",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
}

/// A minimal OCI bundle whose rootfs binds the host's /usr, for crun.
struct CrunBundle {
    dir: PathBuf,
    state: PathBuf,
}

impl CrunBundle {
    fn create(base: &Path, args: &[&str]) -> Result<Self> {
        let dir = base.join("bundle");
        let rootfs = dir.join("rootfs");
        for sub in ["usr", "proc", "dev", "tmp"] {
            std::fs::create_dir_all(rootfs.join(sub))?;
        }
        for (link, to) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")] {
            let _ = std::os::unix::fs::symlink(to, rootfs.join(link));
        }
        let config = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": { "terminal": false, "user": { "uid": 0, "gid": 0 }, "args": args,
                         "env": ["PATH=/usr/bin:/bin"], "cwd": "/", "noNewPrivileges": true,
                         "capabilities": { "bounding": [], "effective": [], "permitted": [] } },
            "root": { "path": "rootfs", "readonly": true },
            "hostname": "crun",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"] },
                { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec"] },
                { "destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"] }
            ],
            "linux": {
                "namespaces": [ {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"} ],
                "resources": { "memory": { "limit": 536870912 }, "pids": { "limit": 64 } },
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"]
            }
        });
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)?;
        let state = base.join("state");
        std::fs::create_dir_all(&state)?;
        Ok(CrunBundle { dir, state })
    }

    fn command(&self, id: &str) -> Command {
        let mut cmd = Command::new("crun");
        cmd.arg("--root")
            .arg(&self.state)
            .args(["run", "--bundle"])
            .arg(&self.dir)
            .arg(id);
        cmd
    }
}

/// Times `make()` run to completion `n` times with `concurrency` workers.
fn time_processes(
    n: usize,
    concurrency: usize,
    make: Arc<dyn Fn(usize) -> Command + Send + Sync>,
) -> Result<(Vec<Duration>, f64)> {
    let started = Instant::now();
    let per_worker = n / concurrency;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let make = make.clone();
        workers.push(std::thread::spawn(move || -> Result<Vec<Duration>> {
            let mut samples = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                samples.push(time_process(make(w * per_worker + i))?);
            }
            Ok(samples)
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.join().map_err(|_| anyhow::anyhow!("worker panicked"))??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rate))
}

/// Runs one peer process to completion and returns how long it took.
fn time_process(mut command: Command) -> Result<Duration> {
    let t = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("peer command failed: {status}");
    }
    Ok(t.elapsed())
}

/// Pause between spawns in the "apart" scenarios: callers such as agents
/// leave the machine idle between runs, which lets pre-created jails be
/// ready without competing with the run being measured.
const APART: Duration = Duration::from_millis(20);

/// `n` spawns `APART` from each other; with `marks`, each between a 5-byte
/// and a 3-byte write to it (see `mark_spawns`).
async fn time_jails_apart(engine: &Engine, n: usize, mut marks: Option<&mut std::fs::File>) -> Result<Vec<Duration>> {
    use std::io::Write;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        tokio::time::sleep(APART).await;
        if let Some(marks) = marks.as_deref_mut() {
            marks.write_all(b"start")?;
        }
        let t = Instant::now();
        let result = engine.run(true_jail().0).await?;
        if let Some(marks) = marks.as_deref_mut() {
            marks.write_all(b"end")?;
        }
        if result.exit_code() != 0 {
            bail!("jail exited {}", result.exit_code());
        }
        samples.push(t.elapsed());
    }
    Ok(samples)
}

/// Descriptor of the markers `--mark-spawns` writes (`bench/phases.py`
/// looks for writes to it).
const MARK_FD: i32 = 999;

/// `--mark-spawns N` (for `bench/phases.py --in-process`): N pool spawns of
/// `/bin/true`, 20 ms apart, each between a 5-byte and a 3-byte write to
/// /dev/null on `MARK_FD`, which a `perf trace` of this process shows as
/// its start and end.
fn mark_spawns(engine: &Engine, runtime: &tokio::runtime::Runtime, n: usize) -> Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    // SAFETY: dup2 onto a descriptor number this process does not use; the
    // new descriptor is owned by `marks` alone.
    if unsafe { libc::dup2(null.as_raw_fd(), MARK_FD) } != MARK_FD {
        bail!("dup2 to {MARK_FD}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: MARK_FD was just made and nothing else owns it.
    let mut marks = unsafe { std::fs::File::from_raw_fd(MARK_FD) };
    runtime.block_on(time_jails(engine, 20, 1))?;
    runtime.block_on(time_jails_apart(engine, n, Some(&mut marks)))?;
    Ok(())
}

fn time_processes_apart(n: usize, make: &dyn Fn() -> Command) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        std::thread::sleep(APART);
        samples.push(time_process(make())?);
    }
    Ok(samples)
}

async fn time_jails(engine: &Engine, n: usize, concurrency: usize) -> Result<(Vec<Duration>, f64)> {
    time_configs(engine, n, concurrency, true_jail).await
}

/// Runs `make()`'s jail `n` times with `concurrency` in flight; each must
/// exit 0 and print what it is expected to (nothing, for `/bin/true`).
async fn time_configs(
    engine: &Engine,
    n: usize,
    concurrency: usize,
    make: fn() -> (JailConfig, &'static str),
) -> Result<(Vec<Duration>, f64)> {
    let started = Instant::now();
    let per_worker = n / concurrency;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let engine = engine.clone();
        set.spawn(async move {
            let mut samples = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let (config, expected) = make();
                let t = Instant::now();
                let result = engine.run(config).await?;
                if result.exit_code() != 0 || result.stdout.bytes != expected.as_bytes() {
                    bail!("jail exited {} with {:?}", result.exit_code(), result.stdout.text());
                }
                samples.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(samples)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = set.join_next().await {
        all.extend(joined??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    Ok((all, rate))
}

const STDOUT_BYTES: usize = 10 << 20;

async fn paddock_stdout(engine: &Engine, rounds: usize) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let mut config = JailConfig::new("head", ["-c".to_owned(), STDOUT_BYTES.to_string(), "/dev/zero".into()]);
        config.limits.output_cap_bytes = STDOUT_BYTES + 1;
        let t = Instant::now();
        let result = engine.run(config).await?;
        if result.stdout.bytes.len() != STDOUT_BYTES {
            bail!("captured {} bytes", result.stdout.bytes.len());
        }
        samples.push(t.elapsed());
    }
    Ok(samples)
}

fn process_stdout(rounds: usize, make: &dyn Fn() -> Command) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let mut child = make()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = Vec::with_capacity(STDOUT_BYTES + 1);
        child.stdout.take().context("stdout")?.read_to_end(&mut out)?;
        child.wait()?;
        if out.len() != STDOUT_BYTES {
            bail!("peer produced {} bytes", out.len());
        }
        samples.push(t.elapsed());
    }
    Ok(samples)
}

async fn timeout_precision(engine: &Engine, rounds: usize) -> Result<Vec<Duration>> {
    let mut overshoot = Vec::new();
    let deadline = Duration::from_millis(200);
    for _ in 0..rounds {
        let mut config = JailConfig::new("/bin/sh", ["-c", "(sleep 30 &) ; sleep 30"]);
        config.limits.timeout = Some(deadline);
        let t = Instant::now();
        let result = engine.run(config).await?;
        if !result.timed_out {
            bail!("deadline not enforced");
        }
        overshoot.push(t.elapsed().saturating_sub(deadline));
    }
    Ok(overshoot)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    // `--X-only` flags pick groups (several may be given); none: all.
    let groups = ["jail", "egress", "server", "phantom", "store", "runtime", "code"];
    let picked: Vec<&str> = groups
        .iter()
        .copied()
        .filter(|g| args.iter().any(|a| *a == format!("--{g}-only")))
        .collect();
    let run = |group: &str| picked.is_empty() || picked.contains(&group);
    let sandbox_agent = args
        .iter()
        .position(|a| a == "--sandbox-agent")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let paddock_bin = args
        .iter()
        .position(|a| a == "--paddock")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "target/release/paddock".into());

    // The engine forks its zygote before any thread exists.
    let engine = Engine::start(EngineOptions::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if let Some(i) = args.iter().position(|a| a == "--mark-spawns") {
        let n = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .context("--mark-spawns takes a count")?;
        let result = mark_spawns(&engine, &runtime, n);
        engine.shutdown();
        return result;
    }
    let scale = if quick { 1 } else { 4 };
    let mut rows = Vec::new();
    let scratch = tempfile_dir()?;

    let paddock_bin: &'static str = paddock_bin.leak();
    if run("jail") {
        jail_rows(&engine, &runtime, scale, &scratch, paddock_bin, &mut rows)?;
    }
    if run("egress") {
        rows.extend(egress::rows(&runtime, scale, &scratch)?);
    }
    if run("server") {
        rows.extend(server::rows(paddock_bin, sandbox_agent.as_deref(), scale, &scratch)?);
    }
    if run("phantom") {
        rows.extend(phantom::rows(paddock_bin, scale, &scratch)?);
    }
    if run("store") {
        rows.extend(store::rows(scale, &scratch)?);
    }
    if run("runtime") {
        rows.extend(runtime::rows(paddock_bin, sandbox_agent.as_deref(), scale, &scratch)?);
    }
    if run("code") {
        rows.extend(code::rows(paddock_bin, scale, &scratch)?);
    }

    println!(
        "{:<52} {:<36} {:>9} {:>9} {:>10} {:>11}",
        "scenario", "subject", "p50 ms", "p99 ms", "per s", "CPU ms each"
    );
    for row in &rows {
        println!(
            "{:<52} {:<36} {:>9.3} {:>9.3} {:>10} {:>11}",
            row.scenario,
            row.subject,
            row.p50_ms,
            row.p99_ms,
            row.per_second.map(|r| format!("{r:.0}")).unwrap_or_default(),
            row.cpu_ms.map(|c| format!("{c:.2}")).unwrap_or_default()
        );
    }
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_vec_pretty(&rows)?)?;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    engine.shutdown();
    Ok(())
}

/// Spawning, output and deadline rows, against bubblewrap and crun.
fn jail_rows(
    engine: &Engine,
    runtime: &tokio::runtime::Runtime,
    scale: usize,
    scratch: &Path,
    paddock_bin: &'static str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    // Warm-up: page cache, cgroup directories, zygote.
    runtime.block_on(time_jails(engine, 50, 1))?;

    rows.push(spawn_row(
        "spawn /bin/true, c1",
        "paddock in-process",
        "full isolation + cgroup limits",
        || runtime.block_on(time_jails(engine, 250 * scale, 1)),
    )?);
    rows.push(spawn_row(
        "spawn /bin/true, c16",
        "paddock in-process",
        "16 in flight, 2 cores",
        || runtime.block_on(time_jails(engine, 400 * scale, 16)),
    )?);
    let samples = runtime.block_on(time_jails_apart(engine, 75 * scale, None))?;
    rows.push(summarize(
        "spawn /bin/true, c1, 20 ms apart",
        "paddock in-process",
        samples,
        None,
        "warm pool ready",
    ));
    let samples = time_processes_apart(75 * scale, &|| {
        let mut cmd = Command::new("bwrap");
        cmd.args(bwrap_args()).arg("/bin/true");
        cmd
    })?;
    rows.push(summarize(
        "spawn /bin/true, c1, 20 ms apart",
        "bubblewrap --unshare-all",
        samples,
        None,
        "",
    ));

    let bwrap: Arc<dyn Fn(usize) -> Command + Send + Sync> = Arc::new(|_| {
        let mut cmd = Command::new("bwrap");
        cmd.args(bwrap_args()).arg("/bin/true");
        cmd
    });
    let bundle = Arc::new(CrunBundle::create(scratch, &["/bin/true"])?);
    let crun: Arc<dyn Fn(usize) -> Command + Send + Sync> = {
        let bundle = bundle.clone();
        Arc::new(move |i| bundle.command(&format!("bench-{}-{i}", std::process::id())))
    };
    let cli: Arc<dyn Fn(usize) -> Command + Send + Sync> = {
        let bin = paddock_bin;
        Arc::new(move |_| {
            let mut cmd = Command::new(bin);
            cmd.args(["run", "--", "/bin/true"]);
            cmd
        })
    };
    let plain: Arc<dyn Fn(usize) -> Command + Send + Sync> = Arc::new(|_| Command::new("/bin/true"));
    // The namespaces a jail has, made by a small C program that then execs
    // the command: no mounts, /proc, cgroup, seccomp or Landlock. What any
    // sandbox with these namespaces pays at least.
    let namespaces: Arc<dyn Fn(usize) -> Command + Send + Sync> = Arc::new(|_| {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--net",
            "--ipc",
            "--uts",
        ])
        .arg("/bin/true");
        cmd
    });

    for (subject, make, note) in [
        ("paddock run (whole process)", cli, "CLI: process start + engine + jail"),
        ("bubblewrap --unshare-all", bwrap.clone(), "ro /usr, proc, dev, tmpfs"),
        ("crun run", crun.clone(), "OCI bundle binding /usr, cgroup limits"),
        (
            "unshare -Urmpfnui (namespaces only)",
            namespaces,
            "namespace floor: nothing else set up",
        ),
        ("/bin/true, no sandbox", plain, "process spawn floor"),
    ] {
        rows.push(spawn_row("spawn /bin/true, c1", subject, note, || {
            time_processes(100 * scale, 1, make.clone())
        })?);
        if subject.starts_with("bubblewrap") || subject.starts_with("crun") {
            rows.push(spawn_row(
                "spawn /bin/true, c16",
                subject,
                "16 in flight, 2 cores",
                || time_processes(160 * scale, 16, make),
            )?);
        }
    }

    let rounds = 10 * scale;
    let samples = runtime.block_on(paddock_stdout(engine, rounds))?;
    let mb_s = |samples: &Vec<Duration>| {
        let mut s = samples.clone();
        s.sort();
        STDOUT_BYTES as f64 / 1e6 / s[s.len() / 2].as_secs_f64()
    };
    let rate = mb_s(&samples);
    rows.push(summarize(
        "10 MiB stdout",
        "paddock in-process",
        samples,
        Some(rate),
        "per_second = MB/s, captured in memory",
    ));
    let samples = process_stdout(rounds, &|| {
        let mut cmd = Command::new("bwrap");
        cmd.args(bwrap_args())
            .args(["head", "-c", &STDOUT_BYTES.to_string(), "/dev/zero"]);
        cmd
    })?;
    let rate = mb_s(&samples);
    rows.push(summarize(
        "10 MiB stdout",
        "bubblewrap --unshare-all",
        samples,
        Some(rate),
        "per_second = MB/s, read by the bench",
    ));
    let samples = process_stdout(rounds, &|| {
        let mut cmd = Command::new("head");
        cmd.args(["-c", &STDOUT_BYTES.to_string(), "/dev/zero"]);
        cmd
    })?;
    let rate = mb_s(&samples);
    rows.push(summarize(
        "10 MiB stdout",
        "head, no sandbox",
        samples,
        Some(rate),
        "pipe floor: the same writer on the host",
    ));

    // The jail an HTTP run of bash `echo ready` gets (services::limits'
    // defaults), without the HTTP and the database: what bounds that row.
    rows.push(spawn_row(
        "bash `echo ready` (what an HTTP run runs), c1",
        "paddock in-process, HTTP run's jail",
        "code on stdin, default limits",
        || runtime.block_on(time_configs(engine, 150 * scale, 1, http_run_jail)),
    )?);
    rows.push(spawn_row(
        "bash `echo ready` (what an HTTP run runs), c4",
        "paddock in-process, HTTP run's jail",
        "4 in flight, 2 cores",
        || runtime.block_on(time_configs(engine, 100 * scale * 4, 4, http_run_jail)),
    )?);
    let bash: Arc<dyn Fn(usize) -> Command + Send + Sync> = Arc::new(|_| {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", "echo ready"]);
        cmd
    });
    rows.push(spawn_row(
        "bash `echo ready` (what an HTTP run runs), c1",
        "bash -c, no sandbox",
        "process spawn floor",
        || time_processes(150 * scale, 1, bash),
    )?);

    let samples = runtime.block_on(timeout_precision(engine, 5 * scale))?;
    rows.push(summarize(
        "timeout precision (return after a 200 ms deadline)",
        "paddock in-process",
        samples,
        None,
        "grandchild holds stdout",
    ));
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("paddock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

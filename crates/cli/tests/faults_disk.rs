//! Disk faults through the real `paddock serve` (issue 13): a small
//! loop-mounted ext4 file system as the state directory, filled from
//! outside and from inside a workspace; SIGTERM and a restart on it;
//! kill -9 during snapshots and restores; record retention. Each proves
//! what docs/durability.md promises: 507 for new work on a full disk and
//! no ledger row for it, the reserve file given up and taken again, the
//! deletes that free space answering 2xx and freeing it at once, startup
//! on a full disk, startup repairs, pruning. Measured figures are printed
//! as `FIGURE name=value` lines. Needs root (losetup, mount); a root run
//! without mkfs.ext4 or losetup fails instead of skipping.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

/// The watermark and reserve of the servers on the small disk.
const MIN_FREE: u64 = 16 << 20;
const RESERVE: u64 = 8 << 20;
const MIB: u64 = 1 << 20;

/// `true` when running as root; otherwise says why the test is skipped.
fn root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("SKIPPED {test}: needs root (a loop-mounted file system, kill -9 of a server); CI runs it as root");
    false
}

fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("{script}: {e}"));
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A small ext4 file system on a loop device, mounted in a temporary
/// directory; unmounted and detached on drop, panics included.
struct LoopFs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
    device: String,
}

impl LoopFs {
    fn new(mib: u64) -> LoopFs {
        for tool in ["mkfs.ext4", "losetup", "mount", "umount"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|out| out.status.success()),
                "{tool} is missing: the disk fault tests need it (root runs must not skip them)"
            );
        }
        let dir = tempdir();
        let image = dir.path().join("disk.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        // No blocks reserved for root: what statvfs calls available is
        // what a writer gets, for the server and the filler alike.
        sh(&format!(
            "truncate -s {mib}M {0} && mkfs.ext4 -q -m 0 {0}",
            image.display()
        ));
        let device = sh(&format!("losetup -f --show {}", image.display()));
        let fs = LoopFs {
            _dir: dir,
            mount,
            device,
        };
        sh(&format!("mount {} {}", fs.device, fs.mount.display()));
        std::fs::create_dir(fs.state()).unwrap();
        fs
    }

    fn state(&self) -> PathBuf {
        self.mount.join("state")
    }

    fn reserve(&self) -> PathBuf {
        self.state().join("reserve")
    }

    /// Fills the disk from outside paddock until `leave` bytes are free
    /// (0: as full as it gets), with really allocated files next to the
    /// state directory.
    fn fill(&self, leave: u64) {
        for n in 0.. {
            let free = available(&self.mount);
            if free <= leave + 64 * 1024 {
                return;
            }
            let path = self.mount.join(format!("filler-{}-{n}", std::process::id()));
            let want = (free - leave) & !4095;
            let file = std::fs::File::create(&path).unwrap();
            let mut size = want;
            loop {
                use std::os::fd::AsRawFd;
                // SAFETY: posix_fallocate on a file we own.
                let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size as libc::off_t) };
                if rc == 0 || size < 64 * 1024 {
                    break;
                }
                // ENOSPC for the extent metadata: a little less.
                size = (size - size / 8) & !4095;
            }
            if n > 64 {
                return;
            }
        }
    }

    /// Removes the filler files.
    fn unfill(&self) {
        for entry in std::fs::read_dir(&self.mount).unwrap().flatten() {
            if entry.file_name().to_string_lossy().starts_with("filler-") {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let mount = self.mount.display().to_string();
        let unmounted = Command::new("umount").arg(&mount).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it (a server being killed): detach it
            // lazily rather than leave a mount behind.
            let _ = Command::new("umount").args(["-l", &mount]).status();
        }
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
    }
}

/// Bytes available to a writer on the file system of `path`.
fn available(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: statvfs into a zeroed struct we own.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) }, 0);
    stat.f_bavail as u64 * stat.f_frsize as u64
}

/// A server on `state` with the small watermark and reserve, and `extra`.
fn start(state: &Path, extra: &[&str]) -> Server {
    let keys = keys();
    let (min, reserve) = (format!("{}m", MIN_FREE >> 20), format!("{}m", RESERVE >> 20));
    let mut args = vec![
        "--min-free-space",
        min.as_str(),
        "--reserve-space",
        reserve.as_str(),
        "--shutdown-grace",
        "2s",
    ];
    args.extend(extra);
    Server::start(state, &[("PADDOCK_API_KEYS", keys.as_str())], &args)
}

/// Waits up to `limit` for `what`; returns how long it took.
fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

fn create_workspace(server: &Server) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    ws["id"].as_str().unwrap().to_owned()
}

fn exec(server: &Server, ws: &str, script: &str) -> (u16, Value) {
    let (status, result) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(OP1_TOKEN),
        Some(json!({"cmd": "sh", "args": ["-c", script], "timeout_secs": 120})),
    );
    (status.as_u16(), result)
}

fn snapshot(server: &Server, ws: &str) -> (u16, Value) {
    let (status, snap) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/snapshot"),
        Some(OP1_TOKEN),
        Some(json!({})),
    );
    (status.as_u16(), snap)
}

fn run(server: &Server) -> (u16, Value) {
    let (status, body) = call(
        server,
        "POST",
        "/v1/runs",
        Some(OP1_TOKEN),
        Some(json!({"language": "bash", "code": "echo hi"})),
    );
    (status.as_u16(), body)
}

/// Ledger rows of the operator's tenant.
fn ledger_total(server: &Server) -> i64 {
    let (status, page) = call(server, "GET", "/v1/jails?limit=1", Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{page}");
    page["total"].as_i64().unwrap()
}

/// Asserts a 507 whose message says what to do.
fn assert_507(answer: (u16, Value), what: &str) {
    let (status, body) = answer;
    assert_eq!(status, 507, "{what}: {body}");
    assert_eq!(body["code"], "INSUFFICIENT_STORAGE", "{what}: {body}");
    let message = body["error"].as_str().or(body["message"].as_str()).unwrap_or_default();
    assert!(
        message.contains("free") && message.contains("delete"),
        "{what}: the message says what to do: {body}"
    );
}

/// Every refused kind of new work answers 507 and writes no ledger row.
fn assert_new_work_refused(server: &Server, ws: &str, snap: &str) {
    let rows = ledger_total(server);
    assert_507(run(server), "a run");
    assert_507(
        call(server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({}))).map_status(),
        "a workspace create",
    );
    assert_507(snapshot(server, ws), "a snapshot");
    assert_507(
        call(
            server,
            "POST",
            &format!("/v1/workspaces/{ws}/fork"),
            Some(OP1_TOKEN),
            Some(json!({"count": 1})),
        )
        .map_status(),
        "a fork",
    );
    assert_507(
        call(
            server,
            "POST",
            "/v1/workspaces/from-snapshot",
            Some(OP1_TOKEN),
            Some(json!({"snapshot_id": snap, "parent_workspace_id": ws})),
        )
        .map_status(),
        "a create from a snapshot",
    );
    assert_507(exec(server, ws, "echo hi"), "an exec");
    assert_eq!(ledger_total(server), rows, "no ledger row for refused work");
}

trait MapStatus {
    fn map_status(self) -> (u16, Value);
}

impl MapStatus for (reqwest::StatusCode, Value) {
    fn map_status(self) -> (u16, Value) {
        (self.0.as_u16(), self.1)
    }
}

/// A numeric field of the log line containing `marker`.
fn log_field(lines: &[String], marker: &str, field: &str) -> Option<u64> {
    let line = lines.iter().find(|l| l.contains(marker))?;
    line.split(&format!("{field}="))
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// A full disk, filled from outside: new work answers 507 and leaves no
/// ledger row; the reserve file is given up; reads work; deleting a
/// snapshot and a workspace answers 204 and frees their space at once
/// (despite the 10-minute GC grace); the reserve is taken again and new
/// work is accepted.
#[test]
fn a_disk_filled_from_outside_refuses_new_work_and_deletes_free_it() {
    if !root("a_disk_filled_from_outside_refuses_new_work_and_deletes_free_it") {
        return;
    }
    let fs = LoopFs::new(96);
    let server = start(&fs.state(), &["--maintenance-interval", "1h"]);
    let reserve = std::fs::metadata(fs.reserve()).expect("the reserve file is taken at start");
    assert!(
        reserve.blocks() * 512 >= RESERVE,
        "the reserve is really allocated, not sparse: {} blocks",
        reserve.blocks()
    );

    let ws = create_workspace(&server);
    let (status, result) = exec(&server, &ws, "head -c 10485760 /dev/urandom > /workspace/data");
    assert_eq!((status, &result["exit_code"]), (200, &json!(0)), "{result}");
    let (status, snap) = snapshot(&server, &ws);
    assert_eq!(status, 201, "{snap}");
    let snap = snap["id"].as_str().unwrap().to_owned();

    fs.fill(MIB);
    let gave_up = wait_for(Duration::from_secs(5), "the reserve file is given up", || {
        !fs.reserve().exists()
    });
    println!("FIGURE reserve_given_up_after_ms={}", gave_up.as_millis());
    assert_new_work_refused(&server, &ws, &snap);
    let (status, page) = call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None);
    assert_eq!((status.as_u16(), page["total"].as_i64()), (200, Some(1)), "reads work");
    // Readiness names the state disk; the database still takes writes.
    let (status, ready) = call(&server, "GET", "/readyz", None, None);
    assert_eq!(status, 503, "{ready}");
    assert_eq!(ready["ready"], false, "{ready}");
    assert_eq!(ready["checks"]["state_disk"]["ok"], false, "{ready}");
    assert_eq!(ready["checks"]["state_disk"]["reserve_held"], false, "{ready}");
    assert!(
        ready["checks"]["state_disk"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("--min-free-space")),
        "{ready}"
    );
    assert_eq!(ready["checks"]["database"]["ok"], true, "{ready}");

    let freed = delete_on_full_disk(&server, &fs, &format!("/v1/snapshots/{snap}"), "snapshot");
    assert!(
        freed >= 9 * MIB,
        "the snapshot's blobs are collected at once: {freed} bytes"
    );
    let freed = delete_on_full_disk(&server, &fs, &format!("/v1/workspaces/{ws}"), "workspace");
    assert!(freed >= 9 * MIB, "the tree is removed at once: {freed} bytes");

    let taken = wait_for(Duration::from_secs(5), "the reserve file is taken again", || {
        fs.reserve().exists()
    });
    println!("FIGURE reserve_taken_again_after_ms={}", taken.as_millis());
    let (status, ready) = call(&server, "GET", "/readyz", None, None);
    assert_eq!(
        (status.as_u16(), &ready["checks"]["state_disk"]["reserve_held"]),
        (200, &json!(true)),
        "{ready}"
    );
    let (status, body) = run(&server);
    assert_eq!(status, 201, "new work is accepted again: {body}");
    create_workspace(&server);
    drop(server);
    fs.unfill();
}

/// `DELETE path` as the tenant that owns everything here.
fn delete(server: &Server, path: &str) -> (reqwest::StatusCode, Value) {
    call(server, "DELETE", path, Some(OP1_TOKEN), None)
}

/// `DELETE path` on the full disk: 204, and the bytes it freed before it
/// answered (printed as a figure with the time it took).
fn delete_on_full_disk(server: &Server, fs: &LoopFs, path: &str, what: &str) -> u64 {
    let before = available(&fs.mount);
    let started = Instant::now();
    let (status, body) = delete(server, path);
    assert_eq!(status, 204, "deleting a {what} on a full disk: {body}");
    let freed = available(&fs.mount).saturating_sub(before);
    println!(
        "FIGURE {what}_delete_ms={} freed_mib={}",
        started.elapsed().as_millis(),
        freed >> 20
    );
    freed
}

/// An exec that fills the disk from inside its workspace ends with a
/// result (not an error) and a closed ledger row; the reserve is given
/// up; new work answers 507 until the workspace is deleted, which frees
/// the space at once.
#[test]
fn an_exec_that_fills_the_disk_gets_its_result_and_a_closed_row() {
    if !root("an_exec_that_fills_the_disk_gets_its_result_and_a_closed_row") {
        return;
    }
    let fs = LoopFs::new(96);
    let server = start(&fs.state(), &["--maintenance-interval", "1h"]);
    assert!(fs.reserve().exists());
    let ws = create_workspace(&server);
    let (status, snap) = snapshot(&server, &ws);
    assert_eq!(status, 201, "{snap}");
    let snap = snap["id"].as_str().unwrap().to_owned();

    let (status, result) = exec(
        &server,
        &ws,
        "dd if=/dev/zero of=/workspace/fill bs=1M 2>/dev/null; sync; exit 3",
    );
    assert_eq!(status, 200, "an exec that fills the disk answers its result: {result}");
    assert_eq!(result["exit_code"], 3, "{result}");
    let id = result["id"].as_i64().expect("the result's ledger id");
    let (status, row) = call(&server, "GET", &format!("/v1/jails/{id}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{row}");
    assert_ne!(row["status"], "running", "the ledger row is closed: {row}");
    assert!(available(&fs.mount) < MIN_FREE, "the disk is full");

    wait_for(Duration::from_secs(5), "the reserve file is given up", || {
        !fs.reserve().exists()
    });
    assert_new_work_refused(&server, &ws, &snap);

    let before = available(&fs.mount);
    let (status, body) = delete(&server, &format!("/v1/workspaces/{ws}"));
    assert_eq!(status, 204, "{body}");
    assert!(available(&fs.mount) > before + 40 * MIB, "the filled tree is gone");
    wait_for(Duration::from_secs(5), "the reserve file is taken again", || {
        fs.reserve().exists()
    });
    let (status, body) = run(&server);
    assert_eq!(status, 201, "{body}");
}

/// SIGTERM on a full disk stops the server within its grace; it starts
/// again on the full disk (giving up the reserve it finds first) and
/// serves reads and the deletes that free space.
#[test]
fn sigterm_and_a_restart_on_a_full_disk() {
    if !root("sigterm_and_a_restart_on_a_full_disk") {
        return;
    }
    let fs = LoopFs::new(96);
    let server = start(&fs.state(), &[]);
    let ws = create_workspace(&server);
    let (status, result) = exec(&server, &ws, "head -c 6291456 /dev/urandom > /workspace/data");
    assert_eq!((status, &result["exit_code"]), (200, &json!(0)), "{result}");
    let (status, snap) = snapshot(&server, &ws);
    assert_eq!(status, 201, "{snap}");
    let snap = snap["id"].as_str().unwrap().to_owned();

    // Full, the reserve given up and eaten too.
    fs.fill(0);
    wait_for(Duration::from_secs(5), "the reserve file is given up", || {
        !fs.reserve().exists()
    });
    fs.fill(0);
    assert_507(run(&server), "a run on a full disk");
    let started = Instant::now();
    let status = server.stop();
    let stopped = started.elapsed();
    println!("FIGURE sigterm_full_disk_stop_ms={}", stopped.as_millis());
    assert!(status.success(), "{status:?}");
    assert!(
        stopped < Duration::from_secs(2 + 3),
        "stopped within its grace: {stopped:?}"
    );

    // A restart with the reserve already gone and no byte free.
    let server = start(&fs.state(), &[]);
    let (status, body) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "reads after a restart on a full disk: {body}");
    server.stop();

    // A restart with the reserve held and the disk full around it: the
    // reserve is given up before the database opens.
    fs.unfill();
    let server = start(&fs.state(), &[]);
    assert!(fs.reserve().exists());
    server.stop();
    fs.fill(0);
    let server = start(&fs.state(), &[]);
    assert!(!fs.reserve().exists(), "given up at start");
    assert!(
        server
            .first_lines
            .iter()
            .any(|l| l.contains("state disk reserve") && l.contains("released=true")),
        "{:?}",
        server.first_lines
    );
    let (status, body) = call(&server, "GET", &format!("/v1/snapshots/{snap}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{body}");
    assert_507(run(&server), "a run");
    let before = available(&fs.mount);
    let (status, body) = delete(&server, &format!("/v1/snapshots/{snap}"));
    assert_eq!(status, 204, "{body}");
    let (status, body) = delete(&server, &format!("/v1/workspaces/{ws}"));
    assert_eq!(status, 204, "{body}");
    assert!(available(&fs.mount) >= before + 10 * MIB, "both freed their space");
    drop(server);
    fs.unfill();
}

/// Temporary files in the blob pool.
fn pool_temp_files(state: &Path) -> usize {
    let pool = state.join("blobs");
    let mut count = std::fs::read_dir(pool.join("tmp")).map(|d| d.count()).unwrap_or(0);
    for fan in std::fs::read_dir(&pool).unwrap().flatten() {
        if fan.file_name().len() == 2 {
            count += std::fs::read_dir(fan.path())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp."))
                .count();
        }
    }
    count
}

/// Workspace directories on disk.
fn workspace_dirs(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("workspaces"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Workspaces the API lists.
fn listed_workspaces(server: &Server) -> Vec<String> {
    let (status, page) = call(server, "GET", "/v1/workspaces?limit=1000", Some(OP1_TOKEN), None);
    assert_eq!(status, 200, "{page}");
    let mut ids: Vec<String> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Files (16 KiB each) of the tree the kill -9 test snapshots: enough for
/// a snapshot to take about a second.
const TREE_FILES: usize = 3072;

/// Sends `request` on a thread, kills the server with SIGKILL `after` it
/// was sent (`None`: right after it answered), and returns the answer if
/// one came first.
fn kill_during(
    server: &mut Server,
    after: Option<Duration>,
    request: impl FnOnce(String) -> Option<(u16, Value)> + Send + 'static,
) -> Option<(u16, Value)> {
    let url = server.url.clone();
    let thread = std::thread::spawn(move || request(url));
    match after {
        Some(after) => std::thread::sleep(after),
        None => {
            while !thread.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // SAFETY: kill on a child we own and have not reaped.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGKILL) };
    let _ = server.child.wait();
    thread.join().unwrap()
}

fn post(url: &str, path: &str, body: Value) -> Option<(u16, Value)> {
    let response = client()
        .post(format!("{url}{path}"))
        .bearer_auth(OP1_TOKEN)
        .json(&body)
        .send()
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.json().unwrap_or(Value::Null)))
}

/// kill -9 during snapshots of a large tree (at several offsets) and
/// during creates from a snapshot: after a restart, no temporary file in
/// the pool, no workspace directory without a row, every acknowledged
/// snapshot and workspace present, and the startup repair line reports
/// what it removed.
#[test]
fn kill_9_during_snapshots_and_restores_leaves_nothing_after_a_restart() {
    if !root("kill_9_during_snapshots_and_restores_leaves_nothing_after_a_restart") {
        return;
    }
    let dir = tempdir();
    let state = dir.path().join("state");
    let mut server = start(&state, &[]);
    let ws = create_workspace(&server);
    let mut acknowledged_snaps = Vec::new();
    let mut acknowledged_ws = vec![ws.clone()];
    let (mut temps_seen, mut temps_repaired, mut orphans_seen, mut orphans_repaired) = (0, 0, 0, 0);
    let mut snapshot_ms = 0;

    for (round, offset_ms) in [Some(150u64), Some(600), Some(1500), None].into_iter().enumerate() {
        // New contents each round, so each snapshot writes every blob.
        let generate = |server: &Server, tag: &str| {
            let (status, result) = exec(
                server,
                &ws,
                &format!("rm -rf /workspace/d; mkdir /workspace/d && cd /workspace/d && head -c {} /dev/urandom | split -b 16384 -a 4 - {tag}", TREE_FILES * 16384),
            );
            assert_eq!((status, &result["exit_code"]), (200, &json!(0)), "{result}");
        };
        generate(&server, &format!("f{round}"));
        if round == 0 {
            // How long one snapshot of this tree takes, unkilled.
            let started = Instant::now();
            let (status, snap) = snapshot(&server, &ws);
            assert_eq!(status, 201, "{snap}");
            snapshot_ms = started.elapsed().as_millis();
            println!("FIGURE snapshot_of_{TREE_FILES}_files_ms={snapshot_ms}");
            acknowledged_snaps.push(snap["id"].as_str().unwrap().to_owned());
            generate(&server, "g");
        }
        let path = format!("/v1/workspaces/{ws}/snapshot");
        let answer = kill_during(&mut server, offset_ms.map(Duration::from_millis), move |url| {
            post(&url, &path, json!({}))
        });
        if let Some((201, snap)) = &answer {
            acknowledged_snaps.push(snap["id"].as_str().unwrap().to_owned());
        }
        let left = pool_temp_files(&state);
        temps_seen += left;
        server = start(&state, &[]);
        let repaired = log_field(&server.first_lines, "startup repair", "temp_files").unwrap_or(0);
        println!(
            "FIGURE kill_snapshot_offset_ms={offset_ms:?} answered={} temp_files_left={left} repaired={repaired}",
            answer.is_some()
        );
        temps_repaired += repaired as usize;
        assert_eq!(pool_temp_files(&state), 0, "no temporary file after the restart");
        assert_eq!(
            repaired as usize, left,
            "the repair line counts them: {:?}",
            server.first_lines
        );
    }

    let snap = acknowledged_snaps[0].clone();
    for offset_ms in [Some(100u64), Some(300), None] {
        let body = json!({"snapshot_id": snap, "parent_workspace_id": ws});
        let answer = kill_during(&mut server, offset_ms.map(Duration::from_millis), move |url| {
            post(&url, "/v1/workspaces/from-snapshot", body)
        });
        if let Some((201, created)) = &answer {
            acknowledged_ws.push(created["id"].as_str().unwrap().to_owned());
        }
        let dirs = workspace_dirs(&state);
        server = start(&state, &[]);
        let listed = listed_workspaces(&server);
        // A directory whose row committed is kept even when the kill came
        // before the answer (stored but not acknowledged is allowed); the
        // others are leftovers the repair must remove.
        let orphans = dirs.iter().filter(|d| !listed.contains(d)).count();
        orphans_seen += orphans;
        let repaired = log_field(&server.first_lines, "startup repair", "orphan_dirs").unwrap_or(0);
        println!(
            "FIGURE kill_restore_offset_ms={offset_ms:?} answered={} orphan_dirs_left={orphans} repaired={repaired}",
            answer.is_some()
        );
        orphans_repaired += repaired as usize;
        assert_eq!(repaired as usize, orphans, "{:?}", server.first_lines);
        assert_eq!(
            workspace_dirs(&state),
            listed,
            "no directory without a row, no row without a directory"
        );
        for id in &acknowledged_ws {
            assert!(listed.contains(id), "acknowledged workspace {id} is present");
        }
    }
    for id in &acknowledged_snaps {
        let (status, body) = call(&server, "GET", &format!("/v1/snapshots/{id}"), Some(OP1_TOKEN), None);
        assert_eq!(status, 200, "acknowledged snapshot {id} is present: {body}");
    }
    println!(
        "FIGURE kill9_temp_files_seen={temps_seen} repaired={temps_repaired} orphan_dirs_seen={orphans_seen} repaired={orphans_repaired}"
    );
    // The kills must have hit work in progress, or this proves nothing.
    assert!(
        temps_seen > 0,
        "no kill hit a snapshot in progress (one takes {snapshot_ms} ms)"
    );
    assert!(orphans_seen > 0, "no kill hit a restore in progress");
    // And some work was acknowledged before a kill, or "present after a
    // restart" proves nothing.
    assert!(
        acknowledged_snaps.len() > 1,
        "no killed snapshot was acknowledged first"
    );
    assert!(acknowledged_ws.len() > 1, "no killed restore was acknowledged first");

    // A tree lost outside paddock comes back from the workspace's newest
    // snapshot, one with no snapshot comes back empty; a workspace whose
    // whole directory is missing (another server's, when servers share a
    // database) is only counted; a stray directory of an interrupted
    // creation (its marker inside) goes.
    let restored = acknowledged_ws.last().unwrap().clone();
    let empty = create_workspace(&server);
    let elsewhere = create_workspace(&server);
    server.stop();
    std::fs::remove_dir_all(state.join("workspaces").join(&ws).join("tree")).unwrap();
    std::fs::remove_dir_all(state.join("workspaces").join(&empty).join("tree")).unwrap();
    std::fs::remove_dir_all(state.join("workspaces").join(&elsewhere)).unwrap();
    std::fs::create_dir_all(state.join("workspaces/wrk_stray/tree")).unwrap();
    std::fs::write(state.join("workspaces/wrk_stray/.creating"), "").unwrap();
    // What a run fork killed mid-copy leaves.
    std::fs::create_dir_all(state.join("tmp/fork_stray/out")).unwrap();
    let server = start(&state, &[]);
    let lines = &server.first_lines;
    assert_eq!(log_field(lines, "startup repair", "restored"), Some(1), "{lines:?}");
    assert_eq!(
        log_field(lines, "startup repair", "recreated_empty"),
        Some(1),
        "{lines:?}"
    );
    assert_eq!(log_field(lines, "startup repair", "orphan_dirs"), Some(1), "{lines:?}");
    assert_eq!(log_field(lines, "startup repair", "lost_found"), Some(0), "{lines:?}");
    assert_eq!(log_field(lines, "startup repair", "missing_dirs"), Some(1), "{lines:?}");
    assert_eq!(log_field(lines, "startup repair", "scratch_dirs"), Some(1), "{lines:?}");
    assert!(!state.join("tmp/fork_stray").exists());
    assert!(!state.join("workspaces/wrk_stray").exists());
    assert!(
        !state.join("workspaces").join(&elsewhere).exists(),
        "nothing is created for a workspace whose whole directory is missing"
    );
    let (status, result) = exec(&server, &ws, "ls /workspace/d | wc -l");
    assert_eq!(status, 200, "{result}");
    assert_eq!(
        result["stdout"].as_str().unwrap().trim(),
        TREE_FILES.to_string(),
        "{result}"
    );
    let (status, result) = exec(&server, &empty, "ls -A /workspace | wc -l");
    assert_eq!((status, result["stdout"].as_str()), (200, Some("0\n")), "{result}");
    let mut here = listed_workspaces(&server);
    here.retain(|id| *id != elsewhere);
    assert_eq!(workspace_dirs(&state), here);
    assert!(listed_workspaces(&server).contains(&restored));
    assert!(!state.join("lost+found").exists(), "nothing went to lost+found");
}

/// The database replaced under a state directory (here: deleted, so the
/// server starts with a new, empty one; the same as the wrong
/// `--database-url`, an empty PostgreSQL database or an old backup): the
/// startup repair finds workspace directories without a row and moves
/// them to `lost+found`, deleting nothing of an acknowledged workspace. A
/// directory of an interrupted creation (its marker inside) and an empty
/// one are removed.
#[test]
fn a_replaced_database_moves_workspace_trees_to_lost_and_found() {
    let dir = tempdir();
    let state = dir.path().join("state");
    let server = start(&state, &[]);
    let (a, b) = (create_workspace(&server), create_workspace(&server));
    for id in [&a, &b] {
        let tree = state.join("workspaces").join(id).join("tree");
        std::fs::write(tree.join("precious.txt"), format!("work of {id}")).unwrap();
        assert!(
            !state.join("workspaces").join(id).join(".creating").exists(),
            "the creation marker goes once the row is committed"
        );
    }
    server.stop();
    for entry in std::fs::read_dir(&state).unwrap().flatten() {
        if entry.file_name().to_string_lossy().starts_with("paddock.db") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    // A lost+found entry of the same name already there: a suffix.
    std::fs::create_dir_all(state.join("lost+found").join(&b)).unwrap();
    std::fs::create_dir_all(state.join("workspaces/wrk_interrupted/tree/x")).unwrap();
    std::fs::write(state.join("workspaces/wrk_interrupted/.creating"), "").unwrap();
    std::fs::create_dir_all(state.join("workspaces/wrk_empty")).unwrap();

    // A plain start refuses: this database never recorded those trees.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(["serve", "--listen", "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0"])
        .args(["--min-free-space", "16m", "--reserve-space", "8m", "--state-dir"])
        .arg(&state)
        .env("PADDOCK_API_KEYS", keys())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to start: the database has no workspace or snapshot, but the state directory holds 2 workspace directories")
            && stderr.contains("--allow-new-database"),
        "{stderr}"
    );
    for id in [&a, &b] {
        assert!(
            state.join("workspaces").join(id).join("tree/precious.txt").exists(),
            "a refused start moved {id}"
        );
    }

    let server = start(&state, &["--allow-new-database"]);
    let lines = &server.first_lines;
    assert_eq!(log_field(lines, "startup repair", "lost_found"), Some(2), "{lines:?}");
    assert_eq!(log_field(lines, "startup repair", "orphan_dirs"), Some(2), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("moved to lost+found: was the database replaced?")),
        "logged as an error: {lines:?}"
    );
    assert_eq!(workspace_dirs(&state), Vec::<String>::new(), "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(state.join("lost+found").join(&a).join("tree/precious.txt")).unwrap(),
        format!("work of {a}")
    );
    let moved_b: Vec<PathBuf> = std::fs::read_dir(state.join("lost+found"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("tree/precious.txt").exists() && *p != state.join("lost+found").join(&a))
        .collect();
    assert_eq!(moved_b.len(), 1, "{moved_b:?}");
    assert!(moved_b[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with(&format!("{b}.")));
    assert_eq!(
        std::fs::read_to_string(moved_b[0].join("tree/precious.txt")).unwrap(),
        format!("work of {b}")
    );
    assert!(listed_workspaces(&server).is_empty());
    // A second start moves nothing more and removes nothing.
    server.stop();
    let server = start(&state, &[]);
    assert!(
        server
            .first_lines
            .iter()
            .any(|l| l.contains("startup repair: nothing to repair")),
        "{:?}",
        server.first_lines
    );
    assert!(state.join("lost+found").join(&a).join("tree/precious.txt").exists());
}

/// Ledger and audit rows older than `--record-retention` are deleted by a
/// maintenance round; newer ones are kept. SQLite.
#[test]
fn maintenance_prunes_ledger_and_audit_rows_past_their_retention() {
    let dir = tempdir();
    prunes_old_rows(dir.path(), &[]);
}

/// The same on PostgreSQL (the queries are written once for both).
#[test]
fn maintenance_prunes_ledger_and_audit_rows_on_postgres() {
    let db = PgDatabase::create("retention");
    let dir = tempdir();
    prunes_old_rows(dir.path(), &[("DATABASE_URL", db.url.as_str())]);
}

fn prunes_old_rows(state: &Path, env: &[(&str, &str)]) {
    let keys = keys();
    let mut all_env = vec![("PADDOCK_API_KEYS", keys.as_str())];
    all_env.extend(env);
    let server = Server::start(
        state,
        &all_env,
        &["--maintenance-interval", "300ms", "--record-retention", "10s"],
    );
    let audit_total = |server: &Server| {
        let (status, page) = call(server, "GET", "/v1/audit/actions?limit=1", Some(OP1_TOKEN), None);
        assert_eq!(status, 200, "{page}");
        page["total"].as_i64().unwrap()
    };
    for _ in 0..3 {
        assert_eq!(run(&server).0, 201);
    }
    create_workspace(&server);
    assert_eq!(ledger_total(&server), 3);
    assert!(audit_total(&server) >= 1);
    std::thread::sleep(Duration::from_millis(10_200));
    // Recent rows, younger than the retention (by 10 s, so a slow
    // machine cannot age them out before the checks below).
    assert_eq!(run(&server).0, 201);
    create_workspace(&server);
    // Ledger and audit rows are pruned by the same round, but a check may
    // fall between their statements: wait for both.
    let pruned = wait_for(Duration::from_secs(5), "old ledger and audit rows pruned", || {
        ledger_total(&server) == 1 && audit_total(&server) == 1
    });
    println!("FIGURE retention_pruned_within_ms={}", pruned.as_millis());
    // And the recent ones stay until they are old.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(ledger_total(&server), 1);
}

/// Without a reserve file (`--reserve-space 0`) and with no byte free,
/// deleting a workspace and a snapshot still answers 204 and frees their
/// space: when the database cannot even record the delete, the tree is
/// emptied first to make room for the record.
#[test]
fn deletes_answer_204_on_a_disk_with_no_byte_free_and_no_reserve() {
    if !root("deletes_answer_204_on_a_disk_with_no_byte_free_and_no_reserve") {
        return;
    }
    let fs = LoopFs::new(96);
    let keys = keys();
    let server = Server::start(
        &fs.state(),
        &[("PADDOCK_API_KEYS", keys.as_str())],
        &["--min-free-space", "16m", "--reserve-space", "0"],
    );
    assert!(!fs.reserve().exists());
    let ws = create_workspace(&server);
    let (status, result) = exec(&server, &ws, "head -c 6291456 /dev/urandom > /workspace/data");
    assert_eq!((status, &result["exit_code"]), (200, &json!(0)), "{result}");
    let (status, snap) = snapshot(&server, &ws);
    assert_eq!(status, 201, "{snap}");
    let snap = snap["id"].as_str().unwrap().to_owned();
    let other = create_workspace(&server);
    fs.fill(0);
    println!("FIGURE no_reserve_free_bytes={}", available(&fs.mount));
    // The database itself is full: renames (never refused by the
    // watermark) write until one answers 507 from the database (its WAL
    // may have room for a while).
    let started = Instant::now();
    let mut renames = 0;
    loop {
        let (status, body) = call(
            &server,
            "PATCH",
            &format!("/v1/workspaces/{other}"),
            Some(OP1_TOKEN),
            Some(json!({"label": format!("{renames:0>190}")})),
        );
        if status == 507 {
            assert_eq!(body["code"], "INSUFFICIENT_STORAGE", "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        renames += 1;
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the database never ran out of room ({renames} renames)"
        );
    }
    println!("FIGURE renames_until_the_database_is_full={renames}");
    while server.log.try_recv().is_ok() {}
    let before = available(&fs.mount);
    let (status, body) = delete(&server, &format!("/v1/workspaces/{ws}"));
    assert_eq!(status, 204, "{body}");
    assert!(available(&fs.mount) >= before + 5 * MIB, "the tree is gone");
    let logged: Vec<String> = std::iter::from_fn(|| server.log.recv_timeout(Duration::from_millis(500)).ok()).collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("too full to record a delete: emptying the tree first")),
        "the delete went through the fallback: {logged:?}"
    );
    let (status, body) = call(&server, "GET", &format!("/v1/workspaces/{ws}"), Some(OP1_TOKEN), None);
    assert_eq!(status, 404, "the delete is recorded: {body}");
    fs.fill(0);
    let before = available(&fs.mount);
    let (status, body) = delete(&server, &format!("/v1/snapshots/{snap}"));
    assert_eq!(status, 204, "{body}");
    assert!(available(&fs.mount) >= before + 5 * MIB, "the blobs are gone");
    let (status, body) = delete(&server, &format!("/v1/workspaces/{other}"));
    assert_eq!(status, 204, "an empty workspace, on a full disk: {body}");
    drop(server);
    fs.unfill();
}

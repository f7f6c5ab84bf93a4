//! Fault injection through the real `paddock serve` (issue 13): SQLite
//! files made unwritable (`chattr +i` on ext4) and deleted while the
//! server runs, a private PostgreSQL cluster stopped and restarted under
//! traffic, SIGTERM with jails and streams open, and client errors. Each
//! proves: no 2xx for anything not stored, every acknowledged row present
//! after a restart, no workspace directory without a row, recovery
//! without a restart, readiness reporting the fault, exactly one final
//! event. Measured figures are printed as `FIGURE name=value` lines.
//! Needs root (chattr, a PostgreSQL cluster run as `postgres`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::pg_cluster::PgCluster;
use support::*;

/// `--db-timeout` of these tests' servers.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// How much later than the database timeout a failure may answer.
const SLACK: Duration = Duration::from_millis(1500);

/// One HTTP answer, timed.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    /// Length of the raw body.
    len: usize,
    retry_after: Option<String>,
    run_id: Option<i64>,
    elapsed: Duration,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// A request with its own deadline; a transport failure (refused,
/// reset, timed out) is `Err` with the time it took.
fn send(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    timeout: Duration,
) -> Result<Answer, (String, Duration)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let started = Instant::now();
    let response = request.send().map_err(|e| (e.to_string(), started.elapsed()))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let run_id = header("x-paddock-run-id").and_then(|v| v.parse().ok());
    let text = response.text().map_err(|e| (e.to_string(), started.elapsed()))?;
    Ok(Answer {
        status,
        len: text.len(),
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry_after,
        run_id,
        elapsed: started.elapsed(),
    })
}

/// The writes a fault must refuse, each storing one kind of row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    Run,
    Stream,
    Workspace,
    Session,
    Key,
}

const WRITES: [Write; 5] = [Write::Run, Write::Stream, Write::Workspace, Write::Session, Write::Key];

/// What a 2xx acknowledged: the kind and the row's id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    kind: Write,
    id: String,
}

fn write(base: &str, kind: Write, n: usize) -> Result<Answer, (String, Duration)> {
    let timeout = Duration::from_secs(20);
    match kind {
        Write::Run => send(
            base,
            "POST",
            "/v1/runs",
            Some(OP1_TOKEN),
            Some(&json!({"code": "true", "language": "bash", "timeout_secs": 30})),
            timeout,
        ),
        Write::Stream => send(
            base,
            "POST",
            "/v1/runs/stream",
            Some(OP1_TOKEN),
            Some(&json!({"code": "true", "language": "bash", "timeout_secs": 30})),
            timeout,
        ),
        Write::Workspace => send(
            base,
            "POST",
            "/v1/workspaces",
            Some(OP1_TOKEN),
            Some(&json!({"label": format!("fault-{n}")})),
            timeout,
        ),
        Write::Session => send(
            base,
            "POST",
            "/v1/sessions",
            Some(OP1_TOKEN),
            Some(&json!({"services": ["openai"]})),
            timeout,
        ),
        Write::Key => send(
            base,
            "POST",
            "/v1/keys",
            Some(ADMIN_TOKEN),
            Some(&json!({"tenant": "t1", "role": "operator", "label": format!("fault-{n}")})),
            timeout,
        ),
    }
}

/// The row a 2xx answer acknowledged.
fn acked(kind: Write, answer: &Answer) -> Option<Acked> {
    if !answer.ok() {
        return None;
    }
    let id = match kind {
        Write::Run | Write::Stream => answer
            .body
            .get("id")
            .and_then(Value::as_i64)
            .or(answer.run_id)
            .map(|id| id.to_string()),
        _ => answer.body["id"].as_str().map(str::to_owned),
    };
    Some(Acked {
        kind,
        id: id.unwrap_or_else(|| panic!("{kind:?} acknowledged without an id: {answer:?}")),
    })
}

/// Asserts that a write refused under a database fault answered the
/// contract: 503 `DATABASE_UNAVAILABLE`, `Retry-After`, within the
/// database timeout plus a little.
fn assert_db_unavailable(what: &str, answer: &Result<Answer, (String, Duration)>) {
    let answer = match answer {
        Ok(answer) => answer,
        Err((error, took)) => panic!("{what}: no answer after {took:?} (a hang or a dropped connection): {error}"),
    };
    assert!(
        !answer.ok(),
        "{what}: acknowledged ({}) while the database was down: {answer:?}",
        answer.status
    );
    assert_eq!(
        (answer.status, answer.code()),
        (503, "DATABASE_UNAVAILABLE"),
        "{what}: {answer:?}"
    );
    assert!(
        answer.retry_after.is_some(),
        "{what}: a 503 without Retry-After: {answer:?}"
    );
    assert!(
        answer.elapsed <= DB_TIMEOUT + SLACK,
        "{what}: failed after {:?}, not fast: {answer:?}",
        answer.elapsed
    );
}

fn readyz(base: &str) -> Answer {
    send(base, "GET", "/readyz", None, None, Duration::from_secs(15))
        .unwrap_or_else(|(e, took)| panic!("/readyz did not answer ({took:?}): {e}"))
}

/// Polls `/readyz` until it answers `status`; the time it took.
fn wait_ready_status(base: &str, status: u16, within: Duration) -> (Duration, Answer) {
    let started = Instant::now();
    loop {
        let answer = readyz(base);
        if answer.status == status {
            return (started.elapsed(), answer);
        }
        assert!(
            started.elapsed() < within,
            "/readyz still answers {} after {within:?} (want {status}): {}",
            answer.status,
            answer.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A not-ready answer names the failing database check.
fn assert_database_not_ready(answer: &Answer) {
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["ready"], false, "{}", answer.body);
    let check = &answer.body["checks"]["database"];
    assert_eq!(check["ok"], false, "{}", answer.body);
    assert!(
        check["error"].as_str().is_some_and(|e| !e.is_empty()),
        "no reason for the failing check: {}",
        answer.body
    );
}

fn assert_ready(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["ready"], true, "{}", answer.body);
    for check in ["database", "state_disk", "jail_engine"] {
        assert_eq!(answer.body["checks"][check]["ok"], true, "{check}: {}", answer.body);
    }
    assert!(
        answer.body["checks"]["database"]["latency_ms"].is_u64(),
        "{}",
        answer.body
    );
    for field in ["free_bytes", "total_bytes", "min_free_bytes"] {
        assert!(
            answer.body["checks"]["state_disk"][field].is_u64(),
            "{field}: {}",
            answer.body
        );
    }
}

fn assert_alive(server: &mut Server) {
    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "the server died: {:?}",
        server.child.try_wait()
    );
    let health = send(&server.url, "GET", "/healthz", None, None, Duration::from_secs(5)).expect("/healthz");
    assert_eq!((health.status, &health.body), (200, &json!("ok")), "liveness");
}

fn start_sqlite(dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--db-timeout", "2s"];
    args.extend(extra);
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &args)
}

fn start_env(dir: &Path, env: &[(&str, String)], extra: &[&str]) -> Server {
    let mut all: Vec<(&str, &str)> = vec![];
    let keys = keys();
    all.push(("PADDOCK_API_KEYS", &keys));
    all.extend(env.iter().map(|(k, v)| (*k, v.as_str())));
    let mut args = vec!["--db-timeout", "2s"];
    args.extend(extra);
    Server::start(dir, &all, &args)
}

fn put_credential(server: &Server) {
    let (status, body) = call(
        server,
        "POST",
        "/v1/credentials",
        Some(OP1_TOKEN),
        Some(json!({"service": "openai", "secret": "sk-fault"})),
    );
    assert_eq!(status, 200, "{body}");
}

/// Every acknowledged row is there (through the API of `server`).
fn assert_all_present(server: &Server, rows: &[Acked]) {
    let (_, keys) = call(server, "GET", "/v1/keys", Some(ADMIN_TOKEN), None);
    let mut missing = Vec::new();
    for row in rows {
        let found = match row.kind {
            Write::Run | Write::Stream => {
                let (status, got) = call(server, "GET", &format!("/v1/jails/{}", row.id), Some(OP1_TOKEN), None);
                status == 200 && got["status"] != "running"
            }
            Write::Workspace => {
                call(
                    server,
                    "GET",
                    &format!("/v1/workspaces/{}", row.id),
                    Some(OP1_TOKEN),
                    None,
                )
                .0 == 200
            }
            Write::Session => {
                call(
                    server,
                    "GET",
                    &format!("/v1/sessions/{}", row.id),
                    Some(OP1_TOKEN),
                    None,
                )
                .0 == 200
            }
            Write::Key => keys
                .as_array()
                .is_some_and(|list| list.iter().any(|k| k["id"].as_str() == Some(&row.id))),
        };
        if !found {
            missing.push(row.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged rows are missing after the restart: {missing:?}",
        missing.len(),
        rows.len()
    );
}

/// Every directory under `<state>/workspaces` belongs to a workspace the
/// API knows.
fn assert_no_orphan_workspace_dirs(server: &Server, state: &Path) {
    let root = state.join("workspaces");
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(&root).expect("workspaces dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (status, _) = call(server, "GET", &format!("/v1/workspaces/{name}"), Some(OP1_TOKEN), None);
        if status != 200 {
            orphans.push(name);
        }
    }
    assert!(orphans.is_empty(), "workspace directories without a row: {orphans:?}");
}

fn workspace_dirs(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("workspaces"))
        .map(|dir| {
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The SQLite files of a state directory that exist now.
fn sqlite_files(state: &Path) -> Vec<PathBuf> {
    ["paddock.db", "paddock.db-wal", "paddock.db-shm", "paddock.db-journal"]
        .iter()
        .map(|name| state.join(name))
        .filter(|path| path.exists())
        .collect()
}

/// Files made immutable (`chattr +i`) until dropped, whatever happens.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(paths: Vec<PathBuf>) -> Immutable {
        let guard = Immutable(paths);
        for path in &guard.0 {
            let out = Command::new("chattr").arg("+i").arg(path).output().expect("chattr");
            assert!(
                out.status.success(),
                "chattr +i {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        guard
    }

    fn clear(&self) {
        for path in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(path).output();
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        self.clear();
    }
}

fn fs_type(path: &Path) -> String {
    let out = Command::new("findmnt")
        .args(["-n", "-o", "FSTYPE", "-T"])
        .arg(path)
        .output()
        .expect("findmnt");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A workspace exec that would leave a file in the workspace's tree if
/// its jail ran: refused under a database fault, it must not have run
/// (no jail without its ledger row).
fn assert_exec_refused_and_not_run(server: &Server, state: &Path, ws: &str, what: &str) {
    let marker = format!("ran-{}", what.replace(' ', "-"));
    let answer = send(
        &server.url,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(OP1_TOKEN),
        Some(&json!({"cmd": "sh", "args": ["-c", format!("echo x > /workspace/{marker}")]})),
        Duration::from_secs(20),
    );
    assert_db_unavailable(&format!("a workspace exec {what}"), &answer);
    let file = state.join("workspaces").join(ws).join("tree").join(&marker);
    assert!(!file.exists(), "a refused exec ran its jail: {} exists", file.display());
}

/// No ledger row stays `running` once the database is back.
fn assert_no_running_rows(server: &Server, within: Duration) {
    let started = Instant::now();
    loop {
        let (_, page) = call(server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None);
        if page["total"] == 0 {
            return;
        }
        assert!(
            started.elapsed() < within,
            "rows still running {within:?} after the database came back: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates one of each kind of row; all must be acknowledged.
fn baseline(server: &Server, acked_rows: &mut Vec<Acked>) {
    for (n, kind) in [
        Write::Workspace,
        Write::Workspace,
        Write::Session,
        Write::Run,
        Write::Stream,
        Write::Key,
    ]
    .into_iter()
    .enumerate()
    {
        let answer = write(&server.url, kind, n).unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
        assert!(answer.ok(), "{kind:?} before the fault: {answer:?}");
        acked_rows.push(acked(kind, &answer).unwrap());
    }
}

/// Issue 13, findings 1 and 8: the SQLite files made unwritable on ext4
/// while the server runs. No write is acknowledged (503
/// DATABASE_UNAVAILABLE, fast), readiness fails on the database, the
/// process survives (no SIGBUS from a shared-memory map), writes come
/// back without a restart once the files are writable, and after a
/// restart every acknowledged row is there and no workspace directory
/// lacks its row.
#[test]
fn unwritable_sqlite_files_refuse_writes_and_recover_without_restart() {
    let dir = tempdir();
    assert_eq!(fs_type(dir.path()), "ext4", "chattr +i needs the state dir on ext4");
    let mut server = start_sqlite(dir.path(), &[]);
    assert_ready(&readyz(&server.url));
    put_credential(&server);
    let mut acked_rows = Vec::new();
    baseline(&server, &mut acked_rows);

    let files = sqlite_files(dir.path());
    println!("sqlite files under fault: {files:?}");
    assert!(
        !dir.path().join("paddock.db-shm").exists(),
        "paddock.db-shm exists: SQLite maps shared memory (a SIGBUS when the file turns unwritable)"
    );
    let ws = acked_rows[0].id.clone();
    // A run in flight when the fault begins: it ends while nothing can
    // be written; its row must not stay `running` once the fault clears.
    let in_flight = {
        let base = server.url.clone();
        std::thread::spawn(move || {
            send(
                &base,
                "POST",
                "/v1/runs",
                Some(OP1_TOKEN),
                Some(&json!({"code": "sleep 0.5", "language": "bash"})),
                Duration::from_secs(20),
            )
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None).1["total"] != 1 {
        assert!(Instant::now() < deadline, "the in-flight run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dirs_before = workspace_dirs(dir.path());
    let immutable = Immutable::set(files);
    let fault_began = Instant::now();

    // Every write is refused, quickly, and says why. Three rounds: a
    // write whose transaction failed must not leave the connection inside
    // an open transaction that later writes join (acknowledged, visible,
    // and rolled back at the next start).
    assert_exec_refused_and_not_run(&server, dir.path(), &ws, "on unwritable SQLite files");
    let mut refused = Vec::new();
    for round in 0..3 {
        for kind in WRITES {
            let answer = write(&server.url, kind, 100 + round);
            if let Ok(a) = &answer {
                if let Some(row) = acked(kind, a) {
                    acked_rows.push(row);
                }
            }
            match &answer {
                Ok(a) => println!(
                    "under the fault: {kind:?} answers {} {} in {:?}",
                    a.status,
                    a.code(),
                    a.elapsed
                ),
                Err(e) => println!("under the fault: {kind:?} fails: {e:?}"),
            }
            refused.push((kind, answer));
        }
    }
    assert_alive(&mut server);
    for (kind, answer) in &refused {
        assert_db_unavailable(&format!("{kind:?} on unwritable SQLite files"), answer);
    }
    let fail_fast = refused
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().map(|a| a.elapsed))
        .max()
        .unwrap();
    println!("FIGURE sqlite_unwritable_fail_fast_ms={}", fail_fast.as_millis());
    assert_eq!(
        workspace_dirs(dir.path()),
        dirs_before,
        "a refused workspace create left a directory"
    );

    let (detect, not_ready) = wait_ready_status(&server.url, 503, Duration::from_secs(5));
    println!("FIGURE sqlite_unwritable_readyz_ms={}", detect.as_millis());
    assert_database_not_ready(&not_ready);
    let read = call(&server, "GET", "/v1/workspaces", Some(OP1_TOKEN), None).0;
    println!("a read under the fault answers {read}");

    // Writable again (after 2 s, so the run in flight ended under the
    // fault): writes succeed without a restart.
    std::thread::sleep(Duration::from_secs(2).saturating_sub(fault_began.elapsed()));
    immutable.clear();
    let cleared = Instant::now();
    let mut n = 200;
    loop {
        let answer = write(&server.url, Write::Workspace, n).expect("workspace create");
        n += 1;
        if let Some(row) = acked(Write::Workspace, &answer) {
            acked_rows.push(row);
            break;
        }
        assert!(
            cleared.elapsed() < Duration::from_secs(20),
            "writes still fail {:?} after the files became writable: {answer:?}",
            cleared.elapsed()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let recovered = cleared.elapsed();
    println!("FIGURE sqlite_unwritable_recover_ms={}", recovered.as_millis());
    for kind in WRITES {
        let answer = write(&server.url, kind, 300).expect("write after recovery");
        assert!(answer.ok(), "{kind:?} after recovery: {answer:?}");
        acked_rows.push(acked(kind, &answer).unwrap());
    }
    let (_, ready) = wait_ready_status(&server.url, 200, Duration::from_secs(10));
    assert_ready(&ready);
    assert_alive(&mut server);
    // Its row exists whatever it answered (written before the fault).
    let mut unacked_runs = 0;
    match in_flight.join().unwrap() {
        Ok(answer) => {
            println!(
                "the run in flight at the fault answered {} {}",
                answer.status,
                answer.code()
            );
            match acked(Write::Run, &answer) {
                Some(row) => acked_rows.push(row),
                None => unacked_runs += 1,
            }
        }
        Err(e) => panic!("the run in flight at the fault got no answer: {e:?}"),
    }
    assert_no_running_rows(&server, Duration::from_secs(15));
    let (_, page) = call(&server, "GET", "/v1/jails?limit=100", Some(OP1_TOKEN), None);
    for row in page["rows"].as_array().unwrap() {
        if row["config"]["code_bytes"] == 9 {
            println!(
                "the in-flight run's row: status {} error {}",
                row["status"], row["error"]
            );
        }
    }

    // A restart finds every acknowledged row and no orphan directory.
    assert!(server.stop().success());
    let server = start_sqlite(dir.path(), &[]);
    assert_all_present(&server, &acked_rows);
    assert_no_orphan_workspace_dirs(&server, dir.path());
    let runs = acked_rows
        .iter()
        .filter(|r| matches!(r.kind, Write::Run | Write::Stream))
        .count();
    let (_, page) = call(&server, "GET", "/v1/jails?limit=100", Some(OP1_TOKEN), None);
    assert_eq!(
        page["total"].as_u64(),
        Some((runs + unacked_runs) as u64),
        "ledger rows for refused runs: {page}"
    );
    drop(immutable);
}

/// Issue 13, finding 9: the database file deleted while the server runs.
/// Readiness turns not-ready within seconds and writes are refused
/// instead of going to an unlinked file (lost at the next start).
#[test]
fn a_deleted_sqlite_file_is_noticed_and_writes_are_refused() {
    let dir = tempdir();
    let mut server = start_sqlite(dir.path(), &[]);
    put_credential(&server);
    let mut acked_rows = Vec::new();
    baseline(&server, &mut acked_rows);
    let dirs_before = workspace_dirs(dir.path());
    for file in sqlite_files(dir.path()) {
        std::fs::remove_file(&file).unwrap();
    }
    let (detect, not_ready) = wait_ready_status(&server.url, 503, Duration::from_secs(3));
    println!("FIGURE sqlite_deleted_readyz_ms={}", detect.as_millis());
    assert_database_not_ready(&not_ready);
    assert_exec_refused_and_not_run(&server, dir.path(), &acked_rows[0].id, "after paddock.db was deleted");
    let mut lost = Vec::new();
    for kind in WRITES {
        let answer = write(&server.url, kind, 100);
        if let Ok(a) = &answer {
            if let Some(row) = acked(kind, a) {
                lost.push(row);
            }
        }
        assert_db_unavailable(&format!("{kind:?} after paddock.db was deleted"), &answer);
    }
    assert!(lost.is_empty(), "acknowledged into a deleted file: {lost:?}");
    assert_eq!(
        workspace_dirs(dir.path()),
        dirs_before,
        "a refused workspace create left a directory"
    );
    assert_alive(&mut server);
    // Still not ready a while later: a deleted file is not silently
    // replaced by a new empty database.
    std::thread::sleep(Duration::from_secs(1));
    assert_database_not_ready(&readyz(&server.url));
    let answer = write(&server.url, Write::Workspace, 101);
    assert_db_unavailable("a workspace create a second later", &answer);
}

/// One request of the traffic in [`postgres_stopped_and_restarted_under_traffic`].
#[derive(Debug, Clone)]
struct Sent {
    kind: Write,
    /// The request's number (a workspace's label is `fault-{n}`).
    n: usize,
    at: Instant,
    ended: Instant,
    answer: Result<Answer, (String, Duration)>,
}

/// Whether a refusal says its write may have been stored (the database
/// connection was lost while the write was on its way).
fn in_doubt(answer: &Answer) -> bool {
    (answer.status, answer.code()) == (503, "DATABASE_CONNECTION_LOST")
}

impl Sent {
    /// When the answer was in (the answer's own `elapsed` leaves out the
    /// client's setup, so `at + elapsed` may fall before it).
    fn done(&self) -> Instant {
        self.ended
    }
}

/// Issue 13, finding 5: PostgreSQL stopped and started again under
/// traffic. While it is down every request fails fast (503
/// DATABASE_UNAVAILABLE with Retry-After, within the database timeout),
/// readiness says not-ready while liveness stays ok; once it is back,
/// writes succeed without restarting paddock; every acknowledged row is
/// in the database afterwards.
#[test]
fn postgres_stopped_and_restarted_under_traffic() {
    let pg = PgCluster::create();
    let dir = tempdir();
    let env = [("DATABASE_URL", pg.url.clone())];
    let mut server = start_env(dir.path(), &env, &[]);
    assert_ready(&readyz(&server.url));
    put_credential(&server);

    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Sent>>> = Arc::default();
    // Three clients, each cycling through the kinds of write.
    let traffic: Vec<_> = (0..3)
        .map(|client| {
            let (stop, log, base) = (stop.clone(), log.clone(), server.url.clone());
            std::thread::spawn(move || {
                let kinds = [Write::Workspace, Write::Session, Write::Run, Write::Key];
                let mut n = client;
                while !stop.load(Ordering::SeqCst) {
                    let kind = kinds[n % kinds.len()];
                    let at = Instant::now();
                    let answer = write(&base, kind, n);
                    let ended = Instant::now();
                    log.lock().unwrap().push(Sent {
                        kind,
                        n,
                        at,
                        ended,
                        answer,
                    });
                    n += 3;
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let stopping = Instant::now();
    pg.stop();
    let stopped = Instant::now();
    let (detect, not_ready) = wait_ready_status(&server.url, 503, Duration::from_secs(5));
    println!("FIGURE pg_down_readyz_ms={}", detect.as_millis());
    assert_database_not_ready(&not_ready);
    assert_alive(&mut server);
    std::thread::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed()));
    assert_alive(&mut server);
    let restarting = Instant::now();
    pg.start();
    let started = Instant::now();
    println!("PostgreSQL took {:?} to start", started - restarting);
    // Wait for a 2xx of every kind sent after PostgreSQL is back.
    let deadline = started + Duration::from_secs(20);
    let first_ok = loop {
        let first = log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.at >= started && s.answer.as_ref().is_ok_and(Answer::ok))
            .map(Sent::done)
            .min();
        if let Some(first) = first {
            break first;
        }
        assert!(
            Instant::now() < deadline,
            "no write succeeded within 20 s of PostgreSQL starting again"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("FIGURE pg_recover_ms={}", (first_ok - started).as_millis());
    println!(
        "FIGURE pg_recover_from_start_cmd_ms={}",
        (first_ok - restarting).as_millis()
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    for client in traffic {
        client.join().unwrap();
    }
    let (_, ready) = wait_ready_status(&server.url, 200, Duration::from_secs(10));
    assert_ready(&ready);

    let log = log.lock().unwrap().clone();
    let mut acked_rows = Vec::new();
    let mut problems = Vec::new();
    let mut down_latencies = Vec::new();
    for sent in &log {
        let while_down = sent.at >= stopped + Duration::from_millis(200) && sent.done() <= restarting;
        match &sent.answer {
            Err((error, took)) => problems.push(format!("{:?}: no answer after {took:?}: {error}", sent.kind)),
            Ok(answer) if answer.ok() => {
                if while_down {
                    problems.push(format!(
                        "{:?} acknowledged while PostgreSQL was down: {answer:?}",
                        sent.kind
                    ));
                }
                acked_rows.push(acked(sent.kind, answer).unwrap());
            }
            Ok(answer) => {
                let refused = (answer.status, answer.code()) == (503, "DATABASE_UNAVAILABLE") || in_doubt(answer);
                if !refused || answer.retry_after.is_none() {
                    problems.push(format!("{:?}: {answer:?}", sent.kind));
                }
                // Only a request that met the outage can have met its
                // write's outcome unknown: the cut itself, or a connection
                // the cut left dead and the pool handed out later.
                if in_doubt(answer) && sent.done() < stopping {
                    problems.push(format!("{:?}: outcome unknown outside the stop: {answer:?}", sent.kind));
                }
                if answer.elapsed > DB_TIMEOUT + SLACK {
                    problems.push(format!(
                        "{:?}: failed after {:?}: {answer:?}",
                        sent.kind, answer.elapsed
                    ));
                }
                down_latencies.push(answer.elapsed);
            }
        }
    }
    down_latencies.sort();
    let refused = down_latencies.len();
    println!(
        "traffic: {} requests, {} acknowledged, {refused} refused",
        log.len(),
        acked_rows.len()
    );
    if let (Some(max), Some(median)) = (down_latencies.last(), down_latencies.get(refused / 2)) {
        println!("FIGURE pg_fail_fast_max_ms={}", max.as_millis());
        println!("FIGURE pg_fail_fast_median_ms={}", median.as_millis());
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(refused >= 4, "too few requests while PostgreSQL was down: {refused}");
    assert!(
        log.iter()
            .any(|s| s.at >= started && s.answer.as_ref().is_ok_and(Answer::ok) && s.kind == Write::Run),
        "no run succeeded after PostgreSQL came back"
    );

    // Every acknowledged row is in the database, seen by a new server and
    // by PostgreSQL itself.
    assert!(server.stop().success());
    let server = start_env(dir.path(), &env, &[]);
    assert_all_present(&server, &acked_rows);
    assert_no_orphan_workspace_dirs(&server, dir.path());
    // A stored workspace nobody acknowledged must be one whose request
    // was told its outcome was unknown (its commit was cut off), never
    // one told that nothing was stored.
    let (_, page) = call(&server, "GET", "/v1/workspaces?limit=1000", Some(OP1_TOKEN), None);
    let listed = page["rows"].as_array().expect("workspace rows");
    assert_eq!(page["total"].as_u64(), Some(listed.len() as u64), "{page}");
    for stored in listed {
        let id = stored["id"].as_str().unwrap_or_default();
        if acked_rows.iter().any(|r| r.kind == Write::Workspace && r.id == id) {
            continue;
        }
        let label = stored["label"].as_str().unwrap_or_default();
        let request = log
            .iter()
            .find(|s| s.kind == Write::Workspace && format!("fault-{}", s.n) == label);
        match request.map(|s| &s.answer) {
            Some(Ok(answer)) if in_doubt(answer) => {
                println!("workspace {label} stored after an outcome-unknown answer (its commit was cut off)")
            }
            other => panic!("workspace {id} ({label}) stored but not acknowledged: {other:?}"),
        }
    }
    let stored: Vec<String> = pg
        .query("SELECT id FROM workspaces")
        .lines()
        .map(str::to_owned)
        .collect();
    for row in acked_rows.iter().filter(|r| r.kind == Write::Workspace) {
        assert!(stored.contains(&row.id), "workspace {} not in PostgreSQL", row.id);
    }
    let stored: Vec<String> = pg.query("SELECT id FROM sessions").lines().map(str::to_owned).collect();
    for row in acked_rows.iter().filter(|r| r.kind == Write::Session) {
        assert!(stored.contains(&row.id), "session {} not in PostgreSQL", row.id);
    }
    drop(server);
    drop(pg);
}

/// SSE events as `(event, data)`.
type Events = Vec<(String, String)>;

/// Reads an SSE body to its end (or the client's timeout): the run id
/// header and the events, or how the body broke.
fn read_stream(base: &str, path: &str, body: Value) -> (Option<i64>, Result<Events, String>) {
    let response = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .post(format!("{base}{path}"))
        .bearer_auth(OP1_TOKEN)
        .json(&body)
        .send()
    {
        Ok(r) => r,
        Err(e) => return (None, Err(e.to_string())),
    };
    let id = response
        .headers()
        .get("x-paddock-run-id")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let mut response = response;
    let read = response.read_to_string(&mut text);
    let events = parse_sse(&text);
    match read {
        Ok(_) => (id, Ok(events)),
        Err(e) => (id, Err(format!("{e} after {events:?}"))),
    }
}

fn running_rows(server: &Server, want: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, page) = call(server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None);
        let rows = page["rows"].as_array().cloned().unwrap_or_default();
        if rows.len() >= want {
            return rows;
        }
        assert!(Instant::now() < deadline, "{want} jails did not start: {page}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 13, finding 6: SIGTERM with a stream, a run and a workspace exec
/// still running at the end of the grace period. The stream ends with
/// exactly one final event, `error` with code SHUTTING_DOWN; the others
/// answer 503 SHUTTING_DOWN; the process exits within grace + 1 s; after
/// a restart their ledger rows are closed with the reason.
fn shutdown_with_streams_open(env: &[(&str, String)]) {
    let dir = tempdir();
    let server = start_env(dir.path(), env, &["--shutdown-grace", "2s"]);
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_owned();

    let sleeper = json!({"code": "sleep 30", "language": "bash", "timeout_secs": 60});
    let stream = {
        let (base, body) = (server.url.clone(), sleeper.clone());
        std::thread::spawn(move || read_stream(&base, "/v1/runs/stream", body))
    };
    let run = {
        let (base, body) = (server.url.clone(), sleeper.clone());
        std::thread::spawn(move || {
            send(
                &base,
                "POST",
                "/v1/runs",
                Some(OP1_TOKEN),
                Some(&body),
                Duration::from_secs(30),
            )
        })
    };
    let exec = {
        let base = server.url.clone();
        let path = format!("/v1/workspaces/{ws}/exec");
        std::thread::spawn(move || {
            send(
                &base,
                "POST",
                &path,
                Some(OP1_TOKEN),
                Some(&json!({"cmd": "sleep", "args": ["30"], "timeout_secs": 60})),
                Duration::from_secs(30),
            )
        })
    };
    let rows = running_rows(&server, 3);
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();

    let mut server = server;
    let signalled = Instant::now();
    // SAFETY: kill(2) on the child we own and have not reaped.
    assert_eq!(unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    // No new work is accepted during the grace period.
    match write(&server.url, Write::Run, 0) {
        Ok(answer) => assert!(
            (answer.status, answer.code()) == (503, "SHUTTING_DOWN"),
            "a run sent during shutdown: {answer:?}"
        ),
        Err((error, _)) => println!("a run sent during shutdown: {error}"),
    }
    let exited = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break (signalled.elapsed(), status);
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "the server did not exit 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("FIGURE shutdown_exit_ms={} (grace 2000)", exited.0.as_millis());

    let (stream_id, events) = stream.join().unwrap();
    let run = run.join().unwrap();
    let exec = exec.join().unwrap();
    let events = events.unwrap_or_else(|e| panic!("the stream broke instead of ending with an event: {e}"));
    let terminal: Vec<&(String, String)> = events
        .iter()
        .filter(|(name, _)| name == "completed" || name == "error")
        .collect();
    assert_eq!(terminal.len(), 1, "want exactly one final event: {events:?}");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    let data: Value = serde_json::from_str(data).unwrap_or_else(|_| panic!("error data is not JSON: {data}"));
    assert_eq!(data["code"], "SHUTTING_DOWN", "{data}");
    assert!(data["message"].as_str().is_some_and(|m| !m.is_empty()), "{data}");
    for (what, answer) in [("the run", run), ("the workspace exec", exec)] {
        let answer = answer.unwrap_or_else(|(e, took)| panic!("{what}: no answer (after {took:?}): {e}"));
        assert_eq!(
            (answer.status, answer.code()),
            (503, "SHUTTING_DOWN"),
            "{what}: {answer:?}"
        );
        assert!(answer.retry_after.is_some(), "{what}: {answer:?}");
    }
    assert!(exited.1.success(), "exit status {:?}", exited.1);
    assert!(
        exited.0 <= Duration::from_millis(3000),
        "exited {:?} after SIGTERM, grace 2 s",
        exited.0
    );
    drop(server);

    let server = start_env(dir.path(), env, &[]);
    let stream_id = stream_id.expect("x-paddock-run-id on the stream");
    assert!(ids.contains(&stream_id), "{ids:?} {stream_id}");
    for id in ids {
        let (status, row) = call(&server, "GET", &format!("/v1/jails/{id}"), Some(OP1_TOKEN), None);
        assert_eq!(status, 200, "{row}");
        assert_eq!(row["status"], "error", "{row}");
        assert!(
            row["error"].as_str().is_some_and(|e| e.to_lowercase().contains("shut")),
            "{row}"
        );
        assert!(row["ended_at"].is_string(), "{row}");
    }
}

#[test]
fn shutdown_with_streams_open_sqlite() {
    shutdown_with_streams_open(&[]);
}

#[test]
fn shutdown_with_streams_open_postgres() {
    let db = PgDatabase::create("faults_shutdown");
    shutdown_with_streams_open(&[("DATABASE_URL", db.url.clone())]);
}

/// A POST over a raw connection: the body written by another thread
/// while this one reads the answer, so a server that answers before it
/// has read the whole body (a 413) is heard, not a broken pipe. With
/// `chunked`, the body goes without a length.
fn raw_post(server: &Server, path: &str, body: &[u8], chunked: bool) -> Answer {
    raw_http(server, "POST", path, Some(body), chunked)
}

/// A request over a raw connection (no client-side limit on the target's
/// length), `body` written while the answer is read.
fn raw_http(server: &Server, method: &str, path: &str, body: Option<&[u8]>, chunked: bool) -> Answer {
    use std::io::Write as _;
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let framing = match body {
        None => String::new(),
        Some(_) if chunked => "content-type: application/json\r\ntransfer-encoding: chunked\r\n".to_owned(),
        Some(body) => format!("content-type: application/json\r\ncontent-length: {}\r\n", body.len()),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {OP1_TOKEN}\r\n\
         {framing}connection: close\r\n\r\n"
    );
    let mut writer = stream.try_clone().unwrap();
    let body = body.unwrap_or_default().to_vec();
    let sending = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(head.as_bytes())?;
        if chunked {
            for chunk in body.chunks(64 << 10) {
                writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                writer.write_all(chunk)?;
                writer.write_all(b"\r\n")?;
            }
            writer.write_all(b"0\r\n\r\n")?;
        } else {
            writer.write_all(&body)?;
        }
        Ok(())
    });
    let started = Instant::now();
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    // Up to the end of the answer (its content-length) or of the stream.
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(!raw.is_empty(), "no answer to POST {path}: {e}");
                break;
            }
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|length| raw.len() >= end + 4 + length) {
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sending.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head:.200}"));
    assert!(
        !head.to_lowercase().contains("transfer-encoding: chunked"),
        "a chunked error answer: {head}"
    );
    Answer {
        status,
        len: body.len(),
        body: serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())),
        retry_after: None,
        run_id: None,
        elapsed: started.elapsed(),
    }
}

/// A request's JSON error: status, code, a small body.
fn assert_error(what: &str, answer: &Answer, status: u16, code: &str) {
    assert_eq!((answer.status, answer.code()), (status, code), "{what}: {answer:?}");
    assert!(answer.body["error"].is_string(), "{what}: {answer:?}");
    assert!(
        answer.len < 2048,
        "{what}: a {}-byte error body echoes the request",
        answer.len
    );
}

/// Issue 13, findings 3 and 7: a missing command is 400 COMMAND_NOT_FOUND
/// (not a 503 clients retry forever); oversized bodies and unreadable
/// queries are the documented JSON, never echoing the request.
fn client_errors_are_client_errors(env: &[(&str, String)]) {
    let dir = tempdir();
    let server = start_env(dir.path(), env, &[]);
    put_credential(&server);
    let (status, session) = call(
        &server,
        "POST",
        "/v1/sessions",
        Some(OP1_TOKEN),
        Some(json!({"services": ["openai"]})),
    );
    assert_eq!(status, 201, "{session}");
    let session = session["id"].as_str().unwrap().to_owned();
    let (status, ws) = call(&server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    let ws = ws["id"].as_str().unwrap().to_owned();
    let timeout = Duration::from_secs(30);
    for cmd in ["/no/such/cmd", "no-such-command-xyz"] {
        for path in [
            format!("/v1/sessions/{session}/exec"),
            format!("/v1/workspaces/{ws}/exec"),
        ] {
            let answer = send(
                &server.url,
                "POST",
                &path,
                Some(OP1_TOKEN),
                Some(&json!({"cmd": cmd, "args": ["x"]})),
                timeout,
            )
            .unwrap();
            assert_error(&format!("{cmd} at {path}"), &answer, 400, "COMMAND_NOT_FOUND");
            assert!(answer.body["error"].as_str().unwrap().contains(cmd), "{answer:?}");
        }
    }
    // The workspace is usable afterwards, and no row stays running.
    let answer = send(
        &server.url,
        "POST",
        &format!("/v1/workspaces/{ws}/exec"),
        Some(OP1_TOKEN),
        Some(&json!({"cmd": "true"})),
        timeout,
    )
    .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    let (_, page) = call(&server, "GET", "/v1/jails?status=running", Some(OP1_TOKEN), None);
    assert_eq!(page["total"], 0, "{page}");

    // Bodies over the limit: 413 JSON, with and without a length.
    let big = format!(r#"{{"language": "bash", "code": "{}"}}"#, "x".repeat(3 << 20));
    let answer = raw_post(&server, "/v1/runs", big.as_bytes(), false);
    assert_error("a 3 MiB body", &answer, 413, "BODY_TOO_LARGE");
    let answer = raw_post(&server, "/v1/runs", big.as_bytes(), true);
    assert_error("a 3 MiB chunked body", &answer, 413, "BODY_TOO_LARGE");

    // 1.5 MiB bad bodies (under the limit): the message does not echo them.
    let huge = "y".repeat(3 << 19);
    for (what, body, status, code) in [
        ("broken JSON", format!(r#"{{"code": "{huge}"#), 400, "BAD_JSON"),
        (
            "an unknown language",
            format!(r#"{{"code": "true", "language": "{huge}"}}"#),
            400,
            "BAD_LANGUAGE",
        ),
        (
            "an unknown network mode",
            format!(r#"{{"code": "true", "language": "bash", "network": {{"mode": "{huge}"}}}}"#),
            400,
            "BAD_NETWORK",
        ),
        (
            "a mistyped field",
            format!(r#"{{"code": "true", "timeout_secs": "{huge}"}}"#),
            422,
            "BAD_BODY",
        ),
    ] {
        let answer = raw_post(&server, "/v1/runs", body.as_bytes(), false);
        assert_error(what, &answer, status, code);
    }

    // Unreadable queries: 400 BAD_QUERY JSON, without the long value.
    let long = "9".repeat(60 << 10);
    for path in [
        "/v1/jails?limit=abc".to_owned(),
        format!("/v1/jails?limit=x{long}"),
        format!("/v1/jails?offset={long}"),
        format!("/v1/workspaces?limit={long}x"),
        format!("/v1/sessions?include_closed={long}"),
    ] {
        let answer = raw_http(&server, "GET", &path, None, false);
        assert_error(&format!("GET {:.40}", path), &answer, 400, "BAD_QUERY");
    }
    // Past the HTTP parser's limits (a 100 KiB target, 414; 500 KiB, 431)
    // the answer comes before any route: a client error, without the
    // request in it.
    for size in [100 << 10, 500 << 10] {
        let answer = raw_http(
            &server,
            "GET",
            &format!("/v1/jails?limit=x{}", "9".repeat(size)),
            None,
            false,
        );
        println!("a {size}-byte query answers {} {:?}", answer.status, answer.body);
        assert!((400..500).contains(&answer.status), "{answer:?}");
        assert!(answer.len < 2048, "a {}-byte answer to a {size}-byte query", answer.len);
    }
}

#[test]
fn client_errors_are_client_errors_sqlite() {
    client_errors_are_client_errors(&[]);
}

#[test]
fn client_errors_are_client_errors_postgres() {
    let db = PgDatabase::create("faults_client");
    client_errors_are_client_errors(&[("DATABASE_URL", db.url.clone())]);
}

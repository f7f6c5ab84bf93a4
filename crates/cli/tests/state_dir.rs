//! Threat-model row 46: a state directory left open to other users (made
//! by hand, by an older version, restored from a backup) is closed at
//! `paddock serve` start: 0700, its files owner-only, each change logged;
//! one that another user owns is refused. Checked with the real binary and
//! a real unprivileged user (`paddock-ci`) trying to read what is in it;
//! and in rootless mode, the server itself running as that user.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::*;

/// The unprivileged user of these tests.
const USER: &str = "paddock-ci";

/// Root is needed to act as another user; say so instead of passing.
fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("skipped {test}: it needs root to read files as {USER} and to own directories as another user");
    false
}

/// The uid and gid of `USER`.
fn user_ids() -> (u32, u32) {
    let out = Command::new("id").args(["-u", USER]).output().expect("id");
    let uid = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("paddock-ci exists");
    let out = Command::new("id").args(["-g", USER]).output().expect("id");
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().expect("gid");
    (uid, gid)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("metadata").mode() & 0o7777
}

/// `cat FILE` as the unprivileged user: its output, or its error.
fn read_as_user(file: &Path) -> Result<String, String> {
    let out = Command::new("su")
        .args([USER, "-s", "/bin/sh", "-c"])
        .arg(format!("cat '{}'", file.display()))
        .output()
        .expect("su");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn row46_a_loose_state_directory_is_closed_at_start() {
    if !root_or_skip("row46_a_loose_state_directory_is_closed_at_start") {
        return;
    }
    // The parent lets anyone through, as /var/lib does.
    let parent = tempdir();
    chmod(parent.path(), 0o755);
    let state = parent.path().join("state");
    let server = Server::with_keys(&state);
    drop(server);
    // As an older version (or a restore) left it: everything readable
    // but the master key (a loose key refuses the start on its own).
    chmod(&state, 0o755);
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with("master.key") {
            chmod(&path, 0o644);
        }
    }
    // A tenant's file deeper down, in directories open to everyone.
    let tree = state.join("flavors/tenant-files");
    std::fs::create_dir_all(&tree).unwrap();
    for dir in [state.join("flavors"), tree.clone()] {
        chmod(&dir, 0o755);
    }
    let secret = tree.join("secret.txt");
    std::fs::write(&secret, "tenant data\n").unwrap();
    chmod(&secret, 0o644);
    let db = state.join("paddock.db");
    // The attack works against the loose directory.
    assert_eq!(read_as_user(&secret).as_deref(), Ok("tenant data\n"));
    assert!(read_as_user(&db).is_ok(), "{USER} cannot read the loose database");

    let server = Server::with_keys(&state);
    let (status, _) = call(&server, "GET", "/v1/whoami", Some(OP1_TOKEN), None);
    assert_eq!(status, 200);
    for file in [&secret, &db] {
        let err = read_as_user(file).expect_err("a tenant's file is readable by another user");
        assert!(err.contains("Permission denied"), "{}: {err}", file.display());
    }
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&db), 0o600);
    let lines = server.stop_and_collect();
    let log = lines.join("\n");
    assert!(
        log.contains("state directory permissions tightened") && log.contains("0755") && log.contains("0700"),
        "{log}"
    );
}

/// `paddock serve` on `state` as it would start (until ready or exit):
/// its exit status (`None` while it runs) and what it printed.
fn start(state: &Path, as_user: Option<(u32, u32)>, bin: &Path) -> (Option<i32>, String, std::process::Child) {
    let mut command = match as_user {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--proxy-listen",
            "127.0.0.1:0",
            "--warm-pool",
            "0",
            "--min-free-space",
            "8m",
            "--reserve-space",
            "0",
            "--shutdown-grace",
            "1s",
            "--state-dir",
        ])
        .arg(state)
        .env("PADDOCK_API_KEYS", keys())
        .env_remove("DATABASE_URL")
        .env_remove("PADDOCK_MASTER_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("paddock serve starts");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let ready = line.contains("paddock serve ready");
                text.push_str(&line);
                text.push('\n');
                if ready {
                    return (None, text, child);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child.wait().expect("wait");
    (status.code(), text, child)
}

fn stop(mut child: std::process::Child) {
    // SAFETY: kill on a child we own and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

#[test]
fn row46_a_state_directory_another_user_owns_is_refused() {
    if !root_or_skip("row46_a_state_directory_another_user_owns_is_refused") {
        return;
    }
    let parent = tempdir();
    let state = parent.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o700);
    let (uid, gid) = user_ids();
    std::os::unix::fs::chown(&state, Some(uid), Some(gid)).unwrap();
    let (code, text, _child) = start(&state, None, Path::new(env!("CARGO_BIN_EXE_paddock")));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("belongs to uid {uid}, not to this user (uid 0)")),
        "{text}"
    );
    // Nothing was written into it.
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0);
}

#[test]
fn row46_rootless_the_servers_own_loose_directory_is_closed() {
    if !root_or_skip("row46_rootless_the_servers_own_loose_directory_is_closed") {
        return;
    }
    let (uid, gid) = user_ids();
    let parent = tempdir();
    chmod(parent.path(), 0o755);
    // The binary where the unprivileged user can run it.
    let bin = parent.path().join("paddock");
    std::fs::copy(env!("CARGO_BIN_EXE_paddock"), &bin).unwrap();
    let state = parent.path().join("state");
    std::fs::create_dir(&state).unwrap();
    chmod(&state, 0o755);
    std::os::unix::fs::chown(&state, Some(uid), Some(gid)).unwrap();
    let (code, text, child) = start(&state, Some((uid, gid)), &bin);
    assert_eq!(code, None, "the rootless server did not start: {text}");
    assert_eq!(mode(&state), 0o700, "{text}");
    assert_eq!(std::fs::metadata(&state).unwrap().uid(), uid);
    assert_eq!(mode(&state.join("paddock.db")), 0o600, "{text}");
    assert!(text.contains("state directory permissions tightened"), "{text}");
    stop(child);
}

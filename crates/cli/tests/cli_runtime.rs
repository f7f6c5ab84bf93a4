//! The runtime commands of `paddock ws` as people use them, end to end: the
//! real CLI binary against the real `paddock serve` as root, real jails.
//! `exec` with exit codes, stdout and stderr apart, `-i` piping input and
//! `-it` driven through a real pseudo-terminal (its size followed after
//! SIGWINCH, the local terminal restored); `ps`, `logs` (also `-f`),
//! `kill`, `start`/`stop`; `cp` of a 20 MiB file and of a directory both
//! ways, `ls` and `cat`; `preview`, `previews` and `unpreview`; Problem
//! Details printed as messages.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_paddock");

fn start(dir: &Path) -> Server {
    Server::start(dir, &[("PADDOCK_API_KEYS", &keys())], &["--shutdown-grace", "2s"])
}

/// A new workspace of operator 1; its id.
fn workspace(server: &Server) -> String {
    let (status, ws) = call(server, "POST", "/v1/workspaces", Some(OP1_TOKEN), Some(json!({})));
    assert_eq!(status, 201, "{ws}");
    ws["id"].as_str().expect("id").to_owned()
}

/// The CLI against `server` as operator 1.
fn paddock_command(server: &Server, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("PADDOCK_URL", &server.url)
        .env("PADDOCK_API_KEY", OP1_TOKEN);
    command
}

/// Runs the CLI to its end with `stdin` as its input (none: /dev/null).
fn paddock(server: &Server, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = paddock_command(server, args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let Some(input) = stdin else {
        return command.stdin(Stdio::null()).output().expect("paddock runs");
    };
    let mut child = command.stdin(Stdio::piped()).spawn().expect("paddock runs");
    let mut pipe = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("paddock ends");
    let _ = writer.join();
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exits 0, or says why not.
fn ok(out: Output) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    out
}

/// The process's info through the API.
fn process(server: &Server, ws: &str, id: &str) -> Value {
    let (status, info) = call(
        server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes/{id}"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(status, 200, "{info}");
    info
}

/// Starts a managed process through the API; its id.
fn create(server: &Server, ws: &str, script: &str) -> String {
    let (status, info) = call(
        server,
        "POST",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes"),
        Some(OP1_TOKEN),
        Some(json!({"command": "sh", "args": ["-c", script]})),
    );
    assert_eq!(status, 200, "{info}");
    info["id"].as_str().expect("id").to_owned()
}

/// Waits until `check` holds, or fails with `what`.
fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("paddock did not end within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exec_keeps_streams_apart_and_exits_with_the_process_status() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);

    let out = paddock(
        &server,
        &["ws", "exec", &ws, "--", "sh", "-c", "echo out; echo err >&2; exit 7"],
        None,
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");

    // Environment and working directory.
    ok(paddock(
        &server,
        &["ws", "exec", &ws, "--", "mkdir", "-p", "sub/dir"],
        None,
    ));
    let out = ok(paddock(
        &server,
        &[
            "ws",
            "exec",
            &ws,
            "-e",
            "GREETING=hello world",
            "--cwd",
            "/workspace/sub/dir",
            "--",
            "sh",
            "-c",
            "echo \"$GREETING\"; pwd",
        ],
        None,
    ));
    assert_eq!(stdout(&out), "hello world\n/workspace/sub/dir\n");

    // A process killed by a signal: 128 + 9.
    let out = paddock(&server, &["ws", "exec", &ws, "--", "sh", "-c", "kill -KILL $$"], None);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));

    // -i: standard input reaches the process, in several input calls
    // (more than one 64 KiB chunk), byte for byte.
    let out = ok(paddock(
        &server,
        &["ws", "exec", "-i", &ws, "--", "head", "-n", "1"],
        Some(b"hi\n"),
    ));
    assert_eq!(stdout(&out), "hi\n");
    // The end of the input reaches the process: `cat` ends.
    let out = ok(paddock(
        &server,
        &["ws", "exec", "-i", &ws, "--", "cat"],
        Some(b"to the end\n"),
    ));
    assert_eq!(stdout(&out), "to the end\n");
    let input: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let out = ok(paddock(
        &server,
        &["ws", "exec", "-i", &ws, "--", "sh", "-c", "head -c 300000 | cksum"],
        Some(&input),
    ));
    let mut local = Command::new("cksum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("cksum");
    local.stdin.take().expect("stdin").write_all(&input).expect("write");
    let expected = local.wait_with_output().expect("cksum");
    assert_eq!(
        stdout(&out).split_whitespace().next(),
        String::from_utf8_lossy(&expected.stdout).split_whitespace().next()
    );

    // Errors are the runtime's Problem Details, as messages.
    let out = paddock(&server, &["ws", "exec", &ws, "--", "/no/such/program"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("paddock: ") && err.contains("/no/such/program") && err.contains("HTTP "),
        "{err}"
    );
    assert!(!err.contains("urn:") && !err.contains('{'), "{err}");
    let out = paddock(&server, &["ws", "exec", "wrk_nosuch", "--", "true"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));

    // -t needs a terminal on standard input.
    let out = paddock(&server, &["ws", "exec", "-it", &ws, "--", "sh"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not a TTY"), "{}", stderr(&out));
}

#[test]
fn ps_logs_kill_start_and_stop() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);

    let out = ok(paddock(&server, &["ws", "start", &ws], None));
    assert!(stdout(&out).contains(&format!("{ws} running")), "{}", stdout(&out));
    let out = ok(paddock(&server, &["ws", "start", &ws, "--json"], None));
    let state: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(state["state"], "running");

    let sleeper = create(&server, &ws, "echo tick; echo tock >&2; exec sleep 300");
    wait_for("the first output", Duration::from_secs(10), || {
        stdout(&paddock(&server, &["ws", "logs", &ws, &sleeper], None)).contains("tick")
    });
    let out = ok(paddock(&server, &["ws", "ps", &ws], None));
    let table = stdout(&out);
    let line = table
        .lines()
        .find(|l| l.starts_with(&sleeper))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(table.starts_with("ID "), "{table}");
    assert!(line.contains("running") && line.contains("sh -c"), "{line}");

    // Logs: stdout and stderr where they belong, or one stream.
    let out = ok(paddock(&server, &["ws", "logs", &ws, &sleeper], None));
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("tick\n", "tock\n"));
    let out = ok(paddock(
        &server,
        &["ws", "logs", &ws, &sleeper, "--stream", "stderr"],
        None,
    ));
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("", "tock\n"));
    let out = paddock(&server, &["ws", "logs", &ws, &sleeper, "--stream", "nope"], None);
    assert_eq!(out.status.code(), Some(2));

    // logs -f follows until the process ends; kill ends it.
    let mut follower = paddock_command(&server, &["ws", "logs", "-f", &ws, &sleeper, "--stream", "stdout"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("paddock runs");
    std::thread::sleep(Duration::from_millis(500));
    assert!(follower.try_wait().expect("wait").is_none(), "logs -f ended early");
    let out = ok(paddock(
        &server,
        &["ws", "kill", &ws, &sleeper, "--signal", "KILL", "--wait", "5000"],
        None,
    ));
    assert!(stdout(&out).contains("ended by a signal"), "{}", stdout(&out));
    let status = wait_child(&mut follower, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let mut followed = String::new();
    follower
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut followed)
        .expect("read");
    assert_eq!(followed, "tick\n");
    assert_eq!(process(&server, &ws, &sleeper)["status"], "exited");

    // Live output: each line as it comes, to the process's end.
    let ticker = create(&server, &ws, "for i in 1 2 3; do echo line$i; sleep 0.3; done");
    let started = Instant::now();
    let out = ok(paddock(&server, &["ws", "logs", "-f", &ws, &ticker], None));
    assert_eq!(stdout(&out), "line1\nline2\nline3\n");
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = ok(paddock(&server, &["ws", "logs", &ws, &ticker, "--tail", "1"], None));
    assert_eq!(stdout(&out), "line3\n");

    // TERM through /stop; ps hides exited processes unless --all.
    let terminated = create(&server, &ws, "exec sleep 300");
    let out = ok(paddock(
        &server,
        &["ws", "kill", &ws, &terminated, "--wait", "5000"],
        None,
    ));
    assert!(stdout(&out).contains("ended by a signal"), "{}", stdout(&out));
    let out = ok(paddock(&server, &["ws", "ps", &ws], None));
    assert!(!stdout(&out).contains(&terminated), "{}", stdout(&out));
    let out = ok(paddock(&server, &["ws", "ps", &ws, "--all"], None));
    let table = stdout(&out);
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{terminated} ")))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("exited") && line.contains("signal"), "{line}");
    let out = ok(paddock(&server, &["ws", "ps", &ws, "--all", "--json"], None));
    let list: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(list["processes"].as_array().expect("array").len() >= 3, "{list}");
    let out = paddock(&server, &["ws", "kill", &ws, "proc_999"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("HTTP 404"), "{}", stderr(&out));

    // Stop ends the jail and its processes; ps does not start it again.
    let long = create(&server, &ws, "exec sleep 300");
    let out = ok(paddock(&server, &["ws", "stop", &ws], None));
    assert_eq!(stdout(&out).trim(), format!("{ws} stopped"));
    let out = ok(paddock(&server, &["ws", "ps", &ws, "--all"], None));
    assert!(!stdout(&out).contains(&long), "{}", stdout(&out));
    let (_, state) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/state"),
        Some(OP1_TOKEN),
        None,
    );
    assert_eq!(state["state"], "stopped", "{state}");
}

/// `size` bytes that do not repeat in any short period.
fn noise(size: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn hash_file(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    let mut file = std::fs::File::open(path).expect("open");
    std::io::copy(&mut file, &mut hasher).expect("read");
    hasher.finalize()
}

#[test]
fn cp_moves_a_large_file_both_ways_and_ls_and_cat_show_it() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = dir.path().join("workspaces").join(&ws).join("tree");
    let local = tempdir();
    let big = local.path().join("big.bin");
    std::fs::write(&big, noise(20 << 20)).expect("write");
    let expected = hash_file(&big);

    let out = ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            big.to_str().expect("utf-8"),
            &format!("{ws}:/workspace/data/big.bin"),
        ],
        None,
    ));
    assert!(stdout(&out).contains("20971520 bytes"), "{}", stdout(&out));
    assert_eq!(hash_file(&tree.join("data/big.bin")), expected);

    // Into an existing directory: the file keeps its name.
    let small = local.path().join("note.txt");
    std::fs::write(&small, "a note\n").expect("write");
    ok(paddock(
        &server,
        &["ws", "cp", small.to_str().expect("utf-8"), &format!("{ws}:data")],
        None,
    ));
    assert_eq!(
        std::fs::read_to_string(tree.join("data/note.txt")).expect("read"),
        "a note\n"
    );

    // Back down, to a file name and into a directory.
    let back = local.path().join("back.bin");
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            &format!("{ws}:/workspace/data/big.bin"),
            back.to_str().expect("utf-8"),
        ],
        None,
    ));
    assert_eq!(hash_file(&back), expected);
    let into = local.path().join("into");
    std::fs::create_dir(&into).expect("mkdir");
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            &format!("{ws}:data/note.txt"),
            into.to_str().expect("utf-8"),
        ],
        None,
    ));
    assert_eq!(
        std::fs::read_to_string(into.join("note.txt")).expect("read"),
        "a note\n"
    );
    let leftovers: Vec<_> = std::fs::read_dir(local.path())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // ls: name, type, size, modified.
    let out = ok(paddock(&server, &["ws", "ls", &ws, "/workspace/data"], None));
    let table = stdout(&out);
    assert!(table.starts_with("NAME"), "{table}");
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("big.bin"))
        .unwrap_or_else(|| panic!("{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], &["big.bin", "file", "20971520"], "{table}");
    let out = ok(paddock(&server, &["ws", "ls", &ws], None));
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.starts_with("data ") && l.contains(" dir ")),
        "{}",
        stdout(&out)
    );

    // cat streams the bytes as they are.
    let out = ok(paddock(&server, &["ws", "cat", &ws, "data/big.bin"], None));
    assert_eq!(blake3::hash(&out.stdout), expected);

    // Missing paths and paths out of the workspace are refused with the
    // server's message.
    let out = paddock(&server, &["ws", "cat", &ws, "data/nothing"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    let out = paddock(
        &server,
        &[
            "ws",
            "cp",
            &format!("{ws}:/etc/passwd"),
            local.path().to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!local.path().join("passwd").exists());
    let out = paddock(&server, &["ws", "cp", "a", "b"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ID:PATH"), "{}", stderr(&out));
}

/// A local tree: nested directories, an executable, a relative symlink.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("src/nested/deeper")).expect("mkdir");
    std::fs::create_dir_all(root.join("empty")).expect("mkdir");
    std::fs::write(root.join("README"), "top\n").expect("write");
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(root.join("src/nested/deeper/data.bin"), noise(300_000)).expect("write");
    std::fs::write(root.join("run.sh"), "#!/bin/sh\necho ran\n").expect("write");
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::os::unix::fs::symlink("src/main.rs", root.join("link")).expect("symlink");
}

/// Every path under `root` with what it is: file contents' hash, `dir`,
/// or `-> target`; and the executable bit of files.
fn describe(root: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&rel)).expect("read_dir").flatten() {
            let path = rel.join(entry.file_name());
            let meta = std::fs::symlink_metadata(root.join(&path)).expect("stat");
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(root.join(&path)).expect("link").display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else {
                let exec = meta.permissions().mode() & 0o100 != 0;
                format!("{} exec={exec}", hash_file(&root.join(&path)))
            };
            out.push((path, what));
        }
    }
    out.sort();
    out
}

#[test]
fn cp_moves_directories_both_ways() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let tree = dir.path().join("workspaces").join(&ws).join("tree");
    let local = tempdir();
    let project = local.path().join("project");
    make_tree(&project);
    let expected = describe(&project);

    // Up to a new path: the directory takes the contents.
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            project.to_str().expect("utf-8"),
            &format!("{ws}:/workspace/copy"),
        ],
        None,
    ));
    assert_eq!(describe(&tree.join("copy")), expected);
    let out = ok(paddock(&server, &["ws", "exec", &ws, "--", "./copy/run.sh"], None));
    assert_eq!(stdout(&out), "ran\n");
    // Up into an existing directory: under its own name.
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            project.to_str().expect("utf-8"),
            &format!("{ws}:/workspace/copy"),
        ],
        None,
    ));
    assert_eq!(describe(&tree.join("copy/project")), expected);

    // Down to a new path, and into an existing directory.
    let fresh = local.path().join("fresh");
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            &format!("{ws}:/workspace/copy/project"),
            fresh.to_str().expect("utf-8"),
        ],
        None,
    ));
    assert_eq!(describe(&fresh), expected);
    let existing = local.path().join("existing");
    std::fs::create_dir(&existing).expect("mkdir");
    ok(paddock(
        &server,
        &[
            "ws",
            "cp",
            &format!("{ws}:copy/project"),
            existing.to_str().expect("utf-8"),
        ],
        None,
    ));
    assert_eq!(describe(&existing.join("project")), expected);

    // A symlink in the workspace that points out of it comes down as
    // nothing that leads out: the copy is refused.
    ok(paddock(
        &server,
        &["ws", "exec", &ws, "--", "mkdir", "-p", "evil"],
        None,
    ));
    ok(paddock(
        &server,
        &["ws", "exec", &ws, "--", "ln", "-s", "/etc", "evil/out"],
        None,
    ));
    let target = local.path().join("evil-copy");
    let out = paddock(
        &server,
        &["ws", "cp", &format!("{ws}:evil"), target.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("symlink out of the destination"),
        "{}",
        stderr(&out)
    );
    assert!(!target.join("out").exists());
}

/// A pseudo-terminal pair: the master, and the slave the CLI runs on.
fn open_pty(cols: u16, rows: u16) -> (OwnedFd, OwnedFd) {
    let mut master = -1;
    let mut slave = -1;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: out pointers to locals; a null name and termios are allowed.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two descriptors we now own.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

fn set_size(master: &OwnedFd, cols: u16, rows: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we pass.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

fn local_flags(fd: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: a zeroed termios is valid storage for tcgetattr.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut termios) }, 0);
    termios.c_lflag
}

#[test]
fn exec_it_is_a_real_terminal_that_follows_the_window_and_restores_it() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let (master, slave) = open_pty(100, 30);
    let before = local_flags(&slave);
    assert_ne!(before & libc::ECHO, 0);

    let mut command = paddock_command(&server, &["ws", "exec", "-it", &ws, "--", "sh"]);
    let fd = slave.as_raw_fd();
    command
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")));
    // SAFETY: setsid and ioctl are async-signal-safe; the child gets its
    // own session with the pty as its controlling terminal, so resizing
    // the master sends it SIGWINCH.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("paddock runs");

    // Everything the terminal shows.
    let screen = Arc::new(Mutex::new(String::new()));
    let mut reader = std::fs::File::from(master.try_clone().expect("dup"));
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let shown = |text: &str| screen.lock().expect("lock").contains(text);
    let mut keys = std::fs::File::from(master.try_clone().expect("dup"));

    // Raw mode while it runs: no local echo of what is typed.
    wait_for("raw mode", Duration::from_secs(20), || {
        local_flags(&slave) & libc::ECHO == 0
    });
    keys.write_all(b"stty size; tty\r").expect("type");
    wait_for("the size and the tty", Duration::from_secs(20), || {
        shown("30 100") && shown("/dev/pts/")
    });

    // The window grows: SIGWINCH, a resize frame, the remote size follows.
    set_size(&master, 120, 40);
    std::thread::sleep(Duration::from_millis(500));
    keys.write_all(b"stty size\r").expect("type");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shown("40 120") {
        assert!(
            Instant::now() < deadline,
            "no new size: {:?}",
            screen.lock().expect("lock")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    keys.write_all(b"exit 3\r").expect("type");
    let status = wait_child(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(3), "{}", screen.lock().expect("lock"));
    // The local terminal is as it was.
    assert_eq!(local_flags(&slave), before);
}

#[test]
fn a_signal_while_attached_restores_the_terminal() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let (master, slave) = open_pty(80, 24);
    let before = local_flags(&slave);
    let mut command = paddock_command(&server, &["ws", "exec", "-it", &ws, "--", "sh"]);
    let fd = slave.as_raw_fd();
    command
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave.try_clone().expect("dup")));
    // SAFETY: as in the test above.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("paddock runs");
    let mut reader = std::fs::File::from(master.try_clone().expect("dup"));
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    wait_for("raw mode", Duration::from_secs(20), || {
        local_flags(&slave) & libc::ECHO == 0
    });
    // SAFETY: a signal to a child we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_child(&mut child, Duration::from_secs(10));
    assert!(!status.success());
    assert_eq!(local_flags(&slave), before);
}

#[test]
fn ctrl_c_during_exec_stops_the_process_and_exits_130() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    let mut child = paddock_command(
        &server,
        &["ws", "exec", &ws, "--", "sh", "-c", "echo up; exec sleep 300"],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("paddock runs");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 3];
    out.read_exact(&mut first).expect("first output");
    assert_eq!(&first, b"up\n");
    let (_, list) = call(
        &server,
        "GET",
        &format!("/v1/workspaces/{ws}/runtime/v1/processes"),
        Some(OP1_TOKEN),
        None,
    );
    let id = list["processes"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(process(&server, &ws, &id)["status"], "running");
    let interrupted = Instant::now();
    // SAFETY: a signal to a child we own.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_child(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(130));
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "{:?}",
        interrupted.elapsed()
    );
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(err.contains("interrupted; the process was stopped"), "{err}");
    assert_eq!(process(&server, &ws, &id)["status"], "exited");
}

#[test]
fn preview_exposes_a_port_lists_it_and_revokes_it() {
    let dir = tempdir();
    let server = start(dir.path());
    let ws = workspace(&server);
    ok(paddock(
        &server,
        &[
            "ws",
            "exec",
            &ws,
            "--",
            "sh",
            "-c",
            "echo served > /workspace/hello.txt",
        ],
        None,
    ));
    create(&server, &ws, "exec python3 -m http.server 8000 -d /workspace");

    // Private (the default): the secret is in `access_url`, once.
    let out = ok(paddock(&server, &["ws", "preview", &ws, "8000", "--json"], None));
    let private: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let id = private["id"].as_str().expect("id").to_owned();
    assert_eq!((&private["port"], &private["public"]), (&json!(8000), &json!(false)));
    let url = private["url"].as_str().expect("url");
    let access = private["access_url"].as_str().expect("access_url");
    assert!(
        access.starts_with(url) && access.contains("paddock_token=pvs_"),
        "{private}"
    );
    let path_url = private["path_url"].as_str().expect("path_url").to_owned();

    // Public, with a lifetime, as a table.
    let out = ok(paddock(
        &server,
        &["ws", "preview", &ws, "8001", "--public", "--ttl", "30m"],
        None,
    ));
    let table = stdout(&out);
    assert!(
        table.contains("public      true") && table.contains("state       active"),
        "{table}"
    );
    assert!(!table.contains("pvs_"), "a public preview has no secret: {table}");

    // It serves what the workspace's server serves, to the tenant's key.
    let client = reqwest::blocking::Client::new();
    let fetch = || {
        client
            .get(format!("{path_url}hello.txt"))
            .bearer_auth(OP1_TOKEN)
            .send()
            .expect("request")
    };
    wait_for("the server in the workspace", Duration::from_secs(15), || {
        fetch().status() == 200
    });
    assert_eq!(fetch().text().expect("body"), "served\n");

    // Listed, newest first.
    let list = stdout(&ok(paddock(&server, &["ws", "previews", &ws], None)));
    let header = list.lines().next().expect("header");
    assert!(
        header.starts_with("ID") && header.contains("PORT") && header.contains("STATE"),
        "{list}"
    );
    let line = list
        .lines()
        .find(|l| l.starts_with(&id))
        .expect("the preview is listed");
    assert!(line.contains("8000") && line.contains("active"), "{line}");
    assert!(list.lines().nth(1).is_some_and(|l| l.contains("8001")), "{list}");

    // Revoked: it stops serving at once, and a second revoke is an error.
    assert_eq!(
        stdout(&ok(paddock(&server, &["ws", "unpreview", &ws, &id], None))),
        format!("revoked {id}\n")
    );
    assert_eq!(fetch().status(), 404);
    let out = paddock(&server, &["ws", "unpreview", &ws, &id], None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
    let out = paddock(&server, &["ws", "preview", &ws, "0"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("port"), "{}", stderr(&out));
}

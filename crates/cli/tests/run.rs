//! `paddock run` as a user calls it: the real binary, real jails.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn paddock(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("paddock runs")
}

/// `--memory`/`--pids` defaults need cgroups; rootless runs without a
/// delegated cgroup pass `unlimited` explicitly.
fn limit_args() -> Vec<&'static str> {
    let probe = paddock(&["run", "--", "true"]);
    if probe.status.success() {
        vec![]
    } else {
        vec!["--memory", "unlimited", "--pids", "unlimited"]
    }
}

fn run(extra: &[&str], command: &[&str]) -> Output {
    let mut args = vec!["run"];
    args.extend(limit_args());
    args.extend(extra);
    args.push("--");
    args.extend(command);
    paddock(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn passes_output_and_exit_status_through() {
    let out = run(&[], &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(stderr(&out), "err\n");
}

#[test]
fn signal_exit_is_128_plus_signal() {
    let out = run(&[], &["sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn timeout_exits_124_at_the_deadline() {
    let started = std::time::Instant::now();
    let out = run(&["--timeout", "500ms"], &["sh", "-c", "(sleep 30 &); sleep 30"]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(stderr(&out).contains("deadline"));
}

#[test]
fn oom_kill_exits_137() {
    assert!(
        limit_args().is_empty(),
        "this test needs a usable memory controller (run as root, or delegate one: scripts/delegate-cgroup)"
    );
    let out = run(&["--memory", "32M"], &["python3", "-c", "a = bytearray(256 << 20)"]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    assert!(stderr(&out).contains("out of memory"));
}

#[test]
fn missing_command_exits_127() {
    let out = run(&[], &["no-such-command-anywhere"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(stderr(&out).contains("no-such-command-anywhere"));
}

#[test]
fn bad_flags_exit_2_with_a_one_line_reason() {
    for (args, needle) in [
        (vec!["run", "--memory", "12Q", "--", "true"], "--memory"),
        (vec!["run", "--timeout", "soon", "--", "true"], "duration"),
        (vec!["run", "--net", "internet", "--", "true"], "network mode"),
        (
            vec!["run", "--ro", "/nonexistent-paddock", "--", "true"],
            "/nonexistent-paddock",
        ),
        (vec!["run", "--rw", "/tmp:/proc/x", "--", "true"], "system tree"),
        (vec!["run", "--env", "NOEQUALS", "--", "true"], "KEY=VALUE"),
        (vec!["run", "--net", "allow:*", "--", "true"], "'*'"),
        (vec!["run", "--net", "allow:", "--", "true"], "not a valid host"),
        (vec!["run", "--net", "allow:a.example,b c", "--", "true"], "\"b c\""),
        (vec!["run", "--allow-port", "8080", "--", "true"], "--net allow:"),
        (
            vec!["run", "--net", "allow:a.example", "--allow-port", "0", "--", "true"],
            "--allow-port",
        ),
        (
            vec![
                "run",
                "--net",
                "allow:a.example",
                "--trust-host",
                "a.example",
                "--",
                "true",
            ],
            "HOST=IP",
        ),
        (
            vec![
                "run",
                "--net",
                "allow:a.example",
                "--trust-cidr",
                "10.0.0.0",
                "--",
                "true",
            ],
            "CIDR",
        ),
        (vec!["run"], "COMMAND"),
    ] {
        let out = paddock(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn json_result_has_the_documented_fields() {
    let out = run(&["--json"], &["sh", "-c", "printf hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value["exit_code"], 3);
    assert_eq!(value["stdout"], "hi");
    assert_eq!(value["timed_out"], false);
    assert_eq!(value["oom_killed"], false);
    assert!(value["duration_ms"].as_f64().is_some());
    assert!(value.get("stats").is_some());
}

#[test]
fn stdin_is_passed_when_not_a_terminal() {
    let mut args = vec!["run"];
    args.extend(limit_args());
    args.extend(["--", "tr", "a-z", "A-Z"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(b"shout").expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.stdout, b"SHOUT");
}

#[test]
fn first_rw_bind_becomes_workspace_and_second_output() {
    let ws = tempfile::tempdir().expect("tempdir");
    let outdir = tempfile::tempdir().expect("tempdir");
    let src = tempfile::tempdir().expect("tempdir");
    std::fs::write(src.path().join("in"), "x").expect("write");
    let ws_arg = ws.path().to_string_lossy().into_owned();
    let out_arg = outdir.path().to_string_lossy().into_owned();
    let out = run(
        &["--rw", &ws_arg, "--rw", &out_arg],
        &["sh", "-c", "pwd; touch /workspace/a /output/b"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"/workspace\n");
    assert!(ws.path().join("a").exists() && outdir.path().join("b").exists());

    // --ro takes /workspace, then --rw without a path takes /output.
    let src_arg = src.path().to_string_lossy().into_owned();
    let out = run(
        &["--ro", &src_arg, "--rw", &out_arg],
        &["sh", "-c", "cp in /output/copy"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(outdir.path().join("copy").exists());

    // A third unnamed bind has nowhere to go.
    let out = paddock(&["run", "--rw", &ws_arg, "--rw", &out_arg, "--rw", &src_arg, "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HOST:JAIL"));
}

#[test]
fn loopback_flag_brings_up_lo() {
    let out = run(&["--net", "loopback"], &["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); socket.create_connection(s.getsockname()); print('ok')"]);
    assert_eq!(out.stdout, b"ok\n", "{}", stderr(&out));
}

#[test]
fn nothing_is_left_behind_when_the_process_exits() {
    // Row 20 across process boundaries: `paddock run` exits right after its
    // jail, so everything must be released before it does.
    let doctor = paddock(&["doctor", "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&doctor.stdout).expect("doctor JSON");
    let bases: Vec<std::path::PathBuf> = info["cgroups"]["controllers"]
        .as_array()
        .expect("controllers")
        .iter()
        .filter_map(|entry| entry[1]["Ok"].as_str().map(std::path::PathBuf::from))
        .collect();
    assert!(
        !bases.is_empty() || !limit_args().is_empty(),
        "no cgroup bases reported"
    );
    let mut args = vec!["run"];
    args.extend(limit_args());
    args.extend(["--timeout", "200ms", "--", "sh", "-c", "sleep 5 & sleep 5"]);
    let mut pids = Vec::new();
    for _ in 0..5 {
        let child = Command::new(env!("CARGO_BIN_EXE_paddock"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        pids.push(child.id());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(124));
    }
    for base in &bases {
        for entry in std::fs::read_dir(base).expect("cgroup base").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            for pid in &pids {
                assert!(
                    !name.starts_with(&format!("jail-{pid}-")),
                    "{} left behind by paddock run",
                    entry.path().display()
                );
            }
        }
    }
}

/// An HTTP server on the host's 127.0.0.1 answering every request with
/// "hello <request line>"; returns its port.
fn http_upstream() -> u16 {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = format!("hello {}", request_line.trim_end());
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn net_allow_reaches_a_trusted_upstream_and_the_json_has_the_egress_log() {
    let port = http_upstream();
    let port_arg = port.to_string();
    let url = format!("http://up.test:{port}/from-the-jail");
    let out = run(
        &[
            "--json",
            "--net",
            "allow:up.test",
            "--allow-port",
            &port_arg,
            "--trust-host",
            "up.test=127.0.0.1",
        ],
        &["curl", "-sS", &url],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value["stdout"], "hello GET /from-the-jail HTTP/1.1");
    let records = value["egress"]["records"].as_array().expect("egress records");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "allowed");
    assert_eq!(records[0]["host"], "up.test");
    assert_eq!(records[0]["address"], "127.0.0.1");
    assert_eq!(records[0]["status"], 200);
    assert!(records[0]["bytes_down"].as_u64().unwrap_or(0) > 0);
    // Other modes have no egress log.
    let out = run(&["--json"], &["true"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(value["egress"].is_null());
}

#[test]
fn net_allow_refusals_are_explained_on_stderr() {
    let port = http_upstream();
    let port_arg = port.to_string();
    // Without --trust-host nothing private is reachable, even by name.
    let out = run(
        &["--net", "allow:localhost", "--allow-port", &port_arg],
        &[
            "sh",
            "-c",
            &format!("curl -s -o /dev/null -o /dev/null -w '%{{http_code}}' --noproxy '' http://localhost:{port}/ http://other.test:{port}/"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403403");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "paddock: egress refused: GET localhost:{port}: localhost resolves only to non-public addresses"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "paddock: egress refused: GET other.test:{port}: other.test is not on this jail's allowlist"
        )),
        "{err}"
    );
}

/// A disk no jail has ever set an I/O limit on (a new loop device): its
/// I/O is still counted in the result's stats. On cgroup v1 the kernel
/// counts per-cgroup bytes only once a disk's throttling layer exists, so
/// the engine sets it up at start.
#[test]
fn io_on_a_disk_never_limited_is_counted() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test makes a loop device; it runs in the root suite"
    );
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    let mount = dir.path().join("mnt");
    std::fs::create_dir(&mount).unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh").args(["-c", script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // A loop index that has never existed, so its queue is brand new.
    let index = (64..4096)
        .find(|n| !std::path::Path::new(&format!("/sys/block/loop{n}")).exists())
        .unwrap();
    let device = format!("/dev/loop{index}");
    sh(&format!("truncate -s 64M {0} && mkfs.ext4 -q {0}", image.display()));
    sh(&format!("losetup {device} {}", image.display()));
    let mounted = Command::new("mount")
        .arg(&device)
        .arg(&mount)
        .status()
        .unwrap()
        .success();
    let out = mounted.then(|| {
        let rw = mount.display().to_string();
        run(
            &["--json", "--rw", &rw],
            &[
                "dd",
                "if=/dev/zero",
                "of=/workspace/blob",
                "bs=1M",
                "count=4",
                "oflag=direct",
                "status=none",
            ],
        )
    });
    let _ = Command::new("umount").arg(&mount).status();
    let _ = Command::new("losetup").args(["-d", &device]).status();
    let out = out.expect("mounting the loop device");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stderr(&out)));
    assert_eq!(result["exit_code"], 0, "{result}");
    let written = result["stats"]["io_write_bytes"].as_u64().unwrap_or(0);
    assert!(
        written >= 4 << 20,
        "4 MiB written directly, {written} counted: {result}"
    );
}

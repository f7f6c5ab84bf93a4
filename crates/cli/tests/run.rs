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
    let doctor = paddock(&["doctor"]);
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

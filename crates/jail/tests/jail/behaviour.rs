//! What callers rely on: results, exit statuses, streams, binds, events,
//! the handle (kill, freeze, stats, drop) and error reporting.

use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::{ExitStatus, JailConfig, JailError, JailEvent, NetworkMode, SeccompLevel, SetupStep, Stdin};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        test("exit_code_and_signal_are_reported", exit_code_and_signal_are_reported),
        test("missing_command_is_an_exec_error", missing_command_is_an_exec_error),
        test(
            "missing_workdir_names_the_failed_step",
            missing_workdir_names_the_failed_step,
        ),
        test("stdin_bytes_reach_the_command", stdin_bytes_reach_the_command),
        test("stdin_pipe_streams_to_the_command", stdin_pipe_streams_to_the_command),
        test(
            "environment_is_exactly_the_configured_one",
            environment_is_exactly_the_configured_one,
        ),
        test(
            "readonly_workspace_and_writable_output",
            readonly_workspace_and_writable_output,
        ),
        test(
            "binds_of_files_and_through_symlinks_and_sized_tmp",
            binds_of_files_and_through_symlinks_and_sized_tmp,
        ),
        test("workdir_defaults_to_workspace", workdir_defaults_to_workspace),
        test("loopback_mode_allows_local_servers", loopback_mode_allows_local_servers),
        test("none_mode_has_no_interface_up", none_mode_has_no_interface_up),
        test(
            "strict_seccomp_refuses_inet_sockets",
            strict_seccomp_refuses_inet_sockets,
        ),
        test(
            "stream_events_are_ordered_with_one_terminal_event",
            stream_events_are_ordered_with_one_terminal_event,
        ),
        test(
            "stream_reports_setup_failure_as_terminal_event",
            stream_reports_setup_failure_as_terminal_event,
        ),
        test(
            "kill_ends_the_jail_without_timeout_flag",
            kill_ends_the_jail_without_timeout_flag,
        ),
        limits_test(
            "freeze_stops_and_thaw_resumes_the_jail",
            freeze_stops_and_thaw_resumes_the_jail,
        ),
        limits_test("kill_works_on_a_frozen_jail", kill_works_on_a_frozen_jail),
        limits_test("stats_report_cpu_memory_and_io", stats_report_cpu_memory_and_io),
        test(
            "megabytes_of_output_are_captured_byte_for_byte",
            megabytes_of_output_are_captured_byte_for_byte,
        ),
        limits_test(
            "jails_start_in_their_cgroup_and_the_zygote_stays_out",
            jails_start_in_their_cgroup_and_the_zygote_stays_out,
        ),
        limits_test(
            "io_write_limit_throttles_direct_writes",
            io_write_limit_throttles_direct_writes,
        ),
        test("dropping_a_handle_kills_the_jail", dropping_a_handle_kills_the_jail),
        test(
            "limits_without_a_usable_controller_fail_clearly",
            limits_without_a_usable_controller_fail_clearly,
        ),
        test("many_concurrent_jails", many_concurrent_jails),
        test(
            "per_user_kernel_queues_and_ptys_are_capped",
            per_user_kernel_queues_and_ptys_are_capped,
        ),
        test(
            "landlock_status_matches_what_a_jail_sees",
            landlock_status_matches_what_a_jail_sees,
        ),
        test(
            "stream_backpressure_keeps_every_byte_in_order",
            stream_backpressure_keeps_every_byte_in_order,
        ),
        test(
            "stream_deadline_holds_while_the_consumer_stalls",
            stream_deadline_holds_while_the_consumer_stalls,
        ),
        test(
            "invalid_configuration_is_rejected_before_spawn",
            invalid_configuration_is_rejected_before_spawn,
        ),
    ]
}

fn exit_code_and_signal_are_reported() -> Result<(), Failed> {
    let result = run(sh("exit 42"))?;
    check(result.status == ExitStatus::Code(42), format!("{:?}", result.status))?;
    let result = run(sh("kill -TERM $$"))?;
    check(
        result.status == ExitStatus::Signal(libc::SIGTERM),
        format!("{:?}", result.status),
    )?;
    check(result.exit_code() == 128 + libc::SIGTERM, "exit code of a signal")
}

fn missing_command_is_an_exec_error() -> Result<(), Failed> {
    match run(command("definitely-not-a-command", &[])) {
        Err(JailError::Exec { command: name, detail }) => {
            check(name == "definitely-not-a-command", name)?;
            check(detail.contains("No such file"), detail)
        }
        other => Err(format!("expected an exec error, got {other:?}").into()),
    }
}

fn missing_workdir_names_the_failed_step() -> Result<(), Failed> {
    let mut config = sh("true");
    config.workdir = Some("/nonexistent".into());
    match run(config) {
        Err(JailError::Setup { step, detail }) => {
            check(step == SetupStep::Workdir, format!("{step}"))?;
            check(detail.contains("/nonexistent"), detail)
        }
        other => Err(format!("expected a setup error, got {other:?}").into()),
    }
}

fn stdin_bytes_reach_the_command() -> Result<(), Failed> {
    let mut config = sh("tr a-z A-Z");
    config.stdin = Stdin::Bytes(b"hello jail".to_vec());
    check(run_ok(config)? == "HELLO JAIL", "stdin bytes")?;
    // Default stdin is empty, never the host's.
    check(run_ok(sh("cat; echo end"))? == "end\n", "stdin not empty")
}

fn stdin_pipe_streams_to_the_command() -> Result<(), Failed> {
    block_on(async {
        use tokio::io::AsyncWriteExt;
        let mut config = sh("read line; echo got:$line");
        config.stdin = Stdin::Pipe;
        let mut handle = engine().spawn(config).await?;
        let mut stdin = handle.take_stdin().ok_or("no stdin pipe")?;
        stdin.write_all(b"ping\n").await?;
        drop(stdin);
        let result = handle.wait().await?;
        check(result.stdout.text() == "got:ping\n", result.stdout.text().into_owned())
    })
}

fn environment_is_exactly_the_configured_one() -> Result<(), Failed> {
    // SAFETY: set before any jail reads it; tests only read the variable.
    unsafe { std::env::set_var("PADDOCK_HOST_SECRET", "leak") };
    let config = sh("env | sort").env("GREETING", "hi there");
    let out = run_ok(config)?;
    check(!out.contains("PADDOCK_HOST_SECRET"), "host environment inherited")?;
    check(out.contains("GREETING=hi there\n"), out.clone())?;
    check(out.contains("PATH=/usr/local/sbin:"), out)
}

fn readonly_workspace_and_writable_output() -> Result<(), Failed> {
    let source = tempdir();
    let output = tempdir();
    std::fs::write(source.path().join("input.txt"), "data")?;
    let config = sh("cat input.txt > /output/copy.txt; echo x > /workspace/new 2>/dev/null && echo WROTE; pwd")
        .workspace_ro(source.path())
        .output(output.path());
    let out = run_ok(config)?;
    check(
        out.trim() == "/workspace",
        format!("wrote into a read-only workspace or wrong cwd: {out}"),
    )?;
    check(
        std::fs::read_to_string(output.path().join("copy.txt"))? == "data",
        "output not written",
    )?;
    check(!source.path().join("new").exists(), "read-only workspace modified")
}

fn binds_of_files_and_through_symlinks_and_sized_tmp() -> Result<(), Failed> {
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("real"))?;
    std::fs::write(dir.path().join("real/inside.txt"), "through")?;
    std::fs::write(dir.path().join("single.txt"), "file")?;
    // An absolute symlink in the source path resolves on the host.
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link"))?;
    let mut config = sh(
        "cat /data/inside.txt /one.txt; echo; df -k /tmp /dev/shm | awk 'NR>1 {print $2}' | tr '\\n' ' '; echo; \
         (echo x > /data/w) 2>/dev/null && echo WROTE; true",
    )
    .bind(dir.path().join("link"), "/data", false)
    .bind(dir.path().join("single.txt"), "/one.txt", false);
    config.limits.tmp_size_bytes = 8 << 20;
    config.limits.shm_size_bytes = 2 << 20;
    let out = run_ok(config)?;
    let mut lines = out.lines();
    check(lines.next() == Some("throughfile"), format!("bind contents: {out:?}"))?;
    check(
        lines.next().map(str::trim) == Some("8192 2048"),
        format!("tmpfs sizes: {out:?}"),
    )?;
    check(lines.next().is_none(), format!("wrote into a read-only bind: {out:?}"))
}

fn workdir_defaults_to_workspace() -> Result<(), Failed> {
    let ws = tempdir();
    let out = run_ok(sh("pwd; echo $HOME; touch made").workspace_rw(ws.path()))?;
    check(out == "/workspace\n/workspace\n", out)?;
    check(
        ws.path().join("made").exists(),
        "file not persisted to the rw workspace",
    )
}

fn loopback_mode_allows_local_servers() -> Result<(), Failed> {
    let mut config = python(
        r#"
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
port = srv.getsockname()[1]
def serve():
    c, _ = srv.accept(); c.sendall(b"pong"); c.close()
threading.Thread(target=serve).start()
cli = socket.create_connection(("127.0.0.1", port)); print(cli.recv(4).decode())
"#,
    );
    config.network = NetworkMode::Loopback;
    check(run_ok(config)?.trim() == "pong", "loopback")
}

fn none_mode_has_no_interface_up() -> Result<(), Failed> {
    let out = run_ok(python(
        "import socket\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', 0)); s.listen(); c = socket.create_connection(s.getsockname(), timeout=1); print('UP')\nexcept OSError as e:\n    print('DOWN', e.errno)",
    ))?;
    check(out.starts_with("DOWN"), out)
}

fn strict_seccomp_refuses_inet_sockets() -> Result<(), Failed> {
    let code = "import socket, errno\nsocket.socketpair()\ntry:\n    socket.socket(); print('INET')\nexcept OSError as e:\n    print(errno.errorcode[e.errno])";
    let mut strict = python(code);
    strict.seccomp = SeccompLevel::Strict;
    check(run_ok(strict)?.trim() == "EPERM", "strict allowed an inet socket")?;
    check(
        run_ok(python(code))?.trim() == "INET",
        "standard refused an inet socket",
    )
}

/// The bytes of one stream among a stream's events, in order.
fn streamed(events: &[JailEvent], stdout: bool) -> String {
    let mut bytes = Vec::new();
    for event in events {
        match event {
            JailEvent::Stdout(chunk) if stdout => bytes.extend_from_slice(chunk),
            JailEvent::Stderr(chunk) if !stdout => bytes.extend_from_slice(chunk),
            _ => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every event of a streamed jail, until the stream ends.
fn stream_all(config: JailConfig, stats_every: Duration) -> Vec<JailEvent> {
    block_on(async {
        let mut rx = engine().stream(config, stats_every).await;
        let mut events = Vec::new();
        while let Some(event) = rx.recv().await {
            events.push(event);
        }
        events
    })
}

fn stream_events_are_ordered_with_one_terminal_event() -> Result<(), Failed> {
    let events = stream_all(
        sh("echo one; echo two >&2; sleep 0.3; printf three"),
        Duration::from_millis(50),
    );
    check(
        matches!(events.first(), Some(JailEvent::Started { pid }) if *pid > 0),
        "first event is not Started",
    )?;
    let terminal = events
        .iter()
        .filter(|e| matches!(e, JailEvent::Completed(_) | JailEvent::Failed(_)))
        .count();
    check(terminal == 1, format!("{terminal} terminal events"))?;
    let Some(JailEvent::Completed(result)) = events.last() else {
        return Err("last event is not Completed".into());
    };
    check(result.stdout.text() == "one\nthree", "captured stdout")?;
    let stdout = streamed(&events, true);
    check(stdout == "one\nthree", format!("{stdout:?}"))?;
    let stderr = streamed(&events, false);
    check(stderr == "two\n", format!("{stderr:?}"))?;
    if has_limits() {
        check(
            events.iter().any(|e| matches!(e, JailEvent::Stats(_))),
            "no stats events",
        )?;
    }
    Ok(())
}

fn stream_reports_setup_failure_as_terminal_event() -> Result<(), Failed> {
    let events = stream_all(command("no-such-program", &[]), Duration::from_secs(1));
    check(
        matches!(events.last(), Some(JailEvent::Failed(JailError::Exec { .. }))),
        format!("{events:?}"),
    )
}

fn kill_ends_the_jail_without_timeout_flag() -> Result<(), Failed> {
    block_on(async {
        let handle = engine().spawn(sh("sleep 60")).await?;
        let control = handle.control();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = control.kill();
        });
        expect_killed(handle).await
    })
}

fn freeze_stops_and_thaw_resumes_the_jail() -> Result<(), Failed> {
    block_on(async { freeze_thaw_round_trip(engine().spawn(python("while True: pass")).await?).await })
}

fn kill_works_on_a_frozen_jail() -> Result<(), Failed> {
    block_on(async {
        let handle = engine().spawn(sh("sleep 60")).await?;
        handle.freeze()?;
        handle.kill()?;
        expect_killed(handle).await
    })
}

fn stats_report_cpu_memory_and_io() -> Result<(), Failed> {
    let output = tempdir();
    let config = sh(
        "python3 -c 'import time\nbuf = bytearray(64 << 20)\nfor i in range(0, len(buf), 4096): buf[i] = 1\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass' && dd if=/dev/zero of=/output/blob bs=1M count=4 oflag=direct status=none",
    )
    .output(output.path());
    let result = run(config)?;
    check(
        result.exit_code() == 0,
        format!("{:?} {}", result.status, result.stderr.text()),
    )?;
    let stats = result.stats.ok_or("no stats")?;
    check(
        stats.memory_peak_bytes >= 64 << 20,
        format!("peak {}", stats.memory_peak_bytes),
    )?;
    check(stats.cpu_usage_usec >= 200_000, format!("cpu {}", stats.cpu_usage_usec))?;
    check(
        stats.io_write_bytes >= 4 << 20,
        format!("io write {}", stats.io_write_bytes),
    )
}

/// Streams past a megabyte move to a bulk reader mid-stream: nothing may be
/// lost, reordered or duplicated at the hand-over, on either stream.
fn megabytes_of_output_are_captured_byte_for_byte() -> Result<(), Failed> {
    let mut config = sh("seq 1 300000 >&2 & seq 1 900000; wait");
    config.limits.output_cap_bytes = 16 << 20;
    let result = run(config)?;
    check(result.exit_code() == 0, format!("{:?}", result.status))?;
    let expected = |n: u32| (1..=n).map(|i| format!("{i}\n")).collect::<String>();
    for (name, output, n) in [("stdout", &result.stdout, 900_000), ("stderr", &result.stderr, 300_000)] {
        let want = expected(n);
        check(
            !output.truncated && output.total_bytes == want.len() as u64,
            format!("{name}: {} of {} bytes", output.total_bytes, want.len()),
        )?;
        check(output.bytes == want.as_bytes(), format!("{name} differs"))?;
    }
    Ok(())
}

/// A jail's processes are in its cgroup from their first instruction (the
/// zygote clones them there, or the init joins it before anything else),
/// and the zygote, which moves itself in and out around each clone on v1
/// as root, is back in the engine's own cgroups afterwards.
fn jails_start_in_their_cgroup_and_the_zygote_stays_out() -> Result<(), Failed> {
    let own = std::fs::read_to_string("/proc/self/cgroup")?;
    for _ in 0..3 {
        let result = run(sh("i=0; while [ $i -lt 20 ]; do sleep 0.01 & i=$((i+1)); done; wait"))?;
        check(result.exit_code() == 0, result.stderr.text().into_owned())?;
        let stats = result.stats.ok_or("no stats")?;
        // The init, sh and 20 sleeps were counted in the jail's cgroup.
        check(stats.memory_peak_bytes > 0, format!("{stats:?}"))?;
    }
    let handle = block_on(engine().spawn(sh("sleep 5")))?;
    let running = handle.stats().ok_or("no stats")?;
    check(
        running.pids_current >= 2,
        format!("pids in the jail's cgroup: {running:?}"),
    )?;
    drop(handle);
    // With a block of ids per jail (root mode) the zygote is the only child
    // of the process the engine forked, which gave it a PID namespace;
    // otherwise that process is the zygote (and its children are jails).
    let forked = engine().zygote_pid();
    let mut zygotes = vec![forked];
    if engine().info().jail_ids.is_some() {
        let children = std::fs::read_to_string(format!("/proc/{forked}/task/{forked}/children"))?;
        zygotes.extend(children.split_whitespace().filter_map(|pid| pid.parse::<i32>().ok()));
    }
    for pid in zygotes {
        // The pool refills meanwhile, each pre-created jail carried in and
        // out: once it is full the zygote must be home.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
            if cgroup == own {
                break;
            }
            check(
                std::time::Instant::now() < deadline,
                format!("zygote {pid} is in\n{cgroup}\nthe engine in\n{own}"),
            )?;
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

fn io_write_limit_throttles_direct_writes() -> Result<(), Failed> {
    let output = tempdir();
    let mut config = sh("dd if=/dev/zero of=/output/f bs=1M count=3 oflag=direct status=none").output(output.path());
    config.limits.io_write_bps = Some(1 << 20);
    let result = run(config)?;
    check(result.exit_code() == 0, result.stderr.text().into_owned())?;
    // 3 MiB at 1 MiB/s cannot finish in much under 2 s (the first second's
    // budget is available at once); unthrottled it takes milliseconds.
    check(
        result.duration >= Duration::from_millis(1500),
        format!("took {:?}", result.duration),
    )
}

fn dropping_a_handle_kills_the_jail() -> Result<(), Failed> {
    let pid = block_on(async {
        let handle = engine().spawn(sh("sleep 60")).await?;
        Ok::<_, JailError>(handle.pid())
    })?;
    // The init is gone (a reaped process has no /proc entry).
    std::thread::sleep(Duration::from_millis(50));
    check(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "jail survived its handle",
    )
}

fn limits_without_a_usable_controller_fail_clearly() -> Result<(), Failed> {
    let info = engine().info();
    let missing = info.cgroups.controllers.iter().find(|(_, c)| c.is_err());
    let Some((controller, reason)) = missing else {
        // Everything is usable here; the error path is covered by the rootless
        // run without delegation (see .ci/run) and by the cgroup unit tests.
        let mut config = sh("true");
        config.limits.memory_bytes = Some(64 << 20);
        return run_ok(config).map(drop);
    };
    let mut config = sh("true");
    config.limits = paddock_jail::Limits::unlimited();
    match controller {
        paddock_jail::Controller::Memory => config.limits.memory_bytes = Some(64 << 20),
        paddock_jail::Controller::Cpu => config.limits.cpu_percent = Some(50),
        paddock_jail::Controller::Pids => config.limits.pids = Some(10),
        paddock_jail::Controller::Io => config.limits.io_read_bps = Some(1 << 20),
        paddock_jail::Controller::Freezer => return Ok(()),
    }
    match run(config) {
        Err(JailError::LimitUnavailable { reason: got, .. }) => check(&Err(got.clone()) == reason, got),
        other => Err(format!("a limit without its controller ran: {other:?}").into()),
    }
}

fn many_concurrent_jails() -> Result<(), Failed> {
    block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..32 {
            set.spawn(async move { (i, engine().run(sh(&format!("echo {i}"))).await) });
        }
        while let Some(joined) = set.join_next().await {
            let (i, result) = joined?;
            let result = result?;
            check(result.stdout.text() == format!("{i}\n"), "wrong output")?;
        }
        Ok(())
    })
}

fn per_user_kernel_queues_and_ptys_are_capped() -> Result<(), Failed> {
    // Pending signals and message queues are counted per uid across the
    // host, ptys per devpts instance: a jail gets small caps of its own.
    let out = run_ok(python(
        r#"
import pty
limits = open("/proc/self/limits").read()
for name, value in (("Max pending signals", "1024"), ("Max msgqueue size", "262144")):
    line = next(l for l in limits.splitlines() if l.startswith(name))
    assert line.split()[-3] == value, line
opened = []
try:
    for _ in range(300):
        opened.append(pty.openpty())
except OSError:
    pass
print(len(opened))
"#,
    ))?;
    let ptys: usize = out.trim().parse().map_err(|_| format!("unexpected output {out:?}"))?;
    check(ptys <= 256, format!("{ptys} ptys opened, more than devpts max=256"))
}

fn landlock_status_matches_what_a_jail_sees() -> Result<(), Failed> {
    // With Landlock's signal scoping (ABI 6 and later) a jailed process
    // cannot even probe its init with kill(1, 0), which is otherwise allowed
    // (same uid); so what the engine reports must match what a jail meets.
    let abi = engine().info().landlock_abi;
    let out = run_ok(python(
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.kill(1, 0), ctypes.get_errno())",
    ))?;
    match abi {
        Some(version) if version >= 6 => check(
            out.trim() == "-1 1",
            format!("ABI {version} but kill(1, 0) gave {out:?}"),
        ),
        Some(_) => Ok(()),
        None => check(
            out.trim() == "0 0",
            format!("no Landlock reported, but kill(1, 0) gave {out:?}"),
        ),
    }
}

fn stream_backpressure_keeps_every_byte_in_order() -> Result<(), Failed> {
    // Far more lines than the stream buffers: the jail is paused while the
    // consumer catches up, and nothing is lost or reordered.
    let events = stream_all(sh("seq 1 100000"), Duration::from_secs(5));
    let stdout = streamed(&events, true);
    let lines: Vec<&str> = stdout.lines().collect();
    check(lines.len() == 100_000, format!("{} lines", lines.len()))?;
    check(
        lines.iter().enumerate().all(|(i, l)| *l == (i + 1).to_string()),
        "lines out of order",
    )?;
    check(
        matches!(events.last(), Some(JailEvent::Completed(r)) if r.exit_code() == 0),
        "no Completed",
    )
}

fn stream_deadline_holds_while_the_consumer_stalls() -> Result<(), Failed> {
    // A jail printing forever and a consumer that does not read: the
    // stream's memory stays bounded (the jail waits on its pipe) and the
    // deadline still ends the jail on time.
    block_on(async {
        let mut config = sh("yes");
        config.limits.timeout = Some(Duration::from_millis(500));
        let mut rx = engine().stream(config, Duration::from_secs(5)).await;
        // The consumer stalls well past the deadline: a jail held hostage
        // by it would run the whole stall (3 s), a jail ended on time well
        // under it, with room for a busy host's scheduling.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let mut lines = 0usize;
        let mut completed = None;
        while let Some(event) = rx.recv().await {
            match event {
                JailEvent::Stdout(_) => lines += 1,
                JailEvent::Completed(result) => completed = Some(result),
                _ => {}
            }
        }
        let result = completed.ok_or("no Completed event")?;
        check(result.timed_out, "deadline not enforced while the consumer stalled")?;
        check(
            result.duration < Duration::from_millis(2000),
            format!("the jail ran {:?}, past its 500 ms deadline", result.duration),
        )?;
        // A stalled consumer bounds what the jail could produce: the channel,
        // the queue and one read, not half a second of `yes`.
        check(lines < 20_000, format!("{lines} lines buffered for a stalled consumer"))
    })
}

fn invalid_configuration_is_rejected_before_spawn() -> Result<(), Failed> {
    let bad = [
        JailConfig::new("", Vec::<String>::new()),
        sh("true").bind("/nonexistent-paddock", "/data", false),
        sh("true").bind("/tmp", "/usr/lib/evil", true),
        sh("true").bind("/tmp", "relative", true),
    ];
    for config in bad {
        match run(config) {
            Err(JailError::InvalidConfig(_)) => {}
            other => return Err(format!("accepted: {other:?}").into()),
        }
    }
    Ok(())
}

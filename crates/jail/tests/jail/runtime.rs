//! Runtime jails: many processes started through the init, with the
//! jail's policy, on pipes or a terminal of the jail's devpts; signals,
//! connections to the jail's loopback, and the end of everything with the
//! jail.

use std::io::Write;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use paddock_jail::{
    resize_terminal, ExitStatus, JailConfig, JailError, JailExecutor, JailHandle, ProcessIo, ProcessSpec,
    StartedProcess, TerminalSize,
};
use std::os::fd::{AsRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        test(
            "runtime_processes_run_at_once_with_their_own_streams",
            runtime_processes_run_at_once_with_their_own_streams,
        ),
        test(
            "runtime_processes_have_no_capability_and_no_leaked_descriptor",
            runtime_processes_have_no_capability_and_no_leaked_descriptor,
        ),
        test(
            "runtime_processes_have_the_jails_rlimits_and_landlock_scope",
            runtime_processes_have_the_jails_rlimits_and_landlock_scope,
        ),
        test(
            "runtime_missing_command_is_an_exec_error",
            runtime_missing_command_is_an_exec_error,
        ),
        test(
            "runtime_terminal_has_a_size_and_a_pts",
            runtime_terminal_has_a_size_and_a_pts,
        ),
        test(
            "runtime_signal_ends_a_process_group",
            runtime_signal_ends_a_process_group,
        ),
        test(
            "runtime_connect_reaches_a_jailed_server",
            runtime_connect_reaches_a_jailed_server,
        ),
        test("runtime_kill_ends_every_process", runtime_kill_ends_every_process),
    ]
}

fn runtime_config() -> JailConfig {
    let mut config = JailConfig::new("/bin/true", Vec::<String>::new());
    config.limits = base_limits();
    config.limits.timeout = None;
    config
}

async fn start_runtime() -> Result<(JailHandle, JailExecutor), Failed> {
    engine()
        .spawn_runtime(runtime_config())
        .await
        .map_err(|e| format!("runtime jail: {e}").into())
}

fn spec(command: &str, args: &[&str]) -> ProcessSpec {
    ProcessSpec {
        command: command.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        workdir: None,
        terminal: None,
    }
}

/// Reads a piped process's stdout and stderr to their end and waits.
async fn finish(process: StartedProcess) -> Result<(String, String, ExitStatus), Failed> {
    let ProcessIo::Pipes {
        stdin,
        mut stdout,
        mut stderr,
    } = process.io
    else {
        return Err("expected pipes".into());
    };
    drop(stdin);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    a?;
    b?;
    let status = tokio::time::timeout(Duration::from_secs(20), process.exit)
        .await
        .map_err(|_| "no exit")?
        .map_err(|_| "exit lost")?;
    Ok((
        String::from_utf8_lossy(&out).into(),
        String::from_utf8_lossy(&err).into(),
        status,
    ))
}

fn runtime_processes_run_at_once_with_their_own_streams() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        // A reader that waits for its input, and others that finish while
        // it waits: they run at once, each with its own streams.
        let cat = executor.start(spec("cat", &[])).await?;
        let mut outputs = Vec::new();
        for i in 0..5 {
            let mut process = spec("sh", &["-c", "echo out $0 $$; echo err $0 >&2; exit $0"]);
            process.args.push(i.to_string());
            outputs.push(finish(executor.start(process).await?).await?);
        }
        for (i, (out, err, status)) in outputs.iter().enumerate() {
            if !out.starts_with(&format!("out {i} ")) || err != &format!("err {i}\n") {
                return Err(format!("process {i}: stdout {out:?}, stderr {err:?}").into());
            }
            if *status != ExitStatus::Code(i as i32) {
                return Err(format!("process {i}: {status:?}").into());
            }
        }
        let ProcessIo::Pipes {
            mut stdin,
            mut stdout,
            stderr,
        } = cat.io
        else {
            return Err("expected pipes".into());
        };
        stdin.write_all(b"hello from the host\n").await?;
        drop(stdin);
        let mut echoed = String::new();
        stdout.read_to_string(&mut echoed).await?;
        drop(stderr);
        if echoed != "hello from the host\n" {
            return Err(format!("cat echoed {echoed:?}").into());
        }
        let status = cat.exit.await.map_err(|_| "exit lost")?;
        if status != ExitStatus::Code(0) {
            return Err(format!("cat: {status:?}").into());
        }
        // Environment and working directory are the process's own.
        let mut process = spec("sh", &["-c", "echo $GREETING; pwd"]);
        process.env = vec![("GREETING".into(), "hi".into())];
        process.workdir = Some("/tmp".into());
        let (out, _, _) = finish(executor.start(process).await?).await?;
        if out != "hi\n/tmp\n" {
            return Err(format!("env and cwd: {out:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_processes_have_no_capability_and_no_leaked_descriptor() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        let (out, _, status) = finish(
            executor
                .start(spec(
                    "sh",
                    &["-c", "grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; ls /proc/self/fd"],
                ))
                .await?,
        )
        .await?;
        if status != ExitStatus::Code(0) {
            return Err(format!("status {status:?}: {out}").into());
        }
        for line in [
            "CapEff:\t0000000000000000",
            "CapPrm:\t0000000000000000",
            "CapBnd:\t0000000000000000",
            "CapAmb:\t0000000000000000",
            "NoNewPrivs:\t1",
            "Seccomp:\t2",
        ] {
            if !out.lines().any(|l| l == line) {
                return Err(format!("missing {line:?} in:\n{out}").into());
            }
        }
        // 0, 1, 2 and the descriptor `ls` opens for the directory: nothing
        // of the init's (its request socket, signalfd, report pipe).
        let fds: Vec<&str> = out.lines().filter(|l| l.chars().all(|c| c.is_ascii_digit())).collect();
        if fds != ["0", "1", "2", "3"] {
            return Err(format!("descriptors in a process: {fds:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_processes_have_the_jails_rlimits_and_landlock_scope() -> Result<(), Failed> {
    // The init takes the rlimits on itself and its processes inherit them;
    // each process enforces the jail's Landlock rules, whose signal scoping
    // (ABI 6 and later) keeps it from even probing the init, which stays
    // outside their domain.
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        let script = "ulimit -n; if kill -0 1 2>/dev/null; then echo init=signalled; else echo init=refused; fi";
        let (out, err, status) = finish(executor.start(spec("sh", &["-c", script])).await?).await?;
        if status != ExitStatus::Code(0) {
            return Err(format!("status {status:?}: {out} {err}").into());
        }
        let expected_files = runtime_config().limits.max_open_files.to_string();
        if out.lines().next() != Some(expected_files.as_str()) {
            return Err(format!("open files limit: {out:?}, expected {expected_files}").into());
        }
        let expected_signal = match engine().info().landlock_abi {
            Some(abi) if abi >= 6 => "init=refused",
            Some(_) => return Ok(handle.kill()?),
            None => "init=signalled",
        };
        if !out.lines().any(|l| l == expected_signal) {
            return Err(format!("expected {expected_signal}: {out:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_missing_command_is_an_exec_error() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        match executor.start(spec("no-such-program", &[])).await {
            Err(JailError::Exec { command, .. }) if command == "no-such-program" => {}
            other => return Err(format!("expected an exec error, got {other:?}").into()),
        }
        // The jail still serves.
        let (out, _, _) = finish(executor.start(spec("echo", &["still here"])).await?).await?;
        if out != "still here\n" {
            return Err(format!("after a failed exec: {out:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

/// Reads a terminal until `pattern` appears (or 10 s pass).
async fn read_terminal_until(master: &AsyncFd<OwnedFd>, seen: &mut String, pattern: &str) -> Result<(), Failed> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(pattern) {
        let mut guard = tokio::time::timeout_at(deadline, master.readable())
            .await
            .map_err(|_| format!("no {pattern:?} on the terminal; saw {seen:?}"))??;
        let mut buf = [0u8; 4096];
        let read = guard.try_io(|fd| {
            // SAFETY: reading into a local buffer from the master we own.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match read {
            Ok(Ok(0)) => return Err(format!("terminal closed before {pattern:?}; saw {seen:?}").into()),
            Ok(Ok(n)) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Ok(Err(e)) => return Err(format!("terminal read: {e}; saw {seen:?}").into()),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

fn write_terminal(master: &AsyncFd<OwnedFd>, text: &str) -> Result<(), Failed> {
    let mut file = std::fs::File::from(master.get_ref().try_clone()?);
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn runtime_terminal_has_a_size_and_a_pts() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        let mut process = spec("sh", &[]);
        process.terminal = Some(TerminalSize { cols: 80, rows: 24 });
        let started = executor.start(process).await?;
        let ProcessIo::Terminal(master) = &started.io else {
            return Err("expected a terminal".into());
        };
        let mut seen = String::new();
        write_terminal(master, "stty size; tty\n")?;
        read_terminal_until(master, &mut seen, "/dev/pts/").await?;
        if !seen.contains("24 80") {
            return Err(format!("initial size missing: {seen:?}").into());
        }
        resize_terminal(master.get_ref(), TerminalSize { cols: 120, rows: 40 })?;
        write_terminal(master, "stty size\n")?;
        read_terminal_until(master, &mut seen, "40 120").await?;
        // The shell has the terminal as its controlling terminal.
        write_terminal(master, "exit 7\n")?;
        let status = tokio::time::timeout(Duration::from_secs(10), started.exit)
            .await
            .map_err(|_| "no exit")?
            .map_err(|_| "exit lost")?;
        if status != ExitStatus::Code(7) {
            return Err(format!("terminal shell: {status:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_signal_ends_a_process_group() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        // The shell's child is in the shell's group: both end.
        let sleeper = executor.start(spec("sh", &["-c", "sleep 600; echo survived"])).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        executor.signal(sleeper.pid, libc::SIGTERM).await?;
        let (out, _, status) = tokio::time::timeout(Duration::from_secs(10), finish(sleeper))
            .await
            .map_err(|_| "the group outlived SIGTERM (its stdout stayed open)")??;
        if status != ExitStatus::Signal(libc::SIGTERM) || !out.is_empty() {
            return Err(format!("after SIGTERM: {status:?} {out:?}").into());
        }
        // Only processes the host started can be signalled.
        if executor.signal(1, libc::SIGKILL).await.is_ok() {
            return Err("the init accepted a signal for pid 1".into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_connect_reaches_a_jailed_server() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        let server = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', 8123))\ns.listen()\nprint('listening', flush=True)\nc,_=s.accept()\nc.sendall(b'hello ' + c.recv(100))\nc.close()";
        let started = executor.start(spec("python3", &["-c", server])).await?;
        let ProcessIo::Pipes { mut stdout, .. } = started.io else {
            return Err("expected pipes".into());
        };
        let mut line = [0u8; 10];
        stdout.read_exact(&mut line).await?;
        // Nothing listens on another port: refused, and the jail serves on.
        if executor.connect(8124).await.is_ok() {
            return Err("connected to a port nothing listens on".into());
        }
        let mut stream = executor.connect(8123).await?;
        stream.write_all(b"host").await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        if answer != "hello host" {
            return Err(format!("answer {answer:?}").into());
        }
        handle.kill()?;
        Ok(())
    })
}

fn runtime_kill_ends_every_process() -> Result<(), Failed> {
    block_on(async {
        let (handle, executor) = start_runtime().await?;
        let a = executor.start(spec("sleep", &["60991"])).await?;
        let b = executor.start(spec("sh", &["-c", "sleep 60992 & wait"])).await?;
        if host_processes_with("6099").len() < 2 {
            return Err("the sleeps are not in the host's process table".into());
        }
        handle.kill()?;
        for process in [a, b] {
            let status = tokio::time::timeout(Duration::from_secs(10), process.exit)
                .await
                .map_err(|_| "a process outlived its jail")?
                .map_err(|_| "exit lost")?;
            if status != ExitStatus::Signal(libc::SIGKILL) {
                return Err(format!("after the jail's end: {status:?}").into());
            }
        }
        tokio::time::timeout(Duration::from_secs(5), async {
            while !executor.is_closed() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .map_err(|_| "the executor did not notice the jail's end")?;
        match executor.start(spec("true", &[])).await {
            Err(JailError::Stopped) => {}
            other => return Err(format!("start after the end: {other:?}").into()),
        }
        // Really gone, not only reported so.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !host_processes_with("6099").is_empty() {
            if std::time::Instant::now() > deadline {
                return Err("a process outlived its jail on the host".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(handle);
        Ok(())
    })
}

/// Host pids whose command line contains `marker`.
fn host_processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker) {
            found.push(pid);
        }
    }
    found
}

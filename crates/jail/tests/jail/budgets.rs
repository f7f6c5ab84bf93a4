//! Host-wide kernel budgets a jail shares with the host (threat-model rows
//! 33 and 34), the memfd way round a `noexec` `/tmp` (row 17) and host
//! identity leaks (row 50). Each attack is performed for real from inside
//! jails; removing the named protection makes its test fail.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};
use paddock_jail::{Controller, Engine, JailConfig, JailError, NetworkMode};

use crate::support::*;

pub fn trials() -> Vec<Trial> {
    vec![
        limits_test(
            "row33_tcp_buffers_are_held_to_the_memory_limit",
            row33_tcp_buffers_are_held_to_the_memory_limit,
        ),
        Trial::test(
            "row33_v2_tcp_buffers_are_held_to_the_memory_limit",
            row33_v2_tcp_buffers_are_held_to_the_memory_limit,
        )
        .with_ignored_flag(!v2_memory_usable()),
        test(
            "row34_linux_aio_is_refused_and_the_host_budget_untouched",
            row34_linux_aio_is_refused_and_the_host_budget_untouched,
        ),
        test(
            "row34_git_npm_node_and_python_work_without_aio",
            row34_git_npm_node_and_python_work_without_aio,
        ),
        limits_test(
            "row34_open_files_times_pids_cannot_fill_the_file_table",
            row34_open_files_times_pids_cannot_fill_the_file_table,
        ),
        test(
            "row34_jails_cannot_take_the_hosts_ptys",
            row34_jails_cannot_take_the_hosts_ptys,
        ),
        root_test("row17_memfd_cannot_be_executed", row17_memfd_cannot_be_executed),
        test(
            "row50_boot_identity_and_uevents_are_hidden",
            row50_boot_identity_and_uevents_are_hidden,
        ),
    ]
}

/// Opens TCP connection pairs on the jail's own loopback and queues as much
/// as the kernel takes on each without reading (buffers asked as large as
/// allowed); prints the bytes queued and the pairs made.
const PY_TCP_FILL: &str = r#"
import socket, sys
PAIRS = int(sys.argv[1])
chunk = b"x" * (1 << 20)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 30)  # inherited by accepted sockets
srv.bind(("127.0.0.1", 0))
srv.listen(PAIRS)
pairs, total, error = [], 0, None
for _ in range(PAIRS):
    try:
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)
        c.connect(srv.getsockname())
        s, _ = srv.accept()
    except OSError as e:
        error = e.errno
        break
    c.setblocking(False)
    pairs.append((c, s))
# Several rounds: what the receivers take drains the senders' queues.
for _ in range(3):
    for c, _ in pairs:
        while True:
            try:
                n = c.send(chunk)
            except BlockingIOError:
                break
            except OSError as e:
                error = e.errno
                break
            if n == 0:
                break
            total += n
print(total, len(pairs), error)
"#;

/// Memory limit of the TCP attack.
const TCP_MEMORY_LIMIT: u64 = 64 << 20;

/// Runs the TCP fill in a jail of `engine` limited to [`TCP_MEMORY_LIMIT`]
/// and checks that what it queued stays within twice the limit (memory
/// plus as much in socket buffers on v1), or that the jail was OOM-killed.
fn tcp_fill_is_bounded(engine: &Engine) -> Result<(), Failed> {
    // 64 pairs of 8 MiB send and receive buffers could queue about 1 GiB.
    let mut config = JailConfig::new("python3", ["-c", PY_TCP_FILL, "64"]);
    config.limits = base_limits();
    config.limits.memory_bytes = Some(TCP_MEMORY_LIMIT);
    config.network = NetworkMode::Loopback;
    let result = block_on(engine.run(config))?;
    let out = result.stdout.text();
    let peak = result.stats.map_or(0, |s| s.memory_peak_bytes);
    eprintln!("tcp fill under a 64 MiB limit: {} (memory peak {peak})", out.trim());
    if result.oom_killed {
        return Ok(());
    }
    check(
        result.exit_code() == 0,
        format!("exit {}: {:?}", result.exit_code(), result.stderr.text()),
    )?;
    let queued: u64 = out
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or(format!("no byte count: {out:?}"))?;
    check(
        queued < 2 * TCP_MEMORY_LIMIT,
        format!("{queued} bytes queued in TCP buffers under a {TCP_MEMORY_LIMIT}-byte memory limit"),
    )?;
    // The attack itself worked: it queued something on each side.
    check(queued > 1 << 20, format!("the fill queued almost nothing: {out:?}"))
}

fn row33_tcp_buffers_are_held_to_the_memory_limit() -> Result<(), Failed> {
    tcp_fill_is_bounded(engine())
}

/// Whether the engine forced onto v2 can limit memory (a pure v2 host; on a
/// hybrid host the memory controller is bound to v1).
fn v2_memory_usable() -> bool {
    v2_engine().is_some_and(|engine| {
        engine
            .info()
            .cgroups
            .controllers
            .iter()
            .any(|(c, usable)| *c == Controller::Memory && usable.is_ok())
    })
}

fn row33_v2_tcp_buffers_are_held_to_the_memory_limit() -> Result<(), Failed> {
    tcp_fill_is_bounded(v2_engine().ok_or("no v2 engine")?)
}

fn host_aio_nr() -> Result<u64, Failed> {
    Ok(std::fs::read_to_string("/proc/sys/fs/aio-nr")?.trim().parse()?)
}

fn row34_linux_aio_is_refused_and_the_host_budget_untouched() -> Result<(), Failed> {
    let before = host_aio_nr()?;
    // io_setup asks for every event the host has left (fs.aio-max-nr is
    // global); the other calls must answer ENOSYS as well, so that
    // libraries fall back rather than fail.
    let out = run_ok(python(
        r#"
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return errno.errorcode.get(ctypes.get_errno(), "?") if r == -1 else "OK"
read = lambda: int(open("/proc/sys/fs/aio-nr").read())
left = int(open("/proc/sys/fs/aio-max-nr").read()) - read()
ctx = ctypes.c_ulong(0)
before = read()
results = [
    sc(206, left, ctypes.addressof(ctx)),    # io_setup
    sc(209, ctx.value, 0, 0),                # io_submit
    sc(208, ctx.value, 0, 0, 0, 0),          # io_getevents
    sc(333, ctx.value, 0, 0, 0, 0, 0),       # io_pgetevents
    sc(210, ctx.value, 0, 0),                # io_cancel
]
held = read() - before
results.append(sc(207, ctx.value))           # io_destroy
print(" ".join(results), held)
"#,
    ))?;
    check(
        out.trim() == "ENOSYS ENOSYS ENOSYS ENOSYS ENOSYS ENOSYS 0",
        format!("Linux AIO reachable (results, then events held): {out:?}"),
    )?;
    let after = host_aio_nr()?;
    check(after <= before, format!("host aio-nr went from {before} to {after}"))
}

fn row34_git_npm_node_and_python_work_without_aio() -> Result<(), Failed> {
    let mut config = sh(r#"
set -e
cd /tmp
git init -q repo && cd repo
echo hello > file && git add file
git -c user.name=t -c user.email=t@t commit -q -m first
git log --format=%s
npm --version >/dev/null && echo npm
node -e 'const fs = require("fs"); fs.writeFileSync("/tmp/n", "x"); fs.readFile("/tmp/n", (e, d) => console.log("node", String(d)))'
python3 -c 'import asyncio; print("python", asyncio.run(asyncio.sleep(0, "ok")))'
"#);
    config.limits.pids = config.limits.pids.map(|_| 128);
    let out = run_ok(config)?;
    check(
        out == "first\nnpm\nnode x\npython ok\n",
        format!("a runtime failed: {out:?}"),
    )
}

/// Opens `/dev/null` in `CHILDREN` processes until each is refused, then
/// reports the total and marks `/workspace/full`, and waits to be killed.
const C_FILL_FILES: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int children = atoi(argv[1]);
    int report[2];
    if (pipe(report)) return 1;
    for (int i = 0; i < children; i++) {
        pid_t pid = fork();
        if (pid < 0) { printf("fork failed after %d: %s\n", i, strerror(errno)); children = i; break; }
        if (pid == 0) {
            long n = 0; int err = 0;
            for (;;) {
                if (open("/dev/null", O_RDONLY) < 0) { err = errno; break; }
                n++;
            }
            long msg[2] = { n, err };
            write(report[1], msg, sizeof msg);
            pause();
            _exit(0);
        }
    }
    long total = 0, enfile = 0;
    for (int i = 0; i < children; i++) {
        long msg[2];
        if (read(report[0], msg, sizeof msg) != sizeof msg) return 1;
        total += msg[0];
        if (msg[1] == ENFILE) enfile++;
    }
    printf("%ld %ld\n", total, enfile);
    fflush(stdout);
    close(open("/workspace/full", O_WRONLY | O_CREAT, 0644));
    pause();
    return 0;
}
"#;

fn row34_open_files_times_pids_cannot_fill_the_file_table() -> Result<(), Failed> {
    let file_max: u64 = std::fs::read_to_string("/proc/sys/fs/file-max")?.trim().parse()?;
    let budget = file_max / 2;
    // Admission: limits whose product passes the share are refused.
    let mut over = sh("true");
    over.limits.pids = Some(1024);
    over.limits.max_open_files = budget / 1024 + 1;
    match run(over) {
        Err(JailError::InvalidConfig(_)) => {}
        other => return Err(format!("open files x pids beyond the share admitted: {other:?}").into()),
    }

    // The attack with the largest limits admitted: every process opens
    // files until refused. Hosts whose fs.file-max is effectively unbounded
    // (systemd sets LONG_MAX) have no table to fill: each open file is
    // kernel memory charged to the jail's memory limit instead.
    if file_max > 1 << 32 {
        eprintln!("fs.file-max is {file_max}: no file table to fill, only the admission check applies");
        return Ok(());
    }
    let dir = tempdir();
    compile_c(dir.path(), "fill", C_FILL_FILES)?;
    let work = tempdir();
    let pids = 64;
    let mut config = JailConfig::new("/probe/fill", ["56"])
        .bind(dir.path(), "/probe", false)
        .workspace_rw(work.path());
    config.limits = base_limits();
    config.limits.pids = Some(pids);
    config.limits.max_open_files = budget / u64::from(pids);
    // Every open file is kernel memory charged to the jail.
    config.limits.memory_bytes = Some(2 << 30);
    block_on(async {
        let handle = engine().spawn(config).await?;
        let marker = work.path().join("full");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !marker.exists() {
            check(Instant::now() < deadline, "the jail never filled its files")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let file_nr = std::fs::read_to_string("/proc/sys/fs/file-nr")?;
        let used: u64 = file_nr
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or("file-nr")?;
        // The host can still open files while the jail holds its share.
        let opened: Vec<std::fs::File> = (0..64)
            .map(|_| std::fs::File::open("/dev/null"))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the host cannot open files: {e}"))?;
        drop(opened);
        handle.kill()?;
        let result = handle.wait().await?;
        let out = result.stdout.text();
        eprintln!("file table: the jail holds {out:?}, host file-nr {used} of {file_max}");
        check(
            used < file_max / 2 + file_max / 10,
            format!("file-nr reached {used} of {file_max} (jail: {out:?})"),
        )?;
        let opened_by_jail: u64 = out
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or(format!("no count: {out:?}"))?;
        check(
            opened_by_jail <= budget,
            format!("the jail opened {opened_by_jail} files, beyond its share {budget}"),
        )
    })
}

/// Opens ptys until refused, writes `count errno` to `/workspace/<name>`,
/// and exits once `/workspace/release` exists.
const PY_PTY_FILL: &str = r#"
import os, sys, time, errno
fds, err = [], "none"
while True:
    try:
        fds.append(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
        break
with open(f"/workspace/{sys.argv[1]}.tmp", "w") as f:
    f.write(f"{len(fds)} {err}")
os.rename(f"/workspace/{sys.argv[1]}.tmp", f"/workspace/{sys.argv[1]}")
end = time.time() + 60
while not os.path.exists("/workspace/release") and time.time() < end:
    time.sleep(0.05)
"#;

/// The devpts `max` of a jail.
const JAIL_PTY_MAX: usize = 64;

fn row34_jails_cannot_take_the_hosts_ptys() -> Result<(), Failed> {
    const JAILS: usize = 16;
    let work = tempdir();
    block_on(async {
        let mut handles = Vec::new();
        for i in 0..JAILS {
            let mut config = JailConfig::new("python3", ["-c".to_owned(), PY_PTY_FILL.to_owned(), format!("j{i}")])
                .workspace_rw(work.path());
            config.limits = base_limits();
            handles.push(engine().spawn(config).await?);
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        while (0..JAILS).any(|i| !work.path().join(format!("j{i}")).exists()) {
            check(Instant::now() < deadline, "the jails never filled their ptys")?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every jail holds all it can: the host still gets a pty.
        let host_pty = open_pty();
        std::fs::write(work.path().join("release"), "")?;
        for handle in handles {
            handle.wait().await?;
        }
        host_pty.map_err(|e| format!("the host cannot open a pty while jails hold theirs: {e}"))?;
        for i in 0..JAILS {
            let report = std::fs::read_to_string(work.path().join(format!("j{i}")))?;
            let (count, err) = report.split_once(' ').ok_or(report.clone())?;
            let count: usize = count.parse()?;
            check(
                count <= JAIL_PTY_MAX && err == "ENOSPC",
                format!("jail {i} opened {count} ptys, then {err}"),
            )?;
            check(count > 0, format!("jail {i} could not open a pty: {err}"))?;
        }
        Ok(())
    })
}

/// Opens (and closes) a pty master on the host.
fn open_pty() -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(Path::new("/dev/ptmx"))
        .map(drop)
}

fn row17_memfd_cannot_be_executed() -> Result<(), Failed> {
    // An ELF written into a memfd (the way round a noexec /tmp), made with
    // MFD_EXEC and with no flag, run by path and by descriptor.
    let out = run_ok(python(
        r#"
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
MFD_EXEC = 0x10
elf = open("/bin/true", "rb").read()
def run(argv_path, via_fd=None):
    pid = os.fork()
    if pid == 0:
        try:
            if via_fd is None:
                os.execv(argv_path, ["t"])
            # execveat(fd, "", argv, envp, AT_EMPTY_PATH)
            argv = (ctypes.c_char_p * 2)(b"t", None)
            envp = (ctypes.c_char_p * 1)(None)
            libc.syscall(322, via_fd, b"", argv, envp, 0x1000)
            os._exit(100 + ctypes.get_errno())
        except OSError as e:
            os._exit(100 + e.errno)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return "EXECUTED" if code == 0 else errno.errorcode.get(code - 100, str(code))
results = [open("/proc/sys/vm/memfd_noexec").read().strip()]
fd = libc.memfd_create(b"exec", MFD_EXEC)
if fd < 0:
    results.append("create:" + errno.errorcode.get(ctypes.get_errno(), "?"))
else:
    os.write(fd, elf)
    results += [run(f"/proc/self/fd/{fd}"), run(None, fd)]
fd = os.memfd_create("plain", 0)
os.write(fd, elf)
try:
    os.fchmod(fd, 0o755)
    results.append("chmod:ok")
except OSError as e:
    results.append("chmod:" + errno.errorcode.get(e.errno, "?"))
results += [run(f"/proc/self/fd/{fd}"), run(None, fd)]
print(" ".join(results))
"#,
    ))?;
    check(
        out.trim() == "2 create:EACCES chmod:EPERM EACCES EACCES",
        format!("a memfd could be executed (scope, MFD_EXEC, chmod, path, fd): {out:?}"),
    )?;
    // Node and Python still run under the scope.
    let mut node = JailConfig::new("node", ["-e", "console.log('node', 6 * 7)"]);
    node.limits = base_limits();
    let out = run_ok(node)?;
    check(out == "node 42\n", format!("node: {out:?}"))?;
    let out = run_ok(python(
        "import multiprocessing; print('python', multiprocessing.Pool(2).map(abs, [-1, -2]))",
    ))?;
    check(out == "python [1, 2]\n", format!("python: {out:?}"))
}

fn row50_boot_identity_and_uevents_are_hidden() -> Result<(), Failed> {
    // Each masked file reads empty in the jail; the host's are not.
    let mut masked = Vec::new();
    for path in ["/proc/cmdline", "/proc/config.gz", "/proc/sys/kernel/random/boot_id"] {
        if std::fs::metadata(path).is_ok() {
            masked.push(path);
        }
    }
    let script = format!(
        "for f in {}; do printf '%s %s\\n' $f $(wc -c < $f); done",
        masked.join(" ")
    );
    let out = run_ok(sh(&script))?;
    let expected: String = masked.iter().map(|p| format!("{p} 0\n")).collect();
    check(out == expected, format!("host identity readable: {out:?}"))?;

    // A uevent socket is refused; routing netlink (interface queries) stays.
    let out = run_ok(python(
        r#"
import socket, errno
def try_socket(proto):
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, proto)
        if proto == 15:
            s.bind((0, 1))
        return "OK"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print(try_socket(15), try_socket(0))
"#,
    ))?;
    check(out.trim() == "EAFNOSUPPORT OK", format!("uevent socket: {out:?}"))
}

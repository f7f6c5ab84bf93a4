#!/usr/bin/env python3
"""Where the time of a jail goes, phase by phase.

Runs `paddock run -- /bin/true` under `perf trace`, which timestamps the
system calls that mark the phases (clone, pivot_root, execve, exit_group),
and prints the median of each phase over the runs, next to the untraced wall
time of the same command and of bubblewrap's. With `--in-process`, it traces
instead `paddock-bench --mark-spawns N`: jails taken from the warm pool by
`Engine::run`, 20 ms apart, each between two marker writes. Tracing adds a
little to every traced call, so the phases add up to somewhat more than the
untraced total; read them as proportions.

    python3 bench/phases.py [--runs N] [--paddock PATH]
    python3 bench/phases.py --in-process [--runs N] [--bench PATH]

Needs root (perf trace, and the jail's root mode) and `perf`.
"""

import argparse
import re
import statistics
import subprocess
import tempfile
import time

BWRAP = (
    "bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib "
    "--symlink usr/lib64 /lib64 --proc /proc --dev /dev --tmpfs /tmp /bin/true"
).split()

PHASES = [
    ("process start, options, engine start (until the zygote is forked)", "start", "zygote_fork"),
    ("zygote and its PID namespace, client thread, the jail's cgroup, request", "zygote_fork", "init_clone"),
    ("clone of the init with its namespaces (user, mount, PID, net, IPC, UTS)", "init_clone", "init_cloned"),
    ("init: id maps, cgroup namespace, the root's mounts; fork of the command", "init_cloned", "command_fork"),
    ("init: /tmp and /dev/shm sized, binds, pivot_root", "command_fork", "pivot"),
    ("command: capabilities, no_new_privs, seccomp, Landlock, execve", "pivot", "exec"),
    ("/bin/true itself (execve to exit)", "exec", "command_exit"),
    ("init: reap, report, exit (the kernel tears the namespaces down)", "command_exit", "init_exit"),
    ("host: result, cgroup removal, zygote shutdown, exit", "init_exit", "end"),
]

LINE = re.compile(r"^\s*([\d.]+) \(\s*(?:([\d.]+) ms)?\s*\): (\S+?)/(\d+) (\w+)\((.*)$")


def marks(trace: str) -> dict:
    """The phase boundaries (ms from the start of tracing) of one trace.
    Processes are told apart by the order of their clones, not by name
    (perf may show a forked process under its parent's name): `paddock`
    forks a child, which forks the zygote into its PID namespace; the
    zygote's first clone is the init's (`clone` with the namespace flags on
    v1, `clone3` into the cgroup on v2), and the next clone by yet another
    process is the init forking the command."""
    found = {"start": 0.0}
    pids = {}
    # perf merges its per-CPU buffers, so lines can come out of order.
    calls = sorted((m.groups() for m in map(LINE.match, trace.splitlines()) if m), key=lambda g: float(g[0]))
    for at, took, _comm, pid, call, _rest in calls:
        at = float(at)
        took = float(took) if took else 0.0
        cloning = call in ("clone", "clone3")
        known = {pids.get(role) for role in ("main", "child", "zygote")}
        if cloning and "main" not in pids:
            found["zygote_fork"] = at
            pids["main"] = pid
        elif cloning and "child" not in pids and pid not in known:
            pids["child"] = pid
        elif cloning and "zygote" not in pids and pid not in known:
            found["init_clone"] = at
            found["init_cloned"] = at + took
            pids["zygote"] = pid
        elif call == "clone" and "zygote" in pids and "init" not in pids and pid not in known:
            found["command_fork"] = at
            pids["init"] = pid
        elif call == "pivot_root" and "pivot" not in found:
            found["pivot"] = at
        elif call == "execve" and "exec" not in found and "init_cloned" in found:
            found["exec"] = at
            pids["command"] = pid
        elif call == "exit_group":
            if pid == pids.get("command"):
                found["command_exit"] = at
            elif pid == pids.get("init"):
                found["init_exit"] = at
            elif pid == pids.get("main"):
                found["end"] = at
    return found


POOL_PHASES = [
    ("host: a jail from the pool, pipes registered, the request sent", "start", "sent"),
    ("init: request received and passed to the waiting command", "sent", "handed"),
    ("command: request received, workdir, rlimits, Landlock, execve", "handed", "exec"),
    ("/bin/true itself (execve to exit)", "exec", "command_exit"),
    ("init: reap, report, exit (the kernel tears the namespaces down)", "command_exit", "init_exit"),
    ("host: wake-up, reports, usage, cleanup", "init_exit", "end"),
]

# The bench's marker writes, on descriptor 999 (`MARK_FD`; its path shows
# only when every call is traced).
MARK = re.compile(r"write\(fd: 999(?:</dev/null>)?, buf: \S+, count: (\d+)\)")


def pool_marks(trace: str) -> list:
    """The phase boundaries of each marked spawn in one trace. Between two
    marks (the pool's refill waits for the jail to end) nothing but the
    spawn sends or receives: the bench's first `sendmsg` is the request,
    the first `recvmsg` of another process the init's, whose next `sendmsg`
    hands it to the command; the command waits in a call that began long
    before, so its `execve` names it. (perf may show a forked process
    under its parent's name, so names are not used.)"""
    spawns, found, pids = [], None, {}
    # perf merges its per-CPU buffers, so lines can come out of order.
    calls = sorted((m.groups() for m in map(LINE.match, trace.splitlines()) if m), key=lambda g: float(g[0]))
    for at, _took, comm, pid, call, rest in calls:
        at = float(at)
        mark = MARK.match(f"write({rest}") if call == "write" else None
        if mark and comm == "paddock-bench" and pids.get("bench", pid) == pid:
            if mark.group(1) == "5":
                found, pids = {"start": at}, {"bench": pid}
            elif mark.group(1) == "3" and found is not None:
                found["end"] = at
                spawns.append(found)
                found = None
        elif found is None:
            continue
        elif call == "sendmsg" and pid == pids["bench"] and "sent" not in found:
            found["sent"] = at
        elif call == "recvmsg" and pid != pids["bench"] and "sent" in found and "init" not in pids:
            pids["init"] = pid
        elif call == "sendmsg" and pid == pids.get("init") and "handed" not in found:
            found["handed"] = at
        elif call == "execve" and "handed" in found and "command" not in pids:
            pids["command"] = pid
            found["exec"] = at
        elif call == "exit_group" and pid == pids.get("command"):
            found["command_exit"] = at
        elif call == "exit_group" and pid == pids.get("init"):
            found["init_exit"] = at
    return spawns


def perf_trace(events: str, command: list) -> str:
    """The text of a `perf trace` of `command`, limited to `events`."""
    with tempfile.TemporaryDirectory() as scratch:
        # Read by name: perf may replace the file rather than write into it.
        path = f"{scratch}/calls.trace"
        subprocess.run(
            ["perf", "trace", "-e", events, "-o", path, "--", *command],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        with open(path) as text:
            return text.read()


def print_phases(title: str, phases: list, traced: list) -> None:
    """The median of each phase over `traced` (each a dict of boundaries)."""
    print(f"{title:<78} {'ms':>7}")
    for name, a, b in phases:
        print(f"{name:<78} {statistics.median(t[b] - t[a] for t in traced):>7.2f}")
    print(f"{'total under perf trace':<78} {statistics.median(t['end'] - t['start'] for t in traced):>7.2f}")


def in_process(args) -> None:
    trace = perf_trace("write,sendmsg,recvmsg,execve,exit_group", [args.bench, "--mark-spawns", str(args.runs)])
    complete = [s for s in pool_marks(trace) if all(k in s for _, a, b in POOL_PHASES for k in (a, b))]
    if len(complete) < args.runs // 2:
        raise SystemExit(f"only {len(complete)} of {args.runs} spawns had every mark in the trace")
    title = "phase of a pool jail's `/bin/true`, 20 ms apart (median of %d traced)" % len(complete)
    print_phases(title, POOL_PHASES, complete)


def wall(command: list, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--paddock", default="target/release/paddock")
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--bench", default="target/release/paddock-bench")
    args = parser.parse_args()
    if args.in_process:
        return in_process(args)
    command = [args.paddock, "run", "--", "/bin/true"]
    traced = []
    for _ in range(args.runs):
        found = marks(perf_trace("execve,clone,clone3,pivot_root,exit_group", command))
        missing = [key for _, a, b in PHASES for key in (a, b) if key not in found]
        if missing:
            raise SystemExit(f"trace without {missing}: is `paddock run` working here (`paddock doctor`)?")
        traced.append(found)
    print_phases("phase of `paddock run -- /bin/true` (median of %d traced runs)" % args.runs, PHASES, traced)
    print(f"{'total untraced: paddock run -- /bin/true':<78} {wall(command, args.runs):>7.2f}")
    print(f"{'total untraced: bubblewrap --unshare-all /bin/true':<78} {wall(BWRAP, args.runs):>7.2f}")
    print(f"{'total untraced: /bin/true, no sandbox':<78} {wall(['/bin/true'], args.runs):>7.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Where the time of `paddock run -- /bin/true` goes, phase by phase.

Runs the command under `perf trace`, which timestamps the system calls that
mark the phases (clone, pivot_root, execve, exit_group), and prints the
median of each phase over the runs, next to the untraced wall time of the
same command and of bubblewrap's. Tracing adds a little to every traced call,
so the phases add up to somewhat more than the untraced total; read them as
proportions.

    python3 bench/phases.py [--runs N] [--paddock PATH]

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
    """The phase boundaries (ms from the start of tracing) of one trace."""
    found = {"start": 0.0}
    pids = {}
    for line in trace.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        at, took, comm, pid, call, rest = m.groups()
        at = float(at)
        took = float(took) if took else 0.0
        # The zygote's first clone is the init's: `clone` with the namespace
        # flags on v1, `clone3` into the cgroup on v2. The next clone by
        # another process of that name is the init forking the command.
        if call in ("clone", "clone3") and comm == "paddock-zygote" and "init_clone" not in found:
            found["init_clone"] = at
            found["init_cloned"] = at + took
            pids["zygote"] = pid
        elif call == "clone" and "zygote_fork" not in found and comm.startswith("paddock"):
            found["zygote_fork"] = at
            pids["main"] = pid
        elif (
            call == "clone"
            and comm == "paddock-zygote"
            and "init_cloned" in found
            and pid != pids.get("zygote")
            and "command_fork" not in found
        ):
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
    args = parser.parse_args()
    command = [args.paddock, "run", "--", "/bin/true"]
    durations = {name: [] for name, _, _ in PHASES}
    traced = []
    with tempfile.NamedTemporaryFile("r", suffix=".trace") as out:
        for _ in range(args.runs):
            subprocess.run(
                ["perf", "trace", "-e", "execve,clone,clone3,pivot_root,exit_group", "-o", out.name, "--", *command],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            out.seek(0)
            found = marks(out.read())
            missing = [key for _, a, b in PHASES for key in (a, b) if key not in found]
            if missing:
                raise SystemExit(f"trace without {missing}: is `paddock run` working here (`paddock doctor`)?")
            for name, a, b in PHASES:
                durations[name].append(found[b] - found[a])
            traced.append(found["end"])
    print(f"{'phase of `paddock run -- /bin/true` (median of %d traced runs)' % args.runs:<78} {'ms':>7}")
    for name, _, _ in PHASES:
        print(f"{name:<78} {statistics.median(durations[name]):>7.2f}")
    print(f"{'total under perf trace':<78} {statistics.median(traced):>7.2f}")
    print(f"{'total untraced: paddock run -- /bin/true':<78} {wall(command, args.runs):>7.2f}")
    print(f"{'total untraced: bubblewrap --unshare-all /bin/true':<78} {wall(BWRAP, args.runs):>7.2f}")
    print(f"{'total untraced: /bin/true, no sandbox':<78} {wall(['/bin/true'], args.runs):>7.2f}")


if __name__ == "__main__":
    main()
